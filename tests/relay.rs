//! The Hubble Relay client against the in-process Observer server
//! (`tests/common/observer_server.rs`): resume across cut streams, TLS and
//! mTLS, clear errors, pass-through of lost events and node status, server
//! status numbers, deadline and shutdown. Every test is bounded by a tokio
//! timeout. The server serves the in-repo samples (`tests/data/flows`); the
//! resume tests also run on the real dumps when the corpus is present.

use crate::common;

use std::collections::HashSet;
use std::future::Future;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::certs::TestPki;
use crate::common::observer_server::{self, load_dump, Cut, RunningServer, ServerOptions};
use flowpolicy::proto::flow::{Flow, LostEvent};
use flowpolicy::proto::observer::get_flows_response::ResponseTypes;
use flowpolicy::proto::observer::{GetFlowsResponse, ServerStatusResponse};
use flowpolicy::proto::relay::{NodeState, NodeStatusEvent};
use flowpolicy::source::relay::{
    follow, server_status, Backoff, FlowTime, FollowEnd, FollowOptions, FollowSummary, RelayConfig,
    RelayError, RelayEvent, ResumeState,
};
use prost::Message;

/// Upper bound for any single test step.
const BOUND: Duration = Duration::from_secs(20);

async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, fut)
        .await
        .expect("test step exceeded its time bound")
}

fn plain(server: &RunningServer) -> RelayConfig {
    RelayConfig {
        server: server.address(),
        timeout: Duration::from_secs(3),
        ..RelayConfig::default()
    }
}

fn fast() -> FollowOptions {
    FollowOptions {
        backoff: Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(40),
        },
        ..FollowOptions::default()
    }
}

fn ts(seconds: i64, nanos: i32) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp { seconds, nanos }
}

fn flow_at(t: pbjson_types::Timestamp, node: &str, uuid: &str) -> GetFlowsResponse {
    GetFlowsResponse {
        response_types: Some(ResponseTypes::Flow(Flow {
            time: Some(t),
            uuid: uuid.into(),
            ..Flow::default()
        })),
        node_name: node.into(),
        time: Some(t),
    }
}

/// What a follow run saw.
#[derive(Default)]
struct Seen {
    responses: Vec<GetFlowsResponse>,
    connected: usize,
    reconnecting: Vec<(u32, Duration, String)>,
}

