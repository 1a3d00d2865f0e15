//! The traffic graph: nodes are workloads, entities, CIDR groups and FQDN
//! groups; an edge (initiator → responder) carries, per responder port, the
//! connection and flow counts, first/last seen and a sample flow, separately
//! for allowed and dropped traffic. Synthesis and verification read this
//! graph, never the flows; memory grows with distinct edges, not with flows.
//!
//! It knows nothing about Cilium rule syntax.

pub mod builder;
pub mod evidence;
pub mod filter;
pub mod flood;
pub mod l7;
pub mod namespaces;
pub mod node_coverage;
pub mod stability;

use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use serde::{Deserialize, Serialize};

use crate::interpret::{L7Fact, Observation, VerdictClass};
use crate::peer::l4::PortKey;
use crate::peer::Peer;
pub use evidence::Tally;
pub use l7::{ClassStats, DnsSeen, HttpSeen, RequestClass};
pub use node_coverage::NodeCoverage;

/// Most addresses remembered per FQDN/workload node (evidence, not identity).
pub const MAX_ADDRESSES: usize = 64;

/// A node of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeData {
    pub peer: Peer,
    pub first_seen: i64,
    pub last_seen: i64,
    /// Addresses seen for FQDN peers (what the names resolved to).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub addresses: BTreeSet<IpAddr>,
}

/// Evidence for one responder port of an edge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStats {
    /// FORWARDED/REDIRECTED/AUDIT traffic: what a policy must allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Tally>,
    /// Flows that were allowed only because of audit mode.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub audit_flows: u64,
    /// DROPPED traffic (learned only on request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<Tally>,
    /// HTTP requests seen in allowed L7 records (request classes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSeen>,
    /// DNS names queried in allowed L7 DNS records (on resolver ports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsSeen>,
    /// HTTP requests seen in DROPPED L7 records (an L7 policy in audit, a
    /// too narrow L7 rule): learned only with `--include-dropped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_http: Option<HttpSeen>,
    /// DNS names queried in DROPPED L7 DNS records (learned only with
    /// `--include-dropped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_dns: Option<DnsSeen>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl PortStats {
    pub fn merge(&mut self, other: &PortStats) {
        merge_tally(&mut self.allowed, &other.allowed);
        merge_tally(&mut self.dropped, &other.dropped);
        self.audit_flows += other.audit_flows;
        if let Some(h) = &other.http {
            self.http.get_or_insert_with(HttpSeen::default).merge(h);
        }
        if let Some(d) = &other.dns {
            self.dns.get_or_insert_with(DnsSeen::default).merge(d);
        }
        if let Some(h) = &other.dropped_http {
            self.dropped_http
                .get_or_insert_with(HttpSeen::default)
                .merge(h);
        }
        if let Some(d) = &other.dropped_dns {
            self.dropped_dns
                .get_or_insert_with(DnsSeen::default)
                .merge(d);
        }
    }

    /// Whether DROPPED L7 records were seen on this port.
    pub fn has_dropped_l7(&self) -> bool {
        self.dropped_http.is_some() || self.dropped_dns.is_some()
    }

    /// The evidence as `--include-dropped` learns it: the HTTP requests and
    /// DNS names of DROPPED L7 records joined to the allowed ones.
    pub fn with_dropped_l7(&self) -> PortStats {
        let mut out = self.clone();
        if let Some(h) = out.dropped_http.take() {
            out.http.get_or_insert_with(HttpSeen::default).merge(&h);
        }
        if let Some(d) = out.dropped_dns.take() {
            out.dns.get_or_insert_with(DnsSeen::default).merge(&d);
        }
        out
    }
}

fn merge_tally(mine: &mut Option<Tally>, theirs: &Option<Tally>) {
    if let Some(t) = theirs {
        mine.get_or_insert_with(Tally::default).merge(t);
    }
}

/// L7 evidence of a flow: its HTTP request class, or the name of its DNS
/// query; kept apart for DROPPED flows (learned only with
/// `--include-dropped`).
fn record_l7(stats: &mut PortStats, o: &Observation<'_>) {
    let dropped = o.verdict == VerdictClass::Dropped;
    match o.l7() {
        Some(L7Fact::Http(r)) => {
            let seen = if dropped {
                &mut stats.dropped_http
            } else {
                &mut stats.http
            };
            seen.get_or_insert_with(HttpSeen::default).record(&r)
        }
        Some(L7Fact::DnsName(name)) => {
            let seen = if dropped {
                &mut stats.dropped_dns
            } else {
                &mut stats.dns
            };
            seen.get_or_insert_with(DnsSeen::default).record(&name)
        }
        None => {}
    }
}

