//! mounts[] (tmpfs, bind, overlay, cgroup; propagation and recursive options), root.readonly,
//! rootfsPropagation, maskedPaths, readonlyPaths, --no-pivot.

use crate::harness::compare::{mount_at, normalize_mounts, opts, DEFAULT_FIELDS};
use crate::harness::{Bundle, Test};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const EROFS: i64 = 30;

fn mount<'a>(r: &'a Value, at: &str) -> &'a Value {
    mount_at(r, at).unwrap_or_else(|| {
        let points: Vec<&str> = r["mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["mount_point"].as_str())
            .collect();
        panic!("nothing mounted at {at}; mounts: {points:?}")
    })
}

fn has_opt(m: &Value, field: &str, opt: &str) -> bool {
    opts(&m[field]).iter().any(|o| o == opt)
}

/// Runs `sh -c script` and parses each stdout line as JSON (one probe call per line).
fn probe_lines(t: &Test, b: &Bundle, script: &str) -> Vec<Value> {
    let out = t.rt.sh(b, script);
    assert_eq!(out.code, 0, "{out}");
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}\n{out}")))
        .collect()
}

/// `probe write` as a shell fragment printing {"errno": N} (0 on success), one line.
pub fn write_errno(path: &str) -> String {
    format!("o=$(/probe write {path} x) && echo '{{\"errno\":0}}' || echo \"$o\"")
}

#[test]
fn default_mounts_match_runc() {
    let t = Test::new("mounts-default");
    let (r, _) = t.compare_with_runc(|_| {});
    let m = mount(&r, "/proc");
    assert_eq!(m["fstype"], "proc");
    let m = mount(&r, "/sys");
    assert_eq!(m["fstype"], "sysfs");
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(has_opt(m, "mount_options", o), "/sys lacks {o}: {m}");
    }
    let m = mount(&r, "/dev");
    assert_eq!(m["fstype"], "tmpfs");
    assert!(
        has_opt(m, "super_options", "mode=755") && has_opt(m, "super_options", "size=65536k"),
        "{m}"
    );
    let m = mount(&r, "/");
    assert!(
        has_opt(m, "mount_options", "ro"),
        "root.readonly=true but / is {m}"
    );
}

#[test]
fn mqueue_and_devpts() {
    let t = Test::new("mounts-mq-pts");
    let r = t.rt.probe(&t.bundle(), &[]);
    let mq = mount(&r, "/dev/mqueue");
    assert_eq!(mq["fstype"], "mqueue");
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(
            has_opt(mq, "mount_options", o),
            "/dev/mqueue lacks {o}: {mq}"
        );
    }
    let pts = mount(&r, "/dev/pts");
    assert_eq!(pts["fstype"], "devpts");
    for o in ["gid=5", "mode=620", "ptmxmode=666"] {
        assert!(
            has_opt(pts, "super_options", o),
            "/dev/pts lacks {o}: {pts}"
        );
    }
    let shm = mount(&r, "/dev/shm");
    assert_eq!(shm["fstype"], "tmpfs");
    assert_eq!(shm["source"], "shm");
}

#[test]
fn tmpfs_with_size_and_mode() {
    let t = Test::new("mounts-tmpfs");
    let patch = |b: &mut Bundle| {
        b.push(
            "/mounts",
            json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=1770", "nosuid", "nodev", "noexec"]}),
        );
    };
    let (r, _) = t.compare_with_runc(patch);
    let m = mount(&r, "/scratch");
    assert_eq!(m["fstype"], "tmpfs");
    assert!(has_opt(m, "super_options", "size=1024k"), "{m}");
    assert!(has_opt(m, "super_options", "mode=1770"), "{m}");
    for o in ["nosuid", "nodev", "noexec", "rw"] {
        assert!(has_opt(m, "mount_options", o), "/scratch lacks {o}: {m}");
    }
    let mut b = t.bundle();
    patch(&mut b);
    let c = t.rt.probe(&b, &["check", "/scratch"]);
    assert_eq!(c[0]["mode"], "1770", "{c}");
    assert_eq!(c[0]["statfs_type"], "0x1021994", "not tmpfs: {c}");
}

#[test]
fn noexec_mount_refuses_exec() {
    let t = Test::new("mounts-noexec");
    let mut b = t.bundle();
    b.push(
        "/mounts",
        json!({"destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": ["noexec"]}),
    );
    let out =
        t.rt.sh(&b, "cp /probe /x/probe && /x/probe exit 0; echo rc=$?");
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("rc=126"),
        "exec from a noexec mount did not fail with 126:\n{out}"
    );
}

