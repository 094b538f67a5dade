//! hooks: prestart, createRuntime, createContainer, startContainer, poststart, poststop.
//! Each hook gets the container state JSON on stdin, its own args (args[0] is argv[0]) and env,
//! and is killed after `timeout` seconds. What a failure means depends on the kind (runtime-spec):
//! prestart/createRuntime/createContainer/startContainer failures fail the operation;
//! poststart/poststop failures are logged as warnings.

use crate::bail;
use crate::error::{Context, Error, Result};
use oci_spec::runtime::{Hook, Hooks, Spec};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    pub fn field(self) -> &'static str {
        match self {
            Kind::Prestart => "hooks.prestart",
            Kind::CreateRuntime => "hooks.createRuntime",
            Kind::CreateContainer => "hooks.createContainer",
            Kind::StartContainer => "hooks.startContainer",
            Kind::Poststart => "hooks.poststart",
            Kind::Poststop => "hooks.poststop",
        }
    }
}

pub fn list(spec: &Spec, kind: Kind) -> &[Hook] {
    of(spec.hooks().as_ref(), kind)
}

fn of(hooks: Option<&Hooks>, kind: Kind) -> &[Hook] {
    let Some(h) = hooks else { return &[] };
    let v = match kind {
        Kind::Prestart => h.prestart(),
        Kind::CreateRuntime => h.create_runtime(),
        Kind::CreateContainer => h.create_container(),
        Kind::StartContainer => h.start_container(),
        Kind::Poststart => h.poststart(),
        Kind::Poststop => h.poststop(),
    };
    v.as_deref().unwrap_or_default()
}

pub fn validate(spec: &Spec) -> Result<()> {
    for kind in [
        Kind::Prestart,
        Kind::CreateRuntime,
        Kind::CreateContainer,
        Kind::StartContainer,
        Kind::Poststart,
        Kind::Poststop,
    ] {
        for (i, h) in list(spec, kind).iter().enumerate() {
            if !h.path().is_absolute() {
                bail!("{}[{i}].path: must be an absolute path", kind.field());
            }
            if h.timeout().is_some_and(|t| t <= 0) {
                bail!(
                    "{}[{i}].timeout: must be a positive number of seconds",
                    kind.field()
                );
            }
        }
    }
    Ok(())
}

/// Run every hook of `kind` in order; the first failure is returned.
pub fn run(spec: &Spec, kind: Kind, state_json: &str) -> Result<()> {
    for (i, h) in list(spec, kind).iter().enumerate() {
        run_one(h, state_json).with_context(|| {
            format!(
                "{}[{i}]: error running hook {}",
                kind.field(),
                h.path().display()
            )
        })?;
    }
    Ok(())
}

/// Run every hook of `kind` from the saved hooks; failures are warnings (poststart, poststop).
pub fn run_warn_spec(hooks: Option<&Hooks>, kind: Kind, state_json: &str) {
    for (i, h) in of(hooks, kind).iter().enumerate() {
        if let Err(e) = run_one(h, state_json) {
            crate::log::warn(&format!(
                "{}[{i}]: error running hook {}: {e}",
                kind.field(),
                h.path().display()
            ));
        }
    }
}

fn run_one(h: &Hook, state_json: &str) -> Result<()> {
    let mut cmd = Command::new(h.path());
    let args = h.args().as_deref().unwrap_or_default();
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().context("start hook")?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine (EPIPE is ignored).
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let status = match h.timeout() {
        None => child.wait()?,
        Some(secs) => {
            let deadline = Instant::now() + Duration::from_secs(secs as u64);
            loop {
                if let Some(st) = child.try_wait()? {
                    break st;
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!("hook ran past specified timeout of {secs}.0s");
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    };
    if !status.success() {
        let out = child.wait_with_output().ok();
        let text = |b: Option<&Vec<u8>>| {
            String::from_utf8_lossy(b.map(|v| v.as_slice()).unwrap_or_default())
                .trim()
                .to_string()
        };
        let stderr = text(out.as_ref().map(|o| &o.stderr));
        let stdout = text(out.as_ref().map(|o| &o.stdout));
        // Go's wording ("exit status 3", "signal: killed"), which callers may match on.
        let how = match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!("signal {s}"),
            _ => status.to_string(),
        };
        return Err(Error::msg(format!(
            "{how}, stdout: {stdout}, stderr: {stderr}"
        )));
    }
    Ok(())
}
