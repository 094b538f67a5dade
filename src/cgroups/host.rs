//! The host's cgroup layout, detected at run time: the cgroup mounts from
//! /proc/self/mountinfo (pure v2, pure v1 or hybrid), the controllers cgroup2 offers, the huge
//! page sizes and the online CPUs and memory nodes; and which version keel uses each controller
//! through (`Host::version_of`).

use crate::bail;
use crate::error::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    V1,
    V2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Directory name under /sys/fs/cgroup ("cpu", "systemd", "unified"; "cgroup" on pure v2).
    pub name: String,
    pub mount: PathBuf,
    /// Controllers from the mount options ("cpu", "name=systemd"); empty for cgroup2.
    pub controllers: Vec<String>,
    pub v2: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub hierarchies: Vec<Hierarchy>,
}

impl Layout {
    pub fn v2_only(&self) -> bool {
        self.hierarchies.iter().all(|h| h.v2)
    }

    pub fn v2(&self) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.v2)
    }
}

/// Parse the cgroup mounts out of mountinfo text.
pub fn parse_layout(mountinfo: &str) -> Layout {
    let mut hierarchies: Vec<Hierarchy> = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 3 {
            continue;
        }
        let (mount, fstype) = (PathBuf::from(crate::mountinfo::unescape(l[4])), r[0]);
        let name = mount
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let h = match fstype {
            "cgroup2" => Hierarchy {
                name,
                mount,
                controllers: vec![],
                v2: true,
            },
            "cgroup" => {
                let controllers = r[2]
                    .split(',')
                    .filter(|o| {
                        !matches!(
                            *o,
                            "rw" | "ro"
                                | "nosuid"
                                | "nodev"
                                | "noexec"
                                | "relatime"
                                | "noatime"
                                | "xattr"
                                | "clone_children"
                        ) && !o.starts_with("release_agent=")
                    })
                    .map(str::to_string)
                    .collect();
                Hierarchy {
                    name,
                    mount,
                    controllers,
                    v2: false,
                }
            }
            _ => continue,
        };
        // The same hierarchy mounted twice (bind mounts, nested setups): the first one counts.
        if !hierarchies
            .iter()
            .any(|x| x.v2 == h.v2 && x.controllers == h.controllers)
        {
            hierarchies.push(h);
        }
    }
    Layout { hierarchies }
}

/// The facts about this host that shape a cgroup plan, read once per command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub layout: Layout,
    /// Controllers the cgroup2 hierarchy offers (its root's `cgroup.controllers`).
    pub v2_controllers: Vec<String>,
    /// Huge page sizes as cgroup file names spell them ("2MB", "1GB").
    pub hugepage_sizes: Vec<String>,
    /// Online CPUs and memory nodes, for `cpu.cpus` / `cpu.mems`.
    pub cpus: BTreeSet<usize>,
    pub mems: BTreeSet<usize>,
}

impl Host {
    pub fn detect() -> Result<Host> {
        let text =
            std::fs::read_to_string("/proc/self/mountinfo").context("read /proc/self/mountinfo")?;
        let layout = parse_layout(&text);
        if layout.hierarchies.is_empty() {
            bail!("no cgroup filesystem is mounted on this host");
        }
        let v2_controllers = match layout.v2() {
            Some(h) => std::fs::read_to_string(h.mount.join("cgroup.controllers"))
                .with_context(|| format!("read {}/cgroup.controllers", h.mount.display()))?
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            None => Vec::new(),
        };
        let set = |path: &str| -> BTreeSet<usize> {
            std::fs::read_to_string(path)
                .ok()
                .and_then(|s| crate::process::cpu_list(s.trim()).ok())
                .map(|v| v.into_iter().collect())
                .unwrap_or_else(|| [0].into_iter().collect())
        };
        Ok(Host {
            layout,
            v2_controllers,
            hugepage_sizes: hugepage_sizes(),
            cpus: set("/sys/devices/system/cpu/online"),
            mems: set("/sys/devices/system/node/online"),
        })
    }

    pub fn v2_only(&self) -> bool {
        self.layout.v2_only()
    }

    /// Which version keel uses for `ctrl`: a v1 hierarchy that mounts it, else the cgroup2
    /// hierarchy if it offers it. `devices` and `freezer` are built into cgroup2 (eBPF,
    /// `cgroup.freeze`), so they are always available there.
    pub fn version_of(&self, ctrl: &str) -> Option<Version> {
        let v1 = self
            .layout
            .hierarchies
            .iter()
            .any(|h| !h.v2 && h.controllers.iter().any(|c| c == ctrl));
        if v1 {
            return Some(Version::V1);
        }
        let v2 = self.layout.v2().is_some()
            && (matches!(ctrl, "devices" | "freezer" | "cgroup")
                || self.v2_controllers.iter().any(|c| c == ctrl));
        v2.then_some(Version::V2)
    }
}

