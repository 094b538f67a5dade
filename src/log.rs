//! `--log FILE` / `--log-format text|json`: logrus-compatible lines, because containerd and conmon
//! parse them (containerd reads the last `"level":"error"` line of `--log` to explain a failure).
//! Single-threaded, no background writer: each line is one `write(2)` in append mode.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    file: Option<File>,
    format: Format,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Set up the logger once, from the global flags. A log file that cannot be opened is reported on
/// stderr and logging falls back to stderr, as runc does.
pub fn init(path: Option<&Path>, format: Format, debug: bool) -> crate::error::Result<()> {
    let file = match path {
        Some(p) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| {
                    crate::error::Error::from(e).context(format!("open log file {}", p.display()))
                })?,
        ),
        None => None,
    };
    let _ = LOGGER.set(Logger {
        file,
        format,
        debug,
    });
    Ok(())
}

/// True when log lines go to a file rather than stderr.
pub fn to_file() -> bool {
    LOGGER.get().is_some_and(|l| l.file.is_some())
}

fn debug_enabled() -> bool {
    LOGGER.get().is_some_and(|l| l.debug)
}

pub fn error(msg: &str) {
    write("error", msg);
}

pub fn warn(msg: &str) {
    write("warning", msg);
}

pub fn debug(msg: &str) {
    if debug_enabled() {
        write("debug", msg);
    }
}

fn write(level: &str, msg: &str) {
    let Some(l) = LOGGER.get() else {
        let _ = writeln!(std::io::stderr(), "{level}: {msg}");
        return;
    };
    let now = now_rfc3339(false);
    let line = match l.format {
        Format::Json => {
            let v = serde_json::json!({"level": level, "msg": msg, "time": now});
            format!("{v}\n")
        }
        Format::Text => format!(
            "time=\"{now}\" level={level} msg={}\n",
            serde_json::Value::String(msg.to_string())
        ),
    };
    match &l.file {
        Some(f) => {
            let mut f: &File = f;
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Now as RFC 3339 in UTC; with `nanos`, Go's RFC3339Nano (trailing zeros trimmed), which is how
/// runc prints `created`.
pub fn now_rfc3339(nanos: bool) -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, if nanos { d.subsec_nanos() } else { 0 })
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `--debug` timing of the phases of one operation, logged as one line at the end
/// (`create phases: plan 0.21ms, cgroup 0.40ms, ...`). Instant::now is a vDSO call.
pub struct Phases {
    what: &'static str,
    last: std::time::Instant,
    marks: Vec<(&'static str, std::time::Duration)>,
}

impl Phases {
    pub fn start(what: &'static str) -> Phases {
        Phases {
            what,
            last: std::time::Instant::now(),
            marks: Vec::new(),
        }
    }

    pub fn mark(&mut self, phase: &'static str) {
        let now = std::time::Instant::now();
        self.marks.push((phase, now - self.last));
        self.last = now;
    }

    pub fn log(&self) {
        if !debug_enabled() {
            return;
        }
        let parts: Vec<String> = self
            .marks
            .iter()
            .map(|(p, d)| format!("{p} {:.2}ms", d.as_secs_f64() * 1000.0))
            .collect();
        debug(&format!("{} phases: {}", self.what, parts.join(", ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_700_000_000, 120_000_000),
            "2023-11-14T22:13:20.12Z"
        );
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
    }
}