/// An edge: everything the initiator did to the responder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeData {
    pub ports: BTreeMap<PortKey, PortStats>,
}

/// What the sources said about their own completeness.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Events lost, per node (or "relay"/"unknown"): the baseline has gaps.
    pub lost_events: BTreeMap<String, u64>,
    /// Node status changes seen (NODE_UNAVAILABLE, …), per state.
    pub node_status: BTreeMap<String, u64>,
    /// Nodes reported unavailable at some point.
    pub unavailable_nodes: BTreeSet<String>,
    pub first_flow: i64,
    pub last_flow: i64,
    pub flows: u64,
    /// Per node that reported flows: first/last flow, flows, hours seen.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, NodeCoverage>,
}

impl Coverage {
    pub fn see_time(&mut self, t: i64) {
        if t != 0 {
            node_coverage::widen_span(&mut self.first_flow, &mut self.last_flow, t);
        }
    }

    pub fn merge(&mut self, o: &Coverage) {
        for (k, v) in &o.lost_events {
            *self.lost_events.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.node_status {
            *self.node_status.entry(k.clone()).or_default() += v;
        }
        self.unavailable_nodes
            .extend(o.unavailable_nodes.iter().cloned());
        self.see_time(o.first_flow);
        self.see_time(o.last_flow);
        self.flows += o.flows;
        for (node, c) in &o.nodes {
            self.nodes.entry(node.clone()).or_default().merge(c);
        }
    }

    /// Counts one flow of `node` at `t` in the node's coverage (flows
    /// without a node name are not listed per node).
    pub fn see_node(&mut self, node: &str, t: i64) {
        if node.is_empty() {
            return;
        }
        match self.nodes.get_mut(node) {
            Some(c) => c.see(t),
            None => self.nodes.entry(node.to_string()).or_default().see(t),
        }
    }

    pub fn total_lost(&self) -> u64 {
        self.lost_events.values().sum()
    }
}

/// Shared peers remembered by address (see `TrafficGraph::by_arc`).
const MAX_SHARED_PEERS: usize = 1 << 16;

/// The aggregated traffic graph.
#[derive(Debug, Clone, Default)]
pub struct TrafficGraph {
    graph: DiGraph<NodeData, EdgeData>,
    nodes: FxHashMap<Peer, NodeIndex>,
    /// Workload and entity peers are built once per identity and shared
    /// ([`crate::interpret`]), so the same `Arc` comes back flow after
    /// flow: its node is found by address instead of hashing the whole
    /// peer (namespace and labels). The `Arc` is held, so an address is
    /// never reused for another peer while it is in here.
    by_arc: FxHashMap<usize, (Arc<Peer>, NodeIndex)>,
    edges: FxHashMap<(NodeIndex, NodeIndex), EdgeIndex>,
    pub coverage: Coverage,
}

impl TrafficGraph {
    pub fn new() -> TrafficGraph {
        TrafficGraph::default()
    }

    /// Adds one observation.
    pub fn record(&mut self, o: &Observation<'_>) {
        let from = self.shared_node(&o.initiator, o.time_ns);
        let to = self.shared_node(&o.responder, o.time_ns);
        if let (Peer::Fqdn(_), Some(ip)) = (&*o.responder, o.responder_ip) {
            let addrs = &mut self.graph[to].addresses;
            if addrs.len() < MAX_ADDRESSES {
                addrs.insert(ip);
            }
        }
        let e = self.edge(from, to);
        let stats = self.graph[e].ports.entry(o.port).or_default();
        let tally = match o.verdict {
            VerdictClass::Allowed => stats.allowed.get_or_insert_with(Tally::default),
            VerdictClass::Audit => {
                stats.audit_flows += 1;
                stats.allowed.get_or_insert_with(Tally::default)
            }
            VerdictClass::Dropped => stats.dropped.get_or_insert_with(Tally::default),
        };
        tally.record(o.time_ns, o.new_connection, || o.sample(), o.basis);
        if o.policy_denied() {
            tally.policy_denied += 1;
        }
        record_l7(stats, o);
    }

