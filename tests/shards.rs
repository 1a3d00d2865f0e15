//! DaemonSet shards: a generated capture of four nodes (`shardkit`) split by
//! `node_name` into one baseline per node, merged in any order and grouping,
//! equals the baseline of the whole capture — graph, flow and connection
//! counts, coverage, counters and interpreter state — and `recommend` on
//! the merge prints the whole capture's policies byte for byte. A node in
//! two inputs at overlapping times is warned about.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;

use flowpolicy::baseline::{to_json, Baseline, BaselineMeta};
use flowpolicy::graph::builder::GraphBuilder;
use flowpolicy::interpret::InterpretConfig;
use flowpolicy::peer::l4::{PortKey, Proto};
use flowpolicy::peer::Peer;
use flowpolicy::proto::flow::{layer4::Protocol, Flow, TrafficDirection};
use flowpolicy::source::event::{EndpointHint, SourceEvent};

use super::flowkit::write_dump;
use super::observe::BIN;
use super::shardkit::{capture, NODES};

/// Events lost on one node, in the whole capture and in its shard.
const LOST: (&str, u64) = ("k8s-b", 12);

fn by_node(flows: &[Flow]) -> BTreeMap<String, Vec<Flow>> {
    let mut out: BTreeMap<String, Vec<Flow>> = BTreeMap::new();
    for f in flows {
        out.entry(f.node_name.clone()).or_default().push(f.clone());
    }
    out
}

/// A baseline of `flows` as `merge dump -o FILE` builds it, through the
/// file format and back.
fn baseline_of(flows: &[Flow], lost: Option<(&str, u64)>) -> Baseline {
    let cfg = InterpretConfig::default();
    let mut b = GraphBuilder::new(cfg.clone());
    for f in flows {
        let event = SourceEvent::Flow(Box::new(f.clone()));
        b.add(&event, EndpointHint::default(), &mut |_| {});
    }
    if let Some((node, count)) = lost {
        let event = SourceEvent::Lost {
            node: node.into(),
            source: "HUBBLE_RING_BUFFER".into(),
            count,
        };
        b.add(&event, EndpointHint::default(), &mut |_| {});
    }
    let mut meta = BaselineMeta {
        state: b.interpreter.state(),
        ..BaselineMeta::default()
    };
    meta.settings.conn_window_seconds.insert(120);
    let stats = b.interpreter.stats.clone();
    let out = Baseline {
        graph: b.graph,
        interpret: stats,
        meta,
        unchecked: false,
    };
    let raw = zstd::stream::decode_all(out.encode().as_slice()).unwrap();
    Baseline::from_json("shard", &raw).unwrap()
}

fn shard_baselines(flows: &[Flow]) -> Vec<Baseline> {
    by_node(flows)
        .iter()
        .map(|(node, fs)| baseline_of(fs, (node == LOST.0).then_some(LOST)))
        .collect()
}

fn text(b: &Baseline) -> String {
    String::from_utf8(to_json(&b.graph, &b.interpret, &b.meta)).unwrap()
}

/// Equal texts, or a failure naming the first differing line.
fn assert_same(what: &str, got: &str, want: &str) {
    if got == want {
        return;
    }
    let at = got
        .lines()
        .zip(want.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(got.lines().count().min(want.lines().count()));
    panic!(
        "{what}: differs at line {}:\n  got:  {:?}\n  want: {:?}",
        at + 1,
        got.lines().nth(at),
        want.lines().nth(at)
    );
}

fn merged(parts: &[&Baseline]) -> Baseline {
    let mut out = Baseline::default();
    for p in parts {
        out.merge(p);
    }
    out
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            out.push(q);
        }
    }
    out
}

#[test]
fn per_node_shards_merged_in_every_order_equal_the_whole_capture() {
    let flows = capture(7, 40);
    let whole = text(&baseline_of(&flows, Some(LOST)));
    let shards = shard_baselines(&flows);
    assert_eq!(shards.len(), NODES.len());
    for order in permutations(shards.len()) {
        let parts: Vec<&Baseline> = order.iter().map(|i| &shards[*i]).collect();
        assert_same(&format!("order {order:?}"), &text(&merged(&parts)), &whole);
    }
}

