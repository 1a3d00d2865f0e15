//! [`InterpretState`]: everything the [`super::Interpreter`] remembers from
//! earlier flows that changes what a later flow means — the DNS answers per
//! address ([`super::dns`]), the connections seen within the window
//! ([`super::conntrack`]), the undecided flows parked for their connection
//! ([`super::undecided::Parked`]) and the workload last seen per pod address
//! (the endpoint cache). A baseline stores it (`state`, docs/baseline-format.md)
//! and a continuing `observe` restores it, so a capture observed in several
//! runs, cut anywhere, gives the graph one run gives.
//!
//! The memory is kept per node ([`NodeState`], by the flow's `node_name`):
//! a flow is interpreted with what earlier flows *of its own node* taught,
//! in a whole capture as in one node's shard, so per-node baselines merge
//! into exactly the whole capture's baseline. (Cilium's own knowledge is per
//! node too: the DNS proxy and `destination_names` are the node agent's.)
//!
//! The rest of the interpreter's memory is a cache recomputed from each flow.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::conntrack::{ConnKey, ConnTable};
use super::dns::DnsEntry;
use super::endpoints::PodEntry;
use super::undecided::{ParkedEntry, ParkedTable};
use crate::peer::l4::Proto;

/// The interpreter's memory of earlier flows, as a baseline stores it: per
/// node, and for flows without a node name (the whole state of a version 2
/// baseline, which had one memory for every node). Every list is sorted and
/// every map ordered, so the same state always encodes to the same bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InterpretState {
    /// The memory of flows without a node name.
    #[serde(flatten)]
    pub unnamed: NodeState,
    /// The memory of each node's flows, by node name (empty ones omitted).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, NodeState>,
}

impl InterpretState {
    pub fn is_empty(&self) -> bool {
        self.unnamed.is_empty() && self.nodes.values().all(NodeState::is_empty)
    }

    /// Every node's memory, the unnamed one first.
    pub fn all(&self) -> impl Iterator<Item = &NodeState> {
        std::iter::once(&self.unnamed).chain(self.nodes.values())
    }

    /// DNS answers remembered, all nodes together.
    pub fn dns_entries(&self) -> usize {
        self.all().map(|n| n.dns.len()).sum()
    }

    /// Connections remembered, all nodes together.
    pub fn connection_entries(&self) -> usize {
        self.all().map(|n| n.connections.entries.len()).sum()
    }

    /// Unites two states (two baselines merged) node by node; commutative
    /// and associative (see [`NodeState::merge`]). Shards of different nodes
    /// simply sit side by side.
    pub fn merge(&mut self, o: &InterpretState) {
        self.unnamed.merge(&o.unnamed);
        for (node, state) in &o.nodes {
            self.nodes.entry(node.clone()).or_default().merge(state);
        }
    }
}

/// What the interpreter remembers of one node's earlier flows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeState {
    /// DNS names per world address.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<DnsEntry>,
    /// Connections seen within the connection window.
    #[serde(skip_serializing_if = "ConnTable::is_empty")]
    pub connections: ConnTable,
    /// Undecided flows waiting for a decided flow of their connection.
    #[serde(skip_serializing_if = "ParkedTable::is_empty")]
    pub parked: ParkedTable,
    /// The workload last seen per pod address (repairs flows the L7 proxy
    /// reports as world).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<PodEntry>,
}

impl NodeState {
    pub fn is_empty(&self) -> bool {
        self == &NodeState::default()
    }

