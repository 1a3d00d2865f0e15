//! A week of baselining loses nothing (issue #22): every row of the table in
//! docs/baselining.md ("What survives which fault") is a test here, against
//! the real binary and the in-process Observer server
//! (`tests/common/observer_server.rs`), or in-process where the property is
//! the library's:
//!
//! 1. one writer per baseline: a second `observe`, or `merge -o`, on a
//!    baseline being written is refused at once, naming the first;
//! 2. a `--record` that fails (disk full, cannot open) is a warning, and the
//!    baseline goes on;
//! 3. a damaged baseline is refused, never loaded: every single-bit flip of
//!    a saved baseline is refused or loads identically; old files without a
//!    checksum still load, with a note;
//! 4. a baseline observed in N runs, cut anywhere, is the one-run baseline
//!    (DNS answers, connections and parked flows carry over) — a property
//!    test over random cut points, and end to end with `--until` cuts;
//! 5. a bad `--server` (port, host, scheme) is refused before anything is
//!    dialled, naming the bad part;
//! 6. temp files of interrupted saves are removed; a signal while
//!    connecting ends the run at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use crate::common::observer_server::{self, time_of, Cut, ServerOptions};
use crate::flowkit::{dns_answer, ident, pod, tcp_conn};
use crate::observe::{
    args, content, fixture, load, observe_args, ok, run, samples, serve, tcp_fixture, tree,
    unsealed, write_dump, Dumps, BIN, BOUND,
};
use flowpolicy::baseline::{self, Baseline, BaselineMeta};
use flowpolicy::graph::builder::GraphBuilder;
use flowpolicy::interpret::InterpretConfig;
use flowpolicy::proto::flow::Flow;
use flowpolicy::proto::observer::get_flows_response::ResponseTypes;
use flowpolicy::proto::observer::GetFlowsResponse;
use flowpolicy::source::dump;
use flowpolicy::source::event::{EndpointHint, SourceEvent};

/// RFC 3339 (ns) of a response time, for `--until`.
fn rfc3339(t: (i64, i32)) -> String {
    chrono::DateTime::from_timestamp(t.0, t.1 as u32)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// An `observe` in the background, its stderr read line by line.
struct Background {
    child: std::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: String,
}

impl Background {
    fn spawn(args: &[String]) -> Background {
        let mut child = Command::new(BIN)
            .args(args)
            .env_remove("HUBBLE_SERVER")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Background {
            child,
            lines,
            seen: String::new(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (bounded) for a stderr line that contains `want`.
    async fn wait_for(&mut self, want: &str) {
        let deadline = Instant::now() + BOUND;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    if line.contains(want) {
                        return;
                    }
                }
                Ok(None) => panic!("observe ended before printing {want:?}:\n{}", self.seen),
                Err(_) => panic!("no {want:?} within the bound:\n{}", self.seen),
            }
        }
    }

    fn signal(&self, sig: &str) {
        Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap();
    }

    /// Waits (bounded) for the process to end; its exit status and stderr.
    async fn finish(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(Some(line)) =
                    tokio::time::timeout(Duration::from_secs(5), self.lines.recv()).await
                {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                }
                return (status, self.seen);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("observe did not end within the bound:\n{}", self.seen);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The paths where two JSON values differ (at most 20), for a readable
/// failure.
fn json_diff(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    fn walk(a: &serde_json::Value, b: &serde_json::Value, at: String, out: &mut Vec<String>) {
        use serde_json::Value;
        if out.len() >= 20 || a == b {
            return;
        }
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let null = Value::Null;
                    walk(
                        x.get(k).unwrap_or(&null),
                        y.get(k).unwrap_or(&null),
                        format!("{at}.{k}"),
                        out,
                    );
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    walk(p, q, format!("{at}[{i}]"), out);
                }
            }
            _ => {
                let short = |v: &Value| v.to_string().chars().take(300).collect::<String>();
                out.push(format!("{at}: {} != {}", short(a), short(b)));
            }
        }
    }
    let mut out = Vec::new();
    walk(a, b, String::new(), &mut out);
    out
}

