//! Load a bundle's config.json into oci-spec's types and reject what keel cannot run, naming the
//! JSON path of the offending field. Nothing here has side effects, so a bad config never leaves
//! anything behind.

use crate::bail;
use crate::error::{Context, Error, Result};
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

pub struct Bundle {
    /// Absolute bundle directory.
    pub dir: PathBuf,
    /// Absolute rootfs directory (root.path resolved against the bundle).
    pub rootfs: PathBuf,
    pub spec: Spec,
}

pub fn load(dir: &Path) -> Result<Bundle> {
    let dir = std::fs::canonicalize(dir).with_context(|| format!("bundle {}", dir.display()))?;
    let path = dir.join("config.json");
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "JSON specification file config.json not found in {}",
                dir.display()
            )
        }
        Err(e) => return Err(Error::from(e).context(format!("open {}", path.display()))),
    };
    let spec = parse(&text).context("config.json")?;
    validate(&spec)?;
    let Some(root) = spec.root() else {
        bail!("root: missing (root.path is required)")
    };
    let rootfs = dir.join(root.path());
    let rootfs = std::fs::canonicalize(&rootfs)
        .with_context(|| format!("root.path: {}", rootfs.display()))?;
    if !rootfs.is_dir() {
        bail!("root.path: {} is not a directory", rootfs.display());
    }
    Ok(Bundle { dir, rootfs, spec })
}

/// Parse config.json; a type error names the JSON path (`linux.namespaces[2].type: ...`).
pub fn parse(text: &[u8]) -> Result<Spec> {
    // First as plain JSON, to drop capability names this build does not know (the
    // runtime-spec: warn and continue), then into the typed spec with the error's JSON path.
    let mut v: serde_json::Value = serde_json::from_slice(text)?;
    if let Some(caps) = v.pointer_mut("/process/capabilities") {
        crate::capabilities::drop_unknown(caps, "process.capabilities");
    }
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            Error::msg(inner.to_string())
        } else {
            Error::msg(format!("{path}: {inner}"))
        }
    })
}

/// Whole-spec checks that belong to no single section, and the checks of sections that have no
/// plan of their own. A section with a plan is checked by planning it (spawn::plan).
pub fn validate(spec: &Spec) -> Result<()> {
    if !spec.version().starts_with("1.") {
        bail!(
            "ociVersion: unsupported version {:?} (keel runs 1.x bundles)",
            spec.version()
        );
    }
    if spec.root().is_none() {
        bail!("root: missing (root.path is required)");
    }
    let Some(process) = spec.process() else {
        bail!("process: missing (the container needs a process to run)")
    };
    crate::process::validate(process)?;
    let Some(linux) = spec.linux() else {
        bail!("linux: missing (keel runs Linux containers)")
    };
    if spec.solaris().is_some() || spec.windows().is_some() || spec.vm().is_some() {
        bail!("solaris/windows/vm: not supported by keel (Linux only)");
    }
    let unsupported: [(&str, bool); 3] = [
        ("linux.intelRdt", linux.intel_rdt().is_some()),
        ("linux.memoryPolicy", linux.memory_policy().is_some()),
        ("linux.netDevices", linux.net_devices().is_some()),
    ];
    for (field, present) in unsupported {
        if present {
            bail!("{field}: not supported by keel yet");
        }
    }
    let labels = [
        ("process.selinuxLabel", process.selinux_label().as_deref()),
        ("linux.mountLabel", linux.mount_label().as_deref()),
    ];
    for (field, label) in labels {
        match label.filter(|l| !l.is_empty()) {
            Some(l) if !selinux_enabled() => {
                bail!("{field}: SELinux is not enabled on this host (label {l:?})")
            }
            Some(_) => bail!("{field}: SELinux labels are not supported by keel yet"),
            None => {}
        }
    }
    // linux.namespaces, linux.sysctl and process.rlimits are checked where they are planned
    // (spawn::plan), once.
    crate::hooks::validate(spec)?;
    Ok(())
}

fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn base() -> serde_json::Value {
        serde_json::from_str(include_str!("spec/default.json")).unwrap_or_default()
    }

    fn check(v: &serde_json::Value) -> Result<Spec> {
        let s = parse(v.to_string().as_bytes())?;
        validate(&s)?;
        Ok(s)
    }

    #[test]
    fn runc_default_spec_is_valid() {
        assert!(check(&base()).is_ok());
    }

    #[test]
    fn unknown_namespace_names_the_path() {
        let mut v = base();
        v["linux"]["namespaces"][2]["type"] = "foo".into();
        let e = check(&v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            e.starts_with("linux.namespaces[2].type: unknown variant `foo`"),
            "{e}"
        );
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let e = parse(b"{\"ociVersion\": ")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn missing_process_is_rejected() {
        let mut v = base();
        v.as_object_mut().map(|o| o.remove("process"));
        let e = check(&v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("process: missing"), "{e}");
    }
}
