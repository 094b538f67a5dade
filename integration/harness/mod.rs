//! The integration-test harness: one `Test` per test function owns a temp dir, the runtime under
//! test (`KEEL_RUNTIME` or keel) and the reference runtime (runc), each with its own `--root`.
//! Dropping the `Test` force-deletes every container it created, undoes host mounts it made, and
//! fails the test if anything was left behind (state dir, cgroup, mount, process).

pub mod bundle;
pub mod compare;
pub mod default_spec;
pub mod fdpass;
pub mod host;
pub mod leaks;
pub mod runtime;

pub use bundle::Bundle;
pub use leaks::assert_nothing_left;
pub use runtime::{Out, Runtime};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The reference runtime.
pub const RUNC: &str = "/usr/bin/runc";

/// The parent of every test cgroup (`linux.cgroupsPath` = `/keel-it/<id>`).
pub const CGROUP_PARENT: &str = "keel-it";

pub struct Global {
    /// `/tmp/keel-it-<pid>`: everything a test makes on disk lives below it.
    pub base: PathBuf,
    pub template: PathBuf,
    pub runtime_bin: PathBuf,
    /// `/sys/fs/cgroup/<ctrl>/keel-it` dirs that existed before we started (left alone at exit).
    preexisting_cgroup_parents: Vec<PathBuf>,
}

static GLOBAL: OnceLock<Global> = OnceLock::new();
static SEQ: AtomicUsize = AtomicUsize::new(0);

extern "C" {
    fn atexit(cb: extern "C" fn()) -> i32;
}

fn probe_path() -> PathBuf {
    let p = match std::env::var_os("KEEL_PROBE") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/probe")
            .join(env!("KEEL_TARGET"))
            .join("release/keel-probe"),
    };
    assert!(
        p.is_file(),
        "probe not built: run `make probe` (integration/probe/build.sh); looked for {}",
        p.display()
    );
    p
}

fn runtime_bin() -> PathBuf {
    let p = match std::env::var_os("KEEL_RUNTIME") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_keel")),
    };
    assert!(
        p.is_file(),
        "runtime under test {} does not exist",
        p.display()
    );
    p
}

