//! linux.cgroupsPath and linux.resources, on all three host layouts, detected at run time from
//! /proc/self/mountinfo: pure v2 (one cgroup2 mount), pure v1 (one cgroup mount per hierarchy),
//! and hybrid (v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified that usually holds
//! no controller or only a few, e.g. hugetlb).
//!
//! Each controller is used through exactly one version: a v1 hierarchy that mounts it, else the
//! cgroup2 hierarchy if it offers it (`Host::version_of`). So on a hybrid host memory limits go to
//! the v1 memory hierarchy and huge page limits to the cgroup2 mount when hugetlb lives there.
//!
//! Ownership rule: keel only creates, writes to and removes the container's own directories; the
//! directories it created (recorded in the container's state) are the only ones it ever removes.
//! The one write outside them is cgroup2's `cgroup.subtree_control` of the ancestors, which must
//! list a controller before the container's cgroup gets its files; see `enable_controllers`.
//!
//! Layout of the module (each file uses only those listed below it, so there is no circle):
//!   stats.rs      runc's `events` statistics and OOM notifications (reads a `Cgroup`)
//!   mod.rs        cgroupsPath, the plan for `create`, and the container's `Cgroup` with its
//!                 operations: create, apply, update, freeze, kill, remove
//!   entry.rs      `Entry`: how a new process joins the cgroups at clone time
//!   resources.rs  linux.resources -> file writes, v1 and v2 side by side (pure)
//!   devices.rs    device rules: the v1 emulation and the v2 eBPF program (pure)
//!   bpf.rs        bpf(2): load and attach the device program
//!   freezer.rs    pause/resume: v1 freezer.state, v2 cgroup.freeze
//!   host.rs       host layout detection: cgroup mounts from mountinfo, controllers, versions

mod bpf;
mod devices;
mod entry;
mod freezer;
mod host;
mod resources;
pub mod stats;

pub use entry::Entry;
pub use host::{hugepage_sizes, parse_layout, Hierarchy, Host, Layout, Version};
pub use resources::Current;

use crate::bail;
use crate::error::{Context, Error, Result};
use oci_spec::runtime::{LinuxResources, Spec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Dir {
    /// The hierarchy's directory name under /sys/fs/cgroup.
    pub name: String,
    /// Its v1 controllers; empty for cgroup2.
    pub controllers: Vec<String>,
    pub v2: bool,
    /// The hierarchy's mount point (the container's directory is below it).
    pub mount: PathBuf,
    pub path: PathBuf,
}

/// What keel created and joined, saved in the container state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cgroup {
    pub dirs: Vec<Dir>,
    /// Directories keel created, in creation order; removed in reverse.
    pub created: Vec<PathBuf>,
}

pub struct Plan {
    pub dirs: Vec<Dir>,
    pub resources: resources::Plan,
    /// Controllers to enable in the cgroup2 ancestors' `cgroup.subtree_control`.
    pub enable: Vec<String>,
}

/// The directories and the resource writes for `create`: pure apart from reading
/// /proc/self/cgroup (for a relative cgroupsPath). Bad values fail here, before anything exists.
pub fn plan(host: &Host, spec: &Spec, id: &str) -> Result<Plan> {
    let linux = spec.linux().as_ref();
    let cgroups_path = linux.and_then(|l| l.cgroups_path().as_deref());
    let proc_cgroup =
        std::fs::read_to_string("/proc/self/cgroup").context("read /proc/self/cgroup")?;
    let mut dirs = Vec::new();
    for h in &host.layout.hierarchies {
        let rel = container_path(cgroups_path, id, &own_path(h, &proc_cgroup))?;
        dirs.push(Dir {
            name: h.name.clone(),
            controllers: h.controllers.clone(),
            v2: h.v2,
            mount: h.mount.clone(),
            path: h.mount.join(rel.strip_prefix("/").unwrap_or(&rel)),
        });
    }
    let empty = LinuxResources::default();
    let r = linux.and_then(|l| l.resources().as_ref()).unwrap_or(&empty);
    let resources = resources::plan(r, host, &Current::default(), resources::Mode::Create)?;
    let enable = controllers_to_enable(host, &resources);
    Ok(Plan {
        dirs,
        resources,
        enable,
    })
}