    /// [`Self::node`], remembering shared workload and entity peers by
    /// address (world peers are built per flow and are not kept).
    fn shared_node(&mut self, peer: &Arc<Peer>, t: i64) -> NodeIndex {
        if !matches!(**peer, Peer::Workload(_) | Peer::Entity(_)) {
            return self.node(peer, t);
        }
        let key = Arc::as_ptr(peer) as usize;
        if let Some((_, idx)) = self.by_arc.get(&key) {
            let idx = *idx;
            self.seen(idx, t);
            return idx;
        }
        let idx = self.node(peer, t);
        if self.by_arc.len() >= MAX_SHARED_PEERS {
            // Peers churned (identities recycled): start over, bounded.
            self.by_arc.clear();
        }
        self.by_arc.insert(key, (peer.clone(), idx));
        idx
    }

    fn node(&mut self, peer: &Peer, t: i64) -> NodeIndex {
        let idx = match self.nodes.get(peer) {
            Some(i) => *i,
            None => {
                let i = self.graph.add_node(NodeData {
                    peer: peer.clone(),
                    first_seen: t,
                    last_seen: t,
                    addresses: BTreeSet::new(),
                });
                self.nodes.insert(peer.clone(), i);
                i
            }
        };
        self.seen(idx, t);
        idx
    }

    fn seen(&mut self, idx: NodeIndex, t: i64) {
        let n = &mut self.graph[idx];
        if t != 0 {
            n.first_seen = if n.first_seen == 0 {
                t
            } else {
                n.first_seen.min(t)
            };
            n.last_seen = n.last_seen.max(t);
        }
    }

    fn edge(&mut self, from: NodeIndex, to: NodeIndex) -> EdgeIndex {
        *self
            .edges
            .entry((from, to))
            .or_insert_with(|| self.graph.add_edge(from, to, EdgeData::default()))
    }

    /// Adds a whole node (used by merge and baseline loading).
    pub fn insert_node(&mut self, n: &NodeData) {
        let idx = self.node(&n.peer, n.first_seen);
        let mine = &mut self.graph[idx];
        if n.last_seen != 0 {
            mine.last_seen = mine.last_seen.max(n.last_seen);
        }
        for a in &n.addresses {
            if mine.addresses.len() < MAX_ADDRESSES {
                mine.addresses.insert(*a);
            }
        }
    }

    /// Adds evidence for one edge port (used by merge and baseline loading).
    pub fn insert_port(&mut self, from: &Peer, to: &Peer, port: PortKey, stats: &PortStats) {
        let f = self.node(from, 0);
        let t = self.node(to, 0);
        let e = self.edge(f, t);
        self.graph[e].ports.entry(port).or_default().merge(stats);
    }

    /// No node, and nothing said about coverage: what a new graph is.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0 && self.coverage == Coverage::default()
    }

    /// Folds another graph into this one (commutative, associative).
    pub fn merge(&mut self, other: &TrafficGraph) {
        for n in other.graph.node_weights() {
            self.insert_node(n);
        }
        for e in other.graph.edge_indices() {
            let (a, b) = other.graph.edge_endpoints(e).expect("edge has endpoints");
            let (from, to) = (&other.graph[a].peer, &other.graph[b].peer);
            for (port, stats) in &other.graph[e].ports {
                self.insert_port(from, to, *port, stats);
            }
        }
        self.coverage.merge(&other.coverage);
    }

    /// The same graph with world *clients* (initiators) inside `groups` folded
    /// into their group prefix — what `--cidr-group` does when flows are read —
    /// so a baseline recorded without grouping can be grouped later.
    pub fn regrouped(&self, groups: &[ipnet::IpNet]) -> TrafficGraph {
        let group = |p: &Peer| match p {
            Peer::Cidr(net) => groups
                .iter()
                .find(|g| g.contains(net))
                .map(|g| Peer::Cidr(*g)),
            _ => None,
        };
        let edges = self.edges_sorted();
        let initiators: std::collections::HashSet<&Peer> = edges.iter().map(|e| e.0).collect();
        let responders: std::collections::HashSet<&Peer> = edges.iter().map(|e| e.1).collect();
        let mut out = TrafficGraph {
            coverage: self.coverage.clone(),
            ..TrafficGraph::default()
        };
        for n in self.nodes_sorted() {
            match group(&n.peer).filter(|_| initiators.contains(&n.peer)) {
                Some(g) => {
                    out.insert_node(&NodeData {
                        peer: g,
                        ..n.clone()
                    });
                    if responders.contains(&n.peer) {
                        out.insert_node(n);
                    }
                }
                None => out.insert_node(n),
            }
        }
        for (from, to, edge) in edges {
            let from = group(from).unwrap_or_else(|| from.clone());
            for (port, stats) in &edge.ports {
                out.insert_port(&from, to, *port, stats);
            }
        }
        out
    }

