//! The parent side of `create`: load and plan everything first (no side effects), then make the
//! state dir, fifo and cgroup, clone init straight into its namespaces, and drive it over the
//! channel until it is blocked on the exec fifo. Any failure undoes every step (`Undo`), so a
//! failed create leaves no state dir, cgroup, mount or process behind.

use crate::bail;
use crate::bundle::{self, Bundle};
use crate::cgroups::{self, Cgroup};
use crate::channel::{Channel, Msg};
use crate::error::{Context, Error, Result};
use crate::hooks::{self, Kind};
use crate::mounts;
use crate::namespaces::{self, JoinFds, NsPlan};
use crate::plan::{ChildFds, ExecFds, Plan, ProcessPlan};
use crate::rootfs;
use crate::state::{self, Container, Saved};
use crate::sysctl;
use crate::{init, process, sys};
use oci_spec::runtime::{Process, Spec};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct Created {
    pub container: Container,
    /// Where init sent the pty master, when keel allocated the terminal itself.
    pub console: Option<OwnedFd>,
}

/// Undo of a create in progress; disarmed once the container exists.
struct Undo {
    dir: Option<PathBuf>,
    cgroup: Cgroup,
    child: Option<(i32, Option<OwnedFd>)>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some((pid, pidfd)) = self.child.take() {
            match &pidfd {
                Some(fd) => {
                    let _ = sys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
                }
                None => {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::SIGKILL,
                    );
                }
            }
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        }
        if let Err(e) = self.cgroup.destroy() {
            crate::log::warn(&format!("clean up after failed create: {e}"));
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Undo {
    fn disarm(mut self) {
        self.dir = None;
        self.cgroup = Cgroup::default();
        self.child = None;
    }
}

fn open_path(p: &Path, flags: nix::fcntl::OFlag) -> Result<OwnedFd> {
    nix::fcntl::open(
        p,
        flags | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| format!("open {}", p.display()))
}

/// What `create` and `run` ask for (the CLI maps its flags to this).
pub struct CreateOptions<'a> {
    pub bundle: &'a Path,
    pub console_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
    /// `--no-pivot`: MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// A new session keyring for the container (runc's default; `--no-new-keyring` clears it).
    pub new_keyring: bool,
    pub preserve_fds: u32,
    /// keel returns once the container is created (`create`, `run --detach`): a terminal then
    /// needs a console socket to hand the pty master to.
    pub detach: bool,
}

/// `create`: plan, make the state and the cgroup, clone init, drive it until it waits on the
/// exec fifo. Each phase is one call; `undo` reverts whatever the failing one left behind.
pub fn create(root: &Path, id: &str, opts: &CreateOptions) -> Result<Created> {
    let mut phases = crate::log::Phases::start("create");
    state::validate_id(id)?;
    let bundle = bundle::load(opts.bundle)?;
    let (mut plan, cg_plan) = plan(id, &bundle, opts)?;
    phases.mark("load+plan");

    // Side effects from here on; `undo` reverts them on any error.
    let mut undo = Undo {
        dir: None,
        cgroup: Cgroup::default(),
        child: None,
    };
    let prepared = prepare(root, &mut plan, &cg_plan, opts, &mut undo)?;
    phases.mark("state+fifo+cgroup");

    let Started {
        pid,
        chan,
        mut container,
        console_peer,
    } = start_init(&plan, prepared, &mut undo)?;
    phases.mark("clone+maps+join");

    if let Err(e) = drive_init(&chan, &container, plan.spec, pid, &mut undo) {
        // A failed prestart/createRuntime/createContainer hook: the runtime-spec wants the
        // container stopped and deleted, then the poststop hooks run.
        let hook_failed = e.kind() == crate::error::Kind::CreateHookFailed;
        drop(undo);
        if hook_failed {
            hooks::run_warn_spec(
                plan.spec.hooks().as_ref(),
                Kind::Poststop,
                &container.hook_state(state::Status::Stopped),
            );
        }
        return Err(e);
    }
    phases.mark("init setup (mounts, pivot, user, caps) until ready");

    container.saved.creating = false;
    container.save()?;
    if let Some(pf) = opts.pid_file {
        write_pid_file(pf, pid)?;
    }
    undo.disarm();
    phases.mark("state+pidfile");
    phases.log();
    crate::log::debug(&format!("created container {id}: init pid {pid}"));
    Ok(Created {
        container,
        console: console_peer,
    })
}

