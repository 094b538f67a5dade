// Shared by the unit tests of src/seccomp.rs (through include!) and integration/seccomp.rs
// (through #[path]): plain items that need nothing but serde_json.

/// Docker's default profile (docker-default.json, next to this file) filtered as Docker does
/// (moby's profiles/seccomp/seccomp_linux.go) for amd64 and the capabilities `caps`: the
/// linux.seccomp object Docker hands to its runtime.
pub fn docker_to_oci(p: &serde_json::Value, caps: &[&str]) -> serde_json::Value {
    let strs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    };
    let list = |v: &serde_json::Value| v.as_array().cloned().unwrap_or_default();
    let mut arches = vec![];
    for m in list(&p["archMap"]) {
        if m["architecture"] == "SCMP_ARCH_X86_64" {
            arches.push(m["architecture"].clone());
            arches.extend(list(&m["subArchitectures"]));
        }
    }
    let amd64 = "amd64".to_string();
    let has_cap = |c: &String| caps.contains(&c.as_str());
    let mut calls = vec![];
    for s in list(&p["syscalls"]) {
        let (inc, exc) = (&s["includes"], &s["excludes"]);
        if strs(&exc["arches"]).contains(&amd64)
            || strs(&exc["caps"]).iter().any(has_cap)
            || (!strs(&inc["arches"]).is_empty() && !strs(&inc["arches"]).contains(&amd64))
            || !strs(&inc["caps"]).iter().all(has_cap)
        {
            continue;
        }
        // minKernel (4.8 in this profile) is below any kernel keel runs on.
        let mut c = serde_json::json!({"names": s["names"], "action": s["action"]});
        if s["args"].is_array() {
            c["args"] = s["args"].clone();
        }
        // Only when present, as moby sets ErrnoRet.
        if !s["errnoRet"].is_null() {
            c["errnoRet"] = s["errnoRet"].clone();
        }
        calls.push(c);
    }
    serde_json::json!({
        "defaultAction": p["defaultAction"],
        "architectures": arches,
        "syscalls": calls,
    })
}
