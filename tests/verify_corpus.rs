//! Every real policy of the corpus (`<corpus>/policies`, skipped when the
//! corpus is absent) loads into the verification model (documents the
//! loader rejects are reported with file and document index, not crashed
//! on), and verifying the whole corpus against real flows works end to end
//! through the CLI.

use crate::common;

use assert_cmd::Command;
use flowpolicy::policy::load_paths;
use flowpolicy::verify::{verify, Model, VerifyOptions};
use serde_json::Value;

#[test]
fn whole_corpus_compiles_and_verifies() {
    let what = "verifying the real policy corpus";
    let Some(dir) = common::corpus(what, "policies") else {
        return;
    };
    let flows = common::real_dump(what, "cilium_hubble-otel__basic-sample-348-http-flows.json")
        .expect("the corpus has flows beside its policies");
    let loaded = load_paths(std::slice::from_ref(&dir)).unwrap();
    assert!(loaded.policies.len() >= 150, "{}", loaded.policies.len());
    let model = Model::compile(&loaded);
    assert_eq!(model.policies.len(), loaded.policies.len());
    assert!(model.rules.len() >= model.policies.len());
    // Invalid documents are reported with their file and document index.
    assert!(!loaded.invalid.is_empty());
    for i in &loaded.invalid {
        let s = i.to_string();
        assert!(s.contains(".yaml") && s.contains("(document "), "{s}");
    }

    let args = flowpolicy::cli::inputs::InputArgs {
        inputs: vec![flows],
        strict: true,
        cidr_groups: Vec::new(),
        conn_window: 120,
        guess_direction: false,
    };
    let graph = flowpolicy::cli::inputs::load(&args).unwrap().0;
    let report = verify(&graph, &loaded, &VerifyOptions::default());
    assert_eq!(report.summary.policies, loaded.policies.len());
    assert!(report.summary.observed.edge_ports > 0);
    assert!(!report.over_permissive.is_empty());
}

#[test]
fn cli_reports_invalid_documents_and_decides_every_connection() {
    let what = "the CLI verifying the real policy corpus";
    let Some(policies) = common::corpus(what, "policies") else {
        return;
    };
    let flows = common::real_dump(what, "cilium_hubble-otel__basic-sample-400-tcp-flows.json")
        .expect("the corpus has flows beside its policies");
    let out = Command::cargo_bin("flowpolicy")
        .unwrap()
        .args(["verify", "-o", "json", "--explain", "--policies"])
        .arg(policies)
        .arg(flows)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &r["summary"];
    let decided = ["allowed", "dropped", "unknown"]
        .iter()
        .map(|k| s[k]["edge_ports"].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(decided, s["observed"]["edge_ports"].as_u64().unwrap());
    assert!(!r["invalid_documents"].as_array().unwrap().is_empty());
    assert!(r["allowed"].is_array());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning:"));
}
