//! Sanity checks of the bundled demo fixture `fixtures/demo.jsonpb.zst`: every line decodes as a
//! Hubble `GetFlowsResponse`, the expected traffic classes are present, and regenerating it from
//! the seed topology (`<corpus>/seed-cluster`, skipped when the corpus is absent) gives
//! byte-identical output.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use flowpolicy::proto::flow::{layer4, Flow, Verdict};
use flowpolicy::proto::observer::{get_flows_response::ResponseTypes, GetFlowsResponse};

#[allow(dead_code)]
#[path = "../examples/gen_demo/main.rs"]
mod gen_demo;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture_path() -> PathBuf {
    manifest_dir().join("fixtures/demo.jsonpb.zst")
}

fn read_fixture() -> Vec<GetFlowsResponse> {
    let file = std::fs::File::open(fixture_path()).expect("fixture exists");
    let decoder = zstd::stream::read::Decoder::new(file).expect("zstd stream");
    BufReader::new(decoder)
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let line = line.expect("readable line");
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1))
        })
        .collect()
}

fn flows(responses: &[GetFlowsResponse]) -> impl Iterator<Item = &Flow> {
    responses.iter().filter_map(|r| match &r.response_types {
        Some(ResponseTypes::Flow(f)) => Some(f),
        _ => None,
    })
}

fn has_label(flow: &Flow, destination: bool, label: &str) -> bool {
    let ep = if destination {
        &flow.destination
    } else {
        &flow.source
    };
    ep.as_ref()
        .is_some_and(|e| e.labels.iter().any(|l| l == label))
}

fn tcp_destination_port(flow: &Flow) -> Option<u32> {
    match flow.l4.as_ref()?.protocol.as_ref()? {
        layer4::Protocol::Tcp(t) => Some(t.destination_port),
        _ => None,
    }
}

#[test]
fn every_line_decodes_and_counts_are_in_range() {
    let responses = read_fixture();
    let flow_count = flows(&responses).count();
    let node_status = responses
        .iter()
        .filter(|r| matches!(r.response_types, Some(ResponseTypes::NodeStatus(_))))
        .count();
    let lost = responses
        .iter()
        .filter(|r| matches!(r.response_types, Some(ResponseTypes::LostEvents(_))))
        .count();
    assert!(
        (20_000..=60_000).contains(&responses.len()),
        "{} lines",
        responses.len()
    );
    assert_eq!(flow_count + node_status + lost, responses.len());
    assert!(node_status >= 2, "node_status lines: {node_status}");
    assert!(lost >= 1, "lost_events lines: {lost}");
}

#[test]
fn fixture_contains_the_traffic_classes_and_seed_mismatches() {
    let responses = read_fixture();
    let all: Vec<&Flow> = flows(&responses).collect();
    let verdict_count = |v: Verdict| all.iter().filter(|f| f.verdict == v as i32).count();
    for v in [
        Verdict::Dropped,
        Verdict::Audit,
        Verdict::Redirected,
        Verdict::Translated,
    ] {
        assert!(verdict_count(v) > 0, "no {v:?} flows");
    }
    let nxdomain = all.iter().any(|f| {
        matches!(&f.l7, Some(l7) if matches!(&l7.record,
            Some(flowpolicy::proto::flow::layer7::Record::Dns(d)) if d.rcode == 3 && d.query.ends_with(".svc.cluster.local.")))
    });
    assert!(nxdomain, "no search-list NXDOMAIN DNS answers");
    // Real CNPG labels (cnpg.io/cluster=postgres-18), not the seed policy's `postgres`.
    assert!(all
        .iter()
        .any(|f| has_label(f, true, "k8s:cnpg.io/cluster=postgres-18")
            && tcp_destination_port(f) == Some(5432)
            && f.is_reply.as_ref().is_some_and(|r| !r.value)));
    // external-secrets → onepassword-connect on its real port 8438 (the seed policy says 8080).
    assert!(all.iter().any(
        |f| has_label(f, false, "k8s:app.kubernetes.io/name=external-secrets")
            && has_label(f, true, "k8s:app.kubernetes.io/name=onepassword-connect")
            && tcp_destination_port(f) == Some(8438)
    ));
    for label in [
        "reserved:world",
        "reserved:world-ipv4",
        "reserved:world-ipv6",
        "reserved:host",
        "reserved:health",
    ] {
        assert!(
            all.iter()
                .any(|f| has_label(f, true, label) || has_label(f, false, label)),
            "no {label}"
        );
    }
    assert!(all
        .iter()
        .any(|f| has_label(f, true, "reserved:kube-apiserver")));
}

#[test]
fn regenerating_from_the_seed_topology_is_byte_identical() {
    let Some(seed) = common::corpus("regenerating the demo fixture", "seed-cluster") else {
        return;
    };
    let topology = seed.join("cluster-topology.json");
    let text = std::fs::read_to_string(&topology).expect("topology readable");
    let (bytes, _) = gen_demo::generate(&text).expect("generation succeeds");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("demo.jsonpb.zst");
    std::fs::write(&out, &bytes).expect("write regenerated fixture");
    let committed = std::fs::read(fixture_path()).expect("committed fixture");
    let regenerated = std::fs::read(&out).expect("regenerated fixture");
    assert!(
        committed == regenerated,
        "fixture differs from a fresh generation; rerun gen_demo (see fixtures/README.md)"
    );
}
