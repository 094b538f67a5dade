//! Comparing what the probe saw under the runtime under test with what it saw under runc.

use super::{Bundle, Test};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fs;

/// The fields `compare_with_runc` checks by default.
pub const DEFAULT_FIELDS: &[&str] = &[
    "hostname",
    "domainname",
    "machine",
    "uid",
    "gid",
    "euid",
    "egid",
    "groups",
    "caps",
    "no_new_privs",
    "seccomp",
    "umask",
    "cwd",
    "args",
    "env",
    "pid",
    "ppid",
    "mounts",
    "namespaces",
    "rlimits",
    "cgroup",
    "oom_score_adj",
    "personality",
    "sched",
    "ioprio",
    "cpu_affinity",
    "fds",
    "tty",
];

pub const NS_TYPES: &[&str] = &[
    "cgroup",
    "ipc",
    "mnt",
    "net",
    "pid",
    "pid_for_children",
    "time",
    "time_for_children",
    "user",
    "uts",
];

/// The test process's own namespaces (`/proc/self/ns/<type>` link text; None if missing).
pub fn host_namespaces() -> BTreeMap<String, Option<String>> {
    NS_TYPES
        .iter()
        .map(|t| {
            (
                t.to_string(),
                fs::read_link(format!("/proc/self/ns/{t}"))
                    .ok()
                    .map(|p| p.to_string_lossy().into_owned()),
            )
        })
        .collect()
}

/// "shared:12" -> "shared", "master:3" -> "master": peer group numbers differ between runs.
fn propagation_kinds(v: &Value) -> Value {
    let mut kinds: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str())
                .map(|p| p.split(':').next().unwrap_or(p).to_string())
                .collect()
        })
        .unwrap_or_default();
    kinds.sort();
    json!(kinds)
}

/// One comparable line per mount (no mount ids, no host-side `root` path), sorted.
pub fn normalize_mounts(mounts: &Value) -> Value {
    let Some(list) = mounts.as_array() else {
        return mounts.clone();
    };
    let mut lines: Vec<String> = list
        .iter()
        .map(|m| {
            format!(
                "{} type={} source={} opts={} super={} propagation={}",
                m["mount_point"].as_str().unwrap_or("?"),
                m["fstype"].as_str().unwrap_or("?"),
                m["source"].as_str().unwrap_or("?"),
                m["mount_options"].as_str().unwrap_or("?"),
                m["super_options"].as_str().unwrap_or("?"),
                propagation_kinds(&m["propagation"]),
            )
        })
        .collect();
    lines.sort();
    json!(lines)
}

/// Namespace *presence* relative to the host: "host" (same as the test process), "new", or null.
pub fn normalize_namespaces(ns: &Value) -> Value {
    let host = host_namespaces();
    let mut out = Map::new();
    for t in NS_TYPES {
        let v = match ns.get(*t) {
            Some(Value::String(s))
                if host.get(*t).cloned().flatten().as_deref() == Some(s.as_str()) =>
            {
                json!("host")
            }
            Some(Value::String(_)) => json!("new"),
            Some(Value::Null) | None => Value::Null,
            Some(other) => other.clone(),
        };
        out.insert(t.to_string(), v);
    }
    Value::Object(out)
}

/// The probe report reduced to stable, comparable values.
pub fn normalize(probe: &Value, id: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (k, v) in probe.as_object().cloned().unwrap_or_default() {
        let n = match k.as_str() {
            "env" => {
                let mut e: Vec<String> = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                e.sort();
                json!(e)
            }
            "caps" => {
                let mut m = Map::new();
                for (set, val) in v.as_object().cloned().unwrap_or_default() {
                    m.insert(set, val.get("names").cloned().unwrap_or(val));
                }
                Value::Object(m)
            }
            "mounts" => normalize_mounts(&v),
            "namespaces" => normalize_namespaces(&v),
            "cgroup" => json!(v
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(|l| l.as_str())
                    .map(|l| l.replace(id, "<ID>"))
                    .collect::<Vec<_>>())
                .unwrap_or_default()),
            // The serial differs on every run; the name is `_ses.<id>` for a new keyring.
            "keyring" => json!(v["description"]
                .as_str()
                .map(|d| d.replace(id, "<ID>"))
                .unwrap_or_else(|| v["description"].to_string())),
            "fds" => json!(v
                .as_array()
                .map(|a| a.iter().map(|f| f["fd"].clone()).collect::<Vec<_>>())
                .unwrap_or_default()),
            _ => v,
        };
        out.insert(k, n);
    }
    out
}

