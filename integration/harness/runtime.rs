//! Running a runtime binary (`<bin> --root <root> <verb> ...`) and capturing what it printed.
//!
//! stdout/stderr always go to files, never pipes: after `create` or `run -d` the container keeps
//! the runtime's stdio open, so waiting for EOF on a pipe would block until the container exits.
//! The file also keeps collecting the container's output, which tests read with `Out::reread`.

use super::bundle::Bundle;
use super::{Registered, Registry};
use serde_json::Value;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest any single runtime invocation may take before the test fails.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Runtime {
    /// "keel", "runc", ... (the binary's file name), used in messages and `--version` checks.
    pub name: String,
    pub bin: PathBuf,
    /// This runtime's private `--root` state directory.
    pub root: PathBuf,
    /// Where captured output files go.
    io_dir: PathBuf,
    registry: Arc<Mutex<Registry>>,
    seq: Arc<AtomicUsize>,
}

/// What one runtime invocation did.
#[derive(Clone)]
pub struct Out {
    pub cmd: String,
    /// Exit code, or 128+signal if the runtime was killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub stdout_path: PathBuf,
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }
}

impl fmt::Debug for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Out {
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success:\n{self}");
        self
    }

    pub fn failed(&self) -> &Self {
        assert_ne!(self.code, 0, "expected failure:\n{self}");
        self
    }

    /// Asserts failure and that stderr (or a `--log` line echoed there) contains `needle`.
    pub fn fails_with(&self, needle: &str) -> &Self {
        self.failed();
        assert!(
            self.stderr.contains(needle) || self.stdout.contains(needle),
            "expected the error output to contain {needle:?}:\n{self}"
        );
        self
    }

    /// Re-reads the captured stdout: after `create`/`run -d` the container writes there too.
    pub fn reread_stdout(&self) -> String {
        fs::read(&self.stdout_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// stdout parsed as JSON, or null if it is not JSON (e.g. while a container is appearing).
    pub fn json_or_null(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or(Value::Null)
    }

    /// stdout parsed as one JSON value.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => -1,
    }
}

/// Waits for `child` with a deadline; kills it (we started it, we own its pid) on timeout.
pub fn wait_timeout(child: &mut Child, timeout: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return st,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`{what}` did not finish within {timeout:?}; killed pid {}",
                    child.id()
                );
            }
            Err(e) => panic!("waiting for `{what}`: {e}"),
        }
    }
}

