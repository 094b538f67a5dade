//! `exec`: a second process in a running container joins its namespaces and cgroup, gets the
//! container's process settings with the flags' overrides (or a whole --process file), and exits
//! with runc's codes. Compared with runc where the result can be compared.

use crate::harness::runtime::Runtime;
use crate::harness::{leaks::assert_nothing_left, Test};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// A running container (`probe sleep 60`) under `rt`.
fn running(t: &Test, rt: &Runtime) -> crate::harness::bundle::Bundle {
    let b = t.bundle().with_probe(&["sleep", "60"]);
    rt.run_detached(&b).ok();
    rt.wait_status(&b.id, "running", WAIT);
    b
}

fn exec(rt: &Runtime, id: &str, args: &[&str]) -> crate::harness::runtime::Out {
    let mut a = vec!["exec"];
    a.extend_from_slice(args);
    let pos = a.iter().position(|x| *x == "--").unwrap_or(a.len());
    a.insert(pos, id);
    a.retain(|x| *x != "--");
    rt.invoke(&a)
}

fn probe_json(out: &crate::harness::runtime::Out) -> Value {
    out.ok();
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("no JSON ({e}):\n{out}"))
}

fn ns_of(pid: i64, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

#[test]
fn exec_joins_the_containers_namespaces_and_cgroup() {
    let t = Test::new("exec-ns");
    let b = running(&t, &t.rt);
    let pid = t.rt.state_json(&b.id)["pid"].as_i64().unwrap();
    let r = probe_json(&exec(&t.rt, &b.id, &["--", "/probe"]));
    for kind in ["pid", "mnt", "net", "ipc", "uts"] {
        assert_eq!(
            r["namespaces"][kind].as_str().unwrap_or(""),
            ns_of(pid, kind),
            "{kind} namespace of the exec'd process"
        );
    }
    let init_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let got: Vec<String> = r["cgroup"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap_or("").to_string())
        .collect();
    let want: Vec<String> = init_cgroup.lines().map(str::to_string).collect();
    assert_eq!(got, want, "the exec'd process is in init's cgroups");
    assert_ne!(r["pid"], json!(1), "the exec'd process is not init");
    // Only stdio survives into the process (no fd of keel's leaks in).
    let fds: Vec<i64> = r["fds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["fd"].as_i64())
        .collect();
    assert_eq!(
        fds,
        vec![0, 1, 2],
        "open fds in the exec'd process: {}",
        r["fds"]
    );
}

#[test]
fn exec_settings_match_runc() {
    let t = Test::new("exec-flags");
    let flags = [
        "-u",
        "1000:1000",
        "-g",
        "5",
        "-e",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "--cap",
        "CAP_NET_ADMIN",
        "--no-new-privs",
    ];
    let mut reports = Vec::new();
    for rt in [&t.rt, &t.runc] {
        let b = running(&t, rt);
        let mut args = flags.to_vec();
        args.extend(["--", "/probe"]);
        let r = probe_json(&exec(rt, &b.id, &args));
        rt.delete_force(&b.id).ok();
        reports.push(r);
    }
    for key in [
        "uid",
        "gid",
        "groups",
        "cwd",
        "env",
        "caps",
        "no_new_privs",
        "umask",
        "rlimits",
    ] {
        assert_eq!(reports[0][key], reports[1][key], "{key}: keel vs runc");
    }
    assert_eq!(reports[0]["uid"], 1000);
    assert_eq!(reports[0]["cwd"], "/tmp");
    assert!(reports[0]["env"]
        .as_array()
        .unwrap()
        .contains(&json!("FOO=bar")));
}

#[test]
fn exec_exit_codes() {
    let t = Test::new("exec-codes");
    let b = running(&t, &t.rt);
    assert_eq!(exec(&t.rt, &b.id, &["--", "sh", "-c", "exit 7"]).code, 7);
    let out = exec(&t.rt, &b.id, &["--", "no-such-command"]);
    assert_eq!(out.code, 127, "{out}");
    out.fails_with("executable file not found in $PATH");
    let out = exec(&t.rt, &b.id, &["--", "/etc/passwd"]);
    assert_eq!(out.code, 126, "{out}");
    out.fails_with("permission denied");
    // Killed by a signal: 128+N, as the shell reports it.
    assert_eq!(
        exec(&t.rt, &b.id, &["--", "sh", "-c", "kill -9 $$"]).code,
        137
    );
}

#[test]
fn exec_process_json() {
    let t = Test::new("exec-process");
    let b = running(&t, &t.rt);
    let p = t.host_dir("proc").join("process.json");
    let process = json!({
        "args": ["/probe"], "cwd": "/etc", "env": ["PATH=/bin", "ONLY=this"],
        "user": {"uid": 2, "gid": 3, "additionalGids": [4]},
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
        "noNewPrivileges": true
    });
    std::fs::write(&p, process.to_string()).unwrap();
    let r = probe_json(&exec(&t.rt, &b.id, &["--process", p.to_str().unwrap()]));
    assert_eq!(r["cwd"], "/etc");
    assert_eq!((r["uid"].clone(), r["gid"].clone()), (json!(2), json!(3)));
    assert_eq!(r["groups"], json!([4]));
    assert_eq!(r["no_new_privs"], true);
    let env: Vec<&str> = r["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(
        env.contains(&"ONLY=this") && env.iter().any(|e| e.starts_with("HOME=")),
        "{env:?}"
    );
    assert_eq!(
        r["caps"]["bounding"]["names"],
        json!(["CAP_KILL"]),
        "{}",
        r["caps"]
    );
}

#[test]
fn exec_detached_writes_the_pid_file() {
    let t = Test::new("exec-detach");
    let b = running(&t, &t.rt);
    let pf = t.host_dir("pid").join("exec.pid");
    exec(
        &t.rt,
        &b.id,
        &[
            "-d",
            "--pid-file",
            pf.to_str().unwrap(),
            "--",
            "sleep",
            "30",
        ],
    )
    .ok();
    let pid: i64 = std::fs::read_to_string(&pf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let init = t.rt.state_json(&b.id)["pid"].as_i64().unwrap();
    assert_eq!(
        ns_of(pid, "pid"),
        ns_of(init, "pid"),
        "detached exec process in the container"
    );
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(cmdline.starts_with("sleep\0"), "{cmdline:?}");
    t.rt.delete_force(&b.id).ok();
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
}

#[test]
fn exec_in_a_stopped_container_fails() {
    let t = Test::new("exec-stopped");
    let b = t.bundle().with_probe(&["exit", "0"]);
    for rt in [&t.rt, &t.runc] {
        rt.run_with(&b, &["--keep"]).ok();
        let out = exec(rt, &b.id, &["--", "true"]);
        out.fails_with("exec failed: cannot exec in a stopped container");
        assert_eq!(out.code, 255, "{out}");
        rt.delete(&b.id).ok();
    }
}

#[test]
fn exec_with_a_tty_through_the_console_socket() {
    use std::io::Read;
    let t = Test::new("exec-tty");
    let b = running(&t, &t.rt);
    let sock = t.host_dir("tty").join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let out = exec(
        &t.rt,
        &b.id,
        &[
            "-t",
            "-d",
            "--console-socket",
            sock.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "tty; sleep 1",
        ],
    );
    out.ok();
    let (conn, _) = listener.accept().unwrap();
    let (master, _) = crate::harness::fdpass::recv_fd(&conn).unwrap();
    let mut f = std::fs::File::from(master);
    let mut buf = [0u8; 256];
    let n = f.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.contains("/dev/pts/"), "tty output: {text:?}");
}

/// `exec --cgroup CONTROLLER:PATH` puts the process in an existing sub-cgroup for that
/// controller and in the container's cgroup for the others (keel and runc).
#[test]
fn exec_into_a_sub_cgroup() {
    if !crate::harness::host::hybrid_or_skip("exec::exec_into_a_sub_cgroup") {
        return;
    }
    let t = Test::new("exec-cgroup");
    for rt in [&t.rt, &t.runc] {
        let b = running(&t, rt);
        let sub = std::path::PathBuf::from(format!("/sys/fs/cgroup/pids/keel-it/{}/sub", b.id));
        std::fs::create_dir(&sub).unwrap();
        // Removed also when an assertion below fails (it would keep the container's cgroup).
        let s = sub.clone();
        t.on_cleanup("rmdir the pids sub-cgroup", move || {
            let _ = std::fs::remove_dir(&s);
        });
        let out = exec(rt, &b.id, &["--cgroup", "pids:sub", "--", "/probe"]);
        let _ = std::fs::remove_dir(&sub);
        let r = probe_json(&out);
        let lines: Vec<&str> = r["cgroup"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l.as_str())
            .collect();
        let pids = lines.iter().find(|l| l.contains(":pids:")).unwrap();
        let memory = lines.iter().find(|l| l.contains(":memory:")).unwrap();
        assert!(
            pids.ends_with(&format!("/keel-it/{}/sub", b.id)),
            "{}: {pids}",
            rt.name
        );
        assert!(
            memory.ends_with(&format!("/keel-it/{}", b.id)),
            "{}: {memory}",
            rt.name
        );
        rt.delete_force(&b.id).ok();
    }
}
