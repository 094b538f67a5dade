//! One error type for the whole runtime: a message chain that names the config field or the
//! operation, and keeps the errno's text (`mounts[3]: mount `tmpfs` on `/run`: Invalid argument`).
//! Errors are built bottom-up with `context` and printed once, at the top (`main.rs`).

use std::fmt;

pub struct Error {
    msg: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn msg(msg: impl Into<String>) -> Self {
        Error { msg: msg.into() }
    }

    pub fn context(self, ctx: impl fmt::Display) -> Self {
        Error {
            msg: format!("{ctx}: {}", self.msg),
        }
    }

    pub fn message(&self) -> &str {
        &self.msg
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
        Error::msg(errno_text(e))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(n) => Error::msg(errno_text(nix::errno::Errno::from_raw(n))),
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
    fn io_errors_lose_the_os_error_suffix() {
        let e: Error = std::io::Error::from_raw_os_error(libc::EACCES).into();
        assert_eq!(e.to_string(), "Permission denied");
    }
}
