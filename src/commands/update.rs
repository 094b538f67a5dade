//! `update <id>`: change a running container's resources. Either `--resources FILE|-` (a
//! linux.resources JSON object; dockerd, through containerd's shim, sends it on stdin) or runc's
//! flags. As runc: zero leaves a value as it is, device rules are not changed by an update
//! (containerd's CRI sends the whole resources object, devices included), and a stopped
//! container cannot be updated.

use crate::bail;
use crate::cli::UpdateArgs;
use crate::error::{Context, Error, Result};
use crate::state::{Container, Status, NOT_RUNNING};
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};
use std::io::Read;
use std::path::Path;

pub fn run(root: &Path, a: &UpdateArgs) -> Result<()> {
    let c = Container::load(root, &a.id)?;
    let r = match &a.resources {
        Some(path) => {
            if flags_json(a)? != json!({}) {
                bail!("--resources: cannot be combined with other update flags");
            }
            read_resources(path)?
        }
        None => serde_json::from_value(flags_json(a)?).context("update flags")?,
    };
    if c.status() == Status::Stopped {
        bail!("{NOT_RUNNING}");
    }
    if r.devices().as_ref().is_some_and(|d| !d.is_empty()) {
        crate::log::debug("update: linux.resources.devices is left as it is (as runc does)");
    }
    c.saved.cgroup.update(&r)
}

fn read_resources(path: &Path) -> Result<LinuxResources> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("--resources: read the standard input")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("--resources: read {}", path.display()))?;
    }
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let at = e.path().to_string();
        let inner = Error::from(e.into_inner());
        if at == "." {
            inner.context("--resources")
        } else {
            inner.context(format!("--resources: {at}"))
        }
    })
}

/// docker/go-units' RAMInBytes: "64m", "1.5g", "512 KiB", "1024" (binary multiples).
pub fn ram_in_bytes(flag: &str, s: &str) -> Result<i64> {
    let bad = || Error::msg(format!("invalid value for {flag}: invalid size: {s:?}"));
    if s == "-1" {
        return Ok(-1);
    }
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, mut unit) = s.split_at(num_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(bad());
    }
    let value: f64 = num.parse().map_err(|_| bad())?;
    unit = unit.strip_prefix(' ').unwrap_or(unit);
    let lower = unit.to_ascii_lowercase();
    let mut rest = lower.as_str();
    let mut mul = 1u64;
    if let Some(c) = rest.chars().next() {
        let exp = "kmgtp".find(c);
        if let Some(e) = exp {
            mul = 1024u64.pow(e as u32 + 1);
            rest = &rest[1..];
        }
    }
    rest = rest.strip_prefix('i').unwrap_or(rest);
    rest = rest.strip_prefix('b').unwrap_or(rest);
    if !rest.is_empty() {
        return Err(bad());
    }
    Ok((value * mul as f64) as i64)
}

/// runc's update flags as a linux.resources JSON object (only the flags given).
fn flags_json(a: &UpdateArgs) -> Result<Value> {
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        bail!("--l3-cache-schema, --mem-bw-schema: Intel RDT is not supported by keel");
    }
    let mut memory = Map::new();
    for (flag, key, v) in [
        ("--memory", "limit", &a.memory),
        ("--memory-reservation", "reservation", &a.memory_reservation),
        ("--memory-swap", "swap", &a.memory_swap),
        ("--kernel-memory", "kernel", &a.kernel_memory),
        ("--kernel-memory-tcp", "kernelTCP", &a.kernel_memory_tcp),
    ] {
        if let Some(v) = v {
            memory.insert(key.into(), json!(ram_in_bytes(flag, v)?));
        }
    }
    let mut cpu = Map::new();
    let mut put = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            cpu.insert(key.into(), v);
        }
    };
    put("shares", a.cpu_share.map(Value::from));
    put("quota", a.cpu_quota.map(Value::from));
    put("period", a.cpu_period.map(Value::from));
    put("realtimeRuntime", a.cpu_rt_runtime.map(Value::from));
    put("realtimePeriod", a.cpu_rt_period.map(Value::from));
    put("cpus", a.cpuset_cpus.clone().map(Value::from));
    put("mems", a.cpuset_mems.clone().map(Value::from));
    let mut r = Map::new();
    if !memory.is_empty() {
        r.insert("memory".into(), Value::Object(memory));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(w) = a.blkio_weight {
        r.insert("blockIO".into(), json!({ "weight": w }));
    }
    if let Some(p) = a.pids_limit {
        r.insert("pids".into(), json!({ "limit": p }));
    }
    Ok(Value::Object(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_sizes_as_docker() {
        let r = |s: &str| ram_in_bytes("--memory", s).ok();
        assert_eq!(r("64m"), Some(64 << 20));
        assert_eq!(r("64MB"), Some(64 << 20));
        assert_eq!(r("1.5g"), Some(3 << 29));
        assert_eq!(r("512 KiB"), Some(512 << 10));
        assert_eq!(r("1024"), Some(1024));
        assert_eq!(r("-1"), Some(-1));
        assert_eq!(r("10x"), None);
        assert_eq!(r("m"), None);
        assert_eq!(
            ram_in_bytes("--memory", "lots")
                .err()
                .map(|e| e.to_string()),
            Some("invalid value for --memory: invalid size: \"lots\"".into())
        );
    }

    #[test]
    fn flags_become_resources() {
        let a = UpdateArgs {
            id: "x".into(),
            memory: Some("64m".into()),
            memory_swap: Some("-1".into()),
            cpu_quota: Some(20000),
            cpu_share: Some(512),
            cpuset_cpus: Some("0".into()),
            pids_limit: Some(-1),
            blkio_weight: Some(300),
            ..UpdateArgs::default()
        };
        assert_eq!(
            flags_json(&a).ok(),
            Some(json!({
                "memory": {"limit": 67108864, "swap": -1},
                "cpu": {"shares": 512, "quota": 20000, "cpus": "0"},
                "blockIO": {"weight": 300},
                "pids": {"limit": -1}
            }))
        );
    }
}
