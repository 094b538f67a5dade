//! Attacks that have hit runc, performed against keel: each must fail.

use crate::harness::{leaks::assert_nothing_left, Test};
use serde_json::json;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

/// CVE-2019-5736: a handle on /proc/<init>/exe taken while init still runs keel must not let
/// anyone write keel's binary once init has exec'd the container process.
#[test]
fn keel_binary_cannot_be_written_through_proc_exe() {
    let t = Test::new("cve-2019-5736");
    let b = t.bundle().with_probe(&["sleep", "30"]);
    t.rt.create(&b).ok();
    let pid = t.rt.state_json(&b.id)["pid"].as_i64().unwrap();
    let handle = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_o_path())
        .open(format!("/proc/{pid}/exe"))
        .unwrap();
    t.rt.start(&b.id).ok();
    t.rt.wait_status(&b.id, "running", Duration::from_secs(5));
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(
        exe.ends_with("keel-probe") || exe.ends_with("probe"),
        "init now runs {exe:?}"
    );
    let fd = std::os::fd::AsRawFd::as_raw_fd(&handle);
    // O_WRONLY without O_TRUNC: if this succeeded the binary would be writable (it is closed
    // unwritten).
    let w = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/fd/{fd}"));
    match w {
        Ok(_) => panic!("keel's binary is writable through /proc/{pid}/exe"),
        Err(e) => assert!(
            matches!(e.raw_os_error(), Some(30) | Some(1) | Some(26)), // EROFS, EPERM, ETXTBSY
            "unexpected error {e}"
        ),
    }
}

fn libc_o_path() -> i32 {
    0o10000000 // O_PATH
}

/// CVE-2024-21626: a cwd through a leaked fd (/proc/self/fd/N) must not put the process outside
/// the container's root.
#[test]
fn cwd_through_a_leaked_fd_is_refused() {
    let t = Test::new("cve-2024-21626");
    for n in 3..12 {
        let mut b = t.bundle();
        b.set("/process/cwd", json!(format!("/proc/self/fd/{n}")));
        let b = b.with_probe(&[]);
        let out = t.rt.run(&b);
        if out.code == 0 {
            let r: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
            let cwd = r["cwd"].as_str().unwrap_or("");
            assert!(
                cwd.starts_with('/') && !cwd.contains("unreachable"),
                "fd {n}: cwd {cwd:?}"
            );
        }
        assert_nothing_left(&t.rt.root, &b.id, &b.dir);
    }
}

/// CVE-2025-52881: a mount over /proc/sys must not receive keel's sysctl writes.
#[test]
fn sysctl_writes_only_go_to_procfs() {
    let t = Test::new("cve-2025-52881");
    let mut b = t.bundle();
    b.push(
        "/mounts",
        json!({"destination": "/proc/sys/net/ipv4", "type": "tmpfs", "source": "tmpfs", "options": ["rw"]}),
    );
    b.set("/linux/sysctl", json!({"net.ipv4.ip_forward": "1"}));
    let b = b.with_probe(&[]);
    t.rt.run(&b).fails_with("linux.sysctl.net.ipv4.ip_forward");
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
}

/// CVE-2025-31133: a rootfs whose /dev/null is a symlink to a host path (no /dev tmpfs) must
/// not get that path masked over or written: keel makes its own null device.
#[test]
fn masking_never_uses_a_forged_dev_null() {
    let t = Test::new("cve-2025-31133");
    let mut b = t.bundle();
    let mounts = b.get("/mounts").cloned().unwrap();
    let kept: Vec<_> = mounts
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["destination"] != "/dev"
                && !m["destination"].as_str().unwrap_or("").starts_with("/dev/")
        })
        .cloned()
        .collect();
    b.set("/mounts", json!(kept));
    let secret = t.host_dir("secret").join("file");
    std::fs::write(&secret, "host secret").unwrap();
    std::fs::create_dir_all(b.rootfs().join("dev")).unwrap();
    let _ = std::fs::remove_file(b.rootfs().join("dev/null"));
    std::os::unix::fs::symlink(&secret, b.rootfs().join("dev/null")).unwrap();
    let b = b.with_probe(&["read", "/proc/kcore", "/dev/null"]);
    let out = t.rt.run(&b);
    out.ok();
    let r: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_ne!(r["/dev/null"], json!("host secret"), "{r}");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "host secret");
}

/// An AppArmor profile or SELinux label on a host without that LSM is a clear error (runc fails
/// too), with nothing left behind.
#[test]
fn lsm_labels_without_the_lsm_fail_clearly() {
    let t = Test::new("lsm");
    let apparmor = crate::harness::host::apparmor_enabled();
    let selinux = crate::harness::host::selinux_enabled();
    let cases = [
        (
            "/process/apparmorProfile",
            "process.apparmorProfile: AppArmor is not enabled",
        ),
        (
            "/process/selinuxLabel",
            "process.selinuxLabel: SELinux is not enabled",
        ),
    ];
    for ((ptr, msg), present) in cases.into_iter().zip([apparmor, selinux]) {
        if present {
            // With the LSM enabled the label is applied; integration/cgroupv2's AppArmor-enabled
            // guest is where that can be tested.
            crate::harness::host::skip(
                &format!("hardening::lsm_labels_without_the_lsm_fail_clearly {ptr}"),
                "the host has this LSM enabled: the refusal cannot be observed",
            );
            continue;
        }
        let mut b = t.bundle();
        b.set(ptr, json!("system_u:system_r:container_t:s0"));
        let b = b.with_probe(&[]);
        t.rt.run(&b).fails_with(msg);
        assert_nothing_left(&t.rt.root, &b.id, &b.dir);
    }
    if !apparmor {
        let mut b = t.bundle();
        b.set("/process/apparmorProfile", json!("docker-default"));
        t.runc.run(&b.with_probe(&[])).failed();
    }
}

/// CVE-2021-30465 and friends: a mount target that is a symlink to the host's / or /etc must
/// land inside the rootfs, never on the host.
#[test]
fn mount_targets_that_are_symlinks_stay_in_the_rootfs() {
    let t = Test::new("mount-symlink");
    let mut b = t.bundle();
    std::os::unix::fs::symlink("/", b.rootfs().join("escape")).unwrap();
    std::os::unix::fs::symlink("/etc", b.rootfs().join("etclink")).unwrap();
    b.push(
        "/mounts",
        json!({"destination": "/escape/tmp/via-root", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
    );
    b.push(
        "/mounts",
        json!({"destination": "/etclink", "type": "tmpfs", "source": "tmpfs", "options": ["size=2m"]}),
    );
    let host_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let r = t.rt.probe(&b, &[]);
    let host_after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let points: Vec<&str> = r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["mount_point"].as_str())
        .collect();
    assert!(
        points.contains(&"/tmp/via-root"),
        "the first mount is inside the container: {points:?}"
    );
    assert!(
        points.contains(&"/etc"),
        "the /etc link resolved inside the rootfs: {points:?}"
    );
    let host_lines = |s: &str| {
        s.lines()
            .filter(|l| l.contains(" /etc ") || l.contains("via-root"))
            .count()
    };
    assert_eq!(
        host_lines(&host_before),
        host_lines(&host_after),
        "a mount reached the host"
    );
    assert!(
        !std::path::Path::new("/tmp/via-root").exists(),
        "created on the host's /tmp"
    );
}
