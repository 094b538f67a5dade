//! linux.namespaces, uid/gid mappings, timeOffsets, joining a namespace by path.

use crate::harness::compare::host_namespaces;
use crate::harness::Test;
use serde_json::json;
use std::time::Duration;

fn ns(report: &serde_json::Value, t: &str) -> String {
    report["namespaces"][t]
        .as_str()
        .unwrap_or_else(|| panic!("no {t} namespace in report: {}", report["namespaces"]))
        .to_string()
}

#[test]
fn default_namespaces_are_new_except_user_cgroup_time() {
    let t = Test::new("ns-default");
    let (ours, _) = t.compare_with_runc(|_| {});
    let host = host_namespaces();
    for ty in ["pid", "mnt", "ipc", "uts", "net", "pid_for_children"] {
        assert_ne!(
            Some(ns(&ours, ty)),
            host[ty],
            "{ty} namespace is the host's"
        );
    }
    // The default spec does not ask for these.
    for ty in ["user", "cgroup", "time"] {
        if ty == "time" && !crate::harness::host::time_namespaces() {
            continue;
        }
        assert_eq!(
            Some(ns(&ours, ty)),
            host[ty],
            "{ty} namespace is not the host's"
        );
    }
}

#[test]
fn pid_namespace_makes_the_process_pid_1() {
    let t = Test::new("ns-pid1");
    let r = t.rt.probe(&t.bundle(), &[]);
    assert_eq!(r["pid"], 1, "pid inside: {}", r["pid"]);
    assert_eq!(r["ppid"], 0, "ppid inside: {}", r["ppid"]);
}

#[test]
fn without_pid_namespace_the_pid_is_the_hosts() {
    let t = Test::new("ns-nopid");
    let mut b = t.bundle();
    b.remove("/linux/namespaces/0"); // {"type": "pid"}
    let r = t.rt.probe(&b, &[]);
    assert_eq!(Some(ns(&r, "pid")), host_namespaces()["pid"]);
    assert!(r["pid"].as_i64().unwrap_or(0) > 1, "pid {}", r["pid"]);
}

#[test]
fn cgroup_namespace() {
    let t = Test::new("ns-cgroup");
    let (ours, _) = t.compare_with_runc(|b| {
        b.push("/linux/namespaces", json!({"type": "cgroup"}));
    });
    assert_ne!(
        Some(ns(&ours, "cgroup")),
        host_namespaces()["cgroup"],
        "cgroup namespace is the host's"
    );
    // Inside its own cgroup namespace the container's cgroups are the roots.
    let lines: Vec<&str> = ours["cgroup"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(
            l.ends_with(":/"),
            "cgroup line not at the namespace root: {l} (all: {lines:?})"
        );
    }
}

#[test]
fn without_cgroup_namespace_the_cgroup_path_is_visible() {
    if !crate::harness::host::hybrid_or_skip(
        "namespaces::without_cgroup_namespace_the_cgroup_path_is_visible",
    ) {
        return;
    }
    let t = Test::new("ns-nocgroup");
    let b = t.bundle();
    let r = t.rt.probe(&b, &[]);
    let want = format!(":/keel-it/{}", b.id);
    let lines: Vec<&str> = r["cgroup"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    for ctrl in ["memory", "pids", "devices", "freezer", "cpu"] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!(":{ctrl}")) && l.ends_with(&want)),
            "{ctrl} cgroup is not /keel-it/{}: {lines:?}",
            b.id
        );
    }
}

/// runc 1.1.5 does not support time namespaces: it fails with `namespace {"time" ""} does not
/// exist`, so this test fails against runc.
#[test]
fn time_namespace_with_offsets() {
    let t = Test::new("ns-time");
    let mut b = t.bundle();
    b.push("/linux/namespaces", json!({"type": "time"}));
    b.set(
        "/linux/timeOffsets",
        json!({"monotonic": {"secs": 86400, "nanosecs": 0}, "boottime": {"secs": 172800, "nanosecs": 0}}),
    );
    if !crate::harness::host::time_namespaces() {
        // No CONFIG_TIME_NS (or a kernel before 5.6): keel must refuse the namespace.
        t.rt.run(&b.with_probe(&[])).failed();
        return;
    }
    // CLOCK_MONOTONIC as the host sees it (/proc/uptime is boottime, ahead after a suspend).
    let host_mono = crate::harness::probe_on_host(&[])["clocks"]["monotonic_s"]
        .as_i64()
        .unwrap();
    let r = t.rt.probe(&b, &[]);
    let host = host_namespaces();
    assert_ne!(
        Some(ns(&r, "time")),
        host["time"],
        "time namespace is the host's"
    );
    let mono = r["clocks"]["monotonic_s"].as_i64().unwrap_or(-1);
    let boot = r["clocks"]["boottime_s"].as_i64().unwrap_or(-1);
    assert!(
        mono >= host_mono + 86400 - 5 && mono <= host_mono + 86400 + 60,
        "monotonic {mono} vs host {host_mono}"
    );
    assert!(
        boot >= host_mono + 172800 - 5 && boot <= host_mono + 172800 + 60,
        "boottime {boot} vs host {host_mono}"
    );
    let offsets = t.rt.probe(&b, &["read", "/proc/self/timens_offsets"]);
    let text = offsets["/proc/self/timens_offsets"]
        .as_str()
        .unwrap_or_else(|| panic!("{offsets}"));
    assert!(
        text.contains("86400") && text.contains("172800"),
        "timens_offsets: {text}"
    );
}