/// Asserts two baselines' contents (all but the run facts) are equal.
fn assert_same(a: &Path, b: &Path, what: &str) {
    let (x, y) = (content(a), content(b));
    let diff = json_diff(&x, &y);
    assert!(diff.is_empty(), "{what}:\n{}", diff.join("\n"));
}

// 1. One writer per baseline.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_of_a_baseline_is_refused_at_once_naming_the_first() {
    let flows = tcp_fixture(&samples());
    // A following server: the first observe runs until interrupted.
    let server = observer_server::start(ServerOptions {
        responses: flows.clone(),
        ..ServerOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("shared.baseline");
    let lock = dir.path().join("shared.baseline.lock");
    let mut first = Background::spawn(&args(&[
        "observe",
        "--server",
        &server.address(),
        "--baseline",
        s(&baseline),
        "--checkpoint-every",
        "50ms",
    ]));
    first.wait_for(&format!("{} flows,", flows.len())).await;
    assert!(lock.exists());

    // A second observe (another port-forward, another cluster, a forgotten
    // tmux pane) on the same file: refused before reading or connecting.
    let streams = server.streams();
    let started = Instant::now();
    let out = run(args(&[
        "observe",
        "--server",
        &server.address(),
        "--baseline",
        s(&baseline),
    ]))
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "is being written by another flowpolicy (PID {} on ",
            first.pid()
        )) && err.contains("since ")
            && err.contains("flowpolicy observe")
            && err.contains("stop the other run first, or pass another --baseline path"),
        "{err}"
    );
    assert!(
        !err.contains("continuing") && !err.contains("connecting to"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(server.streams(), streams, "the second run connected");

    // merge -o on it is refused likewise (even with --force).
    let dump_path = dir.path().join("other.jsonpb");
    write_dump(&dump_path, &flows[..10]);
    let out = run(args(&[
        "merge",
        s(&dump_path),
        "-o",
        s(&baseline),
        "--force",
    ]))
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is being written by another flowpolicy")
            && err.contains("write to another -o file"),
        "{err}"
    );

    // The first run ends as usual, with every flow, and lets go of the lock.
    first.signal("INT");
    let (status, text) = first.finish().await;
    assert_eq!(status.code(), Some(0), "{text}");
    assert_eq!(load(&baseline).graph.coverage.flows, flows.len() as u64);
    assert!(!lock.exists(), "the lock file is removed on exit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_left_by_a_killed_observe_does_not_block_the_next_one() {
    let flows = tcp_fixture(&samples());
    let server = observer_server::start(ServerOptions {
        responses: flows.clone(),
        ..ServerOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("killed.baseline");
    let mut first = Background::spawn(&args(&[
        "observe",
        "--server",
        &server.address(),
        "--baseline",
        s(&baseline),
        "--checkpoint-every",
        "50ms",
    ]));
    first.wait_for(&format!("{} flows,", flows.len())).await;
    first.signal("KILL");
    let _ = first.finish().await;
    // The lock file is still there; the kernel released the lock itself.
    assert!(dir.path().join("killed.baseline.lock").exists());
    let (until, sentinel) = crate::observe::until_and_sentinel(&flows);
    server.push(sentinel);
    let err = ok(&run(observe_args(&server.address(), &baseline, &until, &[])).await);
    assert!(err.contains("observe: continuing"), "{err}");
    assert_eq!(load(&baseline).graph.coverage.flows, flows.len() as u64);
}

// 2. A failing --record is a warning; the baseline goes on.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_for_record_stops_recording_and_the_baseline_goes_on() {
    let full = Path::new("/dev/full");
    if !full.exists() {
        eprintln!("skipping: no /dev/full to stand for a full disk");
        return;
    }
    let flows = fixture(&samples());
    let (server, until) = serve(flows.clone(), None, Cut::Error).await;
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("rec.baseline");
    let err = ok(&run(observe_args(
        &server.address(),
        &baseline,
        &until,
        &["--record", "/dev/full", "--checkpoint-every", "50ms"],
    ))
    .await);
    assert!(
        err.contains("warning: --record /dev/full: cannot write /dev/full")
            && err.contains("No space left on device")
            && err.contains("recording stopped (the baseline goes on)"),
        "{err}"
    );
    assert!(err.contains("baseline saved to"), "{err}");
    assert_eq!(load(&baseline).graph.coverage.flows, flows.len() as u64);

    // A record file that cannot be opened (its directory does not exist).
    let missing = dir.path().join("no-such-dir").join("rec.jsonpb.zst");
    let other = dir.path().join("other.baseline");
    let err = ok(&run(observe_args(
        &server.address(),
        &other,
        &until,
        &["--record", s(&missing)],
    ))
    .await);
    assert!(
        err.contains(&format!(
            "warning: --record {}: cannot open",
            missing.display()
        )) && err.contains("not recording (the baseline goes on)"),
        "{err}"
    );
    assert_eq!(load(&other).graph.coverage.flows, flows.len() as u64);
}

/// A small tmpfs mounted for one test (a disk that can be filled), or
/// `None` where mounting is not allowed (not root); unmounted when dropped,
/// also when the test fails.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(what: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs", s(dir.path())])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|st| st.success());
        if !ok {
            eprintln!("skipping {what}: cannot mount a small tmpfs here (needs root)");
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the disk up; the filler file, to remove to make room again.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Issue #22 case 2 as it happened: the record file's disk fills up while
/// the baseline's has room. Recording stops with a warning naming the file;
/// the record file is cut back to its last complete frame (it replays); the
/// baseline goes on and ends complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_files_disk_filling_up_midway_leaves_the_baseline_complete() {
    let Some(disk) = SmallDisk::mount("the record disk test") else {
        return;
    };
    let flows = tcp_fixture(&samples());
    let (first, rest) = flows.split_at(200);
    let server = observer_server::start(ServerOptions {
        responses: first.to_vec(),
        ..ServerOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("b.baseline");
    let record = disk.path().join("rec.jsonpb.zst");
    let mut bg = Background::spawn(&args(&[
        "observe",
        "--server",
        &server.address(),
        "--baseline",
        s(&baseline),
        "--record",
        s(&record),
        "--checkpoint-every",
        "50ms",
    ]));
    bg.wait_for("200 flows,").await;
    let _filler = disk.fill();
    for r in rest {
        server.push(r.clone());
    }
    bg.wait_for("recording stopped (the baseline goes on)")
        .await;
    bg.wait_for(&format!("{} flows,", flows.len())).await;
    bg.signal("INT");
    let (status, text) = bg.finish().await;
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "warning: --record {}: cannot write",
            record.display()
        )) && text.contains("No space left on device")
            && text.contains("baseline saved to"),
        "{text}"
    );
    assert_eq!(load(&baseline).graph.coverage.flows, flows.len() as u64);
    // The recording holds a prefix of the flows, complete frames only.
    let raw = zstd::stream::decode_all(std::fs::read(&record).unwrap().as_slice())
        .unwrap_or_else(|e| panic!("the record file does not decode: {e}\n{text}"));
    let lines = String::from_utf8(raw).unwrap().lines().count();
    assert!(lines >= 200 && lines < flows.len(), "{lines}");
}

/// The baseline's own disk fills up: each checkpoint fails with a warning
/// naming the file and what it keeps, no temp file is left, the file keeps
/// the last checkpoint; once there is room again the next checkpoint saves
/// everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_for_the_baseline_keeps_the_last_checkpoint_until_there_is_room() {
    let Some(disk) = SmallDisk::mount("the baseline disk test") else {
        return;
    };
    let flows = tcp_fixture(&samples());
    let (first, rest) = flows.split_at(200);
    let server = observer_server::start(ServerOptions {
        responses: first.to_vec(),
        ..ServerOptions::default()
    })
    .await;
    let baseline = disk.path().join("b.baseline");
    let mut bg = Background::spawn(&args(&[
        "observe",
        "--server",
        &server.address(),
        "--baseline",
        s(&baseline),
        "--checkpoint-every",
        "50ms",
    ]));
    bg.wait_for("200 flows,").await;
    let filler = disk.fill();
    for r in rest {
        server.push(r.clone());
    }
    bg.wait_for("warning: checkpoint failed (will retry)").await;
    let saved = load(&baseline).graph.coverage.flows;
    assert!(saved >= 200, "{saved}");
    let leftovers: Vec<String> = std::fs::read_dir(disk.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_file(&filler).unwrap();
    bg.wait_for(&format!("{} flows,", flows.len())).await;
    bg.signal("INT");
    let (status, text) = bg.finish().await;
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("saving the baseline to {}", baseline.display()))
            && text.contains("No space left on device")
            && text.contains(&format!(
                "{} keeps the last checkpoint (",
                baseline.display()
            )),
        "{text}"
    );
    assert_eq!(load(&baseline).graph.coverage.flows, flows.len() as u64);
}