/// Every plan, pure: bad input fails here with nothing to undo. Each section is planned once;
/// `bundle::load` only checked what belongs to no section.
fn plan<'a>(
    id: &'a str,
    bundle: &'a Bundle,
    opts: &CreateOptions,
) -> Result<(Plan<'a>, cgroups::Plan)> {
    let spec = &bundle.spec;
    let process = process::spec_process(spec)?;
    let terminal = process.terminal().unwrap_or(false);
    match (terminal, opts.console_socket) {
        (true, None) if opts.detach => {
            bail!("process.terminal: cannot allocate tty if keel will detach without setting console socket")
        }
        (false, Some(_)) => {
            bail!("--console-socket: cannot use console socket if keel will not detach or allocate tty")
        }
        _ => {}
    }
    let ns = namespaces::plan(spec)?;
    let mounts = mounts::plan(spec, &bundle.dir)?;
    let devices = if rootfs::needs_dev_setup(&mounts) {
        Some(rootfs::plan_devices(spec)?)
    } else {
        None
    };
    let host = cgroups::Host::detect()?;
    let cg_plan = cgroups::plan(&host, spec, id)?;
    let plan = Plan {
        id,
        bundle,
        spec,
        proc: ProcessPlan::new(process, spec, opts.preserve_fds)?,
        mounts,
        devices,
        propagation: rootfs::propagation_flag(spec)?,
        sysctl: sysctl::plan(spec)?,
        cgroup_sources: Vec::new(),
        cgroup_v2_only: host.v2_only(),
        no_pivot: opts.no_pivot,
        new_keyring: opts.new_keyring,
        hook_sync: [
            Kind::Prestart,
            Kind::CreateRuntime,
            Kind::CreateContainer,
            Kind::StartContainer,
        ]
        .iter()
        .any(|k| !hooks::list(spec, *k).is_empty()),
        ns,
    };
    Ok((plan, cg_plan))
}

/// What `prepare` made: the container (state "creating"), the parent's end of the channel, the
/// fds init inherits, and keel's end of the terminal socket when it allocates the pty itself.
struct Prepared {
    container: Container,
    chan: Channel,
    child: ChildFds,
    console: Option<OwnedFd>,
    console_peer: Option<OwnedFd>,
}

/// The state dir and exec fifo, the fds init inherits (above the preserved range), the
/// "creating" state, then the cgroups.
fn prepare(
    root: &Path,
    plan: &mut Plan,
    cg_plan: &cgroups::Plan,
    opts: &CreateOptions,
    undo: &mut Undo,
) -> Result<Prepared> {
    let (id, spec, bundle) = (plan.id, plan.spec, plan.bundle);
    let dir = state::create_dir(root, id)?;
    undo.dir = Some(dir.clone());
    let fifo_path = dir.join(state::FIFO);
    nix::unistd::mkfifo(&fifo_path, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .context("mkfifo exec.fifo")?;
    // The umask may have narrowed the mode; init (maybe another uid) must be able to open it.
    std::fs::set_permissions(
        &fifo_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o622),
    )
    .context("chmod exec.fifo")?;

    let min_fd = 3 + plan.proc.extra_fds as i32;
    let above = |fd: OwnedFd| sys::dup_above(fd, min_fd).context("dup fd");
    let fifo = above(open_path(&fifo_path, nix::fcntl::OFlag::O_PATH)?)?;
    let proc = above(open_path(
        Path::new("/proc"),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY,
    )?)?;
    let terminal = plan.proc.process.terminal().unwrap_or(false);
    let (console, console_peer) = console_fds(terminal, opts.console_socket, min_fd)?;
    let joins = join_fds(&plan.ns, min_fd)?;

    // Record the container as "creating" with the cgroup it is about to make: if keel is killed
    // from here on, `delete --force` finds what to remove (init dies with keel: PDEATHSIG).
    undo.cgroup = cgroups::planned(cg_plan);
    let mut container = Container {
        dir,
        saved: Saved {
            oci_version: spec.version().clone(),
            id: id.to_string(),
            pid: 0,
            pid_start: 0,
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            created: crate::log::now_rfc3339(true),
            annotations: spec
                .annotations()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            cgroup: undo.cgroup.clone(),
            config: spec.clone(),
            creating: true,
        },
    };
    container.save()?;
    // On failure `undo` removes the planned directories and any others create made (a parent
    // that vanished meanwhile is made again); removing one twice is a no-op.
    let mut made = Cgroup::default();
    if let Err(e) = cgroups::create(cg_plan, &mut made) {
        undo.cgroup.created.extend(made.created);
        return Err(e);
    }
    undo.cgroup = made;
    container.saved.cgroup = undo.cgroup.clone();
    plan.cgroup_sources = undo.cgroup.sources();
    let entry = undo.cgroup.entry(min_fd)?;
    let (chan, child_chan) = Channel::pair()?;
    let child_chan = Channel::from_fd(above(child_chan.into_fd())?);
    Ok(Prepared {
        container,
        chan,
        child: ChildFds {
            chan: child_chan,
            cgroup: entry,
            fifo,
            proc,
            console: None,
            joins,
        },
        console,
        console_peer,
    })
}

