//! keel-probe: a static binary run inside test containers. It reports what the process sees as one
//! JSON object on stdout, so the integration tests can observe config.json fields from the inside.
//!
//! Usage:
//!   keel-probe                    the full report (see `report`)
//!   keel-probe report ARGS...     the full report; ARGS are only there to show up in "args"
//!   keel-probe check PATH...      lstat/open/statfs facts for each path (JSON list)
//!   keel-probe read PATH...       JSON map path -> contents or {"error": ...}
//!   keel-probe ls PATH            JSON list of the sorted entry names of a directory
//!   keel-probe write PATH CONTENT exit 0, or print {"errno","error"} and exit 1
//!   keel-probe exit N             exit with status N
//!   keel-probe sleep SECS         sleep (fractional seconds allowed)
//!   keel-probe kill-self SIG      send SIG (number or name) to itself
//!   keel-probe syscall NR ARG...  raw syscall NR (x86_64 `syscall`; x32 with 0x40000000 in NR),
//!                                 up to 6 integer args (decimal or 0x hex): {"ret"} or
//!                                 {"errno","error"}, exit 0 (a seccomp kill ends it instead)
//!   keel-probe syscall32 NR ARG.. the same through the i386 ABI (`int 0x80`), up to 3 args
//!
//! The probe never panics: a field it cannot read becomes `{"error": "<strerror>"}`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod json;
mod mountinfo;

use json::Json;
use std::ffi::{CStr, CString, OsStr};
use std::io::{Error, Write};
use std::os::unix::ffi::OsStrExt;

const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const NAMESPACES: [&str; 10] = [
    "cgroup",
    "ipc",
    "mnt",
    "net",
    "pid",
    "pid_for_children",
    "time",
    "time_for_children",
    "user",
    "uts",
];

const RLIMITS: [(&str, libc::__rlimit_resource_t); 16] = [
    ("cpu", libc::RLIMIT_CPU),
    ("fsize", libc::RLIMIT_FSIZE),
    ("data", libc::RLIMIT_DATA),
    ("stack", libc::RLIMIT_STACK),
    ("core", libc::RLIMIT_CORE),
    ("rss", libc::RLIMIT_RSS),
    ("nproc", libc::RLIMIT_NPROC),
    ("nofile", libc::RLIMIT_NOFILE),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("as", libc::RLIMIT_AS),
    ("locks", libc::RLIMIT_LOCKS),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
];

fn errno() -> i32 {
    Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn cstring(path: &str) -> Result<CString, Json> {
    CString::new(path).map_err(|_| Json::error_msg("path contains a NUL byte"))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn c_chars(buf: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    lossy(&bytes)
}

fn read_text(path: &str) -> Result<String, Error> {
    std::fs::read(path).map(|b| lossy(&b))
}

fn status_field(status: &str, key: &str) -> Option<String> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().to_string())
}

fn cap_names(mask: u64) -> Vec<String> {
    let mut names: Vec<String> = (0..64)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .map(|bit| match CAP_NAMES.get(bit as usize) {
            Some(n) => n.to_string(),
            None => format!("CAP_{bit}"),
        })
        .collect();
    names.sort();
    names
}

fn uname() -> Json {
    // SAFETY: utsname is plain old data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return Json::error_errno(errno());
    }
    Json::Obj(vec![
        ("hostname".into(), Json::Str(c_chars(&u.nodename))),
        ("domainname".into(), Json::Str(c_chars(&u.domainname))),
        ("machine".into(), Json::Str(c_chars(&u.machine))),
    ])
}

fn groups() -> Json {
    // SAFETY: size 0 asks only for the count.
    let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    if n < 0 {
        return Json::error_errno(errno());
    }
    let mut buf = vec![0 as libc::gid_t; n as usize + 1];
    // SAFETY: buf has room for buf.len() gids.
    let n = unsafe { libc::getgroups(buf.len() as libc::c_int, buf.as_mut_ptr()) };
    if n < 0 {
        return Json::error_errno(errno());
    }
    buf.truncate(n as usize);
    Json::Arr(buf.into_iter().map(|g| Json::Int(g as i64)).collect())
}

