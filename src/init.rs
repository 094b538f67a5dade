//! The container's init, from the clone to execve: THE one place that decides the order of the
//! set-up steps. Each step is one call into the module that owns its config section. The numbered
//! syncs match the ladder diagram in `channel.rs`.
//!
//! Order rules (as runc): mounts and devices before pivot_root; pre-start hooks before pivot_root;
//! sysctl, masked and read-only paths after it (they use the container's /proc); rlimits and
//! scheduling before the user switch (raising needs privileges); the bounding set is dropped while
//! still root, the user switch keeps capabilities (PR_SET_KEEPCAPS), then the final sets are
//! applied; args[0] is resolved before "ready" so a missing binary fails `create`, not `start`;
//! seccomp is loaded before the capabilities are dropped, or last with noNewPrivileges (below).

use crate::capabilities;
use crate::channel::Msg;
use crate::error::{Context, Error, Result};
use crate::hooks::{self, Kind};
use crate::mounts;
use crate::namespaces;
use crate::plan::{ChildFds, ExecFds, Plan, ProcessPlan};
use crate::process;
use crate::rootfs;
use crate::seccomp;
use crate::sys;
use crate::sysctl;
use nix::sched::CloneFlags;
use nix::sys::prctl;
use nix::sys::signal::Signal;
use std::convert::Infallible;
use std::io::Write;
use std::os::fd::AsRawFd;

/// Never returns: runs the recipe, reports a failure to the parent, and `_exit`s.
pub fn run(plan: &Plan, mut fds: ChildFds) -> ! {
    finish(recipe(plan, &mut fds), &fds.chan)
}

/// The exec'd process: the same ending as init, without the rootfs work (it joins the
/// container's namespaces instead).
pub fn run_exec(plan: &ProcessPlan, mut fds: ExecFds) -> ! {
    finish(exec_recipe(plan, &mut fds), &fds.chan)
}

fn finish(r: Result<Infallible>, chan: &crate::channel::Channel) -> ! {
    let code = match r {
        Ok(never) => match never {},
        Err(e) if e.kind() == crate::error::Kind::ChannelClosed => 1,
        Err(e) => {
            // Before "ready" the parent reports this; after it (the parent may be gone) the
            // container's stderr is the only place left.
            if chan.send(&Msg::Error(e.to_wire())).is_err() {
                let _ = writeln!(std::io::stderr(), "keel init: {e}");
            }
            1
        }
    };
    sys::exit_now(code)
}

/// The first steps of every child: die with keel until it is set up, forget the signals `keel
/// run`/`exec` blocked for forwarding (the mask survives execve), and stay non-dumpable so the
/// container cannot reach keel's memory or fds through /proc while it is still keel.
fn early() -> Result<()> {
    prctl::set_pdeathsig(Signal::SIGKILL).context("prctl PR_SET_PDEATHSIG")?;
    nix::sys::signal::SigSet::empty()
        .thread_set_mask()
        .context("reset signal mask")?;
    prctl::set_dumpable(false).context("prctl PR_SET_DUMPABLE")?;
    Ok(())
}

fn exec_recipe(p: &ProcessPlan, f: &mut ExecFds) -> Result<Infallible> {
    early()?;
    // Joined while keel is busy with the rest; a failure is reported once keel listens.
    let entered = f.cgroup.enter_v1();
    // sync 1: the process is in the container's cgroup2 directory too.
    f.chan.expect(|m| *m == Msg::Go, "Go")?;
    entered?;
    namespaces::join_in_child(&f.joins, false)?;
    nix::unistd::setsid().context("setsid")?;
    if let Some(console) = &f.console {
        crate::tty::setup_console(console, p.process.console_size(), false)?;
    }
    let (exe, args, env) = become_process(p, &f.chan)?;
    ready(p, &f.chan)?;
    Err(process::execve(&exe, &args, &env))
}

/// The hook state as hooks in the container's namespaces get it: the pid as seen there
/// (runtime-spec; runc does the same).
fn container_view(p: &Plan, status: crate::state::Status) -> String {
    let pid = nix::unistd::getpid().as_raw();
    crate::state::hook_state(p.spec, p.id, &p.bundle.dir, status, pid)
}

