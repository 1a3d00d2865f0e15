//! The fan-out (`observe --peer-service`): one `GetFlows` follow loop per
//! node's Hubble server, as the peer service announces them, all feeding
//! one [`FlowSink`] through one merge — a new door in front of the same
//! sink, not a new loop: each node runs the relay's [`follow`] (resume,
//! backoff) behind its own [`StreamDoor`] (its own resume point, door
//! check and recycling), and [`Reorder`] hands their responses on in time
//! order, so the one interpreter sees what a relay would have sent.
//!
//! Everything runs on the caller's task (the node loops are polled
//! together, their responses pushed straight into the merge), so a slow
//! sink slows every stream instead of filling memory. The peer service is
//! followed on a task of its own ([`watch_peers`]).
//!
//! Per node: PEER_ADDED starts its loop (from its saved resume point, if
//! the baseline has one), PEER_DELETED stops it (its flows so far stay),
//! PEER_UPDATED restarts it at the new address from where it stopped. A
//! node that fails for good (certificate, refused call) is marked failed;
//! the others go on.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::ops::ControlFlow;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::config::RelayConfig;
use super::door::StreamDoor;
use super::error::RelayError;
use super::fanout_types::{FanoutOptions, NodeView};
use super::follow::{follow, FollowEnd, FollowOptions, FollowSummary, RelayEvent};
use super::peers::{node_server, probe, NodeAddr, NodeChange, PeerEvent};
use super::reorder::{may_release, Gate, Gated, Held, Reorder};
use super::resume::{FlowTime, ResumeState};
use super::role::ServerRole;
use crate::proto::observer::get_flows_response::ResponseTypes;
use crate::source::sink::{FlowSink, NodeState, StreamStatus};

/// How long after the peer service first answers the merge starts
/// releasing (its first answer lists every node).
const SETTLE: Duration = Duration::from_millis(200);

/// The HTTP/2 receive window of each node stream: the protocol's default
/// (64 KiB), not the HTTP/2 library's 2 MiB (5 MiB a connection). A paused
/// node's stream keeps its window's worth in the client. Measured with
/// every node sending its whole share at once (`cargo bench`, client
/// alone, docs/scale.md), with the merge bounded at `PER_NODE`: 44–45 /
/// 56 MiB peak RSS for 4 / 8 node streams with this window, 57–58 / 79–80
/// MiB with the library's, for ~10 % more flows/s. One node sends far less
/// than a relay (32 responses of ~2 KB per round trip is ~30 000 flows/s on
/// a 1 ms network).
pub const NODE_WINDOW: u32 = 65_535;

struct Node {
    view: NodeView,
    tls_server_name: Option<String>,
    door: StreamDoor,
    /// What its loops received (the door's point is what reached the
    /// sink; the difference is held in the merge): a restarted loop
    /// continues from here, so nothing held is fetched twice.
    received: ResumeState,
    frontier: Option<FlowTime>,
    last_heard: Instant,
    buffered: usize,
    gate: Rc<Gate>,
    stop: Option<oneshot::Sender<()>>,
    generation: u64,
    connects: u32,
}

/// The fan-out's state: the nodes, their resume points, the merge.
pub struct Fanout {
    node_cfg: RelayConfig,
    pub(super) peer_cfg: RelayConfig,
    pub(super) opts: FanoutOptions,
    /// Saved resume points of nodes not announced (yet).
    starts: BTreeMap<String, ResumeState>,
    /// Where a node without a saved point starts (a relay baseline's
    /// point when continuing one; else its whole buffer).
    fallback: ResumeState,
    nodes: Vec<Node>,
    by_name: BTreeMap<String, usize>,
    reorder: Reorder,
    released: Option<FlowTime>,
    /// Nothing is released before this: the peer service's first answer
    /// lists every node, and none should be overtaken while it arrives.
    settled: Option<Instant>,
    /// Times the peer service's stream was reopened.
    pub peer_reconnects: u32,
    peer_connects: u32,
    /// Notifications that could not be used (first few).
    pub ignored: Vec<String>,
    pub(super) sink_stopped: bool,
}