pub(crate) fn userns_patch(b: &mut crate::harness::Bundle) {
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

#[test]
fn user_namespace_mappings_inside() {
    let t = Test::new("ns-user");
    let (ours, _) = t.compare_with_runc(userns_patch);
    assert_ne!(
        Some(ns(&ours, "user")),
        host_namespaces()["user"],
        "user namespace is the host's"
    );
    assert_eq!(ours["uid"], 0);
    assert_eq!(ours["gid"], 0);
    let mut b = t.bundle();
    userns_patch(&mut b);
    let maps =
        t.rt.probe(&b, &["read", "/proc/self/uid_map", "/proc/self/gid_map"]);
    let norm = |s: &serde_json::Value| {
        s.as_str()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        norm(&maps["/proc/self/uid_map"]),
        "0 100000 65536",
        "{maps}"
    );
    assert_eq!(
        norm(&maps["/proc/self/gid_map"]),
        "0 200000 65536",
        "{maps}"
    );
}

#[test]
fn user_namespace_ids_seen_from_the_host() {
    let t = Test::new("ns-user-host");
    let mut b = t.bundle().with_probe(&["sleep", "30"]);
    userns_patch(&mut b);
    t.rt.run_detached(&b).ok();
    let pid = t.rt.state_json(&b.id)["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .unwrap_or("")
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        field("Uid:"),
        ["100000"; 4],
        "host view of the container's uids:\n{status}"
    );
    assert_eq!(
        field("Gid:"),
        ["200000"; 4],
        "host view of the container's gids:\n{status}"
    );
    t.rt.kill(&b.id, Some("KILL")).ok();
    t.rt.wait_status(&b.id, "stopped", Duration::from_secs(10));
}

#[test]
fn join_network_namespace_by_path() {
    let t = Test::new("ns-join");
    let first = t.bundle().with_probe(&["sleep", "30"]);
    t.rt.run_detached(&first).ok();
    let pid = t.rt.state_json(&first.id)["pid"].as_i64().unwrap();
    let net_path = format!("/proc/{pid}/ns/net");
    let want = std::fs::read_link(&net_path)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_ne!(
        Some(want.clone()),
        host_namespaces()["net"],
        "first container's net namespace is the host's"
    );

    let mut second = t.bundle();
    second.set(
        "/linux/namespaces/1",
        json!({"type": "network", "path": net_path}),
    );
    assert_eq!(
        second.get("/linux/namespaces/1/type"),
        Some(&json!("network"))
    );
    let r = t.rt.probe(&second, &[]);
    assert_eq!(
        ns(&r, "net"),
        want,
        "second container did not join the first's network namespace"
    );
    // The other namespaces are still its own.
    let first_uts = std::fs::read_link(format!("/proc/{pid}/ns/uts"))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_ne!(ns(&r, "uts"), first_uts);

    t.rt.kill(&first.id, Some("KILL")).ok();
    t.rt.wait_status(&first.id, "stopped", Duration::from_secs(10));
}

#[test]
fn joining_a_missing_namespace_path_fails() {
    let t = Test::new("ns-join-missing");
    let mut b = t.bundle();
    b.set(
        "/linux/namespaces/1",
        json!({"type": "network", "path": "/proc/999999999/ns/net"}),
    );
    let out = t.rt.run(&b);
    out.failed();
    assert!(
        out.stderr.contains("/proc/999999999/ns/net"),
        "error does not name the path:\n{out}"
    );
    crate::harness::assert_nothing_left(&t.rt.root, &b.id, &b.dir);
}

/// Joining a user namespace by path: the second container's new namespaces are created inside
/// the first one's user namespace, and it sees the same id mapping. runc 1.1.5 refuses this
/// bundle ("User namespaces enabled, but no uid mappings found"), so this runs against keel only.
#[test]
fn join_user_namespace_by_path() {
    let t = Test::new("ns-join-user");
    let mut first = t.bundle();
    first.push("/linux/namespaces", json!({"type": "user"}));
    first.set(
        "/linux/uidMappings",
        json!([{"containerID": 0, "hostID": 200000, "size": 65536}]),
    );
    first.set(
        "/linux/gidMappings",
        json!([{"containerID": 0, "hostID": 200000, "size": 65536}]),
    );
    let first = first.with_probe(&["sleep", "30"]);
    t.rt.run_detached(&first).ok();
    let pid = t.rt.state_json(&first.id)["pid"].as_i64().unwrap();
    let user_path = format!("/proc/{pid}/ns/user");
    let want = std::fs::read_link(&user_path)
        .unwrap()
        .to_string_lossy()
        .into_owned();

    let mut second = t.bundle();
    second.push(
        "/linux/namespaces",
        json!({"type": "user", "path": user_path}),
    );
    let r = t.rt.probe(&second, &[]);
    assert_eq!(
        ns(&r, "user"),
        want,
        "second container is not in the first's user namespace"
    );
    let m = t.rt.probe(&second, &["read", "/proc/self/uid_map"]);
    let map = m["/proc/self/uid_map"].as_str().unwrap_or("");
    assert!(
        map.split_whitespace().collect::<Vec<_>>() == ["0", "200000", "65536"],
        "uid_map {map:?}"
    );
    assert_ne!(
        ns(&r, "pid"),
        ns_of_pid(pid, "pid"),
        "the second container has its own pid namespace"
    );
    assert_eq!(r["uid"], 0);
}

fn ns_of_pid(pid: i64, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}
