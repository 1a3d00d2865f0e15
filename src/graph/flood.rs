//! Noticing a flood of distinct workloads: damaged input that still passes
//! validation (a flipped letter in a label value) makes a new workload per
//! damaged flow, each seen once. Real workloads are seen in many flows
//! (every connection is several packets, often on two nodes), so many
//! single-flow workloads are reported with how many there are and the lines
//! they came from.
//!
//! Memory grows with distinct valid identities only: one entry per
//! interpreter peer (keyed by its address; the interpreter builds one peer
//! per identity), holding the flow count and the first position.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::brief;
use crate::interpret::Observation;
use crate::peer::{Peer, WorkloadKey};

/// Below this many single-flow workloads nothing is said.
const MIN_SINGLES: usize = 10;

/// Flows and first position per workload peer.
#[derive(Debug, Default)]
pub struct Spread {
    peers: FxHashMap<usize, (Arc<Peer>, u64, Position)>,
}

/// Input number (in the order given) and line.
pub type Position = (usize, u64);

/// Many workloads seen in a single flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flood {
    pub workloads: usize,
    pub single_flow: usize,
    /// Where the first few single-flow workloads came from (`file:line`).
    pub lines: Vec<String>,
}

impl Spread {
    /// Counts the workloads of one observation, seen at `at`.
    pub fn see(&mut self, o: &Observation<'_>, at: Position) {
        for peer in [&o.initiator, &o.responder] {
            if !matches!(**peer, Peer::Workload(_)) {
                continue;
            }
            let key = Arc::as_ptr(peer) as usize;
            match self.peers.get_mut(&key) {
                Some(entry) => entry.1 += 1,
                None => {
                    self.peers.insert(key, (peer.clone(), 1, at));
                }
            }
        }
    }

    /// The flood, if single-flow workloads are many (≥ 10, and ≥ 10 % of
    /// all); `files` names the inputs by number.
    pub fn flood(&self, files: &[String]) -> Option<Flood> {
        let mut per: BTreeMap<&WorkloadKey, (u64, Position)> = BTreeMap::new();
        for (peer, flows, at) in self.peers.values() {
            let Peer::Workload(w) = &**peer else { continue };
            let e = per.entry(w).or_insert((0, *at));
            e.0 += flows;
            e.1 = e.1.min(*at);
        }
        let mut lines: Vec<Position> = per
            .values()
            .filter(|(n, _)| *n == 1)
            .map(|(_, at)| *at)
            .collect();
        if lines.len() < MIN_SINGLES || lines.len() * 10 < per.len() {
            return None;
        }
        lines.sort_unstable();
        let name = |i: usize| files.get(i).map_or("?", String::as_str);
        Some(Flood {
            workloads: per.len(),
            single_flow: lines.len(),
            lines: lines
                .into_iter()
                .take(brief::CAP)
                .map(|(f, l)| format!("{}:{l}", name(f)))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interpret::VerdictClass;
    use crate::peer::l4::{PortKey, Proto};
    use crate::peer::Entity;
    use crate::proto::flow;

    fn workload(app: &str) -> Arc<Peer> {
        Arc::new(Peer::Workload(WorkloadKey {
            namespace: "shop".into(),
            labels: [("app".to_string(), app.to_string())].into(),
        }))
    }

    fn see(spread: &mut Spread, f: &flow::Flow, peer: &Arc<Peer>, at: Position) {
        let o = Observation {
            flow: f,
            time_ns: 0,
            initiator: peer.clone(),
            responder: Arc::new(Peer::Entity(Entity::World)),
            initiator_ip: None,
            responder_ip: None,
            port: PortKey {
                proto: Proto::Tcp,
                port: 443,
            },
            verdict: VerdictClass::Allowed,
            new_connection: true,
            basis: crate::interpret::direction::Basis::IsReply,
        };
        spread.see(&o, at);
    }

    #[test]
    fn many_single_flow_workloads_are_a_flood_with_their_lines() {
        let f = flow::Flow::default();
        let files = ["a.jsonpb".to_string()];
        let mut spread = Spread::default();
        let web = workload("web");
        for line in 1..=100 {
            see(&mut spread, &f, &web, (0, line));
        }
        assert_eq!(spread.flood(&files), None);
        let damaged: Vec<Arc<Peer>> = (0..12).map(|i| workload(&format!("wxb{i}"))).collect();
        for (i, peer) in damaged.iter().enumerate().rev() {
            see(&mut spread, &f, peer, (0, 1000 + i as u64));
        }
        let flood = spread.flood(&files).unwrap();
        assert_eq!((flood.workloads, flood.single_flow), (13, 12));
        assert_eq!(
            flood.lines,
            [
                "a.jsonpb:1000",
                "a.jsonpb:1001",
                "a.jsonpb:1002",
                "a.jsonpb:1003",
                "a.jsonpb:1004"
            ]
        );
    }
}
