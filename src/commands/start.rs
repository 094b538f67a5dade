//! `start`: release init from the exec fifo, then run the poststart hooks.

use crate::bail;
use crate::error::{Context, Error, Result};
use crate::hooks::{self, Kind};
use crate::state::{Container, Status};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::AsFd;
use std::path::Path;

pub fn run(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    start(&c)
}

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
        let _ = crate::commands::delete::kill_and_wait(c);
        let _ = crate::commands::delete::destroy(c);
        bail!("the container's process was not started: init failed before execve (a startContainer hook?); see the container's stderr");
    }
    std::fs::remove_file(c.fifo()).context("remove exec fifo")?;
    hooks::run_warn_spec(
        c.saved.config.hooks().as_ref(),
        Kind::Poststart,
        &c.hook_state("running"),
    );
    Ok(())
}

use std::os::unix::fs::OpenOptionsExt;