#[test]
fn a_connection_seen_on_two_nodes_counts_once() {
    let flows = capture(11, 30);
    // Every frontend → api connection opens with one SYN at the client's node.
    let opened = flows
        .iter()
        .filter(|f| {
            let syn = matches!(
                f.l4.as_ref().and_then(|l| l.protocol.as_ref()),
                Some(Protocol::Tcp(t)) if t.destination_port == 8080
                    && t.flags.as_ref().is_some_and(|x| x.syn && !x.ack)
            );
            let from_frontend = f
                .source
                .as_ref()
                .is_some_and(|s| s.labels.iter().any(|l| l == "k8s:app=frontend"));
            syn && from_frontend && f.traffic_direction() == TrafficDirection::Egress
        })
        .count() as u64;
    assert!(opened > 5);
    let b = merged(&shard_baselines(&flows).iter().collect::<Vec<_>>());
    let port = PortKey {
        proto: Proto::Tcp,
        port: 8080,
    };
    let is = |p: &Peer, app: &str| matches!(p, Peer::Workload(w) if w.labels.get("app").map(String::as_str) == Some(app));
    let counted: u64 = b
        .graph
        .edges_sorted()
        .into_iter()
        .filter(|(from, to, _)| is(from, "frontend") && is(to, "api"))
        .filter_map(|(_, _, e)| e.ports.get(&port)?.allowed.as_ref())
        .map(|t| t.connections)
        .sum();
    assert_eq!(counted, opened, "one per connection, not one per node");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any capture, nodes grouped into shards any way (a shard may hold
    /// several nodes, as a relay capture of part of the cluster does),
    /// merged in any order and grouping: the whole capture's baseline.
    #[test]
    fn any_grouping_and_order_of_shards_is_the_whole(
        seed in 0u64..10_000,
        rounds in 2usize..12,
        groups in prop::collection::vec(0usize..3, NODES.len()),
        order in Just((0..3usize).collect::<Vec<_>>()).prop_shuffle(),
        nested in any::<bool>(),
    ) {
        let flows = capture(seed, rounds);
        let whole = text(&baseline_of(&flows, Some(LOST)));
        let shards: Vec<Baseline> = order
            .iter()
            .map(|g| {
                let mine: Vec<Flow> = flows
                    .iter()
                    .filter(|f| groups[NODES.iter().position(|n| *n == f.node_name).unwrap()] == *g)
                    .cloned()
                    .collect();
                let lost = groups[1] == *g;
                baseline_of(&mine, lost.then_some(LOST))
            })
            .collect();
        let all = if nested {
            let tail = merged(&shards[1..].iter().collect::<Vec<_>>());
            merged(&[&tail, &shards[0]])
        } else {
            merged(&shards.iter().collect::<Vec<_>>())
        };
        prop_assert_eq!(text(&all), whole);
    }
}

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "flowpolicy {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes the whole capture and one dump per node (each with its node's
/// lost events) into `dir`.
fn write_dumps(dir: &Path, flows: &[Flow]) {
    let lost = format!(
        "{{\"lost_events\":{{\"source\":\"HUBBLE_RING_BUFFER\",\"num_events_lost\":\"{}\"}},\"node_name\":\"{}\"}}\n",
        LOST.1, LOST.0
    );
    let append = |path: &Path| {
        let mut text = std::fs::read_to_string(path).unwrap();
        text.push_str(&lost);
        std::fs::write(path, text).unwrap();
    };
    write_dump(&dir.join("whole.jsonpb"), flows);
    append(&dir.join("whole.jsonpb"));
    for (node, fs) in by_node(flows) {
        let path = dir.join(format!("{node}.jsonpb"));
        write_dump(&path, &fs);
        if node == LOST.0 {
            append(&path);
        }
    }
}

#[test]
fn cli_merge_of_node_shards_is_byte_identical_and_recommends_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_dumps(d, &capture(3, 25));
    run(d, &["merge", "whole.jsonpb", "-o", "whole.baseline"]);
    for n in NODES {
        run(
            d,
            &[
                "merge",
                &format!("{n}.jsonpb"),
                "-o",
                &format!("{n}.baseline"),
            ],
        );
    }
    let want = std::fs::read(d.join("whole.baseline")).unwrap();
    let shard = |i: usize| format!("{}.baseline", NODES[i]);
    for (k, order) in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]]
        .iter()
        .enumerate()
    {
        let out = format!("merged-{k}.baseline");
        let mut args: Vec<String> = vec!["merge".into()];
        args.extend(order.iter().map(|i| shard(*i)));
        args.extend(["-o".into(), out.clone()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(d, &args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains("4 nodes in the inputs"), "{stderr}");
        assert!(!stderr.contains("counted twice"), "{stderr}");
        assert!(
            std::fs::read(d.join(&out)).unwrap() == want,
            "merge of the shards in order {order:?} differs from the whole capture's baseline"
        );
    }
    let whole = run(d, &["recommend", "whole.jsonpb"]).stdout;
    let merged = run(d, &["recommend", "merged-0.baseline"]).stdout;
    assert!(!whole.is_empty());
    assert_same(
        "recommend",
        &String::from_utf8(merged).unwrap(),
        &String::from_utf8(whole).unwrap(),
    );
}

#[test]
fn the_same_node_in_two_inputs_at_once_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_dumps(d, &capture(5, 6));
    run(d, &["merge", "k8s-a.jsonpb", "-o", "k8s-a.baseline"]);
    run(d, &["merge", "k8s-b.jsonpb", "-o", "k8s-b.baseline"]);
    std::fs::copy(d.join("k8s-a.baseline"), d.join("k8s-a-copy.baseline")).unwrap();
    let o = run(
        d,
        &[
            "merge",
            "k8s-a.baseline",
            "k8s-b.baseline",
            "k8s-a-copy.baseline",
            "-o",
            "all.baseline",
        ],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("warning: node k8s-a is in both k8s-a.baseline and k8s-a-copy.baseline")
            && stderr.contains("counted twice"),
        "{stderr}"
    );
    assert!(!stderr.contains("node k8s-b is in both"), "{stderr}");
    assert!(stderr.contains("2 nodes in the inputs"), "{stderr}");
}

