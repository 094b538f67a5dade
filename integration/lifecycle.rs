//! create / start / state / kill / delete / run / list / spec / --version.

use crate::harness::{assert_nothing_left, cgroup_pids, Runtime, Test};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn assert_timestamp(v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("created is not a string: {v}"));
    // RFC 3339, e.g. 2026-11-23T13:48:31.342762469Z
    let b = s.as_bytes();
    assert!(
        s.len() >= 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':',
        "created is not an RFC 3339 timestamp: {s}"
    );
    assert!(
        s.ends_with('Z') || s[19..].contains('+') || s[19..].contains('-'),
        "created has no zone: {s}"
    );
}

fn proc_exists(pid: i64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn create_start_state_delete() {
    let t = Test::new("lifecycle");
    let b = t.bundle().with_gate();
    t.rt.create(&b).ok();

    let st = t.rt.state_json(&b.id);
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["id"], b.id.as_str(), "{st}");
    assert_eq!(st["bundle"], b.dir_str(), "{st}");
    assert_eq!(st["rootfs"], b.rootfs().to_str().unwrap(), "{st}");
    assert!(
        st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "no ociVersion: {st}"
    );
    assert_timestamp(&st["created"]);
    let pid = st["pid"].as_i64().unwrap_or(0);
    assert!(pid > 0, "created container has no pid: {st}");
    assert!(
        proc_exists(pid),
        "state pid {pid} does not exist on the host"
    );

    t.rt.start(&b.id).ok();
    let st = t.rt.state_json(&b.id);
    assert_eq!(st["status"], "running", "{st}");
    assert_eq!(st["pid"].as_i64(), Some(pid), "pid changed on start: {st}");

    b.open_gate();
    let st = t.rt.wait_status(&b.id, "stopped", WAIT);
    assert_eq!(st["id"], b.id.as_str());

    t.rt.delete(&b.id).ok();
    t.rt.state(&b.id).fails_with("does not exist");
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
}

#[test]
fn start_twice_fails() {
    let t = Test::new("start-twice");
    let b = t.bundle().with_probe(&["sleep", "10"]);
    t.rt.create(&b).ok();
    t.rt.start(&b.id).ok();
    t.rt.start(&b.id).failed();
    assert_eq!(t.rt.status(&b.id), "running");
}

#[test]
fn run_returns_the_process_exit_code() {
    let t = Test::new("run-exit");
    for code in [0, 7, 255] {
        let b = t.bundle().with_probe(&["exit", &code.to_string()]);
        let out = t.rt.run(&b);
        assert_eq!(out.code, code, "{out}");
        // `run` deletes the container once its process has exited.
        assert_nothing_left(&t.rt.root, &b.id, &b.dir);
    }
}

