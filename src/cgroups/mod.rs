//! linux.cgroupsPath and linux.resources. The host layout (v1, v2, or hybrid: v1 controllers plus
//! a cgroup2 mount at /sys/fs/cgroup/unified) is read from /proc/self/mountinfo at run time.
//!
//! Ownership rule: keel only writes to and removes cgroup directories it created, recorded in the
//! container's state; the host's own cgroups are never touched.

mod v1;

use crate::bail;
use crate::error::{Context, Result};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Directory name under /sys/fs/cgroup ("cpu", "systemd", "unified").
    pub name: String,
    pub mount: PathBuf,
    /// Controllers from the mount options ("cpu", "name=systemd"); empty for cgroup2.
    pub controllers: Vec<String>,
    pub v2: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub hierarchies: Vec<Hierarchy>,
}

impl Layout {
    pub fn v2_only(&self) -> bool {
        self.hierarchies.iter().all(|h| h.v2)
    }
}

/// Parse the cgroup mounts out of mountinfo text.
pub fn parse_layout(mountinfo: &str) -> Layout {
    let mut hierarchies = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 3 {
            continue;
        }
        let (mount, fstype) = (PathBuf::from(l[4]), r[0]);
        let name = mount
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        match fstype {
            "cgroup2" => hierarchies.push(Hierarchy {
                name,
                mount,
                controllers: vec![],
                v2: true,
            }),
            "cgroup" => {
                let controllers = r[2]
                    .split(',')
                    .filter(|o| {
                        !matches!(
                            *o,
                            "rw" | "ro"
                                | "nosuid"
                                | "nodev"
                                | "noexec"
                                | "relatime"
                                | "noatime"
                                | "xattr"
                                | "clone_children"
                        ) && !o.starts_with("release_agent=")
                    })
                    .map(str::to_string)
                    .collect();
                hierarchies.push(Hierarchy {
                    name,
                    mount,
                    controllers,
                    v2: false,
                })
            }
            _ => {}
        }
    }
    Layout { hierarchies }
}

pub fn detect() -> Result<Layout> {
    let text =
        std::fs::read_to_string("/proc/self/mountinfo").context("read /proc/self/mountinfo")?;
    let l = parse_layout(&text);
    if l.hierarchies.is_empty() {
        bail!("no cgroup filesystem is mounted on this host");
    }
    Ok(l)
}

/// keel's own cgroup in each hierarchy, from /proc/self/cgroup.
fn own_path(h: &Hierarchy, proc_cgroup: &str) -> PathBuf {
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrl, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or("/"));
        let matches = if h.v2 {
            ctrl.is_empty()
        } else {
            let mut a: Vec<&str> = ctrl.split(',').collect();
            let mut b: Vec<&str> = h.controllers.iter().map(String::as_str).collect();
            a.sort();
            b.sort();
            a == b
        };
        if matches {
            return PathBuf::from(path);
        }
    }
    PathBuf::from("/")
}

/// The container's cgroup path inside each hierarchy: an absolute cgroupsPath is used as is; a
/// relative one (or the id, when absent) is taken under keel's own cgroup, as runc does.
pub fn container_path(cgroups_path: Option<&Path>, id: &str, own: &Path) -> Result<PathBuf> {
    let p = match cgroups_path {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) if !p.as_os_str().is_empty() => own.join(p),
        _ => own.join(id),
    };
    if p.components().any(|c| c == std::path::Component::ParentDir) {
        bail!("linux.cgroupsPath: must not contain \"..\"");
    }
    if p == Path::new("/") {
        bail!("linux.cgroupsPath: the root cgroup cannot be a container's cgroup");
    }
    Ok(p)
}

/// What keel created and joined, saved in the container state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cgroup {
    /// (hierarchy name, the container's directory in it)
    pub paths: Vec<(String, PathBuf)>,
    /// Directories keel created, in creation order; removed in reverse.
    pub created: Vec<PathBuf>,
}

pub struct Plan {
    pub dirs: Vec<(Hierarchy, PathBuf)>,
    pub writes: Vec<v1::Write>,
}

/// Pure apart from reading /proc/self/cgroup: the directories and the file writes.
pub fn plan(layout: Layout, spec: &Spec, id: &str) -> Result<Plan> {
    let linux = spec.linux().as_ref();
    let cgroups_path = linux.and_then(|l| l.cgroups_path().as_deref());
    let proc_cgroup =
        std::fs::read_to_string("/proc/self/cgroup").context("read /proc/self/cgroup")?;
    let mut dirs = Vec::new();
    for h in &layout.hierarchies {
        let rel = container_path(cgroups_path, id, &own_path(h, &proc_cgroup))?;
        let dir = h.mount.join(rel.strip_prefix("/").unwrap_or(&rel));
        dirs.push((h.clone(), dir));
    }
    let resources = linux.and_then(|l| l.resources().as_ref());
    let writes = match resources {
        Some(r) if layout.v2_only() => {
            if r.devices().as_ref().is_some_and(|d| !d.is_empty()) || has_limits(r) {
                bail!("linux.resources: resource limits on a cgroup v2 host are not supported by keel yet");
            }
            Vec::new()
        }
        Some(r) => v1::plan(r)?,
        None => Vec::new(),
    };
    Ok(Plan { dirs, writes })
}

fn has_limits(r: &oci_spec::runtime::LinuxResources) -> bool {
    r.memory().is_some()
        || r.cpu().is_some()
        || r.pids().is_some()
        || r.block_io().is_some()
        || r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty())
        || r.network().is_some()
        || r.rdma().is_some()
        || r.unified().as_ref().is_some_and(|u| !u.is_empty())
}