impl Fanout {
    /// A fan-out following `peer_service`, with `node_cfg`'s TLS options,
    /// filters and timeout for every node; `starts` are the nodes' saved
    /// resume points, `fallback` the point of a node without one.
    pub fn new(
        node_cfg: RelayConfig,
        peer_service: &str,
        opts: FanoutOptions,
        starts: BTreeMap<String, ResumeState>,
        fallback: ResumeState,
    ) -> Result<Fanout, RelayError> {
        let server = node_server(peer_service)
            .map_err(|why| RelayError::Config(format!("--peer-service {peer_service:?}: {why}")))?;
        let mut peer_cfg = node_cfg.clone();
        peer_cfg.server = server;
        peer_cfg.role = ServerRole::PeerService;
        if peer_cfg.server.starts_with("unix:") {
            // The TLS flags are for the nodes, not the local socket.
            peer_cfg = plaintext(peer_cfg);
        }
        peer_cfg.target().map_err(|e| match e {
            RelayError::Config(m) => RelayError::Config(m.replace("--server", "--peer-service")),
            e => e,
        })?;
        Ok(Fanout {
            node_cfg,
            peer_cfg,
            opts,
            starts,
            fallback,
            nodes: Vec::new(),
            by_name: BTreeMap::new(),
            reorder: Reorder::default(),
            released: None,
            settled: None,
            peer_reconnects: 0,
            peer_connects: 0,
            ignored: Vec::new(),
            sink_stopped: false,
        })
    }

    /// Drops every node's stop signal (their loops are gone).
    pub(super) fn forget_loops(&mut self) {
        for n in &mut self.nodes {
            n.stop.take();
        }
    }

    /// Whether the peer service answers `Notify` (before anything else is
    /// done), as the error the first connection would give.
    pub async fn probe(&self) -> Result<(), RelayError> {
        probe(&self.peer_cfg).await
    }

    /// The peer service's address as dialled.
    pub fn peer_service(&self) -> &str {
        &self.peer_cfg.server
    }

