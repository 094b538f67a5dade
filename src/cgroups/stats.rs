//! `events`: runc's statistics JSON (field names, order and omitempty rules of runc 1.1's
//! `types.Stats`), read from v1 or v2 files, and OOM notifications (v1: an eventfd registered on
//! memory.oom_control through cgroup.event_control; v2: inotify on memory.events, where
//! `oom_kill` counts up).

use super::host::{hugepage_sizes, Version};
use super::Cgroup;
use crate::error::{Context, Result};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use serde::Serialize;
use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

fn zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    pub intel_rdt: BTreeMap<String, u64>,
    pub network_interfaces: Option<Vec<u64>>,
}

#[derive(Debug, Default, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

#[derive(Debug, Default, Serialize)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Throttling {
    #[serde(skip_serializing_if = "zero")]
    pub periods: u64,
    #[serde(rename = "throttledPeriods", skip_serializing_if = "zero")]
    pub throttled_periods: u64,
    #[serde(rename = "throttledTime", skip_serializing_if = "zero")]
    pub throttled_time: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

#[derive(Debug, Default, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Memory {
    #[serde(skip_serializing_if = "zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "zero")]
    pub current: u64,
    #[serde(skip_serializing_if = "zero")]
    pub limit: u64,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "zero")]
    pub value: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Blkio {
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Default, Serialize)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

fn text(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

/// A single number; "max" reads as u64::MAX (as runc's GetCgroupParamUint).
fn num(p: &Path) -> Option<u64> {
    let t = text(p)?;
    let t = t.trim();
    if t == "max" {
        return Some(u64::MAX);
    }
    t.parse().ok()
}

fn n(p: &Path) -> u64 {
    num(p).unwrap_or(0)
}

/// "key value" lines (memory.stat, cpu.stat, memory.events).
pub fn keyed(s: &str) -> BTreeMap<String, u64> {
    s.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect()
}

fn list(p: &Path) -> Vec<u16> {
    text(p)
        .and_then(|s| crate::process::cpu_list(s.trim()).ok())
        .map(|v| v.into_iter().map(|x| x as u16).collect())
        .unwrap_or_default()
}

/// "8:0 Read 4096" lines (v1 blkio); the bare "Total N" line is skipped.
pub fn blkio_v1(s: &str) -> Vec<BlkioEntry> {
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 3 {
                return None;
            }
            let (maj, min) = f[0].split_once(':')?;
            Some(BlkioEntry {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                op: f[1].to_string(),
                value: f[2].parse().ok()?,
            })
        })
        .collect()
}

