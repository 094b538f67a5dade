//! features.md and features-linux.md: the document `<runtime> features` prints, and that the
//! runtime accepts what it lists.

use super::{ensure, err_text, Env, Res, Why};
use serde_json::{json, Value};

fn features(env: &Env) -> Result<Value, Why> {
    env.cached("features", || {
        let t = env.test("features");
        let out = env.rt(&t).invoke(&["features"]);
        out.ok();
        out.json()
    })
    .map_err(Why::Fail)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn features_static(env: &Env) -> Res {
    let first = features(env)?;
    let t = env.test("features-again");
    let mut cmd = env.rt(&t).command(&["features"]);
    cmd.env_clear()
        .env("PATH", "/conf-nowhere")
        .current_dir("/");
    let out = env.rt(&t).capture(cmd, "features");
    ensure!(
        out.code == 0,
        "features failed with another environment:\n{out}"
    );
    ensure!(
        out.json() == first,
        "the features document depends on the execution environment"
    );
    Ok(String::new())
}

fn version_accepted(env: &Env, key: &str) -> Res {
    let f = features(env)?;
    let v = f[key]
        .as_str()
        .ok_or_else(|| Why::Fail(format!("no {key}")))?
        .to_string();
    let t = env.test(&format!("features-{key}"));
    let mut b = t.bundle().with_probe(&["exit", "0"]);
    b.set("/ociVersion", json!(v));
    let out = env.rt(&t).run(&b);
    ensure!(
        out.code == 0,
        "ociVersion {v} ({key}) was refused: {}",
        err_text(&out)
    );
    Ok(v)
}

pub fn version_min_accepted(env: &Env) -> Res {
    version_accepted(env, "ociVersionMin")
}

pub fn version_max_accepted(env: &Env) -> Res {
    version_accepted(env, "ociVersionMax")
}

/// (major, minor, patch, is-prerelease) of a SemVer string.
fn semver(s: &str) -> Option<(u64, u64, u64, bool)> {
    let (core, pre) = match s.split_once('-') {
        Some((c, _)) => (c, true),
        None => (s, false),
    };
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((it.next()??, it.next()??, it.next()??, pre))
}

pub fn version_order(env: &Env) -> Res {
    let f = features(env)?;
    let (min, max) = (
        f["ociVersionMin"].as_str().unwrap_or(""),
        f["ociVersionMax"].as_str().unwrap_or(""),
    );
    let (a, b) = (semver(min), semver(max));
    ensure!(a.is_some() && b.is_some(), "not SemVer: {min:?} {max:?}");
    let (a, b) = (a.unwrap(), b.unwrap());
    ensure!(
        (a.0, a.1, a.2) <= (b.0, b.1, b.2),
        "ociVersionMax {max} < ociVersionMin {min}"
    );
    Ok(format!("{min} .. {max}"))
}

pub fn known_properties(env: &Env) -> Res {
    let f = features(env)?;
    let top = [
        "ociVersionMin",
        "ociVersionMax",
        "hooks",
        "mountOptions",
        "linux",
        "annotations",
        "potentiallyUnsafeConfigAnnotations",
    ];
    let linux = [
        "namespaces",
        "capabilities",
        "cgroup",
        "seccomp",
        "apparmor",
        "selinux",
        "intelRdt",
        "mountExtensions",
        "netDevices",
        "memoryPolicy",
    ];
    let mut unknown = Vec::new();
    for k in f
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        if !top.contains(&k.as_str()) {
            unknown.push(k);
        }
    }
    if let Some(l) = f["linux"].as_object() {
        unknown.extend(
            l.keys()
                .filter(|k| !linux.contains(&k.as_str()))
                .map(|k| format!("linux.{k}")),
        );
    }
    ensure!(
        unknown.is_empty(),
        "properties the runtime-spec does not define: {unknown:?}"
    );
    Ok(String::new())
}

