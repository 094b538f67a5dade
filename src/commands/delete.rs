//! `delete <id> [--force]`: poststop hooks, cgroup removal, state dir removal. A created
//! container is killed and deleted (as runc does); a running or paused one needs --force, which
//! kills every process in its cgroup (thawing a paused one), waits for them and removes the
//! cgroup.

use crate::bail;
use crate::error::{Context, Result};
use crate::hooks::{self, Kind};
use crate::state::{Container, Status};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::AsFd;
use std::path::Path;

pub fn run(root: &Path, id: &str, force: bool) -> Result<()> {
    let c = match Container::load(root, id) {
        Ok(c) => c,
        Err(e) if force && e.kind() == crate::error::Kind::ContainerNotFound => {
            // runc: --force on a missing container succeeds (and cleans up a half-made dir).
            crate::state::validate_id(id)?;
            let _ = std::fs::remove_dir_all(root.join(id));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    match c.status() {
        Status::Stopped => {}
        Status::Created => kill_and_wait(&c)?,
        _ if force => kill_and_wait(&c)?,
        s => bail!(
            "cannot delete container {id} that is not stopped: {}",
            s.as_str()
        ),
    }
    destroy(&c)
}

/// SIGKILL everything in the container, wait until init has exited and the cgroup is empty.
pub fn kill_and_wait(c: &Container) -> Result<()> {
    // The pidfd pins the pid; kept only if it is still this container's init (not a reuse).
    let pidfd = crate::sys::pidfd_open(c.saved.pid)
        .ok()
        .filter(|_| c.init_alive());
    if let Some(fd) = &pidfd {
        let _ = crate::sys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
    }
    let cg = &c.saved.cgroup;
    // Every other process too (cgroup.kill on v2); this also thaws a paused container, without
    // which v1 would hold the SIGKILLs until a resume.
    if let Err(e) = cg.signal_all(nix::sys::signal::Signal::SIGKILL) {
        crate::log::warn(&format!("kill the processes of {}: {e}", c.saved.id));
    }
    if cg.is_frozen() {
        cg.freeze(false)?;
    }
    if let Some(fd) = &pidfd {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        loop {
            match poll(&mut fds, PollTimeout::from(10_000u16)) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => {
                    r.context("wait for container init to exit")?;
                    break;
                }
            }
        }
    }
    // Processes outside the pid namespace's reach (no pid namespace, or exec'd ones in
    // sub-cgroups) may take a moment longer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while cg.populated() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(())
}

/// Remove the container, then run its poststop hooks: the runtime-spec wants them after the
/// container is deleted and before `delete` returns (failures are warnings).
pub fn destroy(c: &Container) -> Result<()> {
    // Without a pid namespace of its own, processes can outlive init in the container's cgroup;
    // they go first, as with runc (its destroy signals them all), or the cgroup stays busy.
    // Only in a cgroup keel made: one it was given may hold processes that are not its own.
    let cg = &c.saved.cgroup;
    let made = cg.dirs.iter().all(|d| cg.created.contains(&d.path));
    if !own_pid_namespace(c) && made && cg.populated() {
        kill_and_wait(c)?;
    }
    c.saved.cgroup.destroy()?;
    c.remove_dir()?;
    hooks::run_warn_spec(
        c.saved.config.hooks().as_ref(),
        Kind::Poststop,
        &c.hook_state("stopped"),
    );
    Ok(())
}

/// Whether the container has a new pid namespace (not the host's, not one joined by path):
/// then its processes die with init.
fn own_pid_namespace(c: &Container) -> bool {
    let namespaces = c
        .saved
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone());
    namespaces
        .unwrap_or_default()
        .iter()
        .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && n.path().is_none())
}
