//! Classic BPF for seccomp: the instruction encoding, a small assembler with symbolic labels, the
//! code generator for keel's profile IR (`Profile`), and a structural check of its output. Pure:
//! nothing here touches the kernel, so all of it is unit-tested (the tests add an interpreter).
//!
//! Program layout (every jump is forward, as cBPF requires):
//!
//! ```text
//!   ld arch; jeq AUDIT_ARCH_X86_64 -> amd64; jeq AUDIT_ARCH_I386 -> i386; ret BAD_ARCH
//!   amd64: ld nr; jset __X32_SYSCALL_BIT -> x32 (or BAD_ARCH) : x86_64 (or BAD_ARCH)
//!   x86_64, x32 sections; i386: ld nr, its section. A section is a binary search (jge) over
//!   the ranges of syscall numbers that share an outcome, each leaf the outcome inline:
//!     ret DEFAULT | ret ACTION | ret ERRNO(ENOSYS) (runc's stub: above the largest number the
//!     profile names) | a syscall's rules: for each, in precedence order, its argument
//!     comparisons (a failure jumps to the next rule), then ret ACTION; last, ret DEFAULT
//! ```
//!
//! A dense allow-list is then a handful of ranges: Docker's profile takes ~640 instructions for
//! three ABIs and at most 20 steps per call.
//!
//! Conditional jumps reach at most 255 instructions; `Asm::finish` rewrites any that must go
//! further into `jcond 0,1; ja T; ja F` and repeats until the layout is stable.

use std::collections::BTreeMap;

// The opcodes keel emits, from libc's classic BPF parts (u32 there, u16 in `sock_filter`).
pub const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
pub const ALU_AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
pub const JMP_JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
pub const JMP_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
pub const JMP_JGT_K: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
pub const JMP_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
pub const JMP_JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
pub const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// The kernel's limit on a filter's length.
pub const MAX_INSNS: usize = libc::BPF_MAXINSNS as usize;

// linux/audit.h and asm/unistd_x32.h: libc exports no AUDIT_ARCH_* at all, and
// __X32_SYSCALL_BIT only when building for the x32 target itself.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e; // EM_X86_64 | __AUDIT_ARCH_64BIT | _LE
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003; // EM_386 | __AUDIT_ARCH_LE
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Offsets into `struct seccomp_data`, the packet a filter reads. x86 is little-endian: an
/// argument's low word comes first.
const OFF_NR: u32 = std::mem::offset_of!(libc::seccomp_data, nr) as u32;
const OFF_ARCH: u32 = std::mem::offset_of!(libc::seccomp_data, arch) as u32;
const OFF_ARGS: u32 = std::mem::offset_of!(libc::seccomp_data, args) as u32;
pub const SECCOMP_DATA_SIZE: u32 = std::mem::size_of::<libc::seccomp_data>() as u32;

fn off_lo(index: u8) -> u32 {
    OFF_ARGS + 8 * u32::from(index)
}

fn off_hi(index: u8) -> u32 {
    off_lo(index) + 4
}

/// One `struct sock_filter`; the same layout as libc's (checked in seccomp.rs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// SCMP_CMP_*; for `MaskedEq`, `value` is the mask and `value_two` the expected result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    MaskedEq,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cond {
    pub index: u8,
    pub op: Op,
    pub value: u64,
    pub value_two: u64,
}

/// All of `conds` hold (AND) -> return `action` (a SECCOMP_RET_* value with its data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub action: u32,
    pub conds: Vec<Cond>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Abi {
    X86_64,
    X32,
    I386,
}

impl Abi {
    /// i386 arguments are 32 bits wide (the kernel zero-extends them); like libseccomp, keel then
    /// compares the low word only.
    fn wide(self) -> bool {
        self != Abi::I386
    }
}

/// The rules of one ABI: syscall number -> its rules, most restrictive action first.
#[derive(Debug, Default)]
pub struct AbiRules {
    pub syscalls: BTreeMap<u32, Vec<Rule>>,
    /// Return ERRNO(ENOSYS) for numbers above this one (runc's stub for syscalls newer than the
    /// profile).
    pub enosys_above: Option<u32>,
}

#[derive(Debug)]
pub struct Profile {
    pub default: u32,
    pub bad_arch: u32,
    pub abis: BTreeMap<Abi, AbiRules>,
}

