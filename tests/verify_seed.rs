//! The seed document's own proposed policies (`<corpus>/policies/
//! seed-doc-proposed`, the `main` cluster set; skipped when the corpus is
//! absent) verified against the demo fixture: the drops a user applying
//! them would hit.
//!
//! - `postgres-cluster` selects `cnpg.io/cluster: postgres`, but the pods
//!   carry `postgres-18`: LAN clients (and SNATed LoadBalancer traffic) to
//!   5432 are dropped, and the policy selects nothing.
//! - `onepassword-connect` allows 8080, the real port is 8438. As written,
//!   the CCNP `allow-intra-namespace` hides this: in a clusterwide policy
//!   `fromEndpoints: [{}]` is every pod of the cluster (not "same namespace
//!   only", as its comment says), so 8438 passes through it and the 8080
//!   rules go unused. Without that CCNP, 8438 is dropped both ways.
//! - `toFQDNs` (1Password) never works: no policy has a DNS proxy rule.

use crate::common;

use std::path::{Path, PathBuf};

use flowpolicy::cli::inputs::{load, InputArgs};
use flowpolicy::graph::TrafficGraph;
use flowpolicy::policy::load_paths;
use flowpolicy::verify::report::{PortReport, Report};
use flowpolicy::verify::{verify, VerifyOptions};

fn demo() -> TrafficGraph {
    let args = InputArgs {
        inputs: vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst")],
        strict: false,
        cidr_groups: vec!["10.0.0.0/8".parse().unwrap()],
        conn_window: 120,
        guess_direction: false,
    };
    load(&args).unwrap().0
}

/// The seed's proposed policies, `None` (after the skip line) without the corpus.
fn seed_dir(what: &str) -> Option<PathBuf> {
    common::corpus(what, "policies/seed-doc-proposed")
}

fn seed(dir: &Path, skip: Option<&str>) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("main__") && skip.is_none_or(|s| !name.contains(s))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no main__ policies in {}", dir.display());
    files
}

fn run(graph: &TrafficGraph, dir: &Path, skip: Option<&str>) -> Report {
    let loaded = load_paths(&seed(dir, skip)).unwrap();
    assert!(loaded.invalid.is_empty(), "{:?}", loaded.invalid);
    verify(graph, &loaded, &VerifyOptions::default())
}

fn find<'r>(
    list: &'r [flowpolicy::verify::report::EdgeReport],
    src: &str,
    dst: &str,
    port: &str,
) -> Option<&'r PortReport> {
    list.iter()
        .filter(|e| e.source == src && e.destination == dst)
        .flat_map(|e| &e.ports)
        .find(|p| p.port == port)
}

#[test]
fn seed_policies_drop_real_traffic_of_the_demo() {
    let Some(dir) = seed_dir("the seed's proposed policies against the demo") else {
        return;
    };
    let graph = demo();
    let r = run(&graph, &dir, None);
    assert!(r.has_drops());
    eprintln!(
        "seed main set: dropped {:?} of {:?}",
        r.summary.dropped, r.summary.observed
    );

    // Wrong postgres selector: LAN and SNATed LoadBalancer clients dropped.
    for src in ["cidr:10.0.0.0/8", "entity:remote-node"] {
        let p = find(&r.dropped, src, "dbms/postgres-18", "5432/TCP")
            .unwrap_or_else(|| panic!("{src} → postgres-18 not dropped"));
        let ing = &p.directions[0];
        assert_eq!((ing.direction, ing.verdict), ("ingress", "dropped"));
        assert!(p.connections > 0);
    }
    let lan = find(
        &r.dropped,
        "cidr:10.0.0.0/8",
        "dbms/postgres-18",
        "5432/TCP",
    )
    .unwrap();
    assert!(
        lan.directions[0]
            .hints
            .iter()
            .any(|h| h.contains("postgres-cluster") && h.contains("does not select")),
        "{:?}",
        lan.directions[0]
    );
    assert!(r
        .over_permissive
        .iter()
        .any(|f| f.kind == "selects-nothing" && f.policy.name == "postgres-cluster"));

    // Wrong onepassword port, hidden by the cluster-wide "intra-namespace" CCNP.
    let op = find(
        &r.allowed,
        "external-secrets/external-secrets",
        "external-secrets/onepassword-connect",
        "8438/TCP",
    )
    .expect("8438 passes through allow-intra-namespace");
    let by = op.directions[1].rule.as_ref().unwrap();
    assert_eq!(by.policy.name, "allow-intra-namespace");
    for rule in ["spec.ingress[0]", "spec.egress[0]"] {
        assert!(
            r.over_permissive.iter().any(|f| f.kind == "unused-rule"
                && f.policy.name == "onepassword-connect"
                && f.rule == rule),
            "onepassword-connect {rule} should be unused"
        );
    }
    assert!(r.over_permissive.iter().any(|f| f.kind == "broad-peer"
        && f.policy.name == "allow-intra-namespace"
        && f.message.contains("every pod in every namespace")));

    // toFQDNs without a DNS proxy rule.
    let fq = find(
        &r.dropped,
        "external-secrets/onepassword-connect",
        "fqdn:my.1password.com",
        "443/TCP",
    )
    .unwrap();
    assert!(fq.directions[0]
        .hints
        .iter()
        .any(|h| h.contains("no egress DNS rule")));
}

#[test]
fn without_the_clusterwide_allow_the_onepassword_port_is_dropped() {
    let Some(dir) = seed_dir("the seed's proposed policies without the CCNP") else {
        return;
    };
    let graph = demo();
    let r = run(&graph, &dir, Some("allow-intra-namespace"));
    let p = find(
        &r.dropped,
        "external-secrets/external-secrets",
        "external-secrets/onepassword-connect",
        "8438/TCP",
    )
    .expect("external-secrets → onepassword-connect:8438 dropped");
    assert_eq!(p.directions.len(), 2);
    for d in &p.directions {
        assert_eq!(d.verdict, "dropped", "{d:?}");
        assert!(
            d.hints.iter().any(|h| h.contains("only on 8080/TCP")),
            "{d:?}"
        );
    }
    // Without any ingress section selecting them, the real postgres pods are
    // not in ingress default-deny at all: the wrong selector leaves them open.
    let lan = find(
        &r.allowed,
        "cidr:10.0.0.0/8",
        "dbms/postgres-18",
        "5432/TCP",
    )
    .unwrap();
    assert!(
        lan.directions[0]
            .reason
            .contains("no policy enforces ingress"),
        "{:?}",
        lan.directions[0]
    );
    eprintln!(
        "seed main set without allow-intra-namespace: dropped {:?}",
        r.summary.dropped
    );
}
