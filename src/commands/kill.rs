//! `kill <id> [SIGNAL]`: to init, or with --all to every process in the container's cgroup.

use crate::bail;
use crate::error::{Context, Result};
use crate::state::{Container, Status, NOT_RUNNING};
use nix::sys::signal::Signal;
use std::path::Path;
use std::str::FromStr;

/// runc's parsing: a number, or a name with or without SIG, any case.
pub fn parse_signal(raw: &str) -> Result<Signal> {
    if let Ok(n) = raw.parse::<i32>() {
        return Signal::try_from(n)
            .map_err(|_| crate::error::Error::msg(format!("unknown signal {raw:?}")));
    }
    let up = raw.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    Signal::from_str(&name).map_err(|_| crate::error::Error::msg(format!("unknown signal {raw:?}")))
}

pub fn run(root: &Path, id: &str, signal: Option<&str>, all: bool) -> Result<()> {
    let c = Container::load(root, id)?;
    let sig = parse_signal(signal.unwrap_or("SIGTERM"))?;
    let status = c.status();
    if status == Status::Creating {
        bail!("{NOT_RUNNING}");
    }
    if all {
        // As runc: --all also reaches whatever is left in a stopped container's cgroup, and it
        // freezes, signals and thaws (so a paused container ends up thawed).
        return c.saved.cgroup.signal_all(sig);
    }
    if status == Status::Stopped {
        bail!("{NOT_RUNNING}");
    }
    let pidfd = crate::sys::pidfd_open(c.saved.pid).context("pidfd_open init")?;
    // The pidfd pins the process: check it is still the same init before signalling.
    if !c.init_alive() {
        bail!("{NOT_RUNNING}");
    }
    crate::sys::pidfd_send_signal(std::os::fd::AsFd::as_fd(&pidfd), sig as i32)
        .with_context(|| format!("kill container init {} with {sig}", c.saved.pid))?;
    // As runc: a frozen v1 task takes SIGKILL only once thawed, so SIGKILL thaws a paused
    // container; other signals wait for `resume`.
    if status == Status::Paused && sig == Signal::SIGKILL {
        c.saved.cgroup.freeze(false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_spellings() {
        for s in ["KILL", "SIGKILL", "kill", "9"] {
            assert_eq!(parse_signal(s).ok(), Some(Signal::SIGKILL), "{s}");
        }
        assert_eq!(parse_signal("term").ok(), Some(Signal::SIGTERM));
        assert!(parse_signal("FOO").is_err());
        assert!(parse_signal("99").is_err());
    }
}
