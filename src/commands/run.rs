//! `run`: create + start, then (unless --detach) forward signals to init, wait for it, delete the
//! container (unless --keep) and return the process's exit code (128+N for a signal).

use crate::cli::CreateArgs;
use crate::error::{Context, Result};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::path::Path;

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

pub fn run(root: &Path, id: &str, args: &CreateArgs, detach: bool, keep: bool) -> Result<i32> {
    // Block the forwarded signals and SIGCHLD before init can exit, so none is missed.
    let mut set = SigSet::empty();
    if !detach {
        for s in FORWARDED {
            set.add(s);
        }
        set.add(Signal::SIGCHLD);
    }
    let created = crate::spawn::create(root, id, args, detach)?;
    let c = &created.container;
    set.thread_block().context("block signals")?;
    if let Err(e) = crate::commands::start::start(c) {
        let _ = crate::commands::delete::kill_and_wait(c);
        let _ = crate::commands::delete::destroy(c);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let pid = Pid::from_raw(c.saved.pid);
    let code = loop {
        let sig = set.wait().context("wait for signals")?;
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(pid, sig);
            continue;
        }
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => break code,
            Ok(WaitStatus::Signaled(_, s, _)) => break 128 + s as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::ECHILD) => break 255,
            Err(e) => return Err(crate::error::Error::from(e).context("wait for container init")),
        }
    };
    if !keep {
        crate::commands::delete::destroy(c)?;
    }
    Ok(code)
}