fn caps(status: &Result<String, Error>) -> Json {
    let status = match status {
        Ok(s) => s,
        Err(e) => return Json::error_io(e),
    };
    let mut out = Vec::new();
    for (name, key) in [
        ("bounding", "CapBnd"),
        ("effective", "CapEff"),
        ("permitted", "CapPrm"),
        ("inheritable", "CapInh"),
        ("ambient", "CapAmb"),
    ] {
        let v = match status_field(status, key) {
            Some(hex) => match u64::from_str_radix(&hex, 16) {
                Ok(mask) => Json::Obj(vec![
                    ("hex".into(), Json::Str(hex)),
                    (
                        "names".into(),
                        Json::Arr(cap_names(mask).into_iter().map(Json::Str).collect()),
                    ),
                ]),
                Err(_) => Json::error_msg(format!("cannot parse {key}: {hex}")),
            },
            None => Json::error_msg(format!("{key} not in /proc/self/status")),
        };
        out.push((name.to_string(), v));
    }
    Json::Obj(out)
}

fn status_value(status: &Result<String, Error>, key: &str, as_int: bool) -> Json {
    match status {
        Err(e) => Json::error_io(e),
        Ok(s) => match status_field(s, key) {
            None => Json::error_msg(format!("{key} not in /proc/self/status")),
            Some(v) if as_int => match v.parse::<i64>() {
                Ok(i) => Json::Int(i),
                Err(_) => Json::error_msg(format!("cannot parse {key}: {v}")),
            },
            Some(v) => Json::Str(v),
        },
    }
}

fn mounts() -> Json {
    match read_text("/proc/self/mountinfo") {
        Ok(t) => Json::Arr(mountinfo::parse(&t).iter().map(|m| m.to_json()).collect()),
        Err(e) => Json::error_io(&e),
    }
}

fn readlink(path: &str) -> Result<String, Error> {
    std::fs::read_link(path).map(|p| lossy(p.as_os_str().as_bytes()))
}

fn namespaces() -> Json {
    let mut out: Vec<(String, Json)> = Vec::new();
    for ns in NAMESPACES {
        let v = match readlink(&format!("/proc/self/ns/{ns}")) {
            Ok(t) => Json::Str(t),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Json::Null,
            Err(e) => Json::error_io(&e),
        };
        out.push((ns.to_string(), v));
    }
    Json::Obj(out)
}

fn rlim(v: libc::rlim_t) -> Json {
    if v == libc::RLIM_INFINITY {
        Json::Int(-1)
    } else {
        Json::Int(v as i64)
    }
}

fn rlimits() -> Json {
    let mut out = Vec::new();
    for (name, res) in RLIMITS {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: valid pointer to an rlimit.
        let v = if unsafe { libc::getrlimit(res, &mut r) } == 0 {
            Json::Arr(vec![rlim(r.rlim_cur), rlim(r.rlim_max)])
        } else {
            Json::error_errno(errno())
        };
        out.push((name.to_string(), v));
    }
    Json::Obj(out)
}

fn lines_of(path: &str) -> Json {
    match read_text(path) {
        Ok(t) => Json::Arr(t.lines().map(Json::str).collect()),
        Err(e) => Json::error_io(&e),
    }
}

fn int_file(path: &str) -> Json {
    match read_text(path) {
        Ok(t) => match t.trim().parse::<i64>() {
            Ok(i) => Json::Int(i),
            Err(_) => Json::error_msg(format!("cannot parse {path}: {t:?}")),
        },
        Err(e) => Json::error_io(&e),
    }
}

fn sched() -> Json {
    // SAFETY: plain syscalls on the calling process.
    let policy = unsafe { libc::sched_getscheduler(0) };
    let policy = if policy < 0 {
        Json::error_errno(errno())
    } else {
        Json::Int(policy as i64)
    };
    let mut p = libc::sched_param { sched_priority: 0 };
    // SAFETY: valid pointer to a sched_param.
    let prio = if unsafe { libc::sched_getparam(0, &mut p) } == 0 {
        Json::Int(p.sched_priority as i64)
    } else {
        Json::error_errno(errno())
    };
    // getpriority may legitimately return -1: clear errno first, as its man page says.
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = 0 };
    // SAFETY: plain syscall.
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let nice = if nice == -1 && errno() != 0 {
        Json::error_errno(errno())
    } else {
        Json::Int(nice as i64)
    };
    Json::Obj(vec![
        ("policy".into(), policy),
        ("priority".into(), prio),
        ("nice".into(), nice),
    ])
}

