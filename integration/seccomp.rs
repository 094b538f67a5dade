//! linux.seccomp: every action, argument operators, architectures, flags, Docker's default profile
//! and SCMP_ACT_NOTIFY with an agent. Calls are made with busybox or `/probe syscall NR ARG...`
//! (one raw call, `{"ret":N}` or `{"errno":E,...}`), and compared with runc wherever runc 1.1.5
//! supports the feature.

#[path = "data/docker_seccomp.rs"]
mod docker_seccomp;

use crate::harness::fdpass::recv_fd;
use crate::harness::{assert_nothing_left, Bundle, Out, Runtime, Test};
use serde_json::{json, Value};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::Command;
use std::time::{Duration, Instant};

/// SIGSYS ends the process: `run` exits 128 + 31.
const SIGSYS_EXIT: i32 = 159;
const X32_BIT: i64 = 0x4000_0000;

fn seccomp(b: &mut Bundle, profile: Value) {
    b.set("/linux/seccomp", profile);
}

/// `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [...]}`.
fn allow_but(syscalls: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": syscalls})
}

/// `/probe syscall NR ARGS` as a shell command line.
fn call(nr: i64, args: &[u64]) -> String {
    let mut s = format!("/probe syscall {nr}");
    for a in args {
        s.push_str(&format!(" {a:#x}"));
    }
    s
}

/// Runs `sh -c script` with `patch` under one runtime.
fn sh_under(t: &Test, rt: &Runtime, patch: &dyn Fn(&mut Bundle), script: &str) -> Out {
    let mut b = t.bundle();
    patch(&mut b);
    b.args(&["/bin/sh", "-c", script]);
    rt.run(&b)
}

/// Runs `sh -c script` with `patch` under the runtime under test and under runc, asserts they
/// agree on the exit code, stdout and stderr, and returns the runtime's output.
fn same_as_runc(t: &Test, patch: impl Fn(&mut Bundle), script: &str) -> Out {
    let ours = sh_under(t, &t.rt, &patch, script);
    let theirs = sh_under(t, &t.runc, &patch, script);
    assert_eq!(
        (ours.code, &ours.stdout, &ours.stderr),
        (theirs.code, &theirs.stdout, &theirs.stderr),
        "{} and runc differ\n{ours}\n{theirs}",
        t.rt.name
    );
    ours
}

/// The probe's `syscall` lines of an output, parsed.
fn results(out: &Out) -> Vec<Value> {
    out.stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{out}")))
        .collect()
}

fn errno(e: i32) -> Value {
    json!(e)
}

#[test]
fn errno_ret_and_the_eperm_default() {
    let t = Test::new("sc-errno");
    let out = same_as_runc(
        &t,
        |b| {
            seccomp(
                b,
                allow_but(json!([
                    {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                    {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"},
                ])),
            )
        },
        "mkdir /dev/shm/a; echo mkdir=$?; rmdir /dev/shm; echo rmdir=$?; touch /dev/shm/f && echo touch=ok",
    );
    assert_eq!(out.stdout, "mkdir=1\nrmdir=1\ntouch=ok\n", "{out}");
    assert!(
        out.stderr
            .contains("'/dev/shm/a': Function not implemented"),
        "{out}"
    );
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
}

#[test]
fn probe_reports_filter_mode() {
    let t = Test::new("sc-mode");
    let (r, _) = t.compare_with_runc(|b| {
        seccomp(
            b,
            allow_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}])),
        )
    });
    assert_eq!(r["seccomp"], 2, "{}", r["seccomp"]);
    assert_eq!(r["no_new_privs"], true);
    // And without linux.seccomp, no filter at all.
    let r = t.rt.probe(&t.bundle(), &[]);
    assert_eq!(r["seccomp"], 0);
}

