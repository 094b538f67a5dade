//! config.md: root, mounts, process, rlimits, capabilities, oomScoreAdj, annotations,
//! extensibility and valid values.

use super::{create_must_fail, ensure, err_text, Env, Res, Why};
use crate::harness::compare::mount_at;
use crate::harness::{Bundle, Runtime, Test};
use serde_json::{json, Value};

/// Runs the probe report in a container made from `b`; the report or a failure.
fn report(rt: &Runtime, b: &Bundle) -> Result<Value, Why> {
    let out = rt.run(&b.with_probe(&[]));
    ensure!(out.code == 0, "the container failed:\n{out}");
    serde_json::from_str(out.stdout.trim())
        .map_err(|e| Why::Fail(format!("probe printed no JSON ({e}):\n{out}")))
}

fn mount_opts(m: &Value) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for key in ["mount_options", "super_options"] {
        v.extend(m[key].as_str().unwrap_or("").split(',').map(str::to_string));
    }
    v
}

pub fn root_path_missing_fails(env: &Env) -> Res {
    let t = env.test("root-missing");
    let mut b = t.bundle();
    b.set("/root/path", json!("conf-no-such-rootfs"));
    create_must_fail(env.rt(&t), &b)
}

pub fn root_readonly(env: &Env) -> Res {
    let t = env.test("root-ro");
    let rt = env.rt(&t);
    let mut b = t.bundle();
    b.set("/root/readonly", json!(true));
    let out = rt.run(&b.with_probe(&["write", "/conf-file", "x"]));
    ensure!(out.code != 0, "writing to / succeeded with root.readonly");
    ensure!(
        out.stdout.contains("\"errno\":30"),
        "the write failed, but not with EROFS: {}",
        out.stdout
    );
    Ok(String::new())
}