/// On pure v2, every controller the hierarchy offers (as runc: stats and later updates need them);
/// on a hybrid host only those the resources use, since there the cgroup2 tree is mostly the
/// host's business.
fn controllers_to_enable(host: &Host, res: &resources::Plan) -> Vec<String> {
    if host.v2_only() {
        return host.v2_controllers.clone();
    }
    let mut out: Vec<String> = Vec::new();
    for c in res.v2_controllers() {
        if host.v2_controllers.iter().any(|h| h == c) && !out.iter().any(|o| o == c) {
            out.push(c.to_string());
        }
    }
    out
}

/// Create the directories (recording each one made, even on failure, so `destroy` can undo a
/// partial create), enable the cgroup2 controllers, and apply the resources.
pub fn create(plan: &Plan, cg: &mut Cgroup) -> Result<()> {
    for d in &plan.dirs {
        // A parent another container created can vanish under us when that container is
        // deleted (it removes the parents it made once they are empty): walk again.
        let mut attempts = 0;
        loop {
            match make_dirs(d, &mut cg.created) {
                Ok(()) => break,
                Err((e, _)) if e.kind() == std::io::ErrorKind::NotFound && attempts < 3 => {
                    attempts += 1;
                }
                Err((e, m)) => {
                    return Err(
                        Error::from(e).context(format!("linux.cgroupsPath: mkdir {}", m.display()))
                    )
                }
            }
        }
        cg.dirs.push(d.clone());
    }
    if let Some(d) = cg.v2_dir() {
        enable_controllers(d, &plan.enable, &plan.resources)?;
    }
    cg.apply(&plan.resources)
}

/// mkdir the missing parts of `d.path`, recording each directory made in `created`.
fn make_dirs(d: &Dir, created: &mut Vec<PathBuf>) -> Result<(), (std::io::Error, PathBuf)> {
    let mut missing = Vec::new();
    let mut p = d.path.as_path();
    while !p.exists() {
        missing.push(p.to_path_buf());
        match p.parent() {
            Some(parent) if parent.starts_with(&d.mount) => p = parent,
            _ => break,
        }
    }
    for m in missing.into_iter().rev() {
        match std::fs::create_dir(&m) {
            Ok(()) => created.push(m.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err((e, m)),
        }
        if d.controllers.iter().any(|c| c == "cpuset") {
            if let Err(e) = inherit_cpuset(&m) {
                return Err((std::io::Error::other(e.to_string()), m));
            }
        }
    }
    Ok(())
}

/// A new v1 cpuset cgroup starts with empty cpus/mems and refuses tasks: copy the parent's.
fn inherit_cpuset(dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let cur = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        if cur.trim().is_empty() {
            let v = std::fs::read_to_string(parent.join(file))
                .with_context(|| format!("read {}", parent.join(file).display()))?;
            std::fs::write(dir.join(file), v.trim())
                .with_context(|| format!("write {}", dir.join(file).display()))?;
        }
    }
    Ok(())
}

/// cgroup2: a controller's files appear in a cgroup only when its parent lists the controller in
/// `cgroup.subtree_control`, and so on up to the root. Like runc, keel writes `+ctrl` into every
/// ancestor from the root down, including ancestors it did not create: that is the only way to
/// get a controller below an existing cgroup. It does so carefully: only the controllers that are
/// missing, never `-ctrl`, nothing into the container's own cgroup, and a failure there is not
/// fatal (an ancestor holding processes refuses with EBUSY, the "no internal processes" rule).
/// What it enabled stays enabled after the container is gone (runc does the same; another
/// container may rely on it). Only if a controller the resources need is then missing from the
/// container's cgroup is it an error, which names the field and the ancestor that refused.
fn enable_controllers(d: &Dir, want: &[String], res: &resources::Plan) -> Result<()> {
    let mut refused: Vec<String> = Vec::new();
    if !want.is_empty() {
        let rel = d.path.strip_prefix(&d.mount).unwrap_or(Path::new(""));
        let mut ancestor = d.mount.clone();
        for comp in rel.components() {
            let ctl = ancestor.join("cgroup.subtree_control");
            let have = std::fs::read_to_string(&ctl).unwrap_or_default();
            let have: Vec<&str> = have.split_whitespace().collect();
            for c in want.iter().filter(|c| !have.contains(&c.as_str())) {
                if let Err(e) = std::fs::write(&ctl, format!("+{c}")) {
                    refused.push(format!("{c}: {}: {}", ctl.display(), Error::from(e)));
                }
            }
            ancestor.push(comp);
        }
    }
    let available = std::fs::read_to_string(d.path.join("cgroup.controllers")).unwrap_or_default();
    let available: Vec<&str> = available.split_whitespace().collect();
    for (field, c) in res.v2_needs() {
        if !available.contains(&c) {
            let why = refused
                .iter()
                .find(|r| r.starts_with(&format!("{c}: ")))
                .map(|r| format!(": enabling it failed: {}", &r[c.len() + 2..]))
                .unwrap_or_default();
            bail!(
                "{field}: the {c} controller is not enabled in {}{why}",
                d.path.display()
            );
        }
    }
    Ok(())
}

