//! `events`: runc's statistics JSON (field names, order and omitempty rules of runc 1.1's
//! `types.Stats`), read from v1 or v2 files, and OOM notifications (v1: an eventfd registered on
//! memory.oom_control through cgroup.event_control; v2: inotify on memory.events, where
//! `oom_kill` counts up).

use super::{Cgroup, Version};
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

pub fn read(cg: &Cgroup) -> Stats {
    let mut s = Stats::default();
    let v1 = |c: &str| cg.dir_for(c, Version::V1);
    let v2 = cg.v2_dir().map(|d| d.path.clone());

    // cpu
    if let Some(d) = v1("cpuacct") {
        s.cpu.usage.total = n(&d.join("cpuacct.usage"));
        s.cpu.usage.percpu = text(&d.join("cpuacct.usage_percpu"))
            .map(|t| {
                t.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        // "cpu user system" per CPU.
        if let Some(t) = text(&d.join("cpuacct.usage_all")) {
            for l in t.lines().skip(1) {
                let f: Vec<u64> = l
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                if f.len() == 3 {
                    s.cpu.usage.percpu_user.push(f[1]);
                    s.cpu.usage.percpu_kernel.push(f[2]);
                }
            }
        }
        let st = keyed(&text(&d.join("cpuacct.stat")).unwrap_or_default());
        s.cpu.usage.user = st.get("user").copied().unwrap_or(0) * NS_PER_TICK;
        s.cpu.usage.kernel = st.get("system").copied().unwrap_or(0) * NS_PER_TICK;
    } else if let Some(d) = &v2 {
        let st = keyed(&text(&d.join("cpu.stat")).unwrap_or_default());
        let g = |k: &str| st.get(k).copied().unwrap_or(0);
        s.cpu.usage.total = g("usage_usec") * 1000;
        s.cpu.usage.user = g("user_usec") * 1000;
        s.cpu.usage.kernel = g("system_usec") * 1000;
    }
    let throttle = v1("cpu")
        .map(|d| {
            let st = keyed(&text(&d.join("cpu.stat")).unwrap_or_default());
            let g = |k: &str| st.get(k).copied().unwrap_or(0);
            (g("nr_periods"), g("nr_throttled"), g("throttled_time"))
        })
        .or_else(|| {
            v2.as_ref().map(|d| {
                let st = keyed(&text(&d.join("cpu.stat")).unwrap_or_default());
                let g = |k: &str| st.get(k).copied().unwrap_or(0);
                (
                    g("nr_periods"),
                    g("nr_throttled"),
                    g("throttled_usec") * 1000,
                )
            })
        });
    if let Some((p, t, time)) = throttle {
        s.cpu.throttling = Throttling {
            periods: p,
            throttled_periods: t,
            throttled_time: time,
        };
    }

    // cpuset
    if let Some(d) = v1("cpuset") {
        let g = |f: &str| n(&d.join(format!("cpuset.{f}")));
        s.cpuset = CpuSet {
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
        };
    } else if let Some(d) = &v2 {
        s.cpuset.cpus = list(&d.join("cpuset.cpus.effective"));
        s.cpuset.mems = list(&d.join("cpuset.mems.effective"));
    }

    // memory
    if let Some(d) = v1("memory") {
        s.memory.usage = v1_memory_entry(d, "memory.");
        if d.join("memory.memsw.usage_in_bytes").exists() {
            s.memory.swap = v1_memory_entry(d, "memory.memsw.");
        }
        s.memory.kernel = v1_memory_entry(d, "memory.kmem.");
        s.memory.kernel_tcp = v1_memory_entry(d, "memory.kmem.tcp.");
        s.memory.raw = keyed(&text(&d.join("memory.stat")).unwrap_or_default());
        s.memory.cache = s.memory.raw.get("cache").copied().unwrap_or(0);
    } else if let Some(d) = v2.as_ref().filter(|d| d.join("memory.current").exists()) {
        let usage = n(&d.join("memory.current"));
        let limit = n(&d.join("memory.max"));
        s.memory.usage = MemoryEntry {
            limit,
            usage,
            max: n(&d.join("memory.peak")),
            failcnt: keyed(&text(&d.join("memory.events")).unwrap_or_default())
                .get("max")
                .copied()
                .unwrap_or(0),
        };
        // As runc: report memory+swap, as v1 did.
        let swap_limit = n(&d.join("memory.swap.max"));
        s.memory.swap = MemoryEntry {
            limit: if swap_limit == u64::MAX {
                u64::MAX
            } else {
                swap_limit.saturating_add(limit)
            },
            usage: n(&d.join("memory.swap.current")) + usage,
            max: 0,
            failcnt: 0,
        };
        s.memory.raw = keyed(&text(&d.join("memory.stat")).unwrap_or_default());
        s.memory.cache = s.memory.raw.get("file").copied().unwrap_or(0);
    }

    // pids
    let pids_dir = v1("pids").map(Path::to_path_buf).or_else(|| v2.clone());
    if let Some(d) = pids_dir {
        s.pids.current = n(&d.join("pids.current"));
        s.pids.limit = match n(&d.join("pids.max")) {
            u64::MAX => 0,
            l => l,
        };
    }

    // blkio
    if let Some(d) = v1("blkio") {
        let pick = |bfq: &str, throttle: &str| {
            let e = blkio_v1(&text(&d.join(bfq)).unwrap_or_default());
            if e.is_empty() {
                blkio_v1(&text(&d.join(throttle)).unwrap_or_default())
            } else {
                e
            }
        };
        s.blkio.io_service_bytes_recursive = pick(
            "blkio.bfq.io_service_bytes_recursive",
            "blkio.throttle.io_service_bytes_recursive",
        );
        s.blkio.io_serviced_recursive = pick(
            "blkio.bfq.io_serviced_recursive",
            "blkio.throttle.io_serviced_recursive",
        );
    } else if let Some(d) = &v2 {
        let (b, i) = io_v2(&text(&d.join("io.stat")).unwrap_or_default());
        s.blkio.io_service_bytes_recursive = b;
        s.blkio.io_serviced_recursive = i;
    }

    // hugetlb: v1 hierarchy, or the cgroup2 mount (where a hybrid host keeps it)
    for size in super::hugepage_sizes() {
        if let Some(d) = v1("hugetlb") {
            let f = |x: &str| d.join(format!("hugetlb.{size}.{x}"));
            if f("usage_in_bytes").exists() {
                s.hugetlb.insert(
                    size.clone(),
                    Hugetlb {
                        usage: n(&f("usage_in_bytes")),
                        max: n(&f("max_usage_in_bytes")),
                        failcnt: n(&f("failcnt")),
                    },
                );
            }
        } else if let Some(d) = &v2 {
            let f = |x: &str| d.join(format!("hugetlb.{size}.{x}"));
            if f("current").exists() {
                let events = keyed(&text(&f("events")).unwrap_or_default());
                s.hugetlb.insert(
                    size.clone(),
                    Hugetlb {
                        usage: n(&f("current")),
                        max: 0,
                        failcnt: events.get("max").copied().unwrap_or(0),
                    },
                );
            }
        }
    }
    s
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

    #[test]
    fn keyed_files() {
        let k = keyed("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
        assert_eq!(k.get("oom_kill"), Some(&1));
        assert_eq!(k.get("max"), Some(&3));
    }
}
