//! What this machine offers, found out at run time, and the record of what was skipped.
//!
//! Machines of one kind still differ (a blkio hierarchy without weight files when no BFQ
//! scheduler is loaded, net_cls mounted or not, swap accounting on or off, hugetlb on v1 or on
//! the cgroup2 mount). A test that depends on such a feature asks here, then checks that the
//! feature works where it is present and that keel refuses it clearly where it is absent. Only
//! where neither can be checked does it call [`skip`], which prints the reason at once and
//! again, counted by reason, when the test binary exits (and appends it to `$KEEL_SKIP_LOG`,
//! which `make test` sums up at the end), so a passing run cannot hide a skip.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

static SKIPS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Records that `test` (or a part of it) did not run here, and why.
pub fn skip(test: &str, reason: &str) {
    // The summary is printed by the harness's exit handler, which global() registers.
    let _ = super::global();
    eprintln!("SKIP {test}: {reason}");
    SKIPS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((test.to_string(), reason.to_string()));
    log_skip(env!("CARGO_CRATE_NAME"), test, reason);
}

/// Appends a skip to `$KEEL_SKIP_LOG` (`suite<TAB>test<TAB>reason`), which `make test` sums up
/// by reason at the end of the run (scripts/skips.sh).
pub fn log_skip(suite: &str, test: &str, reason: &str) {
    if let Some(log) = std::env::var_os("KEEL_SKIP_LOG") {
        if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(log) {
            let one_line = reason.replace(['\n', '\t'], " ");
            let _ = writeln!(f, "{suite}\t{test}\t{one_line}");
        }
    }
}

/// The skips of this run, counted by reason (printed when the test binary exits).
pub fn skip_summary() -> Option<String> {
    let skips = SKIPS.lock().unwrap_or_else(|p| p.into_inner());
    if skips.is_empty() {
        return None;
    }
    let mut by_reason: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (test, reason) in skips.iter() {
        by_reason.entry(reason).or_default().push(test);
    }
    let mut s = format!("integration: {} skipped, by reason:\n", skips.len());
    for (reason, tests) in by_reason {
        s += &format!("  {} x {reason}: {}\n", tests.len(), tests.join(", "));
    }
    Some(s)
}

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub mount_point: PathBuf,
    /// v1: the controllers in its options (`name=systemd` as `name=systemd`); v2: `cgroup2`.
    pub controllers: Vec<String>,
    pub v2: bool,
}

/// The cgroup hierarchies mounted on the host (from /proc/self/mountinfo). Parsed here rather than
/// with keel's own `cgroups::parse_layout`: the tests judge keel's layout detection, so they
/// must not share its mistakes.
pub fn hierarchies() -> &'static [Hierarchy] {
    static H: OnceLock<Vec<Hierarchy>> = OnceLock::new();
    H.get_or_init(|| {
        let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        parse_cgroup_mounts(&text)
    })
}

fn parse_cgroup_mounts(mountinfo: &str) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mount_point = pre.split(' ').nth(4).unwrap_or("");
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or("");
        let _source = post.next();
        let super_opts = post.next().unwrap_or("");
        let v2 = match fstype {
            "cgroup" => false,
            "cgroup2" => true,
            _ => continue,
        };
        let controllers = if v2 {
            vec!["cgroup2".to_string()]
        } else {
            super_opts
                .split(',')
                .filter(|o| {
                    !matches!(*o, "rw" | "ro" | "xattr" | "noprefix" | "clone_children")
                        && !o.starts_with("release_agent=")
                        && !o.starts_with("cpuset_v2_mode")
                })
                .map(str::to_string)
                .collect()
        };
        out.push(Hierarchy {
            mount_point: PathBuf::from(mount_point.replace("\\040", " ")),
            controllers,
            v2,
        });
    }
    out
}

