//! Regenerating a tree with another `--format` (Cilium ↔ Kubernetes
//! NetworkPolicy): the documents of the old format are replaced — unless a
//! human added rules to them, which flowpolicy cannot translate: then it
//! refuses, naming the files and the remedy, and writes nothing.

use std::path::{Path, PathBuf};

fn recommend(out: &Path, format: &str) -> (bool, String) {
    let o = assert_cmd::Command::cargo_bin("flowpolicy")
        .unwrap()
        .arg("recommend")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst"))
        .args([
            "--cidr-group",
            "10.0.0.0/8",
            "-n",
            "downloads",
            "--format",
            format,
        ])
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    (o.status.success(), String::from_utf8(o.stderr).unwrap())
}

/// Adds an egress rule by hand to the first spec of `file`.
fn add_hand_rule(file: &Path) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let rule: serde_yaml::Value = serde_yaml::from_str(
        "toCIDR: [192.0.2.10/32]\ntoPorts:\n- ports:\n  - {port: '443', protocol: TCP}\n",
    )
    .unwrap();
    v["spec"]["egress"].as_sequence_mut().unwrap().push(rule);
    std::fs::write(file, serde_yaml::to_string(&v).unwrap()).unwrap();
}

#[test]
fn another_format_over_hand_edits_is_refused_naming_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("policies");
    let (ok, err) = recommend(&out, "cilium");
    assert!(ok, "{err}");
    let edited = out.join("downloads/sonarr.yaml");
    add_hand_rule(&edited);
    let before = std::fs::read_to_string(&edited).unwrap();
    let (ok, err) = recommend(&out, "k8s");
    assert!(!ok, "{err}");
    assert!(
        err.contains(&format!(
            "{}: CiliumNetworkPolicy downloads/sonarr",
            edited.display()
        )) && err.contains("carry the hand-added rules over to the new format by hand"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), before);
    let untouched = std::fs::read_to_string(out.join("downloads/radarr.yaml")).unwrap();
    assert!(
        untouched.contains("kind: CiliumNetworkPolicy"),
        "nothing written"
    );
    // The same format keeps the hand rule; without hand edits the switch goes through.
    let (ok, err) = recommend(&out, "cilium");
    assert!(ok, "{err}");
    assert!(std::fs::read_to_string(&edited)
        .unwrap()
        .contains("192.0.2.10/32"));
    let fresh = tmp.path().join("fresh");
    let (ok, err) = recommend(&fresh, "cilium");
    assert!(ok, "{err}");
    let (ok, err) = recommend(&fresh, "k8s");
    assert!(ok, "{err}");
    let switched = std::fs::read_to_string(fresh.join("downloads/sonarr.yaml")).unwrap();
    assert!(switched.contains("kind: NetworkPolicy") && !switched.contains("CiliumNetworkPolicy"));
}