/// Human-readable differences between two normalized reports on `fields`.
pub fn diff(
    ours_name: &str,
    ours: &BTreeMap<String, Value>,
    theirs: &BTreeMap<String, Value>,
    fields: &[&str],
) -> Vec<String> {
    let mut out = Vec::new();
    for f in fields {
        let a = ours.get(*f).cloned().unwrap_or(Value::Null);
        let b = theirs.get(*f).cloned().unwrap_or(Value::Null);
        if a == b {
            continue;
        }
        match (&a, &b) {
            (Value::Array(x), Value::Array(y)) => {
                let mut lines = vec![format!("{f}:")];
                for i in x.iter().filter(|i| !y.contains(i)) {
                    lines.push(format!("    only in {ours_name}: {i}"));
                }
                for i in y.iter().filter(|i| !x.contains(i)) {
                    lines.push(format!("    only in runc: {i}"));
                }
                if lines.len() == 1 {
                    lines.push(format!("    same items, different order/count:\n    {ours_name}: {a}\n    runc: {b}"));
                }
                out.push(lines.join("\n"));
            }
            (Value::Object(x), Value::Object(y)) => {
                let mut lines = vec![format!("{f}:")];
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    if x.get(k) != y.get(k) {
                        lines.push(format!(
                            "    .{k}: {ours_name}={} runc={}",
                            x.get(k).unwrap_or(&Value::Null),
                            y.get(k).unwrap_or(&Value::Null)
                        ));
                    }
                }
                out.push(lines.join("\n"));
            }
            _ => out.push(format!("{f}: {ours_name}={a} runc={b}")),
        }
    }
    out
}

impl Test {
    /// Runs the probe in a bundle patched by `patch` under the runtime under test and under runc,
    /// and fails with a readable diff if the default fields differ. Returns (ours, runc's) reports.
    pub fn compare_with_runc(&self, patch: impl Fn(&mut Bundle)) -> (Value, Value) {
        self.compare_fields_with_runc(DEFAULT_FIELDS, patch)
    }

    pub fn compare_fields_with_runc(
        &self,
        fields: &[&str],
        patch: impl Fn(&mut Bundle),
    ) -> (Value, Value) {
        self.compare_with_runc_flags(&[], fields, patch)
    }

    /// `compare_fields_with_runc` with extra `run` flags for both runtimes (e.g. `--no-pivot`).
    pub fn compare_with_runc_flags(
        &self,
        flags: &[&str],
        fields: &[&str],
        patch: impl Fn(&mut Bundle),
    ) -> (Value, Value) {
        let mut ours_b = self.bundle();
        patch(&mut ours_b);
        let mut ref_b = self.bundle();
        patch(&mut ref_b);
        let probe_args: Vec<String> = ours_b
            .get("/process/args")
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .skip(1)
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let probe_args: Vec<&str> = probe_args.iter().map(String::as_str).collect();
        let ours = self.rt.probe_with(&ours_b, flags, &probe_args);
        let theirs = self.runc.probe_with(&ref_b, flags, &probe_args);
        let d = diff(
            &self.rt.name,
            &normalize(&ours, &ours_b.id),
            &normalize(&theirs, &ref_b.id),
            fields,
        );
        assert!(
            d.is_empty(),
            "{} and runc disagree on the same config:\n{}",
            self.rt.name,
            d.join("\n")
        );
        (ours, theirs)
    }

    /// Runs `/probe <args>` under both runtimes (same patch) and asserts equal output.
    pub fn compare_probe_output(&self, args: &[&str], patch: impl Fn(&mut Bundle)) -> Value {
        let mut ours_b = self.bundle();
        patch(&mut ours_b);
        let mut ref_b = self.bundle();
        patch(&mut ref_b);
        let ours = self.rt.probe(&ours_b, args);
        let theirs = self.runc.probe(&ref_b, args);
        assert_eq!(
            ours,
            theirs,
            "`/probe {}` differs: {} (left) vs runc (right)",
            args.join(" "),
            self.rt.name
        );
        ours
    }
}

/// Finds a mount by mount point in a probe report (the last one, i.e. the visible one).
pub fn mount_at<'a>(report: &'a Value, mount_point: &str) -> Option<&'a Value> {
    report["mounts"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["mount_point"] == mount_point)
}

/// Splits a comma-separated option string.
pub fn opts(s: &Value) -> Vec<String> {
    s.as_str()
        .unwrap_or("")
        .split(',')
        .map(str::to_string)
        .collect()
}
