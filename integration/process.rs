//! process.* (args, env, cwd, user, umask, rlimits, capabilities, noNewPrivileges, oomScoreAdj),
//! hostname/domainname, linux.sysctl, linux.personality, --preserve-fds and LISTEN_FDS,
//! scheduler, ioPriority, execCPUAffinity, the session keyring (and --no-new-keyring).

use crate::harness::{Bundle, Runtime, Test};
use serde_json::{json, Value};
use std::process::Command;

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn args_are_passed_verbatim() {
    let t = Test::new("proc-args");
    let args = ["/probe", "report", "a b", "c\"d", "", "ü\\n", "--flag=x"];
    let (r, _) = t.compare_with_runc(|b| {
        b.args(&args);
    });
    assert_eq!(strs(&r["args"]), args);
}

#[test]
fn args0_is_looked_up_in_path() {
    let t = Test::new("proc-path");
    let mut b = t.bundle();
    b.args(&["sh", "-c", "exit 5"]);
    assert_eq!(t.rt.run(&b).code, 5);
}

#[test]
fn env_is_exactly_the_spec_plus_home() {
    let t = Test::new("proc-env");
    let env = [
        "PATH=/bin",
        "FOO=bar baz",
        "EMPTY=",
        "WITH_EQ=a=b",
        "TERM=dumb",
    ];
    let (r, _) = t.compare_with_runc(|b| {
        b.set("/process/env", json!(env));
    });
    let mut got = strs(&r["env"]);
    got.sort();
    let mut want: Vec<String> = env.iter().map(|s| s.to_string()).collect();
    // HOME is added from /etc/passwd when the spec does not set it (root -> /root).
    want.push("HOME=/root".into());
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn env_home_is_kept_when_set() {
    let t = Test::new("proc-env-home");
    let (r, _) = t.compare_with_runc(|b| {
        b.set("/process/env", json!(["HOME=/custom", "PATH=/bin"]));
    });
    assert!(
        strs(&r["env"]).contains(&"HOME=/custom".to_string()),
        "{}",
        r["env"]
    );
}

#[test]
fn cwd() {
    let t = Test::new("proc-cwd");
    let (r, _) = t.compare_with_runc(|b| {
        b.set("/process/cwd", json!("/etc"));
    });
    assert_eq!(r["cwd"], "/etc");
}

#[test]
fn cwd_is_created_when_missing() {
    let t = Test::new("proc-cwd-new");
    let (r, _) = t.compare_with_runc(|b| {
        b.set("/process/cwd", json!("/work/here"));
    });
    assert_eq!(r["cwd"], "/work/here");
}

#[test]
fn user_uid_gid_additional_gids() {
    let t = Test::new("proc-user");
    let (r, _) = t.compare_with_runc(|b| {
        b.set(
            "/process/user",
            json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 2000]}),
        );
    });
    for k in ["uid", "euid", "gid", "egid"] {
        assert_eq!(r[k], 1000, "{k}");
    }
    let groups: Vec<i64> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g.as_i64())
        .collect();
    assert!(
        groups.contains(&5) && groups.contains(&2000),
        "groups {groups:?}"
    );
    // HOME comes from the passwd entry of uid 1000.
    assert!(
        strs(&r["env"]).contains(&"HOME=/home/app".to_string()),
        "{}",
        r["env"]
    );
    // A non-root user keeps no capabilities in effect.
    assert_eq!(
        r["caps"]["effective"]["hex"], "0000000000000000",
        "{}",
        r["caps"]
    );
}

#[test]
fn user_without_passwd_entry() {
    let t = Test::new("proc-user-nopasswd");
    let (r, _) = t.compare_with_runc(|b| {
        b.set("/process/user", json!({"uid": 4242, "gid": 4343}));
    });
    assert_eq!(r["uid"], 4242);
    assert_eq!(r["gid"], 4343);
}

#[test]
fn umask() {
    let t = Test::new("proc-umask");
    let (r, _) = t.compare_with_runc(|b| {
        b.set("/process/user/umask", json!(0o027));
    });
    assert_eq!(r["umask"], "0027");
    let (r, _) = t.compare_with_runc(|_| {});
    assert_eq!(r["umask"], "0022", "default umask");
}

