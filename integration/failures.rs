//! Failures: each checks the error text and that nothing was left behind.
//!
//! Two kinds of checks:
//! * runc-compatible: the runtime under test must print runc's substring (drop-in replacement);
//! * keel-specific (`keel_message`): keel must name the config field (e.g. `mounts[7]`); runc
//!   only has to fail on the same bundle. These fail when the runtime under test is runc.

use crate::harness::runtime::{wait_timeout, INVOKE_TIMEOUT};
use crate::harness::{assert_nothing_left, Bundle, Out, Test};
use serde_json::json;
use std::time::Duration;

/// `create` must fail with `needle` in the error (runc-compatible text), for both runtimes.
fn create_fails_like_runc(t: &Test, b: &Bundle, needle: &str) -> Out {
    let out = t.rt.create(b);
    out.fails_with(needle);
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
    t.runc.create(b).fails_with(needle);
    assert_nothing_left(&t.runc.root, &b.id, &b.dir);
    out
}

/// keel-specific: the runtime under test must fail naming `needle`; runc must fail too.
fn keel_message(t: &Test, b: &Bundle, needle: &str) -> Out {
    let theirs = t.runc.create(b);
    theirs.failed();
    assert_nothing_left(&t.runc.root, &b.id, &b.dir);
    let out = t.rt.create(b);
    out.failed();
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
    assert!(
        out.stderr.contains(needle),
        "keel-specific check: the error must name {needle:?} (runc said: {:?}):\n{out}",
        theirs.stderr.trim()
    );
    out
}

/// `create` without writing config.json (the bundle's config is whatever is on disk).
fn create_raw(t: &Test, b: &Bundle) -> Out {
    t.rt.register(b);
    t.rt.invoke(&["create", "--bundle", b.dir_str(), &b.id])
}

#[test]
fn config_json_missing() {
    let t = Test::new("fail-noconfig");
    let b = t.bundle();
    assert!(!b.config_path().exists());
    let out = create_raw(&t, &b);
    out.fails_with("config.json");
    // runc: "JSON specification file config.json not found"
    out.fails_with("not found");
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
}

#[test]
fn config_json_malformed() {
    let t = Test::new("fail-badjson");
    let b = t.bundle();
    std::fs::write(b.config_path(), "{\"ociVersion\": \"1.0.2\",").unwrap();
    let out = create_raw(&t, &b);
    out.failed();
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
    t.runc.register(&b);
    t.runc
        .invoke(&["create", "--bundle", b.dir_str(), &b.id])
        .failed();
    // keel-specific: name the file (runc says only "unexpected EOF").
    assert!(
        out.stderr.contains("config.json"),
        "keel-specific check: the error must name config.json:\n{out}"
    );
}

#[test]
fn config_json_wrong_type() {
    let t = Test::new("fail-badtype");
    let mut b = t.bundle();
    b.set("/process", json!(5));
    let out = keel_message(&t, &b, "process");
    assert!(
        out.stderr.contains("config.json"),
        "keel-specific check: the error must name config.json:\n{out}"
    );
}

#[test]
fn unknown_namespace_type() {
    let t = Test::new("fail-ns");
    let mut b = t.bundle();
    b.push("/linux/namespaces", json!({"type": "foo"}));
    // runc: namespace {"foo" ""} does not exist
    keel_message(&t, &b, "linux.namespaces[5].type");
}

#[test]
fn bind_mount_source_missing() {
    let t = Test::new("fail-bind");
    let mut b = t.bundle();
    let missing = t.dir.join("no-such-source");
    b.push(
        "/mounts",
        json!({"destination": "/data", "type": "bind", "source": missing, "options": ["bind"]}),
    );
    // Both name the source; keel also names the mounts[] entry.
    // runc: error mounting "<src>" to rootfs at "/data": stat <src>: no such file or directory
    let out = keel_message(&t, &b, "mounts[7]");
    assert!(
        out.stderr.contains(missing.to_str().unwrap()),
        "the error does not name the source:\n{out}"
    );
    t.runc.create(&b).fails_with(missing.to_str().unwrap());
}

#[test]
fn rootfs_missing() {
    let t = Test::new("fail-rootfs");
    let mut b = t.bundle();
    b.set("/root/path", json!("nonexistent"));
    // runc: invalid rootfs: stat <bundle>/nonexistent: no such file or directory
    create_fails_like_runc(&t, &b, "nonexistent");
}

#[test]
fn executable_not_in_path() {
    let t = Test::new("fail-nocmd");
    let mut b = t.bundle();
    b.args(&["no-such-command"]);
    let out = create_fails_like_runc(&t, &b, "executable file not found in $PATH");
    out.fails_with("no-such-command");
    let out = t.rt.run(&b);
    out.fails_with("executable file not found in $PATH");
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
}

#[test]
fn executable_absolute_path_missing() {
    let t = Test::new("fail-noabs");
    let mut b = t.bundle();
    b.args(&["/no/such/binary"]);
    let out = create_fails_like_runc(&t, &b, "/no/such/binary");
    assert!(
        out.stderr
            .to_lowercase()
            .contains("no such file or directory"),
        "the error does not give the errno text:\n{out}"
    );
}

