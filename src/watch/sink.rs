//! The watch as a [`FlowSink`]: every event of the live stream (or of any
//! source) goes through the one [`GraphBuilder`] (replies, double
//! observation, peers, DNS names — interpreted exactly as `recommend` and
//! `verify` read them); each observation is judged against the policy tree
//! once per distinct connection and tree generation ([`super::edges`]), and
//! what is worth saying becomes a [`WatchEvent`] in [`WatchSink::pending`]
//! for whoever shows it. The graph the builder keeps is what `--update`
//! writes rules for (continuing `--baseline` when given).

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use rustc_hash::FxHashSet;

use super::edges::{namespace_of, EdgeKey, EdgeState, Edges, Namespaces};
use super::events::{rfc3339, Dropped, EdgeRef, NewEdge, StreamNote, WatchEvent, WouldDrop};
use super::metrics::Metrics;
use super::tree::PolicyTree;
use super::usage::Usage;
use crate::graph::builder::GraphBuilder;
use crate::graph::TrafficGraph;
use crate::interpret::{Observation, VerdictClass};
use crate::source::event::{EndpointHint, SourceEvent};
use crate::source::sink::{At, FlowSink, NodeState, StreamStatus};
use crate::source::validate::{Rejection, Rejections};
use crate::verify::engine::{Decision, Engine};
use crate::verify::model::{peer_name, Direction};
use crate::verify::report::dir_report;
use crate::verify::tri::{verdict_name, Tri};

/// What one observation said, taken out of the builder's callback.
struct Seen {
    key: EdgeKey,
    time: i64,
    verdict: VerdictClass,
    policy_denied: bool,
    /// Hubble's traffic direction (1 ingress, 2 egress) of a drop.
    traffic_direction: i32,
    denied_by: Vec<String>,
    /// The flow as a line, for a connection's first events.
    sample: Option<String>,
}

impl Seen {
    fn of(o: &Observation<'_>, edges: &Edges, generation: u64) -> Seen {
        let key = (o.initiator.clone(), o.responder.clone(), o.port);
        // Only a connection's first events show a sample: most flows skip it.
        let sample = match edges.map.get(&key) {
            None => true,
            Some(e) if e.generation != generation => true,
            Some(e) if o.policy_denied() => !e.reported_dropped,
            Some(e) => e.verdict != Tri::Yes && (!e.reported_would_drop || !e.reported_new),
        };
        let denied_by = if o.policy_denied() {
            o.flow
                .ingress_denied_by
                .iter()
                .chain(&o.flow.egress_denied_by)
                .map(|p| match p.namespace.as_str() {
                    "" => format!("{} {}", p.kind, p.name),
                    ns => format!("{} {ns}/{}", p.kind, p.name),
                })
                .collect()
        } else {
            Vec::new()
        };
        Seen {
            key,
            time: o.time_ns,
            verdict: o.verdict,
            policy_denied: o.policy_denied(),
            traffic_direction: o.flow.traffic_direction,
            denied_by,
            sample: sample.then(|| o.sample()),
        }
    }
}

/// Settings of a watch.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// `--unused-after`, in ns of flow time.
    pub unused_after_ns: Option<i64>,
    /// `--max-edges`.
    pub max_edges: usize,
    /// The stream's name for `flowpolicy_stream_up{node}` (the relay address).
    pub stream: String,
}

/// Totals of the whole watch.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub flows: u64,
    pub would_drop: u64,
    pub dropped: u64,
    pub new_edges: u64,
    pub undecided: u64,
    pub lost: u64,
    pub reconnects: u64,
    pub reloads: u64,
    pub reload_errors: u64,
    pub unused_rules: u64,
}

/// The watch's sink.
pub struct WatchSink {
    pub builder: GraphBuilder,
    pub tree: PolicyTree,
    pub usage: Usage,
    pub edges: Edges,
    pub namespaces: Namespaces,
    pub metrics: Metrics,
    pub totals: Totals,
    pub rejections: Rejections,
    /// Connections of the baseline being continued (never "new").
    known: FxHashSet<EdgeKey>,
    /// Newest flow time seen.
    pub now: i64,
    opts: WatchOptions,
    connects: u64,
    /// Events not yet shown.
    pub pending: Vec<WatchEvent>,
}

