//! The parent <-> init protocol: typed messages, one per SEQPACKET datagram, over one socketpair.
//! init's errors travel back whole (`error::Wire`): the text that already names the config field
//! and the errno, the errno itself and the error's kind. A
//! message may carry one fd (SCM_RIGHTS): `send_fd` attaches it, `recv` keeps it for `take_fd`.
//!
//! ```text
//!  keel create (parent)                          init (cloned child)
//!  ----------------------------------------------------------------------------------------
//!  clone3 into new namespaces and the  -------->  join the v1 cgroups (cgroups::Entry),
//!  cgroup2 directory                              then wait in recv
//!    (user namespace by path: clone an intermediate that joins it, clones init with
//!     CLONE_PARENT into the new namespaces, sends Child(pid) and exits)
//!  write uid_map/gid_map, oom_score_adj
//!  sync 1: send Go  --------------------------->  setns by path, unshare cgroupns, keyring,
//!                                                 mounts[], /dev
//!  sync 2 (only with hooks):                <---  send MountsDone
//!  run prestart + createRuntime hooks
//!  send HooksDone  ---------------------------->  createContainer hooks, pivot_root, sysctl,
//!                                                 console, masked/readonly paths, rlimits,
//!                                                 user, caps, cwd, look up args[0]; load the
//!                                                 seccomp filter (before the caps, or last
//!                                                 before Ready with noNewPrivileges)
//!        (only with SCMP_ACT_NOTIFY rules)  <---  send SeccompListener + the listener fd
//!  connect to linux.seccomp.listenerPath,         (SCM_RIGHTS), right after loading
//!  send it the container process state + fd
//!  sync 3:                                  <---  send Ready        (or Error(wire) at any step)
//!  write state.json and --pid-file; exit          open exec.fifo for writing: blocks
//!  keel start: open exec.fifo, read 1 byte  ---->  startContainer hooks, execve
//!
//!  keel exec: the same clone, sync 1 (Go: join the container's namespaces, become the
//!  process) and sync 3 (Ready), then execve at once.
//! ```

use crate::error::{Context, Error, Result};
use nix::sys::socket::{
    recvmsg, send, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned,
    MsgFlags, SockFlag, SockType,
};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Msg {
    /// From the intermediate child when the container joins a user namespace by path: init's pid.
    Child(i32),
    Go,
    MountsDone,
    HooksDone,
    Ready,
    Error(crate::error::Wire),
    /// Carries the seccomp listener fd (SCMP_ACT_NOTIFY), for the agent at listenerPath.
    SeccompListener,
}

/// How `expect` reports that the peer (keel) went away (kind `ChannelClosed`): init then exits
/// quietly, since keel reports the failure that made it close the channel.
const CLOSED: &str = "protocol error: channel closed";

pub struct Channel {
    fd: OwnedFd,
    /// The fd that came with the last message received, until `take_fd`.
    received: Cell<Option<OwnedFd>>,
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
        Ok((Channel::from_fd(a), Channel::from_fd(b)))
    }

    pub fn from_fd(fd: OwnedFd) -> Channel {
        Channel {
            fd,
            received: Cell::new(None),
        }
    }

    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    pub fn send(&self, m: &Msg) -> Result<()> {
        let buf = serde_json::to_vec(m)?;
        send(self.fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL).context("send to init channel")?;
        Ok(())
    }

    /// Send a message with an fd attached.
    pub fn send_fd(&self, m: &Msg, fd: BorrowedFd<'_>) -> Result<()> {
        let buf = serde_json::to_vec(m)?;
        let fds = [fd.as_raw_fd()];
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &[IoSlice::new(&buf)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .context("send to init channel")?;
        Ok(())
    }

    /// Next message; None when the peer closed its end. An fd that came with it is kept for
    /// `take_fd` (replacing, and so closing, any earlier one not taken).
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let (n, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => {
                    let msg = r.context("receive from init channel")?;
                    let mut fd = None;
                    for c in msg.cmsgs().context("receive from init channel")? {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            for raw in fds {
                                // SAFETY: SCM_RIGHTS installed this fd for us; we own it now.
                                fd = Some(unsafe { OwnedFd::from_raw_fd(raw) });
                            }
                        }
                    }
                    if msg.flags.contains(MsgFlags::MSG_CTRUNC) {
                        return Err(Error::msg(
                            "receive from init channel: control data truncated",
                        ));
                    }
                    if msg.flags.contains(MsgFlags::MSG_TRUNC) {
                        return Err(Error::msg("receive from init channel: message truncated"));
                    }
                    break (msg.bytes, fd);
                }
            }
        };
        if n == 0 {
            return Ok(None);
        }
        if fd.is_some() {
            self.received.set(fd);
        }
        Ok(Some(serde_json::from_slice(&buf[..n])?))
    }

    /// The fd that came with the last message, if any.
    pub fn take_fd(&self) -> Option<OwnedFd> {
        self.received.take()
    }

    /// Receive and require a particular message; a peer error becomes our error.
    pub fn expect(&self, want: fn(&Msg) -> bool, what: &str) -> Result<Msg> {
        match self.recv()? {
            Some(Msg::Error(e)) => Err(Error::from_wire(e)),
            Some(m) if want(&m) => Ok(m),
            Some(m) => Err(Error::msg(format!(
                "protocol error: expected {what}, got {m:?}"
            ))),
            None => Err(Error::of_kind(
                crate::error::Kind::ChannelClosed,
                format!("{CLOSED} while waiting for {what}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn messages_round_trip_and_errors_propagate() {
        let (a, b) = Channel::pair()
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        let wire = |m: &str| Error::msg(m).to_wire();
        assert!(a.send(&Msg::Error(wire("{}"))).is_ok());
        assert_eq!(b.recv().ok().flatten(), Some(Msg::Error(wire("{}"))));
        let boom = Error::from(nix::errno::Errno::EINVAL).context("mounts[0]");
        assert!(a.send(&Msg::Error(boom.to_wire())).is_ok());
        let e = b.expect(|m| *m == Msg::Go, "Go").err();
        assert_eq!(
            e.as_ref().map(|e| e.to_string()).as_deref(),
            Some("mounts[0]: Invalid argument")
        );
        assert_eq!(e.and_then(|e| e.errno()), Some(nix::errno::Errno::EINVAL));
        drop(a);
        assert_eq!(b.recv().ok(), Some(None));
        let closed = b.expect(|m| *m == Msg::Go, "Go").err().map(|e| e.kind());
        assert_eq!(closed, Some(crate::error::Kind::ChannelClosed));
    }

    #[test]
    fn an_fd_travels_with_its_message() {
        let (a, b) = Channel::pair()
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        let (r, w) = nix::unistd::pipe().unwrap_or_else(|e| panic!("{e}"));
        assert!(a.send_fd(&Msg::SeccompListener, r.as_fd()).is_ok());
        drop(r);
        assert!(a.send(&Msg::Ready).is_ok());
        assert_eq!(b.recv().ok().flatten(), Some(Msg::SeccompListener));
        let got = b.take_fd().unwrap_or_else(|| panic!("no fd"));
        assert!(b.take_fd().is_none());
        assert_eq!(nix::unistd::write(&w, b"x").ok(), Some(1));
        let mut buf = [0u8; 1];
        assert_eq!(nix::unistd::read(&got, &mut buf).ok(), Some(1));
        assert_eq!(b.recv().ok().flatten(), Some(Msg::Ready));
        assert!(b.take_fd().is_none());
    }
}
