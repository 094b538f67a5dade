// Records the git commit for `keel --version`; a build outside a git checkout says "unknown".
fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=KEEL_COMMIT={commit}");
    // The target triple, for the tests to find the probe (target/probe/<triple>/release).
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=KEEL_TARGET={target}");
    println!("cargo:rerun-if-changed=.git/HEAD");
}
