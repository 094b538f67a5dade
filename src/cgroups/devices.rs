//! linux.resources.devices: the rules (the config's, then runc's default allowed devices), the
//! v1 lines written to devices.allow / devices.deny, and the cgroup v2 eBPF program.
//!
//! Semantics are v1's, on both versions: start from "deny all" (as runc), apply the rules in
//! order. On v1 the kernel does that itself from the lines keel writes. On v2 `emulate` computes
//! the resulting state the way the v1 kernel would (a default plus exceptions, where `a` resets
//! both, a rule in the default's direction removes access from an exception with the same
//! type:major:minor, and the other direction adds to it), and `program` turns that state into a
//! filter: in deny-all mode a request is allowed when one exception grants all the access asked
//! for; in allow-all mode it is denied when one exception covers any of it (runc's emulator and
//! crun's program agree).

use super::bpf::{self, Insn};
use crate::bail;
use crate::error::Result;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Index in linux.resources.devices; None for runc's default rules.
    pub index: Option<usize>,
    pub allow: bool,
    /// 'a', 'c' or 'b'.
    pub typ: char,
    /// None: any ("*").
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// bpf::ACC_* bits.
    pub access: u8,
}

/// runc's default allowed devices, appended after the config's rules.
const DEFAULT_ALLOWED: [(char, Option<u32>, Option<u32>, &str); 11] = [
    ('c', None, None, "m"),
    ('b', None, None, "m"),
    ('c', Some(1), Some(3), "rwm"),    // /dev/null
    ('c', Some(1), Some(8), "rwm"),    // /dev/random
    ('c', Some(1), Some(7), "rwm"),    // /dev/full
    ('c', Some(5), Some(0), "rwm"),    // /dev/tty
    ('c', Some(1), Some(5), "rwm"),    // /dev/zero
    ('c', Some(1), Some(9), "rwm"),    // /dev/urandom
    ('c', Some(136), None, "rwm"),     // /dev/pts/*
    ('c', Some(5), Some(2), "rwm"),    // /dev/ptmx
    ('c', Some(10), Some(200), "rwm"), // /dev/net/tun
];

fn access_bits(field: &str, access: &str) -> Result<u8> {
    let mut bits = 0;
    for c in access.chars() {
        bits |= match c {
            'r' => bpf::ACC_READ,
            'w' => bpf::ACC_WRITE,
            'm' => bpf::ACC_MKNOD,
            _ => bail!("{field}.access: {access:?} is not a combination of r, w and m"),
        };
    }
    if bits == 0 {
        bail!("{field}.access: {access:?} is not a combination of r, w and m");
    }
    Ok(bits)
}

fn access_text(bits: u8) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (bpf::ACC_READ, 'r'),
        (bpf::ACC_WRITE, 'w'),
        (bpf::ACC_MKNOD, 'm'),
    ] {
        if bits & bit != 0 {
            s.push(c);
        }
    }
    s
}

fn number(field: &str, which: &str, n: Option<i64>) -> Result<Option<u32>> {
    match n {
        None | Some(-1) => Ok(None),
        // Kept within i32: the eBPF program compares with 32-bit immediates.
        Some(n) if (0..=i32::MAX as i64).contains(&n) => Ok(Some(n as u32)),
        Some(n) => bail!("{field}.{which}: invalid device number {n}"),
    }
}

fn parse(d: &LinuxDeviceCgroup, field: &str, index: usize) -> Result<Rule> {
    let typ = match d.typ() {
        None | Some(LinuxDeviceType::A) => 'a',
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => 'c',
        Some(LinuxDeviceType::B) => 'b',
        Some(LinuxDeviceType::P) => bail!("{field}.type: \"p\" is not a cgroup device type"),
    };
    let access = access_bits(field, d.access().as_deref().unwrap_or("rwm"))?;
    Ok(Rule {
        index: Some(index),
        allow: d.allow(),
        typ,
        major: number(field, "major", d.major())?,
        minor: number(field, "minor", d.minor())?,
        access,
    })
}

/// The config's rules, validated (errors name `{field}[i]`), then runc's defaults.
pub fn rules(devs: &[LinuxDeviceCgroup], field: &str) -> Result<Vec<Rule>> {
    let mut out = Vec::new();
    for (i, d) in devs.iter().enumerate() {
        out.push(parse(d, &format!("{field}[{i}]"), i)?);
    }
    for (typ, major, minor, access) in DEFAULT_ALLOWED {
        out.push(Rule {
            index: None,
            allow: true,
            typ,
            major,
            minor,
            access: access_bits(field, access)?,
        });
    }
    Ok(out)
}

