//! Entering the container's cgroups at clone time (`Entry`): the fds keel opens before the
//! clone, and the two ways a new process joins with them.

use crate::error::{Context, Result};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// How a new child enters the container's cgroups without keel writing its pid to cgroup.procs.
/// That write moves a whole thread group, so the kernel takes its global cgroup_threadgroup_rwsem
/// for writing, which waits for an RCU grace period whenever no writer took it lately: 1–27 ms
/// measured here, against about 0.1 ms for the whole join otherwise. Instead:
/// - cgroup2: clone3 with CLONE_INTO_CGROUP and `v2`, a directory fd of the container's cgroup
///   (the child is born there);
/// - v1: the child writes "0" to each hierarchy's `tasks` first thing. Moving only the calling
///   thread takes no global lock, and the child is single-threaded, so that is all of it. keel
///   opens the files before the clone, so the kernel checks keel's credentials (those of the
///   opener), not the child's, which may already be in a user namespace.
///
/// When clone3 refuses CLONE_INTO_CGROUP (kernel before 5.7), keel writes cgroup.procs instead
/// (`join_v2`).
pub struct Entry {
    pub v2: Option<(PathBuf, OwnedFd)>,
    v1_tasks: Vec<(PathBuf, OwnedFd)>,
}

impl Entry {
    /// Open the fds for `dirs` (is it cgroup2, the directory to join), at `min_fd` or above.
    pub(super) fn open(dirs: &[(bool, PathBuf)], min_fd: i32) -> Result<Entry> {
        use nix::fcntl::OFlag;
        let open = |p: &Path, flags: OFlag| -> Result<OwnedFd> {
            let fd = nix::fcntl::open(p, flags | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
                .with_context(|| format!("join cgroup: open {}", p.display()))?;
            crate::sys::dup_above(fd, min_fd).context("dup fd")
        };
        let mut entry = Entry {
            v2: None,
            v1_tasks: Vec::new(),
        };
        for (v2, dir) in dirs {
            if *v2 {
                entry.v2 = Some((
                    dir.clone(),
                    open(dir, OFlag::O_DIRECTORY | OFlag::O_RDONLY)?,
                ));
            } else {
                let fd = open(&dir.join("tasks"), OFlag::O_WRONLY)?;
                entry.v1_tasks.push((dir.clone(), fd));
            }
        }
        Ok(entry)
    }

    /// In the child: join every v1 hierarchy (see `Entry`), and close every fd of the entry,
    /// so that nothing of the host's cgroup tree stays open in the container's process.
    pub fn enter_v1(&mut self) -> Result<()> {
        self.v2 = None;
        for (dir, fd) in self.v1_tasks.drain(..) {
            nix::unistd::write(&fd, b"0")
                .with_context(|| format!("join cgroup {}", dir.display()))?;
        }
        Ok(())
    }

    /// In keel, when the clone could not use CLONE_INTO_CGROUP.
    pub fn join_v2(&self, pid: i32) -> Result<()> {
        if let Some((dir, _)) = &self.v2 {
            std::fs::write(dir.join("cgroup.procs"), pid.to_string())
                .with_context(|| format!("join cgroup {}", dir.display()))?;
        }
        Ok(())
    }
}
