//! The checks, one function per requirement (some shared), and what they have in common: the
//! per-runtime `Env`, outcomes, and helpers to look at a container from outside.

mod config;
mod features;
mod hooks;
mod lifecycle;
mod linux;

use crate::harness::{leaks, Bundle, Out, Runtime, Test};
use serde_json::Value;
use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

/// Why a check did not pass.
pub enum Why {
    Fail(String),
    Skip(String),
}

/// `Ok(note)`: passed; the note (often the error text the runtime gave) may be empty.
pub type Res = Result<String, Why>;
pub type Check = fn(&Env) -> Res;

pub enum Outcome {
    Pass(String),
    Fail(String),
    Skip(String),
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::checks::Why::Fail(format!($($fmt)+)));
        }
    };
}
macro_rules! fail {
    ($($fmt:tt)+) => {
        return Err($crate::checks::Why::Fail(format!($($fmt)+)))
    };
}
pub(crate) use {ensure, fail};

/// One runtime's view: which runtime, and results shared by several checks (one hooked
/// lifecycle serves ~30 hook requirements).
pub struct Env {
    pub keel: bool,
    cache: RefCell<HashMap<String, Result<Value, String>>>,
    hooks: RefCell<Option<Result<hooks::HookRun, String>>>,
}

impl Env {
    pub fn new(keel: bool) -> Env {
        Env {
            keel,
            cache: RefCell::new(HashMap::new()),
            hooks: RefCell::new(None),
        }
    }

    /// A fresh harness `Test` (temp dir, cleanup and leak checks when dropped).
    pub fn test(&self, name: &str) -> Test {
        Test::new(&format!(
            "conf-{}-{name}",
            if self.keel { "k" } else { "r" }
        ))
    }

    /// The runtime this env is about, inside `t`.
    pub fn rt<'a>(&self, t: &'a Test) -> &'a Runtime {
        if self.keel {
            &t.rt
        } else {
            &t.runc
        }
    }

    /// `f()` once per key and runtime; a panic is remembered as the error.
    pub fn cached(&self, key: &str, f: impl FnOnce() -> Value) -> Result<Value, String> {
        if let Some(v) = self.cache.borrow().get(key) {
            return v.clone();
        }
        let v = catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_text(p.as_ref()));
        self.cache.borrow_mut().insert(key.to_string(), v.clone());
        v
    }
}

thread_local! {
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Panics inside checks are failures, reported in the table: record the message and location
/// instead of printing them.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string());
        let loc = info
            .location()
            .map(|l| format!(" ({}:{})", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC.with(|p| *p.borrow_mut() = format!("{text}{loc}"));
    }));
}

fn panic_text(_p: &(dyn Any + Send)) -> String {
    LAST_PANIC.with(|p| p.borrow().clone())
}

pub fn run(env: &Env, f: Check) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| f(env))) {
        Ok(Ok(note)) => Outcome::Pass(note),
        Ok(Err(Why::Fail(m))) => Outcome::Fail(m),
        Ok(Err(Why::Skip(m))) => Outcome::Skip(m),
        Err(p) => Outcome::Fail(panic_text(p.as_ref())),
    }
}

pub const WAIT: Duration = Duration::from_secs(10);

/// The error text a runtime printed: runc's `msg="..."` when there is one, else the first
/// non-empty stderr (or stdout) line.
pub fn err_text(out: &Out) -> String {
    let text = if out.stderr.trim().is_empty() {
        &out.stdout
    } else {
        &out.stderr
    };
    for l in text.lines() {
        if let Some(i) = l.find("msg=\"") {
            let rest = &l[i + 5..];
            let end = rest.rfind('"').unwrap_or(rest.len());
            return rest[..end].replace("\\\"", "\"");
        }
    }
    // The first non-empty line, and the next one too when the first ends with a colon (clap).
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    match lines.next() {
        Some(l) if l.ends_with(':') => format!("{l} {}", lines.next().unwrap_or("")),
        Some(l) => l.to_string(),
        None => "(no message)".to_string(),
    }
}

