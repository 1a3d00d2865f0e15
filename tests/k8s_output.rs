//! `recommend --format k8s` on the demo: every document validates against the
//! vendored NetworkPolicy schema, the output is a golden snapshot, and
//! `verify` on it allows every observed connection NetworkPolicy can express
//! (every drop is one the output lists as not expressible).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use flowpolicy::cli::inputs::{load, InputArgs};
use flowpolicy::graph::TrafficGraph;
use flowpolicy::render::yaml;
use flowpolicy::synth::k8s::{synthesize_k8s, K8sSet};
use flowpolicy::synth::SynthConfig;
use serde_json::Value;

fn demo_graph() -> TrafficGraph {
    let args = InputArgs {
        inputs: vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst")],
        strict: true,
        cidr_groups: vec!["10.0.0.0/8".parse().unwrap()],
        conn_window: 120,
        guess_direction: false,
    };
    load(&args).unwrap().0
}

fn demo_k8s(graph: &TrafficGraph) -> K8sSet {
    synthesize_k8s(
        graph,
        &SynthConfig {
            foundation: true,
            ..SynthConfig::default()
        },
    )
}

fn schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/networkpolicy_v1.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&v).unwrap()
}

#[test]
fn k8s_output_validates_matches_the_golden_file_and_is_deterministic() {
    let graph = demo_graph();
    let set = demo_k8s(&graph);
    assert!(set.policies.len() > 90, "{}", set.policies.len());
    let validator = schema();
    for d in yaml::k8s_documents(&set) {
        let v: Value = serde_yaml::from_str(&d.text).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&v)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", d.path.display());
        assert_eq!(
            v["spec"]["policyTypes"],
            serde_json::json!(["Ingress", "Egress"])
        );
    }
    let mut golden = yaml::stream(&yaml::k8s_documents(&set));
    golden.push_str("# not expressible:\n");
    for n in &set.not_expressible {
        golden.push_str(&format!("# {n}\n"));
    }
    for n in &set.notes {
        golden.push_str(&format!("# note: {n}\n"));
    }
    insta::assert_snapshot!("demo_k8s", golden);
    let again = demo_k8s(&graph);
    assert_eq!(yaml::k8s_documents(&again), yaml::k8s_documents(&set));
    // Nothing is widened: no ipBlock wider than the CIDR group, except the
    // world entity's two.
    let text = yaml::stream(&yaml::k8s_documents(&set));
    for line in text.lines().filter(|l| l.contains("cidr:")) {
        let cidr = line
            .split("cidr:")
            .nth(1)
            .unwrap()
            .trim()
            .trim_matches('\'');
        let net: ipnet::IpNet = cidr.parse().unwrap();
        assert!(
            net.prefix_len() >= 8 || cidr == "0.0.0.0/0" || cidr == "::/0",
            "{line}"
        );
    }
}

/// A peer as synthesis names it (`verify` names the identity): the host of a
/// control-plane node is the API server on its API port, the host otherwise.
fn policy_name(peer: &str, direction: &str, port: &str) -> String {
    match (peer, direction, port) {
        ("entity:host+kube-apiserver", "egress", "6443/TCP") => "entity:kube-apiserver",
        ("entity:host+kube-apiserver", _, _) => "entity:host",
        _ => peer,
    }
    .to_string()
}

/// `(namespace, direction, other peer, port)` of a verify finding.
fn finding_keys(report: &Value, section: &str) -> BTreeSet<(String, String, String, String)> {
    let mut out = BTreeSet::new();
    for e in report[section].as_array().unwrap() {
        for p in e["ports"].as_array().unwrap() {
            for d in p["directions"].as_array().unwrap() {
                if section == "dropped" && d["verdict"] != "dropped" {
                    continue;
                }
                let dir = d["direction"].as_str().unwrap().to_string();
                let endpoint = d["endpoint"].as_str().unwrap();
                let other = if dir == "egress" {
                    &e["destination"]
                } else {
                    &e["source"]
                };
                let port = p["port"].as_str().unwrap().to_string();
                let other = policy_name(other.as_str().unwrap(), &dir, &port);
                out.insert((
                    endpoint.split('/').next().unwrap().to_string(),
                    dir,
                    other,
                    port,
                ));
            }
        }
    }
    out
}

#[test]
fn verify_allows_every_observed_connection_networkpolicy_can_express() {
    let graph = demo_graph();
    let set = demo_k8s(&graph);
    let text = yaml::stream(&yaml::k8s_documents(&set));
    let loaded = flowpolicy::policy::load_str(&text, Path::new("k8s.yaml"));
    assert!(loaded.invalid.is_empty(), "{:?}", loaded.invalid);
    assert_eq!(loaded.policies.len(), set.policies.len());
    let report = flowpolicy::verify::verify(
        &graph,
        &loaded,
        &flowpolicy::verify::VerifyOptions::default(),
    );
    let report = serde_json::to_value(&report).unwrap();
    let listed: BTreeSet<(String, String, String, String)> = set
        .not_expressible
        .iter()
        .flat_map(|n| {
            let ns = n.policy.split('/').next().unwrap().to_string();
            n.ports
                .split(", ")
                .map(move |p| {
                    (
                        ns.clone(),
                        n.direction.to_string(),
                        n.peer.clone(),
                        p.to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let dropped = finding_keys(&report, "dropped");
    assert!(
        !dropped.is_empty(),
        "the kube-apiserver and host entities are not expressible"
    );
    let unlisted: Vec<_> = dropped.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "dropped but not listed as not expressible: {unlisted:#?}"
    );
    // What verify cannot decide offline is only world traffic (names with
    // several addresses, the world entity), never a workload peer.
    for e in report["unknown"].as_array().unwrap() {
        let peers = [
            e["source"].as_str().unwrap(),
            e["destination"].as_str().unwrap(),
        ];
        assert!(
            peers.iter().any(|p| p.starts_with("fqdn:")
                || p.starts_with("entity:world")
                || p.starts_with("cidr:")),
            "{e}"
        );
    }
}