/// Init is running: its pid, the parent's end of the channel, the container (pid recorded) and
/// keel's end of the terminal socket when it allocated the pty itself.
struct Started {
    pid: i32,
    chan: Channel,
    container: Container,
    console_peer: Option<OwnedFd>,
}

/// Clone init (the child runs `init::run` and never returns here), then, while init joins its
/// v1 cgroups itself, write its id maps and oom_score_adj and put it in the cgroup2 directory
/// if clone3 could not.
fn start_init(plan: &Plan, p: Prepared, undo: &mut Undo) -> Result<Started> {
    let Prepared {
        mut container,
        chan,
        mut child,
        console,
        console_peer,
    } = p;
    let forked = clone_init(&plan.ns, &child.joins, &child.cgroup, &chan, &child.chan);
    if let Ok((sys::Forked::Parent { pid, .. }, _)) = &forked {
        undo.child = Some((*pid, None));
    }
    let (forked, born_in_v2) = forked.context("clone init into its namespaces")?;
    let (pid, pidfd) = match forked {
        sys::Forked::Child => {
            drop(chan);
            child.console = console;
            init::run(plan, child)
        }
        sys::Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    undo.child = Some((pid, pidfd));
    // The parent keeps none of init's fds but the cgroup entry, until init is in its cgroups.
    let ChildFds { cgroup: entry, .. } = child;
    drop(console);

    namespaces::write_id_maps(&plan.ns, pid)?;
    process::write_oom_score_adj(plan.proc.process, pid)?;
    if !born_in_v2 {
        entry.join_v2(pid)?;
    }
    drop(entry);

    let (pid_start, _) = state::proc_start(pid)
        .ok_or_else(|| Error::msg("container init exited before it was set up"))?;
    container.saved.pid = pid;
    container.saved.pid_start = pid_start;
    Ok(Started {
        pid,
        chan,
        container,
        console_peer,
    })
}

/// The terminal's socket for the child (the caller's --console-socket, or one end of a pair whose
/// other end, returned second, lets keel receive the pty master itself), above the preserved fds.
fn console_fds(
    terminal: bool,
    socket: Option<&Path>,
    min_fd: i32,
) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    let above = |fd: OwnedFd| sys::dup_above(fd, min_fd).context("dup fd");
    match socket {
        Some(p) if terminal => Ok((Some(above(crate::tty::connect(p)?)?), None)),
        None if terminal => {
            let (mine, theirs) =
                std::os::unix::net::UnixStream::pair().context("console socketpair")?;
            Ok((
                Some(above(OwnedFd::from(theirs))?),
                Some(OwnedFd::from(mine)),
            ))
        }
        _ => Ok((None, None)),
    }
}

/// The namespaces to join, opened by the parent, above the preserved fds.
fn join_fds(ns: &NsPlan, min_fd: i32) -> Result<JoinFds> {
    let mut joins = namespaces::open_joins(ns)?;
    for (_, fd) in joins.fds.iter_mut() {
        let raw = fd.try_clone().context("dup namespace fd")?;
        *fd = sys::dup_above(raw, min_fd).context("dup fd")?;
    }
    Ok(joins)
}

/// sync 1-3 of the ladder in channel.rs, parent side: Go, the pre-start hooks, until Ready.
fn drive_init(
    chan: &Channel,
    container: &Container,
    spec: &Spec,
    pid: i32,
    undo: &mut Undo,
) -> Result<()> {
    chan.send(&Msg::Go)?;
    loop {
        match chan.recv()? {
            Some(Msg::MountsDone) => {
                let st = container.hook_state(state::Status::Creating);
                hooks::run(spec, Kind::Prestart, &st)?;
                hooks::run(spec, Kind::CreateRuntime, &st)?;
                chan.send(&Msg::HooksDone)?;
            }
            Some(Msg::SeccompListener) => {
                let fd = chan.take_fd().ok_or_else(|| {
                    Error::msg("protocol error: SeccompListener came without its fd")
                })?;
                let st = container.hook_state(state::Status::Creating);
                crate::seccomp::send_to_agent(spec, &st, pid, fd)?;
            }
            Some(Msg::Ready) => return Ok(()),
            Some(Msg::Error(e)) => return Err(Error::from_wire(e)),
            Some(m) => bail!("protocol error: unexpected {m:?} from init"),
            None => {
                let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
                undo.child = None;
                if let Ok(nix::sys::wait::WaitStatus::Signaled(_, nix::sys::signal::SIGSYS, _)) =
                    status
                {
                    bail!("container init was killed by SIGSYS (does linux.seccomp block a syscall init makes before execve?)");
                }
                bail!("container init exited unexpectedly ({status:?})");
            }
        }
    }
}