// 3. Damaged baselines are refused, never loaded.

/// Loads baseline bytes as `recommend` and `observe` do (sniffing the
/// compression): the baseline's canonical JSON, or the error.
fn load_bytes(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let raw = Box::new(std::io::Cursor::new(bytes.to_vec()));
    let reader = dump::open_reader("flipped", raw).map_err(|e| e.to_string())?;
    let b = Baseline::decode("flipped", reader).map_err(|e| e.to_string())?;
    Ok(baseline::to_json(&b.graph, &b.interpret, &b.meta))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_single_bit_flip_of_a_saved_baseline_is_refused_or_identical() {
    let flows = fixture(&samples());
    let (server, until) = serve(flows, None, Cut::Error).await;
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("saved.baseline");
    ok(&run(observe_args(&server.address(), &saved, &until, &[])).await);
    let bytes = std::fs::read(&saved).unwrap();
    let original = load_bytes(&bytes).unwrap();
    let json = zstd::stream::decode_all(bytes.as_slice()).unwrap();
    assert_eq!(original, json, "the file holds the canonical JSON");

    let mut refused = 0usize;
    let mut identical = 0usize;
    let check = |data: &[u8], at: usize, bit: u8, refused: &mut usize, identical: &mut usize| {
        let mut flipped = data.to_vec();
        flipped[at] ^= 1 << bit;
        match load_bytes(&flipped) {
            Err(e) => {
                assert!(
                    e.contains("damaged")
                        || e.contains("not a flowpolicy baseline")
                        || e.contains("newer flowpolicy"),
                    "byte {at} bit {bit}: {e}"
                );
                *refused += 1;
            }
            Ok(loaded) => {
                assert!(
                    loaded == original,
                    "byte {at} bit {bit} loaded a different baseline"
                );
                *identical += 1;
            }
        }
    };
    // Every bit of the compressed file.
    for at in 0..bytes.len() {
        for bit in 0..8 {
            check(&bytes, at, bit, &mut refused, &mut identical);
        }
    }
    // And 4000 bits of the same baseline stored as plain JSON (spread over
    // the whole text, both ends included).
    let n = json.len();
    for i in 0..4000usize {
        let at = match i {
            0..=999 => i.min(n - 1),
            1000..=1999 => n - 1 - (i - 1000).min(n - 1),
            _ => (i * 7919) % n,
        };
        check(&json, at, (i % 8) as u8, &mut refused, &mut identical);
    }
    eprintln!(
        "{} compressed bytes, {n} JSON bytes: {refused} flips refused, {identical} identical",
        bytes.len()
    );
    assert!(refused > bytes.len() * 4, "most flips must be refused");

    // observe never continues a damaged file, and recommend never loads it.
    let mut flipped = json.clone();
    let at = json.len() / 2;
    flipped[at] ^= 0x04;
    let damaged = dir.path().join("damaged.baseline");
    std::fs::write(&damaged, &flipped).unwrap();
    let out = run(observe_args(&server.address(), &damaged, &until, &[])).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the baseline is damaged (its contents do not match their checksum")
            && err.contains("start a new baseline with another --baseline path"),
        "{err}"
    );
    assert_eq!(std::fs::read(&damaged).unwrap(), flipped, "left unchanged");
    let out = run(args(&["recommend", s(&damaged)])).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the baseline is damaged"), "{err}");
}

/// The TCP fixture written as a dump in `dir` and merged into the baseline
/// `name` there.
async fn merged_fixture(dir: &Path, name: &str) -> PathBuf {
    let dump_path = dir.join("tcp.jsonpb");
    write_dump(&dump_path, &tcp_fixture(&samples()));
    let baseline = dir.join(name);
    ok(&run(args(&["merge", s(&dump_path), "-o", s(&baseline)])).await);
    baseline
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_baseline_without_a_checksum_loads_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let new = merged_fixture(dir.path(), "new.baseline").await;
    // What flowpolicy wrote before format version 2: version 1, no state,
    // no checksum.
    let text = String::from_utf8(
        zstd::stream::decode_all(std::fs::read(&new).unwrap().as_slice()).unwrap(),
    )
    .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&unsealed(&text)).unwrap();
    v["version"] = 1.into();
    v.as_object_mut().unwrap().remove("state");
    let old = dir.path().join("old.baseline");
    std::fs::write(&old, serde_json::to_vec_pretty(&v).unwrap()).unwrap();

    let from_new = dir.path().join("p-new");
    let from_old = dir.path().join("p-old");
    let err = ok(&run(args(&["recommend", s(&new), "--out", s(&from_new)])).await);
    assert!(!err.contains("has no checksum"), "{err}");
    let err = ok(&run(args(&["recommend", s(&old), "--out", s(&from_old)])).await);
    assert!(
        err.contains(&format!(
            "note: {} has no checksum (written by a flowpolicy older than baseline format 2)",
            old.display()
        )),
        "{err}"
    );
    assert_eq!(tree(&from_new), tree(&from_old));
    // Rewriting it in place adds the checksum.
    ok(&run(args(&["merge", s(&old), "-o", s(&old)])).await);
    let err = ok(&run(args(&["graph", s(&old)])).await);
    assert!(!err.contains("has no checksum"), "{err}");
}