pub fn hooks_supported(env: &Env) -> Res {
    let f = features(env)?;
    let listed = strings(&f["hooks"]);
    for h in &listed {
        ensure!(
            super::hooks::KINDS.contains(&h.as_str()),
            "unknown hook kind listed: {h}"
        );
    }
    // The shared hooked lifecycle has two hooks of every kind.
    for h in &listed {
        let check = match h.as_str() {
            "prestart" => super::hooks::prestart_path,
            "createRuntime" => super::hooks::create_runtime_path,
            "createContainer" => super::hooks::create_container_path,
            "startContainer" => super::hooks::start_container_path,
            "poststart" => super::hooks::poststart_path,
            _ => super::hooks::poststop_path,
        };
        check(env)?;
    }
    Ok(String::new())
}

pub fn mount_options_recognized(env: &Env) -> Res {
    let f = features(env)?;
    let t = env.test("features-mountopts");
    let src = t.host_dir("src");
    let mut b = t.bundle().with_probe(&["exit", "0"]);
    let mut skipped = Vec::new();
    for (i, o) in strings(&f["mountOptions"]).iter().enumerate() {
        let dest = format!("/conf-o{i}");
        let m = match o.as_str() {
            // Needs an existing mount at the destination; nothing to test on a new one.
            "remount" => {
                skipped.push(o.clone());
                continue;
            }
            "bind" | "rbind" => {
                json!({"destination": dest, "type": "bind", "source": src, "options": [o]})
            }
            "unbindable" | "runbindable" | "private" | "rprivate" | "shared" | "rshared"
            | "slave" | "rslave" => {
                json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", o]})
            }
            _ => json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": [o]}),
        };
        b.push("/mounts", m);
    }
    let out = env.rt(&t).run(&b);
    ensure!(
        out.code == 0,
        "a listed mount option was refused: {}",
        err_text(&out)
    );
    Ok(if skipped.is_empty() {
        String::new()
    } else {
        format!("not tried: {skipped:?}")
    })
}

pub fn mount_options_not_fs_specific(env: &Env) -> Res {
    let f = features(env)?;
    let generic = [
        "acl",
        "async",
        "atime",
        "bind",
        "defaults",
        "dev",
        "diratime",
        "dirsync",
        "exec",
        "iversion",
        "lazytime",
        "loud",
        "mand",
        "noacl",
        "noatime",
        "nodev",
        "nodiratime",
        "noexec",
        "noiversion",
        "nolazytime",
        "nomand",
        "nodev",
        "norelatime",
        "nostrictatime",
        "nosuid",
        "nosymfollow",
        "private",
        "ratime",
        "rbind",
        "rdev",
        "rdiratime",
        "relatime",
        "remount",
        "rexec",
        "rnoatime",
        "rnodev",
        "rnodiratime",
        "rnoexec",
        "rnorelatime",
        "rnostrictatime",
        "rnosuid",
        "rnosymfollow",
        "ro",
        "rprivate",
        "rrelatime",
        "rro",
        "rrw",
        "rshared",
        "rslave",
        "rstrictatime",
        "rsuid",
        "rsymfollow",
        "runbindable",
        "rw",
        "shared",
        "silent",
        "slave",
        "strictatime",
        "suid",
        "symfollow",
        "sync",
        "tmpcopyup",
        "unbindable",
        "idmap",
        "ridmap",
    ];
    let odd: Vec<String> = strings(&f["mountOptions"])
        .into_iter()
        .filter(|o| !generic.contains(&o.as_str()))
        .collect();
    ensure!(
        odd.is_empty(),
        "filesystem-specific options listed: {odd:?}"
    );
    Ok(String::new())
}

pub fn annotations_map(env: &Env) -> Res {
    let f = features(env)?;
    match &f["annotations"] {
        Value::Null => Ok(String::new()),
        Value::Object(m) => {
            ensure!(
                m.iter().all(|(k, v)| !k.is_empty() && v.is_string()),
                "annotations are not a string -> string map with non-empty keys: {m:?}"
            );
            Ok(String::new())
        }
        other => Err(Why::Fail(format!("annotations is not a map: {other}"))),
    }
}

