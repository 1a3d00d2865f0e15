//! Helpers shared by the integration tests.
//!
//! - `validate_policy_yaml` checks a policy document (already parsed into a
//!   JSON value) against the JSON schema of its kind, vendored in `schemas/`
//!   (CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy from the Cilium
//!   1.18 CRDs, Kubernetes NetworkPolicy). Schema validation lives in tests
//!   only, and always runs.
//! - `corpus` finds the optional external corpus (real dumps and real
//!   policies): `FLOWPOLICY_CORPUS`, else `../shared/data` beside the
//!   checkout. Tests that need it skip with one line on stderr when it is
//!   absent, and fail when it is present but empty.
//! - `sample_dumps` lists the in-repo flow files in `tests/data/flows`.
//! - `recommend_then_verify` pipes `recommend` into `verify --policies -`
//!   on the same flows and returns verify's exit code and JSON report.
//! - `certs`: a throw-away PKI for the TLS tests; `observer_server`: an
//!   in-process Hubble Observer (relay) server for the `observe` and relay
//!   tests; `peer_server`: an in-process Hubble peer service for the
//!   fan-out tests; `mute_server`: a TCP server that accepts and never
//!   answers.
#![allow(dead_code)]

pub mod certs;
pub mod observer_server;
pub mod peer_server;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The corpus root: `FLOWPOLICY_CORPUS` if set (relative to the repository
/// root), else `../shared/data` beside the checkout.
pub fn corpus_root() -> PathBuf {
    match std::env::var_os("FLOWPOLICY_CORPUS") {
        Some(dir) if !dir.is_empty() => repo().join(dir),
        _ => repo().join("../shared/data"),
    }
}

/// `<corpus>/<sub>` when that directory exists. Otherwise prints one line
/// naming `what` was skipped (straight to stderr, so the test harness does
/// not swallow it) and returns `None`: the caller returns and passes.
pub fn corpus(what: &str, sub: &str) -> Option<PathBuf> {
    let dir = corpus_root().join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    let _ = writeln!(
        std::io::stderr(),
        "skipping {what}: corpus not found at {} (set FLOWPOLICY_CORPUS)",
        dir.display()
    );
    None
}

/// Every real Hubble dump in `<corpus>/flows`, sorted; `None` (after the
/// skip line) without the corpus. An empty directory is a failure.
pub fn real_dumps(what: &str) -> Option<Vec<PathBuf>> {
    let dir = corpus(what, "flows")?;
    let files = dump_files(&dir, &["json", "jsonl"]);
    assert!(!files.is_empty(), "no dumps in {}", dir.display());
    Some(files)
}

/// One real dump by file name, `None` (after the skip line) without the corpus.
pub fn real_dump(what: &str, name: &str) -> Option<PathBuf> {
    let path = corpus(what, "flows")?.join(name);
    assert!(
        path.is_file(),
        "{} is missing from the corpus",
        path.display()
    );
    Some(path)
}

/// The in-repo flow files (`tests/data/flows/*.jsonpb`), sorted.
pub fn sample_dumps() -> Vec<PathBuf> {
    let files = dump_files(&sample_dir(), &["jsonpb"]);
    assert!(files.len() >= 4, "in-repo samples: {files:?}");
    files
}

/// `tests/data/flows`.
pub fn sample_dir() -> PathBuf {
    repo().join("tests/data/flows")
}

/// One in-repo flow file by name.
pub fn sample(name: &str) -> PathBuf {
    sample_dir().join(name)
}

fn dump_files(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| extensions.iter().any(|e| x == *e))
        })
        .collect();
    files.sort();
    files
}

fn schema_file(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "CiliumNetworkPolicy" => "ciliumnetworkpolicy_v2.json",
        "CiliumClusterwideNetworkPolicy" => "ciliumclusterwidenetworkpolicy_v2.json",
        "NetworkPolicy" => "networkpolicy_v1.json",
        _ => return None,
    })
}

fn validator(kind: &str) -> Result<&'static jsonschema::Validator, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static jsonschema::Validator>>> =
        OnceLock::new();
    let file = schema_file(kind).ok_or_else(|| format!("no schema for kind {kind:?}"))?;
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    if let Some(v) = cache.get(file) {
        return Ok(v);
    }
    let path = repo().join("schemas").join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let schema: Value = serde_json::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
    let v = jsonschema::validator_for(&schema).map_err(|e| format!("{file}: {e}"))?;
    let v: &'static jsonschema::Validator = Box::leak(Box::new(v));
    cache.insert(file.to_owned(), v);
    Ok(v)
}

/// Validates one policy document against the schema chosen by its `kind`.
/// Errors are `"<instance path>: <message>"`.
pub fn validate_policy_yaml(doc: &Value) -> Result<(), Vec<String>> {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    let v = validator(kind).map_err(|e| vec![e])?;
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// `flowpolicy recommend FILE REC_ARGS | flowpolicy verify --policies - -o json
/// FILE VERIFY_ARGS`: verify's exit code and JSON report. Fails the test when
/// recommend fails or verify prints no JSON.
pub fn recommend_then_verify(
    file: &Path,
    rec_args: &[&str],
    verify_args: &[&str],
) -> (Option<i32>, Value) {
    let rec = assert_cmd::Command::cargo_bin("flowpolicy")
        .unwrap()
        .arg("recommend")
        .args(rec_args)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        rec.status.success(),
        "recommend {}: {}",
        file.display(),
        String::from_utf8_lossy(&rec.stderr)
    );
    let out = assert_cmd::Command::cargo_bin("flowpolicy")
        .unwrap()
        .args(["verify", "--policies", "-", "-o", "json"])
        .arg(file)
        .args(verify_args)
        .write_stdin(rec.stdout)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

/// Copies a directory tree (a fixture repository into a temporary one).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Every file below `root` by its relative path, with its text.
pub fn tree_files(root: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    out
}

/// A TCP server on localhost that accepts connections, keeps them open and
/// never says a word: its address, and the task holding the connections
/// (abort it to close them).
pub async fn mute_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    (addr, hold)
}
