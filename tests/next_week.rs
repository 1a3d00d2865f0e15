//! Next week still works: policies learned from the first five days of a
//! generated week (`week/`: pods recreated with new names and addresses,
//! rescheduled across nodes including control-plane nodes, sibling
//! instances rotating, jobs re-run) allow every flow of days 6–7 on a
//! connection class the five days showed, and none of the connections the
//! week never made.

use std::collections::BTreeSet;
use std::path::Path;

use crate::flowkit::graph_of;
use crate::week::{class_of, generate, never_made};

use flowpolicy::graph::TrafficGraph;
use flowpolicy::policy::load_str;
use flowpolicy::render::yaml;
use flowpolicy::synth::{self, SynthConfig};
use flowpolicy::verify::engine::Engine;
use flowpolicy::verify::tri::Tri;
use flowpolicy::verify::Model;

type Class = (String, String, String);

fn classes(g: &TrafficGraph) -> BTreeSet<Class> {
    let mut out = BTreeSet::new();
    for (from, to, e) in g.edges_sorted() {
        for port in e.ports.keys() {
            out.insert(class_of(from, to, port));
        }
    }
    out
}

fn learn(g: &TrafficGraph, per_instance: bool) -> Model {
    let set = synth::synthesize(
        g,
        &SynthConfig {
            foundation: true,
            per_instance,
            ..SynthConfig::default()
        },
    );
    let text = yaml::stream(&yaml::documents(&set));
    let loaded = load_str(&text, Path::new("week.yaml"));
    assert!(loaded.invalid.is_empty(), "{:?}", loaded.invalid);
    Model::compile(&loaded)
}

/// Flows of `holdout` on known classes, and how many of them `model` allows;
/// the known classes with a flow it does not allow.
fn coverage(
    model: &Model,
    holdout: &TrafficGraph,
    known: &BTreeSet<Class>,
) -> (u64, u64, BTreeSet<String>) {
    let engine = Engine::new(model, holdout);
    let (mut flows, mut allowed) = (0, 0);
    let mut missed = BTreeSet::new();
    for (from, to, e) in holdout.edges_sorted() {
        for (port, stats) in &e.ports {
            if !known.contains(&class_of(from, to, port)) {
                continue;
            }
            let n = stats.allowed.as_ref().map_or(0, |t| t.flows);
            flows += n;
            if engine.decide(from, to, *port).verdict == Tri::Yes {
                allowed += n;
            } else {
                missed.insert(format!("{from} -> {to} {port}"));
            }
        }
    }
    (flows, allowed, missed)
}

#[test]
fn policies_learned_on_five_days_hold_for_the_next_two() {
    let week = generate();
    let train: Vec<_> = week.days[..5].concat();
    let hold: Vec<_> = week.days[5..].concat();
    let (train, hold) = (graph_of(&train), graph_of(&hold));
    let known = classes(&train);
    let (flows, allowed, missed) = coverage(&learn(&train, false), &hold, &known);
    println!("holdout coverage, one policy per role: {allowed}/{flows} flows on known classes");
    assert!(flows > 400, "{flows}");
    assert!(missed.is_empty(), "known traffic dropped: {missed:#?}");
    assert_eq!(allowed, flows);
    // Every holdout class was already known: the week only churned.
    assert_eq!(classes(&hold).difference(&known).count(), 0);

    // One policy per instance (the opt-out) breaks on the rotating siblings.
    let (flows, allowed, missed) = coverage(&learn(&train, true), &hold, &known);
    println!("holdout coverage, --per-instance: {allowed}/{flows} flows on known classes");
    assert!(allowed < flows, "--per-instance allowed everything");
    assert!(
        missed.iter().any(|m| m.contains("rook-ceph-osd")),
        "{missed:#?}"
    );
}

#[test]
fn no_connection_the_week_never_made_is_allowed() {
    let week = generate();
    let all: BTreeSet<Class> = classes(&graph_of(&week.days.concat()));
    let train = graph_of(&week.days[..5].concat());
    let probes = graph_of(&never_made());
    let model = learn(&train, false);
    let engine = Engine::new(&model, &probes);
    let mut n = 0;
    for (from, to, e) in probes.edges_sorted() {
        for port in e.ports.keys() {
            let class = class_of(from, to, port);
            assert!(!all.contains(&class), "probe {class:?} was made");
            let d = engine.decide(from, to, *port);
            assert_eq!(d.verdict, Tri::No, "{from} -> {to} {port} is allowed");
            n += 1;
        }
    }
    assert_eq!(n, 12);
}

