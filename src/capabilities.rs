//! process.capabilities: the five sets as bitmasks (planned in the parent), applied by init in
//! runc's order: drop the bounding set while still root, switch user with PR_SET_KEEPCAPS, then
//! one capset(2) for effective/permitted/inheritable, then raise the ambient set.
//!
//! The bounding and ambient sets go through caps. The other three do not: caps sets them one at
//! a time (a capget and a capset each), and some orders fail (permitted cannot shrink below
//! effective), so `sys::capset` sets all three in one call.

use crate::error::{Context, Result};
use crate::sys;
use caps::CapSet;
use nix::errno::Errno;
use oci_spec::runtime::{Capabilities, Process};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapsPlan {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

fn bits(set: &Option<Capabilities>) -> u64 {
    let mut b = 0u64;
    for c in set.iter().flatten() {
        let name = format!("CAP_{c}");
        if let Ok(cap) = name.parse::<caps::Capability>() {
            b |= 1u64 << cap.index();
        }
    }
    b
}

/// Remove capability names keel does not know from the five sets of a JSON `capabilities`
/// object, with a warning naming each (the runtime-spec says unknown capabilities are logged and
/// ignored; runc does the same).
pub fn drop_unknown(caps: &mut serde_json::Value, field: &str) {
    let Some(sets) = caps.as_object_mut() else {
        return;
    };
    for (set, names) in sets.iter_mut() {
        let Some(list) = names.as_array_mut() else {
            continue;
        };
        list.retain(|n| {
            let known = n.as_str().is_some_and(|s| {
                serde_json::from_value::<oci_spec::runtime::Capability>(s.into()).is_ok()
            });
            if !known {
                crate::log::warn(&format!("{field}.{set}: ignoring unknown capability {n}"));
            }
            known
        });
    }
}

/// Capabilities this process (keel) does not have in its bounding set cannot be granted to the
/// container: they are dropped from the plan with a warning, as the runtime-spec asks.
pub fn drop_ungrantable(plan: &mut CapsPlan, grantable: u64) {
    let all = plan.bounding | plan.effective | plan.permitted | plan.inheritable | plan.ambient;
    let missing = all & !grantable;
    if missing != 0 {
        let names: Vec<String> = caps::all()
            .iter()
            .filter(|c| missing & (1u64 << c.index()) != 0)
            .map(|c| c.to_string())
            .collect();
        crate::log::warn(&format!(
            "process.capabilities: this host cannot grant {}; they are left out",
            names.join(", ")
        ));
    }
    for set in [
        &mut plan.bounding,
        &mut plan.effective,
        &mut plan.permitted,
        &mut plan.inheritable,
        &mut plan.ambient,
    ] {
        *set &= grantable;
    }
}

/// keel's own bounding set: what it can pass on.
pub fn grantable() -> u64 {
    let mut b = 0u64;
    if let Ok(set) = caps::read(None, caps::CapSet::Bounding) {
        for c in set {
            b |= 1u64 << c.index();
        }
    }
    b
}

/// None when the config has no capabilities object: the process keeps what init has (runc).
pub fn plan(p: &Process) -> Option<CapsPlan> {
    let c = p.capabilities().as_ref()?;
    Some(CapsPlan {
        bounding: bits(c.bounding()),
        effective: bits(c.effective()),
        permitted: bits(c.permitted()),
        inheritable: bits(c.inheritable()),
        ambient: bits(c.ambient()),
    })
}

/// Highest capability number the running kernel knows.
fn last_cap() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// The running kernel's capabilities by number (0 to cap_last_cap), each with caps' name for it
/// where caps 0.5 has one. Made in the parent: init applies capabilities after its seccomp
/// filter may be loaded, and `caps::all()` builds a HashSet, whose hasher may need getrandom(2).
#[derive(Debug, Clone)]
pub struct KernelCaps(Vec<Option<caps::Capability>>);

pub fn kernel_caps() -> KernelCaps {
    let mut names = vec![None; usize::from(last_cap()) + 1];
    for c in caps::all() {
        if let Some(slot) = names.get_mut(usize::from(c.index())) {
            *slot = Some(c);
        }
    }
    KernelCaps(names)
}

/// caps reports a failure as text only; errno still holds the error of its prctl (caps merely
/// formats it into a String), and keel's errors keep the errno.
fn errno(_: caps::errors::CapsError) -> Errno {
    Errno::last()
}

/// Before the user switch: drop everything outside the bounding set (needs CAP_SETPCAP).
pub fn drop_bounding(plan: &CapsPlan, kernel: &KernelCaps) -> Result<()> {
    for (n, cap) in kernel.0.iter().enumerate() {
        if plan.bounding & (1u64 << n) != 0 {
            continue;
        }
        match cap {
            Some(c) => caps::drop(None, CapSet::Bounding, *c).map_err(errno),
            // Newer than caps knows: it goes all the same, by number.
            None => sys::capbset_drop(n as u32),
        }
        .with_context(|| format!("process.capabilities.bounding: drop capability {n}"))?;
    }
    Ok(())
}

pub fn keep_caps(on: bool) -> Result<()> {
    nix::sys::prctl::set_keepcaps(on).context("prctl PR_SET_KEEPCAPS")?;
    Ok(())
}

pub fn apply_sets(plan: &CapsPlan, kernel: &KernelCaps) -> Result<()> {
    sys::capset(plan.effective, plan.permitted, plan.inheritable)
        .context("process.capabilities: capset")?;
    caps::clear(None, CapSet::Ambient)
        .map_err(errno)
        .context("process.capabilities.ambient: clear")?;
    // The kernel only lets a capability into the ambient set if it is both permitted and
    // inheritable; runc's default spec lists ambient capabilities without inheritable ones and
    // runc skips them, so keel does the same. The plan was made from caps' names, so each of
    // its capabilities has one.
    let ambient = plan.ambient & plan.permitted & plan.inheritable;
    for (n, cap) in kernel.0.iter().enumerate() {
        if let Some(c) = cap.filter(|_| ambient & (1u64 << n) != 0) {
            caps::raise(None, CapSet::Ambient, c)
                .map_err(errno)
                .with_context(|| format!("process.capabilities.ambient: raise capability {n}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_ungrantable_caps_are_dropped() {
        let mut v =
            serde_json::json!({"bounding": ["CAP_KILL", "CAP_FOO"], "effective": ["CAP_BAR"]});
        drop_unknown(&mut v, "process.capabilities");
        assert_eq!(
            v,
            serde_json::json!({"bounding": ["CAP_KILL"], "effective": []})
        );
        let mut p = CapsPlan {
            bounding: 0b111,
            effective: 0b110,
            ..Default::default()
        };
        drop_ungrantable(&mut p, 0b011);
        assert_eq!((p.bounding, p.effective), (0b011, 0b010));
    }

    #[test]
    fn kernel_caps_are_named_by_number() {
        let k = kernel_caps();
        assert_eq!(k.0.len(), usize::from(last_cap()) + 1);
        for (n, c) in k.0.iter().enumerate() {
            assert!(c.is_none_or(|c| usize::from(c.index()) == n), "{n}: {c:?}");
        }
        assert_eq!(k.0[5], Some(caps::Capability::CAP_KILL));
    }

    /// A capability outside the inheritable set cannot be raised into the ambient set: caps says
    /// so in text, and errno still says EPERM.
    #[test]
    fn caps_failures_keep_their_errno() {
        let cap = caps::Capability::CAP_SYS_ADMIN;
        if caps::has_cap(None, CapSet::Inheritable, cap).unwrap_or(true) {
            eprintln!("SKIP capabilities::caps_failures_keep_their_errno: CAP_SYS_ADMIN is inheritable here");
            return;
        }
        let r = caps::raise(None, CapSet::Ambient, cap).map_err(errno);
        assert_eq!(r, Err(Errno::EPERM));
    }

    #[test]
    fn runc_default_caps_are_three_bits() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("spec/default.json")).unwrap_or_default();
        let p: Process = serde_json::from_value(v["process"].clone()).unwrap_or_default();
        let want = (1 << 29) | (1 << 5) | (1 << 10); // AUDIT_WRITE, KILL, NET_BIND_SERVICE
        assert_eq!(
            plan(&p),
            Some(CapsPlan {
                bounding: want,
                effective: want,
                permitted: want,
                inheritable: 0,
                ambient: want,
            })
        );
    }
}