fn ioprio() -> Json {
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    // SAFETY: ioprio_get takes two integers.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0 as libc::c_long) };
    if r < 0 {
        Json::error_errno(errno())
    } else {
        Json::Int(r)
    }
}

fn cpu_affinity() -> Json {
    // SAFETY: cpu_set_t is plain old data.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer and size.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0
    {
        return Json::error_errno(errno());
    }
    let mut cpus = Vec::new();
    for cpu in 0..libc::CPU_SETSIZE as usize {
        // SAFETY: cpu < CPU_SETSIZE.
        if unsafe { libc::CPU_ISSET(cpu, &set) } {
            cpus.push(Json::Int(cpu as i64));
        }
    }
    Json::Arr(cpus)
}

fn fds() -> Json {
    let dir = match cstring("/proc/self/fd") {
        Ok(d) => d,
        Err(j) => return j,
    };
    // SAFETY: valid C string.
    let d = unsafe { libc::opendir(dir.as_ptr()) };
    if d.is_null() {
        return Json::error_errno(errno());
    }
    // SAFETY: d is an open DIR*.
    let own = unsafe { libc::dirfd(d) };
    let mut nums = Vec::new();
    loop {
        // SAFETY: d is an open DIR*; the entry is valid until the next readdir.
        let ent = unsafe { libc::readdir(d) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name is NUL-terminated.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
        if let Ok(n) = name.to_string_lossy().parse::<i32>() {
            if n != own {
                nums.push(n);
            }
        }
    }
    // SAFETY: d came from opendir and is closed once.
    unsafe { libc::closedir(d) };
    nums.sort_unstable();
    Json::Arr(
        nums.into_iter()
            .map(|n| {
                let target = match readlink(&format!("/proc/self/fd/{n}")) {
                    Ok(t) => Json::Str(t),
                    Err(e) => Json::error_io(&e),
                };
                Json::Obj(vec![
                    ("fd".into(), Json::Int(n as i64)),
                    ("target".into(), target),
                ])
            })
            .collect(),
    )
}

fn stat_field(n: usize) -> Json {
    // Fields after "(comm)" start at field 3; comm may contain spaces and parentheses.
    match read_text("/proc/self/stat") {
        Err(e) => Json::error_io(&e),
        Ok(t) => {
            let after = match t.rfind(')') {
                Some(i) => &t[i + 1..],
                None => return Json::error_msg("malformed /proc/self/stat"),
            };
            match after
                .split_whitespace()
                .nth(n - 3)
                .and_then(|v| v.parse::<i64>().ok())
            {
                Some(v) => Json::Int(v),
                None => Json::error_msg(format!("no field {n} in /proc/self/stat")),
            }
        }
    }
}

fn tty() -> Json {
    // SAFETY: isatty only inspects the fd.
    let isatty = |fd| Json::Bool(unsafe { libc::isatty(fd) } == 1);
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: buf is writable for its length.
    let r = unsafe { libc::ttyname_r(0, buf.as_mut_ptr(), buf.len()) };
    let ttyname = if r == 0 {
        Json::Str(c_chars(&buf))
    } else {
        Json::error_errno(r)
    };
    Json::Obj(vec![
        ("stdin_isatty".into(), isatty(0)),
        ("stdout_isatty".into(), isatty(1)),
        ("stderr_isatty".into(), isatty(2)),
        ("ttyname0".into(), ttyname),
        ("ctty_nr".into(), stat_field(7)),
        ("winsize0".into(), winsize()),
    ])
}

/// The session keyring: its serial and KEYCTL_DESCRIBE text (`type;uid;gid;perm;description`).
/// Without a session keyring of its own the kernel answers with the user-session keyring.
fn keyring() -> Json {
    const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
    const KEYCTL_DESCRIBE: libc::c_long = 6;
    const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
    // SAFETY: KEYCTL_GET_KEYRING_ID takes two integers (create = 0: never makes a keyring).
    let serial = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_GET_KEYRING_ID,
            KEY_SPEC_SESSION_KEYRING,
            0 as libc::c_long,
        )
    };
    if serial < 0 {
        return Json::error_errno(errno());
    }
    let mut buf = [0u8; 512];
    // SAFETY: buf is writable for its length; the kernel writes at most buflen bytes.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            serial,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    let description = if n < 0 {
        Json::error_errno(errno())
    } else {
        let len = (n as usize).min(buf.len());
        let text = &buf[..len];
        let text = text.strip_suffix(&[0]).unwrap_or(text);
        Json::Str(lossy(text))
    };
    Json::Obj(vec![
        ("serial".into(), Json::Int(serial)),
        ("description".into(), description),
    ])
}

