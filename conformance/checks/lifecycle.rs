//! runtime.md: the state, the operations, and what each operation does in each state
//! (created, running, stopped, no such container).

use super::{
    alive, create_must_fail, ensure, err_text, fail, leftovers, ns_of, pid_of, read, sh_bundle,
    status_of, wait_for, Env, Res, Why, WAIT,
};
use crate::harness::{Bundle, Runtime, Test};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

const KNOWN_STATUSES: [&str; 5] = ["creating", "created", "running", "stopped", "paused"];

/// A container that runs `sh -c script` and records in `/conf-io/ran` that it ran.
fn program(t: &Test, rest: &str) -> (Bundle, PathBuf) {
    sh_bundle(t, &format!("echo ran >> /conf-io/ran; {rest}"))
}

fn times_ran(io: &std::path::Path) -> usize {
    read(&io.join("ran")).lines().count()
}

fn created(rt: &Runtime, b: &Bundle) -> Result<i64, Why> {
    let out = rt.create(b);
    ensure!(out.code == 0, "create failed:\n{out}");
    let pid = pid_of(rt, &b.id);
    ensure!(
        pid > 0,
        "created container has no pid: {}",
        rt.state(&b.id).stdout
    );
    Ok(pid)
}

fn running(rt: &Runtime, b: &Bundle) -> Result<i64, Why> {
    let pid = created(rt, b)?;
    let out = rt.start(&b.id);
    ensure!(out.code == 0, "start failed:\n{out}");
    ensure!(
        wait_for(WAIT, || status_of(rt, &b.id) == "running"),
        "container never running: {}",
        status_of(rt, &b.id)
    );
    Ok(pid)
}

fn stopped(rt: &Runtime, b: &Bundle) -> Result<i64, Why> {
    let pid = running_or_exited(rt, b)?;
    ensure!(
        wait_for(WAIT, || status_of(rt, &b.id) == "stopped"),
        "container never stopped: {}",
        status_of(rt, &b.id)
    );
    Ok(pid)
}

fn running_or_exited(rt: &Runtime, b: &Bundle) -> Result<i64, Why> {
    let pid = created(rt, b)?;
    let out = rt.start(&b.id);
    ensure!(out.code == 0, "start failed:\n{out}");
    Ok(pid)
}

pub fn operations_supported(env: &Env) -> Res {
    let t = env.test("ops");
    let rt = env.rt(&t);
    let b = t.bundle().with_probe(&["sleep", "30"]);
    for (what, out) in [
        ("create", rt.create(&b)),
        ("state", rt.state(&b.id)),
        ("start", rt.start(&b.id)),
    ] {
        ensure!(out.code == 0, "{what} failed:\n{out}");
    }
    let out = rt.kill(&b.id, Some("KILL"));
    ensure!(out.code == 0, "kill failed:\n{out}");
    ensure!(
        wait_for(WAIT, || status_of(rt, &b.id) == "stopped"),
        "not stopped after kill"
    );
    let out = rt.delete(&b.id);
    ensure!(out.code == 0, "delete failed:\n{out}");
    Ok(String::new())
}

fn no_id(env: &Env, verb: &str) -> Res {
    let t = env.test(&format!("{verb}-noid"));
    let out = env.rt(&t).invoke(&[verb]);
    ensure!(out.code != 0, "`{verb}` without an id succeeded:\n{out}");
    Ok(err_text(&out))
}

fn missing(env: &Env, args: &[&str]) -> Res {
    let t = env.test(&format!("{}-missing", args[0]));
    let out = env.rt(&t).invoke(args);
    ensure!(
        out.code != 0,
        "`{}` of a container that does not exist succeeded:\n{out}",
        args.join(" ")
    );
    Ok(err_text(&out))
}

pub fn state_no_id(env: &Env) -> Res {
    no_id(env, "state")
}

pub fn state_missing(env: &Env) -> Res {
    missing(env, &["state", "conf-no-such-container"])
}

pub fn state_tracks_lifecycle(env: &Env) -> Res {
    let t = env.test("state-life");
    let rt = env.rt(&t);
    let b = t.bundle().with_gate();
    let pid = created(rt, &b)?;
    let st = rt.state_json(&b.id);
    ensure!(st["status"] == "created", "after create: {st}");
    ensure!(st["id"] == b.id.as_str(), "wrong id: {st}");
    ensure!(rt.start(&b.id).code == 0, "start failed");
    let st = rt.state_json(&b.id);
    ensure!(st["status"] == "running", "right after start: {st}");
    ensure!(
        st["pid"].as_i64() == Some(pid),
        "pid changed on start: {st}"
    );
    b.open_gate();
    ensure!(
        wait_for(WAIT, || status_of(rt, &b.id) == "stopped"),
        "not stopped after the process exited: {}",
        status_of(rt, &b.id)
    );
    Ok(String::new())
}

