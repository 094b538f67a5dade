//! linux.seccomp: compiled to classic BPF in the parent before clone (`plan`, pure, so a bad
//! profile fails `create` with nothing to undo), loaded by init at the point init.rs chooses
//! (`apply`), and for SCMP_ACT_NOTIFY the listener fd handed to the seccomp agent at
//! `listenerPath` (`send_to_agent`).
//!
//! # Why keel emits the BPF itself
//!
//! A profile maps each syscall to one of nine actions, with optional argument conditions, and
//! different rules may give the same syscall different actions. seccompiler (0.5) builds a
//! filter with one match action and one mismatch action and has no SECCOMP_RET_USER_NOTIF: a
//! profile would become a stack of filters, one per action, and NOTIFY would still be missing
//! (so keel no longer depends on it). Binding libseccomp would put a C library into a static
//! binary (runc needs cgo for it). The BPF a profile needs is small and regular, so `bpf.rs`
//! generates it directly: arch check, a binary search on the syscall number, per-syscall rule
//! chains with 64-bit argument comparisons split into high and low words, `ret ACTION`. Its
//! output is checked as the kernel checks it and run in unit tests by an interpreter and in
//! forked children; integration/seccomp.rs runs it in containers next to runc. The action
//! values and opcodes are libc's; nix has no seccomp(2), so `load` calls it directly.
//!
//! # Semantics (and where runc/libseccomp differ)
//!
//! - Precedence: when several rules match one call, the most restrictive action wins, in the
//!   kernel's own order for stacked filters: KILL_PROCESS > KILL_THREAD > TRAP > ERRNO >
//!   NOTIFY > TRACE > LOG > ALLOW; equal actions: the earlier rule. The result does not depend on
//!   the order of `syscalls[]`. libseccomp lets an unconditional rule override conditional rules
//!   of the same syscall (so "mkdir LOG" + "mkdir ERRNO if arg1 == 0777" is plain LOG under
//!   runc, ERRNO for 0777 here); otherwise the two agree.
//! - As runc: a rule whose action equals `defaultAction` is dropped; two conditions on the same
//!   argument index make one rule each (ORed; libseccomp cannot AND them); a name that is a
//!   syscall on no architecture is skipped with a warning (runc: a debug line), a name that
//!   exists only on other architectures is skipped quietly; `SCMP_ACT_ERRNO`/`SCMP_ACT_TRACE`
//!   without `errnoRet` use EPERM; calls of an architecture the filter does not cover get
//!   KILL_THREAD (libseccomp's bad-arch action); the native x86_64 ABI is always covered,
//!   SCMP_ARCH_X86 and SCMP_ARCH_X32 when listed; other architectures never reach an x86_64
//!   kernel's filter, so their sections would be dead code and are left out.
//! - runc's -ENOSYS stub: unless the default action is ALLOW, LOG, TRACE or ERRNO(ENOSYS),
//!   syscalls numbered above the largest one the profile names get ENOSYS instead of the
//!   default action (so a libc probing a newer syscall falls back), for each ABI listed in
//!   `architectures`, as runc does.
//! - i386 arguments are 32 bits: comparisons use the low words only (libseccomp's rule).
//! - keel refuses, naming the field, what runc silently ignores: `errnoRet` on actions other
//!   than ERRNO/TRACE, `valueTwo` on operators other than SCMP_CMP_MASKED_EQ, an errno above
//!   4095, an argument index above 5; like runc it refuses NOTIFY as the default action.
//! - Flags (runc 1.1.5 refuses all of them): SECCOMP_FILTER_FLAG_LOG and _SPEC_ALLOW go to
//!   seccomp(2); _TSYNC too (init is single-threaded, so it changes nothing; later runc drops
//!   it), with _TSYNC_ESRCH when there is a listener; _WAIT_KILLABLE_RECV only means something
//!   for a listener and is passed only then.
//!
//! # SCMP_ACT_NOTIFY
//!
//! seccomp(2) with SECCOMP_FILTER_FLAG_NEW_LISTENER returns the listener fd in init, which sends
//! it at once to keel create over the channel (`Msg::SeccompListener`, SCM_RIGHTS); keel connects
//! to `listenerPath` and sends runc's message: the JSON `ContainerProcessState` (ociVersion,
//! fds: ["seccompFd"], pid, metadata: listenerMetadata, state with status "creating") with the
//! fd attached. init uses sendmsg(2) for that, so a profile may not NOTIFY on `sendmsg` (runc:
//! not on `write`, for the same reason): init would wait on an agent that never got the fd.

