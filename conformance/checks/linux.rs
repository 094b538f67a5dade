//! config-linux.md (namespaces, user namespace mappings, devices, cgroups path and device
//! rules, seccomp) and runtime-linux.md (the /dev symlinks).

use super::lifecycle::NsHolder;
use super::{create_must_fail, ensure, ns_of, Env, Res, Why};
use crate::harness::compare::mount_at;
use crate::harness::{Bundle, Runtime};
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn report(rt: &Runtime, b: &Bundle) -> Result<Value, Why> {
    let out = rt.run(&b.with_probe(&[]));
    ensure!(out.code == 0, "the container failed:\n{out}");
    serde_json::from_str(out.stdout.trim())
        .map_err(|e| Why::Fail(format!("probe printed no JSON ({e}):\n{out}")))
}

fn check(rt: &Runtime, b: &Bundle, paths: &[&str]) -> Result<Vec<Value>, Why> {
    let mut args = vec!["check"];
    args.extend_from_slice(paths);
    let out = rt.run(&b.with_probe(&args));
    ensure!(out.code == 0, "the container failed:\n{out}");
    let v: Value = serde_json::from_str(out.stdout.trim())
        .map_err(|e| Why::Fail(format!("probe printed no JSON ({e}):\n{out}")))?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

/// config.json namespace type -> /proc/<pid>/ns name.
fn proc_name(ty: &str) -> &str {
    match ty {
        "network" => "net",
        "mount" => "mnt",
        other => other,
    }
}

fn without_ns(b: &mut Bundle, types: &[&str]) {
    let nss: Vec<Value> = b
        .get("/linux/namespaces")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| !types.iter().any(|t| n["type"] == *t))
        .collect();
    b.set("/linux/namespaces", json!(nss));
}

fn userns(b: &mut Bundle) {
    b.push("/linux/namespaces", json!({"type": "user"}));
    b.set(
        "/linux/uidMappings",
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
    );
    b.set(
        "/linux/gidMappings",
        json!([{"containerID": 0, "hostID": 200000, "size": 65536}]),
    );
}

pub fn default_filesystems(env: &Env) -> Res {
    let t = env.test("default-fs");
    let r = report(env.rt(&t), &t.bundle())?;
    for (path, ty) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
    ] {
        let m =
            mount_at(&r, path).ok_or_else(|| Why::Fail(format!("nothing mounted at {path}")))?;
        ensure!(m["fstype"] == ty, "{path} is {} (want {ty})", m["fstype"]);
    }
    Ok(String::new())
}

pub fn ns_path_relative_fails(env: &Env) -> Res {
    let t = env.test("ns-relpath");
    let holder = NsHolder::new("--uts");
    let mut b = t.bundle();
    without_ns(&mut b, &["uts"]);
    b.remove("/hostname");
    b.push(
        "/linux/namespaces",
        json!({"type": "uts", "path": holder.ns("uts").trim_start_matches('/')}),
    );
    create_must_fail(env.rt(&t), &b)
}

pub fn ns_path_joined(env: &Env) -> Res {
    let t = env.test("ns-join");
    let holder = NsHolder::new("--uts");
    let want = std::fs::read_link(holder.ns("uts"))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut b = t.bundle();
    without_ns(&mut b, &["uts"]);
    b.remove("/hostname");
    b.push(
        "/linux/namespaces",
        json!({"type": "uts", "path": holder.ns("uts")}),
    );
    let r = report(env.rt(&t), &b)?;
    ensure!(
        r["namespaces"]["uts"] == want.as_str(),
        "uts is {} (want {want})",
        r["namespaces"]["uts"]
    );
    Ok(String::new())
}

pub fn ns_path_wrong_type_fails(env: &Env) -> Res {
    let t = env.test("ns-wrongtype");
    let holder = NsHolder::new("--uts");
    let mut b = t.bundle();
    without_ns(&mut b, &["uts"]);
    b.remove("/hostname");
    b.push(
        "/linux/namespaces",
        json!({"type": "uts", "path": holder.ns("ipc")}),
    );
    create_must_fail(env.rt(&t), &b)
}

pub fn ns_new_without_path(env: &Env) -> Res {
    let t = env.test("ns-new");
    let mut b = t.bundle();
    b.push("/linux/namespaces", json!({"type": "cgroup"}));
    let types: Vec<String> = b
        .get("/linux/namespaces")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["type"].as_str().map(str::to_string))
        .collect();
    let r = report(env.rt(&t), &b)?;
    for ty in &types {
        let n = proc_name(ty);
        ensure!(
            r["namespaces"][n]
                .as_str()
                .is_some_and(|s| s != ns_of("self", n)),
            "{ty}: the container shares the runtime's namespace {}",
            r["namespaces"][n]
        );
    }
    Ok(format!("new: {}", types.join(" ")))
}

pub fn ns_inherited_when_absent(env: &Env) -> Res {
    let t = env.test("ns-inherit");
    let mut b = t.bundle();
    without_ns(&mut b, &["network", "ipc"]);
    let r = report(env.rt(&t), &b)?;
    for n in ["net", "ipc"] {
        ensure!(
            r["namespaces"][n] == ns_of("self", n).as_str(),
            "{n} not listed, but the container has {} (runtime's: {})",
            r["namespaces"][n],
            ns_of("self", n)
        );
    }
    Ok(String::new())
}