#[test]
fn run_reports_death_by_signal_as_128_plus_n() {
    let t = Test::new("run-signal");
    for rt in [&t.rt, &t.runc] {
        let b = t.bundle().with_probe(&["sleep", "30"]);
        b.write();
        rt.register(&b);
        let (mut child, shown, _, _) =
            rt.spawn_captured(rt.command(&["run", "--bundle", b.dir_str(), &b.id]), "run");
        let deadline = std::time::Instant::now() + WAIT;
        while rt.state(&b.id).json_or_null()["status"] != "running" {
            assert!(
                std::time::Instant::now() < deadline,
                "{}: never running",
                rt.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        rt.kill(&b.id, Some("KILL")).ok();
        let st = crate::harness::runtime::wait_timeout(&mut child, WAIT, &shown);
        assert_eq!(
            st.code(),
            Some(137),
            "{}: `run` of a SIGKILLed process: {st}",
            rt.name
        );
        assert_nothing_left(&rt.root, &b.id, &b.dir);
    }
}

#[test]
fn run_passes_container_output_through() {
    let t = Test::new("run-output");
    let mut b = t.bundle();
    b.args(&[
        "/bin/sh",
        "-c",
        "echo to-stdout; echo to-stderr >&2; exit 3",
    ]);
    let out = t.rt.run(&b);
    assert_eq!(out.code, 3, "{out}");
    assert_eq!(out.stdout, "to-stdout\n", "{out}");
    assert!(out.stderr.contains("to-stderr"), "{out}");
}

#[test]
fn run_detached() {
    let t = Test::new("run-detached");
    let b = t.bundle().with_probe(&["sleep", "30"]);
    let out = t.rt.run_detached(&b);
    out.ok();
    let st = t.rt.state_json(&b.id);
    assert_eq!(st["status"], "running", "{st}");
    let pid = st["pid"].as_i64().unwrap_or(0);
    assert!(pid > 0 && proc_exists(pid), "{st}");
    t.rt.kill(&b.id, Some("KILL")).ok();
    t.rt.wait_status(&b.id, "stopped", WAIT);
    t.rt.delete(&b.id).ok();
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
}

fn ids_in_table(out: &str) -> Vec<String> {
    out.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn list_table_json_and_quiet() {
    let t = Test::new("list");
    let a = t.bundle().with_probe(&["sleep", "30"]);
    let b = t.bundle().with_probe(&["sleep", "30"]);
    t.rt.create(&a).ok();
    t.rt.create(&b).ok();
    t.rt.start(&b.id).ok();

    let table = t.rt.list(&[]);
    table.ok();
    let header: Vec<&str> = table
        .stdout
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{table}"
    );
    let mut ids = ids_in_table(&table.stdout);
    ids.sort();
    let mut want = vec![a.id.clone(), b.id.clone()];
    want.sort();
    assert_eq!(ids, want, "{table}");
    let row_a = table
        .stdout
        .lines()
        .find(|l| l.starts_with(&a.id))
        .unwrap_or("");
    assert!(
        row_a.split_whitespace().nth(2) == Some("created"),
        "row for {}: {row_a}",
        a.id
    );
    assert!(row_a.contains(a.dir_str()), "row for {}: {row_a}", a.id);

    let json = t.rt.list(&["--format", "json"]);
    json.ok();
    let v = json.json();
    let arr = v
        .as_array()
        .unwrap_or_else(|| panic!("list --format json is not an array: {json}"));
    assert_eq!(arr.len(), 2, "{json}");
    for c in arr {
        for k in [
            "ociVersion",
            "id",
            "pid",
            "status",
            "bundle",
            "rootfs",
            "created",
            "owner",
        ] {
            assert!(c.get(k).is_some(), "list entry lacks {k}: {c}");
        }
        let (bundle, status) = if c["id"] == a.id.as_str() {
            (&a, "created")
        } else {
            (&b, "running")
        };
        assert_eq!(c["status"], status, "{c}");
        assert_eq!(c["bundle"], bundle.dir_str(), "{c}");
    }

    let quiet = t.rt.list(&["-q"]);
    quiet.ok();
    let mut q: Vec<&str> = quiet.stdout.lines().collect();
    q.sort();
    assert_eq!(
        q,
        want.iter().map(String::as_str).collect::<Vec<_>>(),
        "{quiet}"
    );
}

#[test]
fn list_empty_root() {
    let t = Test::new("list-empty");
    let out = t.rt.list(&["--format", "json"]);
    out.ok();
    // runc prints `null` for no containers; an empty array means the same.
    let v = out.json();
    assert!(
        v.is_null() || v.as_array().is_some_and(|a| a.is_empty()),
        "{out}"
    );
    let q = t.rt.list(&["-q"]);
    q.ok();
    assert_eq!(q.stdout.trim(), "", "{q}");
}

/// A container whose shell reports the signal it got, then exits.
fn trapping_container(t: &Test) -> crate::harness::Bundle {
    let mut b = t.bundle();
    b.args(&[
        "/bin/sh",
        "-c",
        "for s in TERM INT HUP USR1; do trap \"echo got-$s; exit 0\" $s; done; echo ready; while :; do sleep 0.05; done",
    ]);
    b
}

fn wait_for_output(out: &crate::harness::Out, needle: &str) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let s = out.reread_stdout();
        if s.contains(needle) {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {needle:?} in container output: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kill_default_signal_is_term() {
    let t = Test::new("kill-term");
    let b = trapping_container(&t);
    let out = t.rt.run_detached(&b);
    out.ok();
    wait_for_output(&out, "ready");
    t.rt.kill(&b.id, None).ok();
    wait_for_output(&out, "got-TERM");
    t.rt.wait_status(&b.id, "stopped", WAIT);
}

#[test]
fn kill_by_name_and_number() {
    let t = Test::new("kill-names");
    for (sig, want) in [
        ("USR1", "got-USR1"),
        ("SIGHUP", "got-HUP"),
        ("2", "got-INT"),
    ] {
        let b = trapping_container(&t);
        let out = t.rt.run_detached(&b);
        out.ok();
        wait_for_output(&out, "ready");
        t.rt.kill(&b.id, Some(sig)).ok();
        wait_for_output(&out, want);
        t.rt.wait_status(&b.id, "stopped", WAIT);
    }
}

#[test]
fn kill_sigkill_spellings() {
    let t = Test::new("kill-kill");
    for sig in ["KILL", "SIGKILL", "9"] {
        let b = t.bundle().with_probe(&["sleep", "30"]);
        t.rt.run_detached(&b).ok();
        t.rt.kill(&b.id, Some(sig)).ok();
        t.rt.wait_status(&b.id, "stopped", WAIT);
        t.rt.delete(&b.id).ok();
        assert_nothing_left(&t.rt.root, &b.id, &b.dir);
    }
}

#[test]
fn kill_created_container() {
    // A created (not started) container can be killed: it becomes stopped.
    let t = Test::new("kill-created");
    let b = t.bundle().with_probe(&["exit", "0"]);
    t.rt.create(&b).ok();
    t.rt.kill(&b.id, Some("KILL")).ok();
    t.rt.wait_status(&b.id, "stopped", WAIT);
    t.rt.delete(&b.id).ok();
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
}

#[test]
fn pid_file_matches_state() {
    let t = Test::new("pid-file");
    let b = t.bundle().with_probe(&["sleep", "30"]);
    let pid_file = t.host_dir("pid").join("container.pid");
    t.rt.create_with(&b, &["--pid-file", pid_file.to_str().unwrap()])
        .ok();
    let text = std::fs::read_to_string(&pid_file).unwrap_or_else(|e| panic!("read pid file: {e}"));
    let st = t.rt.state_json(&b.id);
    assert_eq!(
        text.trim().parse::<i64>().ok(),
        st["pid"].as_i64(),
        "pid file {text:?} vs state {st}"
    );
}

/// `--log FILE --log-format json` on a failing create: the error is reported exactly once, as
/// one JSON line with level, msg and time. Three places to fail: validation before clone, init
/// after the mounts, and the final exec.
#[test]
fn log_json_on_failing_create() {
    let t = Test::new("log-json");
    type Case = (&'static str, fn(&mut crate::harness::Bundle), &'static str);
    let cases: [Case; 3] = [
        (
            "validation",
            |b| {
                b.set("/linux/sysctl", serde_json::json!({"vm.swappiness": "10"}));
            },
            "vm.swappiness",
        ),
        (
            "init",
            |b| {
                b.set("/process/cwd", serde_json::json!("/etc/passwd"));
            },
            "/etc/passwd",
        ),
        (
            "exec",
            |b| {
                b.args(&["/does-not-exist"]);
            },
            "/does-not-exist",
        ),
    ];
    for (what, patch, needle) in cases {
        let mut b = t.bundle();
        patch(&mut b);
        b.write();
        t.rt.register(&b);
        let log = t.host_dir(&format!("log-{what}")).join("runtime.log");
        std::fs::write(&log, "").unwrap();
        let out = t.rt.invoke(&[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "create",
            "--bundle",
            b.dir_str(),
            &b.id,
        ]);
        out.failed();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // Every line of a json log is JSON.
        let lines: Vec<Value> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l)
                    .unwrap_or_else(|e| panic!("{what}: non-JSON log line ({e}): {l:?}"))
            })
            .collect();
        let errors: Vec<&Value> = lines.iter().filter(|v| v["level"] == "error").collect();
        assert_eq!(
            errors.len(),
            1,
            "{what}: the error must be reported exactly once; error lines:\n{text}\n{out}"
        );
        let e = errors[0];
        assert!(
            e["msg"].as_str().is_some_and(|m| m.contains(needle)),
            "{what}: the error line does not name {needle:?}: {e}"
        );
        assert!(
            e["time"].as_str().is_some_and(|s| !s.is_empty()),
            "{what}: error line without time: {e}"
        );
        assert_nothing_left(&t.rt.root, &b.id, &b.dir);
    }
}