/// The mount point of the v1 hierarchy that has `ctrl`.
pub fn v1_mount(ctrl: &str) -> Option<&'static Path> {
    hierarchies()
        .iter()
        .find(|h| !h.v2 && h.controllers.iter().any(|c| c == ctrl))
        .map(|h| h.mount_point.as_path())
}

/// The host's cgroup2 mount.
pub fn v2_mount() -> Option<&'static Path> {
    hierarchies()
        .iter()
        .find(|h| h.v2)
        .map(|h| h.mount_point.as_path())
}

/// The controllers the cgroup2 mount offers (its root's `cgroup.controllers`).
pub fn v2_controllers() -> Vec<String> {
    v2_mount()
        .and_then(|m| fs::read_to_string(m.join("cgroup.controllers")).ok())
        .map(|t| t.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Where a controller is used through, as keel decides it: its v1 hierarchy, else the cgroup2
/// mount if that offers it.
#[derive(Debug, Clone, PartialEq)]
pub enum At {
    V1(PathBuf),
    V2(PathBuf),
    Nowhere,
}

pub fn controller_at(ctrl: &str) -> At {
    if let Some(p) = v1_mount(ctrl) {
        return At::V1(p.to_path_buf());
    }
    match v2_mount() {
        Some(m) if v2_controllers().iter().any(|c| c == ctrl) => At::V2(m.to_path_buf()),
        _ => At::Nowhere,
    }
}

/// The layout the cgroup tests of `integration/cgroups.rs` were written for: v1 controllers
/// (memory among them) plus a cgroup2 mount.
pub fn hybrid() -> bool {
    v1_mount("memory").is_some() && v2_mount().is_some()
}

/// For a test (or a part of one) written for the hybrid layout: false, with a recorded skip,
/// on any other host (`make test-cgroupv2` runs the cgroup checks on pure v2).
pub fn hybrid_or_skip(test: &str) -> bool {
    if hybrid() {
        return true;
    }
    skip(
        test,
        "not a hybrid cgroup host: it reads v1 cgroup paths (make test-cgroupv2 covers v2)",
    );
    false
}

/// The files a fresh child cgroup of the v1 hierarchy of `ctrl` has: some files never appear on
/// the root cgroup (BFQ's weights), so a throwaway `keel-it-hostprobe-<pid>` cgroup is made and
/// removed again.
fn v1_child_files(ctrl: &str) -> Vec<String> {
    v1_mount(ctrl).map(child_files).unwrap_or_default()
}

/// The files of a fresh child cgroup of the hierarchy mounted at `m`.
pub fn child_files(m: &Path) -> Vec<String> {
    let dir = m.join(format!("keel-it-hostprobe-{}", std::process::id()));
    let made = fs::create_dir(&dir).is_ok();
    let files = fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if made {
        let _ = fs::remove_dir(&dir);
    }
    files
}

/// The blkio weight files of this host's v1 blkio hierarchy: (`blkio.bfq.weight` or
/// `blkio.weight`, and the matching `*weight_device`), or None when no scheduler with weights is
/// loaded (then only `blkio.throttle.*` exist).
pub fn blkio_weight_files() -> Option<(&'static str, &'static str)> {
    static W: OnceLock<Option<(&'static str, &'static str)>> = OnceLock::new();
    *W.get_or_init(|| {
        let files = v1_child_files("blkio");
        let has = |f: &str| files.iter().any(|x| x == f);
        if has("blkio.bfq.weight") {
            Some(("blkio.bfq.weight", "blkio.bfq.weight_device"))
        } else if has("blkio.weight") {
            Some(("blkio.weight", "blkio.weight_device"))
        } else {
            None
        }
    })
}

/// Swap accounting on the v1 memory hierarchy (`memory.memsw.*`: swapaccount=1).
pub fn memsw() -> bool {
    static M: OnceLock<bool> = OnceLock::new();
    *M.get_or_init(|| {
        v1_child_files("memory")
            .iter()
            .any(|f| f == "memory.memsw.limit_in_bytes")
    })
}

/// A file the v1 cpu hierarchy offers in a child cgroup (`cpu.rt_period_us` needs
/// CONFIG_RT_GROUP_SCHED, `cpu.cfs_burst_us` 5.14, `cpu.idle` 5.15).
pub fn v1_cpu_has(file: &str) -> bool {
    static F: OnceLock<Vec<String>> = OnceLock::new();
    F.get_or_init(|| v1_child_files("cpu"))
        .iter()
        .any(|f| f == file)
}

/// The huge page sizes the kernel offers, as the cgroup files name them ("2MB", "1GB").
pub fn huge_page_sizes() -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir("/sys/kernel/mm/hugepages") {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(kb) = n
                .strip_prefix("hugepages-")
                .and_then(|s| s.strip_suffix("kB"))
                .and_then(|s| s.parse::<u64>().ok())
            {
                out.push(match kb {
                    k if k >= 1 << 20 => format!("{}GB", k >> 20),
                    k if k >= 1 << 10 => format!("{}MB", k >> 10),
                    k => format!("{k}KB"),
                });
            }
        }
    }
    out.sort();
    out
}