impl WatchSink {
    /// A watch over `tree`, continuing `builder` (a fresh one, or one
    /// resumed from a baseline whose connections count as known).
    pub fn new(
        builder: GraphBuilder,
        tree: PolicyTree,
        metrics: Metrics,
        opts: WatchOptions,
    ) -> WatchSink {
        let mut known = FxHashSet::default();
        for (from, to, e) in builder.graph.edges_sorted() {
            for port in e.ports.keys() {
                known.insert((Arc::new(from.clone()), Arc::new(to.clone()), *port));
            }
        }
        WatchSink {
            usage: Usage::new(&tree, opts.unused_after_ns),
            edges: Edges::new(opts.max_edges),
            builder,
            tree,
            namespaces: Namespaces::default(),
            metrics,
            totals: Totals::default(),
            rejections: Rejections::default(),
            known,
            now: 0,
            opts,
            connects: 0,
            pending: Vec::new(),
        }
    }

    /// The graph: the baseline continued (if any) and every connection seen.
    pub fn graph(&self) -> &TrafficGraph {
        &self.builder.graph
    }

    /// Puts a reloaded tree in force; every connection is decided again on
    /// its next flow.
    pub fn replace_tree(&mut self, tree: PolicyTree) {
        self.usage = self.usage.carried(&self.tree, &tree);
        self.tree = tree;
        self.totals.reloads += 1;
        self.metrics.reloads.inc();
        self.pending.push(WatchEvent::Stream(StreamNote::Reloaded {
            policies: self.tree.model.policies.len(),
            rules: self.tree.model.rules.len(),
        }));
    }

    /// A reload failed: the tree in force stays.
    pub fn reload_failed(&mut self, error: String) {
        self.totals.reload_errors += 1;
        self.metrics.reload_errors.inc();
        self.pending
            .push(WatchEvent::Stream(StreamNote::ReloadFailed { error }));
    }

    /// Periodic work: rules idle for `--unused-after` (in flow time).
    pub fn tick(&mut self) {
        for r in self.usage.idle(&self.tree, self.now) {
            self.totals.unused_rules += 1;
            self.metrics.unused_rules.inc();
            self.pending.push(WatchEvent::UnusedRule(r));
        }
    }

    fn decide(&self, key: &EdgeKey) -> Decision {
        Engine::new(&self.tree.model, &self.builder.graph).decide(&key.0, &key.1, key.2)
    }

    fn edge_ref(key: &EdgeKey) -> EdgeRef {
        EdgeRef {
            source: peer_name(&key.0),
            destination: peer_name(&key.1),
            port: key.2.to_string(),
        }
    }

    fn directions(&self, dec: &Decision) -> Vec<crate::verify::report::DirReport> {
        [&dec.egress, &dec.ingress]
            .into_iter()
            .flatten()
            .map(|d| dir_report(&self.tree.model, d))
            .collect()
    }

    /// Decides a connection for the tree in force and (re)fills its state.
    fn refresh(&mut self, key: &EdgeKey, t: i64) {
        let dec = self.decide(key);
        let slots: Vec<u32> = dec.used.iter().filter_map(|r| self.usage.slot(r)).collect();
        let mut drop_counters = Vec::new();
        for d in [&dec.egress, &dec.ingress].into_iter().flatten() {
            if d.verdict == Tri::No {
                let ns = namespace_of(&d.endpoint).unwrap_or("");
                let row = self.namespaces.row(ns);
                drop_counters.push((self.metrics.would_drop_for(ns, d.direction.as_str()), row));
            }
        }
        let namespaces = [
            namespace_of(&key.0).map(|ns| self.namespaces.row(ns)),
            namespace_of(&key.1).map(|ns| self.namespaces.row(ns)),
        ];
        let generation = self.tree.generation;
        match self.edges.map.get_mut(key) {
            Some(e) => {
                e.generation = generation;
                e.verdict = dec.verdict;
                e.slots = slots;
                e.drop_counters = drop_counters;
                e.reported_would_drop = false;
            }
            None => {
                self.edges.map.insert(
                    key.clone(),
                    EdgeState {
                        generation,
                        verdict: dec.verdict,
                        first_seen: t,
                        last_seen: t,
                        flows: 0,
                        would_drop: 0,
                        cilium_dropped: 0,
                        slots,
                        drop_counters,
                        cilium_counters: [None, None],
                        namespaces,
                        reported_would_drop: false,
                        reported_dropped: false,
                        reported_new: false,
                    },
                );
                self.metrics.edges.set(self.edges.len() as i64);
                let evicted = self.edges.evict();
                if evicted > 0 {
                    self.forget_evicted(evicted);
                }
            }
        }
    }

