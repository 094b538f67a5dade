//! linux.resources -> cgroup file writes, v1 and v2 side by side, one function per section.
//! Pure: the host's facts (`Host`) and, for `update`, the current values (`Current`) come in as
//! arguments, so every conversion and every error is unit-tested without root.
//!
//! Zero means "unset" for the numeric fields, as in runc (dockerd's `update` JSON sends
//! `"quota": 0, "period": 0, "shares": 0` for values it does not change). Values v2 has no
//! file for are converted as runc 1.1 converts them:
//!
//! | field | v1 | v2 |
//! | --- | --- | --- |
//! | memory.limit / reservation | memory.limit_in_bytes / soft_limit_in_bytes | memory.max / memory.low |
//! | memory.swap (memory+swap) | memory.memsw.limit_in_bytes | memory.swap.max = swap - limit |
//! | memory.swappiness, disableOOMKiller | memory.swappiness, memory.oom_control | none: a warning |
//! | cpu.shares | cpu.shares | cpu.weight = 1 + (shares-2)*9999/262142 |
//! | cpu.quota, period | cpu.cfs_quota_us, cpu.cfs_period_us | cpu.max "quota period" |
//! | cpu.burst, idle | cpu.cfs_burst_us, cpu.idle | cpu.max.burst, cpu.idle |
//! | cpu.realtime* | cpu.rt_runtime_us, cpu.rt_period_us | none: an error |
//! | blockIO.weight | blkio.bfq.weight or blkio.weight | io.bfq.weight, or io.weight = 1 + (w-10)*9999/990 |
//! | blockIO throttles | blkio.throttle.*_device | io.max "maj:min rbps=N" ... |
//! | hugepageLimits | hugetlb.SIZE.limit_in_bytes (+ .rsvd) | hugetlb.SIZE.max (+ .rsvd.max) |
//! | network | net_cls.classid, net_prio.ifpriomap | none: an error |
//! | rdma | rdma.max | rdma.max |
//! | unified | only for controllers on the cgroup2 mount | KEY, validated |

use super::devices;
use super::host::{Host, Version};
use crate::bail;
use crate::error::{Error, Result};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxNetwork, LinuxResources,
    LinuxThrottleDevice,
};

const F: &str = "linux.resources";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The config field, for errors: `linux.resources.memory.limit`.
    pub field: String,
    /// Which controller's directory the file is in (v1 name, or the cgroup2 controller).
    pub ctrl: String,
    pub version: Version,
    pub file: String,
    pub value: String,
    /// Written instead when `file` does not exist (blkio.weight without BFQ, ...).
    pub alt: Option<(String, String)>,
    /// Skipped when the file does not exist (hugetlb reservation limits on older kernels).
    pub optional: bool,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub writes: Vec<Write>,
    /// The cgroup2 device filter, when devices go through eBPF.
    pub bpf: Option<Vec<super::bpf::Insn>>,
    /// Settings this host cannot apply but that runc ignores too (logged, not fatal).
    pub warnings: Vec<String>,
}

impl Plan {
    /// The cgroup2 controllers the writes need, with the first field needing each.
    pub fn v2_needs(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        for w in &self.writes {
            if w.version == Version::V2
                && !matches!(w.ctrl.as_str(), "cgroup" | "devices" | "freezer")
                && !out.iter().any(|(_, c)| *c == w.ctrl)
            {
                out.push((w.field.as_str(), w.ctrl.as_str()));
            }
        }
        out
    }

    pub fn v2_controllers(&self) -> Vec<&str> {
        self.v2_needs().into_iter().map(|(_, c)| c).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    /// `update`: device rules are left alone (as runc: "runc update" cannot change them).
    Update,
}

/// What the cgroup holds now, for the writes whose form depends on it. A new cgroup is
/// `Current::default()`: no limits, nothing used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// v1 memory.limit_in_bytes (decides whether memsw or the limit is written first).
    pub memory_limit: u64,
    /// memory.usage_in_bytes or memory.current (checkBeforeUpdate).
    pub memory_usage: u64,
    /// v2: the quota half of cpu.max, kept when only the period changes.
    pub cpu_max_quota: String,
}

impl Default for Current {
    fn default() -> Self {
        Current {
            memory_limit: u64::MAX,
            memory_usage: 0,
            cpu_max_quota: "max".to_string(),
        }
    }
}

struct Out<'a> {
    host: &'a Host,
    plan: Plan,
}

impl Out<'_> {
    /// The version `ctrl` is used through, or an error naming the field.
    fn version(&self, field: &str, ctrl: &str) -> Result<Version> {
        if let Some(v) = self.host.version_of(ctrl) {
            return Ok(v);
        }
        if self.host.v2_only() {
            bail!("{field}: this cgroup v2 host does not offer the {ctrl} controller");
        }
        bail!("{field}: the {ctrl} controller is not mounted on this host")
    }

    fn push(
        &mut self,
        field: impl Into<String>,
        ctrl: &str,
        version: Version,
        file: impl Into<String>,
        value: impl ToString,
    ) -> &mut Write {
        self.plan.writes.push(Write {
            field: field.into(),
            ctrl: ctrl.to_string(),
            version,
            file: file.into(),
            value: value.to_string(),
            alt: None,
            optional: false,
        });
        let n = self.plan.writes.len() - 1;
        &mut self.plan.writes[n]
    }

    fn warn(&mut self, msg: String) {
        self.plan.warnings.push(msg);
    }
}