impl Rule {
    /// The line for devices.allow / devices.deny: "a" or "c 1:3 rwm".
    pub fn v1_line(&self) -> String {
        if self.typ == 'a' {
            return "a".to_string();
        }
        let n = |x: Option<u32>| x.map(|v| v.to_string()).unwrap_or_else(|| "*".into());
        format!(
            "{} {}:{} {}",
            self.typ,
            n(self.major),
            n(self.minor),
            access_text(self.access)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub typ: char,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

/// The v1 device cgroup's state after the rules: a default and its exceptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emulated {
    pub default_allow: bool,
    pub exceptions: Vec<Exception>,
}

pub fn emulate(rules: &[Rule]) -> Emulated {
    let mut e = Emulated {
        default_allow: false,
        exceptions: Vec::new(),
    };
    for r in rules {
        if r.typ == 'a' {
            e.default_allow = r.allow;
            e.exceptions.clear();
            continue;
        }
        let pos = e
            .exceptions
            .iter()
            .position(|x| x.typ == r.typ && x.major == r.major && x.minor == r.minor);
        if r.allow != e.default_allow {
            match pos {
                Some(p) => e.exceptions[p].access |= r.access,
                None => e.exceptions.push(Exception {
                    typ: r.typ,
                    major: r.major,
                    minor: r.minor,
                    access: r.access,
                }),
            }
        } else if let Some(p) = pos {
            e.exceptions[p].access &= !r.access;
            if e.exceptions[p].access == 0 {
                e.exceptions.remove(p);
            }
        }
    }
    e
}

impl Emulated {
    /// The v1 kernel's decision for one request (used to test the program).
    #[cfg(test)]
    pub fn allows(&self, typ: char, major: u32, minor: u32, access: u8) -> bool {
        let hit = |x: &Exception, partial: bool| {
            x.typ == typ
                && x.major.is_none_or(|m| m == major)
                && x.minor.is_none_or(|m| m == minor)
                && if partial {
                    access & x.access != 0
                } else {
                    access & !x.access == 0
                }
        };
        if self.default_allow {
            !self.exceptions.iter().any(|x| hit(x, true))
        } else {
            self.exceptions.iter().any(|x| hit(x, false))
        }
    }
}

/// The BPF_PROG_TYPE_CGROUP_DEVICE program for `rules`: returns 1 to allow, 0 to deny.
///
/// ```text
///   r2 = ctx->access_type & 0xffff      device type (1 block, 2 char)
///   r3 = ctx->access_type >> 16         access asked for (1 mknod, 2 read, 4 write)
///   r4 = ctx->major; r5 = ctx->minor
///   per exception:  if type, access, major, minor match: return !default
///   return default
/// ```
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    use bpf::*;
    let e = emulate(rules);
    let mut p = vec![
        insn(LDX_MEM_W, R2, R1, 0, 0),
        insn(ALU32_AND_K, R2, 0, 0, 0xffff),
        insn(LDX_MEM_W, R3, R1, 0, 0),
        insn(ALU32_RSH_K, R3, 0, 0, 16),
        insn(LDX_MEM_W, R4, R1, 4, 0),
        insn(LDX_MEM_W, R5, R1, 8, 0),
    ];
    let all = ACC_READ | ACC_WRITE | ACC_MKNOD;
    for x in &e.exceptions {
        // Each test jumps past the block; offsets are patched once the block's length is known.
        let mut block: Vec<Insn> = Vec::new();
        let typ = if x.typ == 'b' { DEV_BLOCK } else { DEV_CHAR };
        block.push(insn(JNE_K, R2, 0, 0, typ));
        if x.access != all {
            block.push(insn(ALU32_MOV_X, R1, R3, 0, 0));
            if e.default_allow {
                // A deny exception matches when any of the asked access is denied.
                block.push(insn(ALU32_AND_K, R1, 0, 0, i32::from(x.access)));
                block.push(insn(JEQ_K, R1, 0, 0, 0));
            } else {
                // An allow exception matches when it grants all of the asked access.
                block.push(insn(ALU32_AND_K, R1, 0, 0, i32::from(!x.access & all)));
                block.push(insn(JNE_K, R1, 0, 0, 0));
            }
        }
        if let Some(m) = x.major {
            block.push(insn(JNE_K, R4, 0, 0, m as i32));
        }
        if let Some(m) = x.minor {
            block.push(insn(JNE_K, R5, 0, 0, m as i32));
        }
        block.push(insn(ALU32_MOV_K, R0, 0, 0, i32::from(!e.default_allow)));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let n = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K || ins.code == JEQ_K {
                ins.off = (n - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(ALU32_MOV_K, R0, 0, 0, i32::from(e.default_allow)));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use serde_json::json;

    fn rules_of(v: serde_json::Value) -> Vec<Rule> {
        let devs: Vec<LinuxDeviceCgroup> = serde_json::from_value(v).unwrap();
        rules(&devs, "linux.resources.devices").unwrap()
    }

    /// A tiny interpreter for the instructions `program` emits.
    fn run(prog: &[Insn], typ: i32, access: u8, major: u32, minor: u32) -> u64 {
        use bpf::*;
        let ctx = [((access as u32) << 16) | typ as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 10_000, "program does not terminate");
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1, "loads only from ctx");
                    r[dst] = u64::from(ctx[(i.off / 4) as usize]);
                }
                ALU32_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                ALU32_RSH_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                ALU32_MOV_K => r[dst] = i.imm as u32 as u64,
                ALU32_MOV_X => r[dst] = r[src] as u32 as u64,
                JNE_K => {
                    if r[dst] != i.imm as i64 as u64 {
                        pc = (pc as i64 + i.off as i64) as usize
                    }
                }
                JEQ_K => {
                    if r[dst] == i.imm as i64 as u64 {
                        pc = (pc as i64 + i.off as i64) as usize
                    }
                }
                EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    /// The program agrees with the v1 emulation on every request in a small grid.
    fn agrees(rules: &[Rule]) {
        let prog = program(rules);
        let emu = emulate(rules);
        for (typ, t) in [('c', bpf::DEV_CHAR), ('b', bpf::DEV_BLOCK)] {
            for major in [1, 5, 7, 10, 136, 254] {
                for minor in [0, 2, 3, 5, 200, 229] {
                    for access in 1..=7u8 {
                        assert_eq!(
                            run(&prog, t, access, major, minor) == 1,
                            emu.allows(typ, major, minor, access),
                            "{typ} {major}:{minor} access {access} with {emu:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn runc_default_spec_denies_all_but_the_defaults() {
        let r = rules_of(json!([{"allow": false, "access": "rwm"}]));
        let e = emulate(&r);
        assert!(!e.default_allow);
        assert!(e.allows('c', 1, 3, bpf::ACC_READ | bpf::ACC_WRITE));
        assert!(e.allows('c', 136, 4, bpf::ACC_READ));
        assert!(e.allows('b', 7, 0, bpf::ACC_MKNOD));
        assert!(!e.allows('b', 7, 0, bpf::ACC_READ));
        assert!(!e.allows('c', 1, 11, bpf::ACC_WRITE)); // /dev/kmsg
        agrees(&r);
    }

    #[test]
    fn program_matches_the_emulation() {
        agrees(&rules_of(json!([])));
        agrees(&rules_of(json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"},
            {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "m"},
            {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"},
            {"allow": true, "type": "b", "major": 7, "access": "r"}
        ])));
        // Allow-all, with deny exceptions.
        let r = rules_of(json!([
            {"allow": true, "access": "rwm"},
            {"allow": false, "type": "b", "major": 254, "minor": 0, "access": "w"},
            {"allow": false, "type": "c", "major": 5, "access": "rwm"}
        ]));
        let e = emulate(&r);
        assert!(e.default_allow);
        assert!(!e.allows('b', 254, 0, bpf::ACC_READ | bpf::ACC_WRITE));
        assert!(e.allows('b', 254, 0, bpf::ACC_READ));
        agrees(&r);
    }

    #[test]
    fn later_rules_refine_earlier_ones() {
        // Allowing r then w of the same device merges (v1 exceptions), then w is taken away.
        let r = rules_of(json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 4, "minor": 1, "access": "r"},
            {"allow": true, "type": "c", "major": 4, "minor": 1, "access": "w"},
            {"allow": false, "type": "c", "major": 4, "minor": 1, "access": "w"}
        ]));
        let e = emulate(&r);
        assert!(e.allows('c', 4, 1, bpf::ACC_READ));
        assert!(!e.allows('c', 4, 1, bpf::ACC_WRITE));
    }

    #[test]
    fn unparsable_rules_name_the_field() {
        let bad = |v: serde_json::Value| {
            let devs: Vec<LinuxDeviceCgroup> = serde_json::from_value(v).unwrap();
            rules(&devs, "linux.resources.devices")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            bad(json!([{"allow": true, "type": "c", "major": 1, "access": "rwx"}])),
            "linux.resources.devices[0].access: \"rwx\" is not a combination of r, w and m"
        );
        assert_eq!(
            bad(json!([{"allow": true}, {"allow": true, "type": "b", "major": -7}])),
            "linux.resources.devices[1].major: invalid device number -7"
        );
        assert_eq!(
            bad(json!([{"allow": true, "type": "p"}])),
            "linux.resources.devices[0].type: \"p\" is not a cgroup device type"
        );
        assert_eq!(
            bad(json!([{"allow": true, "type": "c", "access": ""}])),
            "linux.resources.devices[0].access: \"\" is not a combination of r, w and m"
        );
    }

    #[test]
    fn v1_lines() {
        let r = rules_of(json!([{"allow": true, "type": "c", "major": 136, "access": "wr"}]));
        assert_eq!(r[0].v1_line(), "c 136:* rw");
        assert_eq!(r[1].v1_line(), "c *:* m");
        assert_eq!(r.len(), 1 + DEFAULT_ALLOWED.len());
    }
}