pub fn namespaces_recognized(env: &Env) -> Res {
    let f = features(env)?;
    let listed = strings(&f["linux"]["namespaces"]);
    let t = env.test("features-ns");
    let mut b = t.bundle().with_probe(&["exit", "0"]);
    let mut nss = Vec::new();
    for n in &listed {
        nss.push(json!({"type": n}));
    }
    b.set("/linux/namespaces", json!(nss));
    if listed.iter().any(|n| n == "user") {
        b.set(
            "/linux/uidMappings",
            json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
        );
        b.set(
            "/linux/gidMappings",
            json!([{"containerID": 0, "hostID": 200000, "size": 65536}]),
        );
    }
    let out = env.rt(&t).run(&b);
    ensure!(
        out.code == 0,
        "a container with every listed namespace {listed:?} failed: {}",
        err_text(&out)
    );
    Ok(String::new())
}

pub fn capabilities_recognized(env: &Env) -> Res {
    let f = features(env)?;
    // Only what this host can grant: a capability outside the runtime's own bounding set
    // cannot be granted (that is config.md's warning case, CFG-CAPS-2), not a recognition issue.
    let missing = super::config::ungrantable_cap();
    let caps: Vec<String> = strings(&f["linux"]["capabilities"])
        .into_iter()
        .filter(|c| Some(c.as_str()) != missing.as_deref())
        .collect();
    let t = env.test("features-caps");
    let mut b = t.bundle().with_probe(&["exit", "0"]);
    for set in ["bounding", "effective", "permitted"] {
        b.set(&format!("/process/capabilities/{set}"), json!(caps));
    }
    let out = env.rt(&t).run(&b);
    ensure!(
        out.code == 0,
        "a container with every listed capability failed: {}",
        err_text(&out)
    );
    let unknown: Vec<&String> = caps
        .iter()
        .filter(|c| out.stderr.contains(c.as_str()))
        .collect();
    ensure!(
        unknown.is_empty(),
        "listed capabilities reported as unknown: {unknown:?}: {}",
        err_text(&out)
    );
    Ok(missing
        .map(|m| format!("{m} left out: not in this host's bounding set"))
        .unwrap_or_default())
}

pub fn seccomp_recognized(env: &Env) -> Res {
    let f = features(env)?;
    let s = &f["linux"]["seccomp"];
    if s["enabled"] != true {
        return Ok("seccomp not enabled: nothing listed to recognize".into());
    }
    // Each listed action on a syscall the probe never makes; each operator in an argument rule.
    let obscure = [
        "acct",
        "kexec_load",
        "init_module",
        "swapoff",
        "uselib",
        "syslog",
        "pivot_root",
        "quotactl",
        "nfsservctl",
    ];
    let mut syscalls = Vec::new();
    let mut notes = Vec::new();
    for (i, a) in strings(&s["actions"]).iter().enumerate() {
        if a == "SCMP_ACT_NOTIFY" {
            notes.push("SCMP_ACT_NOTIFY needs a listener: not tried");
            continue;
        }
        syscalls.push(json!({"names": [obscure[i % obscure.len()]], "action": a}));
    }
    for op in strings(&s["operators"]) {
        syscalls.push(json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 12345, "op": op}]}));
    }
    let t = env.test("features-seccomp");
    let mut b = t.bundle().with_probe(&["exit", "0"]);
    // libseccomp cannot mix byte orders in one filter: try the listed archs of this host's family.
    let native = [
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_ARM",
    ];
    let archs: Vec<String> = strings(&s["archs"])
        .into_iter()
        .filter(|a| {
            if cfg!(target_arch = "x86_64") {
                native[..3].contains(&a.as_str())
            } else {
                native[3..].contains(&a.as_str())
            }
        })
        .collect();
    notes.push("only this host's arch family tried (libseccomp will not mix byte orders)");
    b.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": archs, "syscalls": syscalls}),
    );
    let out = env.rt(&t).run(&b);
    ensure!(
        out.code == 0,
        "a profile with every listed action, operator and arch failed: {}",
        err_text(&out)
    );
    Ok(notes.join("; "))
}
