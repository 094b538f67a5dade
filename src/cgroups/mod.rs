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
//! Layout of the module:
//!   mod.rs        host layout, cgroupsPath, the container's `Cgroup` (create, join, procs,
//!                 signal, remove) and the plan for `create`
//!   resources.rs  linux.resources -> file writes, v1 and v2 side by side (pure)
//!   devices.rs    device rules: the v1 emulation and the v2 eBPF program (pure)
//!   bpf.rs        bpf(2): load and attach the device program
//!   freezer.rs    pause/resume: v1 freezer.state, v2 cgroup.freeze
//!   stats.rs      runc's `events` statistics and OOM notifications

mod bpf;
mod devices;
mod freezer;
mod resources;
pub mod stats;

pub use resources::Current;

use crate::bail;
use crate::error::{Context, Error, Result};
use oci_spec::runtime::{LinuxResources, Spec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    V1,
    V2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Directory name under /sys/fs/cgroup ("cpu", "systemd", "unified"; "cgroup" on pure v2).
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

    pub fn v2(&self) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.v2)
    }
}

/// Parse the cgroup mounts out of mountinfo text.
pub fn parse_layout(mountinfo: &str) -> Layout {
    let mut hierarchies: Vec<Hierarchy> = Vec::new();
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
        let h = match fstype {
            "cgroup2" => Hierarchy {
                name,
                mount,
                controllers: vec![],
                v2: true,
            },
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
                Hierarchy {
                    name,
                    mount,
                    controllers,
                    v2: false,
                }
            }
            _ => continue,
        };
        // The same hierarchy mounted twice (bind mounts, nested setups): the first one counts.
        if !hierarchies
            .iter()
            .any(|x| x.v2 == h.v2 && x.controllers == h.controllers)
        {
            hierarchies.push(h);
        }
    }
    Layout { hierarchies }
}

/// The facts about this host that shape a cgroup plan, read once per command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub layout: Layout,
    /// Controllers the cgroup2 hierarchy offers (its root's `cgroup.controllers`).
    pub v2_controllers: Vec<String>,
    /// Huge page sizes as cgroup file names spell them ("2MB", "1GB").
    pub hugepage_sizes: Vec<String>,
    /// Online CPUs and memory nodes, for `cpu.cpus` / `cpu.mems`.
    pub cpus: BTreeSet<usize>,
    pub mems: BTreeSet<usize>,
}

impl Host {
    pub fn detect() -> Result<Host> {
        let text =
            std::fs::read_to_string("/proc/self/mountinfo").context("read /proc/self/mountinfo")?;
        let layout = parse_layout(&text);
        if layout.hierarchies.is_empty() {
            bail!("no cgroup filesystem is mounted on this host");
        }
        let v2_controllers = match layout.v2() {
            Some(h) => std::fs::read_to_string(h.mount.join("cgroup.controllers"))
                .with_context(|| format!("read {}/cgroup.controllers", h.mount.display()))?
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            None => Vec::new(),
        };
        let set = |path: &str| -> BTreeSet<usize> {
            std::fs::read_to_string(path)
                .ok()
                .and_then(|s| crate::process::cpu_list(s.trim()).ok())
                .map(|v| v.into_iter().collect())
                .unwrap_or_else(|| [0].into_iter().collect())
        };
        Ok(Host {
            layout,
            v2_controllers,
            hugepage_sizes: hugepage_sizes(),
            cpus: set("/sys/devices/system/cpu/online"),
            mems: set("/sys/devices/system/node/online"),
        })
    }

    pub fn v2_only(&self) -> bool {
        self.layout.v2_only()
    }