    /// Unites two memories of one node; commutative and
    /// associative. Per key the newer entry wins (DNS by when it was seen,
    /// connections and parked flows by last flow time, ties by the rest of
    /// the entry); per pod address the greater workload.
    pub fn merge(&mut self, o: &NodeState) {
        let mut dns: BTreeMap<IpAddr, DnsEntry> = BTreeMap::new();
        for e in self.dns.iter().chain(&o.dns) {
            keep_max(&mut dns, e.address, e, |e| (e.seen, e.name.clone(), e.ttl));
        }
        self.dns = dns.into_values().collect();

        let mut conns: BTreeMap<ConnKey, (i64, Option<i64>)> = BTreeMap::new();
        for e in self
            .connections
            .entries
            .iter()
            .chain(&o.connections.entries)
        {
            let have = conns.entry(e.key).or_insert((e.last_seen, e.counted));
            have.0 = have.0.max(e.last_seen);
            have.1 = have.1.max(e.counted);
        }
        self.connections.newest = self.connections.newest.max(o.connections.newest);
        self.connections.next_prune = self.connections.next_prune.max(o.connections.next_prune);
        self.connections.entries = conns
            .into_iter()
            .map(|(key, (last_seen, counted))| super::conntrack::ConnEntry {
                key,
                last_seen,
                counted,
            })
            .collect();

        type Tuple = (IpAddr, u16, IpAddr, u16, Proto);
        let mut parked: BTreeMap<Tuple, ParkedEntry> = BTreeMap::new();
        for e in self.parked.entries.iter().chain(&o.parked.entries) {
            let key = (e.a, e.a_port, e.b, e.b_port, e.protocol);
            keep_max(&mut parked, key, e, |e| {
                (e.last_seen, e.flows, e.listed.clone(), e.ports)
            });
        }
        self.parked.newest = self.parked.newest.max(o.parked.newest);
        self.parked.next_prune = self.parked.next_prune.max(o.parked.next_prune);
        self.parked.entries = parked.into_values().collect();

        let mut pods: BTreeMap<IpAddr, PodEntry> = BTreeMap::new();
        for e in self.pods.iter().chain(&o.pods) {
            keep_max(&mut pods, e.address, e, |e| e.workload.clone());
        }
        self.pods = pods.into_values().collect();
    }
}

/// Inserts `e` under `key` unless an entry with a greater `rank` is there.
fn keep_max<K: Ord, V: Clone, R: Ord>(
    map: &mut BTreeMap<K, V>,
    key: K,
    e: &V,
    rank: impl Fn(&V) -> R,
) {
    match map.get(&key) {
        Some(have) if rank(have) >= rank(e) => {}
        _ => {
            map.insert(key, e.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interpret::conntrack::ConnEntry;

    fn state(seed: u16) -> InterpretState {
        let mut s = InterpretState {
            unnamed: node_state(seed),
            ..InterpretState::default()
        };
        s.nodes
            .insert(format!("n{}", seed % 2), node_state(seed + 1));
        s
    }

    fn node_state(seed: u16) -> NodeState {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        NodeState {
            dns: vec![
                DnsEntry {
                    address: ip("192.0.2.1"),
                    name: format!("n{}.example", seed % 2),
                    seen: i64::from(seed % 3),
                    ttl: 30,
                },
                DnsEntry {
                    address: ip(&format!("192.0.2.{}", 10 + seed)),
                    name: "x.example".into(),
                    seen: 5,
                    ttl: 0,
                },
            ],
            connections: ConnTable {
                newest: i64::from(seed),
                next_prune: 0,
                entries: vec![ConnEntry {
                    key: ConnKey {
                        initiator: ip("10.0.0.1"),
                        initiator_port: 40000,
                        responder: ip("10.0.0.2"),
                        responder_port: 80,
                        proto: Proto::Tcp,
                    },
                    last_seen: i64::from(seed * 7 % 5),
                    counted: Some(i64::from(seed % 2)),
                }],
            },
            ..NodeState::default()
        }
    }

    #[test]
    fn merge_is_commutative_and_associative_and_round_trips() {
        let (a, b, c) = (state(1), state(2), state(3));
        let merged = |x: &InterpretState, y: &InterpretState| {
            let mut m = x.clone();
            m.merge(y);
            m
        };
        assert_eq!(merged(&a, &b), merged(&b, &a));
        assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
        let m = merged(&merged(&a, &b), &c);
        assert_eq!(m.unnamed.dns.len(), 4, "one entry per address");
        assert_eq!(m.nodes.len(), 2);
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<InterpretState>(&text).unwrap(), m);
        assert_eq!(
            serde_json::to_string(&InterpretState::default()).unwrap(),
            "{}"
        );
    }
}
