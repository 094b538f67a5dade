//! pause / resume: v1 `freezer.state` (FROZEN / THAWED, passing through FREEZING), v2
//! `cgroup.freeze` (1 / 0, done when `cgroup.events` says `frozen 1` / `frozen 0`).

use super::host::Version;
use crate::bail;
use crate::error::{Context, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a freeze may take before keel gives up (and thaws again).
const TIMEOUT: Duration = Duration::from_secs(5);

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `frozen N` from cgroup.events.
fn v2_frozen(dir: &Path) -> Option<bool> {
    read(&dir.join("cgroup.events"))
        .lines()
        .find_map(|l| l.strip_prefix("frozen "))
        .map(|v| v.trim() == "1")
}

pub fn set(v: Version, dir: &Path, frozen: bool) -> Result<()> {
    let (file, value) = match (v, frozen) {
        (Version::V1, true) => ("freezer.state", "FROZEN"),
        (Version::V1, false) => ("freezer.state", "THAWED"),
        (Version::V2, true) => ("cgroup.freeze", "1"),
        (Version::V2, false) => ("cgroup.freeze", "0"),
    };
    let path = dir.join(file);
    std::fs::write(&path, value).with_context(|| format!("write {value} to {}", path.display()))?;
    let deadline = Instant::now() + TIMEOUT;
    let mut wait = Duration::from_micros(100);
    loop {
        let done = match v {
            Version::V1 => read(&path) == value,
            // Kernels before 5.2 have no cgroup.events "frozen": take the write as done.
            Version::V2 => v2_frozen(dir).is_none_or(|f| f == frozen),
        };
        if done {
            return Ok(());
        }
        if Instant::now() > deadline {
            if frozen {
                let _ = set(v, dir, false);
            }
            bail!(
                "{} did not reach {value} within {} s",
                path.display(),
                TIMEOUT.as_secs()
            );
        }
        if v == Version::V1 && frozen {
            // A v1 freeze can stall on a task in an uninterruptible sleep; asking again helps.
            let _ = std::fs::write(&path, value);
        }
        std::thread::sleep(wait);
        wait = (wait * 2).min(Duration::from_millis(10));
    }
}

pub fn is_frozen(v: Version, dir: &Path) -> bool {
    match v {
        Version::V1 => read(&dir.join("freezer.state")) == "FROZEN",
        Version::V2 => read(&dir.join("cgroup.freeze")) == "1",
    }
}
