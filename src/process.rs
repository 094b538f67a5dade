//! process: args/env lookup, cwd, user (uid, gid, additionalGids, umask), rlimits, oomScoreAdj,
//! noNewPrivileges, personality, scheduler, ioPriority, execCPUAffinity, apparmorProfile.
//! Pure planning functions first, then the small apply steps init calls in order.

use crate::bail;
use crate::error::{Context, Error, Result};
use crate::sys;
use nix::sys::resource::Resource;
use oci_spec::runtime::{
    IOPriorityClass, LinuxPersonalityDomain, LinuxSchedulerFlag, LinuxSchedulerPolicy,
    PosixRlimitType, Process, Spec,
};
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub fn validate(p: &Process) -> Result<()> {
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        bail!("process.args: must not be empty");
    }
    if !p.cwd().is_absolute() {
        bail!(
            "process.cwd: must be an absolute path, got {:?}",
            p.cwd().display().to_string()
        );
    }
    let args = p.args().iter().flatten().map(|a| ("process.args", a));
    for (field, s) in args.chain(p.env().iter().flatten().map(|e| ("process.env", e))) {
        if s.contains('\0') {
            bail!("{field}: {s:?} contains a NUL byte");
        }
    }
    // Checked here, on the host: init applies the profile where /sys is the container's.
    if let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
        if !apparmor_enabled() {
            bail!(
                "process.apparmorProfile: AppArmor is not enabled on this host (profile {profile:?})"
            );
        }
    }
    if let Some(prio) = p.io_priority() {
        if !(0..=7).contains(&prio.priority()) {
            bail!(
                "process.ioPriority.priority: must be between 0 and 7, got {}",
                prio.priority()
            );
        }
    }
    if let Some(aff) = p.exec_cpu_affinity() {
        if let Some(s) = aff.initial() {
            cpu_list(s).context("process.execCPUAffinity.initial")?;
        }
        if let Some(s) = aff.cpu_affinity_final() {
            cpu_list(s).context("process.execCPUAffinity.final")?;
        }
    }
    if let Some(adj) = p.oom_score_adj() {
        if !(-1000..=1000).contains(&adj) {
            bail!("process.oomScoreAdj: must be between -1000 and 1000, got {adj}");
        }
    }
    Ok(())
}

pub fn spec_process(spec: &Spec) -> Result<&Process> {
    spec.process()
        .as_ref()
        .ok_or_else(|| Error::msg("process: missing"))
}

pub fn rlimit_resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => Resource::RLIMIT_CPU,
        RlimitFsize => Resource::RLIMIT_FSIZE,
        RlimitData => Resource::RLIMIT_DATA,
        RlimitStack => Resource::RLIMIT_STACK,
        RlimitCore => Resource::RLIMIT_CORE,
        RlimitRss => Resource::RLIMIT_RSS,
        RlimitNproc => Resource::RLIMIT_NPROC,
        RlimitNofile => Resource::RLIMIT_NOFILE,
        RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        RlimitAs => Resource::RLIMIT_AS,
        RlimitLocks => Resource::RLIMIT_LOCKS,
        RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        RlimitNice => Resource::RLIMIT_NICE,
        RlimitRtprio => Resource::RLIMIT_RTPRIO,
        RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// (field, resource, soft, hard); duplicates and soft > hard are rejected.
pub fn rlimits(p: &Process) -> Result<Vec<(String, Resource, u64, u64)>> {
    let mut out: Vec<(String, Resource, u64, u64)> = Vec::new();
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        let field = format!("process.rlimits[{i}]");
        let res = rlimit_resource(r.typ());
        if out.iter().any(|o| o.1 == res) {
            let name = serde_json::to_value(r.typ())
                .map(|v| v.to_string())
                .unwrap_or_default();
            bail!("{field}.type: duplicate rlimit {name}");
        }
        if r.soft() > r.hard() {
            bail!(
                "{field}: soft limit {} is above the hard limit {}",
                r.soft(),
                r.hard()
            );
        }
        out.push((field, res, r.soft(), r.hard()));
    }
    Ok(out)
}

pub fn apply_rlimits(list: &[(String, Resource, u64, u64)]) -> Result<()> {
    for (field, res, soft, hard) in list {
        nix::sys::resource::setrlimit(*res, *soft, *hard)
            .with_context(|| format!("{field}: setrlimit soft={soft} hard={hard}"))?;
    }
    Ok(())
}

/// Parent: oom_score_adj written from the host side (lowering it needs CAP_SYS_RESOURCE in the
/// initial user namespace, which init in a user namespace would not have).
pub fn write_oom_score_adj(p: &Process, pid: i32) -> Result<()> {
    if let Some(adj) = p.oom_score_adj() {
        crate::sys::write_proc(
            Path::new(&format!("/proc/{pid}/oom_score_adj")),
            adj.to_string().as_bytes(),
        )
        .context("process.oomScoreAdj: write oom_score_adj")?;
    }
    Ok(())
}