/// Follows until `want` responses arrived (or another end), collecting
/// everything.
async fn collect(
    cfg: &RelayConfig,
    opts: &FollowOptions,
    resume: &mut ResumeState,
    want: usize,
) -> (Result<FollowSummary, RelayError>, Seen) {
    let mut seen = Seen::default();
    let sink = |event| {
        match event {
            RelayEvent::Connected => seen.connected += 1,
            RelayEvent::Response(r) => seen.responses.push(r.response),
            RelayEvent::Reconnecting {
                attempt,
                delay,
                error,
            } => seen.reconnecting.push((attempt, delay, error)),
        }
        if seen.responses.len() >= want {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let result = bounded(follow(cfg, opts, resume, sink, std::future::pending())).await;
    (result, seen)
}

const REAL_10: &str = "cilium_hubble-otel__basic-sample-10-flows.json";
const REAL_400_TCP: &str = "cilium_hubble-otel__basic-sample-400-tcp-flows.json";

/// A 400-flow TCP dump, with each run of three responses stamped
/// (envelope `time`, which the server and the client go by) with the first
/// one's time, so resumes land on boundaries shared by several flows. The
/// flows keep their own times: some are otherwise identical packets of one
/// connection, and byte-identical responses count as one event.
fn tcp_dump_with_shared_timestamps(dump: &Path) -> Vec<GetFlowsResponse> {
    let mut flows = load_dump(dump);
    flows.sort_by_key(observer_server::time_of);
    for group in flows.chunks_mut(3) {
        let t = group[0].time;
        for resp in group {
            resp.time = t;
        }
    }
    flows
}

async fn cut_streams_deliver_everything_once(cut: Cut, dump: &Path) {
    let flows = tcp_dump_with_shared_timestamps(dump);
    assert_eq!(flows.len(), 400, "{}", dump.display());
    let distinct: HashSet<Vec<u8>> = flows.iter().map(|f| f.encode_to_vec()).collect();
    assert_eq!(distinct.len(), flows.len(), "dump flows are distinct");
    let server = observer_server::start(ServerOptions {
        responses: flows.clone(),
        cut_every: Some(7),
        cut,
        ..ServerOptions::default()
    })
    .await;
    let cfg = RelayConfig {
        namespace: vec!["bookinfo".into()],
        ..plain(&server)
    };
    let mut resume = ResumeState::default();
    let (result, seen) = collect(&cfg, &fast(), &mut resume, flows.len()).await;
    let summary = result.unwrap();

    assert_eq!(summary.end, FollowEnd::SinkStopped);
    assert_eq!(seen.responses.len(), flows.len());
    assert!(seen.responses == flows, "every flow exactly once, in order");
    assert!(
        summary.reconnects > 50,
        "reconnects: {}",
        summary.reconnects
    );
    // Every cut was retried once and reopened: retries and reconnections
    // (streams reopened) agree here, as nothing failed to connect.
    assert_eq!(seen.reconnecting.len() as u32, summary.retries);
    assert_eq!(summary.reconnects, summary.retries);
    assert_eq!(seen.connected, server.streams());
    assert_eq!(summary.reconnects as usize, server.streams() - 1);
    // Every reconnect followed a flow, so backoff restarted at attempt 1.
    assert!(seen.reconnecting.iter().all(|(attempt, ..)| *attempt == 1));
    assert_eq!(
        resume.last_time,
        Some(FlowTime::from_timestamp(
            flows.last().unwrap().time.as_ref().unwrap()
        ))
    );
    assert_eq!(resume.boundary.len(), 1, "400 = 133*3 + 1 flow at the end");

    let requests = server.requests();
    let first = &requests[0];
    assert_eq!(
        (first.number, first.first, first.follow, first.since),
        (u64::MAX, false, true, None)
    );
    assert_eq!(first.whitelist.len(), 2);
    assert_eq!(first.whitelist[0].source_pod, ["bookinfo/"]);
    assert_eq!(first.whitelist[1].destination_pod, ["bookinfo/"]);
    // Each resumed request starts at the time of the last flow delivered:
    // the 7th, 14th, ... flow (the server cuts after 7 sent, and re-sends
    // the boundary flows, which the client drops).
    let mut delivered = 0usize;
    for req in &requests[1..] {
        assert_eq!((req.number, req.first, req.follow), (0, false, true));
        let since = req.since.unwrap();
        let pos = seen.responses[delivered..]
            .iter()
            .position(|r| r.time == Some(since))
            .expect("since is a delivered flow time");
        delivered += pos;
    }
}

#[tokio::test]
async fn cut_with_error_every_7_delivers_every_flow_once_in_order() {
    cut_streams_deliver_everything_once(Cut::Error, &common::sample("tcp-400.jsonpb")).await;
}

#[tokio::test]
async fn cut_by_ending_the_stream_every_7_delivers_every_flow_once_in_order() {
    cut_streams_deliver_everything_once(Cut::End, &common::sample("tcp-400.jsonpb")).await;
}

#[tokio::test]
async fn cut_streams_of_a_real_dump_deliver_every_flow_once_in_order() {
    let what = "cut streams of a real dump";
    if let Some(real) = common::real_dump(what, REAL_400_TCP) {
        cut_streams_deliver_everything_once(Cut::Error, &real).await;
        cut_streams_deliver_everything_once(Cut::End, &real).await;
    }
}

#[tokio::test]
async fn persisted_resume_state_continues_without_repeats() {
    persisted_resume(&common::sample("ten.jsonpb")).await;
}

#[tokio::test]
async fn persisted_resume_state_of_a_real_dump() {
    if let Some(real) = common::real_dump("persisted resume over a real dump", REAL_10) {
        persisted_resume(&real).await;
    }
}

/// Follows six of a 10-flow dump, stores the resume state, and continues.
async fn persisted_resume(ten_flows: &Path) {
    let flows = load_dump(ten_flows);
    let server = observer_server::start(ServerOptions {
        responses: flows.clone(),
        ..ServerOptions::default()
    })
    .await;
    let cfg = plain(&server);
    let mut resume = ResumeState::default();
    let (result, seen) = collect(&cfg, &fast(), &mut resume, 6).await;
    assert_eq!(result.unwrap().end, FollowEnd::SinkStopped);
    assert!(seen.responses[..] == flows[..6]);

    // A baseline file stores the state; a later run continues from it and
    // also receives a flow that arrives live while it follows.
    let stored = serde_json::to_string_pretty(&resume).unwrap();
    let mut resume: ResumeState = serde_json::from_str(&stored).unwrap();
    let last = *flows[9].time.as_ref().unwrap();
    let live = flow_at(ts(last.seconds + 1, 0), "node-x", "live-1");
    let pushed = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.push(live.clone());
    };
    let opts = fast();
    let ((result, seen), ()) = tokio::join!(collect(&cfg, &opts, &mut resume, 5), pushed);
    assert_eq!(result.unwrap().reconnects, 0);
    let mut expected = flows[6..].to_vec();
    expected.push(live);
    assert!(seen.responses == expected, "flows 7..10 then the live one");
    assert_eq!(server.requests()[1].number, 0);
    assert_eq!(server.requests()[1].since, flows[5].time);
}

#[tokio::test]
async fn lost_events_and_node_status_pass_through() {
    let node_status = GetFlowsResponse {
        response_types: Some(ResponseTypes::NodeStatus(NodeStatusEvent {
            state_change: NodeState::NodeConnected as i32,
            node_names: vec!["node-a".into()],
            message: String::new(),
        })),
        node_name: String::new(),
        time: Some(ts(100, 0)),
    };
    let lost = GetFlowsResponse {
        response_types: Some(ResponseTypes::LostEvents(LostEvent {
            num_events_lost: 42,
            ..LostEvent::default()
        })),
        node_name: "node-a".into(),
        time: Some(ts(102, 0)),
    };
    let responses = vec![
        node_status,
        flow_at(ts(101, 0), "node-a", "f1"),
        lost,
        flow_at(ts(103, 0), "node-a", "f2"),
    ];
    let server = observer_server::start(ServerOptions {
        responses: responses.clone(),
        ..ServerOptions::default()
    })
    .await;
    let mut resume = ResumeState::default();
    let (result, seen) = collect(&plain(&server), &fast(), &mut resume, 4).await;
    assert_eq!(result.unwrap().delivered, 4);
    assert!(seen.responses == responses);
    match &seen.responses[2].response_types {
        Some(ResponseTypes::LostEvents(l)) => assert_eq!(l.num_events_lost, 42),
        other => panic!("expected lost events, got {other:?}"),
    }
}

fn status_response() -> ServerStatusResponse {
    ServerStatusResponse {
        num_flows: 8190,
        max_flows: 12285,
        seen_flows: 1_234_567,
        uptime_ns: 3_600_000_000_000,
        num_connected_nodes: Some(pbjson_types::UInt32Value { value: 3 }),
        num_unavailable_nodes: Some(pbjson_types::UInt32Value { value: 1 }),
        unavailable_nodes: vec!["worker-3".into()],
        version: "1.17.1".into(),
        flows_rate: 12.5,
    }
}

#[tokio::test]
async fn server_status_numbers_reach_the_caller() {
    let server = observer_server::start(ServerOptions {
        status: status_response(),
        ..ServerOptions::default()
    })
    .await;
    let status = bounded(server_status(&plain(&server))).await.unwrap();
    assert_eq!(status.num_connected_nodes, Some(3));
    assert_eq!(status.num_unavailable_nodes, Some(1));
    assert_eq!(status.unavailable_nodes, ["worker-3"]);
    assert_eq!((status.num_flows, status.max_flows), (8190, 12285));
    assert_eq!(status.seen_flows, 1_234_567);
    assert_eq!(status.uptime, Duration::from_secs(3600));
    assert_eq!(status.version, "1.17.1");
    assert_eq!(status.flows_rate, 12.5);
    assert!((status.buffer_fill().unwrap() - 8190.0 / 12285.0).abs() < 1e-9);
}

const RELAY_NAME: &str = "instance.hubble-relay.cilium.io";

async fn tls_server(pki: &TestPki, require_client: bool) -> RunningServer {
    observer_server::start(ServerOptions {
        responses: load_dump(&common::sample("ten.jsonpb")),
        status: status_response(),
        tls: Some(pki.server_tls(require_client)),
        ..ServerOptions::default()
    })
    .await
}

fn tls_config(server: &RunningServer, pki: &TestPki) -> RelayConfig {
    RelayConfig {
        tls: true,
        tls_ca_cert_files: vec![pki.ca_file.clone()],
        tls_server_name: Some(RELAY_NAME.into()),
        ..plain(server)
    }
}

#[tokio::test]
async fn tls_with_ca_file_and_server_name() {
    let pki = TestPki::new(&[RELAY_NAME]);
    let server = tls_server(&pki, false).await;
    let cfg = tls_config(&server, &pki);
    let status = bounded(server_status(&cfg)).await.unwrap();
    assert_eq!(status.num_connected_nodes, Some(3));
    let (result, seen) = collect(&cfg, &fast(), &mut ResumeState::default(), 5).await;
    assert_eq!(result.unwrap().end, FollowEnd::SinkStopped);
    assert_eq!(seen.responses.len(), 5);

    // https:// turns TLS on; with an IP SAN no server name is needed.
    let pki = TestPki::new(&["127.0.0.1"]);
    let server = tls_server(&pki, false).await;
    let cfg = RelayConfig {
        server: format!("https://{}", server.address()),
        tls_ca_cert_files: vec![pki.ca_file.clone()],
        ..plain(&server)
    };
    assert!(bounded(server_status(&cfg)).await.is_ok());
}

#[tokio::test]
async fn mtls_with_client_certificate() {
    let pki = TestPki::new(&[RELAY_NAME]);
    let server = tls_server(&pki, true).await;
    let cfg = RelayConfig {
        tls_client_cert_file: Some(pki.client_cert_file.clone()),
        tls_client_key_file: Some(pki.client_key_file.clone()),
        ..tls_config(&server, &pki)
    };
    let status = bounded(server_status(&cfg)).await.unwrap();
    assert_eq!(status.version, "1.17.1");
    let (result, seen) = collect(&cfg, &fast(), &mut ResumeState::default(), 5).await;
    assert!(result.is_ok());
    assert_eq!(seen.responses.len(), 5);

    // Without the client certificate the relay refuses the handshake.
    let err = bounded(server_status(&tls_config(&server, &pki)))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("client certificate"), "{msg}");
    assert!(msg.contains("--tls-client-cert-file"), "{msg}");
}