/// Create the directories (recording each one made, even on failure, so `destroy` can undo a
/// partial create) and apply the resource writes.
pub fn create(plan: &Plan, cg: &mut Cgroup) -> Result<()> {
    for (h, dir) in &plan.dirs {
        let mut missing = Vec::new();
        let mut d = dir.as_path();
        while !d.exists() {
            missing.push(d.to_path_buf());
            match d.parent() {
                Some(p) if p.starts_with(&h.mount) => d = p,
                _ => break,
            }
        }
        for m in missing.into_iter().rev() {
            match std::fs::create_dir(&m) {
                Ok(()) => cg.created.push(m.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(crate::error::Error::from(e)
                        .context(format!("linux.cgroupsPath: mkdir {}", m.display())))
                }
            }
            if h.controllers.iter().any(|c| c == "cpuset") {
                v1::inherit_cpuset(&m)?;
            }
        }
        cg.paths.push((h.name.clone(), dir.clone()));
    }
    for w in &plan.writes {
        let Some((_, dir)) = plan
            .dirs
            .iter()
            .find(|(h, _)| h.controllers.iter().any(|c| *c == w.controller))
        else {
            bail!(
                "{}: the {} controller is not mounted on this host",
                w.field,
                w.controller
            );
        };
        let path = dir.join(w.file);
        std::fs::write(&path, &w.value)
            .with_context(|| format!("{}: write {:?} to {}", w.field, w.value, path.display()))?;
    }
    Ok(())
}

impl Cgroup {
    pub fn join(&self, pid: i32) -> Result<()> {
        for (_, dir) in &self.paths {
            let f = dir.join("cgroup.procs");
            std::fs::write(&f, pid.to_string())
                .with_context(|| format!("join cgroup {}", dir.display()))?;
        }
        Ok(())
    }

    /// The container's cgroup directory in each hierarchy, for `cgroup` mounts.
    pub fn sources(&self) -> crate::mounts::CgroupSources {
        self.paths.clone()
    }

    /// Every process in the container's cgroup.
    pub fn procs(&self) -> Vec<i32> {
        let dir = self
            .paths
            .iter()
            .find(|(n, _)| n == "pids" || n == "freezer")
            .or_else(|| self.paths.first())
            .map(|(_, d)| d.clone());
        let Some(dir) = dir else { return Vec::new() };
        std::fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Remove the directories keel created, deepest first. Processes that are still exiting keep
    /// a cgroup busy for a moment, so EBUSY is retried with a short backoff (about 2 s in all).
    pub fn destroy(&self) -> Result<()> {
        for dir in self.created.iter().rev() {
            let mut wait_us = 100;
            loop {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && wait_us < 1_000_000 => {
                        std::thread::sleep(std::time::Duration::from_micros(wait_us));
                        wait_us *= 2;
                    }
                    Err(e) => {
                        return Err(crate::error::Error::from(e)
                            .context(format!("remove cgroup {}", dir.display())))
                    }
                }
            }
        }
        Ok(())
    }
}

/// What `create` is about to make: the container's directories and the ones missing on the way
/// to them. Recorded in the state before any mkdir, so a keel killed halfway through leaves a
/// record that `delete --force` can finish (rmdir of a directory that was never made is a no-op).
pub fn planned(plan: &Plan) -> Cgroup {
    let mut cg = Cgroup::default();
    for (h, dir) in &plan.dirs {
        let mut missing = Vec::new();
        let mut d = dir.as_path();
        while !d.exists() && d.starts_with(&h.mount) && d != h.mount {
            missing.push(d.to_path_buf());
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
        cg.created.extend(missing.into_iter().rev());
        cg.paths.push((h.name.clone(), dir.clone()));
    }
    cg
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid shared:6 - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:7 - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw shared:8 - cgroup cgroup rw,memory";

    #[test]
    fn hybrid_layout() {
        let l = parse_layout(HYBRID);
        let names: Vec<_> = l
            .hierarchies
            .iter()
            .map(|h| (h.name.as_str(), h.controllers.join("+"), h.v2))
            .collect();
        assert_eq!(
            names,
            [
                ("unified", String::new(), true),
                ("systemd", "name=systemd".to_string(), false),
                ("cpu,cpuacct", "cpu+cpuacct".to_string(), false),
                ("memory", "memory".to_string(), false)
            ]
        );
        assert!(!l.v2_only());
    }

    #[test]
    fn own_path_matches_controller_sets() {
        let l = parse_layout(HYBRID);
        let pc = "4:memory:/sup/x\n3:cpuacct,cpu:/a\n1:name=systemd:/s\n0::/u\n";
        let own: Vec<_> = l.hierarchies.iter().map(|h| own_path(h, pc)).collect();
        assert_eq!(
            own,
            [
                PathBuf::from("/u"),
                "/s".into(),
                "/a".into(),
                "/sup/x".into()
            ]
        );
    }

    #[test]
    fn container_paths_follow_runc() {
        let own = Path::new("/own");
        let c = |p: Option<&str>| {
            container_path(p.map(Path::new), "id1", own).map_err(|e| e.to_string())
        };
        assert_eq!(c(None), Ok(PathBuf::from("/own/id1")));
        assert_eq!(c(Some("/keel/x")), Ok(PathBuf::from("/keel/x")));
        assert_eq!(c(Some("rel/x")), Ok(PathBuf::from("/own/rel/x")));
        assert!(c(Some("/a/../b")).is_err());
    }
}