pub fn state_schema(env: &Env) -> Res {
    let t = env.test("state-schema");
    let rt = env.rt(&t);
    let mut b = t.bundle().with_probe(&["sleep", "30"]);
    b.set("/annotations", json!({"com.example.conformance": "yes"}));
    created(rt, &b)?;
    for phase in ["created", "running"] {
        if phase == "running" {
            ensure!(rt.start(&b.id).code == 0, "start failed");
        }
        let st = rt.state_json(&b.id);
        let obj = st
            .as_object()
            .ok_or_else(|| Why::Fail(format!("state is not an object: {st}")))?;
        for key in ["ociVersion", "id", "status", "bundle"] {
            ensure!(
                obj.get(key)
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty()),
                "{phase}: `{key}` is not a non-empty string: {st}"
            );
        }
        ensure!(
            st["ociVersion"]
                .as_str()
                .is_some_and(|v| v.split('.').count() >= 3),
            "{phase}: ociVersion is not SemVer: {st}"
        );
        ensure!(
            st["pid"].as_i64().is_some_and(|p| p > 0),
            "{phase}: pid is REQUIRED when created or running: {st}"
        );
        match obj.get("annotations") {
            None => {}
            Some(Value::Object(m)) => ensure!(
                m.values().all(Value::is_string),
                "{phase}: annotations values are not strings: {st}"
            ),
            Some(other) => fail!("{phase}: annotations is not a map: {other}"),
        }
    }
    Ok(String::new())
}

pub fn state_status_values(env: &Env) -> Res {
    let t = env.test("state-values");
    let rt = env.rt(&t);
    let b = t.bundle().with_gate();
    let mut seen = Vec::new();
    created(rt, &b)?;
    seen.push(status_of(rt, &b.id));
    ensure!(rt.start(&b.id).code == 0, "start failed");
    seen.push(status_of(rt, &b.id));
    b.open_gate();
    wait_for(WAIT, || status_of(rt, &b.id) == "stopped");
    seen.push(status_of(rt, &b.id));
    for s in &seen {
        ensure!(
            KNOWN_STATUSES.contains(&s.as_str()),
            "status {s:?} is neither a spec value nor a new state (seen {seen:?})"
        );
    }
    Ok(String::new())
}

pub fn state_pid_is_host_pid(env: &Env) -> Res {
    let t = env.test("state-pid");
    let rt = env.rt(&t);
    let b = t.bundle().with_probe(&["sleep", "30"]);
    let pid = running(rt, &b)?;
    ensure!(alive(pid), "state pid {pid} is not a live host process");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    ensure!(
        exe.to_string_lossy().ends_with("probe"),
        "host pid {pid} is not the container process (exe {})",
        exe.display()
    );
    ensure!(
        ns_of(&pid.to_string(), "pid") != ns_of("self", "pid"),
        "pid {pid} is in the host pid namespace"
    );
    Ok(String::new())
}

pub fn state_bundle_absolute(env: &Env) -> Res {
    let t = env.test("state-bundle");
    let rt = env.rt(&t);
    let b = t.bundle().with_probe(&["sleep", "30"]);
    b.write();
    rt.register(&b);
    let rel = b.dir.file_name().unwrap().to_string_lossy().into_owned();
    let mut cmd = rt.command(&["create", "--bundle", &rel, &b.id]);
    cmd.current_dir(&t.dir);
    let out = rt.capture(cmd, "create");
    ensure!(
        out.code == 0,
        "create with a relative --bundle failed:\n{out}"
    );
    let st = rt.state_json(&b.id);
    ensure!(
        st["bundle"] == b.dir_str(),
        "bundle is not the absolute bundle path {}: {st}",
        b.dir_str()
    );
    Ok(String::new())
}