#[tokio::test]
async fn ca_mismatch_is_a_clear_error_without_retries() {
    let pki = TestPki::new(&[RELAY_NAME]);
    let other = TestPki::new(&[RELAY_NAME]);
    let server = tls_server(&pki, false).await;
    let cfg = tls_config(&server, &other);

    let started = Instant::now();
    let err = bounded(server_status(&cfg)).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RelayError::Tls { .. }), "{err:?}");
    assert!(
        msg.contains("certificate") && msg.contains("CA mismatch"),
        "{msg}"
    );
    assert!(msg.contains("--tls-ca-cert-files"), "{msg}");
    assert!(!err.is_retryable());

    // The follow loop does not retry a certificate problem forever.
    let (result, seen) = collect(&cfg, &fast(), &mut ResumeState::default(), 1).await;
    assert!(matches!(result, Err(RelayError::Tls { .. })), "{result:?}");
    assert!(seen.reconnecting.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5));

    // A certificate for another name points at --tls-server-name.
    let cfg = RelayConfig {
        tls_server_name: Some("wrong.example".into()),
        ..tls_config(&server, &pki)
    };
    let msg = bounded(server_status(&cfg)).await.unwrap_err().to_string();
    assert!(
        msg.contains("not valid for the server name \"wrong.example\""),
        "{msg}"
    );
    assert!(msg.contains("--tls-server-name"), "{msg}");
}