/// The highest online CPU (`kind` "cpu") or memory node ("node"), from
/// /sys/devices/system/<kind>/online ("0-1", "0,2-3").
pub fn last_online(kind: &str) -> u32 {
    fs::read_to_string(format!("/sys/devices/system/{kind}/online"))
        .unwrap_or_default()
        .trim()
        .split([',', '-'])
        .filter_map(|n| n.parse().ok())
        .max()
        .unwrap_or(0)
}

/// The size in bytes of a huge page size named as the cgroup files name it ("2MB").
pub fn huge_page_bytes(size: &str) -> u64 {
    let (n, unit) = size.split_at(size.len() - 2);
    let n: u64 = n.parse().unwrap_or(0);
    match unit {
        "GB" => n << 30,
        "MB" => n << 20,
        _ => n << 10,
    }
}

/// Character device majors that have a driver (/proc/devices).
pub fn char_majors() -> Vec<u32> {
    let text = fs::read_to_string("/proc/devices").unwrap_or_default();
    text.lines()
        .skip_while(|l| !l.starts_with("Character devices:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("Block devices:"))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// A character major no driver has registered, for a device node whose open must fail with
/// ENXIO: the lowest free one of 234..=254 (the kernel hands out dynamic majors from 254 down).
pub fn unused_char_major() -> Option<u32> {
    let used = char_majors();
    (234..=254).find(|m| !used.contains(m))
}

/// The LSM the kernel has enabled, as keel checks it: AppArmor when
/// /sys/module/apparmor/parameters/enabled reads `Y`, SELinux when selinuxfs is mounted.
pub fn apparmor_enabled() -> bool {
    fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.trim() == "Y")
        .unwrap_or(false)
}

pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// The kernel has time namespaces (5.6+, CONFIG_TIME_NS).
pub fn time_namespaces() -> bool {
    Path::new("/proc/self/ns/time").exists()
}

/// The filesystem magic of a path (statfs f_type).
pub fn fs_magic(p: &Path) -> Option<i64> {
    let out = std::process::Command::new("stat")
        .args(["-f", "-c", "%t"])
        .arg(p)
        .output()
        .ok()?;
    i64::from_str_radix(String::from_utf8_lossy(&out.stdout).trim(), 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cgroup_mounts() {
        let mi = "\
30 23 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
31 23 0:27 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio
32 23 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
33 23 0:29 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset,clone_children
34 23 0:30 / /tmp rw - tmpfs tmpfs rw";
        let h = parse_cgroup_mounts(mi);
        assert_eq!(h.len(), 4);
        assert!(h[0].v2);
        assert_eq!(h[1].controllers, ["net_cls", "net_prio"]);
        assert_eq!(h[2].controllers, ["name=systemd"]);
        assert_eq!(h[3].controllers, ["cpuset"]);
    }
}