#[test]
fn kill_and_trap_end_the_process_with_sigsys() {
    let t = Test::new("sc-kill");
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
    ] {
        let patch = |b: &mut Bundle| {
            seccomp(
                b,
                allow_but(json!([{"names": ["getppid"], "action": action}])),
            );
            b.args(&["/probe", "syscall", &libc::SYS_getppid.to_string()]);
        };
        let mut ours = t.bundle();
        patch(&mut ours);
        let out = t.rt.run(&ours);
        assert_eq!(out.code, SIGSYS_EXIT, "{action}: {out}");
        assert_eq!(out.stdout, "", "{action}: the call must not return\n{out}");
        let mut theirs = t.bundle();
        patch(&mut theirs);
        assert_eq!(t.runc.run(&theirs).code, SIGSYS_EXIT, "{action} under runc");
    }
    // The shell sees its child die of SIGSYS, and goes on.
    let out = same_as_runc(
        &t,
        |b| {
            seccomp(
                b,
                allow_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_KILL_PROCESS"}])),
            )
        },
        "mkdir /dev/shm/k; echo rc=$?",
    );
    assert!(out.stdout.contains(&format!("rc={SIGSYS_EXIT}")), "{out}");
}

#[test]
fn trace_without_a_tracer_is_enosys() {
    let t = Test::new("sc-trace");
    let out = same_as_runc(
        &t,
        |b| {
            seccomp(
                b,
                allow_but(
                    json!([{"names": ["getppid"], "action": "SCMP_ACT_TRACE", "errnoRet": 5}]),
                ),
            )
        },
        &call(libc::SYS_getppid, &[]),
    );
    assert_eq!(results(&out)[0]["errno"], errno(libc::ENOSYS), "{out}");
}

/// Kernel log lines (dmesg) that record a seccomp decision for the probe.
fn audit_lines(nr: i64, code: &str) -> usize {
    let out = Command::new("dmesg")
        .output()
        .unwrap_or_else(|e| panic!("dmesg: {e}"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            l.contains("type=1326")
                && l.contains("comm=\"probe\"")
                && l.contains(&format!(" syscall={nr} "))
                && l.ends_with(&format!("code={code}"))
        })
        .count()
}

/// Runs the probe's `nr` call until the kernel logs it with `code`; returns the last output.
/// The kernel prints audit records through printk_ratelimit (10 per 5 s, shared with the SIGSYS
/// kills of the other tests), so a record can be dropped: retry for a while.
fn logged(t: &Test, rt: &Runtime, patch: &dyn Fn(&mut Bundle), nr: i64, code: &str) -> Out {
    let mut out = None;
    for _ in 0..6 {
        let before = audit_lines(nr, code);
        let o = sh_under(t, rt, patch, &call(nr, &[0xffff_ffff]));
        std::thread::sleep(Duration::from_millis(100));
        if audit_lines(nr, code) > before {
            return o;
        }
        out = Some(o);
        std::thread::sleep(Duration::from_secs(2));
    }
    panic!(
        "{}: no audit line `syscall={nr} ... code={code}` for the probe in dmesg\n{}",
        rt.name,
        out.map(|o| o.to_string()).unwrap_or_default()
    );
}

#[test]
fn log_allows_the_call_and_the_kernel_logs_it() {
    let t = Test::new("sc-log");
    let patch = |b: &mut Bundle| {
        seccomp(
            b,
            allow_but(json!([{"names": ["personality"], "action": "SCMP_ACT_LOG"}])),
        )
    };
    for rt in [&t.rt, &t.runc] {
        let out = logged(&t, rt, &patch, libc::SYS_personality, "0x7ffc0000");
        assert!(results(&out)[0]["ret"].is_i64(), "{}: {out}", rt.name);
    }
}

#[test]
fn flag_log_logs_errno_decisions_too() {
    // keel-specific: runc 1.1.5 refuses every flag ("seccomp flags are not yet supported by runc").
    let t = Test::new("sc-flaglog");
    let patch = |b: &mut Bundle| {
        seccomp(
            b,
            json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77}]
            }),
        )
    };
    // The record carries the action, not its data: ERRNO is 0x50000 whatever the errno.
    let out = logged(&t, &t.rt, &patch, libc::SYS_personality, "0x50000");
    assert_eq!(results(&out)[0]["errno"], 77, "{out}");
}