pub fn apply_personality(spec: &Spec) -> Result<()> {
    let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) else {
        return Ok(());
    };
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        bail!("linux.personality.flags: no personality flags are supported");
    }
    // linux/personality.h's execution domains; nix's Persona names only the flags, libc neither.
    const PER_LINUX: libc::c_int = 0x0000;
    const PER_LINUX32: libc::c_int = 0x0008;
    let persona = match p.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    };
    nix::sys::personality::set(nix::sys::personality::Persona::from_bits_retain(persona))
        .context("linux.personality: personality")?;
    Ok(())
}

pub fn sched_attr(s: &oci_spec::runtime::Scheduler) -> libc::sched_attr {
    use LinuxSchedulerPolicy::*;
    // SCHED_ISO is reserved in linux/sched.h but never implemented; libc does not export it.
    const SCHED_ISO: libc::c_int = 4;
    let policy = match s.policy() {
        SchedOther => libc::SCHED_OTHER,
        SchedFifo => libc::SCHED_FIFO,
        SchedRr => libc::SCHED_RR,
        SchedBatch => libc::SCHED_BATCH,
        SchedIso => SCHED_ISO,
        SchedIdle => libc::SCHED_IDLE,
        SchedDeadline => libc::SCHED_DEADLINE,
    };
    let mut flags = 0;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSchedulerFlag::SchedResetOnFork => libc::SCHED_FLAG_RESET_ON_FORK,
            LinuxSchedulerFlag::SchedFlagReclaim => libc::SCHED_FLAG_RECLAIM,
            LinuxSchedulerFlag::SchedFlagDLOverrun => libc::SCHED_FLAG_DL_OVERRUN,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => libc::SCHED_FLAG_KEEP_POLICY,
            LinuxSchedulerFlag::SchedFlagKeepParams => libc::SCHED_FLAG_KEEP_PARAMS,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => libc::SCHED_FLAG_UTIL_CLAMP_MIN,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => libc::SCHED_FLAG_UTIL_CLAMP_MAX,
        };
    }
    libc::sched_attr {
        size: 0,
        sched_policy: policy as u32,
        sched_flags: flags as u64,
        sched_nice: s.nice().unwrap_or(0),
        sched_priority: s.priority().unwrap_or(0) as u32,
        sched_runtime: s.runtime().unwrap_or(0),
        sched_deadline: s.deadline().unwrap_or(0),
        sched_period: s.period().unwrap_or(0),
    }
}

pub fn ioprio_value(p: &oci_spec::runtime::LinuxIOPriority) -> i32 {
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    (class << 13) | p.priority() as i32
}

/// "0-2,5" → [0, 1, 2, 5]
pub fn cpu_list(s: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| Error::msg(format!("invalid cpu list {s:?}")))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b || b >= 1024 {
                    bail!("invalid cpu range {part:?}");
                }
                out.extend(a..=b);
            }
            None => {
                let n = num(part)?;
                if n >= 1024 {
                    bail!("invalid cpu {n}");
                }
                out.push(n)
            }
        }
    }
    if out.is_empty() {
        bail!("empty cpu list");
    }
    Ok(out)
}

pub fn set_affinity(cpus: &str, field: &str) -> Result<()> {
    let mut set = nix::sched::CpuSet::new();
    for c in cpu_list(cpus).context(field)? {
        set.set(c).with_context(|| format!("{field}: cpu {c}"))?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .with_context(|| format!("{field}: sched_setaffinity {cpus}"))?;
    Ok(())
}

/// Scheduler, I/O priority, initial CPU affinity: applied by init before dropping privileges.
pub fn apply_scheduling(p: &Process) -> Result<()> {
    if let Some(s) = p.scheduler() {
        sys::sched_setattr(&mut sched_attr(s)).context("process.scheduler: sched_setattr")?;
    }
    if let Some(prio) = p.io_priority() {
        sys::ioprio_set(ioprio_value(prio)).context("process.ioPriority: ioprio_set")?;
    }
    if let Some(initial) = p
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().as_ref())
    {
        set_affinity(initial, "process.execCPUAffinity.initial")?;
    }
    Ok(())
}

/// Switch to the configured user: supplementary groups, then gid, then uid.
pub fn set_user(p: &Process) -> Result<()> {
    let u = p.user();
    let groups: Vec<nix::unistd::Gid> = u
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&groups).context("process.user.additionalGids: setgroups")?;
    let gid = nix::unistd::Gid::from_raw(u.gid());
    nix::unistd::setresgid(gid, gid, gid)
        .with_context(|| format!("process.user.gid: setresgid {}", u.gid()))?;
    let uid = nix::unistd::Uid::from_raw(u.uid());
    nix::unistd::setresuid(uid, uid, uid)
        .with_context(|| format!("process.user.uid: setresuid {}", u.uid()))?;
    Ok(())
}

pub fn set_no_new_privs() -> Result<()> {
    nix::sys::prctl::set_no_new_privs().context("process.noNewPrivileges: prctl")?;
    Ok(())
}

/// Init, after pivot_root: HOME from the container's /etc/passwd when the config does not set
/// it (runc does the same; "/" when the user has no passwd entry).
pub fn add_home(env: &mut Vec<String>, uid: u32) {
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let home = home_of(uid).unwrap_or_else(|| "/".to_string());
        env.push(format!("HOME={home}"));
    }
}

