//! Every document flowpolicy generates — from the bundled demo, the in-repo
//! sample dumps and (when the corpus is present) every real dump, with every
//! optional rule switched on — is accepted by the vendored CRD / Kubernetes
//! JSON schemas (`schemas/`), and its YAML reads back to the same typed policy
//! and to exactly the JSON value the self-check validates.

use crate::common;

use std::path::PathBuf;

use flowpolicy::cli::inputs::{load, InputArgs};
use flowpolicy::render::yaml;
use flowpolicy::synth::{synthesize, SynthConfig};

fn inputs(path: PathBuf) -> InputArgs {
    InputArgs {
        inputs: vec![path],
        strict: true,
        cidr_groups: vec!["10.0.0.0/8".parse().unwrap()],
        conn_window: 120,
        guess_direction: false,
    }
}

fn all_rules() -> SynthConfig {
    SynthConfig {
        foundation: true,
        same_namespace: true,
        fqdn_collapse: Some(2),
        include_dropped: true,
        ..SynthConfig::default()
    }
}

fn check(path: PathBuf) -> usize {
    let (graph, _) =
        load(&inputs(path.clone())).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
    let mut checked = 0;
    for cfg in [
        all_rules(),
        SynthConfig {
            apiserver_cluster_wide: true,
            ..all_rules()
        },
        SynthConfig::default(),
    ] {
        let set = synthesize(&graph, &cfg);
        // What the self-check validates: the typed documents' JSON values.
        let typed: Vec<serde_json::Value> = set
            .clusterwide
            .iter()
            .map(|p| serde_json::to_value(p).unwrap())
            .chain(
                set.namespaced
                    .iter()
                    .map(|p| serde_json::to_value(p).unwrap()),
            )
            .collect();
        for (doc, typed) in yaml::documents(&set).into_iter().zip(typed) {
            let value: serde_json::Value = serde_yaml::from_str(&doc.text).unwrap();
            assert_eq!(
                value,
                typed,
                "{}: the YAML reads back to another value than the one checked",
                doc.path.display()
            );
            if let Err(errors) = common::validate_policy_yaml(&value) {
                panic!(
                    "{} → {}: schema errors {errors:#?}\n{}",
                    path.display(),
                    doc.path.display(),
                    doc.text
                );
            }
            let loaded = flowpolicy::policy::load_str(&doc.text, &doc.path);
            assert_eq!(
                loaded.policies.len(),
                1,
                "{}: {:?}",
                doc.path.display(),
                loaded.invalid
            );
            assert!(
                loaded.policies[0].notes.is_empty(),
                "{:?}",
                loaded.policies[0].notes
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn documents_from_every_real_dump_validate() {
    let Some(files) = common::real_dumps("schema validation of documents from real dumps") else {
        return;
    };
    let total: usize = files.into_iter().map(check).sum();
    assert!(total > 50, "only {total} documents checked");
}

#[test]
fn documents_from_the_samples_validate() {
    let total: usize = common::sample_dumps().into_iter().map(check).sum();
    assert!(total > 30, "only {total} documents checked");
}

#[test]
fn documents_from_the_demo_validate() {
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst");
    assert!(check(demo) > 200);
}
