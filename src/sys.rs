//! Thin wrappers over the system calls that neither nix (0.31) nor caps (0.5) offers. Each
//! returns `nix::Result` so callers add the context (config field, path) once.
//!
//! - clone3 with CLONE_PIDFD and CLONE_INTO_CGROUP, falling back to clone(2): nix's `clone`
//!   wants a stack for a callback and returns no pidfd. `_exit` for the cloned child: nix has
//!   none, and `std::process::exit` would run the parent's atexit handlers.
//! - The mount API's open_tree and mount_setattr; pidfd_open and pidfd_send_signal;
//!   close_range; keyctl (the session keyring); ioprio_set; sched_setattr; setdomainname; the
//!   TIOCGWINSZ, TIOCSWINSZ and TIOCSCTTY ioctls. nix has none of these.
//! - capset(2) of effective, permitted and inheritable in one call (caps sets them one at a time,
//!   see capabilities.rs), and PR_CAPBSET_DROP by number for a capability caps has no name for.
//! - Fds that nix hands over as numbers: fcntl(F_SETFD) on a preserved fd keel does not own, and
//!   ownership of the fd F_DUPFD_CLOEXEC returns.
//!
//! Built on those and on nix, without unsafe code of their own: `write_proc`, `pin_in_root`
//! (nix's openat2) and the CVE-2019-5736 re-exec (open_tree, mount_setattr, nix's execveat).
//! Two syscalls live with the feature they serve: seccomp(2) in seccomp.rs and bpf(2) in
//! cgroups/bpf.rs. Structs and constants come from libc; the few defined here say why.

use nix::errno::Errno;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

fn cstr(p: &Path) -> nix::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

pub enum Forked {
    Child,
    Parent { pid: i32, pidfd: Option<OwnedFd> },
}

/// Fork-like clone (no CLONE_VM, no new stack) into new namespaces: clone3 with a pidfd, falling
/// back to clone(2) where clone3 is missing.
///
/// The child runs on a copy of the parent's address space. keel starts no thread before execve,
/// so no lock is held by another thread; the child must still avoid glibc functions that use the
/// cached thread id (raise/abort), which is why the child ends with `_exit`.
pub fn clone_fork(flags: u64) -> nix::Result<Forked> {
    clone_fork_into(flags, None)
}

/// linux/sched.h. libc's is glibc-only and a deprecated `c_int` that truncates the bit.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `clone_fork`, with the child born in the cgroup2 directory `cgroup` (CLONE_INTO_CGROUP,
/// Linux 5.7) when given; then there is no fallback to clone(2).
pub fn clone_fork_into(flags: u64, cgroup: Option<BorrowedFd>) -> nix::Result<Forked> {
    let mut pidfd: libc::c_int = -1;
    let into = cgroup.map_or(0, |_| CLONE_INTO_CGROUP);
    let args = libc::clone_args {
        flags: flags | into | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        child_tid: 0,
        parent_tid: 0,
        // With CLONE_PARENT clone3 wants 0 here: the child then signals like its new parent's
        // own children do (SIGCHLD).
        exit_signal: if flags & libc::CLONE_PARENT as u64 != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup.map_or(0, |fd| fd.as_raw_fd() as u64),
    };
    // SAFETY: clone3 with stack == 0 and without CLONE_VM has fork semantics: the child gets a copy
    // of this address space and returns 0 here; `args` and `pidfd` outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    let r = if r < 0 && Errno::last() == Errno::ENOSYS && cgroup.is_none() {
        // SAFETY: as above, the classic clone(2) with a NULL stack behaves like fork.
        let r = unsafe {
            libc::syscall(
                libc::SYS_clone,
                flags | libc::SIGCHLD as u64,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
        pidfd = -1;
        r
    } else {
        r
    };
    match r {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: pid as i32,
            // SAFETY: the kernel wrote a fresh pidfd that nothing else owns.
            pidfd: (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) }),
        }),
    }
}

/// mount_setattr(2) on a path, recursively when `recursive`.
pub fn mount_setattr(path: &Path, recursive: bool, set: u64, clr: u64) -> nix::Result<()> {
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    mount_setattr_at(nix::fcntl::AT_FDCWD, &cstr(path)?, flags, set, clr)
}

fn mount_setattr_at(
    dirfd: BorrowedFd,
    path: &CStr,
    flags: libc::c_int,
    set: u64,
    clr: u64,
) -> nix::Result<()> {
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `path` and `attr` are valid for the call; the size passed is that of `attr`.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd.as_raw_fd(),
            path.as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    })
    .map(drop)
}

