//! Faults and load: keel killed with SIGKILL in the middle of `create` leaves nothing that
//! `delete --force` cannot remove; many containers in parallel all work and leak nothing.

use crate::harness::{leaks::assert_nothing_left, Test};
use serde_json::json;
use std::time::Duration;

/// SIGKILL keel `create` after a different delay each round (the first rounds land in the
/// re-exec and planning, later ones in cgroup creation, clone, mounts, and after "ready"), then
/// `delete --force` must clean up completely.
#[test]
fn kill9_during_create_then_delete_force_cleans_up() {
    let t = Test::new("kill9-create");
    let mut states = std::collections::BTreeSet::new();
    for round in 0..80u64 {
        if states.contains("created") && round >= 12 {
            break;
        }
        let b = t.bundle().with_probe(&["sleep", "30"]);
        b.write();
        t.rt.register(&b);
        let cmd = t.rt.command(&["create", "--bundle", b.dir_str(), &b.id]);
        let (mut child, _, _, _) = t.rt.spawn_captured(cmd, "create");
        std::thread::sleep(Duration::from_micros(round * 700));
        let _ = child.kill(); // our own child, by PID
        let _ = child.wait();
        let st = t.rt.state(&b.id);
        states.insert(if st.code == 0 {
            st.json()["status"].as_str().unwrap_or("?").to_string()
        } else {
            "absent".into()
        });
        t.rt.delete_force(&b.id).ok();
        assert_nothing_left(&t.rt.root, &b.id, &b.dir);
    }
    // The delays must have landed both before the state existed and after create finished.
    assert!(
        states.contains("absent") && states.contains("created"),
        "states seen: {states:?}"
    );
}

/// The same while keel is waiting on a prestart hook (init is stopped mid-create, its mounts
/// made): init must die with keel and `delete --force` must remove the "creating" container.
#[test]
fn kill9_while_a_prestart_hook_runs() {
    let t = Test::new("kill9-hook");
    let mut b = t.bundle();
    let marker = t.host_dir("hook").join("started");
    b.set(
        "/hooks",
        json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}; sleep 30", marker.display())]}]}),
    );
    let b = b.with_probe(&["sleep", "30"]);
    b.write();
    t.rt.register(&b);
    let cmd = t.rt.command(&["create", "--bundle", b.dir_str(), &b.id]);
    let (mut child, _, _, stderr) = t.rt.spawn_captured(cmd, "create");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !marker.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "prestart hook never ran; create said: {:?}, config: {:?}",
            std::fs::read_to_string(&stderr),
            b.get("/hooks")
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(t.rt.status(&b.id), "creating");
    t.rt.delete_force(&b.id).ok();
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
}

/// 200 containers created, started, waited for and deleted, 8 at a time.
#[test]
fn two_hundred_containers_eight_in_parallel() {
    let t = Test::new("load-200");
    let bundles: Vec<_> = (0..200)
        .map(|_| t.bundle().with_probe(&["exit", "0"]))
        .collect();
    std::thread::scope(|s| {
        for chunk in bundles.chunks(25) {
            let t = &t;
            s.spawn(move || {
                for b in chunk {
                    t.rt.run(b).ok();
                    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
                }
            });
        }
    });
    let list = t.rt.invoke(&["list", "-q"]);
    list.ok();
    assert_eq!(list.stdout.trim(), "", "containers left: {}", list.stdout);
}
