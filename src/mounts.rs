//! mounts[]: option parsing into a plan (pure, unit-tested) and the mount(2) calls init makes for
//! each entry. Also maskedPaths and readonlyPaths, which are mounts too.

use crate::bail;
use crate::error::{Context, Error, Result};
use crate::inroot::{mkdir_all, secure_join};
use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

// mount_setattr(2) attribute bits.
use libc::{
    MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY, MOUNT_ATTR_RELATIME,
    MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME as MOUNT_ATTR_ATIME,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPlan {
    /// `mounts[i]`, for error messages.
    pub field: String,
    /// Absolute path inside the container.
    pub dest: PathBuf,
    pub typ: String,
    /// Bind sources are absolute host paths (relative ones are taken from the bundle).
    pub source: PathBuf,
    pub flags: MsFlags,
    /// Flags explicitly turned off (`rw`, `suid`, ...), kept off on a bind remount.
    pub cleared: MsFlags,
    pub bind: bool,
    pub propagation: Vec<MsFlags>,
    /// mount_setattr(AT_RECURSIVE) attributes from `rro`, `rnosuid`, ...
    pub rec_set: u64,
    pub rec_clr: u64,
    pub data: String,
}

enum Opt {
    Set(MsFlags),
    Clear(MsFlags),
    Propagation(MsFlags),
    RecSet(u64),
    RecClr(u64),
}

/// Every option name `option` understands, for `keel features` (a unit test keeps the two in step).
pub const OPTION_NAMES: [&str; 58] = [
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rw",
    "silent",
    "strictatime",
    "suid",
    "sync",
    "private",
    "shared",
    "slave",
    "unbindable",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnodiratime",
    "rdiratime",
    "rrelatime",
    "rnoatime",
    "rstrictatime",
    "rnorelatime",
    "ratime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
];

/// A propagation name (mount option, or linux.rootfsPropagation) as mount(2) flags.
pub fn propagation(name: &str) -> Option<MsFlags> {
    use MsFlags as F;
    Some(match name {
        "private" => F::MS_PRIVATE,
        "shared" => F::MS_SHARED,
        "slave" => F::MS_SLAVE,
        "unbindable" => F::MS_UNBINDABLE,
        "rprivate" => F::MS_PRIVATE | F::MS_REC,
        "rshared" => F::MS_SHARED | F::MS_REC,
        "rslave" => F::MS_SLAVE | F::MS_REC,
        "runbindable" => F::MS_UNBINDABLE | F::MS_REC,
        _ => return None,
    })
}

fn option(name: &str) -> Option<Opt> {
    use MsFlags as F;
    use Opt::*;
    if let Some(p) = propagation(name) {
        return Some(Propagation(p));
    }
    Some(match name {
        "async" => Clear(F::MS_SYNCHRONOUS),
        "atime" => Clear(F::MS_NOATIME),
        "bind" => Set(F::MS_BIND),
        "defaults" => Set(F::empty()),
        "dev" => Clear(F::MS_NODEV),
        "diratime" => Clear(F::MS_NODIRATIME),
        "dirsync" => Set(F::MS_DIRSYNC),
        "exec" => Clear(F::MS_NOEXEC),
        "iversion" => Set(F::MS_I_VERSION),
        "lazytime" => Set(F::MS_LAZYTIME),
        "loud" => Clear(F::MS_SILENT),
        "mand" => Set(F::MS_MANDLOCK),
        "noatime" => Set(F::MS_NOATIME),
        "nodev" => Set(F::MS_NODEV),
        "nodiratime" => Set(F::MS_NODIRATIME),
        "noexec" => Set(F::MS_NOEXEC),
        "noiversion" => Clear(F::MS_I_VERSION),
        "nolazytime" => Clear(F::MS_LAZYTIME),
        "nomand" => Clear(F::MS_MANDLOCK),
        "norelatime" => Clear(F::MS_RELATIME),
        "nostrictatime" => Clear(F::MS_STRICTATIME),
        "nosuid" => Set(F::MS_NOSUID),
        // nix's MsFlags has no MS_NOSYMFOLLOW; libc has.
        "nosymfollow" => Set(F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        "rbind" => Set(F::MS_BIND | F::MS_REC),
        "relatime" => Set(F::MS_RELATIME),
        "remount" => Set(F::MS_REMOUNT),
        "ro" => Set(F::MS_RDONLY),
        "rw" => Clear(F::MS_RDONLY),
        "silent" => Set(F::MS_SILENT),
        "strictatime" => Set(F::MS_STRICTATIME),
        "suid" => Clear(F::MS_NOSUID),
        "sync" => Set(F::MS_SYNCHRONOUS),
        "rro" => RecSet(MOUNT_ATTR_RDONLY),
        "rrw" => RecClr(MOUNT_ATTR_RDONLY),
        "rnosuid" => RecSet(MOUNT_ATTR_NOSUID),
        "rsuid" => RecClr(MOUNT_ATTR_NOSUID),
        "rnodev" => RecSet(MOUNT_ATTR_NODEV),
        "rdev" => RecClr(MOUNT_ATTR_NODEV),
        "rnoexec" => RecSet(MOUNT_ATTR_NOEXEC),
        "rexec" => RecClr(MOUNT_ATTR_NOEXEC),
        "rnodiratime" => RecSet(MOUNT_ATTR_NODIRATIME),
        "rdiratime" => RecClr(MOUNT_ATTR_NODIRATIME),
        "rrelatime" => RecSet(MOUNT_ATTR_RELATIME | (MOUNT_ATTR_ATIME << 32)),
        "rnoatime" => RecSet(MOUNT_ATTR_NOATIME | (MOUNT_ATTR_ATIME << 32)),
        "rstrictatime" => RecSet(MOUNT_ATTR_STRICTATIME | (MOUNT_ATTR_ATIME << 32)),
        "rnorelatime" | "ratime" | "rnostrictatime" => RecClr(0),
        "rnosymfollow" => RecSet(MOUNT_ATTR_NOSYMFOLLOW),
        "rsymfollow" => RecClr(MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// Plan one mounts[] entry. `bundle` makes relative bind sources absolute.
pub fn plan_one(i: usize, m: &oci_spec::runtime::Mount, bundle: &Path) -> Result<MountPlan> {
    let field = format!("mounts[{i}]");
    let mut p = MountPlan {
        field: field.clone(),
        dest: Path::new("/").join(m.destination()),
        typ: m.typ().clone().unwrap_or_default(),
        source: m.source().clone().unwrap_or_default(),
        flags: MsFlags::empty(),
        cleared: MsFlags::empty(),
        bind: false,
        propagation: Vec::new(),
        rec_set: 0,
        rec_clr: 0,
        data: String::new(),
    };
    if m.destination().as_os_str().is_empty() {
        bail!("{field}.destination: must not be empty");
    }
    let mut data = Vec::new();
    for (j, o) in m.options().iter().flatten().enumerate() {
        match option(o) {
            Some(Opt::Set(f)) => {
                p.flags |= f;
                p.cleared &= !f;
            }
            Some(Opt::Clear(f)) => {
                p.flags &= !f;
                p.cleared |= f;
            }
            Some(Opt::Propagation(f)) => p.propagation.push(f),
            Some(Opt::RecSet(a)) => {
                // Atime modes carry their mask in the high half (see the table above).
                p.rec_set |= a & 0xffff_ffff;
                p.rec_clr |= a >> 32;
            }
            Some(Opt::RecClr(a)) => p.rec_clr |= a,
            None if matches!(o.as_str(), "idmap" | "ridmap" | "tmpcopyup") => {
                bail!("{field}.options[{j}]: {o:?} is not supported by keel yet")
            }
            None => data.push(o.as_str()),
        }
    }
    p.data = data.join(",");
    p.bind = p.flags.contains(MsFlags::MS_BIND) || p.typ == "bind";
    if p.bind {
        p.flags |= MsFlags::MS_BIND;
        if p.source.as_os_str().is_empty() {
            bail!("{field}.source: a bind mount needs a source");
        }
        if p.source.is_relative() {
            p.source = bundle.join(&p.source);
        }
    } else if p.typ.is_empty() {
        bail!("{field}.type: missing (and no bind option)");
    }
    Ok(p)
}

pub fn plan(spec: &Spec, bundle: &Path) -> Result<Vec<MountPlan>> {
    spec.mounts()
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, m)| plan_one(i, m, bundle))
        .collect()
}

/// Where the container's cgroup directory of each hierarchy lives on the host, for `cgroup`
/// mounts: (name under /sys/fs/cgroup, host directory).
pub type CgroupSources = Vec<(String, PathBuf)>;

pub struct Ctx<'a> {
    pub rootfs: &'a Path,
    pub userns: bool,
    pub cgroup_sources: &'a CgroupSources,
    pub cgroup_v2_only: bool,
    pub new_cgroupns: bool,
}

/// Init, before pivot_root: perform one planned mount inside the rootfs.
pub fn apply(p: &MountPlan, ctx: &Ctx) -> Result<()> {
    apply_inner(p, ctx).context(&p.field)
}

fn apply_inner(p: &MountPlan, ctx: &Ctx) -> Result<()> {
    let dest = secure_join(ctx.rootfs, &p.dest)?;
    if p.bind {
        let md = std::fs::metadata(&p.source)
            .with_context(|| format!("bind source {}", p.source.display()))?;
        create_mountpoint(&dest, md.is_dir())?;
        let target = pin(ctx, p)?;
        let flags = MsFlags::MS_BIND | (p.flags & MsFlags::MS_REC);
        mount(
            Some(&p.source),
            target.path(),
            None::<&str>,
            flags,
            None::<&str>,
        )
        .with_context(|| format!("mount {} to {}", p.source.display(), p.dest.display()))?;
        let extra = p.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            remount_bind(pin(ctx, p)?.path(), extra, p.cleared, ctx.userns)
                .with_context(|| format!("remount {}", p.dest.display()))?;
        }
    } else if p.typ == "cgroup" || p.typ == "cgroup2" {
        create_mountpoint(&dest, true)?;
        let target = pin(ctx, p)?;
        mount_cgroup(p, target.path(), ctx)?;
    } else {
        create_mountpoint(&dest, true)?;
        let target = pin(ctx, p)?;
        let data = (!p.data.is_empty()).then_some(p.data.as_str());
        let src = if p.source.as_os_str().is_empty() {
            Path::new(&p.typ)
        } else {
            &p.source
        };
        let r = mount(
            Some(src),
            target.path(),
            Some(p.typ.as_str()),
            p.flags,
            data,
        );
        match r {
            // sysfs cannot be mounted in a network namespace we do not own: bind the host's.
            Err(nix::errno::Errno::EPERM) if p.typ == "sysfs" => {
                mount(
                    Some("/sys"),
                    target.path(),
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .context("bind /sys (sysfs not permitted here)")?;
                remount_bind(pin(ctx, p)?.path(), p.flags, p.cleared, ctx.userns)
                    .context("remount /sys")?;
            }
            r => r.with_context(|| format!("mount `{}` to `{}`", p.typ, p.dest.display()))?,
        }
    }
    if !p.propagation.is_empty() || p.rec_set != 0 || p.rec_clr != 0 {
        let mounted = pin(ctx, p)?;
        for pf in &p.propagation {
            mount(
                None::<&str>,
                mounted.path(),
                None::<&str>,
                *pf,
                None::<&str>,
            )
            .with_context(|| format!("set propagation of {}", p.dest.display()))?;
        }
        if p.rec_set != 0 || p.rec_clr != 0 {
            crate::sys::mount_setattr(mounted.path(), true, p.rec_set, p.rec_clr)
                .with_context(|| format!("mount_setattr {}", p.dest.display()))?;
        }
    }
    Ok(())
}

/// The mount target, opened inside the rootfs with openat2(RESOLVE_IN_ROOT): a symlink in the
/// rootfs (even one swapped in after the path was resolved) cannot send the mount to the host.
/// Pinned again after the first mount, the lookup ends on the new mount itself: the steps after
/// it (remount, propagation, the cgroup hierarchies) act on that, never on a path re-resolved.
fn pin(ctx: &Ctx, p: &MountPlan) -> Result<crate::sys::Pinned> {
    crate::sys::pin_in_root(ctx.rootfs, &p.dest)
        .with_context(|| format!("open mount target {} inside the rootfs", p.dest.display()))
}

fn create_mountpoint(dest: &Path, dir: bool) -> Result<()> {
    if dir {
        mkdir_all(dest)
    } else {
        if let Some(parent) = dest.parent() {
            mkdir_all(parent)?;
        }
        match std::fs::symlink_metadata(dest) {
            Ok(_) => Ok(()),
            Err(_) => std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dest)
                .map(drop)
                .with_context(|| format!("create mount point {}", dest.display())),
        }
    }
}

/// Flags that a bind remount must keep when the mount is locked by a user namespace.
fn locked_flags(dest: &Path) -> MsFlags {
    use nix::sys::statvfs::FsFlags;
    // The kernel's ST_RELATIME (include/linux/statfs.h), which nix and libc export for glibc
    // but not for musl.
    const ST_RELATIME: FsFlags = FsFlags::from_bits_retain(0x1000);
    let Ok(st) = nix::sys::statvfs::statvfs(dest) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (s, m) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (ST_RELATIME, MsFlags::MS_RELATIME),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
    ] {
        if f.contains(s) {
            out |= m;
        }
    }
    out
}

pub fn remount_bind(dest: &Path, flags: MsFlags, cleared: MsFlags, userns: bool) -> Result<()> {
    let mut f = flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    if userns {
        f |= locked_flags(dest) & !cleared;
    }
    mount(None::<&str>, dest, None::<&str>, f, None::<&str>)?;
    Ok(())
}

/// `cgroup`/`cgroup2` mounts. A v2 host gets cgroup2 (a fresh mount when the container has its
/// own cgroup namespace, else a bind of its cgroup). A v1 or hybrid host gets runc's layout: a
/// tmpfs with one bind-mounted directory per hierarchy, showing only the container's cgroup.
/// `target` is the pinned mount point (see `pin`); what follows the first mount acts on the new
/// mount, pinned again.
fn mount_cgroup(p: &MountPlan, target: &Path, ctx: &Ctx) -> Result<()> {
    let ro = p.flags & MsFlags::MS_RDONLY;
    let base = p.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    if ctx.cgroup_v2_only || p.typ == "cgroup2" {
        if ctx.new_cgroupns {
            mount(
                Some("cgroup2"),
                target,
                Some("cgroup2"),
                base | ro,
                None::<&str>,
            )
            .context("mount cgroup2")?;
        } else {
            let src = ctx
                .cgroup_sources
                .iter()
                .find(|(n, _)| n == "unified" || n.is_empty())
                .map(|(_, s)| s.clone())
                .ok_or_else(|| Error::msg("no cgroup2 hierarchy for the container"))?;
            mount(
                Some(&src),
                target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .context("bind cgroup2")?;
            remount_bind(pin(ctx, p)?.path(), base | ro, p.cleared, ctx.userns)
                .context("remount cgroup2")?;
        }
        return Ok(());
    }
    mount(Some("tmpfs"), target, Some("tmpfs"), base, Some("mode=755"))
        .context("mount tmpfs for cgroups")?;
    let tmpfs = pin(ctx, p)?;
    for (name, src) in ctx.cgroup_sources {
        if name == "unified" {
            continue;
        }
        let sub = tmpfs.path().join(name);
        mkdir_all(&sub)?;
        if ctx.new_cgroupns {
            // In its own cgroup namespace the container gets real cgroupfs mounts, rooted at its
            // cgroup (runc names the source after the hierarchy for name=systemd).
            let (source, data) = match name.as_str() {
                "systemd" => ("systemd", "name=systemd".to_string()),
                n => ("cgroup", n.to_string()),
            };
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | ro;
            mount(
                Some(source),
                &sub,
                Some("cgroup"),
                flags,
                Some(data.as_str()),
            )
            .with_context(|| format!("mount cgroup {name}"))?;
            continue;
        }
        mount(
            Some(src),
            &sub,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind cgroup {}", src.display()))?;
        remount_bind(&sub, base | ro, p.cleared, ctx.userns)
            .with_context(|| format!("remount cgroup {name}"))?;
    }
    // runc leaves the tmpfs itself writable; only the hierarchies are read-only.
    Ok(())
}

/// linux.readonlyPaths (after pivot_root): bind each path onto itself read-only; absent paths
/// are skipped.
pub fn readonly_paths(spec: &Spec) -> Result<()> {
    let paths = spec
        .linux()
        .as_ref()
        .and_then(|l| l.readonly_paths().clone())
        .unwrap_or_default();
    for (i, path) in paths.iter().enumerate() {
        let r = mount(
            Some(path.as_str()),
            path.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        );
        match r {
            Err(nix::errno::Errno::ENOENT) => continue,
            r => r.with_context(|| format!("linux.readonlyPaths[{i}]: bind {path}"))?,
        }
        // (with the flags a user namespace locks, which remount_bind keeps in any case)
        let flags = MsFlags::MS_RDONLY | MsFlags::MS_REC;
        remount_bind(Path::new(path), flags, MsFlags::empty(), true)
            .with_context(|| format!("linux.readonlyPaths[{i}]: remount {path} read-only"))?;
    }
    Ok(())
}

/// The container's /dev/null, checked to really be the null device (not a symlink or another
/// node a rootfs could put there: CVE-2025-31133), and returned as a /proc/self/fd path so the
/// bind mounts exactly the file that was checked. The fd is close-on-exec.
fn dev_null() -> Result<String> {
    use std::os::fd::IntoRawFd;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open("/dev/null")
        .context("open /dev/null")?;
    let md = f.metadata().context("stat /dev/null")?;
    if !md.file_type().is_char_device() || md.rdev() != nix::sys::stat::makedev(1, 3) {
        crate::bail!("/dev/null is not the null device (1:3); refusing to mask with it");
    }
    Ok(format!("/proc/self/fd/{}", f.into_raw_fd()))
}

/// linux.maskedPaths (after pivot_root): /dev/null over files, an empty read-only tmpfs over
/// directories; absent paths are skipped.
pub fn masked_paths(spec: &Spec) -> Result<()> {
    let paths = spec
        .linux()
        .as_ref()
        .and_then(|l| l.masked_paths().clone())
        .unwrap_or_default();
    if paths.is_empty() {
        return Ok(());
    }
    let null = dev_null().context("linux.maskedPaths")?;
    for (i, path) in paths.iter().enumerate() {
        let md = match std::fs::metadata(path) {
            Ok(md) => md,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Error::from(e).context(format!("linux.maskedPaths[{i}]: stat {path}")))
            }
        };
        let r = if md.is_dir() {
            mount(
                Some("tmpfs"),
                path.as_str(),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
        } else {
            mount(
                Some(null.as_str()),
                path.as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        r.with_context(|| format!("linux.maskedPaths[{i}]: mask {path}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: serde_json::Value) -> oci_spec::runtime::Mount {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn runc_default_dev_tmpfs() {
        let p = plan_one(
            1,
            &m(
                serde_json::json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
            ),
            Path::new("/b"),
        );
        let p = p.map_err(|e| e.to_string());
        assert!(
            matches!(&p, Ok(p) if p.flags == MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME
            && p.data == "mode=755,size=65536k" && !p.bind)
        );
    }

    #[test]
    fn bind_options_and_relative_source() {
        let p = plan_one(
            0,
            &m(serde_json::json!({"destination": "data", "source": "vol", "options": ["rbind", "ro", "rprivate", "rnosuid"]})),
            Path::new("/b"),
        )
        .map_err(|e| e.to_string());
        let p = p.as_ref();
        assert_eq!(
            p.map(|p| p.source.clone()),
            Ok(&PathBuf::from("/b/vol")).cloned()
        );
        assert_eq!(p.map(|p| p.dest.clone()), Ok(PathBuf::from("/data")));
        assert_eq!(
            p.map(|p| p.flags),
            Ok(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY)
        );
        assert_eq!(
            p.map(|p| p.propagation.clone()),
            Ok(vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC])
        );
        assert_eq!(p.map(|p| p.rec_set), Ok(MOUNT_ATTR_NOSUID));
    }

    #[test]
    fn rw_clears_an_earlier_ro() {
        let p = plan_one(
            0,
            &m(serde_json::json!({"destination": "/x", "type": "tmpfs", "options": ["ro", "rw"]})),
            Path::new("/"),
        );
        assert_eq!(
            p.map(|p| (p.flags, p.cleared)).map_err(|e| e.to_string()),
            Ok((MsFlags::empty(), MsFlags::MS_RDONLY))
        );
    }

    #[test]
    fn every_listed_option_is_understood() {
        for name in OPTION_NAMES {
            assert!(option(name).is_some(), "{name}");
        }
    }

    #[test]
    fn unsupported_options_are_named() {
        let e = plan_one(4, &m(serde_json::json!({"destination": "/x", "type": "bind", "source": "/y", "options": ["idmap"]})), Path::new("/"))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("mounts[4].options[0]: \"idmap\" is not supported by keel yet")
        );
        let e = plan_one(
            2,
            &m(serde_json::json!({"destination": "/x"})),
            Path::new("/"),
        )
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("mounts[2].type: missing (and no bind option)")
        );
    }
}
