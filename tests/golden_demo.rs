//! Golden test: the policies generated from the bundled demo, exactly as the
//! README's first command writes them. Review changes with `cargo insta review`
//! (or delete the snapshot and rerun) — every diff is a behaviour change.

use std::path::PathBuf;

use flowpolicy::cli::inputs::{load, InputArgs};
use flowpolicy::render::yaml;
use flowpolicy::synth::{synthesize, SynthConfig};

fn demo_policies(cfg: &SynthConfig) -> String {
    let args = InputArgs {
        inputs: vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst")],
        strict: true,
        cidr_groups: vec!["10.0.0.0/8".parse().unwrap()],
        conn_window: 120,
        guess_direction: false,
    };
    let (graph, _) = load(&args).unwrap();
    yaml::stream(&yaml::documents(&synthesize(&graph, cfg)))
}

#[test]
fn demo_policies_match_the_golden_file() {
    let cfg = SynthConfig {
        foundation: true,
        ..SynthConfig::default()
    };
    insta::assert_snapshot!("demo_policies", demo_policies(&cfg));
}

#[test]
fn demo_policies_are_byte_identical_across_runs() {
    let cfg = SynthConfig {
        foundation: true,
        same_namespace: true,
        fqdn_collapse: Some(3),
        ..SynthConfig::default()
    };
    assert_eq!(demo_policies(&cfg), demo_policies(&cfg));
}
