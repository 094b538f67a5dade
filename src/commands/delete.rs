//! `delete <id> [--force]`: poststop hooks, cgroup removal, state dir removal. A created
//! container is killed and deleted (as runc does); a running one needs --force.

use crate::bail;
use crate::error::{Context, Result};
use crate::hooks::{self, Kind};
use crate::state::{Container, Status, NOT_EXIST};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::AsFd;
use std::path::Path;

pub fn run(root: &Path, id: &str, force: bool) -> Result<()> {
    let c = match Container::load(root, id) {
        Ok(c) => c,
        Err(e) if force && e.message() == NOT_EXIST => {
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

/// SIGKILL everything in the container and wait until init has exited.
pub fn kill_and_wait(c: &Container) -> Result<()> {
    let pidfd = crate::sys::pidfd_open(c.saved.pid).ok();
    if c.init_alive() {
        if let Some(fd) = &pidfd {
            let _ = crate::sys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
        }
    }
    for pid in c.saved.cgroup.procs() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
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
    Ok(())
}

/// Remove the container, then run its poststop hooks: the runtime-spec wants them after the
/// container is deleted and before `delete` returns (failures are warnings).
pub fn destroy(c: &Container) -> Result<()> {
    c.saved.cgroup.destroy()?;
    c.remove_dir()?;
    hooks::run_warn_spec(
        c.saved.hooks.as_ref(),
        Kind::Poststop,
        &c.hook_state("stopped"),
    );
    Ok(())
}
