//! Receiving a file descriptor over a unix socket (SCM_RIGHTS), for `--console-socket`.
//! keel's dev-dependencies have no libc crate, so the few declarations needed are spelled out
//! here for x86_64 Linux (glibc layouts).

use std::ffi::c_void;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

const SOL_SOCKET: i32 = 1;
const SCM_RIGHTS: i32 = 1;
const MSG_CMSG_CLOEXEC: i32 = 0x4000_0000;

#[repr(C)]
struct IoVec {
    iov_base: *mut c_void,
    iov_len: usize,
}

#[repr(C)]
struct MsgHdr {
    msg_name: *mut c_void,
    msg_namelen: u32,
    msg_iov: *mut IoVec,
    msg_iovlen: usize,
    msg_control: *mut c_void,
    msg_controllen: usize,
    msg_flags: i32,
}

#[repr(C)]
struct CmsgHdr {
    cmsg_len: usize,
    cmsg_level: i32,
    cmsg_type: i32,
}

extern "C" {
    fn recvmsg(fd: i32, msg: *mut MsgHdr, flags: i32) -> isize;
}

/// Receives one message carrying exactly one fd; returns (fd, the message's data as text —
/// runc sends the pty's path there).
pub fn recv_fd(sock: &UnixStream) -> std::io::Result<(OwnedFd, String)> {
    let mut data = [0u8; 4096];
    let mut iov = IoVec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // u64 array: 8-byte aligned, as cmsghdr requires.
    let mut control = [0u64; 16];
    let mut msg = MsgHdr {
        msg_name: std::ptr::null_mut(),
        msg_namelen: 0,
        msg_iov: &mut iov,
        msg_iovlen: 1,
        msg_control: control.as_mut_ptr().cast(),
        msg_controllen: std::mem::size_of_val(&control),
        msg_flags: 0,
    };
    // SAFETY: msg points at live buffers of the stated sizes for the duration of the call.
    let n = unsafe { recvmsg(sock.as_raw_fd(), &mut msg, MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let hdr_len = std::mem::size_of::<CmsgHdr>();
    if msg.msg_controllen < hdr_len {
        return Err(std::io::Error::other(format!(
            "no control message (got {n} data bytes)"
        )));
    }
    // SAFETY: the kernel wrote at least one cmsghdr at the start of `control` (checked above).
    let hdr = unsafe { &*(control.as_ptr() as *const CmsgHdr) };
    if hdr.cmsg_level != SOL_SOCKET || hdr.cmsg_type != SCM_RIGHTS || hdr.cmsg_len < hdr_len + 4 {
        return Err(std::io::Error::other(format!(
            "unexpected control message level={} type={} len={}",
            hdr.cmsg_level, hdr.cmsg_type, hdr.cmsg_len
        )));
    }
    let nfds = (hdr.cmsg_len - hdr_len) / 4;
    // SAFETY: CMSG_DATA for a 16-byte header on x86_64 is right after it; nfds ints are there.
    let fds: Vec<i32> = (0..nfds)
        .map(|i| unsafe { *((control.as_ptr() as *const u8).add(hdr_len + 4 * i) as *const i32) })
        .collect();
    // SAFETY: every fd received is now ours; wrap all so extras get closed.
    let mut owned: Vec<OwnedFd> = fds
        .into_iter()
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    if owned.len() != 1 {
        return Err(std::io::Error::other(format!(
            "expected 1 fd, got {}",
            owned.len()
        )));
    }
    let text = String::from_utf8_lossy(&data[..n as usize]).into_owned();
    Ok((owned.remove(0), text))
}
