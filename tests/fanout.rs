//! Beyond one relay: `observe --server unix://…` (the agent's socket) and
//! `observe --peer-service` (every node's Hubble server, found through the
//! peer service), against in-process servers: node Observers serving the
//! generated multi-node capture (`flowkit::cluster`) and a peer service
//! stand-in (`common::peer_server`). The fan-out's baseline must give the
//! very policies `recommend` gives on the whole capture replayed from a
//! dump — with nodes announced late, removed mid-stream, streams cut every
//! few thousand flows, the peer stream cut, and a restart in between.
//! Every wait is bounded; nothing asserts on time.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use crate::common::observer_server::{self, Cut, RunningServer, ServerOptions};
use crate::common::peer_server;
use crate::flowkit::cluster::{self, Capture, NODES};
use crate::observe::{
    args, content, fixture, ok, only, run, run_command, samples, tree, until_and_sentinel,
    write_dump,
};
use flowpolicy::baseline::{self, Baseline, BaselineMeta};
use flowpolicy::graph::builder::GraphBuilder;
use flowpolicy::interpret::InterpretConfig;
use flowpolicy::proto::observer::GetFlowsResponse;
use flowpolicy::source::event::{EndpointHint, SourceEvent};
use flowpolicy::source::relay::{
    Backoff, Fanout, FanoutOptions, FollowEnd, NodeView, RelayConfig, ResumeState,
};
use flowpolicy::source::sink::{At, FlowSink, NodeState};

const BIN: &str = env!("CARGO_BIN_EXE_flowpolicy");

/// Bound of every wait for the fan-out to get somewhere.
const WAIT: Duration = Duration::from_secs(90);

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// `observe` of one server (a relay, or the agent's socket) into
/// `baseline`, until `until`.
fn observe_server(server: &str, baseline: &Path, until: &str) -> Vec<String> {
    observe_args("--server", server, baseline, until)
}

/// `observe --peer-service` into `baseline`, until `until`.
fn observe_peers(peer_service: &str, baseline: &Path, until: &str) -> Vec<String> {
    let mut a = observe_args("--peer-service", peer_service, baseline, until);
    a.extend(args(&["--node-wait", "5s"]));
    a
}

fn observe_args(source: &str, address: &str, baseline: &Path, until: &str) -> Vec<String> {
    args(&[
        "observe",
        source,
        address,
        "--baseline",
        &s(baseline),
        "--until",
        until,
        "--reconnect-delay",
        "5ms",
    ])
}

// ---- the agent's socket ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unix_socket_builds_the_same_baseline_as_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let flows = fixture(&samples());
    let (until, sentinel) = until_and_sentinel(&flows);
    let mut all = flows.clone();
    all.push(sentinel);
    let opts = |responses| ServerOptions {
        responses,
        cut_every: Some(150),
        ..ServerOptions::default()
    };
    let tcp = observer_server::start(opts(all.clone())).await;
    let socket = dir.path().join("hubble.sock");
    let unix = observer_server::start_unix(opts(all), &socket).await;
    assert!(unix.address().starts_with("unix:///"));
    let observe = |server: String, baseline: &Path| observe_server(&server, baseline, &until);
    let (a, b) = (
        dir.path().join("tcp.baseline"),
        dir.path().join("unix.baseline"),
    );
    ok(&run(observe(tcp.address(), &a)).await);
    let err = ok(&run(observe(unix.address(), &b)).await);
    assert!(err.contains("--until reached"), "{err}");
    assert!(unix.streams() > 1, "the socket stream was cut and resumed");
    assert_eq!(content(&a), content(&b));
    // The relative form, from the socket's directory.
    let c = dir.path().join("rel.baseline");
    let (cwd, rel) = (
        dir.path().to_path_buf(),
        observe("unix:hubble.sock".into(), &c),
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .current_dir(cwd)
            .args(rel)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(content(&a), content(&c));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_socket_or_tls_on_a_socket_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("b.baseline");
    let missing = format!("unix://{}", dir.path().join("no/hubble.sock").display());
    let out = run(args(&[
        "observe",
        "--server",
        &missing,
        "--baseline",
        &s(&baseline),
    ]))
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot connect to the Hubble socket") && err.contains("no such file"),
        "{err}"
    );
    assert!(
        err.contains("run flowpolicy on the node") && err.contains("/var/run/cilium"),
        "{err}"
    );
    // The socket is the agent's, not the relay.
    assert!(
        err.contains("connecting to the agent's Hubble socket") && !err.contains("Hubble Relay"),
        "{err}"
    );
    assert!(!err.contains("panicked") && !baseline.exists(), "{err}");

    let out = run(args(&[
        "observe",
        "--server",
        "unix:///var/run/cilium/hubble.sock",
        "--tls",
        "--baseline",
        &s(&baseline),
    ]))
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--tls cannot be used with --server unix://"),
        "{err}"
    );
}

