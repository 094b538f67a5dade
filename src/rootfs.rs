//! root.path / root.readonly, linux.rootfsPropagation, /dev (default devices, linux.devices,
//! symlinks, ptmx), and the switch into the rootfs (pivot_root, or MS_MOVE + chroot with
//! --no-pivot).

use crate::bail;
use crate::error::{Context, Error, Result};
use crate::inroot::{mkdir_all, secure_join};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use oci_spec::runtime::{LinuxDeviceType, Spec};
use std::os::unix::fs::{symlink, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub fn propagation_flag(spec: &Spec) -> Result<MsFlags> {
    let v = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone());
    Ok(match v.as_deref() {
        None | Some("") => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        Some(o) => match crate::mounts::propagation(o) {
            Some(f) => f,
            None => bail!("linux.rootfsPropagation: unknown propagation {o:?}"),
        },
    })
}

/// Init, first thing in the new mount namespace: set "/" propagation (rslave unless the config
/// says otherwise) so nothing leaks back to the host, make the rootfs's parent mount private so
/// pivot_root accepts it, and bind the rootfs onto itself so it is a mount point.
pub fn prepare(rootfs: &Path, propagation: MsFlags) -> Result<()> {
    mount(None::<&str>, "/", None::<&str>, propagation, None::<&str>)
        .context("linux.rootfsPropagation: set propagation of /")?;
    make_parent_mount_private(rootfs)?;
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_context(|| format!("root.path: bind {} onto itself", rootfs.display()))?;
    Ok(())
}

/// pivot_root fails when the new root's parent mount is shared; runc makes it private.
fn make_parent_mount_private(rootfs: &Path) -> Result<()> {
    let info =
        std::fs::read_to_string("/proc/self/mountinfo").context("read /proc/self/mountinfo")?;
    if let Some((mp, true)) = parent_mount(&info, rootfs) {
        mount(
            None::<&str>,
            mp.as_str(),
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .with_context(|| format!("make {mp} private"))?;
    }
    Ok(())
}

/// The mount `rootfs` is on (the longest mount point above it, the last one mounted there when
/// several are stacked) and whether it is shared, from mountinfo text.
fn parent_mount(mountinfo: &str, rootfs: &Path) -> Option<(String, bool)> {
    let mut best: Option<(String, bool)> = None;
    for line in mountinfo.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 7 {
            continue;
        }
        let mp = crate::mountinfo::unescape(f[4]);
        if rootfs.starts_with(&mp) && best.as_ref().is_none_or(|(b, _)| mp.len() >= b.len()) {
            let shared = f[6..]
                .iter()
                .take_while(|x| **x != "-")
                .any(|x| x.starts_with("shared:"));
            best = Some((mp, shared));
        }
    }
    best
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePlan {
    pub field: String,
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The default devices every container gets (runc's list), then linux.devices; an entry of
/// linux.devices with the same path replaces the default.
pub fn plan_devices(spec: &Spec) -> Result<Vec<DevicePlan>> {
    let mut out: Vec<DevicePlan> = [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .into_iter()
    .map(|(p, major, minor)| DevicePlan {
        field: format!("default device {p}"),
        path: p.into(),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect();
    let devices = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    for (i, d) in devices.iter().enumerate() {
        let field = format!("linux.devices[{i}]");
        let path = d.path().clone();
        if !path.is_absolute() {
            bail!("{field}.path: must be an absolute path");
        }
        let mut parts = path.components().skip(1);
        let under_dev = parts.next() == Some(std::path::Component::Normal("dev".as_ref()))
            && parts.clone().next().is_some()
            && parts.all(|c| matches!(c, std::path::Component::Normal(_)));
        if !under_dev {
            bail!("{field}.path: {} is not under /dev", path.display());
        }
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => bail!("{field}.type: \"a\" is not a device node type"),
        };
        if d.major() < 0 || d.minor() < 0 {
            bail!("{field}: major and minor must not be negative");
        }
        let dev = DevicePlan {
            field,
            path: path.clone(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        match out.iter_mut().find(|o| o.path == path) {
            Some(o) => *o = dev,
            None => out.push(dev),
        }
    }
    Ok(out)
}

/// /dev is set up by keel unless the config bind-mounts the host's /dev.
pub fn needs_dev_setup(mounts: &[crate::mounts::MountPlan]) -> bool {
    !mounts.iter().any(|m| m.dest == Path::new("/dev") && m.bind)
}

/// Init, after mounts[]: create the device nodes (bind-mount the host's node when in a user
/// namespace, where mknod is not allowed), the /dev symlinks and /dev/ptmx.
pub fn setup_dev(rootfs: &Path, devices: &[DevicePlan], userns: bool) -> Result<()> {
    let old = nix::sys::stat::umask(Mode::empty());
    let r = create_devices(rootfs, devices, userns);
    nix::sys::stat::umask(old);
    r?;
    let dev = secure_join(rootfs, Path::new("/dev"))?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        match symlink(target, dev.join(name)) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            r => r.with_context(|| format!("symlink /dev/{name}"))?,
        }
    }
    let ptmx = dev.join("ptmx");
    match std::fs::remove_file(&ptmx) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::from(e).context("remove /dev/ptmx"))
        }
        _ => {}
    }
    symlink("pts/ptmx", &ptmx).context("symlink /dev/ptmx")?;
    Ok(())
}

fn create_devices(rootfs: &Path, devices: &[DevicePlan], userns: bool) -> Result<()> {
    for d in devices {
        // The directory is resolved inside the rootfs; the node itself replaces whatever the
        // rootfs has at that name (a symlink there is removed, never followed).
        let parent = secure_join(rootfs, d.path.parent().unwrap_or(Path::new("/dev")))?;
        let dest = parent.join(d.path.file_name().unwrap_or_default());
        if let Some(parent) = dest.parent() {
            mkdir_all(parent).context(&d.field)?;
        }
        if userns {
            if std::fs::symlink_metadata(&dest).is_ok_and(|m| m.file_type().is_symlink()) {
                std::fs::remove_file(&dest)
                    .with_context(|| format!("{}: remove {}", d.field, d.path.display()))?;
            }
            if std::fs::symlink_metadata(&dest).is_err() {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&dest)
                    .with_context(|| format!("{}: create {}", d.field, d.path.display()))?;
            }
            mount(
                Some(&d.path),
                &dest,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .with_context(|| format!("{}: bind host {}", d.field, d.path.display()))?;
            continue;
        }
        match std::fs::remove_file(&dest) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::from(e).context(format!(
                    "{}: remove {}",
                    d.field,
                    d.path.display()
                )))
            }
            _ => {}
        }
        mknod(
            &dest,
            d.kind,
            Mode::from_bits_truncate(d.mode),
            makedev(d.major, d.minor),
        )
        .with_context(|| format!("{}: mknod {}", d.field, d.path.display()))?;
        nix::unistd::chown(&dest, Some(d.uid.into()), Some(d.gid.into()))
            .with_context(|| format!("{}: chown {}", d.field, d.path.display()))?;
    }
    Ok(())
}