#[tokio::test]
async fn allow_insecure_skips_certificate_verification() {
    let pki = TestPki::new(&["somewhere.else"]);
    let server = tls_server(&pki, false).await;
    let cfg = RelayConfig {
        tls: true,
        tls_allow_insecure: true,
        ..plain(&server)
    };
    let status = bounded(server_status(&cfg)).await.unwrap();
    assert_eq!(status.unavailable_nodes, ["worker-3"]);
}

#[tokio::test]
async fn bad_pem_files_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let cfg = RelayConfig {
        server: "127.0.0.1:1".into(),
        tls: true,
        tls_ca_cert_files: vec![junk],
        ..RelayConfig::default()
    };
    let msg = bounded(server_status(&cfg)).await.unwrap_err().to_string();
    assert!(
        msg.contains("--tls-ca-cert-files") && msg.contains("no PEM certificate"),
        "{msg}"
    );
    let cfg = RelayConfig {
        tls_ca_cert_files: vec![dir.path().join("missing.pem")],
        ..cfg
    };
    let msg = bounded(server_status(&cfg)).await.unwrap_err().to_string();
    assert!(msg.starts_with("cannot read --tls-ca-cert-files"), "{msg}");
}

/// A port on 127.0.0.1 with nothing listening.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr.to_string()
}

