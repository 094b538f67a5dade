//! /dev: default devices, symlinks, /dev/pts/ptmx, /dev/shm, linux.devices, the device cgroup.

use crate::harness::{Bundle, Test};
use serde_json::{json, Value};

const EPERM: i64 = 1;

fn by_path(list: &Value) -> std::collections::BTreeMap<String, Value> {
    list.as_array()
        .unwrap_or_else(|| panic!("check did not return a list: {list}"))
        .iter()
        .map(|c| (c["path"].as_str().unwrap().to_string(), c.clone()))
        .collect()
}

#[test]
fn default_devices() {
    let t = Test::new("dev-default");
    let devices = [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ];
    let mut args = vec!["check"];
    args.extend(devices.iter().map(|d| d.0));
    let r = by_path(&t.compare_probe_output(&args, |_| {}));
    for (path, major, minor) in devices {
        let c = &r[path];
        assert_eq!(c["exists"], true, "{path}");
        assert_eq!(c["type"], "char", "{c}");
        assert_eq!(
            (c["rdev_major"].as_i64(), c["rdev_minor"].as_i64()),
            (Some(major), Some(minor)),
            "{c}"
        );
        assert_eq!(c["mode"], "0666", "{c}");
        assert_eq!(
            (c["uid"].as_i64(), c["gid"].as_i64()),
            (Some(0), Some(0)),
            "{c}"
        );
        if path != "/dev/tty" {
            assert_eq!(c["open_read_errno"], 0, "{c}");
            assert_eq!(c["open_write_errno"], 0, "{c}");
        }
    }
    // No controlling terminal without process.terminal: /dev/tty cannot be opened (ENXIO).
    assert_eq!(r["/dev/tty"]["open_read_errno"], 6, "{}", r["/dev/tty"]);
}

#[test]
fn dev_listing_matches_runc() {
    let t = Test::new("dev-ls");
    let ls = t.compare_probe_output(&["ls", "/dev"], |_| {});
    let names: Vec<&str> = ls
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    for n in [
        "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
        "stdout", "tty", "urandom", "zero",
    ] {
        assert!(names.contains(&n), "/dev/{n} missing: {names:?}");
    }
}

#[test]
fn dev_symlinks() {
    let t = Test::new("dev-symlinks");
    let links = [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ];
    let mut args = vec!["check"];
    args.extend(links.iter().map(|l| l.0));
    // Only the links themselves: what /dev/stdin points at (a pipe from `runc run`, or the
    // caller's own stdin) legitimately differs.
    let links_only = |r: &Value| -> Vec<(String, String, String, String)> {
        by_path(r)
            .values()
            .map(|c| {
                let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
                (s("path"), s("type"), s("symlink_target"), s("mode"))
            })
            .collect()
    };
    let r = t.rt.probe(&t.bundle(), &args);
    let theirs = t.runc.probe(&t.bundle(), &args);
    assert_eq!(
        links_only(&r),
        links_only(&theirs),
        "/dev symlinks differ from runc's"
    );
    let r = by_path(&r);
    for (path, target) in links {
        assert_eq!(r[path]["type"], "symlink", "{}", r[path]);
        assert_eq!(r[path]["symlink_target"], target, "{}", r[path]);
    }
}

#[test]
fn dev_pts_ptmx_and_shm() {
    let t = Test::new("dev-pts-shm");
    let r = by_path(&t.compare_probe_output(
        &[
            "check",
            "/dev/pts/ptmx",
            "/dev/shm",
            "/dev/mqueue",
            "/dev/pts",
        ],
        |_| {},
    ));
    let ptmx = &r["/dev/pts/ptmx"];
    assert_eq!(
        (
            ptmx["type"].as_str(),
            ptmx["rdev_major"].as_i64(),
            ptmx["rdev_minor"].as_i64()
        ),
        (Some("char"), Some(5), Some(2)),
        "{ptmx}"
    );
    assert_eq!(ptmx["mode"], "0666", "ptmxmode=0666: {ptmx}");
    assert_eq!(
        ptmx["open_read_errno"], 0,
        "cannot open /dev/pts/ptmx: {ptmx}"
    );
    let shm = &r["/dev/shm"];
    assert_eq!(
        (
            shm["type"].as_str(),
            shm["mode"].as_str(),
            shm["statfs_type"].as_str()
        ),
        (Some("dir"), Some("1777"), Some("0x1021994")),
        "{shm}"
    );
    assert_eq!(
        r["/dev/pts"]["statfs_type"], "0x1cd1",
        "devpts magic: {}",
        r["/dev/pts"]
    );
    assert_eq!(
        r["/dev/mqueue"]["statfs_type"], "0x19800202",
        "mqueue magic: {}",
        r["/dev/mqueue"]
    );
}

