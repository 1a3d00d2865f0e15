//! The binary end to end: the README's demo command as the README writes it,
//! and bad input of every kind giving a clear message and exit code 2, never a
//! panic. Inputs are the in-repo samples (`tests/data/flows`); the tests that
//! depend on what a dump holds also run on the real dumps when the corpus is
//! present.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};

use predicates::prelude::*;

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst")
}

const REAL_10: &str = "cilium_hubble-otel__basic-sample-10-flows.json";
const REAL_400_TCP: &str = "cilium_hubble-otel__basic-sample-400-tcp-flows.json";

fn flowpolicy() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("flowpolicy").unwrap()
}

/// The README's first screen: its first `sh` block, as a newcomer copies it.
fn readme_commands() -> Vec<String> {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README opens with a sh block of commands");
    block.lines().map(str::to_owned).collect()
}

/// The README's two commands: the demo, run here with the arguments the
/// README gives (its `--out` moved to a scratch directory) on the binary
/// this suite built — the same code `--release` optimizes, without a second,
/// optimized build of everything in every test run — and the test command,
/// which is what runs this.
#[test]
fn the_readme_demo_command_prints_the_summary() {
    let commands = readme_commands();
    assert_eq!(commands.len(), 2, "{commands:?}");
    assert_eq!(commands[1], "cargo test");
    let args = commands[0]
        .strip_prefix("cargo run --release -- ")
        .unwrap_or_else(|| panic!("the demo command runs the release build: {}", commands[0]));
    let args: Vec<&str> = args.split_whitespace().collect();
    assert_eq!(args.get(1), Some(&"fixtures/demo.jsonpb.zst"), "{args:?}");
    assert!(demo().exists());
    let at = args
        .iter()
        .position(|a| *a == "--out")
        .filter(|at| at + 1 < args.len())
        .unwrap_or_else(|| panic!("the demo writes a tree: --out DIR in {args:?}"));
    let out = tempfile::tempdir().unwrap();
    let policies = out.path().join("policies");
    let output = flowpolicy()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(&args[..at])
        .arg("--out")
        .arg(&policies)
        .args(&args[at + 2..])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let summary = stderr.lines().last().unwrap();
    assert!(
        summary.starts_with(
            "flowpolicy: 48421 flows read from 1 input (0 malformed lines, 216 flows skipped), 95 workloads, 423 edges, 97 policies (95 CiliumNetworkPolicy, 2 CiliumClusterwideNetworkPolicy)"
        ),
        "{summary}"
    );
    assert!(
        stderr.contains("events were lost by Hubble"),
        "lost events must be reported: {stderr}"
    );
    assert!(policies
        .join("cluster/flowpolicy-foundation-dns.yaml")
        .exists());
    assert!(policies.join("dbms/pgadmin.yaml").exists());
    let dirs = std::fs::read_dir(&policies)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(dirs, 19, "18 namespaces plus cluster/");
    let plan = std::fs::read_to_string(policies.join("ROLLOUT.md")).unwrap();
    assert!(
        plan.contains("| 18 | kube-system |"),
        "kube-system, which everything depends on, comes last:\n{plan}"
    );
}

#[test]
fn stdout_gets_a_multi_document_stream() {
    stdout_stream(&common::sample("ten.jsonpb"));
}

#[test]
fn stdout_gets_a_multi_document_stream_from_a_real_dump() {
    if let Some(real) = common::real_dump("a real dump on stdin", REAL_10) {
        stdout_stream(&real);
    }
}

/// `FLOWPOLICY_TIMINGS` set, each stage of writing a tree says when it was
/// done, in order; unset, nothing of it is printed.
#[test]
fn timings_name_each_stage_in_order_only_when_asked() {
    let out = tempfile::tempdir().unwrap();
    let run = |timings: bool, name: &str| {
        let mut cmd = flowpolicy();
        cmd.args(["recommend", common::sample("ten.jsonpb").to_str().unwrap()])
            .arg("--out")
            .arg(out.path().join(name))
            .env_remove("FLOWPOLICY_TIMINGS");
        if timings {
            cmd.env("FLOWPOLICY_TIMINGS", "1");
        }
        let output = cmd.output().unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    let stages: Vec<String> = run(true, "timed")
        .lines()
        .filter_map(|l| l.strip_prefix("timings: "))
        .map(|l| {
            let stage = l.rsplit_once("] ").map_or("", |(_, stage)| stage);
            // Which way the tree was made durable depends on what else
            // waits to be written on the machine.
            match stage {
                "synced (the file system)" | "synced (each file and directory)" => "synced",
                other => other,
            }
            .to_string()
        })
        .collect();
    let expected = [
        "start",
        "read",
        "synthesis context",
        "workload policies",
        "documents prepared",
        "files made",
        "files checked",
        "synced",
        "renamed",
        "summary",
    ];
    let in_order: Vec<&String> = stages
        .iter()
        .filter(|s| expected.contains(&s.as_str()))
        .collect();
    assert_eq!(in_order, expected, "{stages:?}");
    assert!(!run(false, "untimed").contains("timings:"));
}

/// A 10-flow dump on stdin gives a YAML stream of policies on stdout.
fn stdout_stream(ten_flows: &Path) {
    flowpolicy()
        .args(["recommend", "-", "--no-foundation"])
        .write_stdin(std::fs::read(ten_flows).unwrap())
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n",
        ))
        .stderr(predicate::str::contains(
            "flowpolicy: 10 flows read from 1 input",
        ));
}