pub fn plan(r: &LinuxResources, host: &Host, cur: &Current, mode: Mode) -> Result<Plan> {
    let mut o = Out {
        host,
        plan: Plan::default(),
    };
    if mode == Mode::Create {
        devices_plan(&mut o, r)?;
    }
    if let Some(m) = r.memory() {
        memory(&mut o, m, cur)?;
    }
    if let Some(c) = r.cpu() {
        cpu(&mut o, c, cur)?;
    }
    if let Some(p) = r.pids() {
        let f = format!("{F}.pids.limit");
        let limit = p.limit();
        if limit != 0 {
            let v = o.version(&f, "pids")?;
            let value = if limit > 0 {
                limit.to_string()
            } else {
                "max".to_string()
            };
            o.push(f, "pids", v, "pids.max", value);
        }
    }
    if let Some(b) = r.block_io() {
        block_io(&mut o, b)?;
    }
    if let Some(h) = r.hugepage_limits() {
        hugepages(&mut o, h)?;
    }
    if let Some(n) = r.network() {
        network(&mut o, n)?;
    }
    if let Some(rdma) = r.rdma() {
        let mut devs: Vec<_> = rdma.iter().collect();
        devs.sort_by(|a, b| a.0.cmp(b.0));
        for (dev, l) in devs {
            let f = format!("{F}.rdma[{dev:?}]");
            if dev.is_empty() || dev.contains(char::is_whitespace) {
                bail!("{f}: {dev:?} is not an RDMA device name");
            }
            let mut value = dev.clone();
            if let Some(h) = l.hca_handles() {
                value.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(n) = l.hca_objects() {
                value.push_str(&format!(" hca_object={n}"));
            }
            if value == *dev {
                bail!("{f}: neither hcaHandles nor hcaObjects is set");
            }
            let v = o.version(&f, "rdma")?;
            o.push(f, "rdma", v, "rdma.max", value);
        }
    }
    if let Some(u) = r.unified() {
        unified(&mut o, u)?;
    }
    Ok(o.plan)
}

fn devices_plan(o: &mut Out, r: &LinuxResources) -> Result<()> {
    let f = format!("{F}.devices");
    let rules = devices::rules(r.devices().as_deref().unwrap_or(&[]), &f)?;
    match o.version(&f, "devices")? {
        Version::V1 => {
            // From deny-all, as runc: the rules, then runc's default allowed devices.
            o.push(f.clone(), "devices", Version::V1, "devices.deny", "a");
            for (i, rule) in rules.iter().enumerate() {
                let field = match rule.index {
                    Some(n) => format!("{f}[{n}]"),
                    None => format!("{f} (runc's default rule {i})"),
                };
                let file = if rule.allow {
                    "devices.allow"
                } else {
                    "devices.deny"
                };
                o.push(field, "devices", Version::V1, file, rule.v1_line());
            }
        }
        Version::V2 => o.plan.bpf = Some(devices::program(&rules)),
    }
    Ok(())
}

/// 0 (unset), -1 (unlimited) or a positive byte count.
fn mem_value(field: &str, v: i64) -> Result<i64> {
    if v < -1 {
        bail!("{field}: must be a positive number of bytes or -1 (unlimited), got {v}");
    }
    Ok(v)
}

/// linux.resources.memory after the checks both versions share; 0 means unset.
struct MemoryLimits {
    limit: i64,
    swap: i64,
    reservation: i64,
    swappiness: Option<u64>,
    disable_oom: bool,
    use_hierarchy: Option<bool>,
}

fn memory(o: &mut Out, m: &LinuxMemory, cur: &Current) -> Result<()> {
    let f = format!("{F}.memory");
    let limit = mem_value(&format!("{f}.limit"), m.limit().unwrap_or(0))?;
    let swap = mem_value(&format!("{f}.swap"), m.swap().unwrap_or(0))?;
    let reservation = mem_value(&format!("{f}.reservation"), m.reservation().unwrap_or(0))?;
    // runc: -1 (as an unsigned number) means "unset" for swappiness.
    let swappiness = m.swappiness().filter(|s| *s as i64 != -1);
    if let Some(s) = swappiness {
        if s > 100 {
            bail!("{f}.swappiness: must be between 0 and 100, got {s}");
        }
    }
    for (name, v) in [("kernel", m.kernel()), ("kernelTCP", m.kernel_tcp())] {
        if v.is_some_and(|v| v != 0) {
            o.warn(format!(
                "{f}.{name}: kernel memory limits are deprecated by the kernel and ignored (as runc does)"
            ));
        }
    }
    if m.check_before_update() == Some(true) && limit > 0 && cur.memory_usage >= limit as u64 {
        bail!(
            "{f}.limit: rejecting memory limit {limit} below current usage {} (checkBeforeUpdate)",
            cur.memory_usage
        );
    }
    let mem = MemoryLimits {
        limit,
        swap,
        reservation,
        swappiness,
        disable_oom: m.disable_oom_killer() == Some(true),
        use_hierarchy: m.use_hierarchy(),
    };
    let any = limit != 0
        || swap != 0
        || reservation != 0
        || swappiness.is_some()
        || mem.disable_oom
        || mem.use_hierarchy.is_some();
    if !any {
        return Ok(());
    }
    match o.version(&f, "memory")? {
        Version::V1 => memory_v1(o, &f, &mem, cur),
        Version::V2 => memory_v2(o, &f, &mem)?,
    }
    Ok(())
}

fn memory_v1(o: &mut Out, f: &str, m: &MemoryLimits, cur: &Current) {
    let v1 = Version::V1;
    let limit = m.limit;
    // runc: unlimited memory with swap unset means unlimited swap too (if accounted).
    let (swap, swap_optional) = if limit == -1 && m.swap == 0 {
        (-1, true)
    } else {
        (m.swap, false)
    };
    // The kernel wants limit <= memsw at every step: raise memsw first when it grows.
    let swap_first = limit != 0 && swap != 0 && (swap == -1 || cur.memory_limit < swap as u64);
    let mut writes = vec![
        (format!("{f}.limit"), "memory.limit_in_bytes", limit, false),
        (
            format!("{f}.swap"),
            "memory.memsw.limit_in_bytes",
            swap,
            swap_optional,
        ),
    ];
    if swap_first {
        writes.reverse();
    }
    for (field, file, v, optional) in writes {
        if v != 0 {
            o.push(field, "memory", v1, file, v).optional = optional;
        }
    }
    if m.reservation != 0 {
        o.push(
            format!("{f}.reservation"),
            "memory",
            v1,
            "memory.soft_limit_in_bytes",
            m.reservation,
        );
    }
    if m.disable_oom {
        o.push(
            format!("{f}.disableOOMKiller"),
            "memory",
            v1,
            "memory.oom_control",
            1,
        );
    }
    if let Some(s) = m.swappiness {
        o.push(
            format!("{f}.swappiness"),
            "memory",
            v1,
            "memory.swappiness",
            s,
        );
    }
    if let Some(h) = m.use_hierarchy {
        o.push(
            format!("{f}.useHierarchy"),
            "memory",
            v1,
            "memory.use_hierarchy",
            u8::from(h),
        );
    }
}

fn memory_v2(o: &mut Out, f: &str, m: &MemoryLimits) -> Result<()> {
    let v2 = Version::V2;
    let max = |v: i64| {
        if v == -1 {
            "max".to_string()
        } else {
            v.to_string()
        }
    };
    // runc's ConvertMemorySwapToCgroupV2Value: v1's swap is memory+swap.
    let swap_max = match (m.limit, m.swap) {
        (-1, 0) => Some("max".to_string()),
        (_, 0) => None,
        (_, -1) => Some("max".to_string()),
        (0 | -1, _) => {
            bail!(
                "{f}.swap: cannot limit swap without a memory limit (linux.resources.memory.limit)"
            )
        }
        (l, s) if s < l => bail!(
            "{f}.swap: memory+swap ({s}) must not be below linux.resources.memory.limit ({l})"
        ),
        (l, s) => Some((s - l).to_string()),
    };
    if let Some(s) = swap_max {
        o.push(format!("{f}.swap"), "memory", v2, "memory.swap.max", s);
    }
    if m.limit != 0 {
        o.push(
            format!("{f}.limit"),
            "memory",
            v2,
            "memory.max",
            max(m.limit),
        );
    }
    if m.reservation != 0 {
        o.push(
            format!("{f}.reservation"),
            "memory",
            v2,
            "memory.low",
            max(m.reservation),
        );
    }
    if m.disable_oom {
        o.warn(format!(
            "{f}.disableOOMKiller: cgroup v2 cannot disable the OOM killer; ignored (as runc does)"
        ));
    }
    if m.swappiness.is_some() {
        o.warn(format!(
            "{f}.swappiness: cgroup v2 has no per-cgroup swappiness; ignored (as runc does)"
        ));
    }
    if m.use_hierarchy == Some(false) {
        bail!("{f}.useHierarchy: cgroup v2 memory accounting is always hierarchical");
    }
    Ok(())
}

/// runc 1.1's ConvertCPUSharesToCgroupV2Value: [2, 262144] -> [1, 10000].
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262142
}