mod bpf;
mod syscalls;

use crate::bail;
use crate::channel::{Channel, Msg};
use crate::error::{Context, Error, Result};
use bpf::{Abi, AbiRules, Cond, Op, Profile, Rule};
use libc::{
    SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD,
    SECCOMP_RET_LOG, SECCOMP_RET_TRACE, SECCOMP_RET_TRAP, SECCOMP_RET_USER_NOTIF,
};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use oci_spec::runtime::{
    Arch, ContainerProcessState, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall, Spec, State,
};
use std::collections::BTreeMap;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// The largest errno the kernel returns (MAX_ERRNO); it clamps anything above.
const MAX_ERRNO: u32 = 4095;

// The program is handed to the kernel as an array of `struct sock_filter`.
const _: () = assert!(std::mem::size_of::<bpf::Insn>() == std::mem::size_of::<libc::sock_filter>());
const _: () =
    assert!(std::mem::align_of::<bpf::Insn>() == std::mem::align_of::<libc::sock_filter>());

/// A compiled profile, made by the parent before clone; init only loads it.
#[derive(Debug)]
pub struct Filter {
    prog: Vec<bpf::Insn>,
    flags: libc::c_ulong,
}

impl Filter {
    fn notify(&self) -> bool {
        self.flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0
    }
}

/// What the compiler below takes, as `keel features` lists it: every action, operator and flag
/// of the runtime-spec (`action`, `op` and `flags` match each of them), and the architectures
/// that get a filter section of their own on x86_64 (`abis`; others are skipped).
pub const ACTIONS: [LinuxSeccompAction; 9] = [
    LinuxSeccompAction::ScmpActKill,
    LinuxSeccompAction::ScmpActKillProcess,
    LinuxSeccompAction::ScmpActKillThread,
    LinuxSeccompAction::ScmpActTrap,
    LinuxSeccompAction::ScmpActErrno,
    LinuxSeccompAction::ScmpActTrace,
    LinuxSeccompAction::ScmpActAllow,
    LinuxSeccompAction::ScmpActLog,
    LinuxSeccompAction::ScmpActNotify,
];
pub const OPERATORS: [LinuxSeccompOperator; 7] = [
    LinuxSeccompOperator::ScmpCmpNe,
    LinuxSeccompOperator::ScmpCmpLt,
    LinuxSeccompOperator::ScmpCmpLe,
    LinuxSeccompOperator::ScmpCmpEq,
    LinuxSeccompOperator::ScmpCmpGe,
    LinuxSeccompOperator::ScmpCmpGt,
    LinuxSeccompOperator::ScmpCmpMaskedEq,
];
pub const ARCHES: [Arch; 3] = [Arch::ScmpArchX86, Arch::ScmpArchX86_64, Arch::ScmpArchX32];
pub const FLAGS: [LinuxSeccompFilterFlag; 4] = [
    LinuxSeccompFilterFlag::SeccompFilterFlagLog,
    LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
    LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
    LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
];

/// The kernel's ordering of actions across stacked filters: lower is more restrictive.
fn precedence(ret: u32) -> i32 {
    (ret & 0xffff_0000) as i32
}

/// SECCOMP_RET_* for an action and its errnoRet.
fn action(
    a: LinuxSeccompAction,
    errno: Option<u32>,
    field: &str,
    errno_field: &str,
) -> Result<u32> {
    use LinuxSeccompAction::*;
    let data = match (a, errno) {
        (_, None) => libc::EPERM as u32,
        (ScmpActErrno | ScmpActTrace, Some(e)) if e <= MAX_ERRNO => e,
        (ScmpActErrno | ScmpActTrace, Some(e)) => {
            bail!("{errno_field}: {e} is not an errno (0 to {MAX_ERRNO})")
        }
        (_, Some(_)) => {
            bail!("{errno_field}: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return an errno ({field} is {a})")
        }
    };
    Ok(match a {
        ScmpActKill | ScmpActKillThread => SECCOMP_RET_KILL_THREAD,
        ScmpActKillProcess => SECCOMP_RET_KILL_PROCESS,
        ScmpActTrap => SECCOMP_RET_TRAP,
        ScmpActErrno => SECCOMP_RET_ERRNO | data,
        ScmpActTrace => SECCOMP_RET_TRACE | data,
        ScmpActNotify => SECCOMP_RET_USER_NOTIF,
        ScmpActLog => SECCOMP_RET_LOG,
        ScmpActAllow => SECCOMP_RET_ALLOW,
    })
}

