//! `<root>/<id>/`: state.json (written atomically), exec.fifo (present = "created"), and the status
//! derived from the init pid plus its start time (so a reused PID is never mistaken for init).

use crate::bail;
use crate::error::{Context, Error, Result};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FIFO: &str = "exec.fifo";
const STATE: &str = "state.json";

/// runc's error texts, which callers match on.
pub const NOT_EXIST: &str = "container does not exist";
pub const NOT_RUNNING: &str = "container not running";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    /// Field 22 of /proc/<pid>/stat when init was created.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub annotations: BTreeMap<String, String>,
    pub cgroup: crate::cgroups::Cgroup,
    /// The config the container was created with (exec builds its process from it).
    pub config: Spec,
    /// Set while `create` is still running: its cgroup exists but init may not. If keel is
    /// killed in the middle, this record is what lets `delete --force` remove everything.
    #[serde(default)]
    pub creating: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    /// Frozen by `pause` (v1 freezer.state FROZEN, v2 cgroup.freeze 1).
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// runc's `state` output (field order and names as runc prints them).
#[derive(Debug, Serialize)]
pub struct StateJson<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: &'a str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: &'a BTreeMap<String, String>,
    pub owner: &'a str,
}

pub struct Container {
    pub dir: PathBuf,
    pub saved: Saved,
}

/// runc's rule: letters, digits, `_ + - .`, and not "." or "..".
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        bail!("container id cannot be empty");
    }
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if !ok {
        bail!("invalid container ID format: {id:?}");
    }
    Ok(())
}

/// Make `<root>/<id>`; exactly one of several concurrent creates of the same id wins here.
pub fn create_dir(root: &Path, id: &str) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .with_context(|| format!("--root: mkdir {}", root.display()))?;
    let dir = root.join(id);
    match std::fs::DirBuilder::new().mode(0o711).create(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("container with id exists: {id}: container with given ID already exists")
        }
        Err(e) => Err(Error::from(e).context(format!("mkdir {}", dir.display()))),
    }
}

/// Start time (clock ticks since boot) and whether the process is a zombie, from
/// /proc/<pid>/stat; None when there is no such process.
pub fn proc_start(pid: i32) -> Option<(u64, bool)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let zombie = matches!(f.first(), Some(&"Z") | Some(&"X"));
    Some((f.get(19)?.parse().ok()?, zombie))
}

impl Container {
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        validate_id(id)?;
        let dir = root.join(id);
        let text = match std::fs::read(dir.join(STATE)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::of_kind(
                    crate::error::Kind::ContainerNotFound,
                    NOT_EXIST,
                ))
            }
            Err(e) => {
                return Err(Error::from(e).context(format!("read {}", dir.join(STATE).display())))
            }
        };
        let saved: Saved = serde_json::from_slice(&text)
            .with_context(|| format!("parse {}", dir.join(STATE).display()))?;
        Ok(Container { dir, saved })
    }

    pub fn save(&self) -> Result<()> {
        let tmp = self.dir.join(".state.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&self.saved)?)
            .with_context(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, self.dir.join(STATE)).context("rename state.json")?;
        Ok(())
    }

    pub fn fifo(&self) -> PathBuf {
        self.dir.join(FIFO)
    }

    /// Is init (the same process, not a reuse of its PID) still alive?
    pub fn init_alive(&self) -> bool {
        matches!(proc_start(self.saved.pid), Some((start, false)) if start == self.saved.pid_start)
    }

    /// As runc: a frozen cgroup makes a live container "paused", even before `start`.
    pub fn status(&self) -> Status {
        if self.saved.creating {
            Status::Creating
        } else if !self.init_alive() {
            Status::Stopped
        } else if self.saved.cgroup.is_frozen() {
            Status::Paused
        } else if self.fifo().exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    pub fn state_json<'a>(&'a self, status: Status, owner: &'a str) -> StateJson<'a> {
        let s = &self.saved;
        StateJson {
            oci_version: &s.oci_version,
            id: &s.id,
            pid: if status == Status::Stopped { 0 } else { s.pid },
            status: status.as_str(),
            bundle: &s.bundle,
            rootfs: &s.rootfs,
            created: &s.created,
            annotations: &s.annotations,
            owner,
        }
    }

    /// The runtime-spec state passed to hooks (`status` as the hook kind requires).
    pub fn hook_state(&self, status: Status) -> String {
        let s = &self.saved;
        hook_state(&s.config, &s.id, &s.bundle, status, s.pid)
    }

    pub fn remove_dir(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::from(e).context(format!("remove {}", self.dir.display())))
            }
            _ => Ok(()),
        }
    }
}

/// The runtime-spec state for hooks, shaped as runc sends it: no `annotations` when there are
/// none, and no `pid` once the container has stopped. Init passes its own view (its pid as seen
/// in the container) to createContainer and startContainer hooks; the parent uses
/// `Container::hook_state`.
pub fn hook_state(config: &Spec, id: &str, bundle: &Path, status: Status, pid: i32) -> String {
    let mut v = serde_json::json!({
        "ociVersion": config.version(),
        "id": id,
        "status": status.as_str(),
        "bundle": bundle,
    });
    if status != Status::Stopped {
        v["pid"] = pid.into();
    }
    if let Some(a) = config.annotations().as_ref().filter(|a| !a.is_empty()) {
        v["annotations"] = serde_json::json!(a);
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc() {
        assert!(validate_id("abc-1_2.3+x").is_ok());
        for bad in ["", ".", "..", "../x", "a/b", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn own_start_time_is_readable() {
        let me = std::process::id() as i32;
        assert!(matches!(proc_start(me), Some((t, false)) if t > 0));
        assert_eq!(proc_start(-5), None);
    }
}
