//! Helpers for verification tests: run hand-made flows and policy YAML
//! through the same graph and engine as `flowpolicy verify`, and look up
//! the verdict of one (source → destination, port).

use std::path::Path;

use flowpolicy::policy::load_str;
use flowpolicy::proto::flow::Flow;
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
