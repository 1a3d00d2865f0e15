//! Helpers for verification tests: run hand-made flows and policy YAML
//! through the same graph and engine as `flowpolicy verify`, and look up
//! the verdict of one (source → destination, port).
#![allow(dead_code)]

use std::path::Path;

use flowpolicy::policy::load_str;
use flowpolicy::proto::flow::{self, layer4::Protocol, Endpoint, Flow, IcmPv4, Layer4};
use flowpolicy::verify::report::{PortReport, Report};
use flowpolicy::verify::{verify, VerifyOptions};

use super::flowkit::graph_of;

/// Verifies `flows` against the policies in `yaml`.
pub fn check(yaml: &str, flows: &[Flow]) -> Report {
    let loaded = load_str(yaml, Path::new("case.yaml"));
    assert!(
        loaded.invalid.is_empty(),
        "invalid test policy: {:?}",
        loaded.invalid
    );
    verify(&graph_of(flows), &loaded, &VerifyOptions::default())
}

/// The verdict and port report of `src → dst` on `port` (`"5432/TCP"`).
pub fn find<'r>(r: &'r Report, src: &str, dst: &str, port: &str) -> (&'static str, &'r PortReport) {
    for (verdict, list) in [
        ("allowed", &r.allowed),
        ("dropped", &r.dropped),
        ("unknown", &r.unknown),
    ] {
        for e in list
            .iter()
            .filter(|e| e.source == src && e.destination == dst)
        {
            if let Some(p) = e.ports.iter().find(|p| p.port == port) {
                return (verdict, p);
            }
        }
    }
    let all: Vec<String> = [&r.allowed, &r.dropped, &r.unknown]
        .into_iter()
        .flatten()
        .flat_map(|e| {
            e.ports
                .iter()
                .map(move |p| format!("{} → {} {}", e.source, e.destination, p.port))
        })
        .collect();
    panic!("no edge {src} → {dst} {port}; have {all:?}")
}

/// The verdict only.
pub fn verdict(r: &Report, src: &str, dst: &str, port: &str) -> &'static str {
    find(r, src, dst, port).0
}

/// An ICMPv4 echo request (type 8) from `src` to `dst`.
pub fn ping(src: &(Endpoint, String), dst: &(Endpoint, String), t: i64) -> Flow {
    Flow {
        time: Some(pbjson_types::Timestamp {
            seconds: 1_700_000_000 + t,
            nanos: 0,
        }),
        verdict: flow::Verdict::Forwarded as i32,
        ip: Some(flow::Ip {
            source: src.1.clone(),
            destination: dst.1.clone(),
            ip_version: flow::IpVersion::IPv4 as i32,
            ..Default::default()
        }),
        l4: Some(Layer4 {
            protocol: Some(Protocol::IcmPv4(IcmPv4 { r#type: 8, code: 0 })),
        }),
        source: Some(src.0.clone()),
        destination: Some(dst.0.clone()),
        r#type: flow::FlowType::L3L4 as i32,
        node_name: "node-1".into(),
        is_reply: Some(pbjson_types::BoolValue { value: false }),
        ..Default::default()
    }
}