/// process.cwd is created when missing (runc does, with mode 0755, before pivot_root).
pub fn create_cwd(rootfs: &Path, cwd: &Path) -> Result<()> {
    let dir = secure_join(rootfs, cwd)?;
    if !dir.exists() {
        mkdir_all(&dir).context("process.cwd")?;
    }
    Ok(())
}

/// pivot_root(".", ".") then detach the old root, as runc does: after the pivot the old root is
/// stacked under the new one at "/"; make it rslave so the unmount does not propagate to the host,
/// then lazily unmount it.
pub fn pivot(rootfs: &Path) -> Result<()> {
    let oldroot = std::fs::File::open("/").context("open /")?;
    nix::unistd::chdir(rootfs).with_context(|| format!("chdir {}", rootfs.display()))?;
    nix::unistd::pivot_root(".", ".").context("pivot_root")?;
    nix::unistd::fchdir(&oldroot).context("fchdir old root")?;
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .context("make old root rslave")?;
    umount2(".", MntFlags::MNT_DETACH).context("unmount old root")?;
    nix::unistd::chdir("/").context("chdir /")?;
    Ok(())
}

/// --no-pivot: move the rootfs mount over "/" and chroot into it.
pub fn move_root(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir(rootfs).with_context(|| format!("chdir {}", rootfs.display()))?;
    mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .context("move rootfs to /")?;
    nix::unistd::chroot(".").context("chroot")?;
    nix::unistd::chdir("/").context("chdir /")?;
    Ok(())
}

/// root.readonly: remount "/" read-only, keeping its other flags.
pub fn make_root_readonly() -> Result<()> {
    crate::mounts::remount_bind(Path::new("/"), MsFlags::MS_RDONLY, MsFlags::empty(), true)
        .context("root.readonly: remount / read-only")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_mount_is_the_longest_and_unescaped() {
        let info = concat!(
            "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n",
            "30 22 0:40 / /run rw shared:5 - tmpfs tmpfs rw\n",
            r"31 30 0:41 / /run/my\040bundles rw master:2 - tmpfs tmpfs rw",
            "\n",
            "32 22 0:42 / /run2 rw - tmpfs tmpfs rw\n",
            "bad line\n",
        );
        let got = |p: &str| parent_mount(info, Path::new(p));
        assert_eq!(
            got("/run/my bundles/c1/rootfs"),
            Some(("/run/my bundles".to_string(), false))
        );
        assert_eq!(got("/run/c2/rootfs"), Some(("/run".to_string(), true)));
        // Components, not string prefixes: /run2 is not under /run.
        assert_eq!(got("/run2/rootfs"), Some(("/run2".to_string(), false)));
        assert_eq!(got("/srv/rootfs"), Some(("/".to_string(), true)));
        // A mount stacked on the same point: the last one is on top.
        let stacked = format!("{info}33 30 0:43 / /run rw - tmpfs tmpfs rw\n");
        assert_eq!(
            parent_mount(&stacked, Path::new("/run/c2")),
            Some(("/run".to_string(), false))
        );
    }

    #[test]
    fn device_plan_overrides_defaults_and_checks_paths() {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("spec/default.json")).unwrap_or_default();
        v["linux"]["devices"] = serde_json::json!([
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 7},
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}
        ]);
        let s: Spec = serde_json::from_value(v.clone()).unwrap_or_default();
        let p = plan_devices(&s).map_err(|e| e.to_string());
        assert_eq!(p.as_ref().map(|p| p.len()), Ok(7));
        assert_eq!(p.as_ref().map(|p| p[0].uid), Ok(7));
        for bad in [
            "/etc/x",
            "/dev/../etc/x",
            "/dev",
            "/devices/x",
            "/dev/a/../../x",
        ] {
            v["linux"]["devices"] =
                serde_json::json!([{"path": bad, "type": "c", "major": 1, "minor": 3}]);
            let s: Spec = serde_json::from_value(v.clone()).unwrap_or_default();
            assert_eq!(
                plan_devices(&s).err().map(|e| e.to_string()),
                Some(format!("linux.devices[0].path: {bad} is not under /dev"))
            );
        }
    }
}