/// runc's ConvertBlkIOToIOWeightValue: [10, 1000] -> [1, 10000].
pub fn blkio_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).saturating_sub(10)) * 9999 / 990
}

/// linux.resources.cpu's bandwidth settings after the checks both versions share; 0 means unset.
struct CpuBandwidth {
    shares: u64,
    quota: i64,
    period: u64,
    burst: Option<u64>,
    idle: Option<i64>,
    rt_period: u64,
    rt_runtime: i64,
}

fn cpu(o: &mut Out, c: &LinuxCpu, cur: &Current) -> Result<()> {
    let f = format!("{F}.cpu");
    let shares = c.shares().unwrap_or(0);
    if shares != 0 && !(2..=262144).contains(&shares) {
        bail!("{f}.shares: must be between 2 and 262144, got {shares}");
    }
    let quota = c.quota().unwrap_or(0);
    if quota < -1 {
        bail!("{f}.quota: must be positive or -1 (unlimited), got {quota}");
    }
    if quota > 0 && quota < 1000 {
        bail!("{f}.quota: must be at least 1000 (1 ms), got {quota}");
    }
    let period = c.period().unwrap_or(0);
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        bail!("{f}.period: must be between 1000 and 1000000 (1 ms to 1 s), got {period}");
    }
    if let Some(i) = c.idle() {
        if !matches!(i, 0 | 1) {
            bail!("{f}.idle: must be 0 or 1, got {i}");
        }
    }
    let rt_period = c.realtime_period().unwrap_or(0);
    let rt_runtime = c.realtime_runtime().unwrap_or(0);
    if rt_runtime < -1 {
        bail!("{f}.realtimeRuntime: must be positive or -1 (unlimited), got {rt_runtime}");
    }
    let v = CpuBandwidth {
        shares,
        quota,
        period,
        burst: c.burst(),
        idle: c.idle(),
        rt_period,
        rt_runtime,
    };
    let needs_cpu = shares != 0
        || quota != 0
        || period != 0
        || v.burst.is_some()
        || v.idle.is_some()
        || rt_period != 0
        || rt_runtime != 0;
    if needs_cpu {
        match o.version(&f, "cpu")? {
            Version::V1 => cpu_v1(o, &f, &v),
            Version::V2 => cpu_v2(o, &f, &v, cur)?,
        }
    }
    cpuset(o, &f, c)
}

fn cpu_v1(o: &mut Out, f: &str, c: &CpuBandwidth) {
    let v1 = Version::V1;
    if c.shares != 0 {
        o.push(format!("{f}.shares"), "cpu", v1, "cpu.shares", c.shares);
    }
    if c.period != 0 {
        o.push(
            format!("{f}.period"),
            "cpu",
            v1,
            "cpu.cfs_period_us",
            c.period,
        );
    }
    if c.quota != 0 {
        o.push(format!("{f}.quota"), "cpu", v1, "cpu.cfs_quota_us", c.quota);
    }
    if let Some(b) = c.burst {
        o.push(format!("{f}.burst"), "cpu", v1, "cpu.cfs_burst_us", b);
    }
    if c.rt_period != 0 {
        o.push(
            format!("{f}.realtimePeriod"),
            "cpu",
            v1,
            "cpu.rt_period_us",
            c.rt_period,
        );
    }
    if c.rt_runtime != 0 {
        o.push(
            format!("{f}.realtimeRuntime"),
            "cpu",
            v1,
            "cpu.rt_runtime_us",
            c.rt_runtime,
        );
    }
    if let Some(i) = c.idle {
        o.push(format!("{f}.idle"), "cpu", v1, "cpu.idle", i);
    }
}

