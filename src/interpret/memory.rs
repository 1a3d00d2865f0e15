//! The interpreter's memory of earlier flows, one per node: the DNS answers,
//! the connection table, the parked undecided flows and the pod addresses
//! that node's own flows taught. A flow is interpreted with its node's
//! memory only, so a node's flows mean the same in a whole capture and in
//! that node's shard (see [`super::state`]).
//!
//! The current node is remembered, so flows of one node in a row (a dump
//! per node, bursts from the relay) find their memory without hashing.

use rustc_hash::FxHashMap;

use super::conntrack::ConnTracker;
use super::dns::DnsCache;
use super::endpoints::PodAddresses;
use super::state::{InterpretState, NodeState};
use super::undecided::Parked;

/// What one node's earlier flows taught.
pub(super) struct Memory {
    pub(super) dns: DnsCache,
    pub(super) conns: ConnTracker,
    pub(super) pods: PodAddresses,
    pub(super) parked: Parked,
}

impl Memory {
    fn new(window_ns: i64) -> Memory {
        Memory {
            dns: DnsCache::default(),
            conns: ConnTracker::new(window_ns),
            pods: PodAddresses::default(),
            parked: Parked::default(),
        }
    }

    fn import(window_ns: i64, s: &NodeState) -> Memory {
        Memory {
            dns: DnsCache::import(&s.dns),
            conns: ConnTracker::import(window_ns, &s.connections),
            pods: PodAddresses::import(&s.pods),
            parked: Parked::import(&s.parked),
        }
    }

    fn export(&self, window_ns: i64) -> NodeState {
        NodeState {
            dns: self.dns.export(),
            connections: self.conns.export(),
            parked: self.parked.export(window_ns),
            pods: self.pods.export(),
        }
    }
}

/// Every node's memory, found by name; the current node's is remembered,
/// so a run of flows from one node costs one string comparison each.
pub(super) struct Memories {
    window_ns: i64,
    by_name: FxHashMap<Box<str>, usize>,
    list: Vec<(Box<str>, Memory)>,
    at: usize,
}

impl Memories {
    pub(super) fn new(window_ns: i64) -> Memories {
        let mut by_name = FxHashMap::default();
        by_name.insert("".into(), 0);
        Memories {
            window_ns,
            by_name,
            list: vec![("".into(), Memory::new(window_ns))],
            at: 0,
        }
    }

    /// Continues a stored state.
    pub(super) fn import(window_ns: i64, state: &InterpretState) -> Memories {
        let mut m = Memories::new(window_ns);
        m.list[0].1 = Memory::import(window_ns, &state.unnamed);
        for (node, s) in &state.nodes {
            m.switch(node);
            *m.current() = Memory::import(window_ns, s);
        }
        m.at = 0;
        m
    }

    /// Makes `node`'s memory the current one.
    pub(super) fn switch(&mut self, node: &str) {
        if *self.list[self.at].0 == *node {
            return;
        }
        self.at = match self.by_name.get(node) {
            Some(i) => *i,
            None => {
                let i = self.list.len();
                self.list.push((node.into(), Memory::new(self.window_ns)));
                self.by_name.insert(node.into(), i);
                i
            }
        };
    }

    /// The current node's memory.
    pub(super) fn current(&mut self) -> &mut Memory {
        &mut self.list[self.at].1
    }

    /// The current node's memory, to read.
    pub(super) fn get(&self) -> &Memory {
        &self.list[self.at].1
    }

    /// The state a baseline stores (nodes with nothing remembered omitted).
    pub(super) fn export(&self) -> InterpretState {
        let mut state = InterpretState::default();
        for (node, memory) in &self.list {
            let s = memory.export(self.window_ns);
            if node.is_empty() {
                state.unnamed = s;
            } else if !s.is_empty() {
                state.nodes.insert(node.to_string(), s);
            }
        }
        state
    }
}