#[test]
fn flags_spec_allow_and_tsync_are_accepted() {
    // keel-specific: runc 1.1.5 refuses every flag.
    let t = Test::new("sc-flags");
    let patch = |b: &mut Bundle| {
        seccomp(
            b,
            json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
            }),
        )
    };
    // SPEC_ALLOW: no speculative store bypass mitigation forced by seccomp (the kernel's
    // default, spec_store_bypass_disable=prctl, forces none anyway; "thread force mitigated"
    // would show the flag ignored where it is `seccomp`).
    let out = sh_under(
        &t,
        &t.rt,
        &patch,
        "grep Speculation_Store_Bypass /proc/self/status; grep Seccomp: /proc/self/status; \
         mkdir /dev/shm/x; echo rc=$?",
    );
    assert!(!out.stdout.contains("force mitigated"), "{out}");
    assert!(out.stdout.ends_with("Seccomp:\t2\nrc=1\n"), "{out}");
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
}

#[test]
fn personality_eq_blocks_linux32_only() {
    let t = Test::new("sc-eq");
    let out = same_as_runc(
        &t,
        |b| {
            seccomp(
                b,
                allow_but(
                    json!([{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]),
                ),
            )
        },
        "linux32 uname -m; echo rc=$?; linux64 uname -m; echo rc=$?",
    );
    assert_eq!(out.stdout, "rc=1\nx86_64\nrc=0\n", "{out}");
    assert!(
        out.stderr
            .contains("personality(0x8): Operation not permitted"),
        "{out}"
    );
}

/// umask(2) takes any value harmlessly; seccomp sees the whole 64-bit register, so values that
/// differ only in the high word show whether the comparison uses both words.
#[test]
fn every_argument_operator_with_64_bit_values() {
    let t = Test::new("sc-ops");
    let v: u64 = 0x1_0000_0010;
    let args: [u64; 7] = [
        0x10,
        0x11,
        0x1_0000_000f,
        0x1_0000_0010,
        0x1_0000_0011,
        0x2_0000_0000,
        0xffff_ffff_ffff_ffff,
    ];
    // (op, value, valueTwo, when the rule must match)
    type Case = (&'static str, u64, u64, fn(u64) -> bool);
    let cases: [Case; 8] = [
        ("SCMP_CMP_EQ", v, 0, |a| a == 0x1_0000_0010),
        ("SCMP_CMP_NE", v, 0, |a| a != 0x1_0000_0010),
        ("SCMP_CMP_LT", v, 0, |a| a < 0x1_0000_0010),
        ("SCMP_CMP_LE", v, 0, |a| a <= 0x1_0000_0010),
        ("SCMP_CMP_GT", v, 0, |a| a > 0x1_0000_0010),
        ("SCMP_CMP_GE", v, 0, |a| a >= 0x1_0000_0010),
        // A flag bit in each word: value is the mask, valueTwo what the masked bits must be.
        ("SCMP_CMP_MASKED_EQ", 0x1_0000_0001, 0x1_0000_0000, |a| {
            a & 0x1_0000_0001 == 0x1_0000_0000
        }),
        // The bit of the low word only (0o002 of a mode, say).
        ("SCMP_CMP_MASKED_EQ", 0o002, 0o002, |a| a & 0o002 == 0o002),
    ];
    let script: Vec<String> = args.iter().map(|a| call(libc::SYS_umask, &[*a])).collect();
    let script = script.join("; ");
    for (op, value, value_two, holds) in cases {
        let mut arg = json!({"index": 0, "value": value, "op": op});
        if op == "SCMP_CMP_MASKED_EQ" {
            arg["valueTwo"] = json!(value_two);
        }
        let out = same_as_runc(
            &t,
            |b| {
                seccomp(
                    b,
                    allow_but(json!([{"names": ["umask"], "action": "SCMP_ACT_ERRNO",
                        "errnoRet": 33, "args": [arg]}])),
                )
            },
            &script,
        );
        let got = results(&out);
        for (a, r) in args.iter().zip(&got) {
            let blocked = r["errno"] == 33;
            assert_eq!(
                blocked,
                holds(*a),
                "{op} {value:#x}/{value_two:#x} on {a:#x}: {r}"
            );
        }
        assert_eq!(got.len(), args.len(), "{out}");
    }
}

#[test]
fn conditions_on_the_same_argument_are_ored_as_in_runc() {
    let t = Test::new("sc-sameidx");
    let out = same_as_runc(
        &t,
        |b| {
            seccomp(
                b,
                allow_but(
                    json!([{"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33,
                    "args": [{"index": 0, "value": 10, "op": "SCMP_CMP_GE"},
                             {"index": 0, "value": 5, "op": "SCMP_CMP_LE"}]}]),
                ),
            )
        },
        &[3u64, 7, 12]
            .iter()
            .map(|a| call(libc::SYS_umask, &[*a]))
            .collect::<Vec<_>>()
            .join("; "),
    );
    let blocked: Vec<bool> = results(&out).iter().map(|r| r["errno"] == 33).collect();
    assert_eq!(blocked, [true, false, true], "{out}");
}

/// Docker's allow-list (its first rule), which holds every call init and busybox need.
fn docker_allow_list() -> Vec<Value> {
    let p = docker_profile_json();
    p["syscalls"][0]["names"]
        .as_array()
        .unwrap_or_else(|| panic!("no names in the first rule"))
        .clone()
}

#[test]
fn default_errno_with_an_allow_list_and_runcs_enosys_stub() {
    let t = Test::new("sc-allowlist");
    // Plus arch_prctl (static binaries set up their TLS with it) and clone (sh forks with it),
    // which Docker allows in rules of their own.
    let mut names: Vec<Value> = docker_allow_list()
        .into_iter()
        .filter(|n| n != "mkdir" && n != "mkdirat")
        .collect();
    names.extend([json!("arch_prctl"), json!("clone")]);
    let script = format!(
        "echo start; mkdir /dev/shm/x; echo rc=$?; {}; {}",
        call(400, &[]),
        call(999, &[])
    );
    for (arches, want_999) in [
        (json!(null), libc::EACCES),
        (json!(["SCMP_ARCH_X86_64"]), libc::ENOSYS),
    ] {
        let out = same_as_runc(
            &t,
            |b| {
                let mut p = json!({
                    "defaultAction": "SCMP_ACT_ERRNO",
                    "defaultErrnoRet": libc::EACCES,
                    "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]
                });
                if !arches.is_null() {
                    p["architectures"] = arches.clone();
                }
                seccomp(b, p)
            },
            &script,
        );
        assert!(out.stdout.starts_with("start\nrc=1\n"), "{out}");
        assert!(out.stderr.contains("Permission denied"), "{out}");
        let r = results(&out);
        // 400: a hole below the largest allowed number: the default; 999: above all of them.
        assert_eq!(r[0]["errno"], errno(libc::EACCES), "{out}");
        assert_eq!(
            r[1]["errno"],
            errno(want_999),
            "architectures {arches}: {out}"
        );
    }
}

#[test]
fn overlapping_rules_the_most_restrictive_wins() {
    // keel-specific: libseccomp lets the unconditional LOG rule win over the conditional ERRNO
    // (runc: both mkdirs succeed); keel applies the kernel's precedence between actions.
    let t = Test::new("sc-overlap");
    let patch = |b: &mut Bundle| {
        seccomp(
            b,
            allow_but(json!([
                {"names": ["mkdir"], "action": "SCMP_ACT_LOG"},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                 "args": [{"index": 1, "value": 0o777, "op": "SCMP_CMP_EQ"}]},
            ])),
        )
    };
    // busybox mkdir always passes 0777 (and chmods afterwards); the probe passes what it is told.
    let script = format!(
        "mkdir /dev/shm/a; echo rc=$?; {}",
        call(libc::SYS_mkdir, &[0, 0o755])
    );
    let out = sh_under(&t, &t.rt, &patch, &script);
    assert!(out.stdout.starts_with("rc=1\n"), "{out}");
    assert!(out.stderr.contains("Function not implemented"), "{out}");
    // The LOG rule: the call runs (and fails on the NULL path).
    assert_eq!(results(&out)[0]["errno"], errno(libc::EFAULT), "{out}");
}

/// Docker's default profile as Docker renders it for a container with runc's default
/// capabilities on amd64 (see integration/data/README.md).
fn docker_profile_json() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/integration/data/docker-default.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn docker_default_seccomp(caps: &[&str]) -> Value {
    docker_seccomp::docker_to_oci(&docker_profile_json(), caps)
}

#[test]
fn docker_default_profile_runs_busybox_and_blocks_namespaces_and_mounts() {
    let t = Test::new("sc-docker");
    let profile = docker_default_seccomp(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    // CAP_SYS_ADMIN in the container, but the profile made for a container without it: only
    // seccomp stands between the process and mount/unshare.
    let with_sys_admin = |b: &mut Bundle| {
        for set in ["bounding", "effective", "permitted"] {
            b.push(
                &format!("/process/capabilities/{set}"),
                json!("CAP_SYS_ADMIN"),
            );
        }
    };
    let script = "echo hello; ls / >/dev/null && echo ls=ok; head -1 /etc/passwd; \
                  mkdir /dev/shm/d && rmdir /dev/shm/d && echo dir=ok; ps -o comm >/dev/null && echo ps=ok; \
                  unshare -m true; echo unshare=$?; mount -t tmpfs none /mnt; echo mount=$?";
    let unconfined = sh_under(&t, &t.rt, &with_sys_admin, script);
    assert!(
        unconfined.stdout.contains("unshare=0") && unconfined.stdout.contains("mount=0"),
        "without seccomp CAP_SYS_ADMIN allows both: {unconfined}"
    );
    let out = same_as_runc(
        &t,
        |b| {
            with_sys_admin(b);
            seccomp(b, profile.clone());
        },
        script,
    );
    for want in [
        "hello\n",
        "ls=ok\n",
        "root:x:0:0",
        "dir=ok\n",
        "ps=ok\n",
        "unshare=1\n",
    ] {
        assert!(out.stdout.contains(want), "{want:?} missing:\n{out}");
    }
    assert!(!out.stdout.contains("mount=0"), "{out}");
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
    // The probe's whole report agrees with runc's under the profile.
    let (r, _) = t.compare_with_runc(|b| seccomp(b, profile.clone()));
    assert_eq!(r["seccomp"], 2);
}

#[test]
fn without_no_new_privileges_the_filter_is_loaded_before_the_user_switch() {
    let t = Test::new("sc-nonnp");
    let patch = |b: &mut Bundle| {
        b.set("/process/noNewPrivileges", json!(false));
        b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
        seccomp(
            b,
            allow_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}])),
        );
    };
    let (r, _) = t.compare_with_runc(patch);
    assert_eq!(
        (&r["seccomp"], &r["no_new_privs"], &r["uid"]),
        (&json!(2), &json!(false), &json!(1000))
    );
    let out = same_as_runc(&t, patch, "mkdir /dev/shm/x; echo rc=$?");
    assert!(out.stderr.contains("Function not implemented"), "{out}");
}

