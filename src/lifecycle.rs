//! The container's lifecycle operations that several commands share: start (release init from
//! the exec fifo, then the poststart hooks), kill and wait, destroy (cgroups, state dir, then the
//! poststop hooks). The verbs in commands/ call these; commands never call each other.

use crate::bail;
use crate::error::{Context, Error, Result};
use crate::hooks::{self, Kind};
use crate::state::{Container, Status};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

/// `start`: the container must be created; returns once its process has been executed.
pub fn start(c: &Container) -> Result<()> {
    match c.status() {
        Status::Created => {}
        Status::Running => bail!("cannot start an already running container"),
        Status::Stopped => bail!("cannot start a container that has stopped"),
        Status::Paused => bail!("cannot start a container in the paused state"),
        Status::Creating => bail!("cannot start a container that is being created"),
    }
    // Before opening the fifo: that releases init, whose process may then run, exit and be
    // reaped (by containerd's shim, a subreaper) before a later pidfd_open, which fails ESRCH.
    let pidfd = crate::sys::pidfd_open(c.saved.pid).context("pidfd_open init")?;
    let fifo = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(c.fifo())
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("cannot start an already running container")
        }
        Err(e) => return Err(Error::from(e).context("open exec fifo")),
    };
    // init writes one byte once its startContainer hooks have run, then execs; its end of the
    // fifo is close-on-exec, so EOF after the byte means the process has been executed. EOF
    // without the byte means init failed first (its error is on the container's stderr). poll
    // only reports the fifo once a writer has come (an unopened fifo reads as EOF too), so init
    // dying before opening it is caught through its pidfd.
    let mut released = false;
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r.context("poll exec fifo")?,
        };
        let fifo_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let init_gone = fds[1]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        if fifo_ready {
            let mut b = [0u8; 1];
            match nix::unistd::read(&fifo, &mut b) {
                Ok(0) => break,
                Ok(_) => released = true,
                Err(nix::errno::Errno::EAGAIN) => {}
                Err(e) => return Err(Error::from(e).context("read exec fifo")),
            }
        } else if init_gone {
            bail!("container init exited before it could be started");
        }
    }
    if !released {
        // runtime-spec lifecycle: a failed startContainer hook stops the container, which is
        // then destroyed (step 12) and its poststop hooks run (step 13).
        let _ = kill_and_wait(c);
        let _ = destroy(c);
        bail!("the container's process was not started: init failed before execve (a startContainer hook?); see the container's stderr");
    }
    std::fs::remove_file(c.fifo()).context("remove exec fifo")?;
    hooks::run_warn_spec(
        c.saved.config.hooks().as_ref(),
        Kind::Poststart,
        &c.hook_state(Status::Running),
    );
    Ok(())
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
        &c.hook_state(Status::Stopped),
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
