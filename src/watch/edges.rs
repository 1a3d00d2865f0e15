//! What `watch` remembers per distinct connection (initiator, responder,
//! port), never per flow: the tree's verdict for it (decided once per tree
//! generation, so a steady stream costs a hash lookup), the usage slots and
//! metric handles that verdict implies, counts, and which events were
//! already reported. Capped: past `--max-edges` the least recently seen
//! edges are forgotten (reported, counted), so memory stays bounded over
//! days. Also the per-namespace counts the live view and summary show.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use rustc_hash::FxHashMap;

use crate::peer::l4::PortKey;
use crate::peer::Peer;
use crate::verify::tri::Tri;

/// A distinct connection.
pub type EdgeKey = (Arc<Peer>, Arc<Peer>, PortKey);

/// What is known of one connection.
pub struct EdgeState {
    /// The tree generation `verdict` was decided for.
    pub generation: u64,
    pub verdict: Tri,
    pub first_seen: i64,
    pub last_seen: i64,
    /// Delivered flows (FORWARDED, REDIRECTED, AUDIT).
    pub flows: u64,
    /// Of those, flows the tree would drop.
    pub would_drop: u64,
    /// Flows Cilium dropped for a policy reason.
    pub cilium_dropped: u64,
    /// Usage slots of the allow sections that allowed it.
    pub slots: Vec<u32>,
    /// `flowpolicy_would_drop_flows_total` of each dropping direction, and
    /// the namespace rows it counts in.
    pub drop_counters: Vec<(Counter, u32)>,
    /// `flowpolicy_dropped_flows_total` for ingress and egress drops.
    pub cilium_counters: [Option<(Counter, u32)>; 2],
    /// Namespace rows of the initiator and the responder (pods only).
    pub namespaces: [Option<u32>; 2],
    pub reported_would_drop: bool,
    pub reported_dropped: bool,
    pub reported_new: bool,
}

/// Counts of one namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NsCounts {
    pub flows: u64,
    pub would_drop: u64,
    pub dropped: u64,
    pub new_edges: u64,
}

/// Per-namespace counts, each namespace a row found once per edge.
#[derive(Default)]
pub struct Namespaces {
    index: FxHashMap<String, u32>,
    pub rows: Vec<(String, NsCounts)>,
}

impl Namespaces {
    /// The row of `ns`, created on first use.
    pub fn row(&mut self, ns: &str) -> u32 {
        if let Some(i) = self.index.get(ns) {
            return *i;
        }
        let i = self.rows.len() as u32;
        self.rows.push((ns.to_string(), NsCounts::default()));
        self.index.insert(ns.to_string(), i);
        i
    }

    pub fn get_mut(&mut self, row: u32) -> &mut NsCounts {
        &mut self.rows[row as usize].1
    }

    /// The rows sorted by name.
    pub fn sorted(&self) -> Vec<&(String, NsCounts)> {
        let mut v: Vec<_> = self.rows.iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// The namespace of a pod peer.
pub fn namespace_of(p: &Peer) -> Option<&str> {
    p.as_workload().map(|w| w.namespace.as_str())
}

/// The remembered connections, at most `cap` of them.
pub struct Edges {
    pub map: FxHashMap<EdgeKey, EdgeState>,
    pub cap: usize,
    /// Edges forgotten so far.
    pub evicted: u64,
}

impl Edges {
    pub fn new(cap: usize) -> Edges {
        Edges {
            map: FxHashMap::default(),
            cap: cap.max(1),
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Past the cap, forgets the least recently seen edges down to 7/8 of
    /// it (so eviction runs once per many new edges); returns how many.
    pub fn evict(&mut self) -> u64 {
        if self.map.len() <= self.cap {
            return 0;
        }
        let keep = self.cap - self.cap / 8;
        let mut seen: Vec<i64> = self.map.values().map(|e| e.last_seen).collect();
        let drop = self.map.len() - keep;
        seen.select_nth_unstable(drop - 1);
        let threshold = seen[drop - 1];
        let mut left = drop;
        self.map.retain(|_, e| {
            if left > 0 && e.last_seen <= threshold {
                left -= 1;
                false
            } else {
                true
            }
        });
        let n = (drop - left) as u64;
        self.evicted += n;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::l4::Proto;
    use crate::peer::Entity;

    fn state(t: i64) -> EdgeState {
        EdgeState {
            generation: 0,
            verdict: Tri::Yes,
            first_seen: t,
            last_seen: t,
            flows: 1,
            would_drop: 0,
            cilium_dropped: 0,
            slots: Vec::new(),
            drop_counters: Vec::new(),
            cilium_counters: [None, None],
            namespaces: [None, None],
            reported_would_drop: false,
            reported_dropped: false,
            reported_new: false,
        }
    }

    #[test]
    fn eviction_forgets_the_least_recently_seen_and_keeps_the_cap() {
        let mut e = Edges::new(16);
        let a = Arc::new(Peer::Entity(Entity::Host));
        let b = Arc::new(Peer::Entity(Entity::World));
        for port in 0..17u16 {
            let k = (
                a.clone(),
                b.clone(),
                PortKey {
                    proto: Proto::Tcp,
                    port,
                },
            );
            e.map.insert(k, state(i64::from(port)));
            e.evict();
        }
        assert_eq!(e.len(), 14);
        assert_eq!(e.evicted, 3);
        let ports: Vec<u16> = e.map.keys().map(|k| k.2.port).collect();
        assert!(ports.iter().all(|p| *p >= 3), "{ports:?}");
    }
}