/// A socket flowpolicy may not open says whom it lets in, and doing what
/// it says works: as root, the binary runs as `nobody` against a socket of
/// root's (mode 0700, then 0770 with another group, then in that group);
/// as anyone else, against a socket of mode 0000.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_we_may_not_open_says_who_may() {
    use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    let mode =
        |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    mode(dir.path(), 0o755);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    mode(&out, 0o777);
    let flows = fixture(&samples());
    let (until, sentinel) = until_and_sentinel(&flows);
    let mut all = flows;
    all.push(sentinel);
    let socket = dir.path().join("hubble.sock");
    let server = observer_server::start_unix(
        ServerOptions {
            responses: all,
            ..ServerOptions::default()
        },
        &socket,
    )
    .await;
    let owner = std::fs::metadata(&socket).unwrap().uid();
    let observe = |name: &str| observe_server(&server.address(), &out.join(name), &until);
    let refused = |out: &std::process::Output| {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains("cannot connect to the Hubble socket") && !err.contains("panicked"),
            "{err}"
        );
        err
    };
    if owner != 0 {
        eprintln!("note: not run as root: only the refusal of a socket of mode 0000 is checked");
        mode(&socket, 0o000);
        let err = refused(&run(observe("b.baseline")).await);
        assert!(
            err.contains(&format!(
                "permission denied: the socket belongs to uid {owner}"
            )) && err.contains("mode 0000"),
            "{err}"
        );
        return;
    }
    // A copy of the binary that `nobody` may run (the build's may sit
    // under a directory only root may enter).
    let bin = dir.path().join("flowpolicy");
    std::fs::copy(BIN, &bin).unwrap();
    mode(&bin, 0o755);
    let (nobody, group) = (65534, 4242);
    let as_user = |gid: u32| {
        let mut c = Command::new(&bin);
        c.uid(nobody).gid(gid);
        c
    };
    if let Err(e) = as_user(nobody).arg("--version").output() {
        eprintln!("note: root here cannot run a program as uid {nobody} ({e}): not checked");
        return;
    }
    mode(&socket, 0o700);
    let err = refused(&run_command(as_user(nobody), observe("a.baseline")).await);
    assert!(
        err.contains("permission denied: the socket belongs to uid 0")
            && err.contains("mode 0700; only its owner may connect: run as uid 0"),
        "{err}"
    );
    chown(&socket, None, Some(group)).unwrap();
    mode(&socket, 0o770);
    let err = refused(&run_command(as_user(nobody), observe("b.baseline")).await);
    assert!(
        err.contains(&format!(
            "gid {group}, mode 0770; run as root or in group {group}"
        )) && err.contains(&format!("supplementalGroups: [{group}]")),
        "{err}"
    );
    assert!(!out.join("a.baseline").exists() && !out.join("b.baseline").exists());
    // In that group, it connects.
    let err = ok(&run_command(as_user(group), observe("c.baseline")).await);
    assert!(err.contains("--until reached"), "{err}");
    assert!(out.join("c.baseline").exists());
}