/// The ABIs the filter covers, each with whether `architectures` lists it (runc's -ENOSYS stub
/// only covers listed ones). The native x86_64 ABI is always covered, as libseccomp's filters
/// start with the native architecture.
fn abis(sc: &LinuxSeccomp) -> Vec<(Abi, bool)> {
    let mut out = vec![(Abi::X86_64, false)];
    for (i, a) in sc.architectures().iter().flatten().enumerate() {
        let abi = match a {
            Arch::ScmpArchNative | Arch::ScmpArchX86_64 => Abi::X86_64,
            Arch::ScmpArchX86 => Abi::I386,
            Arch::ScmpArchX32 => Abi::X32,
            other => {
                crate::log::debug(&format!(
                    "linux.seccomp.architectures[{i}]: {other} never runs on this x86_64 kernel; no filter section for it"
                ));
                continue;
            }
        };
        match out.iter_mut().find(|(x, _)| *x == abi) {
            Some(e) => e.1 = true,
            None => out.push((abi, true)),
        }
    }
    out
}

fn flags(sc: &LinuxSeccomp, notify: bool) -> libc::c_ulong {
    let mut f = 0;
    for flag in sc.flags().iter().flatten() {
        f |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
        };
    }
    if notify {
        f |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        if f & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 {
            // TSYNC and NEW_LISTENER together need TSYNC_ESRCH (Linux 5.7).
            f |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
    } else {
        // It changes how a listener waits; without one the kernel refuses it (EINVAL).
        f &= !libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    }
    f
}

fn op(o: LinuxSeccompOperator) -> Op {
    match o {
        LinuxSeccompOperator::ScmpCmpNe => Op::Ne,
        LinuxSeccompOperator::ScmpCmpLt => Op::Lt,
        LinuxSeccompOperator::ScmpCmpLe => Op::Le,
        LinuxSeccompOperator::ScmpCmpEq => Op::Eq,
        LinuxSeccompOperator::ScmpCmpGe => Op::Ge,
        LinuxSeccompOperator::ScmpCmpGt => Op::Gt,
        LinuxSeccompOperator::ScmpCmpMaskedEq => Op::MaskedEq,
    }
}

/// A syscall rule's conditions, as the condition lists of the rules it becomes: one rule with
/// all of them (ANDed), or, when two test the same argument, one rule per condition (runc).
fn conditions(call: &LinuxSyscall, field: &str) -> Result<Vec<Vec<Cond>>> {
    let mut conds = Vec::new();
    for (k, a) in call.args().iter().flatten().enumerate() {
        let f = format!("{field}.args[{k}]");
        let index = match u8::try_from(a.index()) {
            Ok(i) if i < 6 => i,
            _ => bail!(
                "{f}.index: a syscall has 6 arguments (0 to 5), got {}",
                a.index()
            ),
        };
        let op = op(a.op());
        let value_two = a.value_two().unwrap_or(0);
        if op != Op::MaskedEq && value_two != 0 {
            bail!(
                "{f}.valueTwo: only SCMP_CMP_MASKED_EQ uses valueTwo (the op is {})",
                a.op()
            );
        }
        conds.push(Cond {
            index,
            op,
            value: a.value(),
            value_two,
        });
    }
    let repeated = conds
        .iter()
        .enumerate()
        .any(|(i, c)| conds[..i].iter().any(|d| d.index == c.index));
    Ok(if repeated {
        conds.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![conds]
    })
}

enum Lookup {
    Found(&'static (&'static str, i32, i32, i32)),
    OtherArch,
    Unknown,
}

fn lookup(name: &str) -> Lookup {
    if let Ok(i) = syscalls::TABLE.binary_search_by(|e| e.0.cmp(name)) {
        return Lookup::Found(&syscalls::TABLE[i]);
    }
    if syscalls::OTHER_ARCHES.contains(&name) {
        Lookup::OtherArch
    } else {
        Lookup::Unknown
    }
}

fn number(e: &(&str, i32, i32, i32), abi: Abi) -> Option<u32> {
    let n = match abi {
        Abi::X86_64 => e.1,
        Abi::I386 => e.2,
        Abi::X32 => e.3,
    };
    u32::try_from(n).ok()
}