    /// The same graph seen under other names: each node is renamed by
    /// `node`, each edge port's ends by `port` (initiator, responder, port →
    /// new initiator and responder). Ends that come out the same merge, their
    /// evidence summed; coverage is kept. What synthesis uses to read
    /// instances as their role and reserved identities as policy entities.
    pub fn renamed(
        &self,
        node: impl Fn(&Peer) -> Peer,
        port: impl Fn(&Peer, &Peer, PortKey) -> (Peer, Peer),
    ) -> TrafficGraph {
        let mut out = TrafficGraph {
            coverage: self.coverage.clone(),
            ..TrafficGraph::default()
        };
        for n in self.nodes_sorted() {
            out.insert_node(&NodeData {
                peer: node(&n.peer),
                ..n.clone()
            });
        }
        for (from, to, edge) in self.edges_sorted() {
            for (key, stats) in &edge.ports {
                let (a, b) = port(from, to, *key);
                out.insert_port(&a, &b, *key, stats);
            }
        }
        out
    }

    /// Replaces the evidence of every edge port by `f` of it.
    pub fn map_ports(&mut self, f: impl Fn(&PortStats) -> PortStats) {
        for e in self.graph.edge_weights_mut() {
            for stats in e.ports.values_mut() {
                *stats = f(stats);
            }
        }
    }

    /// Nodes in a stable order (by peer).
    pub fn nodes_sorted(&self) -> Vec<&NodeData> {
        let mut v: Vec<&NodeData> = self.graph.node_weights().collect();
        v.sort_by(|a, b| a.peer.cmp(&b.peer));
        v
    }

