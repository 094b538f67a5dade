//! `start`: release init from the exec fifo, then run the poststart hooks.

use crate::bail;
use crate::error::{Context, Error, Result};
use crate::hooks::{self, Kind};
use crate::state::{Container, Status};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::{AsFd, AsRawFd};
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
    }
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
    // Wait for init's byte; if init dies instead, its pidfd becomes readable.
    let pidfd = crate::sys::pidfd_open(c.saved.pid).context("pidfd_open init")?;
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r.context("poll exec fifo")?,
        };
        let mut b = [0u8; 1];
        match nix::unistd::read(fifo.as_raw_fd(), &mut b) {
            Ok(1) => break,
            Err(nix::errno::Errno::EAGAIN) | Ok(_) => {}
            Err(e) => return Err(Error::from(e).context("read exec fifo")),
        }
        if fds[1]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN))
        {
            bail!("container init exited before it could be started");
        }
    }
    std::fs::remove_file(c.fifo()).context("remove exec fifo")?;
    hooks::run_warn_spec(
        c.saved.hooks.as_ref(),
        Kind::Poststart,
        &c.hook_state("running"),
    );
    Ok(())
}

use std::os::unix::fs::OpenOptionsExt;
