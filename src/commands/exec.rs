//! `exec <id> [command...]` / `exec --process FILE`: run another process in a running container.
//! The process starts from the container's own process config (as runc does) with the flags'
//! overrides, or is read whole from --process.

use crate::bail;
use crate::cli::ExecArgs;
use crate::error::{Context, Error, Result};
use crate::state::{Container, Status};
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, Process};
use std::path::Path;
use std::str::FromStr;

pub fn run(root: &Path, a: &ExecArgs) -> Result<i32> {
    let c = Container::load(root, &a.id)?;
    // runc's words and exit code (255) for a container that cannot take a process.
    let refuse = |why: &str| {
        crate::report(&Error::msg(format!("exec failed: {why}")));
        Ok(255)
    };
    match c.status() {
        Status::Stopped => return refuse("cannot exec in a stopped container"),
        Status::Creating => return refuse("cannot exec in a container that is being created"),
        Status::Paused if !a.ignore_paused => {
            return refuse("cannot exec in a paused container (use --ignore-paused to override)")
        }
        Status::Created | Status::Running | Status::Paused => {}
    }
    let process = build_process(&c, a)?;
    if process.terminal() == Some(true) && a.detach && a.console_socket.is_none() {
        bail!("cannot allocate tty if keel will detach without setting console socket");
    }
    if a.console_socket.is_some() && process.terminal() != Some(true) {
        bail!("cannot use console socket if keel will not detach or allocate tty");
    }
    let cgroup_subs = parse_cgroup_subs(&a.cgroup)?;
    let set = crate::foreground::forwarded_signals(a.detach)?;
    let execd = match crate::spawn::exec(
        &c,
        &process,
        a.console_socket.as_deref(),
        a.pid_file.as_deref(),
        a.preserve_fds,
        &cgroup_subs,
    ) {
        Ok(e) => e,
        // runc's exit codes for a process that could not be started: podman maps them.
        Err(e) => {
            let code = exit_code_for(&e);
            crate::report(&e);
            return Ok(code);
        }
    };
    if a.detach {
        return Ok(0);
    }
    let master = execd
        .console
        .as_ref()
        .map(crate::tty::receive_master)
        .transpose()?;
    crate::foreground::wait_for(execd.pid, &set, master)
}

/// `--cgroup [CONTROLLER:]PATH`, PATH relative to the container's cgroup (runc's syntax).
fn parse_cgroup_subs(raw: &[String]) -> Result<Vec<(Option<String>, std::path::PathBuf)>> {
    raw.iter()
        .map(|r| {
            let (ctrl, path) = match r.split_once(':') {
                Some((c, p)) => (Some(c.to_string()), p),
                None => (None, r.as_str()),
            };
            let p = std::path::PathBuf::from(path.trim_start_matches('/'));
            if path.is_empty() || p.components().any(|c| c == std::path::Component::ParentDir) {
                bail!("--cgroup: invalid sub-cgroup {r:?}");
            }
            Ok((ctrl, p))
        })
        .collect()
}

/// 127 when the command does not exist, 126 when it cannot be executed, 255 otherwise.
fn exit_code_for(e: &Error) -> i32 {
    match e.kind() {
        crate::error::Kind::CommandNotFound => 127,
        crate::error::Kind::NotExecutable => 126,
        _ => 255,
    }
}

fn build_process(c: &Container, a: &ExecArgs) -> Result<Process> {
    if let Some(path) = &a.process {
        let text =
            std::fs::read(path).with_context(|| format!("--process: read {}", path.display()))?;
        let de = &mut serde_json::Deserializer::from_slice(&text);
        let p: Process = serde_path_to_error::deserialize(de).map_err(|e| {
            Error::msg(format!(
                "--process {}: {}: {}",
                path.display(),
                e.path(),
                e.inner()
            ))
        })?;
        return Ok(p);
    }
    if a.command.is_empty() {
        bail!("exec: no command given (a command or --process is required)");
    }
    let mut p = c
        .saved
        .config
        .process()
        .clone()
        .ok_or_else(|| Error::msg("the container's config has no process"))?;
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(ap) = &a.apparmor {
        p.set_apparmor_profile(Some(ap.clone()));
    }
    if let Some(l) = &a.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    if !a.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        env.extend(a.env.iter().cloned());
        p.set_env(Some(env));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let num = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| Error::msg(format!("--user: {s:?} is not a number")))
        };
        p.user_mut().set_uid(num(uid)?);
        if let Some(g) = gid {
            p.user_mut().set_gid(num(g)?);
        }
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_else(empty_caps);
        for raw in &a.cap {
            let name = raw.to_ascii_uppercase();
            let name = name.strip_prefix("CAP_").unwrap_or(&name);
            let cap = Capability::from_str(name)
                .map_err(|_| Error::msg(format!("--cap: unknown capability {raw:?}")))?;
            // runc adds the capability to these four sets (not the inheritable one).
            let add = |set: &Option<Capabilities>| {
                let mut s = set.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            let (b, e, p, a) = (
                add(caps.bounding()),
                add(caps.effective()),
                add(caps.permitted()),
                add(caps.ambient()),
            );
            caps.set_bounding(b)
                .set_effective(e)
                .set_permitted(p)
                .set_ambient(a);
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

fn empty_caps() -> LinuxCapabilities {
    let mut c = LinuxCapabilities::default();
    c.set_bounding(None)
        .set_effective(None)
        .set_permitted(None)
        .set_inheritable(None)
        .set_ambient(None);
    c
}