#[test]
fn bind_directory_read_only() {
    let t = Test::new("mounts-bind-ro");
    let src = t.host_dir("data");
    std::fs::write(src.join("hello"), "from the host\n").unwrap();
    let mut b = t.bundle();
    b.push(
        "/mounts",
        json!({"destination": "/data", "type": "bind", "source": src, "options": ["bind", "ro"]}),
    );
    let lines = probe_lines(
        &t,
        &b,
        &format!(
            "/probe read /data/hello; {}; /probe",
            write_errno("/data/new")
        ),
    );
    assert_eq!(lines[0]["/data/hello"], "from the host\n", "{}", lines[0]);
    assert_eq!(
        lines[1]["errno"], EROFS,
        "write into a ro bind mount: {}",
        lines[1]
    );
    let m = mount(&lines[2], "/data");
    assert!(has_opt(m, "mount_options", "ro"), "{m}");
    assert!(!src.join("new").exists());
}

#[test]
fn bind_directory_read_write() {
    let t = Test::new("mounts-bind-rw");
    let src = t.host_dir("data");
    let mut b = t.bundle();
    b.push(
        "/mounts",
        json!({"destination": "/data", "type": "bind", "source": src, "options": ["rbind", "rw"]}),
    );
    let lines = probe_lines(&t, &b, &write_errno("/data/new"));
    assert_eq!(lines[0]["errno"], 0, "{}", lines[0]);
    assert_eq!(
        std::fs::read_to_string(src.join("new")).unwrap_or_default(),
        "x"
    );
}

#[test]
fn bind_single_file() {
    let t = Test::new("mounts-bind-file");
    let src = t.host_dir("f").join("hostfile");
    std::fs::write(&src, "one file\n").unwrap();
    let patch = |b: &mut Bundle| {
        b.push("/mounts", json!({"destination": "/etc/hostfile", "type": "bind", "source": src, "options": ["bind", "ro", "nosuid", "nodev"]}));
    };
    let (r, _) = t.compare_with_runc(patch);
    let m = mount(&r, "/etc/hostfile");
    for o in ["ro", "nosuid", "nodev"] {
        assert!(
            has_opt(m, "mount_options", o),
            "/etc/hostfile lacks {o}: {m}"
        );
    }
    let mut b = t.bundle();
    patch(&mut b);
    let c = t.rt.probe(&b, &["read", "/etc/hostfile"]);
    assert_eq!(c["/etc/hostfile"], "one file\n");
}

#[test]
fn rbind_carries_submounts_and_bind_does_not() {
    let t = Test::new("mounts-rbind");
    let src = t.host_dir("tree");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    t.host_mount(
        &["-t", "tmpfs", "-o", "size=64k", "tmpfs"],
        &src.join("sub"),
    );
    std::fs::write(src.join("sub/inner"), "in the submount\n").unwrap();

    for (kind, visible) in [("rbind", true), ("bind", false)] {
        let mut b = t.bundle();
        b.push(
            "/mounts",
            json!({"destination": "/tree", "type": "bind", "source": src, "options": [kind]}),
        );
        let r = t.rt.probe(&b, &["check", "/tree/sub/inner", "/tree/sub"]);
        assert_eq!(r[0]["exists"], visible, "{kind}: /tree/sub/inner: {r}");
        // Without the submount /tree/sub is the directory on the filesystem of the test's dir.
        let under = crate::harness::host::fs_magic(&src).unwrap();
        let fs_type = if visible {
            "0x1021994".to_string()
        } else {
            format!("{under:#x}")
        };
        assert_eq!(r[1]["statfs_type"], fs_type, "{kind}: /tree/sub: {r}");
    }
}

#[test]
fn root_readonly() {
    let t = Test::new("mounts-root-ro");
    let b = t.bundle();
    assert_eq!(b.get("/root/readonly"), Some(&json!(true)));
    let lines = probe_lines(&t, &b, &write_errno("/newfile"));
    assert_eq!(
        lines[0]["errno"], EROFS,
        "write to / with root.readonly=true: {}",
        lines[0]
    );

    let mut b = t.bundle();
    b.set("/root/readonly", json!(false));
    let lines = probe_lines(&t, &b, &format!("{}; /probe", write_errno("/newfile")));
    assert_eq!(
        lines[0]["errno"], 0,
        "write to / with root.readonly=false: {}",
        lines[0]
    );
    assert!(b.rootfs().join("newfile").exists());
    assert!(!has_opt(mount(&lines[1], "/"), "mount_options", "ro"));
}

