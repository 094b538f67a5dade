//! config.md "POSIX-platform Hooks" and runtime.md lifecycle steps 3-13: when each hook kind
//! runs, in which namespace, where its path resolves, the state on its stdin, and what a
//! failing hook does.
//!
//! One hooked lifecycle per runtime (create, start, kill, delete) serves most checks. Every
//! kind has two entries running `hook.sh <kind> <n>`: it saves its stdin to `<kind>.<n>.json`,
//! appends `<kind>.<n>` to `order` and writes what it sees to `<kind>.<n>.info`. The script
//! lives only on the host for the runtime-namespace kinds and only in the rootfs for
//! startContainer, so running at all proves where the path resolved.

use super::{
    alive, ensure, err_text, fail, leftovers, read, status_of, wait_for, Env, Res, Why, WAIT,
};
use crate::harness::Test;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

pub const KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

const SCRIPT: &str = r#"#!/bin/sh
kind=$1; n=$2
D=__LOG__
[ -d "$D" ] || D=/hooklog
f="$D/$kind.$n"
cat > "$f.json"
echo "$kind.$n" >> "$D/order"
pid=$(sed -n 's/.*"pid":[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$f.json" | head -n 1)
{
  echo "mnt=$(readlink /proc/self/ns/mnt)"
  echo "pidns=$(readlink /proc/self/ns/pid)"
  echo "selfroot=$(stat -L -c %d:%i /)"
  echo "env=$CONF_HOOK_ENV"
  if [ -d __CG1__ ] || [ -d __CG2__ ]; then echo "cgroup=present"; else echo "cgroup=absent"; fi
  echo "exe1=$(readlink /proc/1/exe)"
  if [ -n "$pid" ]; then
    echo "pidroot=$(stat -L -c %d:%i /proc/$pid/root 2>/dev/null)"
    echo "pidexe=$(readlink /proc/$pid/exe 2>/dev/null)"
  fi
} > "$f.info"
"#;

#[derive(Clone, Debug)]
pub struct HookRun {
    pub id: String,
    pub bundle: String,
    pub host_mnt: String,
    pub rootfs_devino: String,
    pub container_pid: i64,
    pub container_mnt: String,
    pub container_pidns: String,
    pub after_create: Vec<String>,
    pub after_start: Vec<String>,
    pub before_delete: Vec<String>,
    pub order: Vec<String>,
    pub states: BTreeMap<String, Value>,
    pub info: BTreeMap<String, BTreeMap<String, String>>,
}

fn devino(p: &Path) -> String {
    std::fs::metadata(p)
        .map(|m| format!("{}:{}", m.dev(), m.ino()))
        .unwrap_or_default()
}

fn order(log: &Path) -> Vec<String> {
    read(&log.join("order"))
        .lines()
        .map(str::to_string)
        .collect()
}

/// Writes hook.sh (host-only path) and /conf-hook.sh in the rootfs; returns the host path.
fn install_script(t: &Test, b: &crate::harness::Bundle, log: &Path) -> String {
    let cg = |root: &str| format!("/sys/fs/cgroup/{root}keel-it/{}", b.id);
    let text = SCRIPT
        .replace("__LOG__", &log.display().to_string())
        .replace("__CG1__", &cg("pids/"))
        .replace("__CG2__", &cg(""));
    let host = t.host_dir("hookbin").join("hook.sh");
    std::fs::write(&host, &text).unwrap();
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o755)).unwrap();
    b.put_file("conf-hook.sh", &text, 0o755);
    host.display().to_string()
}

fn hook_entry(path: &str, kind: &str, n: usize) -> Value {
    json!({"path": path, "args": [path, kind, n.to_string()], "env": ["CONF_HOOK_ENV=from-env"]})
}

