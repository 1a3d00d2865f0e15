//! `flowpolicy observe`, `merge`, `graph` and baseline inputs, end to end:
//! the real binary against the in-process Observer server
//! (`tests/common/observer_server.rs`) serving the in-repo samples
//! (`tests/data/flows`). The tests that depend on what the dumps hold run
//! twice, as `<test>::samples` and, when the corpus is present, as
//! `<test>::real_dumps` on real dumps. Every wait is bounded; nothing
//! asserts on time.
//!
//! Each observe run is ended by `--until` = the last fixture flow plus a
//! sentinel flow one second later in the server's buffer: the server ends
//! the stream there, as Hubble does, and observe saves and exits.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::certs::TestPki;
use crate::common::observer_server::{self, load_dump, time_of, Cut, RunningServer, ServerOptions};
use flowpolicy::baseline::Baseline;
use flowpolicy::proto::flow::{Flow, LostEvent};
use flowpolicy::proto::observer::get_flows_response::ResponseTypes;
use flowpolicy::proto::observer::{GetFlowsResponse, ServerStatusResponse};
use flowpolicy::source::dump;
use serde_json::Value;

/// Upper bound for any one command.
pub(crate) const BOUND: Duration = Duration::from_secs(90);

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_flowpolicy");

/// The dumps a test serves: a 400-flow TCP dump, an HTTP dump, and a mix of
/// several kinds of traffic.
pub(crate) struct Dumps {
    pub tcp: PathBuf,
    pub http: PathBuf,
    pub mixed: Vec<PathBuf>,
}

/// The in-repo samples.
pub(crate) fn samples() -> Dumps {
    Dumps {
        tcp: common::sample("tcp-400.jsonpb"),
        http: common::sample("http.jsonpb"),
        mixed: ["dns.jsonpb", "http.jsonpb", "tcp-400.jsonpb"]
            .map(common::sample)
            .to_vec(),
    }
}

/// The real dumps of the corpus, `None` (after the skip line) without it.
pub(crate) fn real(what: &str) -> Option<Dumps> {
    let dir = common::corpus(&format!("{what} on real dumps"), "flows")?;
    let at = |name: &str| {
        let path = dir.join(name);
        assert!(path.is_file(), "{} is missing", path.display());
        path
    };
    Some(Dumps {
        tcp: at("cilium_hubble-otel__basic-sample-400-tcp-flows.json"),
        http: at("cilium_hubble-otel__basic-sample-348-http-flows.json"),
        mixed: [
            "cilium_hubble-otel__basic-sample-330-dns-flows.json",
            "cilium_hubble-otel__basic-sample-348-http-flows.json",
            "cilium_hubble-otel__basic-sample-400-tcp-flows.json",
            "cilium_hubble-otel__basic-sample-400-udp-flows.json",
            "cilium_hubble-otel__basic-sample-400-l7-redirected-flows.json",
        ]
        .map(at)
        .to_vec(),
    })
}

/// Runs `async fn $name(&Dumps)` as two tests: `$name::samples` and
/// `$name::real_dumps` (skipped without the corpus).
macro_rules! on_samples_and_real_dumps {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn samples() {
                super::$name(&super::samples()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn real_dumps() {
                if let Some(dumps) = super::real(stringify!($name)) {
                    super::$name(&dumps).await;
                }
            }
        }
    };
}

/// The mixed dumps, sorted by time. Some real samples contain the same
/// flows (the HTTP and L7 samples overlap); byte-identical responses are one
/// event (a relay never sends one twice, and resume dedup relies on it), so
/// they are kept once.
pub(crate) fn fixture(d: &Dumps) -> Vec<GetFlowsResponse> {
    let mut all = Vec::new();
    for path in &d.mixed {
        all.extend(load_dump(path));
    }
    all.sort_by_key(time_of);
    let mut seen = std::collections::HashSet::new();
    all.retain(|r| seen.insert(prost::Message::encode_to_vec(r)));
    all
}

/// The TCP dump (400 flows in both sets, which the counts below rely on).
pub(crate) fn tcp_fixture(d: &Dumps) -> Vec<GetFlowsResponse> {
    let mut v = load_dump(&d.tcp);
    assert_eq!(v.len(), 400, "{}", d.tcp.display());
    v.sort_by_key(time_of);
    v
}