fn cpu_v2(o: &mut Out, f: &str, c: &CpuBandwidth, cur: &Current) -> Result<()> {
    let v2 = Version::V2;
    if c.rt_period != 0 || c.rt_runtime != 0 {
        let which = if c.rt_runtime != 0 {
            "realtimeRuntime"
        } else {
            "realtimePeriod"
        };
        bail!("{f}.{which}: cgroup v2 has no realtime CPU bandwidth control");
    }
    if c.shares != 0 {
        o.push(
            format!("{f}.shares"),
            "cpu",
            v2,
            "cpu.weight",
            shares_to_weight(c.shares),
        );
    }
    if c.quota != 0 || c.period != 0 {
        let mut value = match c.quota {
            0 => cur.cpu_max_quota.clone(),
            -1 => "max".to_string(),
            q => q.to_string(),
        };
        if c.period != 0 {
            value.push_str(&format!(" {}", c.period));
        }
        let field = if c.quota != 0 { "quota" } else { "period" };
        o.push(format!("{f}.{field}"), "cpu", v2, "cpu.max", value);
    }
    if let Some(b) = c.burst {
        o.push(format!("{f}.burst"), "cpu", v2, "cpu.max.burst", b);
    }
    if let Some(i) = c.idle {
        o.push(format!("{f}.idle"), "cpu", v2, "cpu.idle", i);
    }
    Ok(())
}

/// cpu.cpus and cpu.mems: the same files in both versions, checked against the online ones.
fn cpuset(o: &mut Out, f: &str, c: &LinuxCpu) -> Result<()> {
    for (name, value, file, online, what) in [
        ("cpus", c.cpus(), "cpuset.cpus", &o.host.cpus, "CPUs"),
        (
            "mems",
            c.mems(),
            "cpuset.mems",
            &o.host.mems,
            "memory nodes",
        ),
    ] {
        let Some(value) = value.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        let field = format!("{f}.{name}");
        let list = crate::process::cpu_list(value).map_err(|e| e.context(&field))?;
        if let Some(bad) = list.iter().find(|n| !online.contains(n)) {
            bail!(
                "{field}: {bad} is out of range: this host's online {what} are {}",
                list_text(online)
            );
        }
        let v = o.version(&field, "cpuset")?;
        o.push(field, "cpuset", v, file, value);
    }
    Ok(())
}

/// {0,1,2,5} -> "0-2,5"
fn list_text(set: &std::collections::BTreeSet<usize>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut it = set.iter().copied().peekable();
    while let Some(start) = it.next() {
        let mut end = start;
        while it.peek() == Some(&(end + 1)) {
            end += 1;
            it.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

fn device_numbers(field: &str, major: i64, minor: i64) -> Result<String> {
    if !(0..=u32::MAX as i64).contains(&major) || !(0..=u32::MAX as i64).contains(&minor) {
        bail!("{field}: invalid device number {major}:{minor}");
    }
    Ok(format!("{major}:{minor}"))
}

/// A throttle list: its field name, the devices, the v1 file and the v2 io.max key.
type Throttle<'a> = (
    &'static str,
    &'a Option<Vec<LinuxThrottleDevice>>,
    &'static str,
    &'static str,
);

fn block_io(o: &mut Out, b: &LinuxBlockIo) -> Result<()> {
    let f = format!("{F}.blockIO");
    let throttles: [Throttle; 4] = [
        (
            "throttleReadBpsDevice",
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
            "rbps",
        ),
        (
            "throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
            "wbps",
        ),
        (
            "throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
            "riops",
        ),
        (
            "throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
            "wiops",
        ),
    ];
    let any = b.weight().is_some_and(|w| w != 0)
        || b.leaf_weight().is_some_and(|w| w != 0)
        || b.weight_device().as_ref().is_some_and(|d| !d.is_empty())
        || throttles
            .iter()
            .any(|t| t.1.as_ref().is_some_and(|d| !d.is_empty()));
    if !any {
        return Ok(());
    }
    let version = match o.host.version_of("blkio") {
        Some(Version::V1) => Version::V1,
        _ => o.version(&f, "io")?,
    };
    match version {
        Version::V1 => block_io_v1(o, &f, b, &throttles),
        Version::V2 => block_io_v2(o, &f, b, &throttles),
    }
}

/// A blkio weight: [10, 1000] in both versions.
fn weight_ok(field: &str, w: u16) -> Result<()> {
    if !(10..=1000).contains(&w) {
        bail!("{field}: must be between 10 and 1000, got {w}");
    }
    Ok(())
}

/// The BFQ files, with the CFQ ones (blkio.weight, ...) as the alternative.
fn block_io_v1(o: &mut Out, f: &str, b: &LinuxBlockIo, throttles: &[Throttle]) -> Result<()> {
    let (ctrl, v) = ("blkio", Version::V1);
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        let field = format!("{f}.weight");
        weight_ok(&field, w)?;
        o.push(field, ctrl, v, "blkio.bfq.weight", w).alt =
            Some(("blkio.weight".to_string(), w.to_string()));
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        let field = format!("{f}.leafWeight");
        weight_ok(&field, w)?;
        o.push(field, ctrl, v, "blkio.leaf_weight", w);
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let field = format!("{f}.weightDevice[{i}]");
        let dev = device_numbers(&field, d.major(), d.minor())?;
        if let Some(w) = d.weight().filter(|w| *w != 0) {
            let field = format!("{field}.weight");
            weight_ok(&field, w)?;
            let value = format!("{dev} {w}");
            let alt = ("blkio.weight_device".to_string(), value.clone());
            o.push(field, ctrl, v, "blkio.bfq.weight_device", value).alt = Some(alt);
        }
        if let Some(w) = d.leaf_weight().filter(|w| *w != 0) {
            let field = format!("{field}.leafWeight");
            weight_ok(&field, w)?;
            o.push(
                field,
                ctrl,
                v,
                "blkio.leaf_weight_device",
                format!("{dev} {w}"),
            );
        }
    }
    for (name, list, file, _) in throttles {
        for (i, d) in list.iter().flatten().enumerate() {
            let field = format!("{f}.{name}[{i}]");
            let dev = device_numbers(&field, d.major(), d.minor())?;
            o.push(field, ctrl, v, *file, format!("{dev} {}", d.rate()));
        }
    }
    Ok(())
}

/// io.bfq.weight, with io.weight (converted) as the alternative; throttles in io.max; no leaf
/// weights.
fn block_io_v2(o: &mut Out, f: &str, b: &LinuxBlockIo, throttles: &[Throttle]) -> Result<()> {
    let (ctrl, v) = ("io", Version::V2);
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        let field = format!("{f}.weight");
        weight_ok(&field, w)?;
        o.push(field, ctrl, v, "io.bfq.weight", w).alt =
            Some(("io.weight".to_string(), blkio_to_io_weight(w).to_string()));
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        let field = format!("{f}.leafWeight");
        weight_ok(&field, w)?;
        bail!("{field}: cgroup v2 has no leaf weight");
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let field = format!("{f}.weightDevice[{i}]");
        let dev = device_numbers(&field, d.major(), d.minor())?;
        if let Some(w) = d.weight().filter(|w| *w != 0) {
            let field = format!("{field}.weight");
            weight_ok(&field, w)?;
            o.push(field, ctrl, v, "io.bfq.weight", format!("{dev} {w}"))
                .alt = Some((
                "io.weight".to_string(),
                format!("{dev} {}", blkio_to_io_weight(w)),
            ));
        }
        if let Some(w) = d.leaf_weight().filter(|w| *w != 0) {
            let field = format!("{field}.leafWeight");
            weight_ok(&field, w)?;
            bail!("{field}: cgroup v2 has no leaf weight");
        }
    }
    for (name, list, _, key) in throttles {
        for (i, d) in list.iter().flatten().enumerate() {
            let field = format!("{f}.{name}[{i}]");
            let dev = device_numbers(&field, d.major(), d.minor())?;
            // v1 takes 0 as "no limit"; v2 spells it "max".
            let rate = match d.rate() {
                0 => "max".to_string(),
                r => r.to_string(),
            };
            o.push(field, ctrl, v, "io.max", format!("{dev} {key}={rate}"));
        }
    }
    Ok(())
}