/// The terminal size of fd 0 (TIOCGWINSZ), or the error when fd 0 is not a terminal.
fn winsize() -> Json {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills a winsize; the pointer is valid.
    if unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } != 0 {
        return Json::error_errno(errno());
    }
    Json::Obj(vec![
        ("rows".into(), Json::Int(ws.ws_row as i64)),
        ("cols".into(), Json::Int(ws.ws_col as i64)),
    ])
}

fn clock_s(id: libc::clockid_t) -> Json {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    if unsafe { libc::clock_gettime(id, &mut ts) } == 0 {
        Json::Int(ts.tv_sec)
    } else {
        Json::error_errno(errno())
    }
}

fn report() -> Json {
    let status = read_text("/proc/self/status");
    let uts = uname();
    let uts_field = |k: &str| match &uts {
        Json::Obj(f) => f
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or(Json::Null),
        other => other.clone(),
    };
    // SAFETY: the id getters cannot fail.
    let (uid, gid, euid, egid) = unsafe {
        (
            libc::getuid(),
            libc::getgid(),
            libc::geteuid(),
            libc::getegid(),
        )
    };
    // SAFETY: prctl(PR_GET_NO_NEW_PRIVS) takes no pointers.
    let nnp = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
    let nnp = if nnp < 0 {
        Json::error_errno(errno())
    } else {
        Json::Bool(nnp == 1)
    };
    let cwd = Json::from_result(
        std::env::current_dir().map(|p| Json::Str(lossy(p.as_os_str().as_bytes()))),
    );
    let args = Json::Arr(
        std::env::args_os()
            .map(|a| Json::Str(lossy(a.as_bytes())))
            .collect(),
    );
    let env = Json::Arr(
        std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                Json::Str(lossy(&kv))
            })
            .collect(),
    );
    // SAFETY: personality(0xffffffff) only queries.
    let personality = unsafe { libc::personality(0xffff_ffff) };
    let personality = if personality < 0 {
        Json::error_errno(errno())
    } else {
        Json::Int(personality as i64)
    };
    // SAFETY: the pid getters cannot fail.
    let (pid, ppid) = unsafe { (libc::getpid(), libc::getppid()) };

    Json::Obj(vec![
        ("hostname".into(), uts_field("hostname")),
        ("domainname".into(), uts_field("domainname")),
        ("machine".into(), uts_field("machine")),
        ("uid".into(), Json::Int(uid as i64)),
        ("gid".into(), Json::Int(gid as i64)),
        ("euid".into(), Json::Int(euid as i64)),
        ("egid".into(), Json::Int(egid as i64)),
        ("groups".into(), groups()),
        ("caps".into(), caps(&status)),
        ("no_new_privs".into(), nnp),
        ("seccomp".into(), status_value(&status, "Seccomp", true)),
        ("umask".into(), status_value(&status, "Umask", false)),
        ("cwd".into(), cwd),
        ("args".into(), args),
        ("env".into(), env),
        ("pid".into(), Json::Int(pid as i64)),
        ("ppid".into(), Json::Int(ppid as i64)),
        ("mounts".into(), mounts()),
        ("namespaces".into(), namespaces()),
        ("rlimits".into(), rlimits()),
        ("cgroup".into(), lines_of("/proc/self/cgroup")),
        ("oom_score_adj".into(), int_file("/proc/self/oom_score_adj")),
        ("personality".into(), personality),
        ("sched".into(), sched()),
        ("ioprio".into(), ioprio()),
        ("cpu_affinity".into(), cpu_affinity()),
        ("fds".into(), fds()),
        ("tty".into(), tty()),
        ("keyring".into(), keyring()),
        (
            "clocks".into(),
            Json::Obj(vec![
                ("monotonic_s".into(), clock_s(libc::CLOCK_MONOTONIC)),
                ("boottime_s".into(), clock_s(libc::CLOCK_BOOTTIME)),
            ]),
        ),
    ])
}