#[test]
fn i386_and_x32_calls_follow_architectures() {
    let t = Test::new("sc-arch");
    let i386_getpid = "/probe syscall32 20; echo rc=$?".to_string();
    let x32_getpid = format!("{}; echo rc=$?", call(X32_BIT | libc::SYS_getpid, &[]));
    let script = format!(
        "{}; {i386_getpid}; {x32_getpid}",
        call(libc::SYS_getpid, &[])
    );
    let block_getpid = json!([{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33}]);
    let run = |arches: Value| {
        let mut p = allow_but(block_getpid.clone());
        if !arches.is_null() {
            p["architectures"] = arches;
        }
        same_as_runc(&t, |b| seccomp(b, p.clone()), &script)
    };
    let lines = |o: &Out| o.stdout.lines().map(str::to_string).collect::<Vec<_>>();

    // Native only: the i386 and x32 calls are a bad architecture, killed.
    let out = run(json!(null));
    assert_eq!(
        lines(&out),
        [
            r#"{"errno":33,"error":"Numerical argument out of domain"}"#.to_string(),
            format!("rc={SIGSYS_EXIT}"),
            format!("rc={SIGSYS_EXIT}"),
        ],
        "{out}"
    );
    // All three: getpid is blocked through every ABI (x32 calls are decided before the kernel
    // would refuse them on a kernel without x32 support).
    let out = run(json!([
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32"
    ]));
    let r = results(&out);
    assert_eq!(r.len(), 3, "{out}");
    assert!(r.iter().all(|r| r["errno"] == 33), "{out}");
    // i386 only (x86_64 is always there): the x32 call is still killed.
    let out = run(json!(["SCMP_ARCH_X86"]));
    let r = results(&out);
    assert_eq!(r.len(), 2, "{out}");
    assert!(
        out.stdout.ends_with(&format!("rc={SIGSYS_EXIT}\n")),
        "{out}"
    );
}

