//! process.terminal and --console-socket: init allocates a pty from the container's devpts, binds
//! the slave over /dev/console, makes it the controlling terminal and stdio, and sends the master
//! to the console socket with SCM_RIGHTS (the payload names the file, as runc sends it).

use crate::error::{Context, Result};
use crate::sys;
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Parent, before clone: connect to the caller's console socket.
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let s = UnixStream::connect(path)
        .with_context(|| format!("--console-socket: connect {}", path.display()))?;
    Ok(OwnedFd::from(s))
}

/// Init, after pivot_root.
/// `bind_console`: init binds the pty over /dev/console; an exec'd process does not.
pub fn setup_console(
    socket: &OwnedFd,
    size: Option<oci_spec::runtime::Box>,
    bind_console: bool,
) -> Result<()> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .context("process.terminal: open /dev/ptmx")?;
    nix::pty::grantpt(&master).context("process.terminal: grantpt")?;
    nix::pty::unlockpt(&master).context("process.terminal: unlockpt")?;
    let slave_name = nix::pty::ptsname_r(&master).context("process.terminal: ptsname")?;
    if let Some(sz) = size {
        let ws = libc::winsize {
            ws_row: sz.height() as u16,
            ws_col: sz.width() as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        sys::set_winsize(master.as_fd(), &ws).context("process.consoleSize: TIOCSWINSZ")?;
    }
    let slave = nix::fcntl::open(
        slave_name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| format!("process.terminal: open {slave_name}"))?;
    if bind_console {
        let console = Path::new("/dev/console");
        if !console.exists() {
            std::fs::File::create(console).context("process.terminal: create /dev/console")?;
        }
        mount(
            Some(slave_name.as_str()),
            console,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .context("process.terminal: bind the pty over /dev/console")?;
    }
    let fds = [master.as_raw_fd()];
    let payload = b"/dev/ptmx";
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(payload)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .context("--console-socket: send the pty master")?;
    drop(master);
    for dup2 in [
        nix::unistd::dup2_stdin,
        nix::unistd::dup2_stdout,
        nix::unistd::dup2_stderr,
    ] {
        dup2(&slave).context("process.terminal: dup2 the pty to stdio")?;
    }
    sys::set_controlling_tty(std::io::stdin().as_fd()).context("process.terminal: TIOCSCTTY")?;
    Ok(())
}

/// keel's side of a terminal it allocated itself (foreground `run` without --console-socket):
/// receive the master that init sent.
pub fn receive_master(sock: &OwnedFd) -> Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .context("receive the pty master")?;
    for c in msg.cmsgs().context("receive the pty master")? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel installed this fd for us with SCM_RIGHTS; we own it now.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(crate::error::Error::msg(
        "receive the pty master: no fd in the message",
    ))
}

/// Copy the window size of our terminal (if stdin is one) to the container's pty.
pub fn copy_winsize(master: &OwnedFd) {
    if let Ok(ws) = sys::get_winsize(std::io::stdin().as_fd()) {
        let _ = sys::set_winsize(master.as_fd(), &ws);
    }
}

/// Put our stdin terminal in raw mode for the proxy; the returned settings restore it.
pub fn make_stdin_raw() -> Option<nix::sys::termios::Termios> {
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).ok()?;
    let mut raw = saved.clone();
    cfmakeraw(&mut raw);
    tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
    Some(saved)
}

pub fn restore_stdin(saved: Option<nix::sys::termios::Termios>) {
    if let Some(t) = saved {
        let _ =
            nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, &t);
    }
}
