//! process.terminal and --console-socket: init allocates a pty from the container's devpts, binds
//! the slave over /dev/console, makes it the controlling terminal and stdio, and sends the master
//! to the console socket with SCM_RIGHTS (the payload names the file, as runc sends it).

use crate::error::{Context, Result};
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Parent, before clone: connect to the caller's console socket.
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let s = UnixStream::connect(path)
        .with_context(|| format!("--console-socket: connect {}", path.display()))?;
    Ok(OwnedFd::from(s))
}

/// Init, after pivot_root.
pub fn setup_console(socket: &OwnedFd, size: Option<oci_spec::runtime::Box>) -> Result<()> {
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
        // SAFETY: TIOCSWINSZ reads a winsize struct that lives for the call.
        let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        nix::errno::Errno::result(r).context("process.consoleSize: TIOCSWINSZ")?;
    }
    let slave_fd = nix::fcntl::open(
        slave_name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| format!("process.terminal: open {slave_name}"))?;
    // SAFETY: `open` just returned this fd and nothing else owns it.
    let slave = unsafe { OwnedFd::from_raw_fd(slave_fd) };
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
    for n in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), n)
            .context("process.terminal: dup2 the pty to stdio")?;
    }
    // SAFETY: TIOCSCTTY with argument 0 on our own terminal fd; we are a session leader.
    let r = unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) };
    nix::errno::Errno::result(r).context("process.terminal: TIOCSCTTY")?;
    Ok(())
}