#[test]
fn unknown_syscall_names_are_skipped_with_a_warning() {
    // keel-specific: runc skips them silently.
    let t = Test::new("sc-unknown");
    let patch = |b: &mut Bundle| {
        seccomp(
            b,
            allow_but(
                json!([{"names": ["no_such_syscall", "mkdir", "arm_fadvise64_64"],
                "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]),
            ),
        )
    };
    let out = sh_under(&t, &t.rt, &patch, "mkdir /dev/shm/x; echo rc=$?");
    assert_eq!(out.stdout, "rc=1\n", "{out}");
    assert!(
        out.stderr
            .contains("msg=\"linux.seccomp: ignoring unknown syscalls: no_such_syscall\""),
        "{out}"
    );
    assert!(!out.stderr.contains("arm_fadvise64_64"), "{out}");
}

#[test]
fn bad_profiles_fail_create_naming_the_field() {
    // keel-specific messages; nothing may be left behind.
    let t = Test::new("sc-bad");
    for (profile, want) in [
        (
            allow_but(json!([{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}])),
            "linux.seccomp.syscalls[0].args[0].index: a syscall has 6 arguments (0 to 5), got 7",
        ),
        (
            allow_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}])),
            "linux.seccomp.listenerPath: required by the SCMP_ACT_NOTIFY rule linux.seccomp.syscalls[0]",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_BOGUS"}),
            "linux.seccomp.defaultAction: unknown variant `SCMP_ACT_BOGUS`",
        ),
    ] {
        let mut b = t.bundle();
        seccomp(&mut b, profile);
        t.rt.create(&b).fails_with(want);
        assert_nothing_left(&t.rt.root, &b.id, &b.dir);
    }
}