#[test]
fn the_generated_week_has_the_churn_it_claims() {
    let week = generate();
    assert_eq!(week.days.len(), 7);
    assert_eq!(generate().days, week.days, "deterministic");
    let names = |d: usize| -> BTreeSet<String> {
        week.days[d]
            .iter()
            .flat_map(|f| [&f.source, &f.destination])
            .flatten()
            .map(|e| e.pod_name.clone())
            .filter(|n| !n.is_empty())
            .collect()
    };
    assert!(names(0).is_disjoint(&names(6)), "pods are recreated");
    let g = graph_of(&week.days.concat());
    let roles = synth::roles(&g, &SynthConfig::default());
    let families: Vec<String> = roles.families().iter().map(|f| f.describe()).collect();
    assert_eq!(families.len(), 3, "{families:#?}");
    assert!(
        families
            .iter()
            .any(|f| f.contains("rook-ceph-osd: 6 instances")),
        "{families:#?}"
    );
    assert!(
        families
            .iter()
            .any(|f| f.contains("rook-ceph-mon: 3 instances")),
        "{families:#?}"
    );
    assert!(
        families.iter().any(|f| f.contains("kafka: 3 instances")),
        "{families:#?}"
    );
}

/// The graph with its window (what the dump reader records).
fn timed(flows: &[flowpolicy::proto::flow::Flow]) -> TrafficGraph {
    let mut g = graph_of(flows);
    for f in flows {
        if let Some(t) = f.time {
            g.coverage
                .see_time(t.seconds * 1_000_000_000 + i64::from(t.nanos));
        }
    }
    g
}

#[test]
fn the_next_week_line_names_what_is_still_learning() {
    use flowpolicy::graph::stability::NextWeek;
    let week = generate();
    let cfg = SynthConfig::default();
    let next = |g: &TrafficGraph| NextWeek::of(&synth::policy_view(g, &cfg));
    // Days 1-5: the churn (new pods, other instances) adds no class a
    // policy has, so nothing is learning; instance by instance, it does.
    let five = timed(&week.days[..5].concat());
    println!("days 1-5: {}", next(&five).line());
    assert!(!next(&five).short_window);
    assert_eq!(next(&five).new, 0, "{:?}", next(&five));
    assert!(next(&five).line().contains("nothing is still learning"));
    println!("days 1-5, per instance: {}", NextWeek::of(&five).line());
    assert!(NextWeek::of(&five).new > 0);
    // The whole week, with connections never made before on the last day.
    let mut flows = week.days.concat();
    flows.extend(never_made());
    let seven = next(&timed(&flows));
    println!("days 1-7 and new connections: {}", seven.line());
    // 12 connections, 11 classes: the API server through a host or at a
    // remote node is one.
    assert_eq!(seven.new, 11, "{seven:?}");
    for w in ["shop/frontend", "rook-ceph/rook-ceph-mgr", "kafka/kafka"] {
        assert!(seven.learning.iter().any(|l| l == w), "{w}: {seven:?}");
    }
    assert!(
        seven.line().contains("still learning: "),
        "{}",
        seven.line()
    );
}

#[test]
fn recommend_and_explain_list_the_families_and_recommend_says_what_next_week_holds() {
    use assert_cmd::Command;
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("week.jsonpb");
    crate::flowkit::write_dump(&dump, &generate().days[..5].concat());
    let run = |args: &[&str]| {
        let out = Command::cargo_bin("flowpolicy")
            .unwrap()
            .args(args)
            .arg(&dump)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (policies, err) = run(&["recommend"]);
    assert!(
        err.contains("roles: 3 families of instances written as one policy per role"),
        "{err}"
    );
    assert!(
        err.contains("rook-ceph/rook-ceph-osd: 4 instances (osd 0, 1, 2, 3)"),
        "{err}"
    );
    assert!(
        err.contains("next week: 0 % of the connection classes"),
        "{err}"
    );
    assert_eq!(policies.matches("kind: CiliumNetworkPolicy").count(), 12);
    let (_, err) = run(&["recommend", "--per-instance"]);
    assert!(
        err.contains("found, written one policy per instance (--per-instance)"),
        "{err}"
    );
    let file = dir.path().join("p.yaml");
    std::fs::write(&file, policies).unwrap();
    let (text, err) = run(&["explain", "-p", file.to_str().unwrap()]);
    assert!(
        err.contains("roles: 3 families of instances in these flows"),
        "{err}"
    );
    assert!(!text.contains("OVER-PERMISSIVE"), "{text}");
}