impl Cgroup {
    /// The container's cgroups to enter (see `Entry`), fds at `min_fd` or above.
    pub fn entry(&self, min_fd: i32) -> Result<Entry> {
        let dirs: Vec<(bool, PathBuf)> = self.dirs.iter().map(|d| (d.v2, d.path.clone())).collect();
        Entry::open(&dirs, min_fd)
    }

    /// `exec --cgroup [CONTROLLER:]PATH`: an existing sub-cgroup of the container's cgroup, for
    /// one controller or (without a controller) for all; the rest join the container's.
    pub fn entry_sub(&self, subs: &[(Option<String>, PathBuf)], min_fd: i32) -> Result<Entry> {
        let mut dirs = Vec::new();
        for d in &self.dirs {
            let matching = |c: &Option<String>| match c {
                Some(c) => d.controllers.iter().any(|x| x == c) || d.name == *c,
                None => false,
            };
            let sub = subs
                .iter()
                .find(|(c, _)| matching(c))
                .or_else(|| subs.iter().find(|(c, _)| c.is_none()))
                .map(|(_, p)| p);
            let dir = match sub {
                Some(p) => d.path.join(p),
                None => d.path.clone(),
            };
            if !dir.is_dir() {
                crate::bail!("--cgroup: {} does not exist", dir.display());
            }
            dirs.push((d.v2, dir));
        }
        Entry::open(&dirs, min_fd)
    }

    /// The container's cgroup directory in each hierarchy, for `cgroup` mounts. The cgroup2
    /// one is always named "unified" there (as on a hybrid host), also on a pure v2 host where
    /// its mount point is /sys/fs/cgroup itself.
    pub fn sources(&self) -> crate::mounts::CgroupSources {
        self.dirs
            .iter()
            .map(|d| {
                let name = if d.v2 { "unified" } else { d.name.as_str() };
                (name.to_string(), d.path.clone())
            })
            .collect()
    }

    pub fn v2_only(&self) -> bool {
        !self.dirs.is_empty() && self.dirs.iter().all(|d| d.v2)
    }

    pub fn v2_dir(&self) -> Option<&Dir> {
        self.dirs.iter().find(|d| d.v2)
    }

    /// The container's directory for `ctrl` in the version keel uses it through.
    pub fn dir_for(&self, ctrl: &str, version: Version) -> Option<&Path> {
        match version {
            Version::V1 => self
                .dirs
                .iter()
                .find(|d| !d.v2 && d.controllers.iter().any(|c| c == ctrl)),
            Version::V2 => self.v2_dir(),
        }
        .map(|d| d.path.as_path())
    }

    /// The v1 directory of `ctrl`, else the cgroup2 one.
    fn dir_of(&self, ctrl: &str) -> Option<(Version, &Path)> {
        self.dir_for(ctrl, Version::V1)
            .map(|p| (Version::V1, p))
            .or_else(|| self.v2_dir().map(|d| (Version::V2, d.path.as_path())))
    }

