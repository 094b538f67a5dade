//! config.json loading and validation: any input either becomes a spec whose every plan
//! function answers (Ok or a clear error), or is refused with a clear error. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fn clear(e: &keel::error::Error) {
    let m = e.to_string();
    assert!(!m.trim().is_empty(), "an empty error message");
}

fuzz_target!(|data: &[u8]| {
    let spec = match keel::bundle::parse(data) {
        Ok(s) => s,
        Err(e) => return clear(&e),
    };
    if let Err(e) = keel::bundle::validate(&spec) {
        return clear(&e);
    }
    let checks = [
        keel::namespaces::plan(&spec).err(),
        keel::mounts::plan(&spec, Path::new("/bundle")).err(),
        keel::rootfs::plan_devices(&spec).err(),
        keel::rootfs::propagation_flag(&spec).err(),
        keel::sysctl::plan(&spec).err(),
        keel::seccomp::plan(&spec).err(),
        keel::process::spec_process(&spec).and_then(keel::process::rlimits).err(),
    ];
    for e in checks.iter().flatten() {
        clear(e);
    }
});