#[tokio::test]
async fn unreachable_server_names_the_remedy() {
    let addr = closed_port().await;
    let cfg = RelayConfig {
        server: addr.clone(),
        ..RelayConfig::default()
    };
    let err = bounded(server_status(&cfg)).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "cannot reach Hubble Relay at {addr}: connection refused"
        )),
        "{msg}"
    );
    assert!(msg.contains("cilium hubble port-forward") && msg.contains("--server"));

    // The follow loop retries with growing attempts, then gives up.
    let opts = FollowOptions {
        max_attempts: Some(3),
        ..fast()
    };
    let (result, seen) = collect(&cfg, &opts, &mut ResumeState::default(), 1).await;
    assert!(matches!(result, Err(RelayError::Unreachable { .. })));
    let attempts: Vec<u32> = seen.reconnecting.iter().map(|r| r.0).collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert!(seen.reconnecting[0].2.contains("connection refused"));
}

#[tokio::test]
async fn deadline_and_shutdown_stop_promptly() {
    let server = observer_server::start(ServerOptions::default()).await;
    let cfg = plain(&server);
    let opts = FollowOptions {
        deadline: Some(Duration::from_millis(200)),
        ..fast()
    };
    let started = Instant::now();
    let summary = bounded(follow(
        &cfg,
        &opts,
        &mut ResumeState::default(),
        |_| ControlFlow::Continue(()),
        std::future::pending(),
    ))
    .await
    .unwrap();
    assert_eq!(summary.end, FollowEnd::Deadline);
    assert!(started.elapsed() < Duration::from_secs(2));

    // Shutdown also interrupts a backoff wait (relay gone, long backoff).
    let cfg = RelayConfig {
        server: closed_port().await,
        ..RelayConfig::default()
    };
    let opts = FollowOptions {
        backoff: Backoff {
            initial: Duration::from_secs(60),
            max: Duration::from_secs(60),
        },
        ..FollowOptions::default()
    };
    let started = Instant::now();
    let summary = bounded(follow(
        &cfg,
        &opts,
        &mut ResumeState::default(),
        |_| ControlFlow::Continue(()),
        tokio::time::sleep(Duration::from_millis(200)),
    ))
    .await
    .unwrap();
    // One failed attempt, retried; no stream was ever reopened.
    assert_eq!(
        (summary.end, summary.retries, summary.reconnects),
        (FollowEnd::Shutdown, 1, 0)
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn until_ends_the_follow() {
    let flows: Vec<_> = (0..6)
        .map(|i| flow_at(ts(200 + i, 0), "node-a", &format!("u{i}")))
        .collect();
    let server = observer_server::start(ServerOptions {
        responses: flows.clone(),
        ..ServerOptions::default()
    })
    .await;
    let cfg = RelayConfig {
        until: chrono::DateTime::from_timestamp(203, 0),
        ..plain(&server)
    };
    // Like Hubble, the test server ends the stream at the first flow after
    // `until`; as `until` has passed, the follow ends instead of resuming.
    let (result, seen) = collect(&cfg, &fast(), &mut ResumeState::default(), 100).await;
    assert_eq!(result.unwrap().end, FollowEnd::UntilReached);
    assert!(seen.responses[..] == flows[..4]);
    assert!(server.requests()[0].until.is_some());
}

#[tokio::test]
async fn silent_server_times_out_with_a_clear_error() {
    // Accepts TCP connections and never says a word.
    let (addr, hold) = crate::common::mute_server().await;
    let cfg = RelayConfig {
        server: addr.clone(),
        timeout: Duration::from_millis(300),
        ..RelayConfig::default()
    };
    let started = Instant::now();
    let err = bounded(server_status(&cfg)).await.unwrap_err();
    assert!(matches!(err, RelayError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("raise --timeout"), "{err}");
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(3));
    hold.abort();
}

/// A server that answers every connection with `reply` and keeps it open.
async fn raw_server(reply: &'static [u8]) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(reply).await;
                tokio::time::sleep(Duration::from_secs(10)).await;
            });
        }
    });
    (addr, task)
}