impl Runtime {
    pub(super) fn new(
        name: &str,
        bin: PathBuf,
        root: PathBuf,
        io_dir: PathBuf,
        registry: Arc<Mutex<Registry>>,
    ) -> Runtime {
        Runtime {
            name: name.to_string(),
            bin,
            root,
            io_dir,
            registry,
            seq: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// `<bin> --root <root> args...` as an argv (for wrappers such as `sh -c 'exec 3<f; exec "$@"'`).
    pub fn argv(&self, args: &[&str]) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![
            self.bin.clone().into(),
            "--root".into(),
            self.root.clone().into(),
        ];
        v.extend(args.iter().map(OsString::from));
        v
    }

    /// A Command for `<bin> --root <root> args...` with stdin null; tests may customize it and pass
    /// it to `capture`.
    pub fn command(&self, args: &[&str]) -> Command {
        let argv = self.argv(args);
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]).stdin(Stdio::null());
        c
    }

    /// Spawns `cmd` with stdout/stderr redirected to fresh files; returns the child and the files.
    pub fn spawn_captured(
        &self,
        mut cmd: Command,
        label: &str,
    ) -> (Child, String, PathBuf, PathBuf) {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let verb: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(24)
            .collect();
        let stdout_path = self.io_dir.join(format!("{}-{n:03}-{verb}.out", self.name));
        let stderr_path = self.io_dir.join(format!("{}-{n:03}-{verb}.err", self.name));
        let so = File::create(&stdout_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", stdout_path.display()));
        let se = File::create(&stderr_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", stderr_path.display()));
        cmd.stdout(so).stderr(se);
        let shown = format!(
            "{:?} {:?}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>()
        );
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {shown}: {e}"));
        (child, shown, stdout_path, stderr_path)
    }

    /// Runs `cmd` to completion (with a timeout) and returns what it printed.
    pub fn capture(&self, cmd: Command, label: &str) -> Out {
        let (mut child, shown, stdout_path, stderr_path) = self.spawn_captured(cmd, label);
        let status = wait_timeout(&mut child, INVOKE_TIMEOUT, &shown);
        let read = |p: &Path| {
            fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        Out {
            cmd: shown,
            code: exit_code(status),
            stdout: read(&stdout_path),
            stderr: read(&stderr_path),
            stdout_path,
        }
    }

    /// `<bin> --root <root> args...`, stdin null.
    pub fn invoke(&self, args: &[&str]) -> Out {
        self.capture(
            self.command(args),
            args.first().copied().unwrap_or("noargs"),
        )
    }

    /// Remembers that `id` may exist under this runtime's root, for cleanup and leak checks.
    pub fn register(&self, b: &Bundle) {
        self.register_id(&b.id, b);
    }

    pub fn register_id(&self, id: &str, b: &Bundle) {
        let mut reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if !reg
            .containers
            .iter()
            .any(|r| r.root == self.root && r.id == id)
        {
            reg.containers.push(Registered {
                bin: self.bin.clone(),
                root: self.root.clone(),
                id: id.to_string(),
                bundle: b.dir.clone(),
            });
        }
    }

    /// `run --bundle <dir> <id>` (foreground): returns the container process's exit status.
    pub fn run(&self, b: &Bundle) -> Out {
        self.run_with(b, &[])
    }

    /// `run <extra...> --bundle <dir> <id>`.
    pub fn run_with(&self, b: &Bundle, extra: &[&str]) -> Out {
        b.write();
        self.register(b);
        let mut args = vec!["run"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--bundle", b.dir_str(), &b.id]);
        self.invoke(&args)
    }

    /// `run -d`.
    pub fn run_detached(&self, b: &Bundle) -> Out {
        self.run_with(b, &["-d"])
    }

    /// `create --bundle <dir> <id>`.
    pub fn create(&self, b: &Bundle) -> Out {
        self.create_with(b, &[])
    }

    pub fn create_with(&self, b: &Bundle, extra: &[&str]) -> Out {
        b.write();
        self.register(b);
        let mut args = vec!["create"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--bundle", b.dir_str(), &b.id]);
        self.invoke(&args)
    }

    pub fn start(&self, id: &str) -> Out {
        self.invoke(&["start", id])
    }

    pub fn state(&self, id: &str) -> Out {
        self.invoke(&["state", id])
    }

    /// `state <id>` parsed; asserts success.
    pub fn state_json(&self, id: &str) -> Value {
        let out = self.state(id);
        out.ok();
        out.json()
    }

    pub fn status(&self, id: &str) -> String {
        self.state_json(id)["status"]
            .as_str()
            .unwrap_or_else(|| panic!("state of {id} has no status"))
            .to_string()
    }

    /// Polls `state` until the status is `want` (or fails after `timeout`).
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let st = self.state_json(id);
            if st["status"] == want {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "{}: container {id} not {want:?} after {timeout:?}: {st}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill <id> [signal]`.
    pub fn kill(&self, id: &str, signal: Option<&str>) -> Out {
        match signal {
            Some(s) => self.invoke(&["kill", id, s]),
            None => self.invoke(&["kill", id]),
        }
    }

    pub fn delete(&self, id: &str) -> Out {
        self.invoke(&["delete", id])
    }

    pub fn delete_force(&self, id: &str) -> Out {
        self.invoke(&["delete", "--force", id])
    }

    pub fn list(&self, extra: &[&str]) -> Out {
        let mut args = vec!["list"];
        args.extend_from_slice(extra);
        self.invoke(&args)
    }

    /// Runs `/probe <args...>` in a container made from `b` (`run`), asserts exit 0 and parses
    /// stdout as JSON.
    pub fn probe(&self, b: &Bundle, args: &[&str]) -> Value {
        self.probe_with(b, &[], args)
    }

    /// `probe` with extra `run` flags (e.g. `--no-pivot`).
    pub fn probe_with(&self, b: &Bundle, flags: &[&str], args: &[&str]) -> Value {
        let out = self.run_with(&b.with_probe(args), flags);
        assert_eq!(out.code, 0, "{}: probe failed:\n{out}", self.name);
        serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("{}: probe printed no JSON ({e}):\n{out}", self.name))
    }

    /// Runs `sh -c script` in a container made from `b`; returns the `run` output.
    pub fn sh(&self, b: &Bundle, script: &str) -> Out {
        let mut b = b.clone();
        b.args(&["/bin/sh", "-c", script]);
        self.run(&b)
    }
}
