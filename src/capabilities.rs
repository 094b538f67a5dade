//! process.capabilities: the five sets as bitmasks (planned in the parent), applied by init in
//! runc's order: drop the bounding set while still root, switch user with PR_SET_KEEPCAPS, then
//! one capset(2) for effective/permitted/inheritable, then raise the ambient set.

use crate::error::{Context, Result};
use crate::sys;
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

/// Before the user switch: drop everything outside the bounding set (needs CAP_SETPCAP).
pub fn drop_bounding(plan: &CapsPlan, last: u8) -> Result<()> {
    for n in 0..=last {
        if plan.bounding & (1u64 << n) == 0 {
            // SAFETY: prctl with integer arguments only.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, n as libc::c_ulong, 0, 0, 0) };
            nix::errno::Errno::result(r)
                .with_context(|| format!("process.capabilities.bounding: drop capability {n}"))?;
        }
    }
    Ok(())
}

pub fn keep_caps(on: bool) -> Result<()> {
    nix::sys::prctl::set_keepcaps(on).context("prctl PR_SET_KEEPCAPS")?;
    Ok(())
}

pub fn apply_sets(plan: &CapsPlan, last: u8) -> Result<()> {
    sys::capset(plan.effective, plan.permitted, plan.inheritable)
        .context("process.capabilities: capset")?;
    // SAFETY: prctl with integer arguments only.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    nix::errno::Errno::result(r).context("process.capabilities.ambient: clear")?;
    // The kernel only lets a capability into the ambient set if it is both permitted and
    // inheritable; runc's default spec lists ambient capabilities without inheritable ones and
    // runc skips them, so keel does the same.
    let ambient = plan.ambient & plan.permitted & plan.inheritable;
    for n in 0..=last {
        if ambient & (1u64 << n) != 0 {
            // SAFETY: prctl with integer arguments only.
            let r = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE,
                    n as libc::c_ulong,
                    0,
                    0,
                )
            };
            nix::errno::Errno::result(r)
                .with_context(|| format!("process.capabilities.ambient: raise capability {n}"))?;
        }
    }
    Ok(())
}

pub fn kernel_last_cap() -> u8 {
    last_cap()
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
