//! `features`: the runtime-spec features document, built from the tables keel's code uses (the
//! mount option table, the namespace types, the capabilities caps knows, the seccomp compiler's
//! actions, operators, architectures and flags), spelled as oci-spec serializes them.

use crate::error::Result;

/// The config.json spellings of `values`, sorted (runc sorts its lists too).
fn names<T: serde::Serialize>(values: &[T]) -> Vec<String> {
    let mut v: Vec<String> = values
        .iter()
        .filter_map(|x| serde_json::to_value(x).ok())
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

pub fn run() -> Result<()> {
    let caps: Vec<String> = {
        let mut v: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
        v.sort();
        v
    };
    let apparmor = crate::process::apparmor_enabled();
    let doc = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": crate::mounts::OPTION_NAMES.to_vec(),
        "linux": {
            "namespaces": names(&crate::namespaces::ALL),
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true},
            "seccomp": {
                "enabled": true,
                "actions": names(&crate::seccomp::ACTIONS),
                "operators": names(&crate::seccomp::OPERATORS),
                "archs": names(&crate::seccomp::ARCHES),
                "knownFlags": names(&crate::seccomp::FLAGS),
                "supportedFlags": names(&crate::seccomp::FLAGS)
            },
            "apparmor": {"enabled": apparmor},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "io.github.keel.version": env!("CARGO_PKG_VERSION"),
            "io.github.keel.commit": env!("KEEL_COMMIT")
        }
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}