/// Mark every fd from `first` up as close-on-exec.
pub fn cloexec_from(first: u32) -> nix::Result<()> {
    // SAFETY: close_range only changes fd flags; no memory is passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    Errno::result(r).map(drop)
}

/// Clear FD_CLOEXEC so the fd survives execve (preserved fds).
pub fn clear_cloexec(fd: RawFd) -> nix::Result<()> {
    // SAFETY: F_SETFD on an fd number has no memory effects; a bad fd gives EBADF.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }).map(drop)
}

/// Duplicate `fd` to a close-on-exec fd numbered at least `min`, so internal fds never sit in
/// the range of preserved fds.
pub fn dup_above(fd: OwnedFd, min: RawFd) -> nix::Result<OwnedFd> {
    use nix::fcntl::{fcntl, FcntlArg};
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    let n = fcntl(&fd, FcntlArg::F_DUPFD_CLOEXEC(min))?;
    // SAFETY: F_DUPFD_CLOEXEC returned a fresh fd that nothing else owns (nix gives a number).
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// prctl(PR_CAPBSET_DROP) by number, for a capability newer than the caps crate, which takes only
/// its own `Capability` names.
pub fn capbset_drop(cap: u32) -> nix::Result<()> {
    // SAFETY: prctl with integer arguments only.
    Errno::result(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) })
        .map(drop)
}

// linux/capability.h: libc has neither the two structs nor _LINUX_CAPABILITY_VERSION_3.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// capset(2) of the three per-thread sets at once (one call avoids the ordering traps of
/// setting them one by one). Bits are capability numbers.
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> nix::Result<()> {
    let hdr = CapHeader {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let data = [
        CapData {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: inheritable as u32,
        },
        CapData {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    // SAFETY: header and the two-element data array are the v3 layout the kernel expects.
    Errno::result(unsafe {
        libc::syscall(libc::SYS_capset, &hdr as *const CapHeader, data.as_ptr())
    })
    .map(drop)
}

pub fn sched_setattr(attr: &mut libc::sched_attr) -> nix::Result<()> {
    attr.size = std::mem::size_of::<libc::sched_attr>() as u32;
    // SAFETY: `attr` is a valid sched_attr of the declared size.
    Errno::result(unsafe {
        libc::syscall(libc::SYS_sched_setattr, 0, attr as *mut libc::sched_attr, 0)
    })
    .map(drop)
}

pub fn ioprio_set(value: i32) -> nix::Result<()> {
    const IOPRIO_WHO_PROCESS: i32 = 1; // linux/ioprio.h; not in libc
                                       // SAFETY: plain integer arguments.
    Errno::result(unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) })
        .map(drop)
}

/// Join a new session keyring named `name` (runc does this unless --no-new-keyring) and add
/// `search` to its permissions, as runc does (the kernel default leaves it unsearchable).
pub fn join_session_keyring(name: &str, search_bits: u32) -> nix::Result<()> {
    let n = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `n` is a valid NUL-terminated string for the duration of the call.
    let serial = Errno::result(unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            libc::KEYCTL_JOIN_SESSION_KEYRING,
            n.as_ptr(),
        )
    })?;
    // "keyring;<uid>;<gid>;<perm>;<name>": the kernel copies nothing into a shorter buffer.
    let mut buf = vec![0u8; name.len() + 128];
    // SAFETY: the kernel writes at most buf.len() bytes into `buf`.
    let len = Errno::result(unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            libc::KEYCTL_DESCRIBE,
            serial,
            buf.as_mut_ptr(),
            buf.len(),
        )
    })? as usize;
    // "type;uid;gid;perm;description"
    let text = String::from_utf8_lossy(&buf[..len.min(buf.len())]);
    let perm = text
        .split(';')
        .nth(3)
        .and_then(|p| u32::from_str_radix(p.trim_end_matches('\0'), 16).ok())
        .ok_or(Errno::EINVAL)?;
    // SAFETY: integer arguments only.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            libc::KEYCTL_SETPERM,
            serial,
            perm | search_bits,
        )
    })
    .map(drop)
}

/// setdomainname(2) (nix has sethostname only).
pub fn setdomainname(name: &CStr) -> nix::Result<()> {
    let len = name.to_bytes().len();
    // SAFETY: `name` is valid for `len` bytes for the duration of the call.
    Errno::result(unsafe { libc::setdomainname(name.as_ptr(), len) }).map(drop)
}

