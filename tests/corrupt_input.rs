//! Issue #11: corrupted input never yields an invalid policy or a runaway
//! report. Real dump lines (the demo fixture, plus `../shared/data/flows`
//! when present) are damaged with a fixed seed (see `mutate/`) and fed to
//! `recommend`: no panic, every written document passes the CRD schema, the
//! report stays a few dozen lines, the run ends.

use crate::common;
use crate::mutate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::mutate::{mutate, Rng};
use flowpolicy::cli::inputs::{load, InputArgs};
use flowpolicy::render::{check, yaml};
use flowpolicy::source::dump::decode_line;
use flowpolicy::source::event::SourceEvent;
use flowpolicy::source::validate::check_flow;
use flowpolicy::synth::{synthesize, SynthConfig};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::Value;

/// Lines of the big test.
const LINES: usize = 100_000;
/// Share of them damaged, in percent.
const DAMAGED_PERCENT: u64 = 40;
/// The report must stay this short whatever the input.
const MAX_REPORT_LINES: usize = 40;

fn base_lines() -> &'static [Vec<u8>] {
    static LINES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    LINES.get_or_init(|| {
        let mut lines = mutate::demo_lines();
        if let Some(real) = mutate::corpus_lines() {
            lines.extend(real);
        }
        lines
    })
}

/// `count` lines from `start`, `percent` of them damaged; the kinds of damage done.
fn damaged(
    start: usize,
    count: usize,
    percent: u64,
    rng: &mut Rng,
) -> (Vec<u8>, BTreeMap<&'static str, u64>) {
    let base = base_lines();
    let mut text = Vec::new();
    let mut kinds = BTreeMap::new();
    for i in start..start + count {
        let line = &base[i % base.len()];
        if rng.chance(percent) {
            let other = &base[rng.below(base.len())];
            let (bad, kind) = mutate(line, other, rng);
            *kinds.entry(kind).or_default() += 1;
            text.extend_from_slice(&bad);
        } else {
            text.extend_from_slice(line);
        }
        text.push(b'\n');
    }
    (text, kinds)
}

/// Every document passes the library's self-check and the schema
/// validation the other tests use (vendored schemas, always present).
fn assert_valid(path: &str, text: &str) {
    let doc: Value = serde_yaml_value(text);
    let kind = doc["kind"].as_str().unwrap_or_default().to_string();
    if let Err((pointer, message)) = check::check_document(&doc, &kind) {
        panic!("{path}: {pointer}: {message}");
    }
    if let Err(errors) = common::validate_policy_yaml(&doc) {
        panic!("{path}: {errors:?}");
    }
}

fn serde_yaml_value(text: &str) -> Value {
    // The YAML reader the product uses (serde_norway, renamed serde_yaml).
    serde_yaml::from_str(text).expect("written YAML reads back")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_damaged_capture_of_100k_lines_never_yields_an_invalid_policy() {
    let started = std::time::Instant::now();
    let mut rng = Rng::new(11);
    let (text, kinds) = damaged(0, LINES, DAMAGED_PERCENT, &mut rng);
    let generated = started.elapsed();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("damaged.jsonpb");
    std::fs::write(&input, &text).unwrap();
    let out = tmp.path().join("policies");
    let run = assert_cmd::Command::cargo_bin("flowpolicy")
        .unwrap()
        .args([
            "recommend",
            "--cidr-group",
            "10.0.0.0/8",
            "--same-namespace",
            "--out",
        ])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    let ran = started.elapsed();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let report: Vec<&str> = stderr.lines().collect();
    assert!(
        report.len() <= MAX_REPORT_LINES,
        "report of {} lines:\n{stderr}",
        report.len()
    );
    assert!(report.iter().all(|l| l.chars().count() <= 2000), "{stderr}");
    let files = yaml_files(&out);
    for f in &files {
        assert_valid(
            &f.display().to_string(),
            &std::fs::read_to_string(f).unwrap(),
        );
    }
    let validated = started.elapsed();
    // Strict mode stops at the first damaged line, naming it.
    let strict = assert_cmd::Command::cargo_bin("flowpolicy")
        .unwrap()
        .args(["recommend", "--strict"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(!strict.status.success());
    let strict_err = String::from_utf8_lossy(&strict.stderr);
    assert!(strict_err.contains("damaged.jsonpb:"), "{strict_err}");

    let lines = text.iter().filter(|b| **b == b'\n').count();
    println!("corrupt-input figures (seed 11):");
    println!(
        "  lines written: {lines} ({} base lines, {DAMAGED_PERCENT}% damaged)",
        base_lines().len()
    );
    println!("  damage done: {kinds:?}");
    println!("  documents written: {}, all valid", files.len());
    println!("  recommend's report ({} lines):", report.len());
    for l in &report {
        println!("    {l}");
    }
    println!(
        "  --strict: {}",
        strict_err.lines().next().unwrap_or_default()
    );
    println!(
        "  time: generated {generated:?}, recommend done {ran:?}, documents checked {validated:?}, strict done {:?}",
        started.elapsed()
    );
    assert!(lines >= LINES);
    assert!(!files.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        rng_seed: RngSeed::Fixed(0x11),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// A batch of damaged lines: decoding and validation never panic, and
    /// whatever is synthesized from the batch is valid.
    #[test]
    fn damaged_batches_never_panic_and_give_only_valid_documents(
        seed in any::<u64>(),
        start in 0usize..1_000_000,
        percent in 10u64..100,
    ) {
        let mut rng = Rng::new(seed);
        let (text, _) = damaged(start, 400, percent, &mut rng);
        for line in text.split(|b| *b == b'\n') {
            if let Ok(Some(SourceEvent::Flow(f))) = decode_line(line) {
                let _ = check_flow(&f);
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("batch.jsonpb");
        std::fs::write(&input, &text).unwrap();
        let args = InputArgs {
            inputs: vec![input],
            strict: false,
            cidr_groups: vec!["10.0.0.0/8".parse().unwrap()],
            conn_window: 120,
            guess_direction: false,
        };
        // A batch whose every line is damaged may be "not a dump": an error, not a panic.
        let Ok((graph, _)) = load(&args) else { return Ok(()) };
        let cfg = SynthConfig { foundation: true, same_namespace: true, fqdn_collapse: Some(3), ..SynthConfig::default() };
        let docs = yaml::documents(&synthesize(&graph, &cfg));
        prop_assert!(check::check_documents(&docs).is_ok(), "{:?}", check::check_documents(&docs));
        for d in &docs {
            assert_valid(&d.path.display().to_string(), &d.text);
        }
        // Same damaged input, byte-identical output.
        let (again, _) = load(&args).unwrap();
        prop_assert_eq!(yaml::stream(&docs), yaml::stream(&yaml::documents(&synthesize(&again, &cfg))));
    }
}
