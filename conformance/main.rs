//! The OCI runtime-spec, requirement by requirement: every testable MUST and SHOULD listed in
//! `conformance/requirements.tsv` runs against keel and against runc 1.1.5 on the same bundles.
//! Prints `requirement | keel | runc | note` with totals, and fails when keel fails a requirement
//! that `conformance/known-gaps.tsv` does not list (or when a listed gap now passes).
//!
//!   make conformance                                 # probe + cargo test --test conformance
//!   cargo test --test conformance -- RT-START hooks  # only ids or test names containing a word
//!
//! Each check is a function `fn(&Env) -> Res` in `checks/`, named in the TSV's `test` column. It
//! builds bundles with the integration harness (runc's default spec + a patch, the probe at
//! /probe) and looks from outside (exit codes, `state`, /proc, cgroupfs) and from inside (probe).
//! keel and runc run at the same time, one thread each, every check in its own temp dir.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a check is a failure report

#[path = "../integration/harness/mod.rs"]
#[allow(dead_code, unused_imports)]
mod harness;

mod checks;
mod report;

use checks::{Env, Outcome};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One row of requirements.tsv.
#[derive(Clone, Debug)]
pub struct Requirement {
    pub id: String,
    pub level: String,
    pub spec: String,
    pub sentence: String,
    pub test: String,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// Tab-separated rows without the header and `#` comments.
fn rows(name: &str, columns: usize) -> Result<Vec<Vec<String>>, String> {
    let path = dir().join(name);
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<String> = line.split('\t').map(|s| s.trim().to_string()).collect();
        if f.len() != columns || f.iter().any(String::is_empty) {
            return Err(format!(
                "{name}:{}: want {columns} non-empty tab-separated fields, got {}: {line:?}",
                n + 1,
                f.len()
            ));
        }
        out.push(f);
    }
    Ok(out)
}

fn load() -> Result<(Vec<Requirement>, BTreeMap<String, String>), String> {
    let reqs: Vec<Requirement> = rows("requirements.tsv", 5)?
        .into_iter()
        .map(|f| Requirement {
            id: f[0].clone(),
            level: f[1].clone(),
            spec: f[2].clone(),
            sentence: f[3].clone(),
            test: f[4].clone(),
        })
        .collect();
    let gaps: BTreeMap<String, String> = rows("known-gaps.tsv", 2)?
        .into_iter()
        .map(|f| (f[0].clone(), f[1].clone()))
        .collect();
    let known: BTreeSet<&str> = checks::ALL.iter().map(|(n, _)| *n).collect();
    let mut ids = BTreeSet::new();
    let mut used = BTreeSet::new();
    for r in &reqs {
        if !ids.insert(r.id.as_str()) {
            return Err(format!("requirements.tsv: duplicate id {}", r.id));
        }
        if !matches!(r.level.as_str(), "MUST" | "SHOULD") {
            return Err(format!(
                "{}: level must be MUST or SHOULD: {}",
                r.id, r.level
            ));
        }
        if !known.contains(r.test.as_str()) {
            return Err(format!(
                "{}: no check named {:?} in checks::ALL",
                r.id, r.test
            ));
        }
        used.insert(r.test.as_str());
    }
    if let Some(unused) = known.difference(&used).next() {
        return Err(format!("check {unused} is not named by any requirement"));
    }
    if let Some(g) = gaps.keys().find(|g| !ids.contains(g.as_str())) {
        return Err(format!("known-gaps.tsv: {g} is not a requirement id"));
    }
    Ok((reqs, gaps))
}

/// Runs every selected requirement against one runtime; a test named by several requirements
/// runs once.
fn run_all(keel: bool, reqs: &[Requirement]) -> BTreeMap<String, (Outcome, Duration)> {
    let env = Env::new(keel);
    let mut by_test: BTreeMap<String, (Outcome, Duration)> = BTreeMap::new();
    for r in reqs {
        if by_test.contains_key(&r.test) {
            continue;
        }
        let f = checks::ALL
            .iter()
            .find(|(n, _)| *n == r.test)
            .map(|(_, f)| *f)
            .expect("validated in load");
        let start = Instant::now();
        let outcome = checks::run(&env, f);
        by_test.insert(r.test.clone(), (outcome, start.elapsed()));
    }
    by_test
}

fn main() {
    let started = Instant::now();
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (reqs, gaps) = match load() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("conformance: {e}");
            std::process::exit(2);
        }
    };
    let selected: Vec<Requirement> = reqs
        .iter()
        .filter(|r| {
            filters.is_empty()
                || filters
                    .iter()
                    .any(|f| r.id.contains(f.as_str()) || r.test.contains(f.as_str()))
        })
        .cloned()
        .collect();
    let g = harness::global();
    eprintln!(
        "conformance: {} requirements ({} selected) against {} and {}",
        reqs.len(),
        selected.len(),
        g.runtime_bin.display(),
        harness::RUNC
    );
    checks::install_panic_hook();
    let (keel, runc) = std::thread::scope(|s| {
        let k = s.spawn(|| run_all(true, &selected));
        let r = s.spawn(|| run_all(false, &selected));
        (k.join(), r.join())
    });
    let (Ok(keel), Ok(runc)) = (keel, runc) else {
        eprintln!("conformance: a runner thread died");
        std::process::exit(2);
    };
    let ok = report::print(&selected, &gaps, &keel, &runc, started.elapsed());
    std::process::exit(if ok { 0 } else { 1 });
}