fn file_type(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "file",
        libc::S_IFDIR => "dir",
        libc::S_IFLNK => "symlink",
        libc::S_IFCHR => "char",
        libc::S_IFBLK => "block",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        _ => "unknown",
    }
}

fn open_errno(c: &CStr, flags: libc::c_int) -> i64 {
    // O_NOCTTY: checking a tty must never make it our controlling terminal.
    // SAFETY: valid C string; the fd is closed right away.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if fd < 0 {
        return errno() as i64;
    }
    // SAFETY: fd was just opened by us.
    unsafe { libc::close(fd) };
    0
}

fn check(path: &str) -> Json {
    let mut out = vec![("path".to_string(), Json::str(path))];
    let c = match cstring(path) {
        Ok(c) => c,
        Err(j) => {
            out.push(("exists".into(), Json::Bool(false)));
            out.push(("error".into(), j));
            return Json::Obj(out);
        }
    };
    // SAFETY: stat is plain old data.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and pointer.
    if unsafe { libc::lstat(c.as_ptr(), &mut st) } != 0 {
        let e = errno();
        out.push(("exists".into(), Json::Bool(false)));
        if e != libc::ENOENT {
            out.push(("lstat_error".into(), Json::error_errno(e)));
        }
        return Json::Obj(out);
    }
    let kind = file_type(st.st_mode);
    let target = if kind == "symlink" {
        Json::from_result(readlink(path).map(Json::Str))
    } else {
        Json::Null
    };
    // SAFETY: statfs is plain old data.
    let mut sfs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and pointer.
    let statfs_type = if unsafe { libc::statfs(c.as_ptr(), &mut sfs) } == 0 {
        Json::Str(format!("0x{:x}", sfs.f_type as u64 & 0xffff_ffff))
    } else {
        Json::error_errno(errno())
    };
    out.extend([
        ("exists".to_string(), Json::Bool(true)),
        ("type".to_string(), Json::str(kind)),
        (
            "mode".to_string(),
            Json::Str(format!("{:04o}", st.st_mode & 0o7777)),
        ),
        ("uid".to_string(), Json::Int(st.st_uid as i64)),
        ("gid".to_string(), Json::Int(st.st_gid as i64)),
        ("size".to_string(), Json::Int(st.st_size)),
        (
            "rdev_major".to_string(),
            Json::Int(libc::major(st.st_rdev) as i64),
        ),
        (
            "rdev_minor".to_string(),
            Json::Int(libc::minor(st.st_rdev) as i64),
        ),
        ("symlink_target".to_string(), target),
        (
            "open_read_errno".to_string(),
            Json::Int(open_errno(&c, libc::O_RDONLY)),
        ),
        (
            "open_write_errno".to_string(),
            Json::Int(open_errno(&c, libc::O_WRONLY | libc::O_NONBLOCK)),
        ),
        ("statfs_type".to_string(), statfs_type),
    ]);
    Json::Obj(out)
}

fn read_paths(paths: &[String]) -> Json {
    Json::Obj(
        paths
            .iter()
            .map(|p| (p.clone(), Json::from_result(read_text(p).map(Json::Str))))
            .collect(),
    )
}