#[test]
fn rlimits() {
    let t = Test::new("proc-rlimits");
    let (r, _) = t.compare_with_runc(|b| {
        b.set(
            "/process/rlimits",
            json!([
                {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
                {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400}
            ]),
        );
    });
    assert_eq!(r["rlimits"]["nofile"], json!([1024, 4096]));
    assert_eq!(r["rlimits"]["core"], json!([0, 0]));
    assert_eq!(r["rlimits"]["nproc"], json!([300, 400]));
}

const ALL_SETS: [&str; 5] = [
    "bounding",
    "effective",
    "permitted",
    "inheritable",
    "ambient",
];

#[test]
fn capabilities_add_net_admin_to_every_set() {
    let t = Test::new("proc-caps");
    let (r, _) = t.compare_with_runc(|b| {
        for set in ALL_SETS {
            b.push(
                &format!("/process/capabilities/{set}"),
                json!("CAP_NET_ADMIN"),
            );
        }
    });
    for set in ALL_SETS {
        let names = strs(&r["caps"][set]["names"]);
        assert!(
            names.contains(&"CAP_NET_ADMIN".to_string()),
            "{set}: {names:?}"
        );
    }
    assert_eq!(strs(&r["caps"]["inheritable"]["names"]), ["CAP_NET_ADMIN"]);
    assert_eq!(r["caps"]["bounding"]["hex"], "0000000020001420");
}

#[test]
fn capabilities_per_set() {
    let t = Test::new("proc-caps-sets");
    let (r, _) = t.compare_with_runc(|b| {
        b.set(
            "/process/capabilities",
            json!({
                "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_TIME", "CAP_NET_RAW"],
                "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_TIME"],
                "effective": ["CAP_KILL"],
                "inheritable": ["CAP_SYS_TIME"],
                "ambient": ["CAP_SYS_TIME"]
            }),
        );
    });
    // As uid 0, execve makes every permitted capability effective (no SECBIT_NOROOT).
    assert_eq!(
        strs(&r["caps"]["bounding"]["names"]),
        ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_TIME"]
    );
    assert_eq!(
        strs(&r["caps"]["permitted"]["names"]),
        ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_TIME"]
    );
    assert_eq!(
        strs(&r["caps"]["effective"]["names"]),
        ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_TIME"]
    );
    assert_eq!(strs(&r["caps"]["inheritable"]["names"]), ["CAP_SYS_TIME"]);
    assert_eq!(strs(&r["caps"]["ambient"]["names"]), ["CAP_SYS_TIME"]);
}

#[test]
fn capabilities_empty() {
    let t = Test::new("proc-caps-none");
    let (r, _) = t.compare_with_runc(|b| {
        b.set("/process/capabilities", json!({}));
    });
    for set in ALL_SETS {
        assert_eq!(r["caps"][set]["hex"], "0000000000000000", "{set}");
    }
}

#[test]
fn no_new_privileges() {
    let t = Test::new("proc-nnp");
    let (r, _) = t.compare_with_runc(|_| {});
    assert_eq!(r["no_new_privs"], true);
    let (r, _) = t.compare_with_runc(|b| {
        b.set("/process/noNewPrivileges", json!(false));
    });
    assert_eq!(r["no_new_privs"], false);
}

#[test]
fn oom_score_adj() {
    let t = Test::new("proc-oom");
    let (r, _) = t.compare_with_runc(|b| {
        b.set("/process/oomScoreAdj", json!(500));
    });
    assert_eq!(r["oom_score_adj"], 500);
}

#[test]
fn hostname() {
    let t = Test::new("proc-hostname");
    let (r, _) = t.compare_with_runc(|b| {
        b.set("/hostname", json!("keel-host"));
    });
    assert_eq!(r["hostname"], "keel-host");
    let mut b = t.bundle();
    b.set("/hostname", json!("keel-host"));
    assert_eq!(t.rt.sh(&b, "hostname").stdout.trim(), "keel-host");
}

/// runc 1.1.5 ignores the top-level `domainname` (the container sees "(none)"), so this test
/// fails against runc.
#[test]
fn domainname() {
    let t = Test::new("proc-domainname");
    let mut b = t.bundle();
    b.set("/domainname", json!("keel.example"));
    let r = t.rt.probe(&b, &[]);
    assert_eq!(r["domainname"], "keel.example");
    assert_eq!(r["hostname"], "runc", "the default spec's hostname");
}