/// What is left of container `b.id` under `rt` (state dir, cgroups, mounts, processes).
pub fn leftovers(rt: &Runtime, b: &Bundle) -> Vec<String> {
    leaks::leftovers_settled(&rt.root, &b.id, &b.dir, Duration::from_secs(2))
}

/// Checks that `out` failed and that no container `b.id` exists or left anything behind; the
/// note is the runtime's error text.
pub fn failed_cleanly(rt: &Runtime, b: &Bundle, out: &Out, what: &str) -> Res {
    ensure!(out.code != 0, "{what} succeeded; expected an error:\n{out}");
    let st = rt.state(&b.id);
    ensure!(
        st.code != 0,
        "{what} failed, but the container still exists: {}",
        st.stdout.trim()
    );
    let left = leftovers(rt, b);
    ensure!(
        left.is_empty(),
        "{what} failed but left things behind:\n{}",
        left.join("\n")
    );
    Ok(err_text(out))
}

/// Writes `b`, runs `create`, and expects an error with nothing created.
pub fn create_must_fail(rt: &Runtime, b: &Bundle) -> Res {
    let out = rt.create(b);
    failed_cleanly(rt, b, &out, "create")
}

/// Whether /proc/<pid> is a live (not zombie) process.
pub fn alive(pid: i64) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    match stat.rfind(')') {
        Some(i) => !stat[i + 1..].trim_start().starts_with('Z'),
        None => false,
    }
}