/// A baseline merged from a dump carries the interpreter's state and the
/// settings the dump was read with, so `observe` can continue it (the
/// commands that write no baseline skip exporting that state).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baseline_merged_from_a_dump_keeps_the_interpreter_state() {
    let dir = tempfile::tempdir().unwrap();
    let merged = merged_fixture(dir.path(), "m.baseline").await;
    let b = crate::observe::load(&merged);
    assert_ne!(b.meta.state, Default::default(), "no interpreter state");
    assert!(b.meta.settings.conn_window_seconds.contains(&120));
}

// 4. N runs are one run.

/// The in-repo mixed capture as interpreter events.
fn events(responses: &[GetFlowsResponse]) -> Vec<SourceEvent> {
    responses
        .iter()
        .filter_map(|r| match &r.response_types {
            Some(ResponseTypes::Flow(f)) => Some(SourceEvent::Flow(Box::new(f.clone()))),
            _ => None,
        })
        .collect()
}

/// Builds a baseline from `events` in runs cut before each index of `cuts`,
/// each run continuing the previous run's saved (encoded, decoded)
/// baseline as `observe` does; the final baseline's bytes.
fn observed_in_runs(events: &[SourceEvent], cuts: &[usize]) -> Vec<u8> {
    let cfg = InterpretConfig::default();
    let mut saved: Option<Vec<u8>> = None;
    let mut bounds: Vec<usize> = cuts.to_vec();
    bounds.push(events.len());
    let mut start = 0;
    for end in bounds {
        let base = match &saved {
            None => Baseline::default(),
            Some(bytes) => Baseline::decode(
                "run",
                zstd::stream::read::Decoder::new(bytes.as_slice()).unwrap(),
            )
            .unwrap(),
        };
        let mut builder =
            GraphBuilder::resume(base.graph, cfg.clone(), &base.meta.state, base.interpret);
        for e in &events[start..end] {
            builder.add(e, EndpointHint::default(), &mut |_| {});
        }
        let meta = BaselineMeta {
            state: builder.interpreter.state(),
            ..base.meta
        };
        saved = Some(baseline::encode(
            &builder.graph,
            &builder.interpreter.stats,
            &meta,
        ));
        start = end;
    }
    saved.unwrap()
}

