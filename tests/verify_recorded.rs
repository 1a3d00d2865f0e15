//! `verify --against-recorded`: a capture made as Cilium would record the
//! demo cluster under an enforced policy set — every flow of a connection
//! the set denies becomes a DROPPED (POLICY_DENIED) drop event, its replies
//! and L7 records vanish — checked against that set (all agree, exit 0),
//! against a wider set (policy drops it would allow) and a narrower one
//! (forwarded connections it would drop).

use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use flowpolicy::cli::inputs::{load, InputArgs};
use flowpolicy::graph::TrafficGraph;
use flowpolicy::interpret::{InterpretConfig, Interpreter};
use flowpolicy::policy::{load_paths, CiliumNetworkPolicy};
use flowpolicy::proto::flow::{self, Flow};
use flowpolicy::proto::observer::{get_flows_response::ResponseTypes, GetFlowsResponse};
use flowpolicy::render::yaml;
use flowpolicy::source::dump::{open_input, read_one, DumpOptions};
use flowpolicy::source::event::SourceEvent;
use flowpolicy::source::sink::EachEvent;
use flowpolicy::synth::{synthesize, PolicySet, SynthConfig};
use flowpolicy::verify::engine::Engine;
use flowpolicy::verify::tri::Tri;
use flowpolicy::verify::Model;
use serde_json::Value;

fn demo() -> PathBuf {
    crate::common::repo().join("fixtures/demo.jsonpb.zst")
}

fn groups() -> Vec<ipnet::IpNet> {
    vec!["10.0.0.0/8".parse().unwrap()]
}

fn demo_graph(path: &Path) -> TrafficGraph {
    let args = InputArgs {
        inputs: vec![path.to_path_buf()],
        strict: true,
        cidr_groups: groups(),
        conn_window: 120,
        guess_direction: false,
    };
    load(&args).unwrap().0
}

/// The demo's policies, and the same with one ingress rule (from pods)
/// removed from the first policy that has two or more (its connections are
/// then denied).
fn policy_sets(graph: &TrafficGraph) -> (PolicySet, PolicySet, String) {
    let cfg = SynthConfig {
        foundation: true,
        cidr_groups: groups(),
        ..SynthConfig::default()
    };
    let all = synthesize(graph, &cfg);
    let mut narrow = all.clone();
    let cnp: &mut CiliumNetworkPolicy = narrow
        .namespaced
        .iter_mut()
        .find(|p| {
            p.spec
                .as_ref()
                .is_some_and(|s| s.ingress.len() >= 2 && !s.ingress[0].from_endpoints.is_empty())
        })
        .expect("a policy with two ingress rules, the first from endpoints");
    let name = format!(
        "{}/{}",
        cnp.metadata.namespace.clone().unwrap_or_default(),
        cnp.metadata.name
    );
    cnp.spec.as_mut().unwrap().ingress.remove(0);
    (all, narrow, name)
}

fn write_set(dir: &Path, name: &str, set: &PolicySet) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, yaml::stream(&yaml::documents(set))).unwrap();
    path
}

/// Replays `input` as Cilium would have recorded it under `policies`: the
/// verdict of every flow the interpreter learns from is the set's.
fn record_under(input: &Path, policies: &Path, graph: &TrafficGraph, out: &Path) -> (u64, u64) {
    let loaded = load_paths(&[policies.to_path_buf()]).unwrap();
    let model = Model::compile(&loaded);
    let engine = Engine::new(&model, graph);
    let mut interpreter = Interpreter::new(InterpretConfig {
        cidr_groups: groups(),
        ..InterpretConfig::default()
    });
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    let (mut dropped, mut removed) = (0u64, 0u64);
    let mut sink = EachEvent(|event: &SourceEvent| {
        let SourceEvent::Flow(f) = event else { return };
        let mut f: Flow = (**f).clone();
        let decided = interpreter.interpret(&f).map(|o| {
            let denied = engine.decide(&o.initiator, &o.responder, o.port).verdict == Tri::No;
            let forward =
                f.ip.as_ref()
                    .and_then(|ip| ip.source.parse().ok())
                    .is_some_and(|src: std::net::IpAddr| Some(src) == o.initiator_ip);
            (denied, forward)
        });
        if let Some((denied, forward)) = decided {
            let l7 = f.l7.is_some();
            if denied {
                if !forward || l7 {
                    removed += 1;
                    return;
                }
                dropped += 1;
                f.verdict = flow::Verdict::Dropped as i32;
                f.drop_reason_desc = flow::DropReason::PolicyDenied as i32;
                f.drop_reason = 133;
                f.is_reply = None;
            } else if f.verdict == flow::Verdict::Dropped as i32
                || f.verdict == flow::Verdict::Audit as i32
            {
                // The demo's own drops and audits were made under another
                // set; under this one the connection is allowed.
                f.verdict = flow::Verdict::Forwarded as i32;
                f.drop_reason_desc = 0;
                f.drop_reason = 0;
            }
        }
        let line = GetFlowsResponse {
            node_name: f.node_name.clone(),
            time: f.time,
            response_types: Some(ResponseTypes::Flow(f)),
        };
        serde_json::to_writer(&mut file, &line).unwrap();
        file.write_all(b"\n").unwrap();
    });
    read_one(
        "demo",
        open_input(input).unwrap(),
        DumpOptions::default(),
        &mut sink,
    )
    .unwrap();
    file.flush().unwrap();
    (dropped, removed)
}