fn hook_run(env: &Env) -> HookRun {
    let t = env.test("hooks");
    let rt = env.rt(&t);
    let log = t.host_dir("hooklog");
    let mut b = t.bundle().with_probe(&["sleep", "30"]);
    let host_script = install_script(&t, &b, &log);
    for kind in KINDS {
        let path = if kind == "startContainer" {
            "/conf-hook.sh".to_string()
        } else {
            host_script.clone()
        };
        for n in 0..2 {
            b.push(&format!("/hooks/{kind}"), hook_entry(&path, kind, n));
        }
    }
    b.push("/mounts", json!({"destination": "/hooklog", "type": "bind", "source": log, "options": ["rbind", "rw"]}));
    rt.create(&b).ok();
    let after_create = order(&log);
    let st = rt.state_json(&b.id);
    let pid = st["pid"].as_i64().unwrap();
    let container_mnt = super::ns_of(&pid.to_string(), "mnt");
    let container_pidns = super::ns_of(&pid.to_string(), "pid");
    rt.start(&b.id).ok();
    let after_start = order(&log);
    rt.kill(&b.id, Some("KILL")).ok();
    rt.wait_status(&b.id, "stopped", WAIT);
    let before_delete = order(&log);
    rt.delete(&b.id).ok();
    let mut states = BTreeMap::new();
    let mut info = BTreeMap::new();
    for kind in KINDS {
        for n in 0..2 {
            let key = format!("{kind}.{n}");
            if let Ok(s) = std::fs::read_to_string(log.join(format!("{key}.json"))) {
                let v = serde_json::from_str(&s)
                    .unwrap_or_else(|e| json!({"<invalid JSON>": format!("{e}: {s}")}));
                states.insert(key.clone(), v);
            }
            let text = read(&log.join(format!("{key}.info")));
            let kv = text
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            info.insert(key, kv);
        }
    }
    HookRun {
        id: b.id.clone(),
        bundle: b.dir_str().to_string(),
        host_mnt: super::ns_of("self", "mnt"),
        rootfs_devino: devino(&b.rootfs()),
        container_pid: pid,
        container_mnt,
        container_pidns,
        after_create,
        after_start,
        before_delete,
        order: order(&log),
        states,
        info,
    }
}

/// The shared hooked lifecycle, run once per runtime.
fn run(env: &Env) -> Result<HookRun, Why> {
    if env.hooks.borrow().is_none() {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook_run(env)))
            .map_err(|p| super::panic_text(p.as_ref()));
        *env.hooks.borrow_mut() = Some(r);
    }
    match env.hooks.borrow().as_ref() {
        Some(Ok(r)) => Ok(r.clone()),
        Some(Err(e)) => Err(Why::Fail(format!("the hooked lifecycle failed: {e}"))),
        None => Err(Why::Fail("unreachable".into())),
    }
}

fn pos(list: &[String], key: &str) -> Option<usize> {
    list.iter().position(|k| k == key)
}

fn ran(r: &HookRun, kind: &str) -> Result<(), Why> {
    ensure!(
        pos(&r.order, &format!("{kind}.0")).is_some(),
        "the {kind} hook did not run (order: {:?})",
        r.order
    );
    Ok(())
}

fn info<'a>(r: &'a HookRun, kind: &str, key: &str) -> &'a str {
    r.info
        .get(&format!("{kind}.0"))
        .and_then(|m| m.get(key))
        .map(String::as_str)
        .unwrap_or("")
}

pub fn in_listed_order(env: &Env) -> Res {
    let r = run(env)?;
    for kind in KINDS {
        let (a, b) = (
            pos(&r.order, &format!("{kind}.0")),
            pos(&r.order, &format!("{kind}.1")),
        );
        ensure!(
            a.is_some() && b.is_some() && a < b,
            "{kind} hooks not called in the listed order: {:?}",
            r.order
        );
    }
    Ok(String::new())
}