#[test]
fn sysctl() {
    let t = Test::new("proc-sysctl");
    let patch = |b: &mut Bundle| {
        b.set(
            "/linux/sysctl",
            json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "4242"}),
        );
    };
    let mut ours = t.bundle();
    patch(&mut ours);
    let paths = [
        "read",
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/kernel/msgmax",
    ];
    let r = t.rt.probe(&ours, &paths);
    assert_eq!(r["/proc/sys/net/ipv4/ip_forward"], "1\n", "{r}");
    assert_eq!(r["/proc/sys/kernel/msgmax"], "4242\n", "{r}");
    let mut theirs = t.bundle();
    patch(&mut theirs);
    assert_eq!(t.runc.probe(&theirs, &paths), r);
    // The host's values are untouched (they live in the container's net/ipc namespaces).
    let host = std::fs::read_to_string("/proc/sys/kernel/msgmax").unwrap();
    assert_ne!(host.trim(), "4242");
}

/// runc 1.1.5 ignores linux.personality, so this test fails against runc.
#[test]
fn personality_linux32() {
    let t = Test::new("proc-personality");
    let mut b = t.bundle();
    b.set("/linux/personality", json!({"domain": "LINUX32"}));
    let r = t.rt.probe(&b, &[]);
    assert_eq!(r["machine"], "i686", "uname machine with LINUX32");
    assert_eq!(
        r["personality"].as_i64().map(|p| p & 0xff),
        Some(8),
        "PER_LINUX32: {}",
        r["personality"]
    );
    assert_eq!(t.rt.sh(&b, "uname -m").stdout.trim(), "i686");
}

/// Runs `<runtime> run <extra> --bundle ... id` with `file` open on fd 3 (via a shell wrapper),
/// optionally as a systemd socket-activation caller (LISTEN_FDS=1, LISTEN_PID=<runtime pid>).
fn run_with_fd3(
    rt: &crate::harness::Runtime,
    b: &Bundle,
    file: &std::path::Path,
    extra: &[&str],
    listen: bool,
) -> Value {
    b.write();
    rt.register(b);
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--bundle", b.dir_str(), &b.id]);
    let script = if listen {
        "export LISTEN_FDS=1 LISTEN_PID=$$; exec 3<\"$0\"; exec \"$@\""
    } else {
        "exec 3<\"$0\"; exec \"$@\""
    };
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script)
        .arg(file)
        .args(rt.argv(&args))
        .stdin(std::process::Stdio::null());
    let out = rt.capture(cmd, "run-fd3");
    assert_eq!(out.code, 0, "{out}");
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}\n{out}"))
}

