//! bpf(2) for cgroup v2 device control: the few instructions the device filter uses, and
//! BPF_PROG_LOAD (type BPF_PROG_TYPE_CGROUP_DEVICE) + BPF_PROG_ATTACH (BPF_CGROUP_DEVICE) on the
//! container's cgroup. The attached program holds itself alive: once attached, keel closes its
//! fd and the kernel drops the program with the cgroup.

use crate::error::{Error, Result};
use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// One eBPF instruction, as `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Registers.
pub const R0: u8 = 0;
pub const R1: u8 = 1;
pub const R2: u8 = 2;
pub const R3: u8 = 3;
pub const R4: u8 = 4;
pub const R5: u8 = 5;

// Opcodes (class | op | source), from libc's classic BPF parts where it has them; libc has none
// of the eBPF-only ones (linux/bpf.h's BPF_MOV, BPF_JNE, BPF_EXIT).
const BPF_MOV: u32 = 0xb0;
const BPF_JNE: u32 = 0x50;
const BPF_EXIT: u32 = 0x90;
pub const LDX_MEM_W: u8 = (libc::BPF_LDX | libc::BPF_MEM | libc::BPF_W) as u8;
pub const ALU32_AND_K: u8 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u8;
pub const ALU32_RSH_K: u8 = (libc::BPF_ALU | libc::BPF_RSH | libc::BPF_K) as u8;
pub const ALU32_MOV_K: u8 = (libc::BPF_ALU | BPF_MOV | libc::BPF_K) as u8;
pub const ALU32_MOV_X: u8 = (libc::BPF_ALU | BPF_MOV | libc::BPF_X) as u8;
pub const JEQ_K: u8 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u8;
pub const JNE_K: u8 = (libc::BPF_JMP | BPF_JNE | libc::BPF_K) as u8;
pub const EXIT: u8 = (libc::BPF_JMP | BPF_EXIT) as u8;

pub fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (dst & 0x0f) | (src << 4),
        off,
        imm,
    }
}

// struct bpf_cgroup_dev_ctx { u32 access_type /* (access << 16) | type */; u32 major; u32 minor; }
pub const DEV_BLOCK: i32 = 1; // BPF_DEVCG_DEV_BLOCK
pub const DEV_CHAR: i32 = 2; // BPF_DEVCG_DEV_CHAR
pub const ACC_MKNOD: u8 = 1; // BPF_DEVCG_ACC_MKNOD
pub const ACC_READ: u8 = 2; // BPF_DEVCG_ACC_READ
pub const ACC_WRITE: u8 = 4; // BPF_DEVCG_ACC_WRITE

// linux/bpf.h, which libc does not cover.
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;

/// The head of `union bpf_attr` for BPF_PROG_LOAD (the kernel zero-fills the rest).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for BPF_PROG_ATTACH.
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> nix::Result<libc::c_long> {
    // SAFETY: `attr` is a properly laid-out head of `union bpf_attr` for `cmd`, valid for the
    // call, and its size is passed so the kernel reads no further.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    })
}

/// Load a BPF_PROG_TYPE_CGROUP_DEVICE program. On failure the verifier's log is in the error.
fn load(insns: &[Insn]) -> Result<OwnedFd> {
    let license = b"Apache\0";
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"keel_devices");
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: BPF_PROG_LOAD returned a new fd that nothing else owns.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
        Err(e) => {
            // Again with the verifier log, to say why.
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            if let Ok(fd) = bpf(BPF_PROG_LOAD, &mut attr) {
                // SAFETY: as above.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
            }
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let mut last: Vec<&str> = text.lines().rev().take(3).collect();
            last.reverse();
            let why = if last.is_empty() {
                String::new()
            } else {
                format!(" (verifier: {})", last.join(" / "))
            };
            Err(Error::msg(format!(
                "BPF_PROG_LOAD: {}{why}",
                Error::from(e)
            )))
        }
    }
}

/// Load `insns` and attach them to the cgroup directory `dir` (BPF_F_ALLOW_MULTI, as runc and
/// systemd do, so programs of the ancestors keep applying too).
pub fn attach_device_filter(dir: &Path, insns: &[Insn]) -> Result<()> {
    let prog = load(insns)?;
    let cg = std::fs::File::open(dir)
        .map_err(|e| Error::from(e).context(format!("open {}", dir.display())))?;
    let mut attr = ProgAttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr)
        .map_err(|e| Error::from(e).context(format!("BPF_PROG_ATTACH to {}", dir.display())))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    /// The kernel's verifier accepts the device filter (needs root: `make unit` as a user says
    /// so and skips it; `make test` runs as root).
    #[test]
    fn the_verifier_accepts_the_device_filter() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP cgroups::bpf::the_verifier_accepts_the_device_filter: needs root (BPF_PROG_LOAD)");
            return;
        }
        let devs: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
            serde_json::from_value(serde_json::json!([{"allow": false, "access": "rwm"},
                               {"allow": true, "type": "b", "major": 7, "access": "r"}]))
            .unwrap();
        let rules = super::super::devices::rules(&devs, "devices").unwrap();
        let prog = super::super::devices::program(&rules);
        if let Err(e) = load(&prog) {
            panic!("{e}");
        }
        // And a broken program is refused with the verifier's reason.
        let e = load(&prog[..prog.len() - 1]).err().map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.starts_with("BPF_PROG_LOAD: ")),
            "{e:?}"
        );
    }
}
