//! The interpreter's memory of earlier flows, one per node: the DNS answers,
//! the connection table, the parked undecided flows and the pod addresses
//! that node's own flows taught. A flow is interpreted with its node's
//! memory only, so a node's flows mean the same in a whole capture and in
//! that node's shard (see [`super::state`]).
//!
//! Flows of one node usually come in runs (a dump per node, bursts from the
//! relay), so the current node's memory is kept at hand and swapped only
//! when the node changes.

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

    fn export(&self) -> NodeState {
        NodeState {
            dns: self.dns.export(),
            connections: self.conns.export(),
            parked: self.parked.export(),
            pods: self.pods.export(),
        }
    }
}

/// Every node's memory: the current node's at hand, the others by name.
pub(super) struct Memories {
    window_ns: i64,
    node: Box<str>,
    pub(super) current: Memory,
    others: FxHashMap<Box<str>, Memory>,
}

impl Memories {
    pub(super) fn new(window_ns: i64) -> Memories {
        Memories {
            window_ns,
            node: "".into(),
            current: Memory::new(window_ns),
            others: FxHashMap::default(),
        }
    }

    /// Continues a stored state.
    pub(super) fn import(window_ns: i64, state: &InterpretState) -> Memories {
        let mut m = Memories::new(window_ns);
        m.current = Memory::import(window_ns, &state.unnamed);
        for (node, s) in &state.nodes {
            m.others
                .insert(node.as_str().into(), Memory::import(window_ns, s));
        }
        m
    }

    /// Makes `node`'s memory the current one.
    pub(super) fn switch(&mut self, node: &str) {
        if *self.node == *node {
            return;
        }
        let (name, memory) = match self.others.remove_entry(node) {
            Some(found) => found,
            None => (node.into(), Memory::new(self.window_ns)),
        };
        let old = std::mem::replace(&mut self.current, memory);
        let old_name = std::mem::replace(&mut self.node, name);
        self.others.insert(old_name, old);
    }

    /// The state a baseline stores (nodes with nothing remembered omitted).
    pub(super) fn export(&self) -> InterpretState {
        let mut state = InterpretState::default();
        let all = std::iter::once((&self.node, &self.current)).chain(self.others.iter());
        for (node, memory) in all {
            let s = memory.export();
            if node.is_empty() {
                state.unnamed = s;
            } else if !s.is_empty() {
                state.nodes.insert(node.to_string(), s);
            }
        }
        state
    }
}
