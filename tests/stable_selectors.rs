//! Selectors that survive recreation: no selector of any generated policy —
//! on every real dump of the corpus (skipped with a note when absent), on
//! the demo and on the generated week — names a pod-template-hash,
//! controller-revision-hash, job-name, ordinal or other instance label, or a
//! pod's name. Also prints the families of instances found on each input
//! (the closing note's figures).

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use flowpolicy::cli::inputs::{load, InputArgs};
use flowpolicy::graph::TrafficGraph;
use flowpolicy::peer::labels::is_volatile;
use flowpolicy::synth::roles::is_instance_key;
use flowpolicy::synth::{self, SynthConfig};
use serde_json::Value;

fn graph(path: &Path) -> TrafficGraph {
    let args = InputArgs {
        inputs: vec![path.to_path_buf()],
        strict: false,
        cidr_groups: vec!["10.0.0.0/8".parse().unwrap()],
        conn_window: 120,
        guess_direction: false,
    };
    load(&args).unwrap().0
}

/// Every `pod_name` the dump names.
fn pod_names(path: &Path) -> BTreeSet<String> {
    let bytes = std::fs::read(path).unwrap();
    let text = if path.extension().is_some_and(|e| e == "zst") {
        String::from_utf8(zstd::decode_all(&bytes[..]).unwrap()).unwrap()
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let re = regex::Regex::new(r#""pod_name"\s*:\s*"([^"]+)""#).unwrap();
    re.captures_iter(&text).map(|c| c[1].to_string()).collect()
}

/// Every (key, value) of every `matchLabels` and key of every
/// `matchExpressions` in the documents.
fn selector_labels(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                match (k.as_str(), x) {
                    ("matchLabels", Value::Object(labels)) => {
                        for (lk, lv) in labels {
                            out.push((lk.clone(), lv.as_str().unwrap_or("").to_string()));
                        }
                    }
                    ("matchExpressions", Value::Array(list)) => {
                        for e in list {
                            let key = e["key"].as_str().unwrap_or("").to_string();
                            out.push((key, String::new()));
                        }
                    }
                    _ => selector_labels(x, out),
                }
            }
        }
        Value::Array(list) => list.iter().for_each(|x| selector_labels(x, out)),
        _ => {}
    }
}

/// Checks the invariant on one graph; returns the families found.
fn check(name: &str, g: &TrafficGraph, pods: &BTreeSet<String>) -> Vec<String> {
    let cfg = SynthConfig {
        foundation: true,
        include_dropped: true,
        ..SynthConfig::default()
    };
    let set = synth::synthesize(g, &cfg);
    let mut labels = Vec::new();
    selector_labels(&serde_json::to_value(&set.namespaced).unwrap(), &mut labels);
    selector_labels(
        &serde_json::to_value(&set.clusterwide).unwrap(),
        &mut labels,
    );
    for (key, value) in &labels {
        let bare = key.split_once(':').map_or(key.as_str(), |(s, k)| {
            if s.contains('/') || s.contains('.') {
                key.as_str()
            } else {
                k
            }
        });
        assert!(!is_volatile(bare), "{name}: selector names {key}={value}");
        assert!(
            !is_instance_key(bare),
            "{name}: selector names {key}={value}"
        );
        assert!(
            value.is_empty() || !pods.contains(value),
            "{name}: selector {key}={value} is a pod's name"
        );
    }
    set.families.iter().map(|f| f.describe()).collect()
}

#[test]
fn no_selector_names_an_instance_on_any_real_dump() {
    let Some(dumps) = common::real_dumps("selectors that survive recreation") else {
        return;
    };
    for path in dumps {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let families = check(&name, &graph(&path), &pod_names(&path));
        println!("families on {name}: {} {families:?}", families.len());
    }
}

#[test]
fn no_selector_names_an_instance_on_the_demo() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst");
    let pods = pod_names(&path);
    assert!(pods.len() > 100, "{}", pods.len());
    let families = check("demo", &graph(&path), &pods);
    println!("families on the demo: {} {families:?}", families.len());
}

#[test]
fn no_selector_names_an_instance_on_the_generated_week() {
    let week = crate::week::generate();
    let flows = week.days.concat();
    let pods: BTreeSet<String> = flows
        .iter()
        .flat_map(|f| [&f.source, &f.destination])
        .flatten()
        .map(|e| e.pod_name.clone())
        .filter(|n| !n.is_empty())
        .collect();
    let families = check("week", &crate::flowkit::graph_of(&flows), &pods);
    assert_eq!(families.len(), 3, "{families:?}");
    // Per instance, the OSD selectors need their instance labels: the
    // invariant is what the roles buy.
    let set = synth::synthesize(
        &crate::flowkit::graph_of(&flows),
        &SynthConfig {
            per_instance: true,
            ..SynthConfig::default()
        },
    );
    let mut labels = Vec::new();
    selector_labels(&serde_json::to_value(&set.namespaced).unwrap(), &mut labels);
    assert!(labels.iter().any(|(k, _)| is_instance_key(k)), "{labels:?}");
}