#[test]
fn missing_file_is_a_clear_error() {
    flowpolicy()
        .args(["recommend", "no-such-file.jsonpb"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot open no-such-file.jsonpb: No such file or directory",
        ));
}

#[test]
fn wrong_file_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pod.yaml");
    std::fs::write(&f, "apiVersion: v1\nkind: Pod\n").unwrap();
    flowpolicy()
        .args(["recommend", f.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("does not look like a Hubble flow dump")
                .and(predicate::str::contains("pod.yaml:1:")),
        );
}

#[test]
fn malformed_lines_are_reported_and_strict_fails() {
    malformed_lines(&common::sample("ten.jsonpb"));
}

#[test]
fn malformed_lines_after_a_real_dump() {
    if let Some(real) = common::real_dump("malformed lines after a real dump", REAL_10) {
        malformed_lines(&real);
    }
}

/// Ten good lines, then two malformed ones (lines 11 and 12).
fn malformed_lines(ten_flows: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("flows.jsonpb");
    let good = std::fs::read_to_string(ten_flows).unwrap();
    std::fs::write(
        &f,
        format!("{good}{{\"flow\": {{\"verdict\": \nnot json at all\n"),
    )
    .unwrap();
    flowpolicy()
        .args(["recommend", f.to_str().unwrap()])
        .assert()
        .success()
        .stderr(
            predicate::str::contains("flows.jsonpb:11:")
                .and(predicate::str::contains("2 malformed lines")),
        );
    flowpolicy()
        .args(["recommend", "--strict", f.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("flows.jsonpb:11:").and(predicate::str::contains("--strict")),
        );
}

#[test]
fn truncated_gzip_keeps_what_was_read_and_says_so() {
    truncated_gzip(&common::sample("tcp-400.jsonpb"));
}

#[test]
fn truncated_gzip_of_a_real_dump() {
    if let Some(real) = common::real_dump("a truncated gzip of a real dump", REAL_400_TCP) {
        truncated_gzip(&real);
    }
}

fn truncated_gzip(dump: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("flows.jsonpb.gz");
    let raw = std::fs::read(dump).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    let bytes = gz.finish().unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    flowpolicy()
        .args(["recommend", f.to_str().unwrap()])
        .assert()
        .success()
        .stderr(
            predicate::str::contains("input ends early").and(predicate::str::contains("truncated")),
        );
    flowpolicy()
        .args(["recommend", "--strict", f.to_str().unwrap()])
        .assert()
        .code(2);
}

#[test]
fn existing_output_directory_is_never_silently_clobbered() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("policies");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("mine.yaml"), "keep: me\n").unwrap();
    let flows = common::sample("ten.jsonpb");
    flowpolicy()
        .args([
            "recommend",
            flows.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("refusing to overwrite")
                .and(predicate::str::contains("--force")),
        );
    assert!(out.join("mine.yaml").exists());
    flowpolicy()
        .args([
            "recommend",
            flows.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--force",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "that flowpolicy did not write: mine.yaml",
        ));
    // --force never deletes a file flowpolicy did not write: it is named instead.
    assert!(out.join("mine.yaml").exists());
    std::fs::remove_file(out.join("mine.yaml")).unwrap();
    flowpolicy()
        .args([
            "recommend",
            flows.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--force",
        ])
        .assert()
        .success();
}

#[test]
fn bad_flags_explain_themselves() {
    flowpolicy()
        .args(["recommend", "x", "--cidr-group", "ten"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--cidr-group"));
    flowpolicy()
        .args(["recommend"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("FLOWS"));
    flowpolicy()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("recommend"));
}

#[test]
fn a_baseline_recorded_without_groups_can_be_grouped_later() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("demo.baseline");
    flowpolicy()
        .args([
            "merge",
            demo().to_str().unwrap(),
            "-o",
            baseline.to_str().unwrap(),
        ])
        .assert()
        .success();
    let from_baseline = flowpolicy()
        .args([
            "recommend",
            baseline.to_str().unwrap(),
            "--cidr-group",
            "10.0.0.0/8",
        ])
        .output()
        .unwrap();
    let from_dump = flowpolicy()
        .args([
            "recommend",
            demo().to_str().unwrap(),
            "--cidr-group",
            "10.0.0.0/8",
        ])
        .output()
        .unwrap();
    assert!(from_baseline.status.success() && from_dump.status.success());
    assert!(String::from_utf8_lossy(&from_dump.stdout).contains("'10.0.0.0/8'"));
    assert_eq!(from_baseline.stdout, from_dump.stdout);
}