fn mixed_events() -> &'static [SourceEvent] {
    static EVENTS: std::sync::OnceLock<Vec<SourceEvent>> = std::sync::OnceLock::new();
    EVENTS.get_or_init(|| events(&fixture(&samples())))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any cut points, any number of runs: the baseline one run gives.
    #[test]
    fn a_capture_observed_in_n_runs_is_the_capture_observed_in_one(
        raw in proptest::collection::vec(0usize..100_000, 1..6)
    ) {
        let events = mixed_events();
        let mut cuts: Vec<usize> = raw.iter().map(|c| c % (events.len() + 1)).collect();
        cuts.sort_unstable();
        let one = observed_in_runs(events, &[]);
        let many = observed_in_runs(events, &cuts);
        prop_assert!(one == many, "cuts {:?} changed the baseline", cuts);
    }
}

/// The flows of issue #22's case 4: a workload resolves github.com, opens
/// a connection to it, and opens another one to the same address later
/// (Hubble no longer attaches the name).
fn github_capture() -> Vec<GetFlowsResponse> {
    let web = pod("shop", &[("app", "web")], "10.0.1.5");
    let dns = pod("kube-system", &[("k8s-app", "kube-dns")], "10.0.9.9");
    let github = ident(2, &["reserved:world"], "140.82.112.3");
    let mut flows: Vec<Flow> = Vec::new();
    flows.extend(crate::flowkit::udp_exchange(&web, &dns, 40000, 53, 0));
    flows.push(dns_answer(&web, &dns, "github.com", &["140.82.112.3"], 0));
    flows.extend(tcp_conn(&web, &github, 41000, 443, 10));
    flows.extend(tcp_conn(&web, &github, 41001, 443, 3600));
    flows
        .into_iter()
        .map(|f| GetFlowsResponse {
            time: f.time,
            node_name: f.node_name.clone(),
            response_types: Some(ResponseTypes::Flow(f)),
        })
        .collect()
}