#[test]
fn a_filter_that_kills_init_fails_create_with_a_diagnosis() {
    // keel-specific message (runc: "container process is already dead"). Without
    // noNewPrivileges the filter is in place before init drops its capabilities with capset.
    let t = Test::new("sc-killinit");
    let mut b = t.bundle();
    b.set("/process/noNewPrivileges", json!(false));
    seccomp(
        &mut b,
        allow_but(json!([{"names": ["capset"], "action": "SCMP_ACT_KILL_PROCESS"}])),
    );
    t.rt.create(&b)
        .fails_with("container init was killed by SIGSYS (does linux.seccomp block a syscall");
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
    // (runc's `create` even succeeds here, leaving a stopped container; its `run` fails.)
    let mut b = t.bundle();
    b.set("/process/noNewPrivileges", json!(false));
    seccomp(
        &mut b,
        allow_but(json!([{"names": ["capset"], "action": "SCMP_ACT_KILL_PROCESS"}])),
    );
    t.runc.run(&b).failed();
}

#[test]
fn unreachable_listener_fails_create_and_cleans_up() {
    let t = Test::new("sc-nolistener");
    let sock = t.host_dir("agent").join("missing.sock");
    let mut b = t.bundle();
    seccomp(
        &mut b,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock,
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    t.rt.create(&b).fails_with(&format!(
        "linux.seccomp.listenerPath: {}: No such file or directory",
        sock.display()
    ));
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
    let mut b = t.bundle();
    seccomp(
        &mut b,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock,
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    t.runc.create(&b).failed();
}

/// What the agent saw: the message that came with the fd, and the notification it answered.
struct Agent {
    message: Value,
    notified_nr: i32,
    notified_pid: u32,
}

/// A seccomp agent: accepts one connection on `listener`, takes the state and the fd, waits for
/// one notification and answers it with `-errno`.
fn agent(
    listener: UnixListener,
    answer_errno: i32,
) -> std::thread::JoinHandle<Result<Agent, String>> {
    std::thread::spawn(move || {
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(format!("no connection from the runtime: {e}")),
            }
        };
        stream.set_nonblocking(false).map_err(|e| e.to_string())?;
        let (fd, text) = recv_fd(&stream).map_err(|e| format!("recvmsg: {e}"))?;
        let message: Value =
            serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text:?}"))?;
        let (notified_nr, notified_pid) = answer_one(&fd, answer_errno)?;
        Ok(Agent {
            message,
            notified_nr,
            notified_pid,
        })
    })
}

