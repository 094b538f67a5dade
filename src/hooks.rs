//! hooks: prestart, createRuntime, createContainer, startContainer, poststart, poststop.
//! Each hook gets the container state JSON on stdin, its own args (args[0] is argv[0]) and env,
//! and is killed after `timeout` seconds. What a failure means depends on the kind (runtime-spec):
//! prestart/createRuntime/createContainer/startContainer failures fail the operation;
//! poststart/poststop failures are logged as warnings.

use crate::bail;
use crate::error::{Context, Error, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::{Hook, Hooks, Spec};
use std::io::{Read, Seek, Write};
use std::os::fd::AsFd;
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
        run_one(h, state_json)
            .map_err(|e| match kind {
                Kind::Prestart | Kind::CreateRuntime | Kind::CreateContainer => {
                    e.with_kind(crate::error::Kind::CreateHookFailed)
                }
                _ => e,
            })
            .with_context(|| {
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

/// An anonymous file (memfd, close-on-exec) holding `content`, positioned at its start.
fn memfile(content: &[u8]) -> Result<std::fs::File> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let mut f = std::fs::File::from(
        memfd_create(c"keel-hook", MFdFlags::MFD_CLOEXEC).context("memfd_create")?,
    );
    f.write_all(content).context("write hook stdin")?;
    f.rewind().context("rewind hook stdin")?;
    Ok(f)
}

/// What a hook wrote to `f`, trimmed ("" when it cannot be read).
fn read_all(mut f: std::fs::File) -> String {
    let mut buf = Vec::new();
    let _ = f.rewind().and_then(|_| f.read_to_end(&mut buf));
    String::from_utf8_lossy(&buf).trim().to_string()
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
    // Files, not pipes: keel reads the hook's output only once it has exited, and is
    // single-threaded, so a hook that wrote more than a pipe holds, or never read a large state
    // from its stdin, would block both sides for good.
    let stdin = memfile(state_json.as_bytes())?;
    let (stdout, stderr) = (memfile(b"")?, memfile(b"")?);
    cmd.stdin(Stdio::from(stdin))
        .stdout(Stdio::from(stdout.try_clone().context("dup hook stdout")?))
        .stderr(Stdio::from(stderr.try_clone().context("dup hook stderr")?));
    let mut child = cmd.spawn().context("start hook")?;
    drop(cmd);
    // A timeout too large for the clock means none.
    let deadline = h
        .timeout()
        .and_then(|secs| Instant::now().checked_add(Duration::from_secs(secs as u64)));
    let status = match deadline {
        None => child.wait()?,
        Some(deadline) => {
            let pidfd = crate::sys::pidfd_open(child.id() as i32).context("pidfd_open hook")?;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let wait = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
                match poll(&mut [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)], wait) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(Error::from(e).context("wait for hook")),
                    Ok(0) if left.is_zero() => {
                        let _ = child.kill();
                        let _ = child.wait();
                        bail!(
                            "hook ran past specified timeout of {}.0s",
                            h.timeout().unwrap_or_default()
                        );
                    }
                    Ok(0) => continue,
                    Ok(_) => break child.wait()?,
                }
            }
        }
    };
    if !status.success() {
        let (stdout, stderr) = (read_all(stdout), read_all(stderr));
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
