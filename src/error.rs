//! One error type for the whole runtime: a message chain that names the config field or the
//! operation, and keeps the errno's text (`mounts[3]: mount `tmpfs` on `/run`: Invalid argument`).
//! Errors are built bottom-up with `context` and printed once, at the top (`main.rs`).
//!
//! Besides the text (for people) an error carries what code decides on: the errno where one
//! caused it, and a small [`Kind`]. Both survive `context` and the trip over the init channel
//! ([`Wire`]). Callers decide by kind or errno, never by the text.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a caller may need to tell apart; `Other` for everything that is only reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    #[default]
    Other,
    /// No container with that id (runc's "container does not exist").
    ContainerNotFound,
    /// The process's command does not exist (`exec` exits 127, as runc).
    CommandNotFound,
    /// The command exists but cannot be executed (`exec` exits 126).
    NotExecutable,
    /// A prestart, createRuntime or createContainer hook failed: the runtime-spec wants the
    /// container stopped and deleted, then the poststop hooks run.
    CreateHookFailed,
    /// The peer closed the parent <-> init channel.
    ChannelClosed,
}

pub struct Error {
    msg: String,
    kind: Kind,
    errno: Option<nix::errno::Errno>,
}

/// An error as it crosses the init channel: the text, the kind and the raw errno.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wire {
    pub msg: String,
    pub kind: Kind,
    pub errno: Option<i32>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn msg(msg: impl Into<String>) -> Self {
        Error {
            msg: msg.into(),
            kind: Kind::Other,
            errno: None,
        }
    }

    /// An error of a kind callers decide on.
    pub fn of_kind(kind: Kind, msg: impl Into<String>) -> Self {
        Error::msg(msg).with_kind(kind)
    }

    pub fn with_kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    pub fn context(self, ctx: impl fmt::Display) -> Self {
        Error {
            msg: format!("{ctx}: {}", self.msg),
            ..self
        }
    }

    pub fn message(&self) -> &str {
        &self.msg
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The errno at the root of the chain, if one caused it.
    pub fn errno(&self) -> Option<nix::errno::Errno> {
        self.errno
    }

    pub fn to_wire(&self) -> Wire {
        Wire {
            msg: self.msg.clone(),
            kind: self.kind,
            errno: self.errno.map(|e| e as i32),
        }
    }

    pub fn from_wire(w: Wire) -> Self {
        Error {
            msg: w.msg,
            kind: w.kind,
            errno: w.errno.map(nix::errno::Errno::from_raw),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

/// The errno's description without the "(os error N)" suffix std adds.
pub fn errno_text(errno: nix::errno::Errno) -> &'static str {
    errno.desc()
}

impl From<nix::errno::Errno> for Error {
    fn from(e: nix::errno::Errno) -> Self {
        Error {
            errno: Some(e),
            ..Error::msg(errno_text(e))
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(n) => nix::errno::Errno::from_raw(n).into(),
            None => Error::msg(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::msg(e.to_string())
    }
}

pub trait Context<T> {
    fn context(self, ctx: impl fmt::Display) -> Result<T>;
    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, ctx: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(ctx))
    }
    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

/// Return early with a formatted error.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::error::Error::msg(format!($($arg)*))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_chains_outermost_first() {
        let r: Result<()> = Err(nix::errno::Errno::ENOENT.into());
        let e = r
            .context("mount `proc` to `/proc`")
            .context("mounts[0]")
            .err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("mounts[0]: mount `proc` to `/proc`: No such file or directory")
        );
    }

    #[test]
    fn kind_and_errno_survive_context_and_the_wire() {
        let r: Result<()> = Err(nix::errno::Errno::EACCES.into());
        let e = r
            .map_err(|e| e.with_kind(Kind::NotExecutable))
            .context("exec \"/x\"")
            .err();
        let Some(e) = e else { panic!("no error") };
        let back = Error::from_wire(e.to_wire());
        assert_eq!(back.kind(), Kind::NotExecutable);
        assert_eq!(back.errno(), Some(nix::errno::Errno::EACCES));
        assert_eq!(back.message(), "exec \"/x\": Permission denied");
        let w = serde_json::to_string(&Error::of_kind(Kind::CreateHookFailed, "x").to_wire());
        assert!(w.is_ok_and(|w| w.contains("CreateHookFailed")));
    }

    #[test]
    fn io_errors_lose_the_os_error_suffix() {
        let e: Error = std::io::Error::from_raw_os_error(libc::EACCES).into();
        assert_eq!(e.to_string(), "Permission denied");
    }
}