fn answer_one(fd: &OwnedFd, answer_errno: i32) -> Result<(i32, u32), String> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, 20_000) };
    if n != 1 {
        return Err(format!("no notification within 20 s (poll {n})"));
    }
    // SAFETY: seccomp_notif is plain old data; the kernel wants it zeroed.
    let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: NOTIF_RECV fills the seccomp_notif we pass, which lives for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut notif) };
    if r != 0 {
        return Err(format!("NOTIF_RECV: {}", std::io::Error::last_os_error()));
    }
    let resp = libc::seccomp_notif_resp {
        id: notif.id,
        val: 0,
        error: -answer_errno,
        flags: 0,
    };
    // SAFETY: NOTIF_SEND reads the response struct, which lives for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    if r != 0 {
        return Err(format!("NOTIF_SEND: {}", std::io::Error::last_os_error()));
    }
    Ok((notif.data.nr, notif.pid))
}

/// create with a NOTIFY profile, check what the agent got, start, check the container saw the
/// agent's answer.
fn notify_round_trip(t: &Test, rt: &Runtime, tag: &str, extra_flags: Value) {
    let sock = t.host_dir(&format!("agent-{tag}")).join("agent.sock");
    let listener =
        UnixListener::bind(&sock).unwrap_or_else(|e| panic!("bind {}: {e}", sock.display()));
    let handle = agent(listener, libc::ENOMEDIUM);
    let mut b = t.bundle();
    seccomp(
        &mut b,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock,
            "listenerMetadata": "agent-metadata", "flags": extra_flags,
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    b.args(&[
        "/bin/sh",
        "-c",
        "mkdir /dev/shm/n 2>&1; echo rc=$?; test -d /dev/shm/n || echo absent",
    ]);
    let created = rt.create(&b);
    created.ok();
    let pid = rt.state_json(&b.id)["pid"].as_i64().unwrap_or(-1);
    rt.start(&b.id).ok();
    let got = handle
        .join()
        .unwrap_or_else(|_| panic!("agent thread panicked"))
        .unwrap_or_else(|e| panic!("{}: {e}\n{created}", rt.name));
    rt.wait_status(&b.id, "stopped", Duration::from_secs(10));
    rt.delete(&b.id).ok();

    let m = &got.message;
    assert_eq!(m["fds"], json!(["seccompFd"]), "{}: {m}", rt.name);
    assert_eq!(m["pid"], pid, "{}: {m}", rt.name);
    assert_eq!(m["metadata"], "agent-metadata", "{}: {m}", rt.name);
    assert!(m["ociVersion"].is_string(), "{}: {m}", rt.name);
    let st = &m["state"];
    assert_eq!(
        (&st["id"], &st["status"], &st["pid"]),
        (&json!(b.id), &json!("creating"), &json!(pid)),
        "{}: {m}",
        rt.name
    );
    assert_eq!(st["bundle"], json!(b.dir_str()), "{}: {m}", rt.name);
    assert_eq!(i64::from(got.notified_nr), libc::SYS_mkdir, "{}", rt.name);
    assert_ne!(
        i64::from(got.notified_pid),
        pid,
        "mkdir runs in a child of sh"
    );
    let out = created.reread_stdout();
    assert_eq!(
        out, "mkdir: can't create directory '/dev/shm/n': No medium found\nrc=1\nabsent\n",
        "{}",
        rt.name
    );
}

#[test]
fn notify_hands_the_listener_to_the_agent() {
    let t = Test::new("sc-notify");
    notify_round_trip(&t, &t.rt, "rt", json!([]));
    notify_round_trip(&t, &t.runc, "runc", json!([]));
}

#[test]
fn notify_with_wait_killable_recv_and_tsync() {
    // keel-specific: runc 1.1.5 refuses SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ("seccomp flags
    // are not yet supported by runc").
    let t = Test::new("sc-notify-flags");
    notify_round_trip(
        &t,
        &t.rt,
        "rt",
        json!([
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            "SECCOMP_FILTER_FLAG_TSYNC"
        ]),
    );
}
