//! `events <id> [--stats] [--interval D]`: runc's event stream, one JSON object per line:
//! `{"type":"stats","id":ID,"data":{...}}` every interval and `{"type":"oom","id":ID}` when the
//! OOM killer fires in the container's cgroup. `--stats` prints one stats event and exits.
//! Single-threaded: one poll on the OOM notification fd and init's pidfd, with the interval as
//! the timeout. Unlike runc, which keeps polling a dead container until it is deleted, the
//! stream ends once the container's init has exited (after reporting a last OOM, if any).

use crate::bail;
use crate::cgroups::stats::{OomWatch, Stats};
use crate::error::{Context, Result};
use crate::state::{Container, Status};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::Serialize;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    typ: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Stats>,
}

/// One event per line, flushed at once (a reader may be waiting for it).
fn emit(typ: &str, id: &str, data: Option<&Stats>) -> Result<()> {
    use std::io::Write;
    let line = serde_json::to_string(&Event { typ, id, data })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|_| out.flush())
        .context("write the event to stdout")
}

/// A Go duration ("5s", "100ms", "1m30s", "1.5s"), as runc's --interval takes it.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || crate::error::Error::msg(format!("--interval: invalid duration {s:?}"));
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * secs;
        rest = &rest[unit_end..];
    }
    Ok(Duration::from_secs_f64(total))
}

pub fn run(root: &Path, id: &str, stats_once: bool, interval: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    let every = parse_duration(interval)?;
    if every.is_zero() {
        bail!("--interval: duration interval must be greater than 0");
    }
    if c.status() == Status::Stopped {
        bail!("container with id {id} is not running");
    }
    let cg = &c.saved.cgroup;
    if stats_once {
        return emit("stats", id, Some(&cg.stats()));
    }
    let mut oom = OomWatch::new(cg).context("watch for OOM events")?;
    let pidfd = crate::sys::pidfd_open(c.saved.pid).context("pidfd_open init")?;
    let mut next = Instant::now() + every;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        let ms = u16::try_from(wait.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        if let Some(o) = &oom {
            fds.push(PollFd::new(o.fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::from(ms)) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r.context("poll")?,
        };
        let init_exited = fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP));
        drop(fds);
        // Drained on every wakeup, so an OOM that killed init is reported before we leave.
        if let Some(o) = &mut oom {
            match o.take() {
                Some(n) => {
                    for _ in 0..n {
                        emit("oom", id, None)?;
                    }
                }
                None => return Ok(()),
            }
        }
        if init_exited {
            return Ok(());
        }
        if Instant::now() >= next {
            emit("stats", id, Some(&cg.stats()))?;
            next += every;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5s").ok(), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_duration("100ms").ok(),
            Some(Duration::from_millis(100))
        );
        assert_eq!(parse_duration("1m30s").ok(), Some(Duration::from_secs(90)));
        assert_eq!(
            parse_duration("1.5s").ok(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_duration("0").ok(), Some(Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
    }
}