fn mynull(b: &mut Bundle) {
    b.push(
        "/linux/devices",
        json!({"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666, "uid": 1000, "gid": 1000}),
    );
}

#[test]
fn linux_devices_entry() {
    let t = Test::new("dev-entry");
    let r = t.compare_probe_output(&["check", "/dev/mynull"], mynull);
    let c = &r[0];
    assert_eq!(c["exists"], true, "{c}");
    assert_eq!(c["type"], "char", "{c}");
    assert_eq!(
        (c["rdev_major"].as_i64(), c["rdev_minor"].as_i64()),
        (Some(1), Some(3)),
        "{c}"
    );
    assert_eq!(c["mode"], "0666", "{c}");
    assert_eq!(
        (c["uid"].as_i64(), c["gid"].as_i64()),
        (Some(1000), Some(1000)),
        "{c}"
    );
    assert_eq!(c["open_write_errno"], 0, "{c}");
}

#[test]
fn linux_devices_file_mode() {
    let t = Test::new("dev-mode");
    let r = t.compare_probe_output(&["check", "/dev/strict"], |b| {
        b.push(
            "/linux/devices",
            json!({"path": "/dev/strict", "type": "c", "major": 1, "minor": 5, "fileMode": 0o600}),
        );
    });
    assert_eq!(r[0]["mode"], "0600", "{}", r[0]);
    assert_eq!(
        (r[0]["uid"].as_i64(), r[0]["gid"].as_i64()),
        (Some(0), Some(0)),
        "{}",
        r[0]
    );
}

#[test]
fn device_cgroup_denies_unlisted_devices() {
    let t = Test::new("dev-cgroup");
    let blk = |b: &mut Bundle| {
        b.push(
            "/linux/devices",
            json!({"path": "/dev/blk", "type": "b", "major": 7, "minor": 250, "fileMode": 0o660}),
        );
    };
    // Created but not allowed by linux.resources.devices (the default spec denies all).
    let r = t.compare_probe_output(&["check", "/dev/blk"], blk);
    assert_eq!(r[0]["type"], "block", "{}", r[0]);
    assert_eq!(
        r[0]["open_read_errno"], EPERM,
        "device cgroup did not deny b 7:250: {}",
        r[0]
    );
    // Allowed: the open now reaches the (absent) device instead of the cgroup.
    let r = t.compare_probe_output(&["check", "/dev/blk"], |b| {
        blk(b);
        b.push(
            "/linux/resources/devices",
            json!({"allow": true, "type": "b", "major": 7, "minor": 250, "access": "rwm"}),
        );
    });
    assert_ne!(
        r[0]["open_read_errno"], EPERM,
        "allowed device still denied: {}",
        r[0]
    );
}

fn deny_dev_null(b: &mut Bundle) {
    b.push(
        "/linux/resources/devices",
        json!({"allow": false, "type": "c", "major": 1, "minor": 3, "access": "rwm"}),
    );
}

/// A rule denying /dev/null (c 1:3) in linux.resources.devices, after the base spec's deny-all.
/// runc 1.1.5 appends its default allowed devices (which include c 1:3 rwm) *after* the
/// config's rules, so the deny has no effect and /dev/null still opens: a drop-in does the same.
/// The host's devices.list of the container's cgroup is compared too.
#[test]
fn device_cgroup_rule_for_dev_null_matches_runc() {
    let t = Test::new("dev-deny-null");
    let r = t.compare_probe_output(&["check", "/dev/null"], deny_dev_null);
    assert_eq!(r[0]["type"], "char", "{}", r[0]);
    assert_eq!(
        (
            r[0]["open_read_errno"].clone(),
            r[0]["open_write_errno"].clone()
        ),
        (json!(0), json!(0)),
        "runc re-allows c 1:3 after the config's rules: {}",
        r[0]
    );
    if !crate::harness::host::hybrid_or_skip(
        "devices::device_cgroup_rule_for_dev_null_matches_runc devices.list",
    ) {
        return;
    }
    let list = |rt: &crate::harness::Runtime| {
        let mut b = t.bundle().with_probe(&["sleep", "30"]);
        deny_dev_null(&mut b);
        rt.create(&b).ok();
        let path = format!("/sys/fs/cgroup/devices/keel-it/{}/devices.list", b.id);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: read {path}: {e}", rt.name));
        rt.delete(&b.id).ok();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    assert_eq!(
        list(&t.rt),
        list(&t.runc),
        "devices.list of the container's cgroup differs from runc's"
    );
}