    /// Which version keel uses for `ctrl`: a v1 hierarchy that mounts it, else the cgroup2
    /// hierarchy if it offers it. `devices` and `freezer` are built into cgroup2 (eBPF,
    /// `cgroup.freeze`), so they are always available there.
    pub fn version_of(&self, ctrl: &str) -> Option<Version> {
        let v1 = self
            .layout
            .hierarchies
            .iter()
            .any(|h| !h.v2 && h.controllers.iter().any(|c| c == ctrl));
        if v1 {
            return Some(Version::V1);
        }
        let v2 = self.layout.v2().is_some()
            && (matches!(ctrl, "devices" | "freezer" | "cgroup")
                || self.v2_controllers.iter().any(|c| c == ctrl));
        v2.then_some(Version::V2)
    }
}

/// This host's huge page sizes, as the hugetlb files name them ("1GB", "2MB"), sorted.
pub fn hugepage_sizes() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| hugepage_size_name(&e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// "hugepages-2048kB" -> "2MB", as runc names the hugetlb files.
fn hugepage_size_name(dir: &str) -> Option<String> {
    let kb: u64 = dir
        .strip_prefix("hugepages-")?
        .strip_suffix("kB")?
        .parse()
        .ok()?;
    let units = ["KB", "MB", "GB", "TB"];
    let (mut n, mut u) = (kb, 0);
    while n >= 1024 && n % 1024 == 0 && u + 1 < units.len() {
        n /= 1024;
        u += 1;
    }
    Some(format!("{n}{}", units[u]))
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

fn open_entry(dirs: &[(&Dir, PathBuf)], min_fd: i32) -> Result<Entry> {
    use nix::fcntl::OFlag;
    let open = |p: &Path, flags: OFlag| -> Result<OwnedFd> {
        let fd = nix::fcntl::open(p, flags | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
            .with_context(|| format!("join cgroup: open {}", p.display()))?;
        crate::sys::dup_above(fd, min_fd).context("dup fd")
    };
    let mut entry = Entry::none();
    for (d, dir) in dirs {
        if d.v2 {
            entry.v2 = Some((
                dir.clone(),
                open(dir, OFlag::O_DIRECTORY | OFlag::O_RDONLY)?,
            ));
        } else {
            let fd = open(&dir.join("tasks"), OFlag::O_WRONLY)?;
            entry.v1_tasks.push((dir.clone(), fd));
        }
    }
    Ok(entry)
}

/// How a new child enters the container's cgroups without keel writing its pid to cgroup.procs.
/// That write moves a whole thread group, so the kernel takes its global cgroup_threadgroup_rwsem
/// for writing, which waits for an RCU grace period whenever no writer took it lately: 1–27 ms
/// measured here, against about 0.1 ms for the whole join otherwise. Instead:
/// - cgroup2: clone3 with CLONE_INTO_CGROUP and `v2`, a directory fd of the container's cgroup
///   (the child is born there);
/// - v1: the child writes "0" to each hierarchy's `tasks` first thing. Moving only the calling
///   thread takes no global lock, and the child is single-threaded, so that is all of it. keel
///   opens the files before the clone, so the kernel checks keel's credentials (those of the
///   opener), not the child's, which may already be in a user namespace.
///
/// When clone3 refuses CLONE_INTO_CGROUP (kernel before 5.7), keel writes cgroup.procs instead
/// (`join_v2`).
pub struct Entry {
    pub v2: Option<(PathBuf, OwnedFd)>,
    v1_tasks: Vec<(PathBuf, OwnedFd)>,
}

impl Entry {
    fn none() -> Entry {
        Entry {
            v2: None,
            v1_tasks: Vec::new(),
        }
    }

    /// In the child: join every v1 hierarchy (see `Entry`), and close every fd of the entry,
    /// so that nothing of the host's cgroup tree stays open in the container's process.
    pub fn enter_v1(&mut self) -> Result<()> {
        self.v2 = None;
        for (dir, fd) in self.v1_tasks.drain(..) {
            nix::unistd::write(&fd, b"0")
                .with_context(|| format!("join cgroup {}", dir.display()))?;
        }
        Ok(())
    }

    /// In keel, when the clone could not use CLONE_INTO_CGROUP.
    pub fn join_v2(&self, pid: i32) -> Result<()> {
        if let Some((dir, _)) = &self.v2 {
            std::fs::write(dir.join("cgroup.procs"), pid.to_string())
                .with_context(|| format!("join cgroup {}", dir.display()))?;
        }
        Ok(())
    }
}

impl Cgroup {
    /// The container's cgroups to enter (see `Entry`), fds at `min_fd` or above.
    pub fn entry(&self, min_fd: i32) -> Result<Entry> {
        let dirs: Vec<(&Dir, PathBuf)> = self.dirs.iter().map(|d| (d, d.path.clone())).collect();
        open_entry(&dirs, min_fd)
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
            dirs.push((d, dir));
        }
        open_entry(&dirs, min_fd)
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
        let cur = Current::read(self);
        let plan = resources::plan(r, &host, &cur, resources::Mode::Update)?;
        if let Some(d) = self.v2_dir() {
            enable_controllers(d, &controllers_to_enable(&host, &plan), &plan)?;
        }
        self.apply(&plan)
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

    /// runc's `events --stats` data for this cgroup.
    pub fn stats(&self) -> stats::Stats {
        stats::read(self)
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
    use super::*;

    /// This development machine's layout (Debian 12 on a hybrid host).
    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";

    /// A systemd-style hybrid host, with co-mounted controllers and no pids hierarchy.
    const HYBRID_SYSTEMD: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid shared:6 - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:7 - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw shared:8 - cgroup cgroup rw,memory";

    const V2: &str = "\
30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate";

    pub fn host(mountinfo: &str, v2_controllers: &[&str]) -> Host {
        Host {
            layout: parse_layout(mountinfo),
            v2_controllers: v2_controllers.iter().map(|s| s.to_string()).collect(),
            hugepage_sizes: vec!["1GB".into(), "2MB".into()],
            cpus: [0, 1].into_iter().collect(),
            mems: [0].into_iter().collect(),
        }
    }

    pub fn hybrid_host() -> Host {
        host(HYBRID, &["hugetlb"])
    }

    pub fn v2_host() -> Host {
        host(
            V2,
            &[
                "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc",
            ],
        )
    }

    pub fn hybrid_systemd_host() -> Host {
        host(HYBRID_SYSTEMD, &[])
    }

    #[test]
    fn hybrid_layout() {
        let l = parse_layout(HYBRID_SYSTEMD);
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
        assert!(parse_layout(V2).v2_only());
        let here = parse_layout(HYBRID);
        assert_eq!(here.hierarchies.len(), 10);
        assert_eq!(here.v2().map(|h| h.name.as_str()), Some("unified"));
    }

    #[test]
    fn a_controller_is_used_through_one_version() {
        let h = hybrid_host();
        assert_eq!(h.version_of("memory"), Some(Version::V1));
        assert_eq!(h.version_of("cpuacct"), Some(Version::V1));
        // hugetlb is not a v1 hierarchy here, but the cgroup2 mount offers it.
        assert_eq!(h.version_of("hugetlb"), Some(Version::V2));
        assert_eq!(h.version_of("net_cls"), None);
        assert_eq!(hybrid_systemd_host().version_of("pids"), None);
        let v2 = v2_host();
        assert_eq!(v2.version_of("memory"), Some(Version::V2));
        assert_eq!(v2.version_of("devices"), Some(Version::V2));
        assert_eq!(v2.version_of("net_cls"), None);
    }

    #[test]
    fn hugepage_names_as_runc() {
        assert_eq!(
            hugepage_size_name("hugepages-2048kB").as_deref(),
            Some("2MB")
        );
        assert_eq!(
            hugepage_size_name("hugepages-1048576kB").as_deref(),
            Some("1GB")
        );
        assert_eq!(
            hugepage_size_name("hugepages-64kB").as_deref(),
            Some("64KB")
        );
        assert_eq!(hugepage_size_name("other"), None);
    }

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
