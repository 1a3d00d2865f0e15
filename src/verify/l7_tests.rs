//! Unit tests of the per-direction L7 decision: HTTP rules, L4-only and
//! L3-only wildcards, mixed sections, ports, other parsers, default deny.

use std::collections::BTreeSet;
use std::path::Path;

use super::*;
use crate::peer::l4::Proto;
use crate::peer::{Entity, Peer};
use crate::policy::load_str;
use crate::verify::model::Direction;

const POLICY: &str = r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: frontend}}]
    toPorts:
    - ports: [{port: "8080", protocol: TCP}]
      rules:
        http:
        - {method: "GET", path: "/api/v1/users/[0-9]+"}
        - {method: "POST|PUT", path: "/api/v1/orders"}
  - fromEndpoints: [{matchLabels: {app: admin}}]
    toPorts:
    - ports: [{port: "8080", protocol: TCP}]
  - fromEndpoints: [{matchLabels: {app: ops}}]
  - fromEndpoints: [{matchLabels: {app: batch}}]
    toPorts:
    - ports: [{port: "8080", protocol: TCP}]
      rules: {http: [{path: "/api/(.*"}]}
    - ports: [{port: "9090", protocol: TCP}]
  - toPorts:
    - ports: [{port: "9092", protocol: TCP}]
      rules: {kafka: [{topic: orders}]}
"#;

fn model() -> Model {
    let loaded = load_str(POLICY, Path::new("api.yaml"));
    assert!(loaded.invalid.is_empty(), "{:?}", loaded.invalid);
    Model::compile(&loaded)
}

fn tcp(port: u16) -> PortKey {
    PortKey {
        proto: Proto::Tcp,
        port,
    }
}

/// An ingress decision allowed at L4 by `sections` (index, L4 match).
fn dir(sections: &[(usize, Tri)], enforced: bool) -> DirDecision {
    DirDecision {
        direction: Direction::Ingress,
        endpoint: Peer::Entity(Entity::World),
        verdict: Tri::Yes,
        allowed_by: None,
        host_default: false,
        denied_by: None,
        enforced_by: if enforced {
            BTreeSet::from([0])
        } else {
            BTreeSet::new()
        },
        unknown: Vec::new(),
        hints: Vec::new(),
        l7: Vec::new(),
        matched: sections
            .iter()
            .map(|(i, t)| {
                (
                    SectionRef {
                        rule: 0,
                        direction: Direction::Ingress,
                        deny: false,
                        section: *i,
                        entry: None,
                    },
                    *t,
                )
            })
            .collect(),
    }
}

fn get<'a>(method: &'a str, target: &'a str) -> RequestView<'a> {
    RequestView {
        method,
        target,
        host: None,
        headers: None,
    }
}

fn verdict(d: &DirDecision, port: u16, method: &str, target: &str) -> Tri {
    decide(&model(), d, tcp(port), &get(method, target)).verdict
}

#[test]
fn http_rules_allow_matching_requests_only() {
    let d = dir(&[(0, Tri::Yes)], true);
    assert_eq!(verdict(&d, 8080, "GET", "/api/v1/users/7"), Tri::Yes);
    assert_eq!(verdict(&d, 8080, "PUT", "/api/v1/orders"), Tri::Yes);
    let r = decide(&model(), &d, tcp(8080), &get("DELETE", "/api/v1/users/7"));
    assert_eq!(r.verdict, Tri::No);
    assert_eq!(r.checked.len(), 1);
    let rules = r.checked[0].rules.as_ref().unwrap();
    assert_eq!(rules[0].rule, "GET /api/v1/users/[0-9]+");
    assert_eq!(rules[0].missed, vec!["method".to_string()]);
    assert_eq!(rules[1].missed, vec!["method", "path"]);
    // the query is part of :path
    assert_eq!(verdict(&d, 8080, "GET", "/api/v1/users/7?x=1"), Tri::No);
}

#[test]
fn an_l4_only_section_wildcards_l7_for_its_peers() {
    let d = dir(&[(1, Tri::Yes)], true);
    assert_eq!(verdict(&d, 8080, "DELETE", "/anything"), Tri::Yes);
    let r = decide(&model(), &d, tcp(8080), &get("DELETE", "/x"));
    assert!(r.checked.is_empty());
    assert!(r.reason.contains("no L7 rule"), "{}", r.reason);
}

#[test]
fn mixed_sections_the_l4_only_one_wins() {
    // the same peer matched by an L7 section and an L4-only section
    let d = dir(&[(0, Tri::Yes), (1, Tri::Yes)], true);
    let r = decide(&model(), &d, tcp(8080), &get("DELETE", "/admin"));
    assert_eq!(r.verdict, Tri::Yes);
    assert_eq!(r.allowed_by.map(|s| s.section), Some(1));
    assert!(r.reason.contains("L4-only"), "{}", r.reason);
    // an L3-only section (no toPorts) is an allow-all port-0 rule
    let d = dir(&[(0, Tri::Yes), (2, Tri::Yes)], true);
    assert_eq!(verdict(&d, 8080, "DELETE", "/admin"), Tri::Yes);
    // an L4-only section that may match (Unknown) leaves the request unknown
    let d = dir(&[(0, Tri::Yes), (1, Tri::Unknown)], true);
    assert_eq!(verdict(&d, 8080, "DELETE", "/admin"), Tri::Unknown);
    assert_eq!(verdict(&d, 8080, "GET", "/api/v1/users/1"), Tri::Yes);
}

#[test]
fn l7_rules_apply_to_the_ports_of_their_own_entry() {
    let d = dir(&[(3, Tri::Yes)], true);
    // 9090 is an L4-only entry of the same section
    assert_eq!(verdict(&d, 9090, "DELETE", "/x"), Tri::Yes);
    // 8080 carries an invalid regex: unknown, with the reason
    let r = decide(&model(), &d, tcp(8080), &get("GET", "/api/x"));
    assert_eq!(r.verdict, Tri::Unknown);
    assert!(
        r.unknown[0].contains("not a valid RE2 regex"),
        "{:?}",
        r.unknown
    );
}

#[test]
fn other_parsers_are_unknown_for_http_requests() {
    let d = dir(&[(4, Tri::Yes)], true);
    let r = decide(&model(), &d, tcp(9092), &get("GET", "/"));
    assert_eq!(r.verdict, Tri::Unknown);
    assert!(r.unknown[0].contains("kafka"), "{:?}", r.unknown);
}

#[test]
fn host_and_unenforced_directions() {
    let mut d = dir(&[(0, Tri::Yes)], true);
    d.host_default = true;
    assert_eq!(verdict(&d, 8080, "DELETE", "/x"), Tri::Yes);
    // no default deny: only what an L7 section selects is filtered
    let d = dir(&[(0, Tri::Yes)], false);
    assert_eq!(verdict(&d, 8080, "DELETE", "/x"), Tri::No);
    let d = dir(&[(0, Tri::Unknown)], false);
    assert_eq!(verdict(&d, 8080, "DELETE", "/x"), Tri::Unknown);
    let d = dir(&[], false);
    assert_eq!(verdict(&d, 8080, "DELETE", "/x"), Tri::Yes);
}