    /// Write the planned files; with v2 device rules, load and attach the eBPF program.
    pub fn apply(&self, plan: &resources::Plan) -> Result<()> {
        for w in &plan.writes {
            let Some(dir) = self.dir_for(&w.ctrl, w.version) else {
                bail!(
                    "{}: the {} controller is not mounted on this host",
                    w.field,
                    w.ctrl
                );
            };
            // Opened straight away, no stat first; the alternative file when it is missing.
            let open = |p: &Path| std::fs::OpenOptions::new().write(true).open(p);
            let missing = |r: &std::io::Result<std::fs::File>| matches!(r, Err(e) if e.kind() == std::io::ErrorKind::NotFound);
            let (mut path, mut value) = (dir.join(&w.file), w.value.as_str());
            let mut opened = open(&path);
            if let Some((file, alt_value)) = w.alt.as_ref().filter(|_| missing(&opened)) {
                (path, value) = (dir.join(file), alt_value.as_str());
                opened = open(&path);
            }
            if missing(&opened) {
                if w.optional {
                    continue;
                }
                let also = w
                    .alt
                    .as_ref()
                    .map(|(f, _)| format!(" (nor {f})"))
                    .unwrap_or_default();
                bail!(
                    "{}: {} has no file {}{also}: the kernel does not offer this setting here",
                    w.field,
                    dir.display(),
                    w.file
                );
            }
            let mut f = opened.with_context(|| format!("{}: open {}", w.field, path.display()))?;
            use std::io::Write;
            f.write_all(value.as_bytes())
                .with_context(|| format!("{}: write {value:?} to {}", w.field, path.display()))?;
        }
        for warning in &plan.warnings {
            crate::log::warn(warning);
        }
        if let Some(prog) = &plan.bpf {
            let Some(d) = self.v2_dir() else {
                bail!(
                    "linux.resources.devices: no cgroup2 directory to attach the device filter to"
                );
            };
            bpf::attach_device_filter(&d.path, prog)
                .context("linux.resources.devices: install the eBPF device filter")?;
        }
        Ok(())
    }

    /// `update`: plan against the current values, then apply (device rules stay as they are).
    pub fn update(&self, r: &LinuxResources) -> Result<()> {
        let host = Host::detect()?;
        let cur = self.current();
        let plan = resources::plan(r, &host, &cur, resources::Mode::Update)?;
        if let Some(d) = self.v2_dir() {
            enable_controllers(d, &controllers_to_enable(&host, &plan), &plan)?;
        }
        self.apply(&plan)
    }

    /// The current values `update` plans against.
    fn current(&self) -> Current {
        let mut cur = Current::default();
        let num =
            |p: PathBuf| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
        if let Some(d) = self.dir_for("memory", Version::V1) {
            cur.memory_limit = num(d.join("memory.limit_in_bytes")).unwrap_or(u64::MAX);
            cur.memory_usage = num(d.join("memory.usage_in_bytes")).unwrap_or(0);
        } else if let Some(d) = self.v2_dir() {
            cur.memory_usage = num(d.path.join("memory.current")).unwrap_or(0);
        }
        if let Some(d) = self.v2_dir() {
            if let Ok(s) = std::fs::read_to_string(d.path.join("cpu.max")) {
                if let Some(q) = s.split_whitespace().next() {
                    cur.cpu_max_quota = q.to_string();
                }
            }
        }
        cur
    }

    /// Every process in the container's cgroup and its sub-cgroups (runc's GetAllPids), read
    /// from the freezer's (or pids', or the first) hierarchy.
    pub fn all_pids(&self) -> Vec<i32> {
        let dir = ["freezer", "pids", "memory"]
            .iter()
            .find_map(|c| self.dir_for(c, Version::V1))
            .or_else(|| self.v2_dir().map(|d| d.path.as_path()))
            .or_else(|| self.dirs.first().map(|d| d.path.as_path()));
        let mut out = Vec::new();
        if let Some(d) = dir {
            collect_pids(d, &mut out);
        }
        out
    }

