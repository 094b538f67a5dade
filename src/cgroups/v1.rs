//! cgroup v1 resource files. This covers devices, memory, cpu, cpuset and pids; every other
//! resource is refused by name until it is implemented.

use crate::bail;
use crate::error::{Context, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub field: String,
    pub controller: &'static str,
    pub file: &'static str,
    pub value: String,
}

fn w(field: &str, controller: &'static str, file: &'static str, value: impl ToString) -> Write {
    Write {
        field: field.to_string(),
        controller,
        file,
        value: value.to_string(),
    }
}

/// runc's default allowed devices, appended after the config's rules.
const DEFAULT_ALLOWED: [&str; 11] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:8 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:5 rwm",
    "c 1:9 rwm",
    "c 136:* rwm",
    "c 5:2 rwm",
    "c 10:200 rwm",
];

pub fn device_rule(d: &LinuxDeviceCgroup, field: &str) -> Result<String> {
    let t = match d.typ() {
        None | Some(LinuxDeviceType::A) => 'a',
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => 'c',
        Some(LinuxDeviceType::B) => 'b',
        Some(LinuxDeviceType::P) => bail!("{field}.type: \"p\" is not a cgroup device type"),
    };
    let num = |n: Option<i64>| match n {
        None | Some(-1) => Ok("*".to_string()),
        Some(n) if n >= 0 => Ok(n.to_string()),
        Some(n) => Err(crate::error::Error::msg(format!(
            "{field}: invalid device number {n}"
        ))),
    };
    let access = d.access().clone().unwrap_or_else(|| "rwm".to_string());
    if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        bail!("{field}.access: {access:?} is not a combination of r, w and m");
    }
    if t == 'a' {
        return Ok("a".to_string());
    }
    Ok(format!(
        "{t} {}:{} {access}",
        num(d.major())?,
        num(d.minor())?
    ))
}

pub fn plan(r: &LinuxResources) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    let f = "linux.resources";
    if let Some(devs) = r.devices() {
        out.push(w(&format!("{f}.devices"), "devices", "devices.deny", "a"));
        for (i, d) in devs.iter().enumerate() {
            let field = format!("{f}.devices[{i}]");
            let rule = device_rule(d, &field)?;
            let file = if d.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            out.push(w(&field, "devices", file, rule));
        }
        for rule in DEFAULT_ALLOWED {
            out.push(w(&format!("{f}.devices"), "devices", "devices.allow", rule));
        }
    }
    if let Some(m) = r.memory() {
        let mf = format!("{f}.memory");
        if let Some(v) = m.limit() {
            out.push(w(
                &format!("{mf}.limit"),
                "memory",
                "memory.limit_in_bytes",
                v,
            ));
        }
        if let Some(v) = m.reservation() {
            out.push(w(
                &format!("{mf}.reservation"),
                "memory",
                "memory.soft_limit_in_bytes",
                v,
            ));
        }
        if let Some(v) = m.swap() {
            out.push(w(
                &format!("{mf}.swap"),
                "memory",
                "memory.memsw.limit_in_bytes",
                v,
            ));
        }
        if let Some(v) = m.swappiness() {
            if v > 100 {
                bail!("{mf}.swappiness: must be between 0 and 100, got {v}");
            }
            out.push(w(
                &format!("{mf}.swappiness"),
                "memory",
                "memory.swappiness",
                v,
            ));
        }
        if m.disable_oom_killer() == Some(true) {
            out.push(w(
                &format!("{mf}.disableOOMKiller"),
                "memory",
                "memory.oom_control",
                1,
            ));
        }
        if m.kernel().is_some() || m.kernel_tcp().is_some() {
            bail!("{mf}.kernel: kernel memory limits are not supported by keel");
        }
    }
    if let Some(c) = r.cpu() {
        let cf = format!("{f}.cpu");
        if let Some(v) = c.shares() {
            out.push(w(&format!("{cf}.shares"), "cpu", "cpu.shares", v));
        }
        if let Some(v) = c.period() {
            out.push(w(&format!("{cf}.period"), "cpu", "cpu.cfs_period_us", v));
        }
        if let Some(v) = c.quota() {
            if v < -1 || v == 0 {
                bail!("{cf}.quota: must be positive or -1, got {v}");
            }
            out.push(w(&format!("{cf}.quota"), "cpu", "cpu.cfs_quota_us", v));
        }
        if let Some(v) = c.realtime_period() {
            out.push(w(
                &format!("{cf}.realtimePeriod"),
                "cpu",
                "cpu.rt_period_us",
                v,
            ));
        }
        if let Some(v) = c.realtime_runtime() {
            out.push(w(
                &format!("{cf}.realtimeRuntime"),
                "cpu",
                "cpu.rt_runtime_us",
                v,
            ));
        }
        if let Some(v) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            crate::process::cpu_list(v).context(format!("{cf}.cpus"))?;
            out.push(w(&format!("{cf}.cpus"), "cpuset", "cpuset.cpus", v));
        }
        if let Some(v) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            crate::process::cpu_list(v).context(format!("{cf}.mems"))?;
            out.push(w(&format!("{cf}.mems"), "cpuset", "cpuset.mems", v));
        }
        if c.burst().is_some() || c.idle().is_some() {
            bail!("{cf}: burst and idle are not supported by keel on cgroup v1 yet");
        }
    }
    if let Some(p) = r.pids() {
        let v = if p.limit() <= 0 {
            "max".to_string()
        } else {
            p.limit().to_string()
        };
        out.push(w(&format!("{f}.pids.limit"), "pids", "pids.max", v));
    }
    let rest: [(&str, bool); 5] = [
        // weight 0 and empty device lists set nothing (as runc; dockerd always sends weight 0)
        (
            "blockIO",
            r.block_io().as_ref().is_some_and(|b| {
                b.weight().is_some_and(|w| w != 0)
                    || b.leaf_weight().is_some_and(|w| w != 0)
                    || [
                        b.weight_device().as_ref().map(Vec::len),
                        b.throttle_read_bps_device().as_ref().map(Vec::len),
                        b.throttle_write_bps_device().as_ref().map(Vec::len),
                        b.throttle_read_iops_device().as_ref().map(Vec::len),
                        b.throttle_write_iops_device().as_ref().map(Vec::len),
                    ]
                    .into_iter()
                    .any(|n| n.unwrap_or(0) > 0)
            }),
        ),
        (
            "hugepageLimits",
            r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()),
        ),
        ("network", r.network().is_some()),
        ("rdma", r.rdma().is_some()),
        (
            "unified",
            r.unified().as_ref().is_some_and(|u| !u.is_empty()),
        ),
    ];
    for (name, present) in rest {
        if present {
            bail!("{f}.{name}: not supported by keel yet");
        }
    }
    Ok(out)
}