/// TIOCGWINSZ: the window size of the terminal `fd`.
pub fn get_winsize(fd: BorrowedFd) -> nix::Result<libc::winsize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into `ws`, which lives for the call.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) })?;
    Ok(ws)
}

/// TIOCSWINSZ: set the window size of the terminal `fd`.
pub fn set_winsize(fd: BorrowedFd, ws: &libc::winsize) -> nix::Result<()> {
    // SAFETY: TIOCSWINSZ reads one winsize from `ws`, which lives for the call.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, ws) }).map(drop)
}

/// TIOCSCTTY: make the terminal `fd` the controlling terminal of this session (its leader).
pub fn set_controlling_tty(fd: BorrowedFd) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal it from another session).
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) }).map(drop)
}

/// pidfd_send_signal(2): signal a process through its pidfd (no PID-reuse race).
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> nix::Result<()> {
    // SAFETY: plain integer arguments; the info pointer is NULL as allowed.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

pub fn pidfd_open(pid: i32) -> nix::Result<OwnedFd> {
    // SAFETY: plain integer arguments; the returned fd is owned by us.
    let fd = Errno::result(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: fresh fd from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `_exit(2)`: leave the cloned child without running atexit handlers or Rust destructors that
/// belong to the parent's copy of the state.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust-managed state.
    unsafe { libc::_exit(code) }
}

/// Write to a procfs file, refusing anything that is not really procfs (a container can mount
/// over /proc/sys or /proc/self/attr to redirect keel's writes: CVE-2025-52881).
pub fn write_proc(path: &std::path::Path, value: &[u8]) -> nix::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let st = nix::sys::statfs::fstatfs(&f)?;
    if st.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(Errno::EXDEV);
    }
    f.write_all(value)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

use std::os::unix::fs::OpenOptionsExt;

/// CVE-2019-5736: a container must never be able to open keel's binary for writing through
/// /proc/<pid>/exe of a keel process (init and exec children run the keel binary until they
/// execve). keel re-executes itself once, from a detached read-only bind mount of its own
/// binary (open_tree + mount_setattr + execveat): every process it then clones runs from that
/// mount, where a write fails with EROFS. The mount is attached nowhere, so nothing shows in any
/// mount table and nothing needs cleaning up. No copy of the binary is made.
/// Returns Ok(()) when already running from a read-only mount; otherwise does not return.
pub fn reexec_from_readonly_mount() -> nix::Result<()> {
    let st = nix::sys::statvfs::statvfs("/proc/self/exe")?;
    if st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
        return Ok(());
    }
    let path = CString::new("/proc/self/exe").map_err(|_| Errno::EINVAL)?;
    // SAFETY: `path` is a valid NUL-terminated string; the result is a new fd we own.
    let fd = Errno::result(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
        )
    })?;
    // SAFETY: fresh fd from the kernel.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    mount_setattr_at(
        tree.as_fd(),
        c"",
        libc::AT_EMPTY_PATH,
        libc::MOUNT_ATTR_RDONLY,
        0,
    )?;
    use std::os::unix::ffi::OsStrExt;
    let to_c = |s: &std::ffi::OsStr| CString::new(s.as_bytes()).map_err(|_| Errno::EINVAL);
    let args: Vec<CString> = std::env::args_os()
        .map(|a| to_c(&a))
        .collect::<nix::Result<_>>()?;
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            to_c(&kv)
        })
        .collect::<nix::Result<_>>()?;
    nix::unistd::execveat(&tree, c"", &args, &env, nix::fcntl::AtFlags::AT_EMPTY_PATH).map(drop)
}

/// A path inside `root`, opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): symlinks
/// and ".." cannot leave `root`, whatever the rootfs contains or changes meanwhile. Mounting on
/// `path()` (/proc/self/fd/N) then lands exactly on the inode that was checked.
pub struct Pinned {
    fd: OwnedFd,
    path: std::path::PathBuf,
}

impl Pinned {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

pub fn pin_in_root(root: &Path, inside: &Path) -> nix::Result<Pinned> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
    let root_fd = nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let rel = inside.strip_prefix("/").unwrap_or(inside);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = nix::fcntl::openat2(&root_fd, rel, how)?;
    let path = std::path::PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    Ok(Pinned { fd, path })
}

impl AsRawFd for Pinned {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