pub fn prestart_before_create_runtime(env: &Env) -> Res {
    let r = run(env)?;
    ensure!(
        pos(&r.order, "prestart.1") < pos(&r.order, "createRuntime.0")
            && pos(&r.order, "prestart.1").is_some(),
        "order: {:?}",
        r.order
    );
    Ok(String::new())
}

pub fn create_container_after_create_runtime(env: &Env) -> Res {
    let r = run(env)?;
    ensure!(
        pos(&r.order, "createRuntime.1") < pos(&r.order, "createContainer.0")
            && pos(&r.order, "createRuntime.1").is_some(),
        "order: {:?}",
        r.order
    );
    Ok(String::new())
}

/// Called during `create`, with the container process not yet pivoted into its rootfs.
fn during_create_before_pivot(r: &HookRun, kind: &str) -> Res {
    ran(r, kind)?;
    ensure!(
        pos(&r.after_create, &format!("{kind}.0")).is_some(),
        "{kind} did not run as part of create (ran after create returned: {:?})",
        r.order
    );
    let root = if kind == "createContainer" {
        info(r, kind, "selfroot")
    } else {
        info(r, kind, "pidroot")
    };
    ensure!(
        !root.is_empty(),
        "{kind}: could not see the container process's root"
    );
    ensure!(
        root != r.rootfs_devino,
        "{kind} ran after pivot_root: the container's / was already the rootfs"
    );
    Ok(String::new())
}

pub fn prestart_timing(env: &Env) -> Res {
    during_create_before_pivot(&run(env)?, "prestart")
}

pub fn create_runtime_timing(env: &Env) -> Res {
    during_create_before_pivot(&run(env)?, "createRuntime")
}

pub fn create_container_timing(env: &Env) -> Res {
    during_create_before_pivot(&run(env)?, "createContainer")
}

pub fn start_container_timing(env: &Env) -> Res {
    let r = run(env)?;
    ran(&r, "startContainer")?;
    ensure!(
        pos(&r.after_create, "startContainer.0").is_none()
            && pos(&r.after_start, "startContainer.0").is_some(),
        "startContainer must run during start: after create {:?}, after start {:?}",
        r.after_create,
        r.after_start
    );
    let exe1 = info(&r, "startContainer", "exe1");
    ensure!(
        !exe1.ends_with("probe"),
        "the user program was already executing when startContainer ran (/proc/1/exe = {exe1})"
    );
    Ok(String::new())
}

pub fn poststart_timing(env: &Env) -> Res {
    let r = run(env)?;
    ran(&r, "poststart")?;
    ensure!(
        pos(&r.after_create, "poststart.0").is_none(),
        "poststart ran during create, before the user-specified process was executed"
    );
    ensure!(
        pos(&r.after_start, "poststart.1").is_some(),
        "poststart had not run when start returned"
    );
    let exe = info(&r, "poststart", "pidexe");
    ensure!(
        exe.ends_with("probe"),
        "poststart ran before the user-specified process was executed (container exe {exe:?})"
    );
    Ok(String::new())
}

pub fn poststop_timing(env: &Env) -> Res {
    let r = run(env)?;
    ran(&r, "poststop")?;
    ensure!(
        pos(&r.before_delete, "poststop.0").is_none(),
        "poststop ran before delete: {:?}",
        r.before_delete
    );
    ensure!(
        info(&r, "poststop", "cgroup") == "absent",
        "poststop ran before the container was deleted (its cgroup still existed)"
    );
    Ok(String::new())
}

fn in_runtime_ns(r: &HookRun, kind: &str) -> Res {
    ran(r, kind)?;
    let mnt = info(r, kind, "mnt");
    ensure!(
        mnt == r.host_mnt,
        "{kind} ran in mount namespace {mnt}, not the runtime's {}",
        r.host_mnt
    );
    Ok(String::new())
}