fn against(policies: &Path, capture: &Path) -> (i32, Value) {
    let out = Command::cargo_bin("flowpolicy")
        .unwrap()
        .args([
            "verify",
            "--against-recorded",
            "-o",
            "json",
            "--cidr-group",
            "10.0.0.0/8",
            "-p",
        ])
        .arg(policies)
        .arg(capture)
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), json)
}

#[test]
fn a_capture_recorded_under_a_policy_set_agrees_with_it_and_not_with_a_wider_or_narrower_one() {
    let dir = tempfile::tempdir().unwrap();
    let graph = demo_graph(&demo());
    let (all, narrow, changed) = policy_sets(&graph);
    let narrow_path = write_set(dir.path(), "enforced.yaml", &narrow);
    let all_path = write_set(dir.path(), "wider.yaml", &all);
    let capture = dir.path().join("recorded.jsonpb");
    let (dropped, removed) = record_under(&demo(), &narrow_path, &graph, &capture);
    assert!(dropped > 0, "the enforced set denies something ({changed})");
    assert!(removed > 0, "replies of denied connections vanish");

    // The set that was in force: every comparison agrees.
    let (code, report) = against(&narrow_path, &capture);
    let s = &report["summary"];
    eprintln!("recorded under {changed} removed: {dropped} flows dropped, {removed} removed; enforced set: {s}");
    assert_eq!(code, 0, "{report:#}");
    assert!(s["compared"].as_u64().unwrap() > 100, "{s}");
    assert_eq!(s["dropped_but_allowed"], 0);
    assert_eq!(s["forwarded_but_dropped"], 0);

    // A wider set allows what Cilium dropped: reported, by peer pair.
    let (code, report) = against(&all_path, &capture);
    eprintln!("wider set: {}", report["summary"]);
    assert_eq!(code, 1);
    let wider = &report["dropped_but_allowed"];
    assert!(!wider.as_array().unwrap().is_empty(), "{report:#}");
    assert!(
        wider.to_string().contains(&changed.replace('/', "\\/"))
            || wider
                .to_string()
                .contains(changed.split('/').next().unwrap()),
        "the rule that was removed decides: {wider}"
    );
    assert_eq!(report["summary"]["forwarded_but_dropped"], 0);

    // A narrower set drops what Cilium forwarded.
    let mut narrower = narrow.clone();
    let cnp = narrower
        .namespaced
        .iter_mut()
        .rev()
        .find(|p| {
            p.spec
                .as_ref()
                .is_some_and(|s| s.ingress.iter().any(|r| !r.from_endpoints.is_empty()))
        })
        .unwrap();
    let ingress = &mut cnp.spec.as_mut().unwrap().ingress;
    let first = ingress
        .iter()
        .position(|r| !r.from_endpoints.is_empty())
        .unwrap();
    ingress.remove(first);
    let narrower_path = write_set(dir.path(), "narrower.yaml", &narrower);
    let (code, report) = against(&narrower_path, &capture);
    eprintln!("narrower set: {}", report["summary"]);
    assert_eq!(code, 1);
    assert!(
        report["summary"]["forwarded_but_dropped"].as_u64().unwrap() > 0,
        "{report:#}"
    );
}

#[test]
fn text_output_names_each_disagreement_with_its_sample() {
    let dir = tempfile::tempdir().unwrap();
    let graph = demo_graph(&demo());
    let (all, narrow, _) = policy_sets(&graph);
    let narrow_path = write_set(dir.path(), "enforced.yaml", &narrow);
    let all_path = write_set(dir.path(), "wider.yaml", &all);
    let capture = dir.path().join("recorded.jsonpb");
    record_under(&demo(), &narrow_path, &graph, &capture);
    let out = Command::cargo_bin("flowpolicy")
        .unwrap()
        .args([
            "verify",
            "--against-recorded",
            "--cidr-group",
            "10.0.0.0/8",
            "-p",
        ])
        .arg(&all_path)
        .arg(&capture)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("against recorded verdicts: "), "{text}");
    assert!(
        text.contains("Cilium DROPPED (policy) but these policies allow:"),
        "{text}"
    );
    assert!(text.contains("    sample: "), "{text}");
    assert!(text.contains("DROPPED"), "{text}");
}