/// From the container's view of the world to the process about to execve: security settings,
/// user, capabilities, umask, cwd, environment, the resolved executable, and only stdio and the
/// preserved fds left open across execve.
fn become_process(
    p: &ProcessPlan,
    chan: &crate::channel::Channel,
) -> Result<(std::path::PathBuf, Vec<String>, Vec<String>)> {
    let proc = p.process;
    process::apply_apparmor(proc)?;
    process::apply_rlimits(&p.rlimits)?;
    process::apply_scheduling(proc)?;
    let nnp = proc.no_new_privileges() == Some(true);
    if nnp {
        process::set_no_new_privs()?;
    }

    // Seccomp, where runc puts it. Without noNewPrivileges, loading a filter needs
    // CAP_SYS_ADMIN, so it goes in here, before the capabilities are dropped (everything after
    // must then pass the filter). With noNewPrivileges the caller loads it just before Ready, so
    // the profile has to allow as few of keel's own syscalls as possible.
    if !nnp {
        seccomp::apply(p.seccomp.as_ref(), chan)?;
    }

    // User and capabilities: drop the bounding set while still root, keep the capabilities
    // across the uid change, then set the final sets.
    if let Some(caps) = &p.caps {
        capabilities::drop_bounding(caps, &p.kernel_caps)?;
        capabilities::keep_caps(true)?;
    }
    process::set_user(proc)?;
    if let Some(caps) = &p.caps {
        capabilities::keep_caps(false)?;
        capabilities::apply_sets(caps, &p.kernel_caps)?;
    }
    let umask = proc.user().umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
    nix::unistd::chdir(proc.cwd())
        .with_context(|| format!("process.cwd: chdir to {}", proc.cwd().display()))?;
    // A cwd reached through a leaked fd (/proc/self/fd/N) would be outside the container's root;
    // the kernel then reports it as unreachable (CVE-2024-21626).
    match nix::unistd::getcwd() {
        Ok(d) if d.is_absolute() => {}
        _ => crate::bail!(
            "process.cwd: {} is outside the container's root",
            proc.cwd().display()
        ),
    }

    let mut env = p.env.clone();
    process::add_home(&mut env, proc.user().uid());
    let args = proc.args().clone().unwrap_or_default();
    let arg0 = args.first().map(String::as_str).unwrap_or_default();
    let exe = process::look_path(arg0, &env).context("unable to start container process")?;

    // Only stdio and the preserved fds survive execve.
    sys::cloexec_from(3 + p.extra_fds).context("mark fds close-on-exec")?;
    for fd in 3..3 + p.extra_fds as i32 {
        sys::clear_cloexec(fd).with_context(|| format!("--preserve-fds: fd {fd}"))?;
    }
    Ok((exe, args, env))
}

/// Seccomp with noNewPrivileges goes in last, just before Ready (see `become_process`): after
/// it, only sending Ready, the exec fifo, startContainer hooks and execve remain.
fn seccomp_last(p: &ProcessPlan, chan: &crate::channel::Channel) -> Result<()> {
    if p.process.no_new_privileges() == Some(true) {
        seccomp::apply(p.seccomp.as_ref(), chan)?;
    }
    Ok(())
}

/// Init, from the clone to the container's execve: one call per step, in the order the steps
/// must happen (the numbered syncs are channel.rs's ladder).
fn recipe(p: &Plan, f: &mut ChildFds) -> Result<Infallible> {
    early()?;
    // The v1 cgroups (cgroups::Entry), joined while keel writes the id maps; a failure is
    // reported once keel listens.
    let entered = f.cgroup.enter_v1();
    // sync 1: the parent has written the id maps; we are in the container's cgroup2 directory.
    f.chan.expect(|m| *m == Msg::Go, "Go")?;
    entered?;
    enter_namespaces(p, f)?;
    build_rootfs(p)?;
    create_container_hooks(p, f)?;
    switch_root(p)?;
    finish_rootfs(p, f)?;
    let (exe, args, env) = become_process(&p.proc, &f.chan)?;
    ready(&p.proc, &f.chan)?;
    wait_for_start(p, f)?;
    Err(process::execve(&exe, &args, &env))
}

/// The namespaces that are not the clone's: become root of the user namespace, join those given
/// by path, unshare the cgroup namespace (once in the cgroup), the session keyring, setsid.
fn enter_namespaces(p: &Plan, f: &ChildFds) -> Result<()> {
    if p.ns.in_user() {
        // Become the mapped root of the (new or joined) user namespace.
        let root_g = nix::unistd::Gid::from_raw(0);
        let root_u = nix::unistd::Uid::from_raw(0);
        nix::unistd::setresgid(root_g, root_g, root_g)
            .context("setresgid 0 in the user namespace")?;
        nix::unistd::setresuid(root_u, root_u, root_u)
            .context("setresuid 0 in the user namespace")?;
    }
    namespaces::join_in_child(&f.joins, true)?;
    if p.ns.new_cgroup {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
            .context("linux.namespaces: unshare cgroup namespace")?;
    }
    if p.new_keyring {
        // Searchable by its possessor (runc: "user" search without a user namespace, "other"
        // search in one, where the keyring's uid is not mapped).
        let search = if p.ns.in_user() { 0x08 } else { 0x08_0000 };
        match sys::join_session_keyring(&format!("_ses.{}", p.id), search) {
            Ok(()) | Err(nix::errno::Errno::ENOSYS) | Err(nix::errno::Errno::EACCES) => {}
            Err(e) => return Err(Error::from(e).context("join session keyring")),
        }
    }
    nix::unistd::setsid().context("setsid")?;
    Ok(())
}