/// Issue #22: only a server that really answers with TLS gets the `--tls`
/// remedy; a plain HTTP server is named as not being Hubble Relay.
#[tokio::test]
async fn plaintext_failures_name_the_right_remedy() {
    let (addr, task) =
        raw_server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
    let cfg = RelayConfig {
        server: addr.clone(),
        timeout: Duration::from_secs(3),
        ..RelayConfig::default()
    };
    let err = bounded(server_status(&cfg)).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RelayError::NotRelay { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert!(
        msg.contains(&format!("{addr} is not Hubble Relay"))
            && msg.contains("HTTP/1.1 400 Bad Request")
            && !msg.contains("--tls"),
        "{msg}"
    );
    task.abort();

    // A TLS relay reached over plaintext.
    let pki = TestPki::new(&[RELAY_NAME]);
    let server = tls_server(&pki, false).await;
    let cfg = RelayConfig {
        server: server.address(),
        timeout: Duration::from_secs(3),
        ..RelayConfig::default()
    };
    let err = bounded(server_status(&cfg)).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RelayError::Tls { .. }), "{err:?}");
    assert!(
        msg.contains("answered with TLS") && msg.contains("pass --tls"),
        "{msg}"
    );
}

/// Forwards connections to `upstream` and cuts each after `limit` bytes
/// from the server: a stream broken mid-way (relay restart, port-forward
/// drop).
async fn cutting_proxy(upstream: String, limit: usize) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                });
                let mut sent = 0;
                let mut buf = vec![0u8; 4096];
                while sent < limit {
                    match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let n = n.min(limit - sent);
                            if cw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                            sent += n;
                        }
                    }
                }
                up.abort();
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn a_plaintext_stream_cut_midway_gets_no_tls_hint() {
    let flows = load_dump(&common::sample("tcp-400.jsonpb"));
    let server = observer_server::start(ServerOptions {
        responses: flows,
        ..ServerOptions::default()
    })
    .await;
    let (proxy, task) = cutting_proxy(server.address(), 20_000).await;
    let cfg = RelayConfig {
        server: proxy,
        timeout: Duration::from_secs(3),
        ..RelayConfig::default()
    };
    let mut errors = Vec::new();
    let mut flows_seen = 0;
    let result = bounded(follow(
        &cfg,
        &fast(),
        &mut ResumeState::default(),
        |e| match e {
            RelayEvent::Response(_) => {
                flows_seen += 1;
                ControlFlow::Continue(())
            }
            RelayEvent::Reconnecting { error, .. } => {
                errors.push(error);
                ControlFlow::Break(())
            }
            RelayEvent::Connected => ControlFlow::Continue(()),
        },
        std::future::pending(),
    ))
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert!(flows_seen > 0, "the stream was cut before any flow");
    assert_eq!(errors.len(), 1);
    assert!(!errors[0].contains("--tls"), "{}", errors[0]);
    task.abort();
}

/// Issue #22: an X.509 version 1 client certificate (what `openssl x509
/// -req` makes without extensions) is named as the cause, instead of an
/// "invalid peer certificate" that reads as the relay's fault.
#[tokio::test]
async fn a_version_1_client_certificate_is_named_as_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let sh = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let made = sh(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=client CA",
            "-days",
            "2",
        ],
    ]
    .concat())
        && sh(&[
            &["req"][..],
            &ec,
            &["-keyout", "c.key", "-out", "c.csr", "-subj", "/CN=client"],
        ]
        .concat())
        && sh(&[
            "x509",
            "-req",
            "-in",
            "c.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "c.crt",
            "-days",
            "2",
        ]);
    if !made {
        eprintln!("skipping: openssl cannot make the version 1 certificate here");
        return;
    }
    let pki = TestPki::new(&[RELAY_NAME]);
    let client_ca = std::fs::read_to_string(dir.path().join("ca.crt")).unwrap();
    let server = observer_server::start(ServerOptions {
        status: status_response(),
        tls: Some(
            tonic::transport::ServerTlsConfig::new()
                .identity(tonic::transport::Identity::from_pem(
                    &pki.server_cert_pem,
                    &pki.server_key_pem,
                ))
                .client_ca_root(tonic::transport::Certificate::from_pem(client_ca)),
        ),
        ..ServerOptions::default()
    })
    .await;
    let cfg = RelayConfig {
        tls_client_cert_file: Some(dir.path().join("c.crt")),
        tls_client_key_file: Some(dir.path().join("c.key")),
        ..tls_config(&server, &pki)
    };
    let err = bounded(server_status(&cfg)).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RelayError::Config(_)), "{err:?}");
    assert!(
        msg.contains("--tls-client-cert-file")
            && msg.contains("is X.509 version 1")
            && msg.contains("reissue it as version 3")
            && !msg.contains("peer"),
        "{msg}"
    );
}
