//! Test bundles: a rootfs made of hardlinks to a shared template, plus runc's default config.json
//! patched by the test with JSON-pointer paths (`b.set("/process/user/uid", json!(1000))`).

use super::default_spec::RUNC_DEFAULT_SPEC;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n";
pub const GROUP: &str = "root:x:0:\ntty:x:5:\napp:x:1000:\n";

#[derive(Clone, Debug)]
pub struct Bundle {
    /// The bundle directory (absolute); config.json and rootfs/ live here.
    pub dir: PathBuf,
    /// Container id, also the last component of `linux.cgroupsPath` (`/keel-it/<id>`).
    pub id: String,
    pub config: Value,
}

fn unescape_token(t: &str) -> String {
    t.replace("~1", "/").replace("~0", "~")
}

fn tokens(ptr: &str) -> Vec<String> {
    assert!(
        ptr.starts_with('/'),
        "JSON pointer must start with '/': {ptr:?}"
    );
    ptr[1..].split('/').map(unescape_token).collect()
}

/// Walks `ptr`, creating missing objects on the way; returns the parent container and last token.
fn walk_create<'a>(root: &'a mut Value, ptr: &str) -> (&'a mut Value, String) {
    let mut toks = tokens(ptr);
    let last = toks.pop().unwrap_or_default();
    let mut cur = root;
    for t in toks {
        cur = match cur {
            Value::Object(map) => map.entry(t.clone()).or_insert_with(|| json!({})),
            Value::Array(arr) => {
                let i: usize = t
                    .parse()
                    .unwrap_or_else(|_| panic!("{ptr}: {t:?} is not an array index"));
                let len = arr.len();
                arr.get_mut(i)
                    .unwrap_or_else(|| panic!("{ptr}: index {i} out of range (len {len})"))
            }
            other => panic!("{ptr}: cannot descend into {other}"),
        };
    }
    (cur, last)
}

impl Bundle {
    /// Builds `<dir>/rootfs` from `template` (hardlinks, symlinks, fresh dirs) and the base config.
    pub fn create(dir: PathBuf, id: String, template: &Path) -> Bundle {
        let rootfs = dir.join("rootfs");
        fs::create_dir_all(&rootfs).unwrap_or_else(|e| panic!("mkdir {}: {e}", rootfs.display()));
        copy_tree(template, &rootfs);
        let mut config: Value =
            serde_json::from_str(RUNC_DEFAULT_SPEC).expect("embedded default spec parses");
        let mut b = Bundle {
            dir,
            id,
            config: Value::Null,
        };
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(["/probe"]);
        config["linux"]["cgroupsPath"] = json!(format!("/keel-it/{}", b.id));
        b.config = config;
        b
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    pub fn dir_str(&self) -> &str {
        self.dir.to_str().expect("bundle paths are UTF-8")
    }

    /// Sets the value at a JSON-pointer path, creating intermediate objects.
    /// The last token may be `-` to append to an array.
    pub fn set(&mut self, ptr: &str, value: Value) -> &mut Self {
        let (parent, last) = walk_create(&mut self.config, ptr);
        match parent {
            Value::Object(map) => {
                map.insert(last, value);
            }
            Value::Array(arr) if last == "-" => arr.push(value),
            Value::Array(arr) => {
                let i: usize = last
                    .parse()
                    .unwrap_or_else(|_| panic!("{ptr}: {last:?} is not an index"));
                assert!(
                    i < arr.len(),
                    "{ptr}: index {i} out of range (len {})",
                    arr.len()
                );
                arr[i] = value;
            }
            other => panic!("{ptr}: parent is not a container: {other}"),
        }
        self
    }

    /// Appends to the array at `ptr`, creating it (empty) if missing.
    pub fn push(&mut self, ptr: &str, value: Value) -> &mut Self {
        let (parent, last) = walk_create(&mut self.config, ptr);
        let target = match parent {
            Value::Object(map) => map.entry(last).or_insert_with(|| json!([])),
            Value::Array(arr) => {
                let i: usize = last
                    .parse()
                    .unwrap_or_else(|_| panic!("{ptr}: {last:?} is not an index"));
                &mut arr[i]
            }
            other => panic!("{ptr}: parent is not a container: {other}"),
        };
        match target {
            Value::Array(arr) => arr.push(value),
            other => panic!("{ptr}: not an array: {other}"),
        }
        self
    }

    /// Removes the value at `ptr` (object key or array element); panics if it is not there.
    pub fn remove(&mut self, ptr: &str) -> Value {
        let (parent, last) = walk_create(&mut self.config, ptr);
        match parent {
            Value::Object(map) => map
                .remove(&last)
                .unwrap_or_else(|| panic!("{ptr}: no such key")),
            Value::Array(arr) => {
                let i: usize = last
                    .parse()
                    .unwrap_or_else(|_| panic!("{ptr}: {last:?} is not an index"));
                assert!(i < arr.len(), "{ptr}: index {i} out of range");
                arr.remove(i)
            }
            other => panic!("{ptr}: parent is not a container: {other}"),
        }
    }

    pub fn get(&self, ptr: &str) -> Option<&Value> {
        self.config.pointer(ptr)
    }

    /// Replaces process.args.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.set("/process/args", json!(args))
    }