#[test]
fn duplicate_id() {
    let t = Test::new("fail-dup");
    let b = t.bundle().with_probe(&["sleep", "30"]);
    t.rt.create(&b).ok();
    t.rt.create(&b)
        .fails_with("container with given ID already exists");
    // The first container is untouched.
    assert_eq!(t.rt.status(&b.id), "created");
    t.rt.run(&b)
        .fails_with("container with given ID already exists");
    t.rt.delete_force(&b.id).ok();
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
}

#[test]
fn unknown_id() {
    let t = Test::new("fail-unknown");
    for args in [
        vec!["state", "nope"],
        vec!["kill", "nope", "KILL"],
        vec!["delete", "nope"],
        vec!["start", "nope"],
    ] {
        let out = t.rt.invoke(&args);
        out.fails_with("does not exist");
        assert_eq!(out.code, 1, "{out}");
        t.runc.invoke(&args).fails_with("does not exist");
    }
    // `delete --force` of an unknown id succeeds quietly in runc (exit 0).
    let theirs = t.runc.invoke(&["delete", "--force", "nope"]);
    assert_eq!(theirs.code, 0, "runc changed: {theirs}");
    t.rt.invoke(&["delete", "--force", "nope"]).ok();
}

#[test]
fn kill_stopped_container() {
    let t = Test::new("fail-kill-stopped");
    let b = t.bundle().with_probe(&["exit", "0"]);
    t.rt.create(&b).ok();
    t.rt.start(&b.id).ok();
    t.rt.wait_status(&b.id, "stopped", Duration::from_secs(10));
    t.rt.kill(&b.id, Some("KILL"))
        .fails_with("container not running");
    t.rt.start(&b.id)
        .fails_with("cannot start a container that has stopped");
    t.rt.delete(&b.id).ok();
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
}

#[test]
fn start_running_container() {
    let t = Test::new("fail-start-running");
    let b = t.bundle().with_probe(&["sleep", "30"]);
    t.rt.run_detached(&b).ok();
    t.rt.start(&b.id)
        .fails_with("cannot start an already running container");
}

#[test]
fn kill_unknown_signal() {
    let t = Test::new("fail-signal");
    let b = t.bundle().with_probe(&["sleep", "30"]);
    t.rt.create(&b).ok();
    t.rt.kill(&b.id, Some("NOTASIGNAL"))
        .fails_with("unknown signal");
    assert_eq!(t.rt.status(&b.id), "created");
}

#[test]
fn delete_running_needs_force() {
    let t = Test::new("fail-delete-running");
    let b = t.bundle().with_probe(&["sleep", "30"]);
    t.rt.run_detached(&b).ok();
    let pid = t.rt.state_json(&b.id)["pid"].as_i64().unwrap();
    // runc: cannot delete container <id> that is not stopped: running
    t.rt.delete(&b.id).fails_with("is not stopped");
    assert_eq!(t.rt.status(&b.id), "running");
    t.rt.delete_force(&b.id).ok();
    t.rt.state(&b.id).fails_with("does not exist");
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "container process {pid} survived delete --force: {stat}"
    );
}

#[test]
fn delete_created_container_without_force() {
    // runc deletes a created (never started) container without --force, killing its init.
    let t = Test::new("delete-created");
    let b = t.bundle().with_probe(&["sleep", "30"]);
    t.rt.create(&b).ok();
    let pid = t.rt.state_json(&b.id)["pid"].as_i64().unwrap_or(0);
    assert!(pid > 0);
    t.rt.delete(&b.id).ok();
    t.rt.state(&b.id).fails_with("does not exist");
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
}

/// runc 1.1.5 does not pass this reliably: both creates can lose ("exec fifo ... already
/// exists" / "unable to store init state"), so it may fail against runc.
#[test]
fn concurrent_creates_with_the_same_id() {
    let t = Test::new("fail-race");
    for round in 0..5 {
        let b = t.bundle().with_probe(&["sleep", "30"]);
        b.write();
        t.rt.register(&b);
        let args = ["create", "--bundle", b.dir_str(), &b.id];
        let (mut c1, s1, o1, e1) = t.rt.spawn_captured(t.rt.command(&args), "create-a");
        let (mut c2, s2, o2, e2) = t.rt.spawn_captured(t.rt.command(&args), "create-b");
        let r1 = wait_timeout(&mut c1, INVOKE_TIMEOUT, &s1);
        let r2 = wait_timeout(&mut c2, INVOKE_TIMEOUT, &s2);
        let text = |o: &std::path::Path, e: &std::path::Path| {
            format!(
                "{}{}",
                std::fs::read_to_string(o).unwrap_or_default(),
                std::fs::read_to_string(e).unwrap_or_default()
            )
        };
        let ok = [r1.success(), r2.success()];
        assert_eq!(
            ok.iter().filter(|s| **s).count(),
            1,
            "round {round}: exactly one create must succeed: {r1} {:?} / {r2} {:?}",
            text(&o1, &e1),
            text(&o2, &e2)
        );
        assert_eq!(
            t.rt.status(&b.id),
            "created",
            "round {round}: the winner was damaged"
        );
        t.rt.start(&b.id).ok();
        assert_eq!(t.rt.status(&b.id), "running", "round {round}");
        t.rt.delete_force(&b.id).ok();
        assert_nothing_left(&t.rt.root, &b.id, &b.dir);
    }
}