fn fd_targets(r: &Value) -> Vec<(i64, String)> {
    r["fds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["fd"].as_i64().unwrap(),
                f["target"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

#[test]
fn preserve_fds() {
    let t = Test::new("proc-preserve-fds");
    let file = t.host_dir("fd").join("passed");
    std::fs::write(&file, "x").unwrap();
    let want = file.to_str().unwrap().to_string();
    for rt in [&t.rt, &t.runc] {
        let r = run_with_fd3(rt, &t.bundle(), &file, &["--preserve-fds", "1"], false);
        assert!(
            fd_targets(&r).contains(&(3, want.clone())),
            "{}: fd 3 not preserved: {:?}",
            rt.name,
            fd_targets(&r)
        );
        let r = run_with_fd3(rt, &t.bundle(), &file, &[], false);
        assert!(
            !fd_targets(&r).iter().any(|(fd, _)| *fd == 3),
            "{}: fd 3 leaked in without --preserve-fds: {:?}",
            rt.name,
            fd_targets(&r)
        );
    }
}

#[test]
fn listen_fds_are_passed_on() {
    let t = Test::new("proc-listen-fds");
    let file = t.host_dir("fd").join("socket-ish");
    std::fs::write(&file, "x").unwrap();
    let want = file.to_str().unwrap().to_string();
    for rt in [&t.rt, &t.runc] {
        let r = run_with_fd3(rt, &t.bundle(), &file, &[], true);
        assert!(
            fd_targets(&r).contains(&(3, want.clone())),
            "{}: LISTEN_FDS fd 3 not passed: {:?}",
            rt.name,
            fd_targets(&r)
        );
        let env = strs(&r["env"]);
        for e in ["LISTEN_FDS=1", "LISTEN_PID=1"] {
            assert!(
                env.contains(&e.to_string()),
                "{}: {e} missing from {env:?}",
                rt.name
            );
        }
    }
}

const SCHED_BATCH: i64 = 3;

/// runc 1.1.5 ignores `process.scheduler` (the container stays SCHED_OTHER, nice 0), so this
/// checks keel only and fails against runc.
#[test]
fn scheduler_batch_with_nice() {
    let t = Test::new("proc-sched");
    let mut b = t.bundle();
    b.set(
        "/process/scheduler",
        json!({"policy": "SCHED_BATCH", "nice": 5}),
    );
    let r = t.rt.probe(&b, &[]);
    assert_eq!(r["sched"]["policy"], SCHED_BATCH, "{}", r["sched"]);
    assert_eq!(r["sched"]["nice"], 5, "{}", r["sched"]);
    assert_eq!(r["sched"]["priority"], 0, "{}", r["sched"]);
}

/// runc 1.1.5 ignores `process.ioPriority` (the probe sees the default, 0), so this checks keel
/// only and fails against runc.
#[test]
fn io_priority_best_effort_6() {
    let t = Test::new("proc-ioprio");
    let mut b = t.bundle();
    b.set(
        "/process/ioPriority",
        json!({"class": "IOPRIO_CLASS_BE", "priority": 6}),
    );
    let r = t.rt.probe(&b, &[]);
    const IOPRIO_CLASS_BE: i64 = 2;
    assert_eq!(r["ioprio"], (IOPRIO_CLASS_BE << 13) | 6, "{}", r["ioprio"]);
}

/// runc 1.1.5 ignores `process.execCPUAffinity` (the container may run on every CPU), so this
/// checks keel only and fails against runc.
#[test]
fn exec_cpu_affinity() {
    let t = Test::new("proc-affinity");
    let mut b = t.bundle();
    b.set(
        "/process/execCPUAffinity",
        json!({"initial": "0", "final": "0"}),
    );
    let r = t.rt.probe(&b, &[]);
    assert_eq!(r["cpu_affinity"], json!([0]), "{}", r["cpu_affinity"]);
}

/// The session keyring's description with the container id replaced, after checking that it
/// is a new keyring named `_ses.<id>`.
fn new_session_keyring(rt: &Runtime, b: &Bundle, host: &Value, what: &str) -> String {
    let k = rt.probe(b, &[])["keyring"].clone();
    assert_ne!(
        k["serial"], host["serial"],
        "{}: {what}: the container kept the caller's session keyring: {k}",
        rt.name
    );
    let desc = k["description"].as_str().unwrap_or("");
    assert!(
        desc.starts_with("keyring;") && desc.ends_with(&format!(";_ses.{}", b.id)),
        "{}: {what}: the session keyring is not `_ses.<id>`: {k}",
        rt.name
    );
    desc.replace(&b.id, "<ID>")
}

/// By default the container joins a new session keyring named `_ses.<id>`; its description
/// (type, owner, permissions, name) must be runc's, with and without a user namespace.
#[test]
fn session_keyring_is_new_and_named_after_the_id() {
    let t = Test::new("proc-keyring");
    let host = crate::harness::probe_on_host(&[])["keyring"].clone();
    assert!(host["serial"].as_i64().is_some(), "host keyring: {host}");
    let mut diffs = Vec::new();
    for (what, userns) in [("default", false), ("user namespace", true)] {
        let bundle = || {
            let mut b = t.bundle();
            if userns {
                crate::namespaces::userns_patch(&mut b);
            }
            b
        };
        let ours = new_session_keyring(&t.rt, &bundle(), &host, what);
        let theirs = new_session_keyring(&t.runc, &bundle(), &host, what);
        if ours != theirs {
            diffs.push(format!("{what}: {} {ours:?}, runc {theirs:?}", t.rt.name));
        }
    }
    assert!(
        diffs.is_empty(),
        "session keyring `type;uid;gid;perm;name` differs from runc's:\n{}",
        diffs.join("\n")
    );
}

/// `--no-new-keyring`: the container keeps the caller's session keyring.
#[test]
fn no_new_keyring_keeps_the_callers_keyring() {
    let t = Test::new("proc-no-keyring");
    let host = crate::harness::probe_on_host(&[])["keyring"].clone();
    for rt in [&t.rt, &t.runc] {
        let r = rt.probe_with(&t.bundle(), &["--no-new-keyring"], &[]);
        assert_eq!(
            r["keyring"], host,
            "{}: --no-new-keyring: the container's session keyring is not the caller's",
            rt.name
        );
    }
}