pub fn ns_duplicate_fails(env: &Env) -> Res {
    let t = env.test("ns-dup");
    let mut b = t.bundle();
    b.push("/linux/namespaces", json!({"type": "uts"}));
    create_must_fail(env.rt(&t), &b)
}

pub fn ns_types_supported(env: &Env) -> Res {
    let t = env.test("ns-all");
    let mut b = t.bundle();
    without_ns(&mut b, &["user", "cgroup", "time"]);
    userns(&mut b);
    b.push("/linux/namespaces", json!({"type": "cgroup"}));
    b.push("/linux/namespaces", json!({"type": "time"}));
    let r = report(env.rt(&t), &b)?;
    for ty in [
        "pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time",
    ] {
        let n = proc_name(ty);
        ensure!(
            r["namespaces"][n]
                .as_str()
                .is_some_and(|s| s != ns_of("self", n)),
            "{ty}: not a new namespace: {}",
            r["namespaces"][n]
        );
    }
    Ok(String::new())
}

pub fn userns_no_chown(env: &Env) -> Res {
    let t = env.test("userns-chown");
    let mut b = t.bundle().with_probe(&["exit", "0"]);
    userns(&mut b);
    let owners = |b: &Bundle| -> Vec<(String, u32, u32)> {
        ["", "probe", "bin", "bin/busybox", "etc/passwd", "tmp"]
            .iter()
            .map(|p| {
                let m = std::fs::symlink_metadata(b.rootfs().join(p)).unwrap();
                (p.to_string(), m.uid(), m.gid())
            })
            .collect()
    };
    let before = owners(&b);
    let out = env.rt(&t).run(&b);
    ensure!(
        out.code == 0,
        "the user-namespaced container failed:\n{out}"
    );
    let after = owners(&b);
    ensure!(
        before == after,
        "rootfs ownership changed: {before:?} -> {after:?}"
    );
    Ok(String::new())
}

pub fn devices_available(env: &Env) -> Res {
    let t = env.test("devices");
    let mut b = t.bundle();
    b.push("/linux/devices", json!({"path": "/dev/conf-null", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 0, "gid": 0}));
    b.push(
        "/linux/resources/devices",
        json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}),
    );
    let c = check(env.rt(&t), &b, &["/dev/conf-null"])?;
    let d = &c[0];
    ensure!(
        d["type"] == "char" && d["rdev_major"] == 1 && d["rdev_minor"] == 3 && d["mode"] == "0666",
        "/dev/conf-null is not char 1:3 mode 0666: {d}"
    );
    ensure!(
        d["open_read_errno"] == 0,
        "/dev/conf-null cannot be opened: {d}"
    );
    Ok(String::new())
}

pub fn device_path_conflict_fails(env: &Env) -> Res {
    let t = env.test("device-conflict");
    let mut b = t.bundle();
    b.put_file("conf-dev", "a regular file", 0o644);
    b.push(
        "/linux/devices",
        json!({"path": "/conf-dev", "type": "c", "major": 1, "minor": 3, "fileMode": 438}),
    );
    let r = create_must_fail(env.rt(&t), &b);
    let content = std::fs::read_to_string(b.rootfs().join("conf-dev")).unwrap_or_default();
    if r.is_ok() {
        ensure!(
            content == "a regular file",
            "the existing file in the rootfs was changed"
        );
    }
    r
}

pub fn default_devices(env: &Env) -> Res {
    let t = env.test("default-devices");
    let devs = [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
        ("/dev/ptmx", 5, 2),
    ];
    let paths: Vec<&str> = devs.iter().map(|d| d.0).collect();
    let c = check(env.rt(&t), &t.bundle(), &paths)?;
    let mut wrong = Vec::new();
    for ((path, major, minor), d) in devs.iter().zip(&c) {
        let ok = if *path == "/dev/ptmx" && d["type"] == "symlink" {
            d["symlink_target"] == "pts/ptmx" || d["symlink_target"] == "/dev/pts/ptmx"
        } else {
            d["type"] == "char" && d["rdev_major"] == *major && d["rdev_minor"] == *minor
        };
        if !ok {
            wrong.push(format!("{path}: {d}"));
        }
    }
    ensure!(
        wrong.is_empty(),
        "default devices missing or wrong:\n{}",
        wrong.join("\n")
    );
    Ok(String::new())
}

/// The cgroup directory (v1 `pids` hierarchy, else v2) at `/keel-it/<name>`.
fn cgroup_dir(name: &str) -> std::path::PathBuf {
    let v1 = Path::new("/sys/fs/cgroup/pids/keel-it").join(name);
    if Path::new("/sys/fs/cgroup/pids").is_dir() {
        v1
    } else {
        Path::new("/sys/fs/cgroup/keel-it").join(name)
    }
}