// ---- the fan-out, driven in process ----

/// The sink behind the fan-out: the graph builder, and the flows each
/// node delivered (for the choreography).
struct Counting {
    builder: GraphBuilder,
    delivered: Rc<RefCell<BTreeMap<String, usize>>>,
}

impl FlowSink for Counting {
    fn event(&mut self, event: &SourceEvent, at: At<'_>, hint: EndpointHint) -> ControlFlow<()> {
        let node = match event {
            SourceEvent::Flow(f) => Some(f.node_name.clone()),
            SourceEvent::Lost { node, .. } => Some(node.clone()),
            SourceEvent::NodeStatus { .. } => None,
        };
        if let Some(node) = node {
            *self.delivered.borrow_mut().entry(node).or_default() += 1;
        }
        self.builder.event(event, at, hint)
    }
}

fn options() -> FanoutOptions {
    FanoutOptions {
        backoff: Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(200),
        },
        slim: true,
        deadline: None,
        // Long enough that a cut stream is back before the merge moves on.
        max_wait: Duration::from_secs(3),
        per_node: 256,
        tick: Duration::from_millis(20),
    }
}

type Views = Rc<RefCell<Vec<NodeView>>>;

/// Waits (bounded) until `ready` holds, checking every 10 ms.
async fn until(what: &str, mut ready: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(WAIT, async {
        while !ready() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for {what}");
}

fn state(views: &Views, node: &str) -> Option<NodeState> {
    let v = views.borrow();
    v.iter().find(|n| n.name == node).map(|n| n.state.clone())
}

/// One fan-out run into `builder` while `script` plays; returns the
/// builder and the nodes' resume points when `script` ends.
async fn fan_run<F: std::future::Future<Output = ()>>(
    peer: &str,
    starts: BTreeMap<String, ResumeState>,
    builder: GraphBuilder,
    script: impl FnOnce(Rc<RefCell<BTreeMap<String, usize>>>, Views) -> F,
) -> (GraphBuilder, BTreeMap<String, ResumeState>, Vec<NodeView>) {
    let cfg = RelayConfig::default();
    let mut fan = Fanout::new(cfg, peer, options(), starts, ResumeState::default()).unwrap();
    let delivered = Rc::new(RefCell::new(BTreeMap::new()));
    let views: Views = Rc::new(RefCell::new(Vec::new()));
    let mut sink = Counting {
        builder,
        delivered: delivered.clone(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let script = script(delivered, views.clone());
    let shown = views.clone();
    let running = fan.run(
        &mut sink,
        async {
            let _ = stopped.await;
        },
        move |_, fan| *shown.borrow_mut() = fan.nodes().cloned().collect(),
    );
    let play = async {
        script.await;
        let _ = stop.send(());
    };
    let (end, ()) = tokio::time::timeout(WAIT * 2, async { tokio::join!(running, play) })
        .await
        .expect("the fan-out run ended");
    assert_eq!(end.unwrap(), FollowEnd::Shutdown);
    let nodes = fan.nodes().cloned().collect();
    (sink.builder, fan.resume_points(), nodes)
}

/// The baseline observe would save, read back (the restart in between).
fn save_and_load(builder: &GraphBuilder, points: BTreeMap<String, ResumeState>) -> Baseline {
    let mut meta = BaselineMeta::default();
    meta.settings.conn_window_seconds.insert(120);
    meta.node_resume = points;
    meta.state = builder.interpreter.state();
    let json = baseline::to_json(&builder.graph, &builder.interpreter.stats, &meta);
    Baseline::from_json("restart", &json).unwrap()
}

async fn node_server(
    responses: Vec<GetFlowsResponse>,
    cut_every: usize,
    cut: Cut,
) -> RunningServer {
    observer_server::start(ServerOptions {
        responses,
        cut_every: Some(cut_every),
        cut,
        ..ServerOptions::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_with_late_removed_and_cut_nodes_equals_replaying_the_dump() {
    let capture: Capture = cluster::capture(6000);
    let (first0, second0) = capture.split(NODES[0]);
    let (first1, second1) = capture.split(NODES[1]);
    let (all2, none2) = capture.split(NODES[2]);
    let (none3, all3) = capture.split(NODES[3]);
    assert!(
        none2.is_empty() && none3.is_empty(),
        "node-2 leaves, node-3 joins at half"
    );
    assert!(
        first0.len() > 2000 && all3.len() > 2000,
        "{} {}",
        first0.len(),
        all3.len()
    );

    // Each node's server holds what it saw so far; the streams are cut
    // every 1000 to 2000 responses, with an error or a clean end.
    let s0 = node_server(first0.clone(), 2000, Cut::Error).await;
    let s1 = node_server(first1.clone(), 1500, Cut::End).await;
    let s2 = node_server(all2.clone(), 1000, Cut::Error).await;
    let s3 = node_server(all3.clone(), 1200, Cut::Error).await;
    let peer = peer_server::start().await;
    peer.add(NODES[0], &s0.address(), None);
    peer.add(NODES[1], &s1.address(), None);
    // The address without a port: 4244 is assumed, so node-2 is announced
    // at the wrong place first and moved to its server (PEER_UPDATED).
    peer.add(NODES[2], "127.0.0.1", None);

    // Run 1: node-2 delivers everything and is removed mid-stream.
    let builder = GraphBuilder::new(InterpretConfig::default());
    let (builder, points, nodes) =
        fan_run(&peer.address(), BTreeMap::new(), builder, |got, views| {
            let peer = &peer;
            let s2 = s2.address();
            let (n0, n1, n2) = (first0.len(), first1.len(), all2.len());
            async move {
                until("node-2 announced", || state(&views, NODES[2]).is_some()).await;
                peer.update(NODES[2], &s2, None);
                let count = |n: &str| got.borrow().get(n).copied().unwrap_or(0);
                until("node-2's flows", || count(NODES[2]) == n2).await;
                peer.delete(NODES[2]);
                until("node-2 removed", || {
                    state(&views, NODES[2]) == Some(NodeState::Removed)
                })
                .await;
                until("the first half", || {
                    count(NODES[0]) == n0 && count(NODES[1]) == n1
                })
                .await;
            }
        })
        .await;
    assert!(nodes.iter().all(|n| n.late == 0), "{nodes:?}");
    let removed = nodes.iter().find(|n| n.name == NODES[2]).unwrap();
    assert_eq!(
        (removed.state.clone(), removed.flows as usize),
        (NodeState::Removed, all2.len())
    );
    assert!(points.contains_key(NODES[0]) && points.contains_key(NODES[2]));

    // Restart: the baseline carries each node's point and the interpreter.
    let base = save_and_load(&builder, points);
    assert_eq!(base.meta.node_resume.len(), 3);
    let builder = GraphBuilder::resume(
        base.graph,
        InterpretConfig::default(),
        &base.meta.state,
        base.interpret,
    );

    // Run 2: node-3 joins late, the second half arrives, the peer stream
    // is cut once (the node set is reconciled, nothing changes).
    let (builder, points, nodes) = fan_run(
        &peer.address(),
        base.meta.node_resume,
        builder,
        |got, views| {
            let peer = &peer;
            let (s0, s1, s3) = (&s0, &s1, s3.address());
            let (second0, second1) = (second0.clone(), second1.clone());
            let (n0, n1, n3) = (second0.len(), second1.len(), all3.len());
            async move {
                let streaming = |n: &str| state(&views, n) == Some(NodeState::Streaming);
                until("node-0 and node-1 back", || {
                    streaming(NODES[0]) && streaming(NODES[1])
                })
                .await;
                let calls = peer.calls();
                peer.cut();
                until("the peer stream back", || peer.calls() > calls).await;
                peer.add(NODES[3], &s3, None);
                until("node-3 announced", || state(&views, NODES[3]).is_some()).await;
                for r in second0 {
                    s0.push(r);
                }
                for r in second1 {
                    s1.push(r);
                }
                let count = |n: &str| got.borrow().get(n).copied().unwrap_or(0);
                until("the second half", || {
                    count(NODES[0]) == n0 && count(NODES[1]) == n1 && count(NODES[3]) == n3
                })
                .await;
            }
        },
    )
    .await;
    assert!(nodes.iter().all(|n| n.late == 0), "{nodes:?}");
    assert!(
        s0.streams() > 3 && s3.streams() > 1,
        "streams were cut and resumed"
    );
    assert!(
        s0.requests().iter().skip(1).all(|r| r.since.is_some()),
        "resumed from its point"
    );
    assert_eq!(
        nodes.iter().find(|n| n.name == NODES[2]),
        None,
        "not announced again"
    );

    let dir = tempfile::tempdir().unwrap();
    let fan_path = dir.path().join("fan.baseline");
    let base = save_and_load(&builder, points);
    std::fs::write(&fan_path, base.encode()).unwrap();
    let dump = dir.path().join("all.jsonpb");
    write_dump(&dump, &capture.responses);
    let flows = capture.responses.iter().filter(|r| {
        matches!(
            r.response_types,
            Some(flowpolicy::proto::observer::get_flows_response::ResponseTypes::Flow(_))
        )
    });
    assert_eq!(base.graph.coverage.flows, flows.count() as u64);
    assert_eq!(base.graph.coverage.lost_events.get(NODES[1]), Some(&17));
    let (a, b) = (dir.path().join("from-dump"), dir.path().join("from-fanout"));
    ok(&run(args(&["recommend", &s(&dump), "--out", &s(&a)])).await);
    ok(&run(args(&["recommend", &s(&fan_path), "--out", &s(&b)])).await);
    let (a, b) = (tree(&a), tree(&b));
    assert!(a.len() > 5, "expected several policies, got {}", a.len());
    assert_eq!(a, b, "the fan-out's policies differ from the dump's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_never_answers_does_not_block_the_others() {
    let capture = cluster::capture(400);
    let flows0 = capture.of(NODES[0]);
    let s0 = node_server(flows0.clone(), 100_000, Cut::Error).await;
    let (mute_addr, _held) = crate::common::mute_server().await;
    // And one announced at a port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused_addr = free.local_addr().unwrap().to_string();
    drop(free);
    let peer = peer_server::start().await;
    peer.add("mute", &mute_addr, None);
    peer.add("refusing", &refused_addr, None);
    peer.add(NODES[0], &s0.address(), None);
    let (_, _, nodes) = fan_run(
        &peer.address(),
        BTreeMap::new(),
        GraphBuilder::new(InterpretConfig::default()),
        |got, views| async move {
            until("node-0's flows past the mute node", || {
                got.borrow().get(NODES[0]).copied().unwrap_or(0) == flows0.len()
            })
            .await;
            until("the refusing node retried", || {
                matches!(
                    state(&views, "refusing"),
                    Some(NodeState::Reconnecting { .. })
                )
            })
            .await;
        },
    )
    .await;
    let mute = nodes.iter().find(|n| n.name == "mute").unwrap();
    assert_eq!(mute.flows, 0);
    assert!(mute.state.is_active(), "{:?}", mute.state);
    // The refusing node's error is about a node's server, with a node's
    // remedy: not the relay's port-forward.
    let refusing = nodes.iter().find(|n| n.name == "refusing").unwrap();
    let NodeState::Reconnecting { error, .. } = &refusing.state else {
        panic!("{:?}", refusing.state);
    };
    assert!(
        error.contains(&format!("the node's Hubble server at {refused_addr}"))
            && error.contains("port 4244")
            && !error.contains("cilium hubble port-forward"),
        "{error}"
    );
}

/// While the merge waits for a node, a node whose flows keep arriving is
/// paused once the merge holds `per_node` of its responses: its follow loop
/// gives up its turn after the response that closed the gate, instead of
/// reading on for as long as the stream has data (which held whole
/// backlogs, hundreds of MiB on eight nodes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_merge_holds_at_most_per_node_responses_of_a_node() {
    let capture = cluster::capture(3000);
    let flows0 = capture.of(NODES[0]);
    let per_node = options().per_node;
    assert!(flows0.len() > 3 * per_node, "{} flows", flows0.len());
    let s0 = node_server(flows0.clone(), 100_000, Cut::Error).await;
    let (mute_addr, _held) = crate::common::mute_server().await;
    let peer = peer_server::start().await;
    peer.add("mute", &mute_addr, None);
    peer.add(NODES[0], &s0.address(), None);
    let mut fan = Fanout::new(
        RelayConfig::default(),
        &peer.address(),
        options(),
        BTreeMap::new(),
        ResumeState::default(),
    )
    .unwrap();
    let delivered = Rc::new(RefCell::new(BTreeMap::new()));
    let mut sink = Counting {
        builder: GraphBuilder::new(InterpretConfig::default()),
        delivered: delivered.clone(),
    };
    let most = Rc::new(std::cell::Cell::new(0usize));
    let seen = most.clone();
    let all_delivered = until("node-0's flows past the mute node", || {
        delivered.borrow().get(NODES[0]).copied().unwrap_or(0) == flows0.len()
    });
    let end = tokio::time::timeout(
        WAIT * 2,
        fan.run(&mut sink, all_delivered, move |_, fan| {
            seen.set(seen.get().max(fan.held()))
        }),
    )
    .await
    .expect("the fan-out run ended");
    assert_eq!(end.unwrap(), FollowEnd::Shutdown);
    assert!(
        most.get() > 0,
        "the merge held node-0's flows while it waited"
    );
    assert!(
        most.get() <= per_node,
        "the merge held {} responses of one node (per_node {per_node})",
        most.get()
    );
}

// ---- the command ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_peer_service_end_to_end_and_continued() {
    let capture = cluster::capture(600);
    let (until, _) = until_and_sentinel(&capture.responses);
    let mut servers = Vec::new();
    let peer = peer_server::start().await;
    for node in NODES {
        let mut responses = capture.of(node);
        let (_, mut sentinel) = until_and_sentinel(&capture.responses);
        sentinel.node_name = node.into();
        responses.push(sentinel);
        let server = node_server(responses, 700, Cut::Error).await;
        peer.add(node, &server.address(), None);
        servers.push(server);
    }
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("fan.baseline");
    let observe = observe_peers(&peer.address(), &baseline, &until);
    let err = ok(&run(observe.clone()).await);
    assert!(err.contains("--until reached"), "{err}");
    for node in NODES {
        assert!(err.contains(&format!("  node {node} (127.0.0.1:")), "{err}");
    }
    assert!(err.contains("17 lost events"), "{err}");
    let raw = zstd::stream::decode_all(std::fs::read(&baseline).unwrap().as_slice()).unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(text.contains("\"version\": 3") && text.contains("\"node_resume\""));

    let dump = dir.path().join("all.jsonpb");
    write_dump(&dump, &capture.responses);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    ok(&run(args(&["recommend", &s(&dump), "--out", &s(&a)])).await);
    ok(&run(args(&["recommend", &s(&baseline), "--out", &s(&b)])).await);
    assert_eq!(
        tree(&a),
        tree(&b),
        "the fan-out's policies differ from the dump's"
    );

    // Continued: every node resumes from its own point, nothing twice.
    let before = content(&baseline);
    let err = ok(&run(observe).await);
    assert!(err.contains("0 flows this run"), "{err}");
    let after = content(&baseline);
    assert_eq!(before["coverage"], after["coverage"]);
    assert_eq!(before["edges"], after["edges"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_peer_service_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("b.baseline");
    // A port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    let out = run(args(&[
        "observe",
        "--peer-service",
        &addr,
        "--baseline",
        &s(&baseline),
        "--timeout",
        "2s",
    ]))
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!("cannot reach the Hubble peer service at {addr}")),
        "{err}"
    );
    assert!(err.contains("port-forward svc/hubble-peer"), "{err}");
    assert!(!err.contains("cilium hubble port-forward"), "{err}");
    assert!(!err.contains("panicked") && !baseline.exists(), "{err}");
    let out = run(args(&[
        "observe",
        "--peer-service",
        "host:99999",
        "--baseline",
        &s(&baseline),
    ]))
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--peer-service"),
        "{err}"
    );
}

/// `watch --peer-service`: the fan-out feeds the watch's sink as it feeds
/// observe's. Watched against the policies of the very same flows, nothing
/// would be dropped, and every node's stream shows up as its own event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_follows_every_node_through_the_peer_service() {
    let capture = cluster::capture(600);
    let (until, _) = until_and_sentinel(&capture.responses);
    let peer = peer_server::start().await;
    let mut servers = Vec::new();
    for node in NODES {
        let mut responses = capture.of(node);
        let (_, mut sentinel) = until_and_sentinel(&capture.responses);
        sentinel.node_name = node.into();
        responses.push(sentinel);
        let server = node_server(responses, 700, Cut::Error).await;
        peer.add(node, &server.address(), None);
        servers.push(server);
    }
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("all.jsonpb");
    write_dump(&dump, &capture.responses);
    let policies = dir.path().join("policies");
    ok(&run(args(&["recommend", &s(&dump), "--out", &s(&policies)])).await);
    let out = run(args(&[
        "watch",
        "--policies",
        &s(&policies),
        "--peer-service",
        &peer.address(),
        "--until",
        &until,
        "--log-format",
        "json",
        "--reconnect-delay",
        "5ms",
        "--node-wait",
        "5s",
    ]))
    .await;
    let err = ok(&out);
    assert!(err.contains("--until reached"), "{err}");
    assert!(err.contains("peer service"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let kind = |e: &serde_json::Value| e["event"].as_str().unwrap_or_default().to_string();
    assert!(
        !events.iter().any(|e| kind(e) == "would-drop"),
        "the policies of these very flows would drop some:\n{stdout}"
    );
    for node in NODES {
        assert!(
            stdout.contains(&format!("\"{node}\"")),
            "no stream event for {node}:\n{stdout}"
        );
    }
    drop(servers);
}

// ---- switching between the relay and the nodes ----

/// A baseline observed by the nodes' servers, stopped with every node at
/// a different point, then continued through the relay, then by the nodes
/// again: nothing lost, nothing twice — the same flows, per node, as one
/// run through the relay. (The relay used to resume at the newest node's
/// point, losing the lagging nodes' flows in between, and a later fan-out
/// resumed from stale points, repeating the relay's.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baseline_switches_between_relay_and_nodes_without_loss_or_repeats() {
    use crate::flowkit::cluster::time_of;
    let capture = cluster::capture(600);
    let (until, sentinel) = until_and_sentinel(&capture.responses);
    let first = capture.responses.iter().map(time_of).min().unwrap();
    let last = capture.responses.iter().map(time_of).max().unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Through the relay in one run: what every baseline must count.
    let mut everything = capture.responses.clone();
    everything.sort_by_key(time_of);
    everything.push(sentinel.clone());
    let relay = node_server(everything, 900, Cut::Error).await;
    let once = dir.path().join("once.baseline");
    let through_relay = |baseline: &Path| observe_server(&relay.address(), baseline, &until);
    ok(&run(through_relay(&once)).await);

    // The nodes, each holding only the first 20, 40, 60 or 80 % of the
    // capture's time: they stop at different points.
    let peer = peer_server::start().await;
    let span = (last.0 - first.0) as f64;
    let mut partial = Vec::new();
    for (i, node) in NODES.iter().enumerate() {
        let end = first.0 + (span * (i + 1) as f64 / 5.0) as i64;
        let held: Vec<GetFlowsResponse> = capture
            .of(node)
            .into_iter()
            .filter(|r| time_of(r).0 <= end)
            .collect();
        let server = node_server(held, 700, Cut::Error).await;
        peer.add(node, &server.address(), None);
        partial.push(server);
    }
    let switched = dir.path().join("switched.baseline");
    let fan = |duration: Option<&str>| {
        let mut a = args(&[
            "observe",
            "--peer-service",
            &peer.address(),
            "--baseline",
            &s(&switched),
            "--reconnect-delay",
            "5ms",
            "--node-wait",
            "200ms",
        ]);
        match duration {
            Some(d) => a.extend(args(&["--duration", d])),
            None => a.extend(args(&["--until", &until])),
        }
        a
    };
    ok(&run(fan(Some("3s"))).await);
    let err = ok(&run(through_relay(&switched)).await);
    assert!(err.contains(" each from its own point"), "{err}");
    assert_eq!(
        coverage(&once),
        coverage(&switched),
        "the nodes then the relay counted other flows than the relay alone"
    );

    // The nodes again, now holding everything: the relay's points are
    // theirs, so nothing is new.
    let _whole = whole_nodes(&capture, &sentinel, &peer, true).await;
    drop(partial);
    let err = ok(&run(fan(None)).await);
    assert!(err.contains(" 0 flows this run"), "{err}");
    assert_eq!(coverage(&once), coverage(&switched));
}

/// What a baseline counted: flows, times and lost events, per node.
fn coverage(baseline: &Path) -> serde_json::Value {
    only(&content(baseline), &["coverage"])
}

/// One server per node holding all of its flows (and the sentinel, named
/// after it), announced to `peer` (as moved, with `update`).
async fn whole_nodes(
    capture: &Capture,
    sentinel: &GetFlowsResponse,
    peer: &peer_server::PeerService,
    update: bool,
) -> Vec<RunningServer> {
    let mut servers = Vec::new();
    for node in NODES {
        let mut all = capture.of(node);
        let mut end = sentinel.clone();
        end.node_name = node.to_string();
        all.push(end);
        let server = node_server(all, 700, Cut::Error).await;
        if update {
            peer.update(node, &server.address(), None);
        } else {
            peer.add(node, &server.address(), None);
        }
        servers.push(server);
    }
    servers
}

/// A relay baseline continued by the nodes' own servers, where one node's
/// flows never went through the relay (it could not reach that node): the
/// nodes the relay carried resume from their points, and the other one is
/// counted whole — also its flows older than the relay's point, which
/// nobody delivered before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_the_relay_never_carried_is_counted_whole_by_the_nodes() {
    use crate::flowkit::cluster::time_of;
    let capture = cluster::capture(600);
    let (until, sentinel) = until_and_sentinel(&capture.responses);
    let dir = tempfile::tempdir().unwrap();
    let relay_of = |keep: &dyn Fn(&GetFlowsResponse) -> bool| {
        let mut held: Vec<GetFlowsResponse> = capture
            .responses
            .iter()
            .filter(|r| keep(r))
            .cloned()
            .collect();
        held.sort_by_key(time_of);
        held.push(sentinel.clone());
        node_server(held, 900, Cut::Error)
    };
    let all = relay_of(&|_| true).await;
    let once = dir.path().join("once.baseline");
    ok(&run(observe_server(&all.address(), &once, &until)).await);
    let missing = NODES[3];
    let partial = relay_of(&|r| r.node_name != missing).await;
    let continued = dir.path().join("continued.baseline");
    ok(&run(observe_server(&partial.address(), &continued, &until)).await);
    assert_ne!(coverage(&once), coverage(&continued));

    let peer = peer_server::start().await;
    let _nodes = whole_nodes(&capture, &sentinel, &peer, false).await;
    let err = ok(&run(observe_peers(&peer.address(), &continued, &until)).await);
    let counted = capture.of(missing).len();
    assert!(err.contains(&format!(" {counted} flows this run")), "{err}");
    assert_eq!(coverage(&once), coverage(&continued));
}