    /// Send `sig` to every process of the container, as runc's `kill --all`: SIGKILL through
    /// cgroup.kill where cgroup2 has it; otherwise freeze, signal each process, thaw (so nothing
    /// forks in between). Like runc this leaves a paused container thawed.
    pub fn signal_all(&self, sig: nix::sys::signal::Signal) -> Result<()> {
        if sig == nix::sys::signal::Signal::SIGKILL && self.v2_only() {
            if let Some(d) = self.v2_dir() {
                let kill = d.path.join("cgroup.kill");
                if kill.exists() {
                    return std::fs::write(&kill, "1")
                        .with_context(|| format!("write {}", kill.display()));
                }
            }
        }
        let froze = self.freeze(true).is_ok();
        for pid in self.all_pids() {
            match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => crate::log::warn(&format!("kill {pid} with {sig}: {}", Error::from(e))),
            }
        }
        if froze {
            self.freeze(false)?;
        }
        Ok(())
    }

    /// pause (true) / resume (false).
    pub fn freeze(&self, frozen: bool) -> Result<()> {
        let (v, dir) = self
            .dir_of("freezer")
            .ok_or_else(|| Error::msg("no freezer: neither a v1 freezer hierarchy nor cgroup2"))?;
        freezer::set(v, dir, frozen)
    }

    pub fn is_frozen(&self) -> bool {
        match self.dir_of("freezer") {
            Some((v, dir)) => freezer::is_frozen(v, dir),
            None => false,
        }
    }

    /// Is any process left in the container's cgroup?
    pub fn populated(&self) -> bool {
        !self.all_pids().is_empty()
    }

    /// Remove the directories keel created, deepest first. Processes that are still exiting keep
    /// a cgroup busy for a moment, so EBUSY on the container's own directories is retried with a
    /// short backoff (about 2 s in all). A parent keel created but another container now uses
    /// (EBUSY/ENOTEMPTY) is left for the last one out.
    pub fn destroy(&self) -> Result<()> {
        for dir in self.created.iter().rev() {
            let own = self.dirs.iter().any(|d| d.path == *dir);
            let mut wait_us = 100;
            loop {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e)
                        if !own
                            && matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) =>
                    {
                        break
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && wait_us < 1_000_000 => {
                        std::thread::sleep(std::time::Duration::from_micros(wait_us));
                        wait_us *= 2;
                    }
                    Err(e) => {
                        return Err(
                            Error::from(e).context(format!("remove cgroup {}", dir.display()))
                        )
                    }
                }
            }
        }
        Ok(())
    }
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(s) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut subs: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .map(|e| e.path())
            .collect();
        subs.sort();
        for s in subs {
            collect_pids(&s, out);
        }
    }
}

/// What `create` is about to make: the container's directories and the ones missing on the way
/// to them. Recorded in the state before any mkdir, so a keel killed halfway through leaves a
/// record that `delete --force` can finish (rmdir of a directory that was never made is a no-op).
pub fn planned(plan: &Plan) -> Cgroup {
    let mut cg = Cgroup::default();
    for d in &plan.dirs {
        let mut missing = Vec::new();
        let mut p = d.path.as_path();
        while !p.exists() && p.starts_with(&d.mount) && p != d.mount {
            missing.push(p.to_path_buf());
            match p.parent() {
                Some(parent) => p = parent,
                None => break,
            }
        }
        cg.created.extend(missing.into_iter().rev());
        cg.dirs.push(d.clone());
    }
    cg
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::host::tests::{hybrid_host, v2_host, HYBRID_SYSTEMD};
    use super::*;

    #[test]
    fn own_path_matches_controller_sets() {
        let l = parse_layout(HYBRID_SYSTEMD);
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

    #[test]
    fn controllers_to_enable_on_v2_and_hybrid() {
        let r: LinuxResources = serde_json::from_value(serde_json::json!({
            "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
            "memory": {"limit": 1048576}
        }))
        .unwrap();
        let h = hybrid_host();
        let p = resources::plan(&r, &h, &Current::default(), resources::Mode::Create).unwrap();
        assert_eq!(controllers_to_enable(&h, &p), ["hugetlb"]);
        let v2 = v2_host();
        let p = resources::plan(&r, &v2, &Current::default(), resources::Mode::Create).unwrap();
        assert_eq!(controllers_to_enable(&v2, &p), v2.v2_controllers);
    }
}