    /// Every node announced in this run, in announcement order.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeView> {
        self.nodes.iter().map(|n| &n.view)
    }

    /// Responses held in the merge.
    pub fn held(&self) -> usize {
        self.reorder.len()
    }

    /// Each node's resume point (what reached the sink), with the saved
    /// points of nodes not announced in this run.
    pub fn resume_points(&self) -> BTreeMap<String, ResumeState> {
        let mut points = self.starts.clone();
        for n in &self.nodes {
            if n.door.resume.last_time.is_some() {
                points.insert(n.view.name.clone(), n.door.resume.clone());
            }
        }
        points
    }

    pub(super) fn until_reached(&self) -> bool {
        self.node_cfg.until.is_some()
            && self.nodes.iter().any(|n| n.view.state == NodeState::Ended)
            && !self.nodes.iter().any(|n| n.view.state.is_active())
    }

    /// The lowest frontier over the nodes still waited for (`None`: none);
    /// with `skip_silent`, a node silent for `max_wait` is not waited for.
    fn watermark(&self, now: Instant, skip_silent: bool) -> Option<Option<FlowTime>> {
        self.nodes
            .iter()
            .filter(|n| {
                // A paused node is waited for: the merge holds it back.
                n.view.state.is_active()
                    && (!skip_silent
                        || n.gate.is_closed()
                        || now.saturating_duration_since(n.last_heard) < self.opts.max_wait)
            })
            .map(|n| n.frontier)
            .min()
    }

    /// Hands on what the merge may release. Silent nodes are passed over
    /// only from the driver's timer ([`Release::PastSilent`]), which runs
    /// when every node with data waiting has been polled: while the driver
    /// is busy handing flows on, the others' silence is its own doing.
    pub(super) fn release(&mut self, sink: &mut impl FlowSink, how: Release) -> ControlFlow<()> {
        let now = Instant::now();
        let all = how == Release::All;
        if !all && self.settled.is_none_or(|at| now < at) {
            return ControlFlow::Continue(());
        }
        let watermark = match how {
            Release::All => None,
            Release::Ordered => self.watermark(now, false),
            Release::PastSilent => self.watermark(now, true),
        };
        while let Some(oldest) = self.reorder.oldest() {
            if !may_release(oldest, watermark) {
                break;
            }
            let held = self.reorder.pop().expect("peeked");
            if self.deliver(held, sink).is_break() {
                self.sink_stopped = true;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    fn deliver(&mut self, held: Held, sink: &mut impl FlowSink) -> ControlFlow<()> {
        let per_node = self.opts.per_node;
        let node = &mut self.nodes[held.node];
        node.buffered -= 1;
        if node.gate.is_closed() && node.buffered <= per_node / 2 {
            node.gate.open();
            // Paused by the merge, not silent: its wait starts afresh.
            node.last_heard = Instant::now();
        }
        match &held.received.response.response_types {
            Some(ResponseTypes::Flow(_)) => {
                node.view.flows += 1;
                if held.time.is_some() && held.time < self.released {
                    node.view.late += 1;
                } else if held.time.is_some() {
                    self.released = held.time;
                }
            }
            Some(ResponseTypes::LostEvents(l)) => node.view.lost += l.num_events_lost,
            _ => {}
        }
        node.door.deliver(RelayEvent::Response(held.received), sink)
    }

    /// The follow settings of a node: the flags' filters and TLS files,
    /// TLS as the announcement says (with its server name).
    fn node_config(&self, server: &str, tls_server_name: &Option<String>) -> RelayConfig {
        let mut cfg = self.node_cfg.clone();
        cfg.server = server.to_string();
        cfg.role = ServerRole::Node;
        cfg.stream_window = Some(NODE_WINDOW);
        match tls_server_name {
            Some(name) if !server.starts_with("unix:") => {
                cfg.tls = true;
                cfg.tls_server_name = Some(name.clone());
                cfg
            }
            _ => plaintext(cfg),
        }
    }
}

/// `cfg` without any TLS option.
fn plaintext(cfg: RelayConfig) -> RelayConfig {
    RelayConfig {
        tls: false,
        tls_allow_insecure: false,
        tls_ca_cert_files: Vec::new(),
        tls_client_cert_file: None,
        tls_client_key_file: None,
        tls_server_name: None,
        ..cfg
    }
}

/// The fan-out and the sink, shared by the node loops and the driver (all
/// on one task; no borrow is held across an await).
/// What [`Fanout::release`] may hand on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Release {
    /// What no node still streaming can precede.
    Ordered,
    /// Also past the nodes silent for `max_wait`.
    PastSilent,
    /// Everything (the end).
    All,
}

pub(super) struct Core<'a, S> {
    pub fan: &'a mut Fanout,
    pub sink: &'a mut S,
}

/// A node loop to start.
pub(super) struct Start {
    idx: usize,
    generation: u64,
    cfg: RelayConfig,
    opts: FollowOptions,
    resume: ResumeState,
    stop: oneshot::Receiver<()>,
    gate: Rc<Gate>,
}

pub(super) type Ended = (usize, u64, Result<FollowSummary, RelayError>);

/// Node `start.idx`'s follow loop, pushing into the merge, behind its gate.
pub(super) fn node_loop<'c, 'a, S: FlowSink>(
    core: &'c RefCell<Core<'a, S>>,
    start: Start,
) -> Gated<impl Future<Output = Ended> + use<'c, 'a, S>> {
    let Start {
        idx,
        generation,
        cfg,
        opts,
        mut resume,
        stop,
        gate,
    } = start;
    let run = async move {
        let sink = |event| core.borrow_mut().accept(idx, generation, event);
        let stopped = async {
            let _ = stop.await;
        };
        let result = follow(&cfg, &opts, &mut resume, sink, stopped).await;
        (idx, generation, result)
    };
    Gated {
        inner: Box::pin(run),
        gate,
    }
}