fn procs(dir: &Path) -> Vec<i64> {
    super::read(&dir.join("cgroup.procs"))
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

pub fn cgroups_path_absolute(env: &Env) -> Res {
    let t = env.test("cg-abs");
    let rt = env.rt(&t);
    let b = t.bundle().with_probe(&["sleep", "30"]);
    ensure!(rt.create(&b).code == 0, "create failed");
    let pid = super::pid_of(rt, &b.id);
    let dir = cgroup_dir(&b.id);
    ensure!(
        procs(&dir).contains(&pid),
        "cgroupsPath /keel-it/{}: pid {pid} is not in {} (relative to the cgroup mount point)",
        b.id,
        dir.display()
    );
    Ok(String::new())
}

pub fn cgroups_path_consistent(env: &Env) -> Res {
    let t = env.test("cg-same");
    let rt = env.rt(&t);
    let a = t.bundle().with_probe(&["sleep", "30"]);
    let path = a.get("/linux/cgroupsPath").cloned().unwrap();
    let mut seen = Vec::new();
    for mut b in [a.clone(), t.bundle().with_probe(&["sleep", "30"])] {
        b.set("/linux/cgroupsPath", path.clone());
        ensure!(rt.create(&b).code == 0, "create failed");
        let pid = super::pid_of(rt, &b.id);
        let cg = super::read(Path::new(&format!("/proc/{pid}/cgroup")));
        let line = cg
            .lines()
            .find(|l| l.contains(":pids:") || l.starts_with("0::"))
            .unwrap_or("")
            .to_string();
        seen.push(line);
        rt.delete_force(&b.id);
    }
    ensure!(
        seen[0] == seen[1] && !seen[0].is_empty(),
        "the same cgroupsPath gave {seen:?}"
    );
    Ok(String::new())
}

pub fn cgroups_v1_no_chown(env: &Env) -> Res {
    if !Path::new("/sys/fs/cgroup/pids").is_dir() {
        return Err(Why::Skip("cgroup v1 is not in use on this host".into()));
    }
    let t = env.test("cg-chown");
    let rt = env.rt(&t);
    let mut b = t.bundle().with_probe(&["sleep", "30"]);
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    b.push("/linux/namespaces", json!({"type": "cgroup"}));
    ensure!(rt.create(&b).code == 0, "create failed");
    let dir = cgroup_dir(&b.id);
    let m = std::fs::metadata(&dir).map_err(|e| Why::Fail(format!("{}: {e}", dir.display())))?;
    let procs = std::fs::metadata(dir.join("cgroup.procs"))
        .map(|m| m.uid())
        .unwrap_or(0);
    ensure!(
        m.uid() == 0 && procs == 0,
        "{} is owned by uid {} (cgroup.procs by {procs})",
        dir.display(),
        m.uid()
    );
    Ok(String::new())
}

pub fn device_rules_in_order(env: &Env) -> Res {
    // A char major no driver has (harness::host::unused_char_major): an allowed open fails with
    // ENXIO (6), a denied one with EPERM (1).
    let t = env.test("dev-rules");
    let rt = env.rt(&t);
    let Some(major) = crate::harness::host::unused_char_major() else {
        return Err(Why::Skip(
            "every char major 234-254 has a driver: no device without one".into(),
        ));
    };
    let dev =
        json!({"path": "/dev/conf-dev", "type": "c", "major": major, "minor": 7, "fileMode": 438});
    let allow = json!({"allow": true, "type": "c", "major": major, "minor": 7, "access": "rwm"});
    let deny_w = json!({"allow": false, "type": "c", "major": major, "minor": 7, "access": "w"});
    let mut got = Vec::new();
    for rules in [[allow.clone(), deny_w.clone()], [deny_w, allow]] {
        let mut b = t.bundle();
        b.push("/linux/devices", dev.clone());
        b.set(
            "/linux/resources/devices",
            json!([{"allow": false, "access": "rwm"}, rules[0], rules[1]]),
        );
        let c = check(rt, &b, &["/dev/conf-dev"])?;
        got.push((
            c[0]["open_read_errno"].clone(),
            c[0]["open_write_errno"].clone(),
        ));
    }
    ensure!(
        got[0] == (json!(6), json!(1)) && got[1] == (json!(6), json!(6)),
        "(read errno, write errno) for [allow rwm, deny w] and [deny w, allow rwm]: {got:?}; \
         want (6, 1) then (6, 6)"
    );
    Ok(String::new())
}

pub fn seccomp_errno_unsupported_action_fails(env: &Env) -> Res {
    let t = env.test("seccomp-errno");
    let mut b = t.bundle();
    b.set("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]}));
    create_must_fail(env.rt(&t), &b)
}

pub fn dev_symlinks(env: &Env) -> Res {
    let t = env.test("dev-symlinks");
    let want = [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ];
    let paths: Vec<&str> = want.iter().map(|w| w.0).collect();
    let c = check(env.rt(&t), &t.bundle(), &paths)?;
    for ((path, target), d) in want.iter().zip(&c) {
        ensure!(
            d["type"] == "symlink" && d["symlink_target"] == *target,
            "{path}: {d}"
        );
    }
    Ok(String::new())
}
