//! Tests of the harness itself: its checks must be able to fail. These use runc only.

use crate::harness::compare::{diff, normalize};
use crate::harness::leaks::leftovers;
use crate::harness::Test;
use serde_json::json;

#[test]
fn bundle_patching_by_pointer() {
    let t = Test::new("selftest-patch");
    let mut b = t.bundle();
    b.set("/process/user/uid", json!(1000));
    b.set("/linux/sysctl/net.ipv4.ip_forward", json!("1"));
    b.set("/a~1b/c~0d", json!(true));
    b.push("/linux/namespaces", json!({"type": "cgroup"}));
    b.push("/process/user/additionalGids", json!(5));
    b.set("/process/args/0", json!("/bin/true"));
    assert_eq!(b.config["process"]["user"]["uid"], 1000);
    assert_eq!(b.config["linux"]["sysctl"]["net.ipv4.ip_forward"], "1");
    assert_eq!(b.config["a/b"]["c~d"], true);
    assert_eq!(b.config["linux"]["namespaces"][5]["type"], "cgroup");
    assert_eq!(b.config["process"]["user"]["additionalGids"], json!([5]));
    assert_eq!(b.config["process"]["args"], json!(["/bin/true"]));
    let removed = b.remove("/linux/namespaces/0");
    assert_eq!(removed["type"], "pid");
    assert_eq!(
        b.get("/linux/cgroupsPath").and_then(|v| v.as_str()),
        Some(format!("/keel-it/{}", b.id).as_str())
    );
    assert_eq!(b.config["process"]["terminal"], false);
    // The rootfs is populated from the template.
    for p in [
        "bin/busybox",
        "bin/sh",
        "probe",
        "etc/passwd",
        "etc/group",
        "proc",
        "sys",
        "dev",
        "tmp",
    ] {
        assert!(
            b.rootfs().join(p).symlink_metadata().is_ok(),
            "rootfs lacks {p}"
        );
    }
}

#[test]
fn leak_check_sees_a_live_container() {
    if !crate::harness::host::hybrid_or_skip("selftest::leak_check_sees_a_live_container") {
        return;
    }
    let t = Test::new("selftest-leaks");
    let b = t.bundle().with_probe(&["sleep", "30"]);
    t.runc.create(&b).ok();
    let l = leftovers(&t.runc.root, &b.id, &b.dir);
    assert!(
        l.iter().any(|s| s.starts_with("state dir")),
        "state dir not detected: {l:?}"
    );
    assert!(
        l.iter()
            .any(|s| s.starts_with("cgroup") && s.contains("/memory/keel-it/")),
        "cgroup not detected: {l:?}"
    );
    assert!(
        l.iter().any(|s| s.starts_with("process")),
        "process not detected: {l:?}"
    );
    t.runc.delete_force(&b.id).ok();
    crate::harness::assert_nothing_left(&t.runc.root, &b.id, &b.dir);
}

#[test]
fn leak_check_sees_a_mount() {
    let t = Test::new("selftest-mount");
    let b = t.bundle();
    let target = b.mkdir("mnt/leak");
    t.host_mount(&["-t", "tmpfs", "tmpfs"], &target);
    let l = leftovers(&t.rt.root, &b.id, &b.dir);
    assert!(
        l.iter().any(|s| s.starts_with("mount left")),
        "mount not detected: {l:?}"
    );
}

#[test]
fn comparison_reports_differences() {
    let a = json!({"hostname": "a", "env": ["X=1", "Y=2"], "uid": 0});
    let b = json!({"hostname": "b", "env": ["Y=2", "X=1"], "uid": 0});
    let d = diff(
        "keel",
        &normalize(&a, "id"),
        &normalize(&b, "id"),
        &["hostname", "env", "uid"],
    );
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].contains("hostname") && d[0].contains("keel=\"a\"") && d[0].contains("runc=\"b\""),
        "{d:?}"
    );
}