fn ls(path: &str) -> Json {
    match std::fs::read_dir(path) {
        Err(e) => Json::error_io(&e),
        Ok(rd) => {
            let mut names: Vec<String> = Vec::new();
            for ent in rd {
                match ent {
                    Ok(e) => names.push(lossy(e.file_name().as_bytes())),
                    Err(e) => return Json::error_io(&e),
                }
            }
            names.sort();
            Json::Arr(names.into_iter().map(Json::Str).collect())
        }
    }
}

fn write_file(path: &str, content: &str) -> i32 {
    let c = match cstring(path) {
        Ok(c) => c,
        Err(j) => {
            println!("{}", j.render());
            return 1;
        }
    };
    // SAFETY: valid C string.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o644,
        )
    };
    let fail = |e: i32| {
        let j = Json::Obj(vec![
            ("errno".into(), Json::Int(e as i64)),
            ("error".into(), Json::Str(json::strerror(e))),
        ]);
        println!("{}", j.render());
        1
    };
    if fd < 0 {
        return fail(errno());
    }
    let bytes = content.as_bytes();
    let mut done = 0;
    while done < bytes.len() {
        // SAFETY: fd is open; the slice is valid for its length.
        let n = unsafe { libc::write(fd, bytes[done..].as_ptr().cast(), bytes.len() - done) };
        if n < 0 {
            let e = errno();
            // SAFETY: fd is ours.
            unsafe { libc::close(fd) };
            return fail(e);
        }
        done += n as usize;
    }
    // SAFETY: fd is ours; close reports deferred write errors.
    if unsafe { libc::close(fd) } != 0 {
        return fail(errno());
    }
    0
}

fn signal_number(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return Some(n);
    }
    let name = s.trim_start_matches("SIG");
    Some(match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ABRT" => libc::SIGABRT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        _ => return None,
    })
}

fn int_arg(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `syscall`/`syscall32`: make the call, print its result.
fn raw_syscall(rest: &[String], i386: bool) -> i32 {
    let nums: Option<Vec<u64>> = rest.iter().map(|a| int_arg(a)).collect();
    let max_args = if i386 { 3 } else { 6 };
    let Some(nums) = nums.filter(|n| !n.is_empty() && n.len() <= max_args + 1) else {
        return usage(&format!(
            "syscall takes NR and up to {max_args} integer args"
        ));
    };
    let mut a = [0u64; 7];
    a[..nums.len()].copy_from_slice(&nums);
    let ret: i64 = if i386 {
        let r: u64;
        // SAFETY: a raw i386 system call with integer arguments; the test chooses calls that do
        // not touch our memory. rbx is reserved by LLVM, so the first argument is swapped in and
        // out around `int 0x80`.
        unsafe {
            std::arch::asm!(
                "xchg {a0}, rbx",
                "int 0x80",
                "xchg {a0}, rbx",
                a0 = inout(reg) a[1] => _,
                inlateout("rax") a[0] => r,
                in("rcx") a[2],
                in("rdx") a[3],
            );
        }
        // The i386 ABI returns a 32-bit value in eax.
        i64::from(r as u32 as i32)
    } else {
        // SAFETY: as above, integer arguments only.
        let r = unsafe { libc::syscall(a[0] as libc::c_long, a[1], a[2], a[3], a[4], a[5], a[6]) };
        if r < 0 {
            -i64::from(errno())
        } else {
            r
        }
    };
    let j = if (-4095..0).contains(&ret) {
        let e = (-ret) as i32;
        Json::Obj(vec![
            ("errno".into(), Json::Int(e as i64)),
            ("error".into(), Json::Str(json::strerror(e))),
        ])
    } else {
        Json::Obj(vec![("ret".into(), Json::Int(ret))])
    };
    print(&j)
}

fn usage(msg: &str) -> i32 {
    eprintln!("keel-probe: {msg}");
    eprintln!("usage: keel-probe [report ARGS...|check PATH...|read PATH...|ls PATH|write PATH CONTENT|exit N|sleep SECS|kill-self SIG|syscall NR ARG...|syscall32 NR ARG...]");
    2
}

fn print(j: &Json) -> i32 {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", j.render()).and_then(|_| out.flush()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("keel-probe: writing stdout: {e}");
            1
        }
    }
}