/// io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 ..." -> (bytes, ios) entries, as runc.
pub fn io_v2(s: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for l in s.lines() {
        let mut f = l.split_whitespace();
        let Some((maj, min)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse(), min.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (to, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            to.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    (bytes, ios)
}

/// USER_HZ ticks (cpuacct.stat) to nanoseconds.
const NS_PER_TICK: u64 = 1_000_000_000 / 100;

fn v1_memory_entry(dir: &Path, prefix: &str) -> MemoryEntry {
    let f = |name: &str| dir.join(format!("{prefix}{name}"));
    MemoryEntry {
        limit: n(&f("limit_in_bytes")),
        usage: n(&f("usage_in_bytes")),
        max: n(&f("max_usage_in_bytes")),
        failcnt: n(&f("failcnt")),
    }
}

impl Cgroup {
    /// runc's `events --stats` data for this cgroup.
    pub fn stats(&self) -> Stats {
        read(self)
    }
}

/// runc's statistics, each controller read from the version keel uses it through.
pub fn read(cg: &Cgroup) -> Stats {
    Stats {
        cpu: cpu(cg),
        cpuset: cpuset(cg),
        memory: memory(cg),
        pids: pids(cg),
        blkio: blkio(cg),
        hugetlb: hugetlb(cg),
        ..Stats::default()
    }
}

/// The container's v1 directory of `ctrl`.
fn v1<'a>(cg: &'a Cgroup, ctrl: &str) -> Option<&'a Path> {
    cg.dir_for(ctrl, Version::V1)
}

/// The container's cgroup2 directory.
fn v2(cg: &Cgroup) -> Option<&Path> {
    cg.v2_dir().map(|d| d.path.as_path())
}

/// A keyed file's values, 0 for a missing key.
fn keyed_file(p: &Path) -> impl Fn(&str) -> u64 {
    let st = keyed(&text(p).unwrap_or_default());
    move |k: &str| st.get(k).copied().unwrap_or(0)
}

fn cpu(cg: &Cgroup) -> Cpu {
    let usage = match v1(cg, "cpuacct") {
        Some(d) => cpu_usage_v1(d),
        None => v2(cg).map(cpu_usage_v2).unwrap_or_default(),
    };
    // cpu.stat in both versions; v1 counts throttled time in ns, v2 in µs.
    let throttling = match v1(cg, "cpu") {
        Some(d) => throttling(d, "throttled_time", 1),
        None => v2(cg)
            .map(|d| throttling(d, "throttled_usec", 1000))
            .unwrap_or_default(),
    };
    Cpu { usage, throttling }
}

fn cpu_usage_v1(d: &Path) -> CpuUsage {
    let mut u = CpuUsage {
        total: n(&d.join("cpuacct.usage")),
        percpu: text(&d.join("cpuacct.usage_percpu"))
            .map(|t| {
                t.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
            .unwrap_or_default(),
        ..CpuUsage::default()
    };
    // "cpu user system" per CPU.
    if let Some(t) = text(&d.join("cpuacct.usage_all")) {
        for l in t.lines().skip(1) {
            let f: Vec<u64> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if f.len() == 3 {
                u.percpu_user.push(f[1]);
                u.percpu_kernel.push(f[2]);
            }
        }
    }
    let g = keyed_file(&d.join("cpuacct.stat"));
    u.user = g("user") * NS_PER_TICK;
    u.kernel = g("system") * NS_PER_TICK;
    u
}

fn cpu_usage_v2(d: &Path) -> CpuUsage {
    let g = keyed_file(&d.join("cpu.stat"));
    CpuUsage {
        total: g("usage_usec") * 1000,
        user: g("user_usec") * 1000,
        kernel: g("system_usec") * 1000,
        ..CpuUsage::default()
    }
}

/// cpu.stat's throttling counters; `time_key` scaled by `ns_per_unit` to nanoseconds.
fn throttling(d: &Path, time_key: &str, ns_per_unit: u64) -> Throttling {
    let g = keyed_file(&d.join("cpu.stat"));
    Throttling {
        periods: g("nr_periods"),
        throttled_periods: g("nr_throttled"),
        throttled_time: g(time_key) * ns_per_unit,
    }
}

fn cpuset(cg: &Cgroup) -> CpuSet {
    match v1(cg, "cpuset") {
        Some(d) => cpuset_v1(d),
        None => v2(cg).map(cpuset_v2).unwrap_or_default(),
    }
}

fn cpuset_v1(d: &Path) -> CpuSet {
    let g = |f: &str| n(&d.join(format!("cpuset.{f}")));
    CpuSet {
        cpus: list(&d.join("cpuset.cpus")),
        cpu_exclusive: g("cpu_exclusive"),
        mems: list(&d.join("cpuset.mems")),
        mem_hardwall: g("mem_hardwall"),
        mem_exclusive: g("mem_exclusive"),
        memory_migrate: g("memory_migrate"),
        memory_spread_page: g("memory_spread_page"),
        memory_spread_slab: g("memory_spread_slab"),
        memory_pressure: g("memory_pressure"),
        sched_load_balance: g("sched_load_balance"),
        sched_relax_domain_level: text(&d.join("cpuset.sched_relax_domain_level"))
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0),
    }
}

fn cpuset_v2(d: &Path) -> CpuSet {
    CpuSet {
        cpus: list(&d.join("cpuset.cpus.effective")),
        mems: list(&d.join("cpuset.mems.effective")),
        ..CpuSet::default()
    }
}

fn memory(cg: &Cgroup) -> Memory {
    match v1(cg, "memory") {
        Some(d) => memory_v1(d),
        None => v2(cg)
            .filter(|d| d.join("memory.current").exists())
            .map(memory_v2)
            .unwrap_or_default(),
    }
}

fn memory_v1(d: &Path) -> Memory {
    let raw = keyed(&text(&d.join("memory.stat")).unwrap_or_default());
    Memory {
        cache: raw.get("cache").copied().unwrap_or(0),
        usage: v1_memory_entry(d, "memory."),
        swap: if d.join("memory.memsw.usage_in_bytes").exists() {
            v1_memory_entry(d, "memory.memsw.")
        } else {
            MemoryEntry::default()
        },
        kernel: v1_memory_entry(d, "memory.kmem."),
        kernel_tcp: v1_memory_entry(d, "memory.kmem.tcp."),
        raw,
    }
}

fn memory_v2(d: &Path) -> Memory {
    let usage = n(&d.join("memory.current"));
    let limit = n(&d.join("memory.max"));
    // As runc: report memory+swap, as v1 did.
    let swap_limit = n(&d.join("memory.swap.max"));
    let raw = keyed(&text(&d.join("memory.stat")).unwrap_or_default());
    Memory {
        cache: raw.get("file").copied().unwrap_or(0),
        usage: MemoryEntry {
            limit,
            usage,
            max: n(&d.join("memory.peak")),
            failcnt: keyed_file(&d.join("memory.events"))("max"),
        },
        swap: MemoryEntry {
            limit: if swap_limit == u64::MAX {
                u64::MAX
            } else {
                swap_limit.saturating_add(limit)
            },
            usage: n(&d.join("memory.swap.current")) + usage,
            max: 0,
            failcnt: 0,
        },
        raw,
        ..Memory::default()
    }
}

fn pids(cg: &Cgroup) -> Pids {
    let Some(d) = v1(cg, "pids").or_else(|| v2(cg)) else {
        return Pids::default();
    };
    Pids {
        current: n(&d.join("pids.current")),
        limit: match n(&d.join("pids.max")) {
            u64::MAX => 0,
            l => l,
        },
    }
}

fn blkio(cg: &Cgroup) -> Blkio {
    match v1(cg, "blkio") {
        Some(d) => blkio_v1_stats(d),
        None => v2(cg).map(blkio_v2_stats).unwrap_or_default(),
    }
}

/// BFQ's counters, else the throttling ones.
fn blkio_v1_stats(d: &Path) -> Blkio {
    let pick = |bfq: &str, throttle: &str| {
        let e = blkio_v1(&text(&d.join(bfq)).unwrap_or_default());
        if e.is_empty() {
            blkio_v1(&text(&d.join(throttle)).unwrap_or_default())
        } else {
            e
        }
    };
    Blkio {
        io_service_bytes_recursive: pick(
            "blkio.bfq.io_service_bytes_recursive",
            "blkio.throttle.io_service_bytes_recursive",
        ),
        io_serviced_recursive: pick(
            "blkio.bfq.io_serviced_recursive",
            "blkio.throttle.io_serviced_recursive",
        ),
    }
}

fn blkio_v2_stats(d: &Path) -> Blkio {
    let (bytes, ios) = io_v2(&text(&d.join("io.stat")).unwrap_or_default());
    Blkio {
        io_service_bytes_recursive: bytes,
        io_serviced_recursive: ios,
    }
}

/// Per huge page size: the v1 hierarchy, or the cgroup2 mount (where a hybrid host keeps it).
fn hugetlb(cg: &Cgroup) -> BTreeMap<String, Hugetlb> {
    let v1_dir = v1(cg, "hugetlb");
    let v2_dir = v2(cg);
    let read = |size: &str| match (v1_dir, v2_dir) {
        (Some(d), _) => hugetlb_v1(d, size),
        (None, Some(d)) => hugetlb_v2(d, size),
        (None, None) => None,
    };
    hugepage_sizes()
        .into_iter()
        .filter_map(|size| Some((size.clone(), read(&size)?)))
        .collect()
}

fn hugetlb_v1(d: &Path, size: &str) -> Option<Hugetlb> {
    let f = |x: &str| d.join(format!("hugetlb.{size}.{x}"));
    f("usage_in_bytes").exists().then(|| Hugetlb {
        usage: n(&f("usage_in_bytes")),
        max: n(&f("max_usage_in_bytes")),
        failcnt: n(&f("failcnt")),
    })
}

fn hugetlb_v2(d: &Path, size: &str) -> Option<Hugetlb> {
    let f = |x: &str| d.join(format!("hugetlb.{size}.{x}"));
    f("current").exists().then(|| Hugetlb {
        usage: n(&f("current")),
        max: 0,
        failcnt: keyed_file(&f("events"))("max"),
    })
}

/// OOM notifications for the container's memory cgroup.
pub enum OomWatch {
    V1 {
        efd: EventFd,
        /// Must stay open while the registration lives.
        _oom_control: std::fs::File,
        dir: PathBuf,
    },
    V2 {
        inotify: Inotify,
        events: PathBuf,
        last: u64,
    },
}

fn oom_kills(events: &Path) -> u64 {
    keyed(&text(events).unwrap_or_default())
        .get("oom_kill")
        .copied()
        .unwrap_or(0)
}

impl OomWatch {
    pub fn new(cg: &Cgroup) -> Result<Option<OomWatch>> {
        if let Some(d) = cg.dir_for("memory", Version::V1) {
            let efd =
                EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
                    .context("eventfd")?;
            let oc = d.join("memory.oom_control");
            let oom_control =
                std::fs::File::open(&oc).with_context(|| format!("open {}", oc.display()))?;
            let ec = d.join("cgroup.event_control");
            std::fs::write(
                &ec,
                format!("{} {}", efd.as_fd().as_raw_fd(), oom_control.as_raw_fd()),
            )
            .with_context(|| format!("write {}", ec.display()))?;
            return Ok(Some(OomWatch::V1 {
                efd,
                _oom_control: oom_control,
                dir: d.to_path_buf(),
            }));
        }
        if let Some(d) = cg.v2_dir() {
            let events = d.path.join("memory.events");
            if events.exists() {
                let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
                    .context("inotify_init")?;
                inotify
                    .add_watch(&events, AddWatchFlags::IN_MODIFY)
                    .with_context(|| format!("inotify_add_watch {}", events.display()))?;
                let last = oom_kills(&events);
                return Ok(Some(OomWatch::V2 {
                    inotify,
                    events,
                    last,
                }));
            }
        }
        Ok(None)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        match self {
            OomWatch::V1 { efd, .. } => efd.as_fd(),
            OomWatch::V2 { inotify, .. } => inotify.as_fd(),
        }
    }

    /// How many OOM kills happened since the last call (0 if none; pending reads are drained).
    /// None once the cgroup is gone (v1 signals the eventfd on removal too).
    pub fn take(&mut self) -> Option<u64> {
        match self {
            OomWatch::V1 { efd, dir, .. } => {
                let got = efd.read().unwrap_or(0);
                if !dir.join("memory.oom_control").exists() {
                    return None;
                }
                Some(got)
            }
            OomWatch::V2 {
                inotify,
                events,
                last,
            } => {
                let _ = inotify.read_events();
                if !events.exists() {
                    return None;
                }
                let now = oom_kills(events);
                let new = now.saturating_sub(*last);
                *last = now;
                Some(new)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn stats_json_has_runcs_shape() {
        let mut s = Stats::default();
        s.pids.current = 1;
        s.pids.limit = 50;
        s.memory.usage.limit = 67108864;
        let v = serde_json::to_string(&s).unwrap();
        assert_eq!(
            v,
            concat!(
                r#"{"cpu":{"usage":{"kernel":0,"user":0},"throttling":{}},"#,
                r#""cpuset":{"cpu_exclusive":0,"mem_hardwall":0,"mem_exclusive":0,"memory_migrate":0,"memory_spread_page":0,"memory_spread_slab":0,"memory_pressure":0,"sched_load_balance":0,"sched_relax_domain_level":0},"#,
                r#""memory":{"usage":{"limit":67108864,"failcnt":0},"swap":{"limit":0,"failcnt":0},"kernel":{"limit":0,"failcnt":0},"kernelTCP":{"limit":0,"failcnt":0}},"#,
                r#""pids":{"current":1,"limit":50},"blkio":{},"hugetlb":{},"intel_rdt":{},"network_interfaces":null}"#
            )
        );
    }

    #[test]
    fn blkio_lines() {
        let v1 = "7:0 Read 4096\n7:0 Write 0\n7:0 Total 4096\nTotal 4096\n";
        let e = blkio_v1(v1);
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[0],
            BlkioEntry {
                major: 7,
                minor: 0,
                op: "Read".into(),
                value: 4096
            }
        );
        let (b, i) = io_v2("254:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(
            b.iter()
                .map(|x| (x.op.as_str(), x.value))
                .collect::<Vec<_>>(),
            [("Read", 10), ("Write", 20)]
        );
        assert_eq!(i.len(), 2);
    }

    /// A scratch directory holding the given cgroup files.
    fn fake_cgroup(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let d = std::env::temp_dir().join(format!("keel-stats-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        for (f, v) in files {
            std::fs::write(d.join(f), v).unwrap();
        }
        d
    }

    #[test]
    fn controllers_read_v1_and_v2_files() {
        let v1 = fake_cgroup(
            "v1",
            &[
                ("cpuacct.usage", "300\n"),
                ("cpuacct.usage_percpu", "100 200 \n"),
                ("cpuacct.usage_all", "cpu user system\n0 60 40\n1 150 50\n"),
                ("cpuacct.stat", "user 2\nsystem 1\n"),
                (
                    "cpu.stat",
                    "nr_periods 5\nnr_throttled 2\nthrottled_time 7000\n",
                ),
                ("hugetlb.2MB.usage_in_bytes", "4096\n"),
                ("hugetlb.2MB.failcnt", "1\n"),
            ],
        );
        let u = cpu_usage_v1(&v1);
        assert_eq!(
            (u.total, u.percpu, u.percpu_user, u.percpu_kernel),
            (300, vec![100, 200], vec![60, 150], vec![40, 50])
        );
        assert_eq!((u.user, u.kernel), (2 * NS_PER_TICK, NS_PER_TICK));
        let t = throttling(&v1, "throttled_time", 1);
        assert_eq!(
            (t.periods, t.throttled_periods, t.throttled_time),
            (5, 2, 7000)
        );
        let h = hugetlb_v1(&v1, "2MB").unwrap();
        assert_eq!((h.usage, h.max, h.failcnt), (4096, 0, 1));
        assert!(hugetlb_v1(&v1, "1GB").is_none());

        let v2 = fake_cgroup(
            "v2",
            &[
                ("cpu.stat", "usage_usec 3\nuser_usec 2\nsystem_usec 1\nnr_periods 4\nnr_throttled 1\nthrottled_usec 6\n"),
                ("memory.current", "100\n"),
                ("memory.max", "1000\n"),
                ("memory.swap.current", "10\n"),
                ("memory.swap.max", "max\n"),
                ("memory.events", "low 0\nhigh 0\nmax 4\noom 0\noom_kill 0\n"),
                ("memory.stat", "anon 90\nfile 10\n"),
                ("hugetlb.2MB.current", "2097152\n"),
                ("hugetlb.2MB.events", "max 3\n"),
            ],
        );
        let u = cpu_usage_v2(&v2);
        assert_eq!((u.total, u.user, u.kernel), (3000, 2000, 1000));
        let t = throttling(&v2, "throttled_usec", 1000);
        assert_eq!(
            (t.periods, t.throttled_periods, t.throttled_time),
            (4, 1, 6000)
        );
        let m = memory_v2(&v2);
        assert_eq!(
            (m.usage.usage, m.usage.limit, m.usage.failcnt),
            (100, 1000, 4)
        );
        // memory+swap, as v1 reported it; an unlimited swap stays unlimited.
        assert_eq!((m.swap.usage, m.swap.limit), (110, u64::MAX));
        assert_eq!(m.cache, 10);
        let h = hugetlb_v2(&v2, "2MB").unwrap();
        assert_eq!((h.usage, h.failcnt), (2097152, 3));
        for d in [v1, v2] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn keyed_files() {
        let k = keyed("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
        assert_eq!(k.get("oom_kill"), Some(&1));
        assert_eq!(k.get("max"), Some(&3));
    }
}