/// Writes responses as a jsonpb dump (what `hubble observe -o jsonpb` writes).
pub(crate) fn write_dump(path: &Path, responses: &[GetFlowsResponse]) {
    let mut text = String::new();
    for r in responses {
        text.push_str(&serde_json::to_string(r).unwrap());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

pub(crate) fn ts(t: (i64, i32)) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp {
        seconds: t.0,
        nanos: t.1,
    }
}

/// `--until` for these responses, and the sentinel just after it.
pub(crate) fn until_and_sentinel(responses: &[GetFlowsResponse]) -> (String, GetFlowsResponse) {
    let last = responses.iter().map(time_of).max().unwrap();
    let until = chrono::DateTime::from_timestamp(last.0, last.1 as u32)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let after = ts((last.0 + 1, last.1));
    let sentinel = GetFlowsResponse {
        response_types: Some(ResponseTypes::Flow(Flow {
            time: Some(after),
            ..Flow::default()
        })),
        node_name: "sentinel".into(),
        time: Some(after),
    };
    (until, sentinel)
}

/// A server holding `responses` plus the sentinel; returns it and `--until`.
pub(crate) async fn serve(
    responses: Vec<GetFlowsResponse>,
    cut_every: Option<usize>,
    cut: Cut,
) -> (RunningServer, String) {
    let (until, sentinel) = until_and_sentinel(&responses);
    let mut all = responses;
    all.push(sentinel);
    let server = observer_server::start(ServerOptions {
        responses: all,
        cut_every,
        cut,
        ..ServerOptions::default()
    })
    .await;
    (server, until)
}

/// Runs the binary with a bound, without blocking the runtime serving it.
pub(crate) async fn run(args: Vec<String>) -> Output {
    run_command(Command::new(BIN), args).await
}

/// [`run`] through a command made ready by the caller (another copy of the
/// binary, another user).
pub(crate) async fn run_command(mut command: Command, args: Vec<String>) -> Output {
    let mut child = command
        .args(&args)
        .env_remove("HUBBLE_SERVER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let waited = tokio::time::timeout(
        BOUND,
        tokio::task::spawn_blocking(move || {
            let read = |mut r: Box<dyn std::io::Read + Send>| {
                std::thread::spawn(move || {
                    let mut v = Vec::new();
                    r.read_to_end(&mut v).unwrap();
                    v
                })
            };
            let (o, e) = (read(Box::new(stdout)), read(Box::new(stderr)));
            let status = child.wait().unwrap();
            Output {
                status,
                stdout: o.join().unwrap(),
                stderr: e.join().unwrap(),
            }
        }),
    )
    .await;
    match waited {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("flowpolicy {args:?} exceeded its time bound");
        }
    }
}

pub(crate) fn observe_args(
    server: &str,
    baseline: &Path,
    until: &str,
    extra: &[&str],
) -> Vec<String> {
    let mut v: Vec<String> = [
        "observe",
        "--server",
        server,
        "--baseline",
        baseline.to_str().unwrap(),
        "--until",
        until,
        "--reconnect-delay",
        "5ms",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

pub(crate) fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

pub(crate) fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "exit {:?}\n{err}", out.status);
    err
}

pub(crate) fn load(path: &Path) -> Baseline {
    Baseline::decode("test", dump::open_input(path).unwrap()).unwrap()
}

/// The baseline's JSON without the run facts (wall clock, run counts) and
/// the checksum.
pub(crate) fn content(path: &Path) -> Value {
    let raw = zstd::stream::decode_all(std::fs::read(path).unwrap().as_slice()).unwrap();
    let mut v: Value = serde_json::from_slice(&raw).unwrap();
    // The checksum covers the run facts too.
    v.as_object_mut().unwrap().remove("observation");
    v.as_object_mut().unwrap().remove("checksum");
    v
}

pub(crate) fn only(v: &Value, keys: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for k in keys {
        out.insert(k.to_string(), v[k].clone());
    }
    Value::Object(out)
}