/// The demo capture (six nodes, lost events, a node reported unavailable),
/// split by `node_name`: the per-node baselines merge into the whole
/// capture's baseline byte for byte.
#[test]
fn the_demo_split_per_node_merges_into_the_whole_demo() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let demo = super::common::repo().join("fixtures/demo.jsonpb.zst");
    let text = zstd::stream::decode_all(std::fs::File::open(&demo).unwrap()).unwrap();
    let mut parts: BTreeMap<String, String> = BTreeMap::new();
    for line in String::from_utf8(text).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let node = v["node_name"].as_str().unwrap_or("none").to_string();
        let part = parts.entry(node).or_default();
        part.push_str(line);
        part.push('\n');
    }
    assert!(parts.len() >= 6, "{:?}", parts.keys());
    let mut shards = Vec::new();
    for (node, lines) in &parts {
        std::fs::write(d.join(format!("{node}.jsonpb")), lines).unwrap();
        let shard = format!("{node}.baseline");
        run(d, &["merge", &format!("{node}.jsonpb"), "-o", &shard]);
        shards.push(shard);
    }
    let demo = demo.to_string_lossy();
    run(d, &["merge", &demo, "-o", "whole.baseline"]);
    shards.reverse();
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(String::as_str));
    args.extend(["-o", "merged.baseline"]);
    run(d, &args);
    assert!(
        std::fs::read(d.join("merged.baseline")).unwrap()
            == std::fs::read(d.join("whole.baseline")).unwrap(),
        "the demo's node shards do not merge into the demo's baseline"
    );
}