/// Every policy file under a directory, as one text.
fn all_yaml(dir: &Path) -> String {
    tree(dir)
        .into_iter()
        .map(|(_, b)| String::from_utf8(b).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baseline_built_in_two_runs_remembers_dns_answers() {
    let flows = github_capture();
    let (server, until) = serve(flows.clone(), None, Cut::Error).await;
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.baseline");
    ok(&run(observe_args(&server.address(), &one, &until, &[])).await);
    // First run stops after the first connection, the second goes on.
    let cut = rfc3339(time_of(&flows[flows.len() - 4]));
    let two = dir.path().join("two.baseline");
    ok(&run(observe_args(&server.address(), &two, &cut, &[])).await);
    assert!(load(&two).graph.coverage.flows < flows.len() as u64);
    ok(&run(observe_args(&server.address(), &two, &until, &[])).await);
    assert_same(&one, &two, "one run vs two runs");

    let (p1, p2) = (dir.path().join("p1"), dir.path().join("p2"));
    ok(&run(args(&["recommend", s(&one), "--out", s(&p1)])).await);
    ok(&run(args(&["recommend", s(&two), "--out", s(&p2)])).await);
    assert_eq!(tree(&p1), tree(&p2));
    let yaml = all_yaml(&p2);
    assert!(yaml.contains("github.com"), "{yaml}");
    assert!(!yaml.contains("140.82.112.3/32"), "{yaml}");
}

macro_rules! on_samples_and_real_dumps {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn samples() {
                super::$name(&crate::observe::samples()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn real_dumps() {
                if let Some(dumps) = crate::observe::real(stringify!($name)) {
                    super::$name(&dumps).await;
                }
            }
        }
    };
}

on_samples_and_real_dumps!(observe_cut_at_random_times_gives_the_one_run_baseline);

/// End to end: `observe --until` at three random flow times (seeded), then
/// to the end; the baseline and the policies are those of one run.
async fn observe_cut_at_random_times_gives_the_one_run_baseline(d: &Dumps) {
    use rand::{Rng, SeedableRng};
    let flows = fixture(d);
    let (server, until) = serve(flows.clone(), None, Cut::Error).await;
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.baseline");
    ok(&run(observe_args(&server.address(), &one, &until, &[])).await);
    let mut rng = rand::rngs::StdRng::seed_from_u64(22);
    let mut cuts: Vec<usize> = (0..3).map(|_| rng.random_range(0..flows.len())).collect();
    cuts.sort_unstable();
    let many = dir.path().join("many.baseline");
    for c in &cuts {
        ok(&run(observe_args(
            &server.address(),
            &many,
            &rfc3339(time_of(&flows[*c])),
            &[],
        ))
        .await);
    }
    ok(&run(observe_args(&server.address(), &many, &until, &[])).await);
    assert_eq!(load(&many).meta.observation.runs, 4);
    assert_same(&one, &many, &format!("cuts at {cuts:?}"));
    let (p1, p2) = (dir.path().join("p1"), dir.path().join("p2"));
    ok(&run(args(&["recommend", s(&one), "--out", s(&p1)])).await);
    ok(&run(args(&["recommend", s(&many), "--out", s(&p2)])).await);
    assert_eq!(tree(&p1), tree(&p2));
}

// 5. Addresses are validated before dialling.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_server_addresses_are_refused_before_dialling() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("never.baseline");
    for (server, why) in [
        (
            "127.0.0.1:abc",
            r#"the port "abc" is not a number (expected 1–65535)"#,
        ),
        (
            "127.0.0.1:99999",
            "the port 99999 is out of range (1–65535)",
        ),
        (
            "127.0.0.1:65536",
            "the port 65536 is out of range (1–65535)",
        ),
        ("127.0.0.1:-1", r#"the port "-1" is not a number"#),
        ("127.0.0.1:", "the port is missing after ':'"),
        ("ftp://127.0.0.1:4245", "unknown scheme"),
        ("relay host:4245", "is not a host name or IP address"),
    ] {
        let out = run(observe_args(server, &baseline, "1h", &[])).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{server}: {err}");
        assert!(err.contains(why) && err.contains(server), "{server}: {err}");
        assert!(!err.contains("connecting to"), "{server}: {err}");
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "{server}: nothing may be written"
        );
    }
}

// 6. Temp files, signals while connecting.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temp_files_of_interrupted_saves_are_removed() {
    let flows = tcp_fixture(&samples());
    let (server, until) = serve(flows.clone(), None, Cut::Error).await;
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("t.baseline");
    // Left by writers killed mid-save (SIGKILL, disk full, failed first write).
    let stale: Vec<PathBuf> = [".t.baseline.tmp-1", ".t.baseline.tmp-4242"]
        .iter()
        .map(|n| dir.path().join(n))
        .collect();
    for p in &stale {
        std::fs::write(p, b"half a baseline").unwrap();
    }
    let err = ok(&run(observe_args(&server.address(), &baseline, &until, &[])).await);
    for p in &stale {
        assert!(!p.exists(), "{} was left", p.display());
        assert!(err.contains(&format!("removed {}", p.display())), "{err}");
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["t.baseline"], "nothing but the baseline is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_connecting_ends_observe_at_once() {
    // Accepts TCP connections and never answers: connecting hangs until
    // --timeout (a minute here).
    let (addr, hold) = crate::common::mute_server().await;
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("c.baseline");
    for sig in ["TERM", "INT"] {
        let mut bg = Background::spawn(&args(&[
            "observe",
            "--server",
            &addr,
            "--baseline",
            s(&baseline),
            "--timeout",
            "60s",
        ]));
        bg.wait_for("connecting to Hubble Relay").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sent = Instant::now();
        bg.signal(sig);
        let (status, text) = bg.finish().await;
        assert!(sent.elapsed() < Duration::from_secs(10), "{sig}: {text}");
        assert_eq!(status.code(), Some(0), "{sig}: {text}");
        assert!(
            text.contains("interrupted while connecting"),
            "{sig}: {text}"
        );
        assert!(!baseline.exists());
    }
    hold.abort();
}
