//! "Nothing left behind" checks: state dir, cgroups, mounts, processes.

use super::CGROUP_PARENT;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Host mountinfo lines whose text mentions `path`.
pub fn mounts_mentioning(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&needle))
        .map(str::to_string)
        .collect()
}

/// Processes whose `/proc/<pid>/root` resolves into `rootfs`. After pivot_root the link text of
/// a process in another mount namespace is just "/", so the root is compared by (device, inode)
/// too, not only by path.
pub fn processes_rooted_in(rootfs: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    let want = fs::metadata(rootfs).ok().map(|m| (m.dev(), m.ino()));
    for ent in rd.flatten() {
        let name = ent.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let root_link = format!("/proc/{pid}/root");
        let by_path = fs::read_link(&root_link).is_ok_and(|r| r.starts_with(rootfs));
        let by_inode =
            want.is_some() && fs::metadata(&root_link).ok().map(|m| (m.dev(), m.ino())) == want;
        {
            if by_path || by_inode {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                out.push(format!(
                    "process {pid} ({}) rooted in {}",
                    comm.trim(),
                    rootfs.display()
                ));
            }
        }
    }
    out
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

const SIGKILL: i32 = 9;

/// Cleans up after a leak that was already reported: SIGKILLs the processes still in the
/// test's own cgroups (`/sys/fs/cgroup/*/keel-it/<name>`, which the runtime under test made for
/// this test) and then rmdirs those leaf cgroups. Returns what it did, for the report.
pub fn reap_test_cgroups(id: &str, bundle: &Path) -> Vec<String> {
    let mut done = Vec::new();
    let names = cgroup_names(id, bundle);
    let dirs: Vec<PathBuf> = super::cgroup_parents()
        .into_iter()
        .flat_map(|p| names.iter().map(move |n| p.join(n)))
        .filter(|d| d.is_dir())
        .collect();
    for d in &dirs {
        let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            // Only a process that is still in this test's cgroup.
            let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            if names
                .iter()
                .any(|n| cg.contains(&format!("/{CGROUP_PARENT}/{n}\n")))
            {
                // SAFETY: plain kill(2) of a pid read from our own test cgroup just now.
                unsafe { kill(pid, SIGKILL) };
                done.push(format!("killed leaked process {pid}"));
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    for d in &dirs {
        while fs::remove_dir(d).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        done.push(format!(
            "rmdir {}: {}",
            d.display(),
            if d.exists() { "failed" } else { "done" }
        ));
    }
    done.sort();
    done.dedup();
    done
}

/// The cgroup names to look for: the container id and the bundle's `cgroupsPath` under /keel-it.
fn cgroup_names(id: &str, bundle: &Path) -> Vec<String> {
    let mut names = vec![id.to_string()];
    if let Ok(text) = fs::read_to_string(bundle.join("config.json")) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            if let Some(p) = v.pointer("/linux/cgroupsPath").and_then(|p| p.as_str()) {
                if let Some(rest) = p.strip_prefix(&format!("/{CGROUP_PARENT}/")) {
                    names.push(rest.to_string());
                }
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Everything that still exists for container `id` (empty when clean).
pub fn leftovers(root: &Path, id: &str, bundle: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let state = root.join(id);
    if state.exists() {
        out.push(format!("state dir {} exists", state.display()));
    }
    for name in cgroup_names(id, bundle) {
        for parent in super::cgroup_parents() {
            let cg: PathBuf = parent.join(&name);
            if cg.exists() {
                out.push(format!("cgroup {} exists", cg.display()));
            }
        }
    }
    for l in mounts_mentioning(bundle) {
        out.push(format!("mount left: {l}"));
    }
    out.extend(processes_rooted_in(&bundle.join("rootfs")));
    out
}

/// `leftovers`, retried until empty or `settle` has passed (a killed process takes a moment to go).
pub fn leftovers_settled(root: &Path, id: &str, bundle: &Path, settle: Duration) -> Vec<String> {
    let deadline = Instant::now() + settle;
    loop {
        let l = leftovers(root, id, bundle);
        if l.is_empty() || Instant::now() >= deadline {
            return l;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts that no state dir, cgroup (`/sys/fs/cgroup/*/keel-it/<id>`), mount mentioning the
/// bundle, or process rooted in the bundle's rootfs remains for `id`.
pub fn assert_nothing_left(root: &Path, id: &str, bundle: &Path) {
    let l = leftovers_settled(root, id, bundle, Duration::from_secs(3));
    assert!(
        l.is_empty(),
        "container {id} left things behind:\n  {}",
        l.join("\n  ")
    );
}