/// Clone init into its new namespaces. pid and time namespaces given by path are joined (for
/// children only) just around the clone, and keel goes back to its own afterwards.
///
/// When the container joins a user namespace by path, its new namespaces must be owned by that
/// user namespace, but keel cannot join it itself (it would lose its host privileges). An
/// intermediate child joins it, clones init with CLONE_PARENT (so init is still keel's child),
/// sends init's pid on the channel and exits (runc's nsexec does the same).
fn clone_init(
    ns: &NsPlan,
    joins: &JoinFds,
    entry: &cgroups::Entry,
    chan: &Channel,
    child_chan: &Channel,
) -> Result<(sys::Forked, bool)> {
    let Some(user) = namespaces::user_join(joins) else {
        let restore = namespaces::enter_for_clone(ns, joins)?;
        let forked = clone_entering(ns.clone_flags, entry);
        if matches!(forked, Ok((sys::Forked::Child, _))) {
            return forked.context("clone");
        }
        // Only the parent goes back to its own pid/time namespaces; init stays where it is.
        let restored = namespaces::restore_parent(restore);
        let forked = forked.context("clone")?;
        if let (Err(_), (sys::Forked::Parent { pid, .. }, _)) = (&restored, &forked) {
            // No caller will know of init: end it here.
            let pid = nix::unistd::Pid::from_raw(*pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        restored?;
        return Ok(forked);
    };
    // The joiner is born in the cgroup2 directory (init, its child, then is too); init joins
    // the v1 hierarchies itself, as always.
    let (forked, born_in_v2) =
        clone_entering(0, entry).context("clone the user-namespace joiner")?;
    match forked {
        sys::Forked::Child => {
            let r = namespaces::join_user(user)
                .and_then(|_| namespaces::enter_for_clone(ns, joins))
                .and_then(|_| {
                    sys::clone_fork(ns.clone_flags | libc::CLONE_PARENT as u64)
                        .context("clone init with CLONE_PARENT")
                });
            match r {
                Ok(sys::Forked::Child) => Ok((sys::Forked::Child, born_in_v2)),
                Ok(sys::Forked::Parent { pid, .. }) => {
                    let code = i32::from(child_chan.send(&Msg::Child(pid)).is_err());
                    sys::exit_now(code)
                }
                Err(e) => {
                    let _ = child_chan.send(&Msg::Error(e.to_wire()));
                    sys::exit_now(1)
                }
            }
        }
        sys::Forked::Parent { pid: joiner, .. } => {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(joiner), None);
            match chan.recv()? {
                Some(Msg::Child(pid)) => Ok((
                    sys::Forked::Parent {
                        pid,
                        pidfd: sys::pidfd_open(pid).ok(),
                    },
                    born_in_v2,
                )),
                Some(Msg::Error(e)) => Err(Error::from_wire(e)),
                other => bail!("protocol error: expected init's pid, got {other:?}"),
            }
        }
    }
}

/// clone_fork with the child born in the container's cgroup2 directory (cgroups::Entry), or
/// plainly when the kernel lacks CLONE_INTO_CGROUP (before 5.7: EINVAL or E2BIG; ENOSYS
/// without clone3); any other error is the cgroup's answer (EAGAIN at pids.max, say) and is
/// returned. Also says whether the child was born there (else `Entry::join_v2` moves it).
fn clone_entering(flags: u64, entry: &cgroups::Entry) -> nix::Result<(sys::Forked, bool)> {
    use nix::errno::Errno;
    if let Some((_, dir)) = &entry.v2 {
        match sys::clone_fork_into(flags, Some(dir.as_fd())) {
            Ok(forked) => return Ok((forked, true)),
            Err(Errno::EINVAL | Errno::E2BIG | Errno::ENOSYS) => {}
            Err(e) => return Err(e),
        }
    }
    sys::clone_fork(flags).map(|f| (f, false))
}

/// Atomically, like runc: a temp file in the same directory, then rename.
fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let abs =
        std::path::absolute(path).with_context(|| format!("--pid-file: {}", path.display()))?;
    let name = abs
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = abs.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, pid.to_string())
        .with_context(|| format!("--pid-file: write {}", tmp.display()))?;
    std::fs::rename(&tmp, &abs)
        .with_context(|| format!("--pid-file: rename to {}", abs.display()))?;
    Ok(())
}