#[test]
fn masked_paths() {
    let t = Test::new("mounts-masked");
    let patch = |b: &mut Bundle| {
        b.put_file("etc/secret", "top secret\n", 0o644);
        b.put_file("secretdir/file", "also secret\n", 0o644);
        b.push("/linux/maskedPaths", json!("/etc/secret"));
        b.push("/linux/maskedPaths", json!("/secretdir"));
        b.push("/linux/maskedPaths", json!("/does/not/exist"));
    };
    t.compare_with_runc(patch);
    let mut b = t.bundle();
    patch(&mut b);
    let lines = probe_lines(
        &t,
        &b,
        "/probe read /etc/secret /proc/keys; /probe ls /secretdir; /probe check /secretdir /sys/firmware /proc/keys; /probe ls /sys/firmware",
    );
    assert_eq!(
        lines[0]["/etc/secret"], "",
        "masked file is readable: {}",
        lines[0]
    );
    // /proc/kcore is not there on this kernel; /proc/keys is masked by the default spec too.
    assert_eq!(
        lines[0]["/proc/keys"], "",
        "/proc/keys is not masked: {}",
        lines[0]
    );
    assert_eq!(lines[1], json!([]), "masked dir is not empty");
    assert_eq!(
        lines[2][0]["statfs_type"], "0x1021994",
        "masked dir is not a tmpfs: {}",
        lines[2][0]
    );
    assert_eq!(
        lines[2][1]["statfs_type"], "0x1021994",
        "/sys/firmware is not masked: {}",
        lines[2][1]
    );
    assert_eq!(
        lines[2][2]["type"], "char",
        "/proc/keys is not /dev/null: {}",
        lines[2][2]
    );
    assert_eq!(lines[3], json!([]), "/sys/firmware is not empty");
}

#[test]
fn readonly_paths() {
    let t = Test::new("mounts-readonly-paths");
    let patch = |b: &mut Bundle| {
        b.set("/root/readonly", json!(false));
        b.mkdir("frozen");
        b.mkdir("thawed");
        b.push("/linux/readonlyPaths", json!("/frozen"));
        b.push("/linux/readonlyPaths", json!("/not/there"));
    };
    t.compare_with_runc(patch);
    let mut b = t.bundle();
    patch(&mut b);
    let lines = probe_lines(
        &t,
        &b,
        &format!(
            "{}; {}; {}; /probe",
            write_errno("/frozen/x"),
            write_errno("/thawed/x"),
            write_errno("/proc/sys/kernel/domainname")
        ),
    );
    assert_eq!(
        lines[0]["errno"], EROFS,
        "/frozen is writable: {}",
        lines[0]
    );
    assert_eq!(
        lines[1]["errno"], 0,
        "/thawed is not writable: {}",
        lines[1]
    );
    assert_eq!(
        lines[2]["errno"], EROFS,
        "/proc/sys is writable: {}",
        lines[2]
    );
    assert!(has_opt(mount(&lines[3], "/frozen"), "mount_options", "ro"));
    assert!(has_opt(
        mount(&lines[3], "/proc/sys"),
        "mount_options",
        "ro"
    ));
}

/// Makes the bundle's rootfs a shared mount point on the host, so propagation can be observed.
fn shared_rootfs(t: &Test, b: &Bundle) {
    let rootfs = b.rootfs();
    let p = rootfs.to_str().unwrap();
    t.host_mount(&["--bind", p], &rootfs);
    t.host_cmd("mount", &["--make-shared", p]);
}