#[test]
fn log_text_format_by_default() {
    let t = Test::new("log-text");
    let mut b = t.bundle();
    b.args(&["/does-not-exist"]);
    b.write();
    t.rt.register(&b);
    let log = t.host_dir("log").join("runtime.log");
    let out = t.rt.invoke(&[
        "--log",
        log.to_str().unwrap(),
        "create",
        "--bundle",
        b.dir_str(),
        &b.id,
    ]);
    out.failed();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.lines()
            .any(|l| l.contains("level=error") && l.contains("msg=")),
        "no `level=error msg=...` line in the text log:\n{text}"
    );
}

fn spec_in(rt: &Runtime, dir: &Path) -> Value {
    std::fs::create_dir_all(dir).unwrap();
    rt.invoke(&["spec", "--bundle", dir.to_str().unwrap()]).ok();
    let text = std::fs::read_to_string(dir.join("config.json"))
        .unwrap_or_else(|e| panic!("{}: spec wrote no config.json: {e}", rt.name));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: spec wrote invalid JSON: {e}", rt.name))
}

#[test]
fn spec_matches_runc() {
    let t = Test::new("spec");
    let ours = spec_in(&t.rt, &t.host_dir("ours"));
    let theirs = spec_in(&t.runc, &t.host_dir("runc"));
    assert_eq!(ours, theirs, "`spec` output differs from runc's");
    let embedded: Value =
        serde_json::from_str(crate::harness::default_spec::RUNC_DEFAULT_SPEC).unwrap();
    assert_eq!(
        theirs, embedded,
        "runc's spec changed: update harness/default_spec.rs"
    );
    // A second `spec` refuses to overwrite.
    t.rt.invoke(&["spec", "--bundle", t.host_dir("ours").to_str().unwrap()])
        .fails_with("config.json exists");
}