/// Every file under a directory, relative path → bytes.
pub(crate) fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push((
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

on_samples_and_real_dumps!(observe_then_recommend_equals_recommend_on_the_dump);

async fn observe_then_recommend_equals_recommend_on_the_dump(d: &Dumps) {
    let dir = tempfile::tempdir().unwrap();
    let flows = fixture(d);
    let dump_path = dir.path().join("all.jsonpb");
    write_dump(&dump_path, &flows);
    let (server, until) = serve(flows.clone(), None, Cut::Error).await;
    let baseline = dir.path().join("main.baseline");

    let err = ok(&run(observe_args(&server.address(), &baseline, &until, &[])).await);
    assert!(err.contains("--until reached"), "{err}");
    assert_eq!(load(&baseline).graph.coverage.flows, flows.len() as u64);
    assert_eq!(
        server.requests()[0].number,
        u64::MAX,
        "first request takes the buffers"
    );

    let from_dump = dir.path().join("from-dump");
    let from_baseline = dir.path().join("from-baseline");
    let d = dump_path.to_str().unwrap();
    let b = baseline.to_str().unwrap();
    ok(&run(args(&[
        "recommend",
        d,
        "--out",
        from_dump.to_str().unwrap(),
    ]))
    .await);
    let err = ok(&run(args(&[
        "recommend",
        b,
        "--out",
        from_baseline.to_str().unwrap(),
    ]))
    .await);
    assert!(err.contains("baseline: still learning"), "{err}");
    let (a, b) = (tree(&from_dump), tree(&from_baseline));
    assert!(a.len() > 5, "expected several policies, got {}", a.len());
    assert_eq!(a, b, "policies from the baseline differ from the dump's");

    // The same baseline as `merge` makes from the dump (everything but
    // run facts and the resume point, which only a live stream has).
    let merged = dir.path().join("merged.baseline");
    ok(&run(args(&["merge", d, "-o", merged.to_str().unwrap()])).await);
    let keys = ["coverage", "interpret", "nodes", "edges", "settings"];
    assert_eq!(
        only(&content(&baseline), &keys),
        only(&content(&merged), &keys)
    );
}

on_samples_and_real_dumps!(cut_streams_give_the_uncut_baseline);

async fn cut_streams_give_the_uncut_baseline(d: &Dumps) {
    let dir = tempfile::tempdir().unwrap();
    let flows = fixture(d);
    let (server, until) = serve(flows.clone(), None, Cut::Error).await;
    let whole = dir.path().join("whole.baseline");
    ok(&run(observe_args(&server.address(), &whole, &until, &[])).await);
    // Cut with an UNAVAILABLE status every 97 responses. (A clean end of
    // stream would read as "--until reached" here, since --until is in the
    // past; tests/relay.rs covers that cut at client level.)
    let (server, until) = serve(flows.clone(), Some(97), Cut::Error).await;
    let cut_path = dir.path().join("cut.baseline");
    let err = ok(&run(observe_args(&server.address(), &cut_path, &until, &[])).await);
    let reconnects = load(&cut_path).meta.observation.reconnects;
    eprintln!(
        "cut every 97: {reconnects} reconnects, {} streams",
        server.streams()
    );
    assert!(
        reconnects >= (flows.len() / 97) as u64,
        "{reconnects}\n{err}"
    );
    // Reconnections are streams reopened, not failed attempts.
    assert_eq!(reconnects as usize, server.streams() - 1, "{err}");
    assert!(err.contains("reconnecting in"), "{err}");
    assert_eq!(content(&cut_path), content(&whole));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_over_mtls() {
    const NAME: &str = "relay.test.example";
    let pki = TestPki::new(&[NAME]);
    let flows = tcp_fixture(&samples());
    let (until, sentinel) = until_and_sentinel(&flows);
    let mut all = flows.clone();
    all.push(sentinel);
    let server = observer_server::start(ServerOptions {
        responses: all,
        tls: Some(pki.server_tls(true)),
        ..ServerOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("tls.baseline");
    let path = |p: &PathBuf| p.to_str().unwrap().to_string();
    let tls = [
        "--tls".to_string(),
        "--tls-ca-cert-files".into(),
        path(&pki.ca_file),
        "--tls-server-name".into(),
        NAME.into(),
    ];
    let mtls = [
        "--tls-client-cert-file".to_string(),
        path(&pki.client_cert_file),
        "--tls-client-key-file".into(),
        path(&pki.client_key_file),
    ];
    let extra: Vec<&str> = tls.iter().chain(&mtls).map(String::as_str).collect();
    ok(&run(observe_args(&server.address(), &baseline, &until, &extra)).await);
    assert_eq!(load(&baseline).graph.coverage.flows, flows.len() as u64);

    // Without the client certificate the relay refuses us: a clear error,
    // exit 2, and no baseline is written.
    let refused = dir.path().join("refused.baseline");
    let tls_only: Vec<&str> = tls.iter().map(String::as_str).collect();
    let out = run(observe_args(&server.address(), &refused, &until, &tls_only)).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(!refused.exists());
}

on_samples_and_real_dumps!(lost_events_and_unavailable_nodes_are_reported_and_kept);

async fn lost_events_and_unavailable_nodes_are_reported_and_kept(d: &Dumps) {
    let mut flows = tcp_fixture(d);
    let t = time_of(&flows[100]);
    flows.insert(
        101,
        GetFlowsResponse {
            response_types: Some(ResponseTypes::LostEvents(LostEvent {
                source: 1,
                num_events_lost: 12,
                ..LostEvent::default()
            })),
            node_name: "kind-worker".into(),
            time: Some(ts(t)),
        },
    );
    let (until, sentinel) = until_and_sentinel(&flows);
    flows.push(sentinel);
    let server = observer_server::start(ServerOptions {
        responses: flows,
        status: ServerStatusResponse {
            num_flows: 401,
            max_flows: 4095,
            num_connected_nodes: Some(pbjson_types::UInt32Value { value: 2 }),
            num_unavailable_nodes: Some(pbjson_types::UInt32Value { value: 1 }),
            unavailable_nodes: vec!["kind-worker2".into()],
            ..ServerStatusResponse::default()
        },
        ..ServerOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("gaps.baseline");
    let err = ok(&run(observe_args(&server.address(), &baseline, &until, &[])).await);
    assert!(err.contains("2 nodes connected, 1 unavailable"), "{err}");
    assert!(
        err.contains("unavailable to the relay: kind-worker2"),
        "{err}"
    );
    assert!(err.contains("12 events lost"), "{err}");
    assert!(err.contains("12 lost events"), "{err}");
    let b = load(&baseline);
    assert_eq!(b.graph.coverage.lost_events["kind-worker"], 12);
    assert!(b.graph.coverage.unavailable_nodes.contains("kind-worker2"));
    assert_eq!(b.graph.coverage.flows, 400);
    // recommend warns about the gap in the baseline.
    let out = run(args(&["recommend", baseline.to_str().unwrap()])).await;
    let err = ok(&out);
    assert!(
        err.contains("12 events were lost by Hubble (kind-worker: 12)"),
        "{err}"
    );
}

/// Spawns `observe` on a server that keeps following, waits (bounded) for a
/// progress line showing every buffered flow, then sends SIGINT `times`
/// times with `kill -INT`.
async fn interrupt_after_all_flows(times: usize) -> (std::process::ExitStatus, String, Baseline) {
    let flows = tcp_fixture(&samples());
    let server = observer_server::start(ServerOptions {
        responses: flows.clone(),
        ..ServerOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("int.baseline");
    let mut child = Command::new(BIN)
        .args([
            "observe",
            "--server",
            &server.address(),
            "--baseline",
            baseline.to_str().unwrap(),
            "--checkpoint-every",
            "50ms",
        ])
        .env_remove("HUBBLE_SERVER")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let stderr = child.stderr.take().unwrap();
    let want = format!("{} flows,", flows.len());
    let done = tokio::time::timeout(
        BOUND,
        tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let mut lines = std::io::BufReader::new(stderr).lines();
            let mut seen = String::new();
            for line in lines.by_ref() {
                let line = line.unwrap();
                seen.push_str(&line);
                seen.push('\n');
                // A log line follows the checkpoint that holds these flows.
                if line.starts_with("observe:") && line.contains(&want) {
                    for _ in 0..times {
                        Command::new("kill").args(["-INT", &pid]).status().unwrap();
                    }
                    break;
                }
            }
            for line in lines {
                seen.push_str(&line.unwrap());
                seen.push('\n');
            }
            (child.wait().unwrap(), seen)
        }),
    )
    .await;
    let (status, text) = match done {
        Ok(r) => r.unwrap(),
        Err(_) => panic!("observe did not end within the bound"),
    };
    let b = Baseline::decode("int", dump::open_input(&baseline).unwrap())
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    drop(server);
    (status, text, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_saves_a_loadable_baseline_and_exits_0() {
    let (status, text, b) = interrupt_after_all_flows(1).await;
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(text.contains("observe interrupted"), "{text}");
    assert_eq!(b.graph.coverage.flows, 400);
    assert!(b.meta.resume.last_time.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_sigint_exits_at_once_with_the_checkpoint_intact() {
    let (status, text, b) = interrupt_after_all_flows(2).await;
    // Either the second signal came during the final save (130) or after it.
    assert!(matches!(status.code(), Some(0 | 130)), "{status:?}\n{text}");
    assert_eq!(b.graph.coverage.flows, 400, "{text}");
}

on_samples_and_real_dumps!(a_second_run_continues_from_the_saved_resume_point);

async fn a_second_run_continues_from_the_saved_resume_point(d: &Dumps) {
    let dir = tempfile::tempdir().unwrap();
    let flows = tcp_fixture(d);
    let (server, until) = serve(flows.clone(), None, Cut::Error).await;
    let whole = dir.path().join("whole.baseline");
    ok(&run(observe_args(&server.address(), &whole, &until, &[])).await);

    // First run stops halfway (at the 200th flow's time), the second
    // continues the same file to the end.
    let mid = time_of(&flows[199]);
    let mid = chrono::DateTime::from_timestamp(mid.0, mid.1 as u32)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let two = dir.path().join("two.baseline");
    ok(&run(observe_args(&server.address(), &two, &mid, &[])).await);
    let first = load(&two);
    assert!(first.graph.coverage.flows >= 200 && first.graph.coverage.flows < 400);
    let resume = first.meta.resume.last_time.unwrap();
    let err = ok(&run(observe_args(&server.address(), &two, &until, &[])).await);
    assert!(err.contains("observe: continuing"), "{err}");
    let since = server.requests().last().unwrap().since.unwrap();
    assert_eq!(
        (since.seconds, since.nanos),
        (resume.to_timestamp().seconds, resume.to_timestamp().nanos)
    );
    let b = load(&two);
    assert_eq!(b.meta.observation.runs, 2);
    // The second run continues the first one's interpretation state
    // (connection table, DNS answers, parked flows): the baseline is the
    // one-run baseline, connection counts and direction evidence included.
    assert_eq!(content(&whole), content(&two));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_or_newer_baselines_are_rejected_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let dump_path = dir.path().join("tcp.jsonpb");
    write_dump(&dump_path, &tcp_fixture(&samples()));
    let good = dir.path().join("good.baseline");
    ok(&run(args(&[
        "merge",
        dump_path.to_str().unwrap(),
        "-o",
        good.to_str().unwrap(),
    ]))
    .await);
    let bytes = std::fs::read(&good).unwrap();

    let cut = dir.path().join("cut.baseline");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let raw = zstd::stream::decode_all(bytes.as_slice()).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let cut_plain = dir.path().join("cut-plain.json");
    std::fs::write(&cut_plain, &text[..text.len() / 2]).unwrap();
    // A newer file: a version this build does not know, without the
    // checksum (which a hand edit would break anyway).
    let newer = dir.path().join("newer.baseline");
    std::fs::write(
        &newer,
        unsealed(&text).replace("\"version\": 3,", "\"version\": 4,"),
    )
    .unwrap();

    for (file, want) in [
        (&cut, "the baseline is damaged"),
        (&cut_plain, "the baseline is damaged"),
        (&newer, "written by a newer flowpolicy"),
    ] {
        let before = std::fs::read(file).unwrap();
        let out = run(args(&["recommend", file.to_str().unwrap()])).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{}: {err}", file.display());
        // recommend has no --baseline flag: its remedy does not name one.
        assert!(!err.contains("--baseline"), "{err}");
        // observe refuses before connecting anywhere, and says how to start
        // a new baseline.
        let out = run(observe_args("127.0.0.1:9", file, "1h", &[])).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{err}");
        if want.contains("damaged") {
            assert!(
                err.contains("observe will not continue it")
                    && err.contains("start a new baseline with another --baseline path"),
                "{err}"
            );
        }
        assert!(!err.contains("connecting to"), "{err}");
        assert_eq!(
            std::fs::read(file).unwrap(),
            before,
            "{} was changed",
            file.display()
        );
    }
}

/// A baseline's JSON text without its checksum member (the last one).
pub(crate) fn unsealed(text: &str) -> String {
    let at = text
        .rfind(",\n  \"checksum\": ")
        .expect("a sealed baseline");
    format!("{}\n}}\n", &text[..at])
}

/// Splits responses by unordered address pair, so no connection (and no
/// address whose identity a later flow relies on) spans the two halves.
fn split_by_connection(
    flows: &[GetFlowsResponse],
) -> (Vec<GetFlowsResponse>, Vec<GetFlowsResponse>) {
    use std::hash::{Hash, Hasher};
    let key = |r: &GetFlowsResponse| {
        let Some(ResponseTypes::Flow(f)) = &r.response_types else {
            return 0;
        };
        let ip = f.ip.clone().unwrap_or_default();
        // Split by address pair, not 5-tuple: interpretation state that repairs
        // a flow (a pod's identity learned from an earlier flow between the
        // same addresses) then stays in the same half, like the connection.
        let mut ends = [ip.source, ip.destination];
        ends.sort();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        ends.hash(&mut h);
        h.finish()
    };
    flows.iter().cloned().partition(|r| key(r) % 2 == 0)
}

on_samples_and_real_dumps!(merge_of_two_halves_equals_the_whole);

async fn merge_of_two_halves_equals_the_whole(d: &Dumps) {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    // TCP and HTTP: no DNS answer in one half could name a peer of the other.
    let mut flows = tcp_fixture(d);
    flows.extend(load_dump(&d.http));
    flows.sort_by_key(time_of);
    let (a, b) = split_by_connection(&flows);
    assert!(!a.is_empty() && !b.is_empty());
    write_dump(Path::new(&p("whole.jsonpb")), &flows);
    write_dump(Path::new(&p("a.jsonpb")), &a);
    write_dump(Path::new(&p("b.jsonpb")), &b);
    for (input, out) in [
        ("whole.jsonpb", "whole.baseline"),
        ("a.jsonpb", "a.baseline"),
        ("b.jsonpb", "b.baseline"),
    ] {
        ok(&run(args(&["merge", &p(input), "-o", &p(out)])).await);
    }
    ok(&run(args(&[
        "merge",
        &p("a.baseline"),
        &p("b.baseline"),
        "-o",
        &p("ab.baseline"),
    ]))
    .await);
    ok(&run(args(&[
        "merge",
        &p("b.baseline"),
        &p("a.baseline"),
        "-o",
        &p("ba.baseline"),
    ]))
    .await);
    assert_eq!(
        std::fs::read(p("ab.baseline")).unwrap(),
        std::fs::read(p("ba.baseline")).unwrap(),
        "merge is commutative"
    );
    assert_eq!(
        content(Path::new(&p("ab.baseline"))),
        content(Path::new(&p("whole.baseline")))
    );
    // Associativity with a third input: (a+b)+w == a+b+w == w+(b+a).
    ok(&run(args(&[
        "merge",
        &p("ab.baseline"),
        &p("whole.baseline"),
        "-o",
        &p("x1.baseline"),
    ]))
    .await);
    ok(&run(args(&[
        "merge",
        &p("a.baseline"),
        &p("b.baseline"),
        &p("whole.baseline"),
        "-o",
        &p("x2.baseline"),
    ]))
    .await);
    ok(&run(args(&[
        "merge",
        &p("whole.baseline"),
        &p("ba.baseline"),
        "-o",
        &p("x3.baseline"),
    ]))
    .await);
    let x1 = std::fs::read(p("x1.baseline")).unwrap();
    assert_eq!(x1, std::fs::read(p("x2.baseline")).unwrap());
    assert_eq!(x1, std::fs::read(p("x3.baseline")).unwrap());
    // And the policies agree with those from the whole dump.
    ok(&run(args(&["recommend", &p("whole.jsonpb"), "--out", &p("pw")])).await);
    ok(&run(args(&["recommend", &p("ab.baseline"), "--out", &p("pab")])).await);
    assert_eq!(tree(Path::new(&p("pw"))), tree(Path::new(&p("pab"))));
}

on_samples_and_real_dumps!(record_replays_to_the_same_graph);

async fn record_replays_to_the_same_graph(d: &Dumps) {
    let dir = tempfile::tempdir().unwrap();
    let flows = fixture(d);
    let (server, until) = serve(flows.clone(), Some(301), Cut::Error).await;
    let baseline = dir.path().join("live.baseline");
    let rec = dir.path().join("live.jsonpb.zst");
    let err = ok(&run(observe_args(
        &server.address(),
        &baseline,
        &until,
        &["--record", rec.to_str().unwrap()],
    ))
    .await);
    assert!(
        err.contains(&format!("recorded {} responses", flows.len())),
        "{err}"
    );
    let replayed = dir.path().join("replayed.baseline");
    ok(&run(args(&[
        "merge",
        rec.to_str().unwrap(),
        "-o",
        replayed.to_str().unwrap(),
    ]))
    .await);
    let keys = ["coverage", "interpret", "nodes", "edges"];
    assert_eq!(
        only(&content(&baseline), &keys),
        only(&content(&replayed), &keys)
    );
}

on_samples_and_real_dumps!(graph_export_is_the_same_from_dump_and_baseline);

async fn graph_export_is_the_same_from_dump_and_baseline(d: &Dumps) {
    let dir = tempfile::tempdir().unwrap();
    let dump_path = dir.path().join("all.jsonpb");
    write_dump(&dump_path, &fixture(d));
    let baseline = dir.path().join("all.baseline");
    let d = dump_path.to_str().unwrap();
    ok(&run(args(&["merge", d, "-o", baseline.to_str().unwrap()])).await);
    for format in ["dot", "mermaid", "json"] {
        let a = run(args(&["graph", d, "-o", format])).await;
        let b = run(args(&["graph", baseline.to_str().unwrap(), "-o", format])).await;
        ok(&a);
        ok(&b);
        assert_eq!(a.stdout, b.stdout, "{format}");
        assert!(!a.stdout.is_empty());
        let again = run(args(&["graph", d, "-o", format])).await;
        assert_eq!(a.stdout, again.stdout, "{format} is deterministic");
    }
    let json = run(args(&["graph", d, "-o", "json"])).await;
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(v["edges"].as_array().unwrap().len() > 10);
}

/// Issue #11 on the live path: damaged flows from the relay are rejected at
/// the door (named by relay node), never learned, and summed up at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_relay_flows_are_rejected_and_not_learned() {
    let mut flows = tcp_fixture(&samples());
    let mut damaged = 0;
    for r in flows.iter_mut().skip(10).step_by(50) {
        if let Some(ResponseTypes::Flow(f)) = &mut r.response_types {
            if let Some(src) = &mut f.source {
                src.pod_name = "bad pod".into();
                damaged += 1;
            }
        }
    }
    assert!(damaged > 0);
    let (until, sentinel) = until_and_sentinel(&flows);
    flows.push(sentinel);
    let server = observer_server::start(ServerOptions {
        responses: flows,
        ..ServerOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("damaged.baseline");
    let err = ok(&run(observe_args(&server.address(), &baseline, &until, &[])).await);
    assert!(
        err.contains(r#"warning: rejected flow from relay node "#),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "warning: {damaged} flows rejected ({damaged} invalid pod name)"
        )),
        "{err}"
    );
    assert_eq!(load(&baseline).graph.coverage.flows, 400 - damaged);
}