    /// A copy of this bundle (same directory and id) whose process runs `/probe <args...>`.
    pub fn with_probe(&self, args: &[&str]) -> Bundle {
        let mut b = self.clone();
        let mut argv = vec!["/probe"];
        argv.extend_from_slice(args);
        b.args(&argv);
        b
    }

    /// A copy of this bundle whose process lives until [`Bundle::open_gate`]: it blocks reading
    /// the fifo `/gate` in its rootfs, then exits 0. For a test that needs the process alive
    /// for a while and then gone, without hoping a `sleep` lasts long enough.
    pub fn with_gate(&self) -> Bundle {
        let fifo = self.rootfs().join("gate");
        let ok = std::process::Command::new("mkfifo")
            .arg("-m")
            .arg("0600")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok || fifo.exists(), "mkfifo {}", fifo.display());
        let mut b = self.clone();
        b.args(&["/bin/sh", "-c", "read x < /gate"]);
        b
    }

    /// Lets the process of a [`Bundle::with_gate`] bundle exit. Fails (rather than blocks) when
    /// nothing reads the gate, i.e. the process is already gone.
    pub fn open_gate(&self) {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let fifo = self.rootfs().join("gate");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap_or_else(|e| panic!("open {} (is the process alive?): {e}", fifo.display()));
        f.write_all(b"go\n")
            .unwrap_or_else(|e| panic!("write {}: {e}", fifo.display()));
    }

    /// Writes config.json (the runtime helpers call this before every invocation).
    pub fn write(&self) {
        let text = serde_json::to_string_pretty(&self.config).expect("config serializes");
        fs::write(self.config_path(), text)
            .unwrap_or_else(|e| panic!("write {}: {e}", self.config_path().display()));
    }

    /// Writes a file inside the rootfs (parents created), e.g. `b.put_file("etc/secret", "x", 0o644)`.
    pub fn put_file(&self, rel: &str, content: &str, mode: u32) -> PathBuf {
        let p = self.rootfs().join(rel.trim_start_matches('/'));
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
        }
        fs::write(&p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        fs::set_permissions(&p, fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
        p
    }

    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.rootfs().join(rel.trim_start_matches('/'));
        fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        p
    }
}

/// Copies a template tree: regular files are hardlinked, symlinks recreated, directories made
/// with the template's mode.
pub fn copy_tree(from: &Path, to: &Path) {
    let entries = fs::read_dir(from).unwrap_or_else(|e| panic!("readdir {}: {e}", from.display()));
    for ent in entries {
        let ent = ent.unwrap_or_else(|e| panic!("readdir {}: {e}", from.display()));
        let src = ent.path();
        let dst = to.join(ent.file_name());
        let meta =
            fs::symlink_metadata(&src).unwrap_or_else(|e| panic!("lstat {}: {e}", src.display()));
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target =
                fs::read_link(&src).unwrap_or_else(|e| panic!("readlink {}: {e}", src.display()));
            symlink(&target, &dst).unwrap_or_else(|e| panic!("symlink {}: {e}", dst.display()));
        } else if ft.is_dir() {
            fs::create_dir(&dst).unwrap_or_else(|e| panic!("mkdir {}: {e}", dst.display()));
            copy_tree(&src, &dst);
            // After the children, so a read-only template dir can still be filled.
            fs::set_permissions(&dst, meta.permissions())
                .unwrap_or_else(|e| panic!("chmod {}: {e}", dst.display()));
        } else {
            fs::hard_link(&src, &dst)
                .unwrap_or_else(|e| panic!("link {} -> {}: {e}", src.display(), dst.display()));
        }
    }
}

/// Builds the template rootfs once: busybox + one symlink per applet in /bin, /probe, /etc files.
pub fn build_template(dir: &Path, probe: &Path) {
    let bin = dir.join("bin");
    for d in [
        "bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/app", "mnt",
    ] {
        fs::create_dir_all(dir.join(d)).unwrap_or_else(|e| panic!("mkdir {d}: {e}"));
    }
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    fs::copy("/bin/busybox", bin.join("busybox"))
        .unwrap_or_else(|e| panic!("copy /bin/busybox: {e}"));
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .unwrap_or_else(|e| panic!("busybox --list: {e}"));
    assert!(list.status.success(), "busybox --list failed: {list:?}");
    let applets = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(
        applets.lines().any(|a| a == "sh"),
        "busybox has no sh applet"
    );
    for applet in applets
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox")
    {
        symlink("busybox", bin.join(applet))
            .unwrap_or_else(|e| panic!("symlink bin/{applet}: {e}"));
    }
    fs::copy(probe, dir.join("probe")).unwrap_or_else(|e| panic!("copy {}: {e}", probe.display()));
    fs::set_permissions(dir.join("probe"), fs::Permissions::from_mode(0o755)).expect("chmod probe");
    fs::write(dir.join("etc/passwd"), PASSWD).expect("write etc/passwd");
    fs::write(dir.join("etc/group"), GROUP).expect("write etc/group");
}
