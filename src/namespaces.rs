//! linux.namespaces, linux.uidMappings/gidMappings, linux.timeOffsets, hostname and domainname.
//!
//! Where each namespace is entered:
//! - new namespaces (no `path`) are created by the clone itself, except:
//!   - cgroup: unshared by init after the parent has moved it into its cgroup, so the namespace's
//!     root is the container's cgroup;
//!   - time with offsets: unshared by the parent before clone, offsets written, then the clone
//!     enters it (offsets can only be set before the first process enters the namespace);
//! - `path` namespaces of type pid and time only change what *children* get, so the parent joins
//!   them just for the clone and goes back afterwards;
//! - every other `path` namespace is joined by init with setns, mount last.

use crate::bail;
use crate::error::{Context, Result};
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Join {
    /// `linux.namespaces[i]`, for error messages.
    pub field: String,
    pub typ: LinuxNamespaceType,
    pub path: PathBuf,
}

#[derive(Debug, Default, Clone)]
pub struct NsPlan {
    /// CLONE_NEW* flags passed to clone.
    pub clone_flags: u64,
    pub new_user: bool,
    pub new_cgroup: bool,
    pub new_uts: bool,
    /// Time namespace created by the parent (to write offsets) before clone.
    pub time_offsets: Option<String>,
    /// Namespaces joined by path; pid and time by the parent, the rest by init.
    pub joins: Vec<Join>,
    pub uid_map: String,
    pub gid_map: String,
    /// Types present at all (new or joined).
    pub present: Vec<LinuxNamespaceType>,
}

impl NsPlan {
    /// The container runs in a user namespace, new or joined.
    pub fn in_user(&self) -> bool {
        self.new_user || self.joins.iter().any(|j| j.typ == LinuxNamespaceType::User)
    }
}

/// Every namespace type keel creates or joins (`flag` maps each), as `keel features` lists them.
pub const ALL: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::User,
    LinuxNamespaceType::Uts,
];

pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The spelling used in config.json.
pub fn name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

pub fn plan(spec: &Spec) -> Result<NsPlan> {
    let mut p = NsPlan::default();
    let Some(linux) = spec.linux() else {
        return Ok(p);
    };
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        let t = ns.typ();
        let field = format!("linux.namespaces[{i}]");
        if p.present.contains(&t) {
            bail!("{field}.type: duplicate namespace {:?}", name(t));
        }
        p.present.push(t);
        match ns.path() {
            Some(path) => {
                if !path.is_absolute() {
                    bail!(
                        "{field}.path: must be an absolute path, got {:?}",
                        path.display().to_string()
                    );
                }
                p.joins.push(Join {
                    field,
                    typ: t,
                    path: path.clone(),
                });
            }
            None => match t {
                LinuxNamespaceType::Cgroup => p.new_cgroup = true,
                LinuxNamespaceType::Time if linux.time_offsets().is_some() => {
                    p.time_offsets = Some(String::new())
                }
                _ => p.clone_flags |= flag(t).bits() as u64,
            },
        }
        match (t, ns.path()) {
            (LinuxNamespaceType::User, None) => p.new_user = true,
            (LinuxNamespaceType::Uts, None) => p.new_uts = true,
            _ => {}
        }
    }
    if !p.present.contains(&LinuxNamespaceType::Mount) {
        bail!("linux.namespaces: a mount namespace is required (keel sets up the rootfs in one)");
    }
    let has_maps = linux.uid_mappings().is_some() || linux.gid_mappings().is_some();
    if p.new_user {
        p.uid_map = id_map(linux.uid_mappings().as_deref().unwrap_or_default());
        p.gid_map = id_map(linux.gid_mappings().as_deref().unwrap_or_default());
        if p.uid_map.is_empty() {
            bail!("linux.uidMappings: a new user namespace needs uid mappings");
        }
        if p.gid_map.is_empty() {
            bail!("linux.gidMappings: a new user namespace needs gid mappings");
        }
    } else if has_maps {
        bail!("linux.uidMappings: id mappings need a new user namespace in linux.namespaces");
    }
    if let Some(offsets) = linux.time_offsets() {
        if p.time_offsets.is_none() {
            bail!("linux.timeOffsets: needs a new time namespace in linux.namespaces");
        }
        let mut text = String::new();
        let mut keys: Vec<_> = offsets.keys().collect();
        keys.sort();
        for k in keys {
            if k != "monotonic" && k != "boottime" {
                bail!("linux.timeOffsets.{k}: unknown clock (monotonic or boottime)");
            }
            let o = &offsets[k];
            let nanos = o.nanosecs().unwrap_or(0);
            if nanos >= 1_000_000_000 {
                bail!("linux.timeOffsets.{k}.nanosecs: must be below 1000000000");
            }
            text.push_str(&format!("{k} {} {nanos}\n", o.secs().unwrap_or(0)));
        }
        p.time_offsets = Some(text);
    }
    let hostname = spec.hostname().as_deref().is_some_and(|h| !h.is_empty());
    let domainname = spec.domainname().as_deref().is_some_and(|h| !h.is_empty());
    if (hostname || domainname) && !p.new_uts {
        let f = if hostname { "hostname" } else { "domainname" };
        bail!("{f}: cannot set the {f} without a new uts namespace in linux.namespaces");
    }
    Ok(p)
}

