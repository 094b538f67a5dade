//! What the parent computes before it clones init or an exec'd process (`Plan`,
//! `ProcessPlan`), and the fds the child inherits. spawn.rs builds them, init.rs consumes them;
//! keeping them here keeps those two modules from importing each other.

use crate::bundle::Bundle;
use crate::capabilities::{self, CapsPlan};
use crate::cgroups;
use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::mounts::{self, MountPlan};
use crate::namespaces::{JoinFds, NsPlan};
use crate::process;
use crate::rootfs::DevicePlan;
use crate::sysctl::Sysctl;
use nix::mount::MsFlags;
use oci_spec::runtime::{Process, Spec};
use std::os::fd::OwnedFd;

/// Everything init needs, computed by the parent before clone. init gets it for free: the clone
/// copies the parent's memory, so nothing is serialized.
pub struct Plan<'a> {
    pub id: &'a str,
    pub bundle: &'a Bundle,
    pub spec: &'a Spec,
    /// What init applies to itself last, as an exec'd process does.
    pub proc: ProcessPlan<'a>,
    pub ns: NsPlan,
    pub mounts: Vec<MountPlan>,
    pub devices: Option<Vec<DevicePlan>>,
    pub propagation: MsFlags,
    pub sysctl: Vec<Sysctl>,
    pub cgroup_sources: mounts::CgroupSources,
    pub cgroup_v2_only: bool,
    pub no_pivot: bool,
    pub new_keyring: bool,
    /// Whether init must stop after mounts for the parent's and its own pre-start hooks.
    pub hook_sync: bool,
}

/// The process settings init and an exec'd process both apply to themselves at the end
/// (`init::become_process`), planned once here for either.
pub struct ProcessPlan<'a> {
    pub process: &'a Process,
    pub caps: Option<CapsPlan>,
    pub kernel_caps: capabilities::KernelCaps,
    pub rlimits: Vec<(String, nix::sys::resource::Resource, u64, u64)>,
    /// process.env, plus LISTEN_FDS/LISTEN_PID when keel was socket-activated.
    pub env: Vec<String>,
    /// Fds 3.. that survive into the container ($LISTEN_FDS + --preserve-fds).
    pub extra_fds: u32,
    /// The container's linux.seccomp, compiled (exec'd processes get it too, as in runc).
    pub seccomp: Option<crate::seccomp::Filter>,
}

impl<'a> ProcessPlan<'a> {
    pub fn new(process: &'a Process, config: &Spec, preserve_fds: u32) -> Result<Self> {
        let listen = listen_fds();
        let mut env = process.env().clone().unwrap_or_default();
        if listen > 0 {
            env.push(format!("LISTEN_FDS={listen}"));
            env.push("LISTEN_PID=1".to_string());
        }
        Ok(ProcessPlan {
            process,
            caps: capabilities::plan(process).map(|mut c| {
                capabilities::drop_ungrantable(&mut c, capabilities::grantable());
                c
            }),
            kernel_caps: capabilities::kernel_caps(),
            rlimits: process::rlimits(process)?,
            env,
            extra_fds: listen
                .checked_add(preserve_fds)
                .filter(|n| *n <= 1 << 20)
                .ok_or_else(|| Error::msg(format!("--preserve-fds: {preserve_fds} is too many")))?,
            seccomp: crate::seccomp::plan(config)?,
        })
    }
}

/// The fds init inherits (all close-on-exec, numbered above the preserved range).
pub struct ChildFds {
    pub chan: Channel,
    pub cgroup: cgroups::Entry,
    pub fifo: OwnedFd,
    pub proc: OwnedFd,
    pub console: Option<OwnedFd>,
    pub joins: JoinFds,
}

/// The fds the exec'd child inherits.
pub struct ExecFds {
    pub chan: Channel,
    pub cgroup: cgroups::Entry,
    pub console: Option<OwnedFd>,
    pub joins: JoinFds,
}

/// $LISTEN_FDS meant for us (LISTEN_PID is our pid): passed through to the container.
fn listen_fds() -> u32 {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    if !pid_ok {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