pub fn state_creating_during_create(env: &Env) -> Res {
    let t = env.test("state-creating");
    let rt = env.rt(&t);
    let flag = t.host_dir("flag").join("in-hook");
    let mut b = t.bundle().with_probe(&["sleep", "30"]);
    b.push(
        "/hooks/createRuntime",
        json!({"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}; sleep 1", flag.display())]}),
    );
    b.write();
    rt.register(&b);
    let (mut child, shown, _, _) = rt.spawn_captured(
        rt.command(&["create", "--bundle", b.dir_str(), &b.id]),
        "create",
    );
    let in_hook = wait_for(WAIT, || flag.exists());
    let state = rt.state(&b.id);
    let create_done = child.try_wait().ok().flatten().is_some();
    let st = crate::harness::runtime::wait_timeout(&mut child, WAIT, &shown);
    ensure!(in_hook, "the createRuntime hook never ran");
    ensure!(st.success(), "create failed: {st}");
    if create_done {
        return Err(Why::Skip(
            "`state` returned only after `create` finished".into(),
        ));
    }
    if state.code != 0 {
        return Ok(format!("while creating, state said: {}", err_text(&state)));
    }
    let status = state.json_or_null()["status"].clone();
    ensure!(
        status == "creating",
        "while create was still running (in a createRuntime hook) state said {status}"
    );
    Ok(String::new())
}

pub fn state_stopped_when_process_exits(env: &Env) -> Res {
    let t = env.test("state-stopped");
    let rt = env.rt(&t);
    let a = t.bundle().with_probe(&["exit", "3"]);
    stopped(rt, &a)?;
    let b = t.bundle().with_probe(&["sleep", "30"]);
    running(rt, &b)?;
    ensure!(rt.kill(&b.id, Some("KILL")).code == 0, "kill failed");
    ensure!(
        wait_for(WAIT, || status_of(rt, &b.id) == "stopped"),
        "killed container not stopped: {}",
        status_of(rt, &b.id)
    );
    Ok(String::new())
}

pub fn create_without_id_or_bundle(env: &Env) -> Res {
    let t = env.test("create-args");
    let rt = env.rt(&t);
    let mut cmd = rt.command(&["create"]);
    cmd.current_dir(&t.dir);
    let no_id = rt.capture(cmd, "create");
    ensure!(
        no_id.code != 0,
        "`create` without an id succeeded:\n{no_id}"
    );
    let out = rt.invoke(&[
        "create",
        "--bundle",
        "/conf-no-such-bundle",
        "conf-nobundle",
    ]);
    ensure!(
        out.code != 0,
        "`create` with a bundle path that does not exist succeeded:\n{out}"
    );
    ensure!(
        rt.state("conf-nobundle").code != 0,
        "a container was created without a bundle"
    );
    Ok(format!("{} / {}", err_text(&no_id), err_text(&out)))
}

pub fn create_duplicate_id(env: &Env) -> Res {
    let t = env.test("create-dup");
    let rt = env.rt(&t);
    let a = t.bundle().with_probe(&["sleep", "30"]);
    created(rt, &a)?;
    let mut b = t.bundle().with_probe(&["sleep", "30"]);
    b.id = a.id.clone();
    let out = rt.create(&b);
    ensure!(
        out.code != 0,
        "a second create with the same id succeeded:\n{out}"
    );
    let st = rt.state_json(&a.id);
    ensure!(
        st["bundle"] == a.dir_str() && st["status"] == "created",
        "the first container changed: {st}"
    );
    Ok(err_text(&out))
}

pub fn create_invalid_id(env: &Env) -> Res {
    let t = env.test("create-badid");
    let rt = env.rt(&t);
    let b = t.bundle().with_probe(&["sleep", "30"]);
    b.write();
    let mut said = Vec::new();
    for id in ["../conf-escape", "conf/slash", ".."] {
        let out = rt.invoke(&["create", "--bundle", b.dir_str(), id]);
        if out.code == 0 {
            let _ = rt.invoke(&["delete", "--force", id]);
            fail!("create accepted the invalid id {id:?}");
        }
        said.push(err_text(&out));
    }
    ensure!(
        !rt.root.parent().unwrap().join("conf-escape").exists(),
        "create wrote outside its root for id ../conf-escape"
    );
    said.dedup();
    Ok(said.join(" / "))
}

pub fn create_makes_container(env: &Env) -> Res {
    let t = env.test("create-new");
    let rt = env.rt(&t);
    let b = t.bundle().with_probe(&["sleep", "30"]);
    created(rt, &b)?;
    ensure!(
        status_of(rt, &b.id) == "created",
        "status after create: {}",
        status_of(rt, &b.id)
    );
    let list = rt.list(&["-q"]);
    ensure!(
        list.stdout.lines().any(|l| l == b.id),
        "`list -q` does not show it:\n{list}"
    );
    Ok(String::new())
}