pub struct Execd {
    pub pid: i32,
    /// Where the child sent its pty master, when keel allocated the terminal itself.
    pub console: Option<OwnedFd>,
}

/// The namespaces of the container's init, to join by /proc/<pid>/ns/*: every type the
/// container has, user first (so the rest can be joined with its capabilities).
fn container_namespaces(c: &Container) -> NsPlan {
    let mut joins = Vec::new();
    let types = c
        .saved
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    for ns in types {
        let t = ns.typ();
        let file = match t {
            oci_spec::runtime::LinuxNamespaceType::Mount => "mnt",
            oci_spec::runtime::LinuxNamespaceType::Network => "net",
            other => namespaces::name(other),
        };
        joins.push(namespaces::Join {
            field: format!("join the container's {} namespace", namespaces::name(t)),
            typ: t,
            path: PathBuf::from(format!("/proc/{}/ns/{file}", c.saved.pid)),
        });
    }
    NsPlan {
        joins,
        ..Default::default()
    }
}

/// `exec`: clone a child that joins the container's namespaces and cgroup, takes on the
/// process's security settings and execs. Returns once the child is about to execve.
pub fn exec(
    c: &Container,
    process: &Process,
    console_socket: Option<&Path>,
    pid_file: Option<&Path>,
    preserve_fds: u32,
    cgroup_subs: &[(Option<String>, PathBuf)],
) -> Result<Execd> {
    crate::process::validate(process).context("process")?;
    let terminal = process.terminal().unwrap_or(false);
    let plan = ProcessPlan::new(process, &c.saved.config, preserve_fds)?;
    let ns = container_namespaces(c);
    let min_fd = 3 + plan.extra_fds as i32;
    let above = |fd: OwnedFd| sys::dup_above(fd, min_fd).context("dup fd");
    let (console, console_peer) = console_fds(terminal, console_socket, min_fd)?;
    let joins = join_fds(&ns, min_fd)?;
    // The fds were opened through init's pid: make sure it is still the same init.
    if !c.init_alive() {
        bail!("{}", state::NOT_RUNNING);
    }
    let entry = c.saved.cgroup.entry_sub(cgroup_subs, min_fd)?;
    let (chan, child_chan) = Channel::pair()?;
    let child_chan = Channel::from_fd(above(child_chan.into_fd())?);
    let mut undo = Undo {
        dir: None,
        cgroup: Cgroup::default(),
        child: None,
    };
    let restore = namespaces::enter_for_clone(&ns, &joins)?;
    let forked = clone_entering(0, &entry);
    if !matches!(forked, Ok((sys::Forked::Child, _))) {
        let restored = namespaces::restore_parent(restore);
        if let Ok((sys::Forked::Parent { pid, .. }, _)) = &forked {
            undo.child = Some((*pid, None));
        }
        restored?;
    }
    let (forked, born_in_v2) = forked.context("clone the exec process")?;
    let (pid, pidfd) = match forked {
        sys::Forked::Child => {
            drop(chan);
            init::run_exec(
                &plan,
                ExecFds {
                    chan: child_chan,
                    cgroup: entry,
                    console,
                    joins,
                },
            )
        }
        sys::Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    undo.child = Some((pid, pidfd));
    drop(child_chan);
    drop(console);
    if !born_in_v2 {
        entry.join_v2(pid)?;
    }
    drop(entry);
    chan.send(&Msg::Go)?;
    loop {
        match chan.recv()? {
            Some(Msg::Ready) => break,
            Some(Msg::SeccompListener) => {
                let fd = chan.take_fd().ok_or_else(|| {
                    Error::msg("protocol error: SeccompListener came without its fd")
                })?;
                let st = c.hook_state(state::Status::Running);
                crate::seccomp::send_to_agent(&c.saved.config, &st, pid, fd)?;
            }
            Some(Msg::Error(e)) => return Err(Error::from_wire(e)),
            Some(m) => bail!("protocol error: unexpected {m:?} from the exec process"),
            None => bail!("the exec process exited before it could run"),
        }
    }
    if let Some(pf) = pid_file {
        write_pid_file(pf, pid)?;
    }
    undo.child = None;
    Ok(Execd {
        pid,
        console: console_peer,
    })
}