/// Pure: linux.seccomp -> the program and flags init loads. Unknown syscall names are reported
/// here, once, as a warning.
pub fn plan(spec: &Spec) -> Result<Option<Filter>> {
    let Some(sc) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    if !cfg!(target_arch = "x86_64") {
        bail!("linux.seccomp: keel's syscall tables and filters are for x86_64 hosts only");
    }
    let (filter, unknown) = compile(sc)?;
    if !unknown.is_empty() {
        crate::log::warn(&format!(
            "linux.seccomp: ignoring unknown syscalls: {}",
            unknown.join(", ")
        ));
    }
    Ok(Some(filter))
}

/// The filter and the names no architecture knows.
fn compile(sc: &LinuxSeccomp) -> Result<(Filter, Vec<String>)> {
    if sc.default_action() == LinuxSeccompAction::ScmpActNotify {
        bail!("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action (init could not even send the listener to keel)");
    }
    let default = action(
        sc.default_action(),
        sc.default_errno_ret(),
        "linux.seccomp.defaultAction",
        "linux.seccomp.defaultErrnoRet",
    )?;
    let abis = abis(sc);
    // ABI -> syscall number -> (precedence, index in syscalls[], rule).
    type Pending = BTreeMap<u32, Vec<(i32, usize, Rule)>>;
    let mut rules: BTreeMap<Abi, Pending> = BTreeMap::new();
    let mut largest: BTreeMap<Abi, u32> = BTreeMap::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut notify = None;
    for (i, call) in sc.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        if call.names().is_empty() {
            bail!("{field}.names: must name at least one syscall");
        }
        let act = action(
            call.action(),
            call.errno_ret(),
            &format!("{field}.action"),
            &format!("{field}.errnoRet"),
        )?;
        if act == SECCOMP_RET_USER_NOTIF {
            notify.get_or_insert(i);
        }
        let conds = conditions(call, &field)?;
        for (j, name) in call.names().iter().enumerate() {
            if name.is_empty() {
                bail!("{field}.names[{j}]: empty syscall name");
            }
            if act == SECCOMP_RET_USER_NOTIF && name == "sendmsg" {
                bail!("{field}.names[{j}]: SCMP_ACT_NOTIFY cannot be used for sendmsg (init sends the listener fd to keel with it)");
            }
            let e = match lookup(name) {
                Lookup::Found(e) => e,
                Lookup::OtherArch => continue,
                Lookup::Unknown => {
                    if !unknown.contains(name) {
                        unknown.push(name.clone());
                    }
                    continue;
                }
            };
            for (abi, _) in &abis {
                let Some(nr) = number(e, *abi) else { continue };
                let max = largest.entry(*abi).or_insert(0);
                *max = (*max).max(nr);
                if act == default {
                    continue;
                }
                let list = rules.entry(*abi).or_default().entry(nr).or_default();
                for c in &conds {
                    list.push((
                        precedence(act),
                        i,
                        Rule {
                            action: act,
                            conds: c.clone(),
                        },
                    ));
                }
            }
        }
    }
    if let Some(i) = notify {
        if sc.listener_path().is_none() {
            bail!("linux.seccomp.listenerPath: required by the SCMP_ACT_NOTIFY rule linux.seccomp.syscalls[{i}]");
        }
    }

    // runc's -ENOSYS stub (libcontainer/seccomp/patchbpf).
    let stub = ![SECCOMP_RET_ALLOW, SECCOMP_RET_LOG, bpf::RET_ERRNO_ENOSYS].contains(&default)
        && precedence(default) != precedence(SECCOMP_RET_TRACE);
    let mut profile = Profile {
        default,
        bad_arch: SECCOMP_RET_KILL_THREAD,
        abis: BTreeMap::new(),
    };
    for (abi, listed) in &abis {
        let mut r = AbiRules::default();
        for (nr, mut list) in rules.remove(abi).unwrap_or_default() {
            list.sort_by_key(|(prec, order, _)| (*prec, *order));
            r.syscalls
                .insert(nr, list.into_iter().map(|(_, _, rule)| rule).collect());
        }
        if stub && *listed {
            r.enosys_above = largest.get(abi).copied().filter(|&m| m > 0);
        }
        profile.abis.insert(*abi, r);
    }
    let prog = bpf::compile(&profile).map_err(|e| match e {
        bpf::CompileError::TooLarge(_) => {
            Error::msg(format!("linux.seccomp: the profile compiles to {e}"))
        }
        bpf::CompileError::Internal(_) => Error::msg(format!(
            "linux.seccomp: internal error compiling the filter: {e}"
        )),
    })?;
    Ok((
        Filter {
            prog,
            flags: flags(sc, notify.is_some()),
        },
        unknown,
    ))
}