/// Root filesystem, mounts[], /dev and the cwd, still seeing the host's paths.
fn build_rootfs(p: &Plan) -> Result<()> {
    let rootfs = &p.bundle.rootfs;
    rootfs::prepare(rootfs, p.propagation)?;
    let ctx = mounts::Ctx {
        rootfs,
        userns: p.ns.in_user(),
        cgroup_sources: &p.cgroup_sources,
        cgroup_v2_only: p.cgroup_v2_only,
        new_cgroupns: p.ns.new_cgroup,
    };
    for m in &p.mounts {
        mounts::apply(m, &ctx)?;
    }
    if let Some(devices) = &p.devices {
        rootfs::setup_dev(rootfs, devices, p.ns.in_user())?;
    }
    rootfs::create_cwd(rootfs, p.proc.process.cwd())
}

/// sync 2: prestart and createRuntime hooks run in the parent; createContainer runs here, in
/// the container's namespaces, before pivot_root.
fn create_container_hooks(p: &Plan, f: &ChildFds) -> Result<()> {
    if p.hook_sync {
        f.chan.send(&Msg::MountsDone)?;
        f.chan.expect(|m| *m == Msg::HooksDone, "HooksDone")?;
        hooks::run(
            p.spec,
            Kind::CreateContainer,
            &container_view(p, crate::state::Status::Creating),
        )?;
    }
    Ok(())
}

fn switch_root(p: &Plan) -> Result<()> {
    if p.no_pivot {
        rootfs::move_root(&p.bundle.rootfs)
    } else {
        rootfs::pivot(&p.bundle.rootfs)
    }
}

/// Inside the rootfs: sysctls, the console, a read-only root, read-only and masked paths,
/// hostname and domainname, personality.
fn finish_rootfs(p: &Plan, f: &ChildFds) -> Result<()> {
    let spec = p.spec;
    sysctl::apply(&p.sysctl)?;
    if let Some(console) = &f.console {
        crate::tty::setup_console(console, p.proc.process.console_size(), true)?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        rootfs::make_root_readonly()?;
    }
    mounts::readonly_paths(spec)?;
    mounts::masked_paths(spec)?;
    namespaces::set_names(spec)?;
    process::apply_personality(spec)
}

/// sync 3: ready. From here keel create may exit, so stop dying with it.
fn ready(p: &ProcessPlan, chan: &crate::channel::Channel) -> Result<()> {
    prctl::set_pdeathsig(None).context("prctl PR_SET_PDEATHSIG")?;
    seccomp_last(p, chan)?;
    chan.send(&Msg::Ready)
}

/// Block until `start` opens the exec fifo for reading, run the startContainer hooks, set the
/// final CPU affinity, then write the byte that tells `start` the process is about to be
/// executed. The fifo lives in the host's state dir, reached through the host /proc fd opened
/// before pivot_root. Its fd is never closed here: execve (close-on-exec) or init's `_exit`
/// closes it, so `start` sees EOF after the byte only once the process has been executed, and
/// without it (a failing startContainer hook) only after init has reported the error.
fn wait_for_start(p: &Plan, f: &ChildFds) -> Result<()> {
    let fifo_path = format!("self/fd/{}", f.fifo.as_raw_fd());
    let fd = std::mem::ManuallyDrop::new(
        nix::fcntl::openat(
            &f.proc,
            fifo_path.as_str(),
            nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .context("open exec fifo")?,
    );
    if p.hook_sync {
        hooks::run(
            p.spec,
            Kind::StartContainer,
            &container_view(p, crate::state::Status::Created),
        )?;
    }
    if let Some(fin) = p
        .proc
        .process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.cpu_affinity_final().as_ref())
    {
        process::set_affinity(fin, "process.execCPUAffinity.final")?;
    }
    nix::unistd::write(&*fd, b"0").context("write exec fifo")?;
    Ok(())
}