fn in_container_ns(r: &HookRun, kind: &str) -> Res {
    ran(r, kind)?;
    let (mnt, pidns) = (info(r, kind, "mnt"), info(r, kind, "pidns"));
    ensure!(
        mnt == r.container_mnt && pidns == r.container_pidns,
        "{kind} ran in mnt {mnt} pid {pidns}; the container's are {} {}",
        r.container_mnt,
        r.container_pidns
    );
    Ok(String::new())
}

pub fn prestart_namespace(env: &Env) -> Res {
    in_runtime_ns(&run(env)?, "prestart")
}
pub fn create_runtime_namespace(env: &Env) -> Res {
    in_runtime_ns(&run(env)?, "createRuntime")
}
pub fn create_container_namespace(env: &Env) -> Res {
    in_container_ns(&run(env)?, "createContainer")
}
pub fn start_container_namespace(env: &Env) -> Res {
    in_container_ns(&run(env)?, "startContainer")
}
pub fn poststart_namespace(env: &Env) -> Res {
    in_runtime_ns(&run(env)?, "poststart")
}
pub fn poststop_namespace(env: &Env) -> Res {
    in_runtime_ns(&run(env)?, "poststop")
}

/// The hook's path exists only on the host (or, for startContainer, only in the rootfs): it ran,
/// so the path resolved there.
fn path_resolved(env: &Env, kind: &str) -> Res {
    let r = run(env)?;
    ran(&r, kind)?;
    Ok(String::new())
}

pub fn prestart_path(env: &Env) -> Res {
    path_resolved(env, "prestart")
}
pub fn create_runtime_path(env: &Env) -> Res {
    path_resolved(env, "createRuntime")
}
pub fn create_container_path(env: &Env) -> Res {
    path_resolved(env, "createContainer")
}
pub fn start_container_path(env: &Env) -> Res {
    path_resolved(env, "startContainer")
}
pub fn poststart_path(env: &Env) -> Res {
    path_resolved(env, "poststart")
}
pub fn poststop_path(env: &Env) -> Res {
    path_resolved(env, "poststop")
}