/// seccomp(SECCOMP_SET_MODE_FILTER): the listener fd when the filter has NOTIFY rules.
fn load(f: &Filter) -> Result<Option<OwnedFd>> {
    let prog = libc::sock_fprog {
        len: f.prog.len() as libc::c_ushort,
        filter: f.prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at f.prog, an array of `bpf::Insn` with the layout of
    // `sock_filter` (asserted above) that outlives the call; the kernel copies the program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            f.flags,
            &prog as *const libc::sock_fprog,
        )
    };
    let r = nix::errno::Errno::result(r).context("linux.seccomp: load the filter")?;
    if !f.notify() {
        return Ok(None);
    }
    let fd = i32::try_from(r).map_err(|_| Error::msg("linux.seccomp: bad listener fd"))?;
    // SAFETY: with NEW_LISTENER, seccomp(2) returns a new (close-on-exec) fd that we now own.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Init: load the filter; a listener goes straight to keel create (see the module doc).
pub fn apply(f: Option<&Filter>, chan: &Channel) -> Result<()> {
    let Some(f) = f else { return Ok(()) };
    if let Some(listener) = load(f)? {
        chan.send_fd(&Msg::SeccompListener, listener.as_fd())
            .context("linux.seccomp: send the listener fd to keel")?;
    }
    Ok(())
}