fn root_propagation(r: &Value) -> Vec<String> {
    mount(r, "/")["propagation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().split(':').next().unwrap().to_string())
        .collect()
}

#[test]
fn rootfs_propagation_matches_runc() {
    let t = Test::new("mounts-propagation");
    for prop in [
        None,
        Some("rslave"),
        Some("rprivate"),
        Some("private"),
        Some("shared"),
        Some("slave"),
    ] {
        let mut ours = t.bundle();
        let mut theirs = t.bundle();
        for b in [&mut ours, &mut theirs] {
            shared_rootfs(&t, b);
            if let Some(p) = prop {
                b.set("/linux/rootfsPropagation", json!(p));
            }
        }
        let a = root_propagation(&t.rt.probe(&ours, &[]));
        let r = root_propagation(&t.runc.probe(&theirs, &[]));
        assert_eq!(
            a, r,
            "rootfsPropagation={prop:?}: propagation of / differs from runc's"
        );
        match prop {
            Some("rslave") | None => assert_eq!(a, ["master"], "rootfsPropagation={prop:?}"),
            Some("rprivate") => assert!(a.is_empty(), "rootfsPropagation={prop:?}: {a:?}"),
            _ => {}
        }
    }
}

#[test]
fn rootfs_propagation_rslave_receives_host_mounts() {
    let t = Test::new("mounts-propagation-slave");
    let mut b = t.bundle();
    shared_rootfs(&t, &b);
    b.set("/linux/rootfsPropagation", json!("rslave"));
    b.args(&["/bin/sh", "-c", "i=0; while [ ! -e /mnt/flag ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; /probe check /mnt/flag"]);
    let out = t.rt.run_detached(&b);
    out.ok();
    let mnt = b.rootfs().join("mnt");
    t.host_mount(&["-t", "tmpfs", "tmpfs"], &mnt);
    std::fs::write(mnt.join("flag"), "").unwrap();
    t.rt.wait_status(&b.id, "stopped", Duration::from_secs(15));
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let s = out.reread_stdout();
        if s.contains('}') || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let v: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert_eq!(
        v[0]["exists"], true,
        "a host mount under the rslave rootfs did not propagate in: {v}"
    );
    assert_eq!(v[0]["statfs_type"], "0x1021994", "{v}");
}

/// `--no-pivot`: the rootfs is moved onto / and chrooted into instead of pivot_root; the
/// container still sees exactly its rootfs at /, with the same mounts as under runc --no-pivot.
#[test]
fn no_pivot_rootfs_is_root() {
    let t = Test::new("mounts-no-pivot");
    let (r, _) = t.compare_with_runc_flags(&["--no-pivot"], DEFAULT_FIELDS, |_| {});
    assert_eq!(r["cwd"], "/", "{}", r["cwd"]);
    assert!(has_opt(mount(&r, "/"), "mount_options", "ro"));
    let b = t.bundle();
    let inside = t.rt.probe_with(&b, &["--no-pivot"], &["ls", "/"]);
    let mut host: Vec<String> = std::fs::read_dir(b.rootfs())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    host.sort();
    assert_eq!(
        inside,
        json!(host),
        "`ls /` inside is not the bundle's rootfs"
    );
}

/// An overlay mount at /ov, with fresh upper and work dirs (a used upperdir mounts with
/// different options: `uuid=on` only shows for a new one).
fn overlay_bundle(t: &Test, lower: &Path) -> Bundle {
    let (upper, work) = (t.dir.join("host/upper"), t.dir.join("host/work"));
    for d in [&upper, &work] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).unwrap();
    }
    let mut b = t.bundle();
    b.push(
        "/mounts",
        json!({"destination": "/ov", "type": "overlay", "source": "overlay", "options": [
            format!("lowerdir={}", lower.display()),
            format!("upperdir={}", upper.display()),
            format!("workdir={}", work.display()),
        ]}),
    );
    b
}

#[test]
fn overlay_mount_is_visible_and_writable() {
    let t = Test::new("mounts-overlay");
    let lower = t.host_dir("lower");
    std::fs::write(lower.join("hello"), "from the lower dir\n").unwrap();
    let line = |r: &Value| {
        normalize_mounts(&json!([mount(r, "/ov")]))[0]
            .as_str()
            .unwrap()
            .to_string()
    };
    let ours = line(&t.rt.probe(&overlay_bundle(&t, &lower), &[]));
    let theirs = line(&t.runc.probe(&overlay_bundle(&t, &lower), &[]));
    assert_eq!(ours, theirs, "the overlay mount differs from runc's");
    assert!(ours.contains("type=overlay"), "{ours}");

    let b = overlay_bundle(&t, &lower);
    let lines = probe_lines(
        &t,
        &b,
        &format!("/probe read /ov/hello; {}", write_errno("/ov/new")),
    );
    assert_eq!(
        lines[0]["/ov/hello"], "from the lower dir\n",
        "{}",
        lines[0]
    );
    assert_eq!(lines[1]["errno"], 0, "write into the overlay: {}", lines[1]);
    let upper = t.dir.join("host/upper");
    assert_eq!(
        std::fs::read_to_string(upper.join("new")).unwrap_or_default(),
        "x",
        "the write did not land in upperdir"
    );
    assert!(!lower.join("new").exists(), "the write went to lowerdir");
}