fn run(args: &[String]) -> i32 {
    let Some(cmd) = args.get(1) else {
        return print(&report());
    };
    let rest = &args[2..];
    match cmd.as_str() {
        "report" => print(&report()),
        "check" => print(&Json::Arr(rest.iter().map(|p| check(p)).collect())),
        "read" => print(&read_paths(rest)),
        "ls" => match rest {
            [p] => print(&ls(p)),
            _ => usage("ls takes one PATH"),
        },
        "write" => match rest {
            [p, c] => write_file(p, c),
            _ => usage("write takes PATH CONTENT"),
        },
        "exit" => match rest.first().and_then(|n| n.parse::<i32>().ok()) {
            Some(n) => n,
            None => usage("exit takes a number"),
        },
        "sleep" => match rest.first().and_then(|n| n.parse::<f64>().ok()) {
            Some(s) if s >= 0.0 && s.is_finite() => {
                std::thread::sleep(std::time::Duration::from_secs_f64(s));
                0
            }
            _ => usage("sleep takes a non-negative number of seconds"),
        },
        "kill-self" => match rest.first().and_then(|s| signal_number(s)) {
            Some(sig) => {
                // SAFETY: kill on our own pid.
                if unsafe { libc::kill(libc::getpid(), sig) } != 0 {
                    eprintln!("keel-probe: kill: {}", json::strerror(errno()));
                    return 1;
                }
                // PID 1 of a pid namespace ignores default-action signals sent from inside:
                // report that rather than pretending to have died.
                std::thread::sleep(std::time::Duration::from_millis(200));
                eprintln!("keel-probe: still alive after signal {sig} (pid 1 ignores default-action signals)");
                128 + sig
            }
            None => usage("kill-self takes a signal number or name"),
        },
        "syscall" => raw_syscall(rest, false),
        "syscall32" => raw_syscall(rest, true),
        other => usage(&format!("unknown command {other:?}")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args_os()
        .map(|a| lossy(OsStr::as_bytes(&a)))
        .collect();
    std::process::exit(run(&args));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_names_are_sorted_and_cover_41() {
        assert_eq!(CAP_NAMES[40], "CAP_CHECKPOINT_RESTORE");
        assert_eq!(cap_names(0), Vec::<String>::new());
        assert_eq!(
            cap_names(0x20000420),
            vec!["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
        );
        assert_eq!(cap_names(0x1ff_ffff_ffff).len(), 41);
        assert_eq!(cap_names(1 << 45), vec!["CAP_45"]);
    }

    #[test]
    fn status_field_strips_key_and_whitespace() {
        let s = "Name:\tx\nUmask:\t0022\nCapEff:\t00000000a80425fb\nSeccomp:\t2\n";
        assert_eq!(status_field(s, "Umask").as_deref(), Some("0022"));
        assert_eq!(
            status_field(s, "CapEff").as_deref(),
            Some("00000000a80425fb")
        );
        assert_eq!(status_field(s, "Seccomp").as_deref(), Some("2"));
        assert_eq!(status_field(s, "Cap"), None);
    }

    #[test]
    fn report_is_an_object_with_every_field() {
        let r = report();
        let Json::Obj(fields) = r else {
            panic!("report is not an object")
        };
        for k in [
            "hostname",
            "domainname",
            "uid",
            "gid",
            "euid",
            "egid",
            "groups",
            "caps",
            "no_new_privs",
            "seccomp",
            "umask",
            "cwd",
            "args",
            "env",
            "pid",
            "ppid",
            "mounts",
            "namespaces",
            "rlimits",
            "cgroup",
            "oom_score_adj",
            "personality",
            "sched",
            "ioprio",
            "cpu_affinity",
            "fds",
            "tty",
            "keyring",
            "clocks",
        ] {
            assert!(fields.iter().any(|(n, _)| n == k), "missing {k}");
        }
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_number("9"), Some(9));
        assert_eq!(signal_number("SIGTERM"), Some(libc::SIGTERM));
        assert_eq!(signal_number("USR1"), Some(libc::SIGUSR1));
        assert_eq!(signal_number("NOPE"), None);
    }
}