#[test]
fn invalid_container_ids() {
    let t = Test::new("fail-badid");
    let b = t.bundle();
    b.write();
    for id in ["../x", "a/b", "..", "with space"] {
        let out = t.rt.invoke(&["create", "--bundle", b.dir_str(), id]);
        out.fails_with("invalid container ID format");
        t.runc
            .invoke(&["create", "--bundle", b.dir_str(), id])
            .fails_with("invalid container ID format");
    }
    // Nothing escaped the state root.
    assert!(
        !t.dir.join("x").exists(),
        "`../x` created something outside --root"
    );
    assert!(!t.rt.root.join("a").exists());
    let out = t.rt.invoke(&["create", "--bundle", b.dir_str(), ""]);
    out.fails_with("container id cannot be empty");
    assert!(!t
        .dir
        .join("io")
        .read_dir()
        .unwrap()
        .any(|e| e.unwrap().file_name() == "x"));
}

#[test]
fn invalid_rlimit_type() {
    let t = Test::new("fail-rlimit");
    let mut b = t.bundle();
    b.push(
        "/process/rlimits",
        json!({"type": "RLIMIT_FOO", "soft": 1, "hard": 1}),
    );
    // runc: wrong rlimit value: RLIMIT_FOO
    create_fails_like_runc(&t, &b, "RLIMIT_FOO");
}

#[test]
fn relative_cwd() {
    let t = Test::new("fail-cwd");
    let mut b = t.bundle();
    b.set("/process/cwd", json!("relative"));
    // runc: Cwd must be an absolute path
    create_fails_like_runc(&t, &b, "absolute");
}

/// Removes the `linux.namespaces` entry of type `ty`.
fn remove_namespace(b: &mut Bundle, ty: &str) {
    let i = b
        .get("/linux/namespaces")
        .and_then(|n| n.as_array())
        .and_then(|a| a.iter().position(|n| n["type"] == ty));
    let i = i.unwrap_or_else(|| panic!("the base spec has no {ty} namespace"));
    b.remove(&format!("/linux/namespaces/{i}"));
}

#[test]
fn sysctl_not_namespaced() {
    let t = Test::new("fail-sysctl");
    let mut b = t.bundle();
    b.set("/linux/sysctl", json!({"vm.swappiness": "10"}));
    // runc: sysctl "vm.swappiness" is not in a separate kernel namespace
    keel_message(&t, &b, "linux.sysctl.vm.swappiness");
    t.runc.create(&b).fails_with("vm.swappiness");
}

#[test]
fn hostname_without_uts_namespace() {
    let t = Test::new("fail-hostname");
    let mut b = t.bundle();
    remove_namespace(&mut b, "uts");
    assert_eq!(b.get("/hostname"), Some(&json!("runc")));
    // runc: unable to set hostname without a private UTS namespace
    keel_message(&t, &b, "hostname");
    t.runc.create(&b).fails_with("hostname");
}

#[test]
fn user_namespace_without_uid_mappings() {
    let t = Test::new("fail-userns");
    let mut b = t.bundle();
    b.push("/linux/namespaces", json!({"type": "user"}));
    keel_message(&t, &b, "linux.uidMappings");
}

/// Failures inside init, after the mounts are made: nothing may be left behind (mounts, cgroup,
/// state dir, process), under either runtime.
#[test]
fn init_failure_after_mounts_leaves_nothing() {
    let t = Test::new("fail-in-init");
    // (patch, what keel's error must contain, what runc's contains)
    type Case = (fn(&mut Bundle), &'static [&'static str], &'static str);
    let cases: [Case; 2] = [
        (
            |b| {
                b.set("/process/cwd", json!("/etc/passwd"));
            },
            // runc: chdir to cwd ("/etc/passwd") set in config.json failed: not a directory
            &["/etc/passwd", "ot a directory"],
            "not a directory",
        ),
        (
            |b| {
                b.set(
                    "/linux/sysctl",
                    json!({"net.ipv4.ip_forward": "not-a-number"}),
                );
            },
            // runc: write /proc/sys/net/ipv4/ip_forward: invalid argument
            &["linux.sysctl.net.ipv4.ip_forward", "nvalid argument"],
            "/proc/sys/net/ipv4/ip_forward: invalid argument",
        ),
    ];
    for (patch, ours_needles, runc_needle) in cases {
        let mut b = t.bundle();
        patch(&mut b);
        let out = t.rt.create(&b);
        for n in ours_needles {
            out.fails_with(n);
        }
        assert_nothing_left(&t.rt.root, &b.id, &b.dir);
        t.rt.run(&b).fails_with(ours_needles[0]);
        assert_nothing_left(&t.rt.root, &b.id, &b.dir);
        t.runc.create(&b).fails_with(runc_needle);
        assert_nothing_left(&t.runc.root, &b.id, &b.dir);
    }
}
