//! keel as a library: every module of the runtime, so that the `keel` binary (src/main.rs) and
//! the fuzz targets (fuzz/) build the same code. Nothing here is a stable API.

pub mod bundle;
pub mod capabilities;
pub mod cgroups;
pub mod channel;
pub mod cli;
pub mod commands;
pub mod error;
pub mod foreground;
pub mod hooks;
pub mod init;
pub mod inroot;
pub mod lifecycle;
pub mod log;
pub mod mountinfo;
pub mod mounts;
pub mod namespaces;
pub mod plan;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod spawn;
pub mod state;
pub mod sys;
pub mod sysctl;
pub mod tty;

pub const SPEC_VERSION: &str = "1.0.2-dev";

/// Report an error once: to the log file for containerd/conmon, and to stderr for people.
pub fn report(e: &error::Error) {
    use std::io::Write;
    if log::to_file() {
        log::error(e.message());
    }
    let _ = writeln!(std::io::stderr(), "{e}");
}