/// A new v1 cpuset cgroup starts with empty cpus/mems and refuses tasks: copy the parent's.
pub fn inherit_cpuset(dir: &Path) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn res(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn runc_default_devices_rules() {
        let p = plan(&res(
            serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]}),
        ));
        let got: Vec<_> = p
            .iter()
            .flatten()
            .map(|w| format!("{} {}", w.file, w.value))
            .collect();
        assert_eq!(got[0], "devices.deny a");
        assert_eq!(got[1], "devices.deny a");
        assert_eq!(got[2], "devices.allow c *:* m");
        assert_eq!(got.len(), 2 + DEFAULT_ALLOWED.len());
    }

    #[test]
    fn limits_and_errors() {
        let p = plan(&res(
            serde_json::json!({"memory": {"limit": 1048576}, "pids": {"limit": 10}, "cpu": {"shares": 512}}),
        ));
        let got: Vec<_> = p
            .iter()
            .flatten()
            .map(|w| format!("{}={}", w.file, w.value))
            .collect();
        assert_eq!(
            got,
            [
                "memory.limit_in_bytes=1048576",
                "cpu.shares=512",
                "pids.max=10"
            ]
        );
        let e = plan(&res(serde_json::json!({"cpu": {"quota": -5}})))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("linux.resources.cpu.quota: must be positive or -1, got -5")
        );
        let e = plan(&res(serde_json::json!({"devices": [{"allow": true, "type": "c", "major": 1, "access": "rwx"}]})))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("linux.resources.devices[0].access: \"rwx\" is not a combination of r, w and m")
        );
    }

    #[test]
    fn block_io_with_nothing_set_is_no_limit() {
        // dockerd sends this with every container
        let p = plan(&res(serde_json::json!({"blockIO": {"weight": 0}})));
        assert_eq!(p.ok().map(|p| p.len()), Some(0));
        let e = plan(&res(serde_json::json!({"blockIO": {"weight": 500}})))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("linux.resources.blockIO: not supported by keel yet")
        );
    }
}