pub fn mounts_in_listed_order(env: &Env) -> Res {
    let t = env.test("mounts-order");
    let rt = env.rt(&t);
    let src = t.host_dir("src");
    std::fs::write(src.join("file"), "from-bind").unwrap();
    let mut b = t.bundle();
    // A bind mount inside a tmpfs listed before it, and two tmpfs on one destination: in listed
    // order the bind is visible and the second tmpfs is on top.
    b.push("/mounts", json!({"destination": "/conf-m", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    b.push(
        "/mounts",
        json!({"destination": "/conf-m/sub", "type": "bind", "source": src, "options": ["rbind"]}),
    );
    b.push("/mounts", json!({"destination": "/conf-two", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    b.push("/mounts", json!({"destination": "/conf-two", "type": "tmpfs", "source": "tmpfs", "options": ["size=2m"]}));
    let out = rt.run(&b.with_probe(&["read", "/conf-m/sub/file"]));
    ensure!(
        out.stdout.contains("from-bind"),
        "the bind mount under the earlier tmpfs is not visible: {}",
        out.stdout
    );
    let r = report(rt, &b)?;
    let two: Vec<&Value> = r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["mount_point"] == "/conf-two")
        .collect();
    ensure!(two.len() == 2, "want two mounts on /conf-two, got {two:?}");
    let top = two.last().unwrap();
    ensure!(
        top["super_options"]
            .as_str()
            .unwrap_or("")
            .contains("size=2048k"),
        "the last listed mount is not on top: {top}"
    );
    Ok(String::new())
}

pub fn mount_relative_destination(env: &Env) -> Res {
    let t = env.test("mount-reldest");
    let rt = env.rt(&t);
    let mut b = t.bundle();
    b.push(
        "/mounts",
        json!({"destination": "conf-rel", "type": "tmpfs", "source": "tmpfs"}),
    );
    let r = report(rt, &b)?;
    ensure!(mount_at(&r, "/conf-rel").is_some(), "no mount at /conf-rel");
    Ok(String::new())
}

/// Mounts a tmpfs (or a bind of a host dir, for the bind and propagation options) per option
/// and returns the probe report, or the runtime's error.
fn with_each_option(t: &Test, rt: &Runtime, opts: &[&str]) -> Result<Value, Why> {
    let src = t.host_dir("src");
    let mut b = t.bundle();
    for (i, o) in opts.iter().enumerate() {
        let bind = matches!(
            *o,
            "bind"
                | "rbind"
                | "private"
                | "rprivate"
                | "shared"
                | "rshared"
                | "slave"
                | "rslave"
                | "unbindable"
                | "runbindable"
        );
        let m = if bind {
            let mut opts = vec![*o];
            if !matches!(*o, "bind" | "rbind") {
                opts.insert(0, "rbind");
            }
            json!({"destination": format!("/conf-o{i}"), "type": "bind", "source": src, "options": opts})
        } else {
            json!({"destination": format!("/conf-o{i}"), "type": "tmpfs", "source": "tmpfs", "options": [o]})
        };
        b.push("/mounts", m);
    }
    report(rt, &b)
}

/// The visible effect of each option that has one, checked on mount `/conf-o<i>`.
fn check_effects(r: &Value, opts: &[&str]) -> Result<(), Why> {
    let mut wrong = Vec::new();
    for (i, o) in opts.iter().enumerate() {
        let Some(m) = mount_at(r, &format!("/conf-o{i}")) else {
            wrong.push(format!("{o}: no mount"));
            continue;
        };
        let have = mount_opts(m);
        let prop = m["propagation"].to_string();
        let want: Option<&str> = match *o {
            "ro" | "rro" => Some("ro"),
            "nosuid" | "rnosuid" => Some("nosuid"),
            "nodev" | "rnodev" => Some("nodev"),
            "noexec" | "rnoexec" => Some("noexec"),
            "noatime" | "rnoatime" => Some("noatime"),
            "nodiratime" | "rnodiratime" => Some("nodiratime"),
            "relatime" | "rrelatime" => Some("relatime"),
            "nosymfollow" | "rnosymfollow" => Some("nosymfollow"),
            "sync" => Some("sync"),
            "dirsync" => Some("dirsync"),
            "lazytime" => Some("lazytime"),
            _ => None,
        };
        if let Some(w) = want {
            if !have.iter().any(|h| h == w) {
                wrong.push(format!("{o}: mount options {have:?} lack {w}"));
            }
        }
        match *o {
            "strictatime" | "rstrictatime"
                if have.iter().any(|h| h == "relatime" || h == "noatime") =>
            {
                wrong.push(format!("{o}: still {have:?}"))
            }
            "shared" | "rshared" if !prop.contains("shared:") => {
                wrong.push(format!("{o}: propagation {prop}"))
            }
            "unbindable" | "runbindable" if !prop.contains("unbindable") => {
                wrong.push(format!("{o}: propagation {prop}"))
            }
            _ => {}
        }
    }
    ensure!(
        wrong.is_empty(),
        "options without their effect:\n{}",
        wrong.join("\n")
    );
    Ok(())
}

/// config.md's "MUST" option strings (`remount` is left out: on a fresh mount point there is
/// nothing to remount, so mount(2) fails for every runtime).
const MUST_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "private",
    "rbind",
    "relatime",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "unbindable",
];

const SHOULD_OPTIONS: &[&str] = &[
    "nosymfollow",
    "ratime",
    "rdev",
    "rdiratime",
    "rexec",
    "rnoatime",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "rrelatime",
    "rro",
    "rrw",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
];

pub fn mount_options_must(env: &Env) -> Res {
    let t = env.test("mountopts-must");
    let r = with_each_option(&t, env.rt(&t), MUST_OPTIONS)?;
    check_effects(&r, MUST_OPTIONS)?;
    Ok(String::new())
}

pub fn mount_options_should(env: &Env) -> Res {
    let t = env.test("mountopts-should");
    let r = with_each_option(&t, env.rt(&t), SHOULD_OPTIONS)?;
    check_effects(&r, SHOULD_OPTIONS)?;
    Ok(String::new())
}

pub fn mount_unknown_options_as_data(env: &Env) -> Res {
    let t = env.test("mountopts-data");
    let rt = env.rt(&t);
    let mut b = t.bundle();
    b.push("/mounts", json!({"destination": "/conf-data", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m", "mode=711", "nr_inodes=1k"]}));
    let r = report(rt, &b)?;
    let m = mount_at(&r, "/conf-data").ok_or_else(|| Why::Fail("no mount at /conf-data".into()))?;
    let have = mount_opts(m);
    for want in ["size=1024k", "mode=711", "nr_inodes=1024"] {
        ensure!(
            have.iter().any(|h| h == want),
            "{want} did not reach mount(2)'s data: {have:?}"
        );
    }
    Ok(String::new())
}

pub fn console_size_ignored_without_terminal(env: &Env) -> Res {
    let t = env.test("consolesize");
    let rt = env.rt(&t);
    let mut b = t.bundle();
    b.set("/process/consoleSize", json!({"height": 10, "width": 20}));
    let r = report(rt, &b)?;
    ensure!(
        r["tty"]["stdout_isatty"] == false,
        "stdout is a tty without process.terminal"
    );
    Ok(String::new())
}

pub fn cwd_relative_fails(env: &Env) -> Res {
    let t = env.test("cwd-rel");
    let mut b = t.bundle();
    b.set("/process/cwd", json!("tmp"));
    create_must_fail(env.rt(&t), &b)
}

pub fn args_empty_fails(env: &Env) -> Res {
    let t = env.test("args-empty");
    let rt = env.rt(&t);
    let mut b = t.bundle();
    b.set("/process/args", json!([]));
    let out = rt.create(&b);
    if out.code != 0 {
        return super::failed_cleanly(rt, &b, &out, "create");
    }
    let start = rt.start(&b.id);
    ensure!(
        start.code != 0,
        "create and start both accepted empty process.args"
    );
    Ok(format!("start: {}", err_text(&start)))
}

pub fn args_path_lookup(env: &Env) -> Res {
    let t = env.test("args-path");
    let rt = env.rt(&t);
    let mut b = t.bundle();
    b.set("/process/env", json!(["PATH=/conf-nowhere:/bin"]));
    b.args(&["sh", "-c", "exit 7"]);
    let out = rt.run(&b);
    ensure!(
        out.code == 7,
        "`sh` was not found through PATH like execvp: exit {}\n{out}",
        out.code
    );
    Ok(String::new())
}

pub fn rlimit_unknown_fails(env: &Env) -> Res {
    let t = env.test("rlimit-unknown");
    let mut b = t.bundle();
    b.push(
        "/process/rlimits",
        json!({"type": "RLIMIT_CONFORMANCE", "soft": 1, "hard": 1}),
    );
    create_must_fail(env.rt(&t), &b)
}

fn rlimits_report(env: &Env) -> Result<Value, Why> {
    env.cached("rlimits", || {
        let t = env.test("rlimits");
        let rt = env.rt(&t);
        let mut b = t.bundle();
        b.set(
            "/process/rlimits",
            json!([
                {"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654},
                {"type": "RLIMIT_CORE", "soft": 1024, "hard": 4096},
                {"type": "RLIMIT_MSGQUEUE", "soft": 8192, "hard": 16384}
            ]),
        );
        rt.probe(&b, &[])
    })
    .map_err(Why::Fail)
}

fn rlimit_field(env: &Env, which: usize) -> Res {
    let r = rlimits_report(env)?;
    for (name, soft, hard) in [
        ("RLIMIT_NOFILE", 321, 654),
        ("RLIMIT_CORE", 1024, 4096),
        ("RLIMIT_MSGQUEUE", 8192, 16384),
    ] {
        let key = name.trim_start_matches("RLIMIT_").to_lowercase();
        let v = &r["rlimits"][key.as_str()];
        ensure!(
            v.is_array(),
            "getrlimit({name}) failed in the container: {v}"
        );
        if which > 0 {
            let want = if which == 1 { soft } else { hard };
            ensure!(
                v[which - 1] == want,
                "{name}: {v} (want {} {want})",
                if which == 1 { "soft" } else { "hard" }
            );
        }
    }
    Ok(String::new())
}

pub fn rlimit_getrlimit_succeeds(env: &Env) -> Res {
    rlimit_field(env, 0)
}
pub fn rlimit_soft_matches(env: &Env) -> Res {
    rlimit_field(env, 1)
}
pub fn rlimit_hard_matches(env: &Env) -> Res {
    rlimit_field(env, 2)
}

pub fn rlimit_duplicate_fails(env: &Env) -> Res {
    let t = env.test("rlimit-dup");
    let mut b = t.bundle();
    b.set(
        "/process/rlimits",
        json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100}, {"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200}]),
    );
    create_must_fail(env.rt(&t), &b)
}

/// `run` with `cap` added to the bounding, effective and permitted sets (once per runtime).
fn run_with_cap(env: &Env, cap: &str) -> Result<crate::harness::Out, Why> {
    env.cached(&format!("cap-{cap}"), || {
        let t = env.test("cap");
        let rt = env.rt(&t);
        let mut b = t.bundle().with_probe(&["exit", "0"]);
        for set in ["bounding", "effective", "permitted"] {
            b.push(&format!("/process/capabilities/{set}"), json!(cap));
        }
        let out = rt.run(&b);
        json!({"code": out.code, "stderr": out.stderr, "stdout": out.stdout})
    })
    .map_err(Why::Fail)
    .map(|v| crate::harness::Out {
        cmd: "run".into(),
        code: v["code"].as_i64().unwrap_or(-1) as i32,
        stdout: v["stdout"].as_str().unwrap_or("").into(),
        stderr: v["stderr"].as_str().unwrap_or("").into(),
        stdout_path: Default::default(),
    })
}

const UNKNOWN_CAP: &str = "CAP_CONFORMANCE_UNKNOWN";

/// A capability this process (and so the runtime it starts) does not have in its bounding set.
pub fn ungrantable_cap() -> Option<String> {
    let bounding = caps::read(None, caps::CapSet::Bounding).ok()?;
    let mut missing: Vec<caps::Capability> = caps::runtime::thread_all_supported()
        .into_iter()
        .filter(|c| !bounding.contains(c))
        .collect();
    missing.sort_by_key(|c| c.index());
    missing.first().map(|c| c.to_string())
}

/// A warning, not an error: it names the capability and the container still runs.
fn warned(out: &crate::harness::Out, cap: &str) -> Res {
    ensure!(
        out.code == 0,
        "the container failed instead of a warning: {}",
        err_text(out)
    );
    ensure!(
        out.stderr.contains(cap),
        "no warning naming {cap}: {:?}",
        out.stderr.trim()
    );
    Ok(err_text(out))
}

pub fn capability_unknown_warns(env: &Env) -> Res {
    warned(&run_with_cap(env, UNKNOWN_CAP)?, UNKNOWN_CAP)
}

pub fn capability_ungrantable_warns(env: &Env) -> Res {
    let Some(cap) = ungrantable_cap() else {
        return Err(Why::Skip(
            "this host's bounding set has every capability".into(),
        ));
    };
    warned(&run_with_cap(env, &cap)?, &cap)
}

pub fn capability_ungrantable_does_not_fail(env: &Env) -> Res {
    let Some(cap) = ungrantable_cap() else {
        return Err(Why::Skip(
            "this host's bounding set has every capability".into(),
        ));
    };
    let out = run_with_cap(env, &cap)?;
    ensure!(
        out.code == 0,
        "{cap} is not in the runtime's bounding set and the container failed: {}",
        err_text(&out)
    );
    Ok(format!("{cap}: {}", err_text(&out)))
}

pub fn warning_keeps_flow(env: &Env) -> Res {
    // A warning (the unknown capability) must not change the flow: the container still runs
    // exactly as it would without it.
    let out = run_with_cap(env, UNKNOWN_CAP)?;
    ensure!(
        out.code == 0,
        "the container did not run: {}",
        err_text(&out)
    );
    if !out.stderr.contains(UNKNOWN_CAP) {
        return Err(Why::Skip("no warning was logged to observe".into()));
    }
    Ok(String::new())
}

pub fn oom_score_adj_set(env: &Env) -> Res {
    let t = env.test("oom-set");
    let rt = env.rt(&t);
    let mut b = t.bundle();
    b.set("/process/oomScoreAdj", json!(123));
    let r = report(rt, &b)?;
    ensure!(
        r["oom_score_adj"] == 123,
        "oom_score_adj is {}",
        r["oom_score_adj"]
    );
    Ok(String::new())
}

pub fn oom_score_adj_unset_unchanged(env: &Env) -> Res {
    let t = env.test("oom-unset");
    let rt = env.rt(&t);
    let mut b = t.bundle();
    if b.get("/process/oomScoreAdj").is_some() {
        b.remove("/process/oomScoreAdj");
    }
    b.write();
    rt.register(&b);
    let argv = rt.argv(&["run", "--bundle", b.dir_str(), &b.id]);
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("echo 77 > /proc/self/oom_score_adj && exec \"$@\"")
        .arg("sh")
        .args(argv)
        .stdin(std::process::Stdio::null());
    let out = rt.capture(cmd, "run");
    ensure!(out.code == 0, "the container failed:\n{out}");
    let r: Value =
        serde_json::from_str(out.stdout.trim()).map_err(|e| Why::Fail(format!("no JSON ({e})")))?;
    ensure!(
        r["oom_score_adj"] == 77,
        "oom_score_adj is {} though the runtime ran with 77 and the config sets none",
        r["oom_score_adj"]
    );
    Ok(String::new())
}

pub fn annotation_unknown_key_ok(env: &Env) -> Res {
    let t = env.test("annot");
    let rt = env.rt(&t);
    let mut b = t.bundle().with_probe(&["exit", "0"]);
    b.set("/annotations", json!({"com.example.conformance.unknown": "x", "org.opencontainers.conformance.unknown": ""}));
    let out = rt.run(&b);
    ensure!(
        out.code == 0,
        "unknown annotation keys made it fail: {}",
        err_text(&out)
    );
    Ok(String::new())
}

pub fn unknown_property_ignored(env: &Env) -> Res {
    let t = env.test("unknown-prop");
    let rt = env.rt(&t);
    let mut b = t.bundle().with_probe(&["exit", "0"]);
    b.set("/comExampleConformance", json!({"nested": [1, 2]}));
    b.set("/process/comExampleConformance", json!(true));
    b.set("/linux/comExampleConformance", json!("x"));
    b.set("/root/comExampleConformance", json!(1));
    let out = rt.run(&b);
    ensure!(
        out.code == 0,
        "unknown properties made it fail: {}",
        err_text(&out)
    );
    Ok(String::new())
}

pub fn invalid_value_fails(env: &Env) -> Res {
    let t = env.test("invalid-value");
    let mut b = t.bundle();
    b.push("/linux/namespaces", json!({"type": "conformance"}));
    create_must_fail(env.rt(&t), &b)
}