fn hugepages(o: &mut Out, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for (i, h) in limits.iter().enumerate() {
        let field = format!("{F}.hugepageLimits[{i}]");
        let size = h.page_size();
        if !o.host.hugepage_sizes.iter().any(|s| s == size) {
            bail!(
                "{field}.pageSize: {size:?} is not a huge page size of this host ({})",
                o.host.hugepage_sizes.join(", ")
            );
        }
        if h.limit() < 0 {
            bail!("{field}.limit: must not be negative, got {}", h.limit());
        }
        let v = o.version(&field, "hugetlb")?;
        let (limit, rsvd) = match v {
            Version::V1 => (
                format!("hugetlb.{size}.limit_in_bytes"),
                format!("hugetlb.{size}.rsvd.limit_in_bytes"),
            ),
            Version::V2 => (
                format!("hugetlb.{size}.max"),
                format!("hugetlb.{size}.rsvd.max"),
            ),
        };
        o.push(format!("{field}.limit"), "hugetlb", v, limit, h.limit());
        // The spec asks for reservation limits where the kernel has them (5.7+).
        o.push(format!("{field}.limit"), "hugetlb", v, rsvd, h.limit())
            .optional = true;
    }
    Ok(())
}

fn network(o: &mut Out, n: &LinuxNetwork) -> Result<()> {
    let f = format!("{F}.network");
    let no_v2 = |field: &str, ctrl: &str| -> Error {
        Error::msg(format!(
            "{field}: cgroup v2 has no {ctrl} controller (use an eBPF program or the network namespace instead)"
        ))
    };
    if let Some(id) = n.class_id() {
        let field = format!("{f}.classID");
        match o.host.version_of("net_cls") {
            Some(Version::V1) => {
                o.push(field, "net_cls", Version::V1, "net_cls.classid", id);
            }
            _ if o.host.v2_only() => return Err(no_v2(&field, "net_cls")),
            _ => bail!("{field}: the net_cls controller is not mounted on this host"),
        }
    }
    for (i, p) in n.priorities().iter().flatten().enumerate() {
        let field = format!("{f}.priorities[{i}]");
        if p.name().is_empty() || p.name().contains(char::is_whitespace) {
            bail!("{field}.name: {:?} is not an interface name", p.name());
        }
        match o.host.version_of("net_prio") {
            Some(Version::V1) => {
                o.push(
                    field,
                    "net_prio",
                    Version::V1,
                    "net_prio.ifpriomap",
                    format!("{} {}", p.name(), p.priority()),
                );
            }
            _ if o.host.v2_only() => return Err(no_v2(&field, "net_prio")),
            _ => bail!("{field}: the net_prio controller is not mounted on this host"),
        }
    }
    Ok(())
}

/// cgroup files keel manages itself, which `unified` must not write.
const UNIFIED_RESERVED: [&str; 6] = [
    "cgroup.procs",
    "cgroup.threads",
    "cgroup.subtree_control",
    "cgroup.freeze",
    "cgroup.kill",
    "cgroup.type",
];