pub fn create_applies_config(env: &Env) -> Res {
    let t = env.test("create-applies");
    let rt = env.rt(&t);
    let mut b = t.bundle().with_probe(&["sleep", "30"]);
    b.set("/hostname", json!("conf-host"));
    b.push("/mounts", json!({"destination": "/conf-tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    let pid = created(rt, &b)?;
    let host = std::process::Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-u", "hostname"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    ensure!(
        host == "conf-host",
        "after create the container's hostname is {host:?}"
    );
    let mi = read(std::path::Path::new(&format!("/proc/{pid}/mountinfo")));
    ensure!(
        mi.lines()
            .any(|l| l.contains(" /conf-tmp ") && l.contains(" - tmpfs ")),
        "after create the tmpfs at /conf-tmp is not mounted in the container"
    );
    let cg = read(std::path::Path::new(&format!("/proc/{pid}/cgroup")));
    ensure!(
        cg.contains(&format!("/keel-it/{}", b.id)),
        "after create the process is not in its cgroup:\n{cg}"
    );
    Ok(String::new())
}

pub fn create_does_not_run_program(env: &Env) -> Res {
    let t = env.test("create-norun");
    let rt = env.rt(&t);
    let (b, io) = program(&t, "exec sleep 30");
    created(rt, &b)?;
    std::thread::sleep(Duration::from_millis(300));
    ensure!(times_ran(&io) == 0, "the process ran during create");
    ensure!(rt.start(&b.id).code == 0, "start failed");
    ensure!(
        wait_for(WAIT, || times_ran(&io) == 1),
        "the process did not run on start"
    );
    Ok(String::new())
}

pub fn config_changes_after_create_ignored(env: &Env) -> Res {
    let t = env.test("create-frozen");
    let rt = env.rt(&t);
    let (b, io) = sh_bundle(&t, "echo first >> /conf-io/out; hostname >> /conf-io/out");
    created(rt, &b)?;
    let mut changed = b.clone();
    changed.args(&["/bin/sh", "-c", "echo second >> /conf-io/out"]);
    changed.set("/hostname", json!("conf-changed"));
    changed.write();
    ensure!(rt.start(&b.id).code == 0, "start failed");
    ensure!(
        wait_for(WAIT, || read(&io.join("out")).lines().count() >= 2),
        "no output: {:?}",
        read(&io.join("out"))
    );
    let out = read(&io.join("out"));
    ensure!(
        out.starts_with("first\n") && !out.contains("conf-changed"),
        "config.json changed after create reached the container: {out:?}"
    );
    Ok(String::new())
}

pub fn create_unmet_config_fails(env: &Env) -> Res {
    let t = env.test("create-unmet");
    let rt = env.rt(&t);
    let mut b = t.bundle();
    b.push("/mounts", json!({"destination": "/data", "type": "bind", "source": "/conf-no-such-dir", "options": ["rbind"]}));
    create_must_fail(rt, &b)
}

pub fn create_unapplicable_property_fails(env: &Env) -> Res {
    let t = env.test("create-unapplicable");
    let rt = env.rt(&t);
    let mut b = t.bundle();
    b.push(
        "/mounts",
        json!({"destination": "/data", "type": "conformancefs", "source": "none"}),
    );
    create_must_fail(rt, &b)
}

pub fn failed_create_leaves_nothing(env: &Env) -> Res {
    // Fails as late as create can: namespaces, cgroups and mounts exist, pivot_root has not run.
    let t = env.test("create-late-fail");
    let rt = env.rt(&t);
    let mut b = t.bundle();
    b.push(
        "/hooks/createContainer",
        json!({"path": "/bin/false", "args": ["false"]}),
    );
    b.push(
        "/mounts",
        json!({"destination": "/conf-tmp", "type": "tmpfs", "source": "tmpfs"}),
    );
    create_must_fail(rt, &b)
}

pub fn start_no_id(env: &Env) -> Res {
    no_id(env, "start")
}

pub fn start_missing(env: &Env) -> Res {
    missing(env, &["start", "conf-no-such-container"])
}

pub fn start_running(env: &Env) -> Res {
    let t = env.test("start-running");
    let rt = env.rt(&t);
    let (b, io) = program(&t, "exec sleep 30");
    let pid = running(rt, &b)?;
    let out = rt.start(&b.id);
    ensure!(
        out.code != 0,
        "start of a running container succeeded:\n{out}"
    );
    std::thread::sleep(Duration::from_millis(200));
    ensure!(
        status_of(rt, &b.id) == "running" && pid_of(rt, &b.id) == pid && alive(pid),
        "the container changed"
    );
    ensure!(
        times_ran(&io) == 1,
        "the program ran {} times",
        times_ran(&io)
    );
    Ok(err_text(&out))
}

pub fn start_stopped(env: &Env) -> Res {
    let t = env.test("start-stopped");
    let rt = env.rt(&t);
    let (b, io) = program(&t, "exit 0");
    stopped(rt, &b)?;
    let out = rt.start(&b.id);
    ensure!(
        out.code != 0,
        "start of a stopped container succeeded:\n{out}"
    );
    std::thread::sleep(Duration::from_millis(200));
    ensure!(
        status_of(rt, &b.id) == "stopped",
        "status is now {}",
        status_of(rt, &b.id)
    );
    ensure!(
        times_ran(&io) == 1,
        "the program ran {} times",
        times_ran(&io)
    );
    Ok(err_text(&out))
}

pub fn start_runs_program(env: &Env) -> Res {
    let t = env.test("start-runs");
    let rt = env.rt(&t);
    let (b, io) = program(&t, "exec sleep 30");
    created(rt, &b)?;
    let out = rt.start(&b.id);
    ensure!(out.code == 0, "start failed:\n{out}");
    ensure!(
        wait_for(WAIT, || times_ran(&io) == 1),
        "the program did not run"
    );
    ensure!(
        status_of(rt, &b.id) == "running",
        "status after start: {}",
        status_of(rt, &b.id)
    );
    Ok(String::new())
}

pub fn start_without_process(env: &Env) -> Res {
    let t = env.test("start-noproc");
    let rt = env.rt(&t);
    let mut b = t.bundle();
    b.remove("/process");
    let out = rt.create(&b);
    if out.code != 0 {
        return Ok(format!("create refused it: {}", err_text(&out)));
    }
    let out = rt.start(&b.id);
    ensure!(out.code != 0, "start without `process` succeeded");
    Ok(err_text(&out))
}

pub fn kill_no_id(env: &Env) -> Res {
    no_id(env, "kill")
}

pub fn kill_missing(env: &Env) -> Res {
    missing(env, &["kill", "conf-no-such-container", "KILL"])
}

pub fn kill_stopped(env: &Env) -> Res {
    let t = env.test("kill-stopped");
    let rt = env.rt(&t);
    let b = t.bundle().with_probe(&["exit", "0"]);
    stopped(rt, &b)?;
    let before = rt.state_json(&b.id);
    let out = rt.kill(&b.id, Some("KILL"));
    ensure!(
        out.code != 0,
        "kill of a stopped container succeeded:\n{out}"
    );
    let after = rt.state_json(&b.id);
    ensure!(before == after, "the state changed: {before} -> {after}");
    Ok(err_text(&out))
}

pub fn kill_running_delivers(env: &Env) -> Res {
    let t = env.test("kill-running");
    let rt = env.rt(&t);
    let (b, io) = sh_bundle(
        &t,
        "trap 'echo got-USR1 >> /conf-io/sig; exit 0' USR1; echo ready > /conf-io/ready; while :; do sleep 0.05; done",
    );
    running(rt, &b)?;
    ensure!(
        wait_for(WAIT, || io.join("ready").exists()),
        "the container never got ready"
    );
    let out = rt.kill(&b.id, Some("USR1"));
    ensure!(out.code == 0, "kill USR1 failed:\n{out}");
    ensure!(
        wait_for(WAIT, || read(&io.join("sig")).contains("got-USR1")),
        "the container process did not get SIGUSR1"
    );
    Ok(String::new())
}

pub fn kill_created_delivers(env: &Env) -> Res {
    let t = env.test("kill-created");
    let rt = env.rt(&t);
    let (b, io) = program(&t, "exec sleep 30");
    let pid = created(rt, &b)?;
    let out = rt.kill(&b.id, Some("KILL"));
    ensure!(out.code == 0, "kill of a created container failed:\n{out}");
    ensure!(
        wait_for(WAIT, || !alive(pid)),
        "the container process {pid} is still alive"
    );
    ensure!(
        wait_for(WAIT, || status_of(rt, &b.id) == "stopped"),
        "status after SIGKILL: {}",
        status_of(rt, &b.id)
    );
    ensure!(times_ran(&io) == 0, "the program ran");
    Ok(String::new())
}

pub fn delete_no_id(env: &Env) -> Res {
    no_id(env, "delete")
}

pub fn delete_missing(env: &Env) -> Res {
    missing(env, &["delete", "conf-no-such-container"])
}

pub fn delete_created(env: &Env) -> Res {
    let t = env.test("delete-created");
    let rt = env.rt(&t);
    let b = t.bundle().with_probe(&["sleep", "30"]);
    let pid = created(rt, &b)?;
    let out = rt.delete(&b.id);
    let status = status_of(rt, &b.id);
    ensure!(
        out.code != 0,
        "delete (without --force) of a created container succeeded; the container is now: {status}"
    );
    ensure!(
        status == "created" && alive(pid),
        "the container changed: {status}"
    );
    Ok(err_text(&out))
}

pub fn delete_running(env: &Env) -> Res {
    let t = env.test("delete-running");
    let rt = env.rt(&t);
    let b = t.bundle().with_probe(&["sleep", "30"]);
    let pid = running(rt, &b)?;
    let out = rt.delete(&b.id);
    ensure!(
        out.code != 0,
        "delete of a running container succeeded:\n{out}"
    );
    ensure!(
        status_of(rt, &b.id) == "running" && alive(pid),
        "the container changed: {}",
        status_of(rt, &b.id)
    );
    Ok(err_text(&out))
}

pub fn delete_stopped_removes_resources(env: &Env) -> Res {
    let t = env.test("delete-stopped");
    let rt = env.rt(&t);
    let mut b = t.bundle().with_probe(&["exit", "0"]);
    b.push(
        "/mounts",
        json!({"destination": "/conf-tmp", "type": "tmpfs", "source": "tmpfs"}),
    );
    stopped(rt, &b)?;
    let out = rt.delete(&b.id);
    ensure!(
        out.code == 0,
        "delete of a stopped container failed:\n{out}"
    );
    ensure!(rt.state(&b.id).code != 0, "state still finds it");
    let left = leftovers(rt, &b);
    ensure!(left.is_empty(), "left behind:\n{}", left.join("\n"));
    Ok(String::new())
}

/// A process in its own UTS namespace that the test started (and kills, by pid, at the end).
pub struct NsHolder {
    child: std::process::Child,
}

impl NsHolder {
    pub fn new(flag: &str) -> NsHolder {
        let child = std::process::Command::new("unshare")
            .args([flag, "sleep", "60"])
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("spawn unshare");
        let pid = child.id();
        // Wait until unshare has exec'd sleep in the new namespace.
        wait_for(WAIT, || {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|p| p.to_string_lossy().ends_with("sleep"))
        });
        NsHolder { child }
    }

    pub fn ns(&self, ty: &str) -> String {
        format!("/proc/{}/ns/{ty}", self.child.id())
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn delete_keeps_foreign_resources(env: &Env) -> Res {
    let t = env.test("delete-foreign");
    let rt = env.rt(&t);
    let mut holder = NsHolder::new("--uts");
    let uts = std::fs::read_link(holder.ns("uts")).unwrap_or_default();
    let (mut b, io) = sh_bundle(&t, "echo x > /conf-io/written");
    b.remove("/hostname");
    std::fs::write(io.join("kept"), "mine").unwrap();
    let nss = b.get("/linux/namespaces").cloned().unwrap_or(json!([]));
    let nss: Vec<Value> = nss
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "uts")
        .cloned()
        .collect();
    b.set("/linux/namespaces", json!(nss));
    b.push(
        "/linux/namespaces",
        json!({"type": "uts", "path": holder.ns("uts")}),
    );
    stopped(rt, &b)?;
    ensure!(rt.delete(&b.id).code == 0, "delete failed");
    ensure!(
        holder.alive(),
        "the process holding the joined uts namespace was killed"
    );
    ensure!(
        std::fs::read_link(holder.ns("uts")).unwrap_or_default() == uts,
        "the joined namespace changed"
    );
    ensure!(
        read(&io.join("kept")) == "mine",
        "the bind-mount source lost its file"
    );
    ensure!(
        read(&io.join("written")) == "x\n",
        "the container's write to the bind mount is gone"
    );
    Ok(String::new())
}