pub fn cgroup_parents() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
        for ent in rd.flatten() {
            let p = ent.path().join(CGROUP_PARENT);
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The pids in container `id`'s cgroups (`/sys/fs/cgroup/*/keel-it/<id>/cgroup.procs`), sorted.
pub fn cgroup_pids(id: &str) -> Vec<i32> {
    let mut pids: Vec<i32> = cgroup_parents()
        .into_iter()
        .filter_map(|p| fs::read_to_string(p.join(id).join("cgroup.procs")).ok())
        .flat_map(|t| {
            t.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Runs the probe on the host, as a child of the test process (e.g. to see the test's own
/// session keyring), and parses its JSON.
pub fn probe_on_host(args: &[&str]) -> serde_json::Value {
    let probe = global().template.join("probe");
    let out = Command::new(&probe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", probe.display()));
    assert!(out.status.success(), "host probe failed: {out:?}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("host probe printed no JSON ({e}): {out:?}"))
}

extern "C" fn cleanup_at_exit() {
    if let Some(summary) = host::skip_summary() {
        eprintln!("\n{summary}");
    }
    let Some(g) = GLOBAL.get() else { return };
    let _ = fs::remove_dir_all(&g.template);
    // Only if empty: a test that leaked keeps its directory for inspection.
    let _ = fs::remove_dir(&g.base);
    for p in cgroup_parents() {
        if p.exists() && !g.preexisting_cgroup_parents.contains(&p) {
            // rmdir only: a cgroup dir that still has children stays (and was reported as a leak).
            if let Err(e) = fs::remove_dir(&p) {
                eprintln!("keel-it: could not rmdir {}: {e}", p.display());
            }
        }
    }
}

pub fn global() -> &'static Global {
    GLOBAL.get_or_init(|| {
        let probe = probe_path();
        let runtime_bin = runtime_bin();
        assert!(
            Path::new(RUNC).is_file(),
            "reference runtime {RUNC} is not installed"
        );
        let preexisting_cgroup_parents = cgroup_parents()
            .into_iter()
            .filter(|p| p.exists())
            .collect();
        let base = PathBuf::from(format!("/tmp/keel-it-{}", std::process::id()));
        fs::create_dir_all(&base).unwrap_or_else(|e| panic!("mkdir {}: {e}", base.display()));
        let template = base.join("template");
        bundle::build_template(&template, &probe);
        // SAFETY: registers a plain extern "C" fn with no captured state; it runs once at exit.
        let rc = unsafe { atexit(cleanup_at_exit) };
        assert_eq!(rc, 0, "atexit failed");
        Global {
            base,
            template,
            runtime_bin,
            preexisting_cgroup_parents,
        }
    })
}

pub(crate) struct Registered {
    pub bin: PathBuf,
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
}

type Cleanup = Box<dyn FnOnce() + Send>;

#[derive(Default)]
pub(crate) struct Registry {
    pub containers: Vec<Registered>,
    pub cleanups: Vec<(String, Cleanup)>,
}

pub struct Test {
    pub name: String,
    /// `/tmp/keel-it-<pid>/<name>-<n>`.
    pub dir: PathBuf,
    /// The runtime under test.
    pub rt: Runtime,
    /// The reference runtime (runc), with its own root.
    pub runc: Runtime,
    registry: Arc<Mutex<Registry>>,
    bundles: AtomicUsize,
}

impl Test {
    pub fn new(name: &str) -> Test {
        let g = global();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let dir = g.base.join(format!("{name}-{n}"));
        fs::create_dir_all(dir.join("io"))
            .unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let registry = Arc::new(Mutex::new(Registry::default()));
        let rt_name = g
            .runtime_bin
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rt = Runtime::new(
            &rt_name,
            g.runtime_bin.clone(),
            dir.join("root-rt"),
            dir.join("io"),
            registry.clone(),
        );
        let runc = Runtime::new(
            "runc",
            PathBuf::from(RUNC),
            dir.join("root-ref"),
            dir.join("io"),
            registry.clone(),
        );
        Test {
            name: format!("{name}-{n}"),
            dir,
            rt,
            runc,
            registry,
            bundles: AtomicUsize::new(0),
        }
    }

    /// A fresh bundle with its own rootfs, a unique id and `cgroupsPath=/keel-it/<id>`.
    pub fn bundle(&self) -> Bundle {
        let k = self.bundles.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}-{}-{k}", self.name, std::process::id());
        Bundle::create(self.dir.join(format!("b{k}")), id, &global().template)
    }

    /// A directory on the host for this test (bind sources, hook logs, sockets...).
    pub fn host_dir(&self, name: &str) -> PathBuf {
        let p = self.dir.join("host").join(name);
        fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        p
    }

    /// Runs `f` when the test ends (before the leak checks), last registered first.
    pub fn on_cleanup(&self, what: &str, f: impl FnOnce() + Send + 'static) {
        self.registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .cleanups
            .push((what.to_string(), Box::new(f)));
    }

    /// `mount <args...> <target>` on the host; unmounted when the test ends.
    pub fn host_mount(&self, args: &[&str], target: &Path) {
        let st = Command::new("mount")
            .args(args)
            .arg(target)
            .stdin(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("mount {args:?} {}: {e}", target.display()));
        assert!(
            st.success(),
            "mount {args:?} {} failed: {st}",
            target.display()
        );
        let t = target.to_path_buf();
        self.on_cleanup(&format!("umount {}", t.display()), move || {
            let ok = Command::new("umount")
                .arg(&t)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(&t).status();
            }
        });
    }

    /// Runs a host command (e.g. `mount --make-shared`), asserting success.
    pub fn host_cmd(&self, prog: &str, args: &[&str]) {
        let st = Command::new(prog)
            .args(args)
            .stdin(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("{prog} {args:?}: {e}"));
        assert!(st.success(), "{prog} {args:?} failed: {st}");
    }

    fn teardown(&self) -> Vec<String> {
        let (containers, cleanups) = {
            let mut reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
            (
                std::mem::take(&mut reg.containers),
                std::mem::take(&mut reg.cleanups),
            )
        };
        for c in &containers {
            let mut cmd = Command::new(&c.bin);
            cmd.arg("--root")
                .arg(&c.root)
                .args(["delete", "--force", &c.id]);
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Ok(mut child) = cmd.spawn() {
                let _ =
                    runtime::wait_timeout(&mut child, Duration::from_secs(20), "delete --force");
            }
        }
        for (_, f) in cleanups.into_iter().rev() {
            f();
        }
        let mut problems = Vec::new();
        for c in &containers {
            let left = leaks::leftovers_settled(&c.root, &c.id, &c.bundle, Duration::from_secs(3));
            if !left.is_empty() {
                problems.extend(left);
                // Reported above; now keep the machine clean for the tests that follow.
                let reaped = leaks::reap_test_cgroups(&c.id, &c.bundle);
                problems.extend(reaped.into_iter().map(|s| format!("(cleanup) {s}")));
            }
        }
        let mounts = leaks::mounts_mentioning(&self.dir);
        if mounts.is_empty() {
            if let Err(e) = fs::remove_dir_all(&self.dir) {
                problems.push(format!("cannot remove {}: {e}", self.dir.display()));
            }
        } else {
            problems.push(format!(
                "mounts left under {} (dir kept): {mounts:?}",
                self.dir.display()
            ));
        }
        problems.sort();
        problems.dedup();
        problems
    }
}

impl Drop for Test {
    fn drop(&mut self) {
        let problems = self.teardown();
        if problems.is_empty() {
            return;
        }
        let msg = format!(
            "{}: left behind after the test:\n  {}",
            self.name,
            problems.join("\n  ")
        );
        if std::thread::panicking() {
            eprintln!("{msg}");
        } else {
            panic!("{msg}");
        }
    }
}