fn unified(o: &mut Out, u: &std::collections::HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<_> = u.iter().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    for (k, value) in keys {
        let field = format!("{F}.unified[{k:?}]");
        let Some((ctrl, param)) = k.split_once('.') else {
            bail!("{field}: a key must be a cgroup file name, CONTROLLER.PARAMETER");
        };
        if ctrl.is_empty() || param.is_empty() || k.contains('/') || k.contains("..") {
            bail!("{field}: a key must be a cgroup file name, CONTROLLER.PARAMETER");
        }
        if UNIFIED_RESERVED.contains(&k.as_str()) {
            bail!("{field}: keel manages {k} itself");
        }
        if o.host.layout.v2().is_none() {
            bail!("{field}: this host has no cgroup v2 hierarchy");
        }
        if ctrl != "cgroup" {
            match o.host.v2_controllers.iter().find(|c| *c == ctrl) {
                // A v1 hierarchy mounts it: its cgroup2 files would be absent (or ignored).
                Some(_) if o.host.version_of(ctrl) == Some(Version::V1) => {
                    bail!("{field}: the {ctrl} controller is used through cgroup v1 on this hybrid host; use the linux.resources field for it")
                }
                Some(_) => {}
                None if o.host.version_of(ctrl) == Some(Version::V1) => {
                    bail!("{field}: the {ctrl} controller is used through cgroup v1 on this hybrid host; use the linux.resources field for it")
                }
                None => bail!(
                    "{field}: unknown cgroup v2 controller {ctrl:?} (this host offers: {})",
                    o.host.v2_controllers.join(" ")
                ),
            }
        }
        if value.contains('\n') {
            bail!("{field}: the value must be one line");
        }
        o.push(field, ctrl, Version::V2, k.as_str(), value);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::super::host::tests::{hybrid_host, hybrid_systemd_host, v2_host};
    use super::*;
    use serde_json::json;

    fn res(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    /// "file=value" for every write, in order.
    fn files(r: serde_json::Value, host: &Host, cur: &Current) -> Vec<String> {
        plan(&res(r), host, cur, Mode::Update)
            .unwrap()
            .writes
            .iter()
            .map(|w| format!("{}={}", w.file, w.value))
            .collect()
    }

    fn err(r: serde_json::Value, host: &Host) -> String {
        plan(&res(r), host, &Current::default(), Mode::Create)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "no error".into())
    }

    #[test]
    fn memory_v1_orders_memsw_around_the_current_limit() {
        let h = hybrid_host();
        let r = json!({"memory": {"limit": 1000000, "swap": 2000000, "reservation": 500000,
                       "swappiness": 10, "disableOOMKiller": true}});
        // New cgroup (unlimited): the limit first, then memsw.
        assert_eq!(
            files(r.clone(), &h, &Current::default()),
            [
                "memory.limit_in_bytes=1000000",
                "memory.memsw.limit_in_bytes=2000000",
                "memory.soft_limit_in_bytes=500000",
                "memory.oom_control=1",
                "memory.swappiness=10"
            ]
        );
        // Raising both above the current limit: memsw first.
        let cur = Current {
            memory_limit: 500000,
            ..Current::default()
        };
        assert_eq!(
            files(r, &h, &cur)[..2],
            [
                "memory.memsw.limit_in_bytes=2000000",
                "memory.limit_in_bytes=1000000"
            ]
        );
        // Unlimited memory without swap: unlimited swap too, if the kernel accounts swap.
        let p = plan(
            &res(json!({"memory": {"limit": -1}})),
            &h,
            &Current::default(),
            Mode::Create,
        )
        .unwrap();
        let sw: Vec<_> = p
            .writes
            .iter()
            .filter(|w| w.file.contains("memsw"))
            .collect();
        assert_eq!(sw.len(), 1);
        assert!(sw[0].optional);
        assert_eq!(sw[0].value, "-1");
    }

    #[test]
    fn memory_v2_converts_swap_and_reservation() {
        let h = v2_host();
        let cur = Current::default();
        assert_eq!(
            files(
                json!({"memory": {"limit": 1000000, "swap": 3000000, "reservation": 500000}}),
                &h,
                &cur
            ),
            [
                "memory.swap.max=2000000",
                "memory.max=1000000",
                "memory.low=500000"
            ]
        );
        assert_eq!(
            files(json!({"memory": {"limit": -1}}), &h, &cur),
            ["memory.swap.max=max", "memory.max=max"]
        );
        // swap == limit: no swap at all.
        assert_eq!(
            files(json!({"memory": {"limit": 100, "swap": 100}}), &h, &cur),
            ["memory.swap.max=0", "memory.max=100"]
        );
        assert_eq!(
            err(json!({"memory": {"swap": 100}}), &h),
            "linux.resources.memory.swap: cannot limit swap without a memory limit (linux.resources.memory.limit)"
        );
        assert_eq!(
            err(json!({"memory": {"limit": 200, "swap": 100}}), &h),
            "linux.resources.memory.swap: memory+swap (100) must not be below linux.resources.memory.limit (200)"
        );
        let p = plan(
            &res(json!({"memory": {"swappiness": 5, "disableOOMKiller": true}})),
            &h,
            &cur,
            Mode::Create,
        )
        .unwrap();
        assert!(p.writes.is_empty());
        assert_eq!(p.warnings.len(), 2);
    }

    #[test]
    fn dockerd_update_json_changes_only_what_it_sets() {
        // dockerd's exact stdin for `docker update --memory 64m --memory-swap 128m`.
        let docker = json!({"memory":{"limit":67108864,"reservation":0,"swap":134217728,"kernel":0},
                            "cpu":{"shares":0,"quota":0,"period":0},"blockIO":{"weight":0}});
        assert_eq!(
            files(docker.clone(), &hybrid_host(), &Current::default()),
            [
                "memory.limit_in_bytes=67108864",
                "memory.memsw.limit_in_bytes=134217728"
            ]
        );
        assert_eq!(
            files(docker, &v2_host(), &Current::default()),
            ["memory.swap.max=67108864", "memory.max=67108864"]
        );
    }

    #[test]
    fn memory_use_hierarchy_v1_and_v2() {
        let r = json!({"memory": {"useHierarchy": true}});
        let cur = Current::default();
        assert_eq!(
            files(r.clone(), &hybrid_host(), &cur),
            ["memory.use_hierarchy=1"]
        );
        // Always hierarchical on v2: true needs no write, false cannot be had.
        assert!(files(r, &v2_host(), &cur).is_empty());
        assert_eq!(
            err(json!({"memory": {"useHierarchy": false}}), &v2_host()),
            "linux.resources.memory.useHierarchy: cgroup v2 memory accounting is always hierarchical"
        );
    }

    #[test]
    fn memory_errors_name_the_field() {
        let h = hybrid_host();
        assert_eq!(
            err(json!({"memory": {"limit": -5}}), &h),
            "linux.resources.memory.limit: must be a positive number of bytes or -1 (unlimited), got -5"
        );
        assert_eq!(
            err(json!({"memory": {"swappiness": 101}}), &h),
            "linux.resources.memory.swappiness: must be between 0 and 100, got 101"
        );
        let cur = Current {
            memory_usage: 5000,
            ..Current::default()
        };
        let e = plan(
            &res(json!({"memory": {"limit": 4096, "checkBeforeUpdate": true}})),
            &h,
            &cur,
            Mode::Update,
        )
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("linux.resources.memory.limit: rejecting memory limit 4096 below current usage 5000 (checkBeforeUpdate)")
        );
    }

    #[test]
    fn cpu_v1_and_v2() {
        let r = json!({"cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000,
                       "idle": 0, "cpus": "0-1", "mems": "0"}});
        assert_eq!(
            files(r.clone(), &hybrid_host(), &Current::default()),
            [
                "cpu.shares=512",
                "cpu.cfs_period_us=100000",
                "cpu.cfs_quota_us=50000",
                "cpu.cfs_burst_us=1000",
                "cpu.idle=0",
                "cpuset.cpus=0-1",
                "cpuset.mems=0"
            ]
        );
        assert_eq!(
            files(r, &v2_host(), &Current::default()),
            [
                "cpu.weight=20",
                "cpu.max=50000 100000",
                "cpu.max.burst=1000",
                "cpu.idle=0",
                "cpuset.cpus=0-1",
                "cpuset.mems=0"
            ]
        );
        // Only the period: the current quota stays.
        let cur = Current {
            cpu_max_quota: "20000".into(),
            ..Current::default()
        };
        assert_eq!(
            files(json!({"cpu": {"period": 50000}}), &v2_host(), &cur),
            ["cpu.max=20000 50000"]
        );
        assert_eq!(
            files(json!({"cpu": {"quota": -1}}), &v2_host(), &cur),
            ["cpu.max=max"]
        );
        assert_eq!(
            files(
                json!({"cpu": {"realtimePeriod": 1000000, "realtimeRuntime": 950000}}),
                &hybrid_host(),
                &cur
            ),
            ["cpu.rt_period_us=1000000", "cpu.rt_runtime_us=950000"]
        );
    }

    #[test]
    fn shares_and_blkio_weight_conversions_match_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10000);
    }

    #[test]
    fn cpu_errors_name_the_field() {
        let h = hybrid_host();
        assert_eq!(
            err(json!({"cpu": {"quota": -5}}), &h),
            "linux.resources.cpu.quota: must be positive or -1 (unlimited), got -5"
        );
        assert_eq!(
            err(json!({"cpu": {"quota": 10}}), &h),
            "linux.resources.cpu.quota: must be at least 1000 (1 ms), got 10"
        );
        assert_eq!(
            err(json!({"cpu": {"shares": 1}}), &h),
            "linux.resources.cpu.shares: must be between 2 and 262144, got 1"
        );
        assert_eq!(
            err(json!({"cpu": {"cpus": "0-7"}}), &h),
            "linux.resources.cpu.cpus: 2 is out of range: this host's online CPUs are 0-1"
        );
        assert_eq!(
            err(json!({"cpu": {"mems": "x"}}), &h),
            "linux.resources.cpu.mems: invalid cpu list \"x\""
        );
        assert_eq!(
            err(json!({"cpu": {"realtimeRuntime": 1000}}), &v2_host()),
            "linux.resources.cpu.realtimeRuntime: cgroup v2 has no realtime CPU bandwidth control"
        );
        assert_eq!(
            err(json!({"cpu": {"idle": 2}}), &h),
            "linux.resources.cpu.idle: must be 0 or 1, got 2"
        );
    }

    #[test]
    fn pids_zero_is_unset_negative_is_max() {
        assert_eq!(
            err(json!({"pids": {"limit": 5}}), &hybrid_systemd_host()),
            "linux.resources.pids.limit: the pids controller is not mounted on this host"
        );
        let h = v2_host();
        let cur = Current::default();
        assert_eq!(
            files(json!({"pids": {"limit": 5}}), &h, &cur),
            ["pids.max=5"]
        );
        assert_eq!(
            files(json!({"pids": {"limit": -1}}), &h, &cur),
            ["pids.max=max"]
        );
        assert!(files(json!({"pids": {"limit": 0}}), &h, &cur).is_empty());
    }

    #[test]
    fn block_io_v1_and_v2() {
        let h = hybrid_host();
        let r = json!({"blockIO": {"weight": 500,
            "weightDevice": [{"major": 8, "minor": 0, "weight": 300}],
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 0}]}});
        let p = plan(&res(r.clone()), &h, &Current::default(), Mode::Update).unwrap();
        let got: Vec<String> = p
            .writes
            .iter()
            .map(|w| format!("{}={} alt={:?}", w.file, w.value, w.alt))
            .collect();
        assert_eq!(
            got,
            [
                "blkio.bfq.weight=500 alt=Some((\"blkio.weight\", \"500\"))",
                "blkio.bfq.weight_device=8:0 300 alt=Some((\"blkio.weight_device\", \"8:0 300\"))",
                "blkio.throttle.read_bps_device=8:0 1048576 alt=None",
                "blkio.throttle.write_iops_device=8:0 0 alt=None"
            ]
        );
        let p = plan(&res(r), &v2_host(), &Current::default(), Mode::Update).unwrap();
        let got: Vec<String> = p
            .writes
            .iter()
            .map(|w| format!("{}={} alt={:?}", w.file, w.value, w.alt))
            .collect();
        assert_eq!(
            got,
            [
                "io.bfq.weight=500 alt=Some((\"io.weight\", \"4950\"))",
                "io.bfq.weight=8:0 300 alt=Some((\"io.weight\", \"8:0 2930\"))",
                "io.max=8:0 rbps=1048576 alt=None",
                "io.max=8:0 wiops=max alt=None"
            ]
        );
        assert_eq!(
            err(json!({"blockIO": {"weight": 5}}), &v2_host()),
            "linux.resources.blockIO.weight: must be between 10 and 1000, got 5"
        );
        assert_eq!(
            err(json!({"blockIO": {"leafWeight": 50}}), &v2_host()),
            "linux.resources.blockIO.leafWeight: cgroup v2 has no leaf weight"
        );
        assert_eq!(
            err(
                json!({"blockIO": {"throttleReadBpsDevice": [{"major": -1, "minor": 0, "rate": 1}]}}),
                &v2_host()
            ),
            "linux.resources.blockIO.throttleReadBpsDevice[0]: invalid device number -1:0"
        );
    }

    #[test]
    fn block_io_leaf_weights_only_on_v1() {
        let r = json!({"blockIO": {"leafWeight": 200,
            "weightDevice": [{"major": 8, "minor": 16, "leafWeight": 100}]}});
        assert_eq!(
            files(r, &hybrid_host(), &Current::default()),
            ["blkio.leaf_weight=200", "blkio.leaf_weight_device=8:16 100"]
        );
        assert_eq!(
            err(
                json!({"blockIO": {"weightDevice": [{"major": 8, "minor": 16, "leafWeight": 100}]}}),
                &v2_host()
            ),
            "linux.resources.blockIO.weightDevice[0].leafWeight: cgroup v2 has no leaf weight"
        );
        // The range is checked first, in both versions.
        assert_eq!(
            err(json!({"blockIO": {"leafWeight": 5}}), &v2_host()),
            "linux.resources.blockIO.leafWeight: must be between 10 and 1000, got 5"
        );
    }

    #[test]
    fn hugepages_go_to_the_cgroup2_mount_on_a_hybrid_host() {
        let r = json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]});
        let p = plan(&res(r), &hybrid_host(), &Current::default(), Mode::Create).unwrap();
        let hw: Vec<_> = p
            .writes
            .iter()
            .filter(|w| w.ctrl == "hugetlb")
            .map(|w| (w.version, w.file.as_str(), w.value.as_str(), w.optional))
            .collect();
        assert_eq!(
            hw,
            [
                (Version::V2, "hugetlb.2MB.max", "4194304", false),
                (Version::V2, "hugetlb.2MB.rsvd.max", "4194304", true)
            ]
        );
        assert_eq!(p.v2_controllers(), ["hugetlb"]);
        assert_eq!(
            err(
                json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]}),
                &hybrid_host()
            ),
            "linux.resources.hugepageLimits[0].pageSize: \"3MB\" is not a huge page size of this host (1GB, 2MB)"
        );
    }

    #[test]
    fn network_needs_v1_controllers() {
        assert_eq!(
            err(json!({"network": {"classID": 1048577}}), &hybrid_host()),
            "linux.resources.network.classID: the net_cls controller is not mounted on this host"
        );
        assert_eq!(
            err(
                json!({"network": {"priorities": [{"name": "eth0", "priority": 5}]}}),
                &v2_host()
            ),
            "linux.resources.network.priorities[0]: cgroup v2 has no net_prio controller (use an eBPF program or the network namespace instead)"
        );
        let mut h = hybrid_host();
        h.layout.hierarchies.push(super::super::host::Hierarchy {
            name: "net_cls,net_prio".into(),
            mount: "/sys/fs/cgroup/net_cls,net_prio".into(),
            controllers: vec!["net_cls".into(), "net_prio".into()],
            v2: false,
        });
        assert_eq!(
            files(
                json!({"network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]}}),
                &h,
                &Current::default()
            ),
            ["net_cls.classid=1048577", "net_prio.ifpriomap=eth0 5"]
        );
    }

    #[test]
    fn rdma_lines() {
        assert_eq!(
            files(
                json!({"rdma": {"mlx5_1": {"hcaHandles": 3}, "mlx4_0": {"hcaHandles": 2, "hcaObjects": 5}}}),
                &v2_host(),
                &Current::default()
            ),
            [
                "rdma.max=mlx4_0 hca_handle=2 hca_object=5",
                "rdma.max=mlx5_1 hca_handle=3"
            ]
        );
        assert_eq!(
            err(json!({"rdma": {"mlx4_0": {}}}), &v2_host()),
            "linux.resources.rdma[\"mlx4_0\"]: neither hcaHandles nor hcaObjects is set"
        );
    }

    #[test]
    fn unified_keys_are_validated() {
        let v2 = v2_host();
        assert_eq!(
            files(
                json!({"unified": {"memory.high": "1000000", "cgroup.max.depth": "3"}}),
                &v2,
                &Current::default()
            ),
            ["cgroup.max.depth=3", "memory.high=1000000"]
        );
        assert_eq!(
            err(json!({"unified": {"bogus.key": "1"}}), &v2),
            "linux.resources.unified[\"bogus.key\"]: unknown cgroup v2 controller \"bogus\" (this host offers: cpuset cpu io memory hugetlb pids rdma misc)"
        );
        assert_eq!(
            err(json!({"unified": {"memoryhigh": "1"}}), &v2),
            "linux.resources.unified[\"memoryhigh\"]: a key must be a cgroup file name, CONTROLLER.PARAMETER"
        );
        assert_eq!(
            err(json!({"unified": {"../memory.high": "1"}}), &v2),
            "linux.resources.unified[\"../memory.high\"]: a key must be a cgroup file name, CONTROLLER.PARAMETER"
        );
        assert_eq!(
            err(json!({"unified": {"cgroup.procs": "1"}}), &v2),
            "linux.resources.unified[\"cgroup.procs\"]: keel manages cgroup.procs itself"
        );
        assert_eq!(
            err(json!({"unified": {"memory.high": "1"}}), &hybrid_host()),
            "linux.resources.unified[\"memory.high\"]: the memory controller is used through cgroup v1 on this hybrid host; use the linux.resources field for it"
        );
        assert_eq!(
            files(
                json!({"unified": {"hugetlb.2MB.max": "2097152"}}),
                &hybrid_host(),
                &Current::default()
            ),
            ["hugetlb.2MB.max=2097152"]
        );
    }

    #[test]
    fn devices_v1_lines_and_v2_program() {
        let r = json!({"devices": [{"allow": false, "access": "rwm"},
                                   {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}]});
        let p = plan(
            &res(r.clone()),
            &hybrid_host(),
            &Current::default(),
            Mode::Create,
        )
        .unwrap();
        let lines: Vec<String> = p
            .writes
            .iter()
            .map(|w| format!("{} {}", w.file, w.value))
            .collect();
        assert_eq!(
            lines[..4],
            [
                "devices.deny a",
                "devices.deny a",
                "devices.allow c 10:229 rw",
                "devices.allow c *:* m"
            ]
        );
        assert_eq!(p.writes[2].field, "linux.resources.devices[1]");
        assert!(p.bpf.is_none());
        let p = plan(
            &res(r.clone()),
            &v2_host(),
            &Current::default(),
            Mode::Create,
        )
        .unwrap();
        assert!(p.writes.is_empty());
        assert!(p.bpf.is_some_and(|b| !b.is_empty()));
        // update leaves device rules alone, as runc does.
        let p = plan(&res(r), &v2_host(), &Current::default(), Mode::Update).unwrap();
        assert!(p.bpf.is_none());
    }
}