pub fn ns_of(pid: &str, ty: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ty}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Polls `f` until it is true or `timeout` passes; returns the last value.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A bundle whose process is `sh -c script`, with host dir `io` bind-mounted at /conf-io.
pub fn sh_bundle(t: &Test, script: &str) -> (Bundle, std::path::PathBuf) {
    let io = t.host_dir("io");
    let mut b = t.bundle();
    b.args(&["/bin/sh", "-c", script]);
    b.push(
        "/mounts",
        serde_json::json!({"destination": "/conf-io", "type": "bind", "source": io, "options": ["rbind", "rw"]}),
    );
    (b, io)
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// The state's pid, or 0.
pub fn pid_of(rt: &Runtime, id: &str) -> i64 {
    rt.state(id).json_or_null()["pid"].as_i64().unwrap_or(0)
}

pub fn status_of(rt: &Runtime, id: &str) -> String {
    let out = rt.state(id);
    if out.code != 0 {
        return format!("<state failed: {}>", err_text(&out));
    }
    out.json_or_null()["status"]
        .as_str()
        .unwrap_or("<no status>")
        .to_string()
}

/// Every check, by the name requirements.tsv uses.
pub const ALL: &[(&str, Check)] = &[
    // runtime.md: operations and states
    ("operations_supported", lifecycle::operations_supported),
    ("state_no_id", lifecycle::state_no_id),
    ("state_missing", lifecycle::state_missing),
    ("state_tracks_lifecycle", lifecycle::state_tracks_lifecycle),
    ("state_schema", lifecycle::state_schema),
    ("state_status_values", lifecycle::state_status_values),
    ("state_pid_is_host_pid", lifecycle::state_pid_is_host_pid),
    ("state_bundle_absolute", lifecycle::state_bundle_absolute),
    (
        "state_creating_during_create",
        lifecycle::state_creating_during_create,
    ),
    (
        "state_stopped_when_process_exits",
        lifecycle::state_stopped_when_process_exits,
    ),
    (
        "create_without_id_or_bundle",
        lifecycle::create_without_id_or_bundle,
    ),
    ("create_duplicate_id", lifecycle::create_duplicate_id),
    ("create_invalid_id", lifecycle::create_invalid_id),
    ("create_makes_container", lifecycle::create_makes_container),
    ("create_applies_config", lifecycle::create_applies_config),
    (
        "create_does_not_run_program",
        lifecycle::create_does_not_run_program,
    ),
    (
        "config_changes_after_create_ignored",
        lifecycle::config_changes_after_create_ignored,
    ),
    (
        "create_unmet_config_fails",
        lifecycle::create_unmet_config_fails,
    ),
    (
        "create_unapplicable_property_fails",
        lifecycle::create_unapplicable_property_fails,
    ),
    (
        "failed_create_leaves_nothing",
        lifecycle::failed_create_leaves_nothing,
    ),
    ("start_no_id", lifecycle::start_no_id),
    ("start_running", lifecycle::start_running),
    ("start_stopped", lifecycle::start_stopped),
    ("start_missing", lifecycle::start_missing),
    ("start_runs_program", lifecycle::start_runs_program),
    ("start_without_process", lifecycle::start_without_process),
    ("kill_no_id", lifecycle::kill_no_id),
    ("kill_stopped", lifecycle::kill_stopped),
    ("kill_missing", lifecycle::kill_missing),
    ("kill_running_delivers", lifecycle::kill_running_delivers),
    ("kill_created_delivers", lifecycle::kill_created_delivers),
    ("delete_no_id", lifecycle::delete_no_id),
    ("delete_created", lifecycle::delete_created),
    ("delete_running", lifecycle::delete_running),
    ("delete_missing", lifecycle::delete_missing),
    (
        "delete_stopped_removes_resources",
        lifecycle::delete_stopped_removes_resources,
    ),
    (
        "delete_keeps_foreign_resources",
        lifecycle::delete_keeps_foreign_resources,
    ),
    // config.md hooks and runtime.md lifecycle steps 3-13
    ("hooks_in_listed_order", hooks::in_listed_order),
    (
        "hooks_prestart_before_create_runtime",
        hooks::prestart_before_create_runtime,
    ),
    (
        "hooks_create_container_after_create_runtime",
        hooks::create_container_after_create_runtime,
    ),
    ("hooks_prestart_timing", hooks::prestart_timing),
    ("hooks_create_runtime_timing", hooks::create_runtime_timing),
    (
        "hooks_create_container_timing",
        hooks::create_container_timing,
    ),
    (
        "hooks_start_container_timing",
        hooks::start_container_timing,
    ),
    ("hooks_poststart_timing", hooks::poststart_timing),
    ("hooks_poststop_timing", hooks::poststop_timing),
    ("hooks_prestart_namespace", hooks::prestart_namespace),
    (
        "hooks_create_runtime_namespace",
        hooks::create_runtime_namespace,
    ),
    (
        "hooks_create_container_namespace",
        hooks::create_container_namespace,
    ),
    (
        "hooks_start_container_namespace",
        hooks::start_container_namespace,
    ),
    ("hooks_poststart_namespace", hooks::poststart_namespace),
    ("hooks_poststop_namespace", hooks::poststop_namespace),
    ("hooks_prestart_path", hooks::prestart_path),
    ("hooks_create_runtime_path", hooks::create_runtime_path),
    ("hooks_create_container_path", hooks::create_container_path),
    ("hooks_start_container_path", hooks::start_container_path),
    ("hooks_poststart_path", hooks::poststart_path),
    ("hooks_poststop_path", hooks::poststop_path),
    ("hooks_prestart_state", hooks::prestart_state),
    ("hooks_create_runtime_state", hooks::create_runtime_state),
    (
        "hooks_create_container_state",
        hooks::create_container_state,
    ),
    ("hooks_start_container_state", hooks::start_container_state),
    ("hooks_poststart_state", hooks::poststart_state),
    ("hooks_poststop_state", hooks::poststop_state),
    ("hooks_pid_runtime_namespace", hooks::pid_runtime_namespace),
    (
        "hooks_pid_container_namespace",
        hooks::pid_container_namespace,
    ),
    ("hook_fails_prestart", hooks::fails_prestart),
    ("hook_fails_create_runtime", hooks::fails_create_runtime),
    ("hook_fails_create_container", hooks::fails_create_container),
    ("hook_fails_start_container", hooks::fails_start_container),
    ("hook_fails_poststart", hooks::fails_poststart),
    ("hook_fails_poststop", hooks::fails_poststop),
    ("hook_failure_then_poststop", hooks::failure_then_poststop),
    ("hook_path_relative_fails", hooks::path_relative_fails),
    ("hook_timeout_zero_fails", hooks::timeout_zero_fails),
    // config.md
    ("root_path_missing_fails", config::root_path_missing_fails),
    ("root_readonly", config::root_readonly),
    ("mounts_in_listed_order", config::mounts_in_listed_order),
    (
        "mount_relative_destination",
        config::mount_relative_destination,
    ),
    ("mount_options_must", config::mount_options_must),
    ("mount_options_should", config::mount_options_should),
    (
        "mount_unknown_options_as_data",
        config::mount_unknown_options_as_data,
    ),
    (
        "console_size_ignored_without_terminal",
        config::console_size_ignored_without_terminal,
    ),
    ("cwd_relative_fails", config::cwd_relative_fails),
    ("args_empty_fails", config::args_empty_fails),
    ("args_path_lookup", config::args_path_lookup),
    ("rlimit_unknown_fails", config::rlimit_unknown_fails),
    (
        "rlimit_getrlimit_succeeds",
        config::rlimit_getrlimit_succeeds,
    ),
    ("rlimit_soft_matches", config::rlimit_soft_matches),
    ("rlimit_hard_matches", config::rlimit_hard_matches),
    ("rlimit_duplicate_fails", config::rlimit_duplicate_fails),
    ("capability_unknown_warns", config::capability_unknown_warns),
    (
        "capability_ungrantable_warns",
        config::capability_ungrantable_warns,
    ),
    (
        "capability_ungrantable_does_not_fail",
        config::capability_ungrantable_does_not_fail,
    ),
    ("warning_keeps_flow", config::warning_keeps_flow),
    ("oom_score_adj_set", config::oom_score_adj_set),
    (
        "oom_score_adj_unset_unchanged",
        config::oom_score_adj_unset_unchanged,
    ),
    (
        "annotation_unknown_key_ok",
        config::annotation_unknown_key_ok,
    ),
    ("unknown_property_ignored", config::unknown_property_ignored),
    ("invalid_value_fails", config::invalid_value_fails),
    // config-linux.md, runtime-linux.md
    ("default_filesystems", linux::default_filesystems),
    ("ns_path_relative_fails", linux::ns_path_relative_fails),
    ("ns_path_joined", linux::ns_path_joined),
    ("ns_path_wrong_type_fails", linux::ns_path_wrong_type_fails),
    ("ns_new_without_path", linux::ns_new_without_path),
    ("ns_inherited_when_absent", linux::ns_inherited_when_absent),
    ("ns_duplicate_fails", linux::ns_duplicate_fails),
    ("ns_types_supported", linux::ns_types_supported),
    ("userns_no_chown", linux::userns_no_chown),
    ("devices_available", linux::devices_available),
    (
        "device_path_conflict_fails",
        linux::device_path_conflict_fails,
    ),
    ("default_devices", linux::default_devices),
    ("cgroups_path_absolute", linux::cgroups_path_absolute),
    ("cgroups_path_consistent", linux::cgroups_path_consistent),
    ("cgroups_v1_no_chown", linux::cgroups_v1_no_chown),
    ("device_rules_in_order", linux::device_rules_in_order),
    (
        "seccomp_errno_unsupported_action_fails",
        linux::seccomp_errno_unsupported_action_fails,
    ),
    ("dev_symlinks", linux::dev_symlinks),
    // features.md, features-linux.md
    ("features_static", features::features_static),
    (
        "features_version_min_accepted",
        features::version_min_accepted,
    ),
    (
        "features_version_max_accepted",
        features::version_max_accepted,
    ),
    ("features_version_order", features::version_order),
    ("features_known_properties", features::known_properties),
    ("features_hooks_supported", features::hooks_supported),
    (
        "features_mount_options_recognized",
        features::mount_options_recognized,
    ),
    (
        "features_mount_options_not_fs_specific",
        features::mount_options_not_fs_specific,
    ),
    ("features_annotations_map", features::annotations_map),
    (
        "features_namespaces_recognized",
        features::namespaces_recognized,
    ),
    (
        "features_capabilities_recognized",
        features::capabilities_recognized,
    ),
    ("features_seccomp_recognized", features::seccomp_recognized),
];
