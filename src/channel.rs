//! The parent <-> init protocol: typed messages, one per SEQPACKET datagram, over one socketpair.
//! init's errors travel back as text that already names the config field and the errno.
//!
//! ```text
//!  keel create (parent)                          init (cloned child)
//!  ----------------------------------------------------------------------------------------
//!  clone3 into new namespaces  ---------------->  (blocked in recv)
//!    (user namespace by path: clone an intermediate that joins it, clones init with
//!     CLONE_PARENT into the new namespaces, sends Child(pid) and exits)
//!  write uid_map/gid_map, oom_score_adj,
//!  join the cgroup
//!  send Go  ----------------------------------->  setns by path, unshare cgroupns, keyring,
//!                                                 mounts[], /dev
//!                        (only with hooks)  <---  send MountsDone
//!  run prestart + createRuntime hooks
//!  send HooksDone(state JSON)  ---------------->  createContainer hooks, pivot_root, sysctl,
//!                                                 console, masked/readonly paths, rlimits,
//!                                                 user, caps, cwd, look up args[0]
//!                                           <---  send Ready        (or Error(text) at any step)
//!  write state.json and --pid-file; exit          open exec.fifo for writing: blocks
//!  keel start: open exec.fifo, read 1 byte  ---->  startContainer hooks, execve
//! ```

use crate::error::{Context, Error, Result};
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use serde::{Deserialize, Serialize};
use std::os::fd::{AsRawFd, OwnedFd};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Msg {
    /// From the intermediate child when the container joins a user namespace by path: init's pid.
    Child(i32),
    Go,
    MountsDone,
    HooksDone(String),
    Ready,
    Error(String),
}

/// How `expect` reports that the peer (keel) went away: init then exits quietly, since keel
/// reports the failure that made it close the channel.
pub const CLOSED: &str = "protocol error: channel closed";

pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    pub fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .context("socketpair")?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    pub fn from_fd(fd: OwnedFd) -> Channel {
        Channel { fd }
    }

    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    pub fn send(&self, m: &Msg) -> Result<()> {
        let buf = serde_json::to_vec(m)?;
        send(self.fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL).context("send to init channel")?;
        Ok(())
    }

    /// Next message; None when the peer closed its end.
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = loop {
            match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => break r.context("receive from init channel")?,
            }
        };
        if n == 0 {
            return Ok(None);
        }
        Ok(Some(serde_json::from_slice(&buf[..n])?))
    }

    /// Receive and require a particular message; a peer error becomes our error.
    pub fn expect(&self, want: fn(&Msg) -> bool, what: &str) -> Result<Msg> {
        match self.recv()? {
            Some(Msg::Error(e)) => Err(Error::msg(e)),
            Some(m) if want(&m) => Ok(m),
            Some(m) => Err(Error::msg(format!(
                "protocol error: expected {what}, got {m:?}"
            ))),
            None => Err(Error::msg(format!("{CLOSED} while waiting for {what}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_errors_propagate() {
        let (a, b) = Channel::pair()
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(a.send(&Msg::HooksDone("{}".into())).is_ok());
        assert_eq!(b.recv().ok().flatten(), Some(Msg::HooksDone("{}".into())));
        assert!(a.send(&Msg::Error("mounts[0]: boom".into())).is_ok());
        let e = b
            .expect(|m| *m == Msg::Go, "Go")
            .err()
            .map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("mounts[0]: boom"));
        drop(a);
        assert_eq!(b.recv().ok(), Some(None));
    }
}