    /// After eviction: the graph keeps only the baseline and the
    /// connections still remembered (bounded), and the eviction is said.
    fn forget_evicted(&mut self, evicted: u64) {
        self.metrics.evicted_edges.inc_by(evicted);
        self.metrics.edges.set(self.edges.len() as i64);
        let edges = &self.edges.map;
        let known = &self.known;
        let kept = super::retain::retained(&self.builder.graph, |from, to, port| {
            let key = (Arc::new(from.clone()), Arc::new(to.clone()), port);
            known.contains(&key) || edges.contains_key(&key)
        });
        self.builder.graph = kept;
        self.pending.push(WatchEvent::Stream(StreamNote::Evicted {
            edges: evicted,
            cap: self.edges.cap,
        }));
    }

    /// Judges one observation.
    fn judge(&mut self, s: Seen) {
        let stale = self
            .edges
            .map
            .get(&s.key)
            .is_none_or(|e| e.generation != self.tree.generation);
        if stale {
            self.refresh(&s.key, s.time);
        }
        let Some(e) = self.edges.map.get_mut(&s.key) else {
            return;
        };
        e.last_seen = e.last_seen.max(s.time);
        for row in e.namespaces.iter().flatten().collect::<BTreeSet<_>>() {
            self.namespaces.get_mut(*row).flows += 1;
        }
        match s.verdict {
            VerdictClass::Allowed | VerdictClass::Audit => {
                e.flows += 1;
                match e.verdict {
                    Tri::Yes => {
                        for slot in &e.slots {
                            self.usage.touch(*slot, s.time);
                        }
                    }
                    Tri::Unknown => self.totals.undecided += 1,
                    Tri::No => {
                        e.would_drop += 1;
                        self.totals.would_drop += 1;
                        for (c, _) in &e.drop_counters {
                            c.inc();
                        }
                        // A flow counts once per namespace, whichever directions drop it.
                        let rows: BTreeSet<u32> = e.drop_counters.iter().map(|d| d.1).collect();
                        for row in rows {
                            self.namespaces.get_mut(row).would_drop += 1;
                        }
                    }
                }
                // Checked once per connection: a baseline's connection is
                // never new, whatever the tree says of it.
                let new = e.verdict != Tri::Yes && !e.reported_new && !self.known.contains(&s.key);
                e.reported_new |= e.verdict != Tri::Yes;
                let first_drop = e.verdict == Tri::No && !e.reported_would_drop;
                e.reported_would_drop |= e.verdict == Tri::No;
                let verdict = e.verdict;
                let row = e.namespaces[0].or(e.namespaces[1]);
                if new {
                    self.totals.new_edges += 1;
                    self.metrics.new_edges.inc();
                    if let Some(r) = row {
                        self.namespaces.get_mut(r).new_edges += 1;
                    }
                    self.pending.push(WatchEvent::NewEdge(NewEdge {
                        time: rfc3339(s.time),
                        edge: Self::edge_ref(&s.key),
                        simulated: verdict_name(verdict),
                        sample: s.sample.clone().unwrap_or_default(),
                    }));
                }
                if first_drop {
                    let dec = self.decide(&s.key);
                    self.pending.push(WatchEvent::WouldDrop(WouldDrop {
                        time: rfc3339(s.time),
                        edge: Self::edge_ref(&s.key),
                        directions: self.directions(&dec),
                        sample: s.sample.unwrap_or_default(),
                    }));
                }
            }
            VerdictClass::Dropped if s.policy_denied => self.cilium_dropped(s),
            VerdictClass::Dropped => {}
        }
    }

