//! Path operations inside the container's rootfs, by path for now: resolving a config path
//! within the rootfs (`secure_join`) and making directories. mounts.rs and rootfs.rs both use
//! them; they use neither, so the two modules do not import each other. (Issue #12 moves these
//! to fds pinned inside the rootfs: openat2 RESOLVE_IN_ROOT, mkdirat.)

use crate::bail;
use crate::error::{Context, Result};
use std::path::{Component, Path, PathBuf};

/// Resolve `unsafe_path` inside `root` the way the kernel would if `root` were `/`: `..` never
/// climbs above `root` and symlinks (absolute or relative) are followed within it. Missing
/// components are appended as they are.
pub fn secure_join(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    let mut resolved = PathBuf::new();
    let mut pending: Vec<std::ffi::OsString> = unsafe_path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut links = 0;
    while let Some(c) = pending.pop() {
        if c == ".." {
            resolved.pop();
            continue;
        }
        let cand = root.join(&resolved).join(&c);
        match std::fs::symlink_metadata(&cand) {
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > 255 {
                    bail!(
                        "resolve {}: too many levels of symbolic links",
                        unsafe_path.display()
                    );
                }
                let target = std::fs::read_link(&cand)?;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                for t in target.components().rev() {
                    match t {
                        Component::Normal(s) => pending.push(s.to_os_string()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => resolved.push(&c),
        }
    }
    Ok(root.join(resolved))
}

pub fn mkdir_all(p: &Path) -> Result<()> {
    std::fs::create_dir_all(p).with_context(|| format!("mkdir {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn secure_join_stays_inside_root() {
        let d = std::env::temp_dir().join(format!("keel-sj-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let ok = std::fs::create_dir_all(d.join("a/b")).is_ok()
            && symlink("/etc", d.join("a/etc")).is_ok()
            && symlink("../../..", d.join("a/b/up")).is_ok()
            && symlink("b", d.join("a/rel")).is_ok();
        assert!(ok);
        let j = |p: &str| secure_join(&d, Path::new(p)).map_err(|e| e.to_string());
        assert_eq!(j("/a/etc/passwd"), Ok(d.join("etc/passwd")));
        assert_eq!(j("/a/b/up/x"), Ok(d.join("x")));
        assert_eq!(j("/../../x"), Ok(d.join("x")));
        assert_eq!(j("/a/rel/c"), Ok(d.join("a/b/c")));
        let _ = std::fs::remove_dir_all(&d);
    }
}
