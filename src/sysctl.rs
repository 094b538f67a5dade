//! linux.sysctl: only namespaced sysctls, and only when the container has that namespace (the same
//! rules as runc's validator); written by init through the container's /proc/sys.

use crate::bail;
use crate::error::{Context, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::PathBuf;

pub struct Sysctl {
    pub key: String,
    pub path: PathBuf,
    pub value: String,
}

const IPC_KEYS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

pub fn plan(spec: &Spec) -> Result<Vec<Sysctl>> {
    let Some(linux) = spec.linux() else {
        return Ok(Vec::new());
    };
    let has = |t: LinuxNamespaceType| linux.namespaces().iter().flatten().any(|n| n.typ() == t);
    let mut keys: Vec<_> = linux.sysctl().iter().flatten().collect();
    keys.sort();
    let mut out = Vec::new();
    for (key, value) in keys {
        let ns = if IPC_KEYS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            Some(LinuxNamespaceType::Ipc)
        } else if key.starts_with("net.") {
            Some(LinuxNamespaceType::Network)
        } else if key == "kernel.hostname" || key == "kernel.domainname" {
            Some(LinuxNamespaceType::Uts)
        } else {
            None
        };
        match ns {
            None => {
                bail!("linux.sysctl.{key}: sysctl {key:?} is not in a separate kernel namespace")
            }
            Some(t) if !has(t) => bail!(
                "linux.sysctl.{key}: sysctl {key:?} needs a {} namespace in linux.namespaces",
                crate::namespaces::name(t)
            ),
            Some(_) => {}
        }
        if key.contains("..") || key.contains('/') && key.contains('.') {
            bail!("linux.sysctl.{key}: invalid sysctl name");
        }
        out.push(Sysctl {
            key: key.clone(),
            path: PathBuf::from("/proc/sys").join(key.replace('.', "/")),
            value: value.clone(),
        });
    }
    Ok(out)
}

/// Init, after pivot_root: write each value through the container's procfs.
pub fn apply(list: &[Sysctl]) -> Result<()> {
    for s in list {
        crate::sys::write_proc(&s.path, s.value.as_bytes())
            .with_context(|| format!("linux.sysctl.{}: write {}", s.key, s.path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(sysctl: serde_json::Value) -> Spec {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("spec/default.json")).unwrap_or_default();
        v["linux"]["sysctl"] = sysctl;
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn namespaced_keys_map_to_proc_paths() {
        let p = plan(&spec(
            serde_json::json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "4096"}),
        ));
        let got: Vec<_> = p
            .iter()
            .flatten()
            .map(|s| s.path.display().to_string())
            .collect();
        assert_eq!(
            got,
            ["/proc/sys/kernel/shmmax", "/proc/sys/net/ipv4/ip_forward"]
        );
    }

    #[test]
    fn host_wide_keys_are_rejected() {
        let e = plan(&spec(serde_json::json!({"vm.swappiness": "1"})))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("linux.sysctl.vm.swappiness: sysctl \"vm.swappiness\" is not in a separate kernel namespace")
        );
    }
}