    /// Edges in the graph's own order (insertion order, which differs
    /// between a dump, a merge and a live stream of the same traffic): for
    /// work whose result cannot depend on it (sums, maxima, sorted maps and
    /// sets), which then skips ranking every peer. Anything that lists or
    /// picks edges in order uses [`TrafficGraph::edges_sorted`].
    pub fn edges(&self) -> impl Iterator<Item = (&Peer, &Peer, &EdgeData)> + '_ {
        self.graph.edge_indices().map(|e| {
            let (a, b) = self.graph.edge_endpoints(e).expect("edge has endpoints");
            (&self.graph[a].peer, &self.graph[b].peer, &self.graph[e])
        })
    }

    /// Edges in a stable order: (initiator, responder, evidence).
    pub fn edges_sorted(&self) -> Vec<(&Peer, &Peer, &EdgeData)> {
        // Peers compare by namespace and labels: the nodes are ranked once,
        // then the edges (one per pair of nodes) sorted by two integers.
        let rank = self.node_ranks();
        let mut v: Vec<(u32, u32, EdgeIndex)> = self
            .graph
            .edge_indices()
            .map(|e| {
                let (a, b) = self.graph.edge_endpoints(e).expect("edge has endpoints");
                (rank[a.index()], rank[b.index()], e)
            })
            .collect();
        v.sort_unstable_by_key(|&(a, b, _)| (a, b));
        v.into_iter()
            .map(|(_, _, e)| {
                let (a, b) = self.graph.edge_endpoints(e).expect("edge has endpoints");
                (&self.graph[a].peer, &self.graph[b].peer, &self.graph[e])
            })
            .collect()
    }

    /// Each node's place in peer order, by node index (peers are unique).
    fn node_ranks(&self) -> Vec<u32> {
        let mut order: Vec<NodeIndex> = self.graph.node_indices().collect();
        order.sort_unstable_by(|a, b| self.graph[*a].peer.cmp(&self.graph[*b].peer));
        let mut rank = vec![0; order.len()];
        for (r, i) in order.into_iter().enumerate() {
            rank[i.index()] = r as u32;
        }
        rank
    }

    pub fn node_data(&self, peer: &Peer) -> Option<&NodeData> {
        self.nodes.get(peer).map(|i| &self.graph[*i])
    }

    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// Workload nodes, sorted.
    pub fn workloads(&self) -> Vec<&crate::peer::WorkloadKey> {
        let mut v: Vec<_> = self
            .graph
            .node_weights()
            .filter_map(|n| n.peer.as_workload())
            .collect();
        v.sort();
        v
    }

    /// The underlying petgraph, for exports and analyses.
    pub fn petgraph(&self) -> &DiGraph<NodeData, EdgeData> {
        &self.graph
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interpret::direction::Basis;
    use crate::peer::l4::Proto;
    use crate::peer::Entity;
    use crate::proto::flow::{self, layer7::Record, Dns, Http, Layer7};
    use std::sync::Arc;

    fn l7(kind: flow::L7FlowType, record: Record) -> flow::Flow {
        flow::Flow {
            l7: Some(Layer7 {
                r#type: kind as i32,
                record: Some(record),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn observe(g: &mut TrafficGraph, f: &flow::Flow, verdict: VerdictClass, port: u16) {
        g.record(&Observation {
            flow: f,
            time_ns: 0,
            initiator: Arc::new(Peer::Entity(Entity::Host)),
            responder: Arc::new(Peer::Fqdn("api.example".into())),
            initiator_ip: None,
            responder_ip: None,
            port: PortKey {
                proto: Proto::Tcp,
                port,
            },
            verdict,
            new_connection: false,
            basis: Basis::TrafficDirection,
        });
    }

    /// Edges come in peer order (initiator, then responder), however the
    /// nodes were added.
    #[test]
    fn edges_are_sorted_by_their_peers() {
        let peers: Vec<Peer> = vec![
            Peer::Fqdn("b.example".into()),
            Peer::Entity(Entity::World),
            Peer::Fqdn("a.example".into()),
            Peer::Entity(Entity::Host),
            Peer::Fqdn("c.example".into()),
        ];
        let mut g = TrafficGraph::new();
        let f = flow::Flow::default();
        for (i, from) in peers.iter().enumerate() {
            for to in peers.iter().skip(i % 2).step_by(2) {
                g.record(&Observation {
                    flow: &f,
                    time_ns: 0,
                    initiator: Arc::new(from.clone()),
                    responder: Arc::new(to.clone()),
                    initiator_ip: None,
                    responder_ip: None,
                    port: PortKey {
                        proto: Proto::Tcp,
                        port: 80,
                    },
                    verdict: VerdictClass::Allowed,
                    new_connection: false,
                    basis: Basis::TrafficDirection,
                });
            }
        }
        let got: Vec<(&Peer, &Peer)> = g.edges_sorted().iter().map(|(a, b, _)| (*a, *b)).collect();
        let mut want = got.clone();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(got.len(), g.edge_count());
        assert!(got.len() > 5);
    }

    #[test]
    fn allowed_l7_records_become_evidence_dropped_ones_do_not() {
        let http = |m: &str, url: &str| Http {
            method: m.into(),
            url: url.into(),
            ..Default::default()
        };
        let mut g = TrafficGraph::new();
        let req = l7(
            flow::L7FlowType::Request,
            Record::Http(http("get", "http://api/users/7?x=1")),
        );
        let resp = l7(
            flow::L7FlowType::Response,
            Record::Http(http("GET", "http://api/users/8")),
        );
        observe(&mut g, &req, VerdictClass::Allowed, 80);
        observe(&mut g, &resp, VerdictClass::Allowed, 80);
        observe(&mut g, &req, VerdictClass::Dropped, 81);
        let dns = l7(
            flow::L7FlowType::Request,
            Record::Dns(Dns {
                query: "API.Example.".into(),
                ..Default::default()
            }),
        );
        observe(&mut g, &dns, VerdictClass::Allowed, 53);
        let (_, _, edge) = g.edges_sorted()[0];
        let seen = edge.ports[&PortKey {
            proto: Proto::Tcp,
            port: 80,
        }]
            .http
            .as_ref()
            .unwrap();
        let (class, stats) = seen.classes.iter().next().unwrap();
        assert_eq!(
            (
                class.method.as_str(),
                class.path.as_str(),
                class.host.as_deref()
            ),
            ("GET", "/users/{int}", Some("api"))
        );
        assert_eq!(stats.requests, 1);
        assert!(edge.ports[&PortKey {
            proto: Proto::Tcp,
            port: 81
        }]
            .http
            .is_none());
        let names = &edge.ports[&PortKey {
            proto: Proto::Tcp,
            port: 53,
        }]
            .dns
            .as_ref()
            .unwrap()
            .names;
        assert_eq!(names.iter().collect::<Vec<_>>(), ["api.example"]);
    }
}