fn home_of(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
    })
}

/// Resolve args[0] the way Go's exec.LookPath does with the container's PATH; the error texts are
/// runc's, because podman and containerd match on them.
pub fn look_path(arg0: &str, env: &[String]) -> Result<PathBuf> {
    use crate::error::Kind;
    let check = |p: &Path| -> std::result::Result<(), (Kind, String)> {
        let md = std::fs::metadata(p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => (
                Kind::CommandNotFound,
                format!("stat {}: no such file or directory", p.display()),
            ),
            std::io::ErrorKind::PermissionDenied => (
                Kind::NotExecutable,
                format!("stat {}: permission denied", p.display()),
            ),
            _ => (
                Kind::Other,
                format!(
                    "stat {}: {}",
                    p.display(),
                    Error::from(e).message().to_lowercase()
                ),
            ),
        })?;
        if md.is_dir() || md.permissions().mode() & 0o111 == 0 {
            return Err((Kind::NotExecutable, "permission denied".to_string()));
        }
        Ok(())
    };
    if arg0.contains('/') {
        return check(Path::new(arg0))
            .map(|_| PathBuf::from(arg0))
            .map_err(|(kind, e)| Error::of_kind(kind, format!("exec: {arg0:?}: {e}")));
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(arg0);
        if check(&cand).is_ok() {
            return Ok(cand);
        }
    }
    Err(Error::of_kind(
        Kind::CommandNotFound,
        format!("exec: {arg0:?}: executable file not found in $PATH"),
    ))
}

pub fn execve(path: &Path, args: &[String], env: &[String]) -> Error {
    use std::os::unix::ffi::OsStrExt;
    // `validate` refused NUL bytes in args and env; a path from look_path has none.
    let c = |s: &[u8]| CString::new(s).unwrap_or_default();
    let prog = c(path.as_os_str().as_bytes());
    let argv: Vec<CString> = args.iter().map(|a| c(a.as_bytes())).collect();
    let envp: Vec<CString> = env.iter().map(|a| c(a.as_bytes())).collect();
    let e = nix::unistd::execve(&prog, &argv, &envp)
        .err()
        .unwrap_or(nix::errno::Errno::EINVAL);
    Error::from(e).context(format!("exec {}", path.display()))
}

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// AppArmor (`validate` checked the host has it): the profile applies at the next execve.
pub fn apply_apparmor(p: &Process) -> Result<()> {
    let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let attr = if Path::new("/proc/self/attr/apparmor/exec").exists() {
        "/proc/self/attr/apparmor/exec"
    } else {
        "/proc/self/attr/exec"
    };
    crate::sys::write_proc(Path::new(attr), format!("exec {profile}").as_bytes())
        .with_context(|| format!("process.apparmorProfile: set profile {profile:?}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_bytes_in_args_or_env_are_refused() {
        let p = |args: &str, env: &str| -> Process {
            let mut p = Process::default();
            p.set_args(Some(vec![args.to_string()]));
            p.set_env(Some(vec![env.to_string()]));
            p
        };
        assert!(validate(&p("sh", "A=1")).is_ok());
        let e = validate(&p("s\0h", "A=1")).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("process.args: \"s\\0h\" contains a NUL byte")
        );
        let e = validate(&p("sh", "A=\0")).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("process.env: \"A=\\0\" contains a NUL byte")
        );
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list("0-2,5").ok(), Some(vec![0, 1, 2, 5]));
        assert!(cpu_list("3-1").is_err());
        assert!(cpu_list("x").is_err());
    }

    #[test]
    fn look_path_errors_match_runc() {
        let env = vec!["PATH=/nonexistent-a:/nonexistent-b".to_string()];
        assert_eq!(
            look_path("nosuch", &env)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("exec: \"nosuch\": executable file not found in $PATH")
        );
        assert_eq!(
            look_path("/nonexistent/x", &env)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("exec: \"/nonexistent/x\": stat /nonexistent/x: no such file or directory")
        );
        assert_eq!(
            look_path("/etc/passwd", &env)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("exec: \"/etc/passwd\": permission denied")
        );
        // exec decides its exit code (127, 126) by these kinds.
        use crate::error::Kind;
        let kind = |a: &str| look_path(a, &env).err().map(|e| e.kind());
        assert_eq!(kind("nosuch"), Some(Kind::CommandNotFound));
        assert_eq!(kind("/nonexistent/x"), Some(Kind::CommandNotFound));
        assert_eq!(kind("/etc/passwd"), Some(Kind::NotExecutable));
        assert_eq!(kind("/etc"), Some(Kind::NotExecutable));
        let env = vec!["PATH=/usr/bin:/bin".to_string()];
        assert!(look_path("sh", &env).is_ok());
    }

    #[test]
    fn ioprio_packs_class_and_level() {
        let p: oci_spec::runtime::LinuxIOPriority =
            serde_json::from_value(serde_json::json!({"class": "IOPRIO_CLASS_BE", "priority": 4}))
                .unwrap_or_default();
        assert_eq!(ioprio_value(&p), (2 << 13) | 4);
    }
}