impl<S: FlowSink> Core<'_, S> {
    /// One event of node `idx`'s loop (ignored from a superseded loop).
    fn accept(&mut self, idx: usize, generation: u64, event: RelayEvent) -> ControlFlow<()> {
        let Core { fan, sink } = self;
        let per_node = fan.opts.per_node;
        let node = &mut fan.nodes[idx];
        if node.generation != generation {
            return ControlFlow::Break(());
        }
        match event {
            RelayEvent::Connected => {
                node.connects += 1;
                if node.connects > 1 {
                    node.view.reconnects += 1;
                }
                node.last_heard = Instant::now();
                node.view.state = NodeState::Streaming;
                sink.node_state(&node.view.name, &node.view.state)
            }
            RelayEvent::Reconnecting {
                attempt,
                delay,
                error,
            } => {
                node.view.state = NodeState::Reconnecting {
                    attempt,
                    delay,
                    error,
                };
                sink.node_state(&node.view.name, &node.view.state)
            }
            RelayEvent::Response(received) => {
                node.received.admit(&received);
                let time = FlowTime::of(&received.response);
                if matches!(
                    received.response.response_types,
                    Some(ResponseTypes::Flow(_))
                ) {
                    node.frontier = node.frontier.max(time);
                    node.view.newest = node.frontier;
                }
                node.last_heard = Instant::now();
                node.buffered += 1;
                if node.buffered >= per_node {
                    node.gate.close();
                }
                fan.reorder.push(idx, time, received);
                fan.release(*sink, Release::Ordered)
            }
        }
    }

    /// A node loop returned.
    pub(super) fn on_end(
        &mut self,
        idx: usize,
        generation: u64,
        result: Result<FollowSummary, RelayError>,
    ) {
        let Core { fan, sink } = self;
        let node = &mut fan.nodes[idx];
        if node.generation != generation {
            return;
        }
        node.stop = None;
        node.view.state = match result {
            Ok(s) if s.end == FollowEnd::UntilReached => NodeState::Ended,
            Ok(_) => return,
            Err(e) => NodeState::Failed(e.to_string()),
        };
        let _ = sink.node_state(&node.view.name, &node.view.state);
        let _ = fan.release(*sink, Release::Ordered);
    }

    /// A peer service event; returns the node loops to start.
    pub(super) fn on_peer(&mut self, event: PeerEvent) -> Vec<Start> {
        let mut starts = Vec::new();
        match event {
            PeerEvent::Connected => {
                if self.fan.settled.is_none() {
                    self.fan.settled = Some(Instant::now() + SETTLE);
                }
                self.fan.peer_connects += 1;
                if self.fan.peer_connects > 1 {
                    self.fan.peer_reconnects += 1;
                }
                let _ = self.sink.status(&StreamStatus::Connected);
            }
            PeerEvent::Reconnecting {
                attempt,
                delay,
                error,
            } => {
                let status = StreamStatus::Reconnecting {
                    attempt,
                    delay,
                    error,
                };
                let _ = self.sink.status(&status);
            }
            PeerEvent::Ignored(why) => {
                if self.fan.ignored.len() < 8 {
                    self.fan.ignored.push(why);
                }
            }
            PeerEvent::Change(NodeChange::Added(addr) | NodeChange::Updated(addr)) => {
                starts.extend(self.upsert(addr));
            }
            PeerEvent::Change(NodeChange::Deleted(name)) => self.remove(&name),
            PeerEvent::Synced(names) => {
                let gone: Vec<String> = (self.fan.nodes.iter())
                    .filter(|n| n.view.state.is_active() && !names.contains(&n.view.name))
                    .map(|n| n.view.name.clone())
                    .collect();
                for name in gone {
                    self.remove(&name);
                }
            }
        }
        starts
    }

    /// Starts (or restarts at a new address) the node `addr` names; an
    /// announcement of a running node at the same address changes nothing.
    fn upsert(&mut self, addr: NodeAddr) -> Option<Start> {
        let fan = &mut *self.fan;
        let idx = match fan.by_name.get(&addr.name) {
            Some(&idx) => {
                let n = &fan.nodes[idx];
                let same =
                    n.view.server == addr.server && n.tls_server_name == addr.tls_server_name;
                if same && n.view.state.is_active() {
                    return None;
                }
                idx
            }
            None => {
                let saved = super::node_points::lookup(&fan.starts, &addr.name).map(str::to_owned);
                let resume = saved
                    .and_then(|key| fan.starts.remove(&key))
                    .unwrap_or_else(|| fan.fallback.clone());
                fan.nodes.push(Node {
                    view: NodeView {
                        name: addr.name.clone(),
                        server: addr.server.clone(),
                        state: NodeState::Connecting,
                        flows: 0,
                        lost: 0,
                        reconnects: 0,
                        late: 0,
                        newest: None,
                    },
                    tls_server_name: None,
                    door: StreamDoor::new(resume.clone()),
                    received: resume,
                    frontier: None,
                    last_heard: Instant::now(),
                    buffered: 0,
                    gate: Rc::new(Gate::default()),
                    stop: None,
                    generation: 0,
                    connects: 0,
                });
                fan.by_name.insert(addr.name.clone(), fan.nodes.len() - 1);
                fan.nodes.len() - 1
            }
        };
        let cfg = fan.node_config(&addr.server, &addr.tls_server_name);
        let (tx, rx) = oneshot::channel();
        let node = &mut fan.nodes[idx];
        node.stop = Some(tx);
        node.generation += 1;
        node.view.server = addr.server;
        node.tls_server_name = addr.tls_server_name;
        node.view.state = NodeState::Connecting;
        node.last_heard = Instant::now();
        node.connects = 0;
        node.gate.open();
        let _ = self.sink.node_state(&node.view.name, &node.view.state);
        Some(Start {
            idx,
            generation: node.generation,
            cfg,
            opts: FollowOptions {
                backoff: fan.opts.backoff,
                deadline: None,
                max_attempts: None,
                slim: fan.opts.slim,
                recycler: Some(node.door.recycler()),
                pause: Some(node.gate.pause()),
            },
            resume: node.received.clone(),
            stop: rx,
            gate: node.gate.clone(),
        })
    }

    /// Stops a node's loop; what it sent stays.
    fn remove(&mut self, name: &str) {
        let Some(&idx) = self.fan.by_name.get(name) else {
            return;
        };
        let node = &mut self.fan.nodes[idx];
        if let Some(stop) = node.stop.take() {
            let _ = stop.send(());
        }
        node.gate.open();
        node.generation += 1;
        node.view.state = NodeState::Removed;
        let _ = self.sink.node_state(name, &node.view.state);
        let _ = self.fan.release(self.sink, Release::Ordered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every node stream is dialled with the bounded window, whatever the
    /// options it inherits (the relay path keeps the library's).
    #[test]
    fn node_streams_get_the_bounded_window() {
        let fan = Fanout::new(
            RelayConfig::default(),
            "127.0.0.1:4244",
            FanoutOptions::default(),
            BTreeMap::new(),
            ResumeState::default(),
        )
        .unwrap();
        for name in [
            None,
            Some("node-1.default.hubble-grpc.cilium.io".to_string()),
        ] {
            let cfg = fan.node_config("10.0.0.7:4244", &name);
            assert_eq!(cfg.stream_window, Some(NODE_WINDOW));
            assert_eq!(cfg.server, "10.0.0.7:4244");
        }
        assert_eq!(RelayConfig::default().stream_window, None);
    }
}