fn id_map(maps: &[oci_spec::runtime::LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Namespace fds opened by the parent before clone (paths are host paths).
pub struct JoinFds {
    pub fds: Vec<(Join, OwnedFd)>,
}

pub fn open_joins(p: &NsPlan) -> Result<JoinFds> {
    let mut fds = Vec::new();
    for j in &p.joins {
        let fd = nix::fcntl::open(
            &j.path,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .with_context(|| format!("{}.path: open {}", j.field, j.path.display()))?;
        fds.push((j.clone(), fd));
    }
    Ok(JoinFds { fds })
}

fn setns(j: &Join, fd: &OwnedFd) -> Result<()> {
    nix::sched::setns(fd.as_fd(), flag(j.typ)).map_err(|e| {
        let what = if e == nix::errno::Errno::EINVAL {
            format!("{} is not a {} namespace", j.path.display(), name(j.typ))
        } else {
            format!("setns {}: {}", j.path.display(), e.desc())
        };
        crate::error::Error::msg(format!("{}.path: {what}", j.field))
    })
}

fn is_parent_side(t: LinuxNamespaceType) -> bool {
    matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time)
}

/// The user namespace to join by path, if any (joined before clone by an intermediate child:
/// see `spawn::clone_init`).
pub fn user_join(joins: &JoinFds) -> Option<&(Join, OwnedFd)> {
    joins
        .fds
        .iter()
        .find(|(j, _)| j.typ == LinuxNamespaceType::User)
}

/// Join the user namespace of `j` (the intermediate child, or an exec'd process).
pub fn join_user(j: &(Join, OwnedFd)) -> Result<()> {
    setns(&j.0, &j.1)
}

/// Parent, before clone: join pid/time namespaces by path (they only affect children) and create
/// a time namespace whose offsets must be written before anyone enters it. Returns fds to the
/// parent's own namespaces, to go back with `restore_parent` right after clone.
pub fn enter_for_clone(p: &NsPlan, joins: &JoinFds) -> Result<Vec<(CloneFlags, OwnedFd)>> {
    let mut restore = Vec::new();
    let mut save = |kind: &str, fl: CloneFlags| -> Result<()> {
        let path = format!("/proc/self/ns/{kind}");
        let fd = std::fs::File::open(&path).with_context(|| format!("open {path}"))?;
        restore.push((fl, OwnedFd::from(fd)));
        Ok(())
    };
    for (j, fd) in joins.fds.iter().filter(|(j, _)| is_parent_side(j.typ)) {
        save(
            if j.typ == LinuxNamespaceType::Pid {
                "pid"
            } else {
                "time"
            },
            flag(j.typ),
        )?;
        setns(j, fd)?;
    }
    if let Some(offsets) = &p.time_offsets {
        save("time", flag(LinuxNamespaceType::Time))?;
        nix::sched::unshare(flag(LinuxNamespaceType::Time)).context("unshare time namespace")?;
        crate::sys::write_proc(
            std::path::Path::new("/proc/self/timens_offsets"),
            offsets.as_bytes(),
        )
        .context("linux.timeOffsets: write /proc/self/timens_offsets")?;
    }
    Ok(restore)
}

pub fn restore_parent(saved: Vec<(CloneFlags, OwnedFd)>) -> Result<()> {
    for (fl, fd) in saved {
        nix::sched::setns(fd.as_fd(), fl).context("return to keel's own namespace")?;
    }
    Ok(())
}

/// Init: join the remaining namespaces by path, mount namespace last (after it, host paths no
/// longer resolve).
/// `user_joined`: the user namespace was already joined before clone (create); an exec'd
/// process joins it here, first.
pub fn join_in_child(joins: &JoinFds, user_joined: bool) -> Result<()> {
    let mut order: Vec<&(Join, OwnedFd)> = joins
        .fds
        .iter()
        .filter(|(j, _)| !is_parent_side(j.typ))
        .filter(|(j, _)| !(user_joined && j.typ == LinuxNamespaceType::User))
        .collect();
    // The user namespace first (joining it gives the capabilities to join the namespaces it
    // owns), the mount namespace last (after it, host paths no longer resolve).
    order.sort_by_key(|(j, _)| match j.typ {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Mount => 2,
        _ => 1,
    });
    for (j, fd) in order {
        setns(j, fd)?;
    }
    Ok(())
}

/// Parent: write the id maps of init's new user namespace.
pub fn write_id_maps(p: &NsPlan, pid: i32) -> Result<()> {
    if !p.new_user {
        return Ok(());
    }
    crate::sys::write_proc(
        std::path::Path::new(&format!("/proc/{pid}/uid_map")),
        p.uid_map.as_bytes(),
    )
    .context("linux.uidMappings: write uid_map")?;
    crate::sys::write_proc(
        std::path::Path::new(&format!("/proc/{pid}/gid_map")),
        p.gid_map.as_bytes(),
    )
    .context("linux.gidMappings: write gid_map")?;
    Ok(())
}

pub fn set_names(spec: &Spec) -> Result<()> {
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).with_context(|| format!("hostname: sethostname {h:?}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        let c = std::ffi::CString::new(d)
            .map_err(|_| crate::error::Error::msg("domainname: contains NUL"))?;
        crate::sys::setdomainname(&c)
            .with_context(|| format!("domainname: setdomainname {d:?}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(patch: impl FnOnce(&mut serde_json::Value)) -> Spec {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("spec/default.json")).unwrap_or_default();
        patch(&mut v);
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn default_spec_clones_five_namespaces() {
        let p = plan(&spec(|_| {})).map_err(|e| e.to_string());
        let p = p
            .as_ref()
            .map(|p| (p.clone_flags, p.new_cgroup, p.joins.len()));
        let want = (CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWNS)
            .bits() as u64;
        assert_eq!(p, Ok((want, false, 0)));
    }

    #[test]
    fn cgroup_ns_is_unshared_later_and_paths_are_joined() {
        let p = plan(&spec(|v| {
            let ns = v["linux"]["namespaces"].as_array_mut();
            if let Some(ns) = ns {
                ns.push(serde_json::json!({"type": "cgroup"}));
                ns[1] = serde_json::json!({"type": "network", "path": "/proc/1/ns/net"});
            }
        }));
        let p = p.map_err(|e| e.to_string());
        assert!(matches!(&p, Ok(p) if p.new_cgroup && p.joins.len() == 1
            && p.clone_flags & CloneFlags::CLONE_NEWNET.bits() as u64 == 0
            && p.clone_flags & CloneFlags::CLONE_NEWCGROUP.bits() as u64 == 0));
    }

    #[test]
    fn duplicates_and_missing_maps_are_named() {
        let e = plan(&spec(|v| {
            if let Some(ns) = v["linux"]["namespaces"].as_array_mut() {
                ns.push(serde_json::json!({"type": "pid"}));
            }
        }))
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("linux.namespaces[5].type: duplicate namespace \"pid\"")
        );
        let e = plan(&spec(|v| {
            if let Some(ns) = v["linux"]["namespaces"].as_array_mut() {
                ns.push(serde_json::json!({"type": "user"}));
            }
        }))
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("linux.uidMappings: a new user namespace needs uid mappings")
        );
    }

    #[test]
    fn time_offsets_text() {
        let p = plan(&spec(|v| {
            if let Some(ns) = v["linux"]["namespaces"].as_array_mut() {
                ns.push(serde_json::json!({"type": "time"}));
            }
            v["linux"]["timeOffsets"] = serde_json::json!({"monotonic": {"secs": 86400}, "boottime": {"secs": 7, "nanosecs": 5}});
        }));
        assert_eq!(
            p.map(|p| p.time_offsets).map_err(|e| e.to_string()),
            Ok(Some("boottime 7 5\nmonotonic 86400 0\n".to_string()))
        );
    }
}
