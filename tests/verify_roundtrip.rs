//! `flowpolicy recommend X | flowpolicy verify --policies - X` reports no
//! dropped (and no undecidable) connection, for the demo fixture, the in-repo
//! sample dumps and (when the corpus is present) every real dump:
//! recommend's output is proven against the flows it was learned from.

use crate::common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// Runs the pipe and returns verify's JSON report.
fn round_trip(file: &Path, extra: &[&str]) -> Value {
    let (code, report) = common::recommend_then_verify(file, extra, extra);
    assert_eq!(
        code,
        Some(0),
        "{}: {}",
        file.display(),
        serde_json::to_string_pretty(&report["dropped"]).unwrap()
    );
    report
}

fn count(r: &Value, class: &str) -> u64 {
    r["summary"][class]["edge_ports"].as_u64().unwrap()
}

#[test]
fn every_real_dump_round_trips_with_zero_drops() {
    let Some(files) = common::real_dumps("verify round trip of real dumps") else {
        return;
    };
    assert!(files.len() >= 14);
    zero_drops(files);
}

#[test]
fn every_sample_round_trips_with_zero_drops() {
    zero_drops(common::sample_dumps());
}

fn zero_drops(files: Vec<PathBuf>) {
    for f in files {
        let r = round_trip(&f, &[]);
        assert_eq!(count(&r, "dropped"), 0, "{}", f.display());
        assert_eq!(count(&r, "unknown"), 0, "{}", f.display());
        assert_eq!(
            count(&r, "allowed"),
            count(&r, "observed"),
            "{}",
            f.display()
        );
        eprintln!(
            "{}: {} edge ports, 0 dropped",
            f.display(),
            count(&r, "observed")
        );
    }
}

#[test]
fn demo_fixture_round_trips_with_zero_drops() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst");
    for extra in [&[][..], &["--cidr-group", "10.0.0.0/8"][..]] {
        let r = round_trip(&demo, extra);
        assert_eq!(count(&r, "dropped"), 0);
        assert_eq!(count(&r, "unknown"), 0);
        assert!(count(&r, "observed") > 400, "{}", r["summary"]);
        // The 18 DROPPED scanner flows are not learned, so still denied.
        assert_eq!(
            r["summary"]["observed_dropped_now_allowed"]["edge_ports"],
            0
        );
    }
}

#[test]
fn exit_codes_and_bad_input() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst");
    let deny_all = "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: deny}\nspec:\n  endpointSelector: {}\n  ingress: [{}]\n";
    let out = Command::cargo_bin("flowpolicy")
        .unwrap()
        .args(["verify", "--policies", "-"])
        .arg(&demo)
        .write_stdin(deny_all)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("DROPPED") && text.contains("ingress at"),
        "{text}"
    );
    let missing = Command::cargo_bin("flowpolicy")
        .unwrap()
        .args(["verify", "--policies", "/nonexistent/policies"])
        .arg(&demo)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}
