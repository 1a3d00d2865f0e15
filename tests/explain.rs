//! `flowpolicy explain`: every rule of the recommended policies is justified
//! by observed connections (with how their direction was decided), and a
//! rule nothing uses is reported as over-permissive.

use std::path::Path;

use crate::flowkit::*;
use assert_cmd::Command;
use flowpolicy::policy::load_str;
use flowpolicy::render::yaml;
use flowpolicy::synth::{self, SynthConfig};
use flowpolicy::verify::{explain, Model, VerifyOptions};

fn rules_for(policy: &str, flows: &[flowpolicy::proto::flow::Flow]) -> Vec<explain::RuleEvidence> {
    let loaded = load_str(policy, Path::new("case.yaml"));
    assert!(loaded.invalid.is_empty(), "{:?}", loaded.invalid);
    explain::explain(
        &Model::compile(&loaded),
        &graph_of(flows),
        &VerifyOptions::default(),
    )
}

fn flows() -> Vec<flowpolicy::proto::flow::Flow> {
    let cart = pod("shop", &[("app.kubernetes.io/name", "cart")], "10.1.0.5");
    let redis = pod("shop", &[("app.kubernetes.io/name", "redis")], "10.1.0.9");
    let mut f = tcp_conn(&cart, &redis, 45000, 6379, 0);
    f.extend(tcp_conn(&cart, &redis, 45001, 6379, 30));
    f
}

#[test]
fn recommended_rules_are_each_justified_with_their_direction_evidence() {
    let flows = flows();
    let set = synth::synthesize(&graph_of(&flows), &SynthConfig::default());
    let text = yaml::stream(&yaml::documents(&set));
    let rules = rules_for(&text, &flows);
    assert!(!rules.is_empty());
    for r in &rules {
        assert!(!r.over_permissive(), "{} {} unused", r.policy, r.rule);
        for j in &r.justified_by {
            assert_eq!(j.port, "6379/TCP");
            assert_eq!(j.connections, 2);
            assert_eq!(j.direction.get("is_reply"), Some(&6), "{j:?}");
        }
    }
}

#[test]
fn a_rule_nothing_uses_is_over_permissive() {
    let policy = r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: redis, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app.kubernetes.io/name: redis}}
  ingress:
  - fromEndpoints: [{matchLabels: {app.kubernetes.io/name: cart}}]
    toPorts: [{ports: [{port: "6379", protocol: TCP}]}]
  - fromEntities: [world]
    toPorts: [{ports: [{port: "22", protocol: TCP}]}]
  egress:
  - {}
"#;
    let rules = rules_for(policy, &flows());
    let paths: Vec<(&str, bool)> = rules
        .iter()
        .map(|r| (r.rule.as_str(), r.over_permissive()))
        .collect();
    // `egress: [{}]` allows nothing and is not listed.
    assert_eq!(
        paths,
        [("spec.ingress[0]", false), ("spec.ingress[1]", true)]
    );
    let text = explain::render(&rules);
    assert!(
        text.contains(
            "spec.ingress[1] (ingress): OVER-PERMISSIVE — no observed connection uses this rule"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "shop/cart → shop/redis 6379/TCP: 2 connections, 6 flows, 2023-11-14T22:13:20Z to 2023-11-14T22:13:50Z; direction from is_reply 6"
        ),
        "{text}"
    );
}

#[test]
fn the_cli_exits_1_on_unused_rules_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let flows_path = dir.path().join("flows.jsonpb");
    let lines: Vec<String> = flows()
        .iter()
        .map(|f| {
            serde_json::to_string(&flowpolicy::proto::observer::GetFlowsResponse {
                response_types: Some(
                    flowpolicy::proto::observer::get_flows_response::ResponseTypes::Flow(f.clone()),
                ),
                ..Default::default()
            })
            .unwrap()
        })
        .collect();
    std::fs::write(&flows_path, lines.join("\n") + "\n").unwrap();
    let policy = dir.path().join("p.yaml");
    std::fs::write(
        &policy,
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: redis, namespace: shop}\nspec:\n  endpointSelector: {matchLabels: {app.kubernetes.io/name: redis}}\n  ingress:\n  - fromEntities: [world]\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        Command::cargo_bin("flowpolicy")
            .unwrap()
            .args(["explain", "--policies"])
            .arg(&policy)
            .arg(&flows_path)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 over-permissive"), "{stdout}");
    assert_eq!(run(&["--fail-on-unused"]).status.code(), Some(1));
    let json = run(&["-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v[0]["rule"], "spec.ingress[0]");
    assert_eq!(v[0]["justified_by"].as_array().unwrap().len(), 0);
}