/// This host's huge page sizes, as the hugetlb files name them ("1GB", "2MB"), sorted.
pub fn hugepage_sizes() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| hugepage_size_name(&e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// "hugepages-2048kB" -> "2MB", as runc names the hugetlb files.
fn hugepage_size_name(dir: &str) -> Option<String> {
    let kb: u64 = dir
        .strip_prefix("hugepages-")?
        .strip_suffix("kB")?
        .parse()
        .ok()?;
    let units = ["KB", "MB", "GB", "TB"];
    let (mut n, mut u) = (kb, 0);
    while n >= 1024 && n % 1024 == 0 && u + 1 < units.len() {
        n /= 1024;
        u += 1;
    }
    Some(format!("{n}{}", units[u]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
pub(super) mod tests {
    //! Host fixtures for the other files' tests too.
    use super::*;

    /// This development machine's layout (Debian 12 on a hybrid host).
    pub const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";

    /// A systemd-style hybrid host, with co-mounted controllers and no pids hierarchy.
    pub const HYBRID_SYSTEMD: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid shared:6 - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:7 - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw shared:8 - cgroup cgroup rw,memory";

    pub const V2: &str = "\
30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate";

    pub fn host(mountinfo: &str, v2_controllers: &[&str]) -> Host {
        Host {
            layout: parse_layout(mountinfo),
            v2_controllers: v2_controllers.iter().map(|s| s.to_string()).collect(),
            hugepage_sizes: vec!["1GB".into(), "2MB".into()],
            cpus: [0, 1].into_iter().collect(),
            mems: [0].into_iter().collect(),
        }
    }

    pub fn hybrid_host() -> Host {
        host(HYBRID, &["hugetlb"])
    }

    pub fn v2_host() -> Host {
        host(
            V2,
            &[
                "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc",
            ],
        )
    }

    pub fn hybrid_systemd_host() -> Host {
        host(HYBRID_SYSTEMD, &[])
    }

    #[test]
    fn hybrid_layout() {
        let l = parse_layout(HYBRID_SYSTEMD);
        let names: Vec<_> = l
            .hierarchies
            .iter()
            .map(|h| (h.name.as_str(), h.controllers.join("+"), h.v2))
            .collect();
        assert_eq!(
            names,
            [
                ("unified", String::new(), true),
                ("systemd", "name=systemd".to_string(), false),
                ("cpu,cpuacct", "cpu+cpuacct".to_string(), false),
                ("memory", "memory".to_string(), false)
            ]
        );
        assert!(!l.v2_only());
        assert!(parse_layout(V2).v2_only());
        let here = parse_layout(HYBRID);
        assert_eq!(here.hierarchies.len(), 10);
        assert_eq!(here.v2().map(|h| h.name.as_str()), Some("unified"));
    }

    #[test]
    fn layout_from_odd_mountinfo_lines() {
        let text = concat!(
            // A mount point with a space and a backslash, and options that are not controllers.
            r"40 31 0:37 / /sys/fs/cgroup/my\040cg\134x rw - cgroup cgroup rw,xattr,release_agent=/x,clone_children,pids",
            "\n",
            // Not a cgroup filesystem; a line without the separator; a short line.
            "41 31 0:38 / /proc rw - proc proc rw\n",
            "42 31 0:39 / /sys/fs/cgroup/unified rw cgroup2 cgroup2 rw\n",
            "43 31 0:40 / - cgroup2\n",
            // The same hierarchy mounted again: the first one counts.
            "44 31 0:37 / /mnt/pids rw - cgroup cgroup rw,pids\n",
            r"45 31 0:41 / /sys/fs/cgroup/uni\011fied rw - cgroup2 cgroup2 rw",
        );
        assert_eq!(
            parse_layout(text).hierarchies,
            [
                Hierarchy {
                    name: r"my cg\x".into(),
                    mount: r"/sys/fs/cgroup/my cg\x".into(),
                    controllers: vec!["pids".into()],
                    v2: false,
                },
                Hierarchy {
                    name: "uni\tfied".into(),
                    mount: "/sys/fs/cgroup/uni\tfied".into(),
                    controllers: vec![],
                    v2: true,
                },
            ]
        );
    }

    #[test]
    fn a_controller_is_used_through_one_version() {
        let h = hybrid_host();
        assert_eq!(h.version_of("memory"), Some(Version::V1));
        assert_eq!(h.version_of("cpuacct"), Some(Version::V1));
        // hugetlb is not a v1 hierarchy here, but the cgroup2 mount offers it.
        assert_eq!(h.version_of("hugetlb"), Some(Version::V2));
        assert_eq!(h.version_of("net_cls"), None);
        assert_eq!(hybrid_systemd_host().version_of("pids"), None);
        let v2 = v2_host();
        assert_eq!(v2.version_of("memory"), Some(Version::V2));
        assert_eq!(v2.version_of("devices"), Some(Version::V2));
        assert_eq!(v2.version_of("net_cls"), None);
    }

    #[test]
    fn hugepage_names_as_runc() {
        assert_eq!(
            hugepage_size_name("hugepages-2048kB").as_deref(),
            Some("2MB")
        );
        assert_eq!(
            hugepage_size_name("hugepages-1048576kB").as_deref(),
            Some("1GB")
        );
        assert_eq!(
            hugepage_size_name("hugepages-64kB").as_deref(),
            Some("64KB")
        );
        assert_eq!(hugepage_size_name("other"), None);
    }
}