pub const RET_ERRNO_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Label(usize);

enum Item {
    Here(Label),
    Stmt(Insn),
    Jump {
        code: u16,
        k: u32,
        t: Label,
        f: Label,
    },
}

/// Instructions with symbolic jump targets.
#[derive(Default)]
struct Asm {
    items: Vec<Item>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    fn here(&mut self, l: Label) {
        self.items.push(Item::Here(l));
    }

    fn stmt(&mut self, code: u16, k: u32) {
        self.items.push(Item::Stmt(Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }));
    }

    fn ld(&mut self, off: u32) {
        self.stmt(LD_W_ABS, off);
    }

    fn and(&mut self, k: u32) {
        self.stmt(ALU_AND_K, k);
    }

    fn ret(&mut self, k: u32) {
        self.stmt(RET_K, k);
    }

    fn jump(&mut self, code: u16, k: u32, t: Label, f: Label) {
        self.items.push(Item::Jump { code, k, t, f });
    }

    /// Resolve labels into offsets, widening conditional jumps that cannot reach their target
    /// until nothing changes (widening only moves later code further away, so it terminates).
    fn finish(self) -> Result<Vec<Insn>, String> {
        let mut long = vec![false; self.items.len()];
        loop {
            let (pos, at) = self.layout(&long)?;
            let mut changed = false;
            for (i, item) in self.items.iter().enumerate() {
                if let Item::Jump { t, f, .. } = item {
                    if !long[i] {
                        let base = pos[i] + 1;
                        if dist(base, at[t.0])? > 255 || dist(base, at[f.0])? > 255 {
                            long[i] = true;
                            changed = true;
                        }
                    }
                }
            }
            if !changed {
                return self.emit(&long, &pos, &at);
            }
        }
    }

    /// Position of every item and of every label.
    fn layout(&self, long: &[bool]) -> Result<(Vec<usize>, Vec<usize>), String> {
        let mut pos = Vec::with_capacity(self.items.len());
        let mut at = vec![usize::MAX; self.labels];
        let mut p = 0;
        for (i, item) in self.items.iter().enumerate() {
            pos.push(p);
            match item {
                Item::Here(l) => at[l.0] = p,
                Item::Stmt(_) => p += 1,
                Item::Jump { .. } => p += if long[i] { 3 } else { 1 },
            }
        }
        if let Some(l) = at.iter().position(|&p| p == usize::MAX) {
            return Err(format!("label {l} is never placed"));
        }
        Ok((pos, at))
    }

    fn emit(&self, long: &[bool], pos: &[usize], at: &[usize]) -> Result<Vec<Insn>, String> {
        let mut out = Vec::new();
        let ja = |from: usize, to: usize| -> Result<Insn, String> {
            Ok(Insn {
                code: JMP_JA,
                jt: 0,
                jf: 0,
                k: u32::try_from(dist(from + 1, to)?).map_err(|e| e.to_string())?,
            })
        };
        for (i, item) in self.items.iter().enumerate() {
            match item {
                Item::Here(_) => {}
                Item::Stmt(insn) => out.push(*insn),
                Item::Jump { code, k, t, f } if long[i] => {
                    out.push(Insn {
                        code: *code,
                        jt: 0,
                        jf: 1,
                        k: *k,
                    });
                    out.push(ja(pos[i] + 1, at[t.0])?);
                    out.push(ja(pos[i] + 2, at[f.0])?);
                }
                Item::Jump { code, k, t, f } => {
                    let short =
                        |to: usize| u8::try_from(dist(pos[i] + 1, to)?).map_err(|e| e.to_string());
                    out.push(Insn {
                        code: *code,
                        jt: short(at[t.0])?,
                        jf: short(at[f.0])?,
                        k: *k,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// Offset of a forward jump from `base` (the instruction after the jump) to `to`.
fn dist(base: usize, to: usize) -> Result<usize, String> {
    to.checked_sub(base)
        .ok_or_else(|| format!("backward jump from {} to {to}", base.saturating_sub(1)))
}

fn hi(v: u64) -> u32 {
    (v >> 32) as u32
}

fn lo(v: u64) -> u32 {
    v as u32
}

/// Jump to `ok` if the condition holds, else to `fail`; clobbers A.
fn cond(a: &mut Asm, c: &Cond, wide: bool, ok: Label, fail: Label) {
    let (v, w) = (c.value, c.value_two);
    if !wide {
        // One 32-bit word: the argument's low word against the value's low word.
        a.ld(off_lo(c.index));
        match c.op {
            Op::Eq => a.jump(JMP_JEQ_K, lo(v), ok, fail),
            Op::Ne => a.jump(JMP_JEQ_K, lo(v), fail, ok),
            Op::Gt => a.jump(JMP_JGT_K, lo(v), ok, fail),
            Op::Ge => a.jump(JMP_JGE_K, lo(v), ok, fail),
            Op::Lt => a.jump(JMP_JGE_K, lo(v), fail, ok),
            Op::Le => a.jump(JMP_JGT_K, lo(v), fail, ok),
            Op::MaskedEq => {
                a.and(lo(v));
                a.jump(JMP_JEQ_K, lo(w), ok, fail)
            }
        }
        return;
    }
    // 64 bits in two 32-bit words: the high words decide unless they are equal, then the low
    // words do (unsigned, as libseccomp compares).
    let low = a.label();
    match c.op {
        Op::Eq | Op::Ne | Op::MaskedEq => {
            let (on_eq, on_ne) = if c.op == Op::Ne {
                (fail, ok)
            } else {
                (ok, fail)
            };
            a.ld(off_hi(c.index));
            if c.op == Op::MaskedEq {
                a.and(hi(v));
                a.jump(JMP_JEQ_K, hi(w), low, on_ne);
            } else {
                a.jump(JMP_JEQ_K, hi(v), low, on_ne);
            }
            a.here(low);
            a.ld(off_lo(c.index));
            if c.op == Op::MaskedEq {
                a.and(lo(v));
                a.jump(JMP_JEQ_K, lo(w), on_eq, on_ne);
            } else {
                a.jump(JMP_JEQ_K, lo(v), on_eq, on_ne);
            }
        }
        Op::Gt | Op::Ge | Op::Lt | Op::Le => {
            // A high word above v's means arg > v: Gt/Ge hold, Lt/Le fail; below, the opposite.
            let greater_holds = matches!(c.op, Op::Gt | Op::Ge);
            let (above, below) = if greater_holds {
                (ok, fail)
            } else {
                (fail, ok)
            };
            let eq_hi = a.label();
            a.ld(off_hi(c.index));
            a.jump(JMP_JGT_K, hi(v), above, eq_hi);
            a.here(eq_hi);
            a.jump(JMP_JEQ_K, hi(v), low, below);
            a.here(low);
            a.ld(off_lo(c.index));
            match c.op {
                Op::Gt => a.jump(JMP_JGT_K, lo(v), ok, fail),
                Op::Ge => a.jump(JMP_JGE_K, lo(v), ok, fail),
                Op::Lt => a.jump(JMP_JGE_K, lo(v), fail, ok),
                _ => a.jump(JMP_JGT_K, lo(v), fail, ok),
            }
        }
    }
}

/// The first rule, when it has no conditions: the whole block is then one `ret`.
fn single_ret(rules: &[Rule]) -> Option<u32> {
    rules
        .first()
        .filter(|r| r.conds.is_empty())
        .map(|r| r.action)
}

/// What a range of syscall numbers leads to.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Target<'a> {
    Ret(u32),
    Rules(&'a [Rule]),
}

/// Append a range, merging it with the last one when they start together (the new outcome
/// wins) or lead to the same outcome.
fn push<'a>(out: &mut Vec<(u32, Target<'a>)>, start: u32, t: Target<'a>) {
    match out.last_mut() {
        Some(last) if last.0 == start => last.1 = t,
        Some(last) if last.1 == t => {}
        _ => out.push((start, t)),
    }
}

/// An ABI's syscall numbers as maximal ranges of equal outcome: (first number, outcome), sorted,
/// starting at 0. The binary search then costs one `jge` per range boundary.
fn ranges(r: &AbiRules, default: u32) -> Vec<(u32, Target<'_>)> {
    let mut out = vec![(0, Target::Ret(default))];
    for (nr, rules) in &r.syscalls {
        let t = match single_ret(rules) {
            Some(action) => Target::Ret(action),
            None => Target::Rules(rules),
        };
        push(&mut out, *nr, t);
        if let Some(next) = nr.checked_add(1) {
            push(&mut out, next, Target::Ret(default));
        }
    }
    if let Some(first) = r.enosys_above.and_then(|m| m.checked_add(1)) {
        out.retain(|(start, _)| *start <= first);
        push(&mut out, first, Target::Ret(RET_ERRNO_ENOSYS));
    }
    // Overwriting an outcome can leave equal neighbours behind.
    out.dedup_by(|later, earlier| later.1 == earlier.1);
    out
}

struct Gen {
    a: Asm,
}

impl Gen {
    /// Binary search over the ranges; each leaf is its outcome's code, inline.
    fn tree(&mut self, ranges: &[(u32, Target<'_>)], wide: bool, default: u32) {
        match ranges {
            [] => {}
            [(_, Target::Ret(action))] => self.a.ret(*action),
            [(_, Target::Rules(rules))] => self.rules(rules, wide, default),
            _ => {
                let mid = ranges.len() / 2;
                let (left, right) = (self.a.label(), self.a.label());
                self.a.jump(JMP_JGE_K, ranges[mid].0, right, left);
                self.a.here(left);
                self.tree(&ranges[..mid], wide, default);
                self.a.here(right);
                self.tree(&ranges[mid..], wide, default);
            }
        }
    }

    /// Each rule in turn: its conditions (a failure moves on to the next rule), `ret ACTION`;
    /// when no rule matched, the default action.
    fn rules(&mut self, rules: &[Rule], wide: bool, default: u32) {
        for rule in rules {
            if rule.conds.is_empty() {
                self.a.ret(rule.action);
                return;
            }
            let next = self.a.label();
            for c in &rule.conds {
                let ok = self.a.label();
                cond(&mut self.a, c, wide, ok, next);
                self.a.here(ok);
            }
            self.a.ret(rule.action);
            self.a.here(next);
        }
        self.a.ret(default);
    }

    fn section(&mut self, abi: Abi, r: &AbiRules, default: u32) {
        self.tree(&ranges(r, default), abi.wide(), default);
    }
}

/// Why `compile` failed: a profile larger than the kernel takes, or a bug in the compiler.
#[derive(Debug)]
pub enum CompileError {
    /// The program would have this many instructions.
    TooLarge(usize),
    Internal(String),
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompileError::TooLarge(n) => {
                write!(f, "{n} instructions (the kernel takes 1 to {MAX_INSNS})")
            }
            CompileError::Internal(e) => f.write_str(e),
        }
    }
}

/// Compile a profile to a checked program.
pub fn compile(p: &Profile) -> Result<Vec<Insn>, CompileError> {
    let mut g = Gen { a: Asm::default() };
    let x86_64 = p.abis.get(&Abi::X86_64);
    let x32 = p.abis.get(&Abi::X32);
    let i386 = p.abis.get(&Abi::I386);

    g.a.ld(OFF_ARCH);
    let (amd64, i386_l) = (g.a.label(), g.a.label());
    if x86_64.is_some() || x32.is_some() {
        let next = g.a.label();
        g.a.jump(JMP_JEQ_K, AUDIT_ARCH_X86_64, amd64, next);
        g.a.here(next);
    }
    if i386.is_some() {
        let next = g.a.label();
        g.a.jump(JMP_JEQ_K, AUDIT_ARCH_I386, i386_l, next);
        g.a.here(next);
    }
    g.a.ret(p.bad_arch);

    g.a.here(amd64);
    if x86_64.is_some() || x32.is_some() {
        // x86_64 and x32 share AUDIT_ARCH_X86_64; x32 numbers carry __X32_SYSCALL_BIT.
        g.a.ld(OFF_NR);
        let (l64, lx32, bad) = (g.a.label(), g.a.label(), g.a.label());
        let t = if x32.is_some() { lx32 } else { bad };
        let f = if x86_64.is_some() { l64 } else { bad };
        g.a.jump(JMP_JSET_K, X32_SYSCALL_BIT, t, f);
        g.a.here(bad);
        g.a.ret(p.bad_arch);
        g.a.here(l64);
        if let Some(r) = x86_64 {
            g.section(Abi::X86_64, r, p.default);
        }
        g.a.here(lx32);
        if let Some(r) = x32 {
            g.section(Abi::X32, r, p.default);
        }
    }
    g.a.here(i386_l);
    if let Some(r) = i386 {
        g.a.ld(OFF_NR);
        g.section(Abi::I386, r, p.default);
    }
    let prog = g.a.finish().map_err(CompileError::Internal)?;
    if prog.len() > MAX_INSNS {
        return Err(CompileError::TooLarge(prog.len()));
    }
    check(&prog).map_err(CompileError::Internal)?;
    Ok(prog)
}

/// What the kernel's checker and seccomp's own checks require, plus "ends in RET": jumps are
/// forward-only and land inside the program and the last instruction is a RET, so every path
/// reaches a RET.
pub fn check(prog: &[Insn]) -> Result<(), String> {
    if prog.is_empty() || prog.len() > MAX_INSNS {
        return Err(format!(
            "{} instructions (the kernel takes 1 to {MAX_INSNS})",
            prog.len()
        ));
    }
    let len = prog.len();
    let lands = |from: usize, off: usize| from + 1 + off < len;
    for (i, insn) in prog.iter().enumerate() {
        let ok = match insn.code {
            LD_W_ABS => insn.k < SECCOMP_DATA_SIZE && insn.k % 4 == 0,
            ALU_AND_K | RET_K => true,
            JMP_JA => lands(i, insn.k as usize),
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K | JMP_JSET_K => {
                lands(i, insn.jt.into()) && lands(i, insn.jf.into())
            }
            _ => false,
        };
        if !ok {
            return Err(format!("instruction {i} is invalid: {insn:?}"));
        }
    }
    if prog[len - 1].code != RET_K {
        return Err("the last instruction is not a RET".into());
    }
    Ok(())
}

#[cfg(test)]
pub mod interp {
    //! A cBPF interpreter for the instructions `compile` emits, to run filters in tests.

    use super::*;

    pub struct Data {
        pub nr: u32,
        pub arch: u32,
        pub args: [u64; 6],
    }

    impl Data {
        pub fn x86_64(nr: u32, args: &[u64]) -> Data {
            let mut a = [0u64; 6];
            a[..args.len()].copy_from_slice(args);
            Data {
                nr,
                arch: AUDIT_ARCH_X86_64,
                args: a,
            }
        }

        fn word(&self, off: u32) -> u32 {
            match off {
                0 => self.nr,
                4 => self.arch,
                8 | 12 => 0,
                _ => {
                    let arg = self.args[((off - 16) / 8) as usize];
                    if off.is_multiple_of(8) {
                        arg as u32
                    } else {
                        (arg >> 32) as u32
                    }
                }
            }
        }
    }

    /// The filter's verdict and how many instructions it took.
    pub fn run(prog: &[Insn], d: &Data) -> (u32, usize) {
        let (mut a, mut pc, mut steps) = (0u32, 0usize, 0usize);
        loop {
            let i = prog[pc];
            pc += 1;
            steps += 1;
            match i.code {
                LD_W_ABS => a = d.word(i.k),
                ALU_AND_K => a &= i.k,
                JMP_JA => pc += i.k as usize,
                JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K | JMP_JSET_K => {
                    let taken = match i.code {
                        JMP_JEQ_K => a == i.k,
                        JMP_JGT_K => a > i.k,
                        JMP_JGE_K => a >= i.k,
                        _ => a & i.k != 0,
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
                RET_K => return (i.k, steps),
                c => panic!("opcode {c:#x} at {}", pc - 1),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report
mod tests {
    use super::interp::{run, Data};
    use super::*;

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const KILL: u32 = libc::SECCOMP_RET_KILL_THREAD;
    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;

    fn profile(default: u32, rules: &[(u32, Rule)]) -> Profile {
        let mut r = AbiRules::default();
        for (nr, rule) in rules {
            r.syscalls.entry(*nr).or_default().push(rule.clone());
        }
        Profile {
            default,
            bad_arch: KILL,
            abis: BTreeMap::from([(Abi::X86_64, r)]),
        }
    }

    fn rule(action: u32, conds: &[(u8, Op, u64, u64)]) -> Rule {
        Rule {
            action,
            conds: conds
                .iter()
                .map(|&(index, op, value, value_two)| Cond {
                    index,
                    op,
                    value,
                    value_two,
                })
                .collect(),
        }
    }

    fn holds(op: Op, arg: u64, v: u64, w: u64) -> bool {
        match op {
            Op::Ne => arg != v,
            Op::Lt => arg < v,
            Op::Le => arg <= v,
            Op::Eq => arg == v,
            Op::Ge => arg >= v,
            Op::Gt => arg > v,
            Op::MaskedEq => arg & v == w,
        }
    }

    const OPS: [Op; 7] = [Op::Ne, Op::Lt, Op::Le, Op::Eq, Op::Ge, Op::Gt, Op::MaskedEq];

    /// Values around the word boundaries, where a hi/lo split goes wrong first.
    const EDGES: [u64; 12] = [
        0,
        1,
        7,
        8,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0001,
        0x1_ffff_ffff,
        0x2_0000_0000,
        0x8000_0000_0000_0000,
        u64::MAX - 1,
        u64::MAX,
    ];

    #[test]
    fn every_op_matches_a_64_bit_reference_on_word_edges() {
        for op in OPS {
            for &v in &EDGES {
                for &w in &[0, 8, 0x1_0000_0000, v] {
                    let p = profile(ALLOW, &[(135, rule(EPERM, &[(2, op, v, w)]))]);
                    let prog = compile(&p).unwrap();
                    for &arg in &EDGES {
                        let want = if holds(op, arg, v, w) { EPERM } else { ALLOW };
                        let args = [0, 0, arg];
                        let (got, _) = run(&prog, &Data::x86_64(135, &args));
                        assert_eq!(got, want, "{op:?} arg={arg:#x} v={v:#x} w={w:#x}");
                    }
                }
            }
        }
    }

    #[test]
    fn i386_compares_the_low_word_only() {
        let mut r = AbiRules::default();
        r.syscalls.insert(
            136,
            vec![rule(EPERM, &[(0, Op::Eq, 0xffff_ffff_ffff_ffff, 0)])],
        );
        let p = Profile {
            default: ALLOW,
            bad_arch: KILL,
            abis: BTreeMap::from([(Abi::I386, r)]),
        };
        let prog = compile(&p).unwrap();
        let d = |arg| Data {
            nr: 136,
            arch: AUDIT_ARCH_I386,
            args: [arg, 0, 0, 0, 0, 0],
        };
        assert_eq!(run(&prog, &d(0xffff_ffff)).0, EPERM);
        assert_eq!(run(&prog, &d(0xffff_fffe)).0, ALLOW);
        // An x86_64 call is a bad architecture for an i386-only profile.
        assert_eq!(run(&prog, &Data::x86_64(136, &[])).0, KILL);
    }

    #[test]
    fn conditions_of_one_rule_are_anded_and_rules_tried_in_order() {
        let p = profile(
            ALLOW,
            &[
                (
                    83,
                    rule(0, &[(0, Op::Eq, 1, 0), (1, Op::MaskedEq, 0o002, 0o002)]),
                ),
                (83, rule(EPERM, &[(1, Op::Gt, 0o700, 0)])),
            ],
        );
        let prog = compile(&p).unwrap();
        let go = |a0, a1| run(&prog, &Data::x86_64(83, &[a0, a1])).0;
        assert_eq!(go(1, 0o777), 0, "both conditions of rule 1");
        assert_eq!(go(2, 0o777), EPERM, "rule 1 fails on arg0, rule 2 matches");
        assert_eq!(go(1, 0o600), ALLOW);
        assert_eq!(go(0, 0o700), ALLOW);
    }

    #[test]
    fn many_syscalls_need_long_jumps_and_still_dispatch_right() {
        // 300 syscalls, each with a conditional rule of its own: jumps far beyond 255.
        let rules: Vec<(u32, Rule)> = (0..300)
            .map(|nr| {
                (
                    nr,
                    rule(
                        libc::SECCOMP_RET_ERRNO | nr,
                        &[(0, Op::Eq, u64::from(nr), 0)],
                    ),
                )
            })
            .collect();
        let p = profile(ALLOW, &rules);
        let prog = compile(&p).unwrap();
        assert!(prog.len() > 300 * 6, "{}", prog.len());
        assert!(prog.iter().any(|i| i.code == JMP_JA));
        for nr in 0..320 {
            let hit = run(&prog, &Data::x86_64(nr, &[u64::from(nr)])).0;
            let miss = run(&prog, &Data::x86_64(nr, &[u64::from(nr) + 1])).0;
            let want = if nr < 300 {
                libc::SECCOMP_RET_ERRNO | nr
            } else {
                ALLOW
            };
            assert_eq!(hit, want, "nr {nr}");
            assert_eq!(miss, ALLOW, "nr {nr}");
        }
    }

    #[test]
    fn dispatch_is_a_binary_search_over_ranges() {
        // A dense allow-list costs one `jge` per boundary, not one compare per syscall.
        let dense: Vec<(u32, Rule)> = (0..400).map(|nr| (nr, rule(ALLOW, &[]))).collect();
        let prog = compile(&profile(EPERM, &dense)).unwrap();
        assert!(prog.len() < 12, "{}", prog.len());
        assert_eq!(run(&prog, &Data::x86_64(399, &[])).0, ALLOW);
        assert_eq!(run(&prog, &Data::x86_64(400, &[])).0, EPERM);
        // The worst case, every other number: still a logarithmic number of steps.
        let sparse: Vec<(u32, Rule)> = (0..400).map(|nr| (nr * 2, rule(EPERM, &[]))).collect();
        let prog = compile(&profile(ALLOW, &sparse)).unwrap();
        let worst = (0..900)
            .map(|nr| run(&prog, &Data::x86_64(nr, &[])).1)
            .max()
            .unwrap_or(0);
        assert!(worst < 20, "{worst} steps");
        assert_eq!(run(&prog, &Data::x86_64(398, &[])).0, EPERM);
        assert_eq!(run(&prog, &Data::x86_64(399, &[])).0, ALLOW);
        assert_eq!(run(&prog, &Data::x86_64(800, &[])).0, ALLOW);
    }

    #[test]
    fn x32_and_enosys_sections() {
        let mut x64 = AbiRules::default();
        x64.syscalls.insert(83, vec![rule(ALLOW, &[])]);
        x64.enosys_above = Some(300);
        let mut x32 = AbiRules::default();
        x32.syscalls
            .insert(X32_SYSCALL_BIT | 83, vec![rule(ALLOW, &[])]);
        let p = Profile {
            default: EPERM,
            bad_arch: KILL,
            abis: BTreeMap::from([(Abi::X86_64, x64), (Abi::X32, x32)]),
        };
        let prog = compile(&p).unwrap();
        let go = |nr| run(&prog, &Data::x86_64(nr, &[])).0;
        assert_eq!(go(83), ALLOW);
        assert_eq!(go(84), EPERM);
        assert_eq!(go(301), RET_ERRNO_ENOSYS);
        assert_eq!(go(X32_SYSCALL_BIT | 83), ALLOW);
        // No stub for x32: its numbers are all above 300 but it has none configured.
        assert_eq!(go(X32_SYSCALL_BIT | 84), EPERM);
        let i386 = Data {
            nr: 83,
            arch: AUDIT_ARCH_I386,
            args: [0; 6],
        };
        assert_eq!(run(&prog, &i386).0, KILL);
    }

    #[test]
    fn x86_64_only_kills_x32_calls() {
        let prog = compile(&profile(ALLOW, &[])).unwrap();
        assert_eq!(run(&prog, &Data::x86_64(1, &[])).0, ALLOW);
        assert_eq!(run(&prog, &Data::x86_64(X32_SYSCALL_BIT | 1, &[])).0, KILL);
    }

    /// The profile's meaning, evaluated directly: what the program must compute.
    fn reference(p: &Profile, d: &Data) -> u32 {
        let abi = match d.arch {
            AUDIT_ARCH_X86_64 if d.nr & X32_SYSCALL_BIT != 0 => Abi::X32,
            AUDIT_ARCH_X86_64 => Abi::X86_64,
            AUDIT_ARCH_I386 => Abi::I386,
            _ => return p.bad_arch,
        };
        let Some(r) = p.abis.get(&abi) else {
            return p.bad_arch;
        };
        if r.enosys_above.is_some_and(|max| d.nr > max) {
            return RET_ERRNO_ENOSYS;
        }
        let arg = |i: u8| {
            let a = d.args[usize::from(i)];
            if abi.wide() {
                a
            } else {
                a & 0xffff_ffff
            }
        };
        let val = |v: u64| if abi.wide() { v } else { v & 0xffff_ffff };
        for rule in r.syscalls.get(&d.nr).into_iter().flatten() {
            if rule
                .conds
                .iter()
                .all(|c| holds(c.op, arg(c.index), val(c.value), val(c.value_two)))
            {
                return rule.action;
            }
        }
        p.default
    }

    /// xorshift64: deterministic pseudo-random numbers without a crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn pick<T: Copy>(&mut self, from: &[T]) -> T {
            from[(self.next() % from.len() as u64) as usize]
        }
    }

    #[test]
    fn random_profiles_compile_to_what_they_mean() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let actions = [
            ALLOW,
            KILL,
            EPERM,
            RET_ERRNO_ENOSYS,
            libc::SECCOMP_RET_KILL_PROCESS,
            libc::SECCOMP_RET_LOG,
        ];
        for round in 0..300 {
            let mut abis = BTreeMap::new();
            for abi in [Abi::X86_64, Abi::X32, Abi::I386] {
                if rng.next().is_multiple_of(3) {
                    continue;
                }
                let base = if abi == Abi::X32 { X32_SYSCALL_BIT } else { 0 };
                let mut r = AbiRules::default();
                for _ in 0..rng.next() % 40 {
                    let nr = base + (rng.next() % 48) as u32;
                    let conds = (0..rng.next() % 3)
                        .map(|_| Cond {
                            index: (rng.next() % 6) as u8,
                            op: rng.pick(&OPS),
                            value: rng.pick(&EDGES),
                            value_two: rng.pick(&EDGES),
                        })
                        .collect();
                    let action = rng.pick(&actions);
                    r.syscalls
                        .entry(nr)
                        .or_default()
                        .push(Rule { action, conds });
                }
                if rng.next().is_multiple_of(2) {
                    r.enosys_above = Some(base + 40);
                }
                abis.insert(abi, r);
            }
            let p = Profile {
                default: rng.pick(&actions),
                bad_arch: KILL,
                abis,
            };
            let prog = compile(&p).unwrap();
            for _ in 0..200 {
                let arch = rng.pick(&[AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, 0xc000_00b7]);
                let nr = rng.pick(&[0, X32_SYSCALL_BIT]) + (rng.next() % 50) as u32;
                let mut args = [0u64; 6];
                for a in &mut args {
                    *a = rng.pick(&EDGES);
                }
                let d = Data { nr, arch, args };
                assert_eq!(
                    run(&prog, &d).0,
                    reference(&p, &d),
                    "round {round}: nr {nr:#x} arch {arch:#x} args {args:x?}\n{p:#?}"
                );
            }
        }
    }

    #[test]
    fn check_rejects_what_the_kernel_would() {
        let ret = Insn {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: ALLOW,
        };
        let ld = |k| Insn {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k,
        };
        assert!(check(&[ret]).is_ok());
        assert!(check(&[]).is_err());
        assert!(check(&[ld(0)]).is_err(), "does not end in RET");
        assert!(check(&[ld(2), ret]).is_err(), "unaligned load");
        assert!(check(&[ld(64), ret]).is_err(), "load past seccomp_data");
        let jeq = Insn {
            code: JMP_JEQ_K,
            jt: 1,
            jf: 0,
            k: 0,
        };
        assert!(check(&[jeq, ret]).is_err(), "jump past the end");
        assert!(check(&[jeq, ret, ret]).is_ok());
        assert!(check(&vec![ret; MAX_INSNS + 1]).is_err());
    }

    #[test]
    fn asm_widens_only_far_jumps() {
        let mut a = Asm::default();
        let (far, near) = (a.label(), a.label());
        a.ld(0);
        a.jump(JMP_JEQ_K, 1, far, near);
        a.here(near);
        for _ in 0..300 {
            a.ret(1);
        }
        a.here(far);
        a.ret(2);
        let prog = a.finish().unwrap();
        assert_eq!(prog.len(), 1 + 3 + 300 + 1);
        assert_eq!((prog[1].jt, prog[1].jf), (0, 1));
        assert_eq!(prog[2].code, JMP_JA);
        assert_eq!(prog[2].k, 301);
        assert_eq!(prog[3].k, 0);
        assert_eq!(run(&prog, &Data::x86_64(1, &[])).0, 2);
        assert_eq!(run(&prog, &Data::x86_64(0, &[])).0, 1);
    }
}