fn state_given(env: &Env, kind: &str, want: &str) -> Res {
    let r = run(env)?;
    ran(&r, kind)?;
    let s = r
        .states
        .get(&format!("{kind}.0"))
        .ok_or_else(|| Why::Fail(format!("{kind} got nothing on stdin")))?;
    ensure!(s["id"] == r.id.as_str(), "{kind}: wrong or no id: {s}");
    ensure!(
        s["bundle"] == r.bundle.as_str(),
        "{kind}: wrong or no bundle: {s}"
    );
    ensure!(
        s["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "{kind}: no ociVersion: {s}"
    );
    ensure!(
        s["status"] == want,
        "{kind}: status {} (want {want:?}): {s}",
        s["status"]
    );
    Ok(String::new())
}

pub fn prestart_state(env: &Env) -> Res {
    state_given(env, "prestart", "creating")
}
pub fn create_runtime_state(env: &Env) -> Res {
    state_given(env, "createRuntime", "creating")
}
pub fn create_container_state(env: &Env) -> Res {
    state_given(env, "createContainer", "creating")
}
pub fn start_container_state(env: &Env) -> Res {
    state_given(env, "startContainer", "created")
}
pub fn poststart_state(env: &Env) -> Res {
    state_given(env, "poststart", "running")
}
pub fn poststop_state(env: &Env) -> Res {
    state_given(env, "poststop", "stopped")
}

pub fn pid_runtime_namespace(env: &Env) -> Res {
    let r = run(env)?;
    for kind in ["prestart", "createRuntime", "poststart"] {
        let pid = r.states.get(&format!("{kind}.0")).map(|s| s["pid"].clone());
        ensure!(
            pid == Some(json!(r.container_pid)),
            "{kind} got pid {pid:?}; the container process is {} on the host",
            r.container_pid
        );
    }
    Ok(String::new())
}

pub fn pid_container_namespace(env: &Env) -> Res {
    let r = run(env)?;
    for kind in ["createContainer", "startContainer"] {
        let pid = r.states.get(&format!("{kind}.0")).map(|s| s["pid"].clone());
        ensure!(
            pid == Some(json!(1)),
            "{kind} got pid {pid:?}; the container process is pid 1 in its pid namespace (host pid {})",
            r.container_pid
        );
    }
    Ok(String::new())
}

/// What a failing hook of one kind led to.
struct Failed {
    create: crate::harness::Out,
    start: Option<crate::harness::Out>,
    delete: Option<crate::harness::Out>,
    /// The second hook of the failing kind ran.
    next_ran: bool,
    /// A poststop hook ran.
    poststop_ran: bool,
    /// The user program ran.
    program_ran: bool,
    status_after: String,
    pid: i64,
    left: Vec<String>,
}

fn with_failing_hook(env: &Env, kind: &str) -> Failed {
    let t = env.test(&format!("hookfail-{kind}"));
    let rt = env.rt(&t);
    let io = t.host_dir("io");
    let mut b = t.bundle();
    b.args(&[
        "/bin/sh",
        "-c",
        "echo ran > /conf-io/program; exec sleep 30",
    ]);
    b.push("/mounts", json!({"destination": "/conf-io", "type": "bind", "source": io, "options": ["rbind", "rw"]}));
    // Inside the container (startContainer) the log is /conf-io; elsewhere the host path.
    let mark = |name: &str| {
        format!(
            "D={}; [ -d \"$D\" ] || D=/conf-io; touch \"$D/{name}\"",
            io.display()
        )
    };
    b.push(
        &format!("/hooks/{kind}"),
        json!({"path": "/bin/sh", "args": ["sh", "-c", "echo conf-hook-failed >&2; exit 3"]}),
    );
    b.push(
        &format!("/hooks/{kind}"),
        json!({"path": "/bin/sh", "args": ["sh", "-c", mark("next-ran")]}),
    );
    if kind != "poststop" {
        b.push(
            "/hooks/poststop",
            json!({"path": "/bin/sh", "args": ["sh", "-c", mark("poststop-ran")]}),
        );
    }
    let create = rt.create(&b);
    let pid = super::pid_of(rt, &b.id);
    let mut start = None;
    let mut delete = None;
    if create.code == 0 {
        let s = rt.start(&b.id);
        let started = s.code == 0;
        start = Some(s);
        if started && kind == "poststop" {
            rt.kill(&b.id, Some("KILL"));
            wait_for(WAIT, || status_of(rt, &b.id) == "stopped");
            delete = Some(rt.delete(&b.id));
        }
    }
    if kind == "startContainer" || kind == "poststart" {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let status_after = status_of(rt, &b.id);
    let left = if status_after.starts_with("<state failed") {
        leftovers(rt, &b)
    } else {
        Vec::new()
    };
    Failed {
        create,
        start,
        delete,
        next_ran: io.join("next-ran").exists(),
        poststop_ran: io.join("poststop-ran").exists()
            || (kind == "poststop" && io.join("next-ran").exists()),
        program_ran: io.join("program").exists(),
        status_after,
        pid,
        left,
    }
}

/// prestart, createRuntime, createContainer: create fails and the container is destroyed.
fn create_hook_fails(env: &Env, kind: &str) -> Res {
    let f = with_failing_hook(env, kind);
    ensure!(
        f.create.code != 0,
        "create succeeded although a {kind} hook failed"
    );
    ensure!(
        f.status_after.starts_with("<state failed"),
        "the container was not destroyed: state says {}",
        f.status_after
    );
    ensure!(f.left.is_empty(), "left behind:\n{}", f.left.join("\n"));
    ensure!(!f.program_ran, "the user program ran");
    Ok(err_text(&f.create))
}

pub fn fails_prestart(env: &Env) -> Res {
    create_hook_fails(env, "prestart")
}
pub fn fails_create_runtime(env: &Env) -> Res {
    create_hook_fails(env, "createRuntime")
}
pub fn fails_create_container(env: &Env) -> Res {
    create_hook_fails(env, "createContainer")
}

pub fn fails_start_container(env: &Env) -> Res {
    let f = with_failing_hook(env, "startContainer");
    ensure!(f.create.code == 0, "create failed:\n{}", f.create);
    let start = f.start.as_ref().unwrap();
    ensure!(
        start.code != 0,
        "start succeeded although a startContainer hook failed (then: program ran {}, process \
         alive {}, state {})",
        f.program_ran,
        alive(f.pid),
        f.status_after
    );
    ensure!(!f.program_ran, "the user program ran");
    ensure!(
        f.pid > 0 && !alive(f.pid),
        "the container was not stopped: process {} still alive (state: {})",
        f.pid,
        f.status_after
    );
    ensure!(
        f.status_after.starts_with("<state failed"),
        "the container was stopped but not destroyed (lifecycle step 12): state says {}",
        f.status_after
    );
    Ok(err_text(start))
}

pub fn fails_poststart(env: &Env) -> Res {
    let f = with_failing_hook(env, "poststart");
    ensure!(
        f.create.code == 0,
        "create failed because of a poststart hook: {}",
        err_text(&f.create)
    );
    let start = f.start.as_ref().unwrap();
    ensure!(
        start.code == 0,
        "start failed; a failing poststart hook is only a warning: {}",
        err_text(start)
    );
    ensure!(f.next_ran, "the remaining poststart hook did not run");
    ensure!(
        f.program_ran && f.status_after == "running",
        "the container is {}",
        f.status_after
    );
    ensure!(
        start.stderr.contains("conf-hook-failed")
            || start.stderr.contains("exit status 3")
            || !start.stderr.trim().is_empty(),
        "no warning was logged"
    );
    Ok(format!("warning: {}", err_text(start)))
}

pub fn fails_poststop(env: &Env) -> Res {
    let f = with_failing_hook(env, "poststop");
    ensure!(f.create.code == 0, "create failed:\n{}", f.create);
    let delete = f
        .delete
        .as_ref()
        .ok_or_else(|| Why::Fail("start failed".into()))?;
    ensure!(
        delete.code == 0,
        "delete failed; a failing poststop hook is only a warning: {}",
        err_text(delete)
    );
    ensure!(f.next_ran, "the remaining poststop hook did not run");
    ensure!(
        f.status_after.starts_with("<state failed"),
        "the container still exists: {}",
        f.status_after
    );
    ensure!(!delete.stderr.trim().is_empty(), "no warning was logged");
    Ok(format!("warning: {}", err_text(delete)))
}

pub fn failure_then_poststop(env: &Env) -> Res {
    let f = with_failing_hook(env, "createRuntime");
    ensure!(
        f.create.code != 0,
        "create succeeded although a createRuntime hook failed"
    );
    ensure!(
        f.poststop_ran,
        "after a failing createRuntime hook the lifecycle did not continue to the poststop hooks (step 13)"
    );
    Ok(String::new())
}

pub fn path_relative_fails(env: &Env) -> Res {
    let t = env.test("hook-relpath");
    let rt = env.rt(&t);
    let mut b = t.bundle();
    b.push(
        "/hooks/createRuntime",
        json!({"path": "sh", "args": ["sh", "-c", "true"]}),
    );
    super::create_must_fail(rt, &b)
}

pub fn timeout_zero_fails(env: &Env) -> Res {
    let t = env.test("hook-timeout0");
    let rt = env.rt(&t);
    let mut b = t.bundle();
    b.push(
        "/hooks/createRuntime",
        json!({"path": "/bin/true", "args": ["true"], "timeout": 0}),
    );
    let out = rt.create(&b);
    if out.code == 0 {
        fail!("create accepted a hook with timeout 0 (it MUST be greater than zero)");
    }
    super::failed_cleanly(rt, &b, &out, "create")
}