/// keel create: connect to listenerPath and send the container process state with the
/// listener fd, as runc does. `state` is the container's state JSON ("creating").
pub fn send_to_agent(spec: &Spec, state: &str, pid: i32, listener: OwnedFd) -> Result<()> {
    let sc = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let Some(path) = sc.and_then(|s| s.listener_path().as_ref()) else {
        bail!("linux.seccomp.listenerPath: missing");
    };
    let state: State = serde_json::from_str(state).context("container state")?;
    let mut msg = ContainerProcessState::default();
    msg.set_version(state.version().clone());
    msg.set_fds(vec![oci_spec::runtime::SECCOMP_FD_NAME.to_string()]);
    msg.set_pid(pid);
    msg.set_metadata(sc.and_then(|s| s.listener_metadata().clone()));
    msg.set_state(state);
    let body = serde_json::to_vec(&msg)?;
    let ctx = || format!("linux.seccomp.listenerPath: {}", path.display());
    let sock = UnixStream::connect(path).with_context(ctx)?;
    let fds = [listener.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(&body)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .with_context(|| format!("{}: send the seccomp fd", ctx()))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report
mod tests {
    use super::bpf::interp::{run, Data};
    use super::*;

    fn seccomp(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    fn nr(name: &str) -> u32 {
        match lookup(name) {
            Lookup::Found(e) => number(e, Abi::X86_64).unwrap(),
            _ => panic!("{name}"),
        }
    }

    fn verdict(f: &Filter, name: &str, args: &[u64]) -> u32 {
        run(&f.prog, &Data::x86_64(nr(name), args)).0
    }

    fn err(v: serde_json::Value) -> String {
        compile(&seccomp(v))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn table_is_sorted_and_agrees_with_libc() {
        assert!(syscalls::TABLE.windows(2).all(|w| w[0].0 < w[1].0));
        for (name, n) in [
            ("read", libc::SYS_read),
            ("mkdir", libc::SYS_mkdir),
            ("personality", libc::SYS_personality),
            ("unshare", libc::SYS_unshare),
            ("mount", libc::SYS_mount),
            ("clone3", libc::SYS_clone3),
            ("seccomp", libc::SYS_seccomp),
            ("sendmsg", libc::SYS_sendmsg),
            ("close_range", libc::SYS_close_range),
            ("fchmodat2", libc::SYS_fchmodat2),
            ("mseal", libc::SYS_mseal),
            ("epoll_ctl_old", libc::SYS_epoll_ctl_old),
        ] {
            assert_eq!(i64::from(nr(name)), n, "{name}");
        }
        let Lookup::Found(e) = lookup("chown32") else {
            panic!("chown32")
        };
        assert_eq!((e.1, e.2, e.3), (-1, 212, -1));
        assert!(matches!(lookup("arm_fadvise64_64"), Lookup::OtherArch));
        assert!(matches!(lookup("no_such_call"), Lookup::Unknown));
    }

    #[test]
    fn the_feature_tables_are_what_the_compiler_takes() {
        let mut rets: Vec<u32> = ACTIONS
            .iter()
            .filter_map(|a| action(*a, None, "f", "e").ok())
            .collect();
        assert_eq!(rets.len(), ACTIONS.len());
        rets.sort_unstable();
        rets.dedup();
        // KILL and KILL_THREAD are one action.
        assert_eq!(rets.len(), ACTIONS.len() - 1);
        // Each operator compiles to an operation of its own.
        let ops: Vec<Op> = OPERATORS.iter().map(|o| op(*o)).collect();
        for (i, a) in ops.iter().enumerate() {
            assert!(!ops[i + 1..].contains(a), "{:?} twice", a);
        }
        for a in ARCHES {
            let sc: LinuxSeccomp = serde_json::from_value(serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW", "architectures": [a]}))
            .unwrap_or_default();
            assert!(abis(&sc).iter().any(|(_, listed)| *listed), "{a}");
        }
        // Each flag adds a bit of its own to what a profile with a listener loads with.
        let with = |f: &[LinuxSeccompFilterFlag]| -> libc::c_ulong {
            let sc: LinuxSeccomp = serde_json::from_value(serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW", "flags": f}))
            .unwrap_or_default();
            flags(&sc, true)
        };
        let none = with(&[]);
        let mut seen = 0;
        for f in FLAGS {
            let added = with(&[f]) & !none;
            assert_ne!(added, 0, "{f} adds nothing");
            assert_eq!(added & seen, 0, "{f} adds a bit another flag added");
            seen |= added;
        }
    }

    #[test]
    fn actions_errno_and_precedence() {
        let (f, unknown) = compile(&seccomp(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["rmdir", "no_such_call"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["getpid"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["getppid"], "action": "SCMP_ACT_KILL"},
                {"names": ["getuid"], "action": "SCMP_ACT_TRAP"},
                {"names": ["getgid"], "action": "SCMP_ACT_TRACE"},
                {"names": ["getegid"], "action": "SCMP_ACT_LOG"},
                {"names": ["geteuid"], "action": "SCMP_ACT_ALLOW"},
                // Later but more restrictive: wins for personality(8) only.
                {"names": ["personality"], "action": "SCMP_ACT_LOG"},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            ]
        })))
        .unwrap();
        assert_eq!(unknown, ["no_such_call"]);
        assert_eq!(verdict(&f, "mkdir", &[]), SECCOMP_RET_ERRNO | 38);
        assert_eq!(verdict(&f, "rmdir", &[]), SECCOMP_RET_ERRNO | 1);
        assert_eq!(verdict(&f, "getpid", &[]), SECCOMP_RET_KILL_PROCESS);
        assert_eq!(verdict(&f, "getppid", &[]), SECCOMP_RET_KILL_THREAD);
        assert_eq!(verdict(&f, "getuid", &[]), SECCOMP_RET_TRAP);
        assert_eq!(verdict(&f, "getgid", &[]), SECCOMP_RET_TRACE | 1);
        assert_eq!(verdict(&f, "getegid", &[]), SECCOMP_RET_LOG);
        assert_eq!(verdict(&f, "geteuid", &[]), SECCOMP_RET_ALLOW);
        assert_eq!(verdict(&f, "read", &[]), SECCOMP_RET_ALLOW);
        assert_eq!(verdict(&f, "personality", &[8]), SECCOMP_RET_ERRNO | 22);
        assert_eq!(verdict(&f, "personality", &[0]), SECCOMP_RET_LOG);
        assert_eq!(f.flags, 0);
    }

    #[test]
    fn repeated_argument_index_makes_separate_rules_as_runc() {
        let (f, _) = compile(&seccomp(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [
                {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 9, "op": "SCMP_CMP_EQ"}]}]
        })))
        .unwrap();
        assert_eq!(verdict(&f, "personality", &[8]), SECCOMP_RET_ERRNO | 1);
        assert_eq!(verdict(&f, "personality", &[9]), SECCOMP_RET_ERRNO | 1);
        assert_eq!(verdict(&f, "personality", &[10]), SECCOMP_RET_ALLOW);
    }

    #[test]
    fn enosys_stub_for_listed_architectures_only() {
        let allow_list = |arches: serde_json::Value, default: &str| {
            compile(&seccomp(serde_json::json!({
                "defaultAction": default,
                "architectures": arches,
                "syscalls": [{"names": ["read", "write", "mkdir"], "action": "SCMP_ACT_ALLOW"}]
            })))
            .unwrap()
            .0
        };
        let f = allow_list(serde_json::json!(["SCMP_ARCH_X86_64"]), "SCMP_ACT_ERRNO");
        let above = run(&f.prog, &Data::x86_64(nr("mkdir") + 1, &[])).0;
        assert_eq!(above, SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
        assert_eq!(verdict(&f, "close", &[]), SECCOMP_RET_ERRNO | 1);
        let f = allow_list(serde_json::json!(null), "SCMP_ACT_ERRNO");
        assert_eq!(
            verdict(&f, "clone3", &[]),
            SECCOMP_RET_ERRNO | 1,
            "not listed: no stub"
        );
        let f = allow_list(serde_json::json!(["SCMP_ARCH_X86_64"]), "SCMP_ACT_LOG");
        assert_eq!(
            verdict(&f, "clone3", &[]),
            SECCOMP_RET_LOG,
            "permissive default: no stub"
        );
    }

    #[test]
    fn flags_map_to_the_kernel_and_notify_adds_a_listener() {
        let (f, _) = compile(&seccomp(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                      "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        })))
        .unwrap();
        let f1 = libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW;
        assert_eq!(f.flags, f1, "WAIT_KILLABLE_RECV needs a listener");
        let (f, _) = compile(&seccomp(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        })))
        .unwrap();
        assert!(f.notify());
        assert_eq!(
            f.flags,
            libc::SECCOMP_FILTER_FLAG_TSYNC
                | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
                | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
                | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
        );
        assert_eq!(verdict(&f, "mkdir", &[]), SECCOMP_RET_USER_NOTIF);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}),
                "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action",
            ),
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}),
                "linux.seccomp.defaultErrnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return an errno",
            ),
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000}),
                "linux.seccomp.defaultErrnoRet: 5000 is not an errno (0 to 4095)",
            ),
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": ["read"], "action": "SCMP_ACT_LOG"},
                    {"names": [], "action": "SCMP_ACT_ERRNO"}]}),
                "linux.seccomp.syscalls[1].names: must name at least one syscall",
            ),
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": ["read", ""], "action": "SCMP_ACT_ERRNO"}]}),
                "linux.seccomp.syscalls[0].names[1]: empty syscall name",
            ),
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [
                        {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"},
                        {"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
                "linux.seccomp.syscalls[0].args[1].index: a syscall has 6 arguments (0 to 5), got 6",
            ),
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [
                        {"index": 0, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_GT"}]}]}),
                "linux.seccomp.syscalls[0].args[0].valueTwo: only SCMP_CMP_MASKED_EQ uses valueTwo (the op is SCMP_CMP_GT)",
            ),
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 3}]}),
                "linux.seccomp.syscalls[0].errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return an errno (linux.seccomp.syscalls[0].action is SCMP_ACT_ALLOW)",
            ),
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
                "linux.seccomp.listenerPath: required by the SCMP_ACT_NOTIFY rule linux.seccomp.syscalls[0]",
            ),
            (
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
                    "syscalls": [{"names": ["write", "sendmsg"], "action": "SCMP_ACT_NOTIFY"}]}),
                "linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for sendmsg",
            ),
        ];
        for (v, want) in cases {
            let e = err(v.clone());
            assert!(e.starts_with(want), "{v}\n  got: {e}\n want: {want}");
        }
    }

    #[test]
    fn unknown_operators_and_flags_fail_in_parsing_with_the_path() {
        let mut spec: serde_json::Value =
            serde_json::from_str(include_str!("spec/default.json")).unwrap();
        spec["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}]});
        let e = crate::bundle::parse(spec.to_string().as_bytes())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("linux.seccomp.syscalls[0].args[0].op: unknown variant `SCMP_CMP_FOO`"),
            "{e}"
        );
    }

    /// Docker's default profile (integration/data), as Docker renders it for a container with
    /// runc's default capabilities on amd64, fits the kernel's limit and decides as Docker means.
    #[test]
    fn docker_default_profile() {
        let f = docker_filter();
        // Three ABIs in ~640 instructions (of 4096), and a binary search: few steps per call.
        assert!(f.prog.len() < 700, "{} instructions", f.prog.len());
        let worst = (0..600)
            .map(|nr| run(&f.prog, &Data::x86_64(nr, &[])).1)
            .max()
            .unwrap_or(0);
        assert!(worst <= 20, "{worst} steps");
        for name in ["read", "execve", "clone", "socket", "arch_prctl"] {
            assert_eq!(verdict(&f, name, &[]), SECCOMP_RET_ALLOW, "{name}");
        }
        for name in ["unshare", "mount", "setns", "bpf", "reboot", "kexec_load"] {
            assert_eq!(verdict(&f, name, &[]), SECCOMP_RET_ERRNO | 1, "{name}");
        }
        let new_user = libc::CLONE_NEWUSER as u64;
        assert_eq!(verdict(&f, "clone", &[new_user]), SECCOMP_RET_ERRNO | 1);
        assert_eq!(verdict(&f, "clone3", &[]), SECCOMP_RET_ERRNO | 38);
        assert_eq!(verdict(&f, "personality", &[8]), SECCOMP_RET_ALLOW);
        assert_eq!(verdict(&f, "personality", &[9]), SECCOMP_RET_ERRNO | 1);
        let i386_chown32 = Data {
            nr: 212,
            arch: bpf::AUDIT_ARCH_I386,
            args: [0; 6],
        };
        assert_eq!(run(&f.prog, &i386_chown32).0, SECCOMP_RET_ALLOW);
    }

    /// integration/data/docker-default.json filtered as Docker does (moby's
    /// profiles/seccomp/seccomp_linux.go) for amd64 and runc's default capabilities.
    fn docker_filter() -> Filter {
        let profile: serde_json::Value =
            serde_json::from_str(include_str!("../integration/data/docker-default.json")).unwrap();
        let oci = docker_to_oci(
            &profile,
            &["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        );
        compile(&seccomp(oci)).unwrap().0
    }

    include!("../integration/data/docker_seccomp.rs");

    /// The kernel accepts what keel generates and enforces it: load filters in forked children
    /// (no_new_privs, so no privilege is needed) and make the calls.
    #[test]
    fn the_kernel_runs_the_filters() {
        let (f, _) = compile(&seccomp(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42,
                 "args": [{"index": 0, "value": 0x1_0000_0008u64, "op": "SCMP_CMP_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 43,
                 "args": [{"index": 0, "value": 0xff, "valueTwo": 0x0c, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["getppid"], "action": "SCMP_ACT_TRACE"},
            ]
        })))
        .unwrap();
        let docker = docker_filter();
        // Each case: the filter, then a raw syscall; the child exits with its errno (0 if none).
        let cases: [(&Filter, i64, u64, i32); 6] = [
            (&f, libc::SYS_personality, 0x1_0000_0008, 42),
            (&f, libc::SYS_personality, 0x2_0000_000c, 43),
            (&f, libc::SYS_personality, 0xffff_ffff, 0),
            (&f, libc::SYS_getppid, 0, libc::ENOSYS),
            (&docker, libc::SYS_unshare, 0, libc::EPERM),
            (&docker, libc::SYS_getpid, 0, 0),
        ];
        for (filter, call, arg, want) in cases {
            assert_eq!(
                in_child(filter, call, arg),
                want,
                "syscall {call}({arg:#x})"
            );
        }
    }

    /// fork; in the child only raw syscalls (the test process has other threads): no_new_privs,
    /// seccomp, the call, _exit(errno).
    fn in_child(f: &Filter, call: i64, arg: u64) -> i32 {
        let prog = libc::sock_fprog {
            len: f.prog.len() as libc::c_ushort,
            filter: f.prog.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: the child makes only raw syscalls on memory set up before the fork, then _exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: as above; `prog` and the program it points at live in this copy of memory.
            unsafe {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    libc::_exit(200);
                }
                let r = libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &prog as *const libc::sock_fprog,
                );
                if r != 0 {
                    libc::_exit(201);
                }
                let r = libc::syscall(call, arg, 0, 0, 0, 0);
                libc::_exit(if r < 0 { *libc::__errno_location() } else { 0 });
            }
        }
        let mut status = 0;
        // SAFETY: waiting for the child we just forked.
        let w = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(w, pid);
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        libc::WEXITSTATUS(status)
    }
}