/// A `cgroup` mount without a cgroup namespace: on cgroup v1 each hierarchy shows the
/// container's own cgroup, read-only, as runc does it.
#[test]
fn cgroup_mount_without_cgroup_namespace() {
    if !crate::harness::host::hybrid_or_skip("mounts::cgroup_mount_without_cgroup_namespace") {
        return;
    }
    let t = Test::new("mounts-cgroup");
    let patch = |b: &mut Bundle| {
        b.push(
            "/mounts",
            json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
        );
    };
    let (r, _) = t.compare_with_runc(patch);
    // runc mounts a (read-write) tmpfs there and a read-only bind per hierarchy.
    for h in ["memory", "pids", "devices"] {
        let m = mount(&r, &format!("/sys/fs/cgroup/{h}"));
        assert_eq!(m["fstype"], "cgroup", "{m}");
        assert!(has_opt(m, "mount_options", "ro"), "{m}");
    }
    let mut b = t.bundle();
    patch(&mut b);
    let lines = probe_lines(
        &t,
        &b,
        &format!(
            "/probe ls /sys/fs/cgroup/pids; {}",
            write_errno("/sys/fs/cgroup/pids/pids.max")
        ),
    );
    // The container's own cgroup, not the host's root (which has the keel-it parent).
    let pids = lines[0].as_array().cloned().unwrap_or_default();
    assert!(
        pids.contains(&json!("pids.max")) && !pids.contains(&json!("keel-it")),
        "/sys/fs/cgroup/pids is not the container's cgroup: {}",
        lines[0]
    );
    assert_eq!(lines[1]["errno"], EROFS, "{}", lines[1]);
}

/// Propagation options on bind mounts of a shared host directory, as mountinfo shows them.
#[test]
fn bind_mount_propagation_matches_runc() {
    let t = Test::new("mounts-bind-propagation");
    let src = t.host_dir("shared");
    let p = src.to_str().unwrap();
    t.host_mount(&["--bind", p], &src);
    t.host_cmd("mount", &["--make-shared", p]);
    let cases = [
        // The source as seen in the container's mount namespace is a slave of the host's
        // peer group (the rootfs is made rslave), so rshared adds a new peer group to that.
        ("rshared", vec!["master", "shared"]),
        ("rslave", vec!["master"]),
        ("rprivate", vec![]),
    ];
    let bundle = || {
        let mut b = t.bundle();
        for (prop, _) in &cases {
            b.push(
                "/mounts",
                json!({"destination": format!("/{prop}"), "type": "bind", "source": src, "options": ["rbind", prop]}),
            );
        }
        b
    };
    let kinds = |r: &Value, prop: &str| -> Vec<String> {
        let mut k: Vec<String> = mount(r, &format!("/{prop}"))["propagation"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().split(':').next().unwrap().to_string())
            .collect();
        k.sort();
        k
    };
    let ours = t.rt.probe(&bundle(), &[]);
    let theirs = t.runc.probe(&bundle(), &[]);
    for (prop, want) in &cases {
        assert_eq!(
            kinds(&ours, prop),
            kinds(&theirs, prop),
            "{prop}: propagation differs from runc's"
        );
        assert_eq!(&kinds(&ours, prop), want, "{prop}: propagation");
    }
}

/// `rro` on an rbind: the submounts below are read-only too (mount_setattr AT_RECURSIVE).
#[test]
fn rro_makes_every_submount_read_only() {
    let t = Test::new("mounts-rro");
    let src = t.host_dir("tree");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    t.host_mount(
        &["-t", "tmpfs", "-o", "size=64k", "tmpfs"],
        &src.join("sub"),
    );
    let patch = |b: &mut Bundle| {
        b.push(
            "/mounts",
            json!({"destination": "/tree", "type": "bind", "source": src, "options": ["rbind", "rro"]}),
        );
    };
    let (r, _) = t.compare_with_runc(patch);
    for at in ["/tree", "/tree/sub"] {
        assert!(
            has_opt(mount(&r, at), "mount_options", "ro"),
            "{at}: {}",
            mount(&r, at)
        );
    }
    let mut b = t.bundle();
    patch(&mut b);
    let lines = probe_lines(
        &t,
        &b,
        &format!("{}; {}", write_errno("/tree/x"), write_errno("/tree/sub/x")),
    );
    assert_eq!(lines[0]["errno"], EROFS, "/tree: {}", lines[0]);
    assert_eq!(lines[1]["errno"], EROFS, "/tree/sub: {}", lines[1]);
    // The host's view is untouched.
    std::fs::write(src.join("sub/x"), "x").expect("the host's submount became read-only");
}