#[test]
fn version_first_line() {
    let t = Test::new("version");
    let out = t.rt.invoke(&["--version"]);
    out.ok();
    let first = out.stdout.lines().next().unwrap_or("");
    assert!(
        first.starts_with(&format!("{} version ", t.rt.name)),
        "first line {first:?}\n{out}"
    );
    assert!(
        out.stdout.lines().any(|l| l.starts_with("spec: ")),
        "no `spec: <version>` line\n{out}"
    );
}

/// A container of several processes (`sh` plus two `sleep`s) without a pid namespace, so that
/// killing init does not take the others with it. Returns its cgroup's pids once all are there.
fn multi_process_container(rt: &Runtime, b: &mut crate::harness::Bundle) -> Vec<i32> {
    b.remove("/linux/namespaces/0"); // {"type": "pid"}
    b.args(&["/bin/sh", "-c", "sleep 100 & sleep 100 & wait"]);
    rt.run_detached(b).ok();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let pids = cgroup_pids(&b.id);
        if pids.len() >= 3 {
            return pids;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{}: the container's cgroup never held 3 processes: {pids:?}",
            rt.name
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until none of `pids` exists any more (zombies count as gone).
fn wait_gone(pids: &[i32]) -> Vec<i32> {
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let alive: Vec<i32> = pids
            .iter()
            .copied()
            .filter(|p| {
                let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
                !stat.is_empty() && !stat.contains(") Z ")
            })
            .collect();
        if alive.is_empty() || std::time::Instant::now() >= deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kill_all_kills_every_process_in_the_cgroup() {
    let t = Test::new("kill-all");
    for rt in [&t.rt, &t.runc] {
        let mut b = t.bundle();
        let pids = multi_process_container(rt, &mut b);
        rt.invoke(&["kill", "--all", &b.id, "KILL"]).ok();
        let alive = wait_gone(&pids);
        assert!(
            alive.is_empty(),
            "{}: `kill --all KILL` left {alive:?} of {pids:?}",
            rt.name
        );
        assert_eq!(
            cgroup_pids(&b.id),
            Vec::<i32>::new(),
            "{}: cgroup.procs not empty after `kill --all`",
            rt.name
        );
        rt.wait_status(&b.id, "stopped", WAIT);
        rt.delete(&b.id).ok();
        assert_nothing_left(&rt.root, &b.id, &b.dir);
    }
}

#[test]
fn delete_force_kills_every_process_and_removes_everything() {
    let t = Test::new("delete-force-all");
    for rt in [&t.rt, &t.runc] {
        let mut b = t.bundle();
        let pids = multi_process_container(rt, &mut b);
        assert_eq!(rt.status(&b.id), "running");
        rt.delete_force(&b.id).ok();
        rt.state(&b.id).fails_with("does not exist");
        assert_nothing_left(&rt.root, &b.id, &b.dir);
        let alive = wait_gone(&pids);
        assert!(
            alive.is_empty(),
            "{}: `delete --force` left {alive:?} of {pids:?}",
            rt.name
        );
    }
}

/// Without a pid namespace, processes outlive init in the container's cgroup: `run`, and
/// `delete` of the stopped container after `run --keep`, kill them before removing the cgroup
/// (runc does too; its `run --keep` waits for the leftover itself, so that case is keel's alone).
#[test]
fn processes_init_leaves_without_a_pid_namespace_are_killed() {
    let t = Test::new("left-behind");
    for rt in [&t.rt, &t.runc] {
        for keep in [false, true] {
            if keep && rt.name == t.runc.name {
                continue;
            }
            let mut b = t.bundle();
            b.remove("/linux/namespaces/0"); // {"type": "pid"}
            b.args(&["/bin/sh", "-c", "sleep 100 & echo $!"]);
            let out = if keep {
                rt.run_with(&b, &["--keep"])
            } else {
                rt.run(&b)
            };
            assert_eq!(out.code, 0, "{}: {out}", rt.name);
            if keep {
                assert_eq!(rt.status(&b.id), "stopped", "{}", rt.name);
                rt.delete(&b.id).ok();
            }
            let pid: i32 = out
                .stdout
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{out}"));
            let alive = wait_gone(&[pid]);
            assert!(
                alive.is_empty(),
                "{} (keep: {keep}): left {alive:?}",
                rt.name
            );
            assert_nothing_left(&rt.root, &b.id, &b.dir);
        }
    }
}

#[test]
fn run_keep_leaves_a_stopped_container() {
    let t = Test::new("run-keep");
    for rt in [&t.rt, &t.runc] {
        let b = t.bundle().with_probe(&["exit", "3"]);
        let out = rt.run_with(&b, &["--keep"]);
        assert_eq!(out.code, 3, "{out}");
        let st = rt.state_json(&b.id);
        assert_eq!(st["status"], "stopped", "{}: {st}", rt.name);
        assert_eq!(st["pid"], 0, "{}: {st}", rt.name);
        rt.delete(&b.id).ok();
        rt.state(&b.id).fails_with("does not exist");
        assert_nothing_left(&rt.root, &b.id, &b.dir);
    }
}