    fn cilium_dropped(&mut self, s: Seen) {
        // Ingress drops count at the responder, egress drops at the initiator.
        let (slot, dir, peer) = match s.traffic_direction {
            2 => (1, Direction::Egress, &s.key.0),
            _ => (0, Direction::Ingress, &s.key.1),
        };
        let ns = namespace_of(peer).unwrap_or("").to_string();
        let Some(e) = self.edges.map.get_mut(&s.key) else {
            return;
        };
        if e.cilium_counters[slot].is_none() {
            let row = self.namespaces.row(&ns);
            e.cilium_counters[slot] = Some((self.metrics.dropped_for(&ns, dir.as_str()), row));
        }
        e.cilium_dropped += 1;
        self.totals.dropped += 1;
        let first = !e.reported_dropped;
        e.reported_dropped = true;
        if let Some((c, row)) = &e.cilium_counters[slot] {
            c.inc();
            self.namespaces.get_mut(*row).dropped += 1;
        }
        if first {
            let dec = self.decide(&s.key);
            self.pending.push(WatchEvent::Dropped(Dropped {
                time: rfc3339(s.time),
                edge: Self::edge_ref(&s.key),
                reason: "POLICY_DENIED".into(),
                denied_by: s.denied_by,
                simulated: verdict_name(dec.verdict),
                directions: self.directions(&dec),
                sample: s.sample.unwrap_or_default(),
            }));
        }
    }
}

impl FlowSink for WatchSink {
    fn event(&mut self, event: &SourceEvent, _: At<'_>, hint: EndpointHint) -> ControlFlow<()> {
        match event {
            SourceEvent::Flow(f) => {
                self.totals.flows += 1;
                self.metrics.flows.inc();
                let t = crate::interpret::time_ns(f);
                self.now = self.now.max(t);
                self.usage.start(t);
            }
            SourceEvent::Lost { node, count, .. } => {
                self.totals.lost += count;
                self.metrics.lost_events.inc_by(*count);
                self.pending.push(WatchEvent::Stream(StreamNote::Lost {
                    node: if node.is_empty() {
                        "unknown".into()
                    } else {
                        node.clone()
                    },
                    count: *count,
                }));
            }
            SourceEvent::NodeStatus { state, nodes, .. } => {
                let up = !matches!(state.as_str(), "NODE_UNAVAILABLE" | "NODE_ERROR");
                for n in nodes {
                    self.metrics.stream(n, up);
                }
                self.pending.push(WatchEvent::Stream(StreamNote::Nodes {
                    state: state.clone(),
                    nodes: nodes.clone(),
                }));
            }
        }
        let mut seen = None;
        let (edges, generation) = (&self.edges, self.tree.generation);
        self.builder.add(event, hint, &mut |o| {
            seen = Some(Seen::of(o, edges, generation))
        });
        if let Some(s) = seen {
            self.judge(s);
        }
        ControlFlow::Continue(())
    }

    fn rejected(&mut self, at: At<'_>, r: &Rejection) -> ControlFlow<()> {
        self.totals.flows += 1;
        self.metrics.flows.inc();
        self.rejections.add(|| at.to_string(), r.clone());
        ControlFlow::Continue(())
    }

    fn status(&mut self, status: &StreamStatus) -> ControlFlow<()> {
        let note = match status {
            StreamStatus::Connected => {
                self.connects += 1;
                if self.connects > 1 {
                    self.totals.reconnects += 1;
                }
                self.metrics.stream(&self.opts.stream, true);
                StreamNote::Connected
            }
            StreamStatus::Reconnecting {
                attempt,
                delay,
                error,
            } => {
                self.metrics.stream(&self.opts.stream, false);
                StreamNote::Reconnecting {
                    attempt: *attempt,
                    delay_ms: delay.as_millis() as u64,
                    error: error.clone(),
                }
            }
        };
        self.pending.push(WatchEvent::Stream(note));
        ControlFlow::Continue(())
    }

    /// `--peer-service`: each node's stream, as its own
    /// `flowpolicy_stream_up{node}` and a `stream` event per change.
    fn node_state(&mut self, node: &str, state: &NodeState) -> ControlFlow<()> {
        let up = matches!(state, NodeState::Streaming);
        self.metrics.stream(node, up);
        let word = match state {
            NodeState::Connecting => "connecting",
            NodeState::Streaming => "streaming",
            NodeState::Reconnecting { .. } => "reconnecting",
            NodeState::Removed => "removed",
            NodeState::Ended => "ended",
            NodeState::Failed(_) => "failed",
        };
        self.pending.push(WatchEvent::Stream(StreamNote::Nodes {
            state: word.to_string(),
            nodes: vec![node.to_string()],
        }));
        ControlFlow::Continue(())
    }
}
