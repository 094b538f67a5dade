//! What `run` and `exec` do while the container's process runs in the foreground: forward the
//! caller's signals to it, proxy the terminal when keel allocated it, and wait for its exit
//! status (128+N for a signal).

use crate::error::{Context, Error, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

const FORWARDED: [Signal; 8] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
];

/// Block the signals keel forwards (and SIGCHLD) before the child exists, so none is missed;
/// they are read from a signalfd by `wait_for`. The child unblocks them before execve.
pub fn forwarded_signals(detach: bool) -> Result<SigSet> {
    let mut set = SigSet::empty();
    if !detach {
        for s in FORWARDED {
            set.add(s);
        }
        set.add(Signal::SIGCHLD);
        set.thread_block().context("block signals")?;
    }
    Ok(set)
}

/// Wait for our child `pid` (init of `run`, or an exec'd process), forwarding signals and
/// proxying the terminal when keel allocated it. Returns its exit code (128+N for a signal).
pub fn wait_for(pid: i32, set: &SigSet, master: Option<OwnedFd>) -> Result<i32> {
    let sfd = SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC).context("signalfd")?;
    let saved_tty = master.as_ref().and_then(|m| {
        crate::tty::copy_winsize(m);
        crate::tty::make_stdin_raw()
    });
    let code = wait_loop(Pid::from_raw(pid), &sfd, master.as_ref());
    crate::tty::restore_stdin(saved_tty);
    code
}

fn wait_loop(pid: Pid, sfd: &SignalFd, master: Option<&OwnedFd>) -> Result<i32> {
    let stdin = std::io::stdin();
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = master.filter(|_| master_open) {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r.context("poll")?,
        };
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut i = 1;
        if let Some(m) = master.filter(|_| master_open) {
            if ready[i] && !copy(m.as_fd(), std::io::stdout().as_fd(), &mut buf) {
                master_open = false;
            }
            i += 1;
        }
        if stdin_open && ready[i] {
            if let Some(m) = master {
                if !copy(stdin.as_fd(), m.as_fd(), &mut buf) {
                    stdin_open = false;
                }
            }
        }
        if !ready[0] {
            continue;
        }
        let Some(info) = sfd.read_signal().context("read signalfd")? else {
            continue;
        };
        let sig = Signal::try_from(info.ssi_signo as i32).unwrap_or(Signal::SIGCHLD);
        if sig == Signal::SIGWINCH {
            if let Some(m) = master {
                crate::tty::copy_winsize(m);
            }
        }
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(pid, sig);
            continue;
        }
        let code = match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => code,
            Ok(WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::ECHILD) => 255,
            Err(e) => return Err(Error::from(e).context("wait for container init")),
        };
        // Drain what the process wrote to its terminal before it exited.
        if let Some(m) = master.filter(|_| master_open) {
            let _ = nix::fcntl::fcntl(
                m,
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            );
            while copy(m.as_fd(), std::io::stdout().as_fd(), &mut buf) {}
        }
        return Ok(code);
    }
}

/// One read from `src`, written fully to `dst`; false on EOF or error (a pty master reads EIO
/// once the last slave fd is closed).
fn copy(src: BorrowedFd, dst: BorrowedFd, buf: &mut [u8]) -> bool {
    let n = match nix::unistd::read(src, buf) {
        Ok(0) | Err(_) => return false,
        Ok(n) => n,
    };
    let mut off = 0;
    while off < n {
        match nix::unistd::write(dst, &buf[off..n]) {
            Ok(w) => off += w,
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
    true
}
