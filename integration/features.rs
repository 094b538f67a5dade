//! `features`: the runtime-spec features document is valid and tells the truth about what keel
//! accepts: every mount option it lists is accepted in a real container's mounts[].

use crate::harness::Test;
use serde_json::json;

#[test]
fn features_document_lists_what_keel_runs() {
    let t = Test::new("features");
    let out = t.rt.invoke(&["features"]);
    out.ok();
    let f = out.json();
    for key in [
        "ociVersionMin",
        "ociVersionMax",
        "hooks",
        "mountOptions",
        "linux",
    ] {
        assert!(!f[key].is_null(), "features has no {key}: {f}");
    }
    assert_eq!(f["hooks"].as_array().map(|a| a.len()), Some(6));
    let ns = f["linux"]["namespaces"].as_array().unwrap();
    assert_eq!(ns.len(), 8, "{ns:?}");
    assert!(f["linux"]["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!("CAP_SYS_ADMIN")));
    // Every listed mount option is accepted on a tmpfs (propagation and recursive options too).
    let opts: Vec<String> = f["mountOptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.as_str())
        .filter(|o| {
            !matches!(
                *o,
                "bind" | "rbind" | "remount" | "unbindable" | "runbindable"
            )
        })
        .map(str::to_string)
        .collect();
    let mut b = t.bundle();
    for (i, o) in opts.iter().enumerate() {
        b.push(
            "/mounts",
            json!({"destination": format!("/opt{i}"), "type": "tmpfs", "source": "tmpfs", "options": [o]}),
        );
    }
    let out = t.rt.sh(&b, "true");
    out.ok();
}
