//! `watch` without the binary: the sink fed in process (connections
//! reported once, reloads, the `--max-edges` cap with its graph cut back),
//! and the PrometheusRule example checked against the metrics the watch
//! exposes and docs/watch.md.

use std::path::Path;

use serde_json::Value;

use crate::flowkit::graph_of;
use crate::watch::new_connections;
use crate::week::generate;

/// The PrometheusRule example parses, is a PrometheusRule, and every metric
/// its alerts use is one the watch exposes (and docs/watch.md documents).
#[test]
fn the_prometheus_rule_example_uses_only_real_metrics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("deploy/watch-prometheusrule.yaml")).unwrap();
    let rule: Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["kind"], "PrometheusRule");
    let (metrics, registry) = flowpolicy::watch::metrics::Metrics::registered();
    metrics.would_drop_for("shop", "egress").inc();
    metrics.dropped_for("shop", "ingress").inc();
    metrics.stream("relay", true);
    let exposed = flowpolicy::watch::metrics::encode(&registry);
    let docs = std::fs::read_to_string(root.join("docs/watch.md")).unwrap();
    let mut alerts = 0;
    for group in rule["spec"]["groups"].as_array().unwrap() {
        for r in group["rules"].as_array().unwrap() {
            let expr = r["expr"].as_str().unwrap();
            assert!(r["alert"].as_str().is_some(), "{r}");
            let names: Vec<&str> = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("flowpolicy_"))
                .collect();
            assert!(!names.is_empty(), "{expr}");
            for n in names {
                assert!(
                    exposed
                        .lines()
                        .any(|l| l.starts_with(n) && l[n.len()..].starts_with([' ', '{'])),
                    "{n} is not exposed:\n{exposed}"
                );
                assert!(docs.contains(n), "{n} is not in docs/watch.md");
            }
            alerts += 1;
        }
    }
    assert!(alerts >= 4);
}

/// In process: the sink reports each connection once however many flows it
/// carries, re-decides after a reload, and stays within `--max-edges` (its
/// graph cut back with it).
#[test]
fn the_sink_reports_connections_not_flows_and_keeps_within_the_cap() {
    use flowpolicy::graph::builder::GraphBuilder;
    use flowpolicy::interpret::InterpretConfig;
    use flowpolicy::source::event::{EndpointHint, SourceEvent};
    use flowpolicy::source::sink::{At, FlowSink};
    use flowpolicy::watch::events::{StreamNote, WatchEvent};
    use flowpolicy::watch::metrics::Metrics;
    use flowpolicy::watch::{PolicyTree, WatchOptions, WatchSink};

    let week = generate();
    let day = &week.days[0];
    let dir = tempfile::tempdir().unwrap();
    let set =
        flowpolicy::synth::synthesize(&graph_of(day), &flowpolicy::synth::SynthConfig::default());
    let docs = flowpolicy::render::yaml::documents(&set);
    std::fs::write(
        dir.path().join("p.yaml"),
        flowpolicy::render::yaml::stream(&docs),
    )
    .unwrap();
    let tree = PolicyTree::load(&[dir.path().to_path_buf()], 0).unwrap();
    let run = |cap: usize| {
        let mut sink = WatchSink::new(
            GraphBuilder::new(InterpretConfig::default()),
            tree.reload().unwrap(),
            Metrics::registered().0,
            WatchOptions {
                unused_after_ns: None,
                max_edges: cap,
                stream: "test".into(),
            },
        );
        let mut flows = day.clone();
        // The new connections three times over: still two connections.
        for _ in 0..3 {
            flows.extend(new_connections(day));
        }
        flows.sort_by_key(|f| f.time.map(|t| (t.seconds, t.nanos)));
        for f in flows {
            let _ = sink.event(
                &SourceEvent::Flow(Box::new(f)),
                At::Node(""),
                EndpointHint::default(),
            );
        }
        sink
    };

    let mut sink = run(100_000);
    let count = |s: &WatchSink, kind: &str| s.pending.iter().filter(|e| e.kind() == kind).count();
    assert_eq!(count(&sink, "would-drop"), 2);
    assert_eq!(count(&sink, "new-edge"), 2);
    assert_eq!(
        sink.totals.would_drop, 54,
        "3 x 3 connections x 3 flows, replies included"
    );
    // A reload decides again: the same connections are reported again on their next flow.
    sink.pending.clear();
    let reloaded = sink.tree.reload().unwrap();
    sink.replace_tree(reloaded);
    for f in new_connections(day) {
        let _ = sink.event(
            &SourceEvent::Flow(Box::new(f)),
            At::Node(""),
            EndpointHint::default(),
        );
    }
    assert_eq!(count(&sink, "would-drop"), 2, "{:?}", sink.pending);
    assert_eq!(count(&sink, "new-edge"), 0, "a connection is new once");

    let small = run(16);
    assert!(small.edges.len() <= 16 && small.edges.evicted > 0);
    let ports: usize = small
        .graph()
        .edges_sorted()
        .iter()
        .map(|(_, _, e)| e.ports.len())
        .sum();
    assert_eq!(
        ports,
        small.edges.len(),
        "the graph is cut back with the cache"
    );
    assert!(small
        .pending
        .iter()
        .any(|e| matches!(e, WatchEvent::Stream(StreamNote::Evicted { cap: 16, .. }))));
}
