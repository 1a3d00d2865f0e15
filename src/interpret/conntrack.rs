//! Counting connections, not packets: the same connection is seen many times
//! (every packet, both directions) and, when both ends are local endpoints, on
//! two nodes (EGRESS at the source, INGRESS at the destination). A flow whose
//! oriented 5-tuple was seen within the window is the same connection.
//!
//! A connection is *counted* only by a flow observed at its counting point
//! ([`counting_point`]): one observation point per connection, decided from
//! the flow alone, so a node's flows count the connections that node is
//! responsible for whatever the other nodes saw, and per-node baselines add
//! up to the whole capture's counts (docs/baseline-format.md, "Shards").
//! Every flow still refreshes the table (its direction evidence).
//!
//! Memory is bounded by the connections active within the window: entries
//! idle longer than the window (in flow time) are pruned as flows arrive.
//!
//! The table is part of the interpretation state a baseline carries
//! ([`super::state::InterpretState`]): a connection open when one `observe`
//! run stops is the same connection to the next run.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

use crate::peer::l4::Proto;

/// Initiator address/port, responder address/port, protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConnKey {
    pub initiator: IpAddr,
    pub initiator_port: u16,
    pub responder: IpAddr,
    pub responder_port: u16,
    #[serde(rename = "protocol")]
    pub proto: Proto,
}

/// The table as a baseline stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnTable {
    /// Newest flow time (ns) the table has seen (`i64::MIN` when none: omitted).
    #[serde(skip_serializing_if = "is_min")]
    pub newest: i64,
    /// Table size at which it is next pruned (0: the default). Written
    /// as 0 (absent) since tables are stored pruned; older baselines may
    /// carry a size, which a continued run still follows.
    #[serde(skip_serializing_if = "is_zero")]
    pub next_prune: usize,
    /// Every tracked connection with the flow time (ns) it was last seen,
    /// sorted.
    pub entries: Vec<ConnEntry>,
}

impl ConnTable {
    fn empty() -> ConnTable {
        ConnTable {
            newest: i64::MIN,
            next_prune: 0,
            entries: Vec::new(),
        }
    }

    /// Whether nothing is tracked (written as absent).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.newest == i64::MIN
    }
}

fn is_min(v: &i64) -> bool {
    *v == i64::MIN
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

/// One tracked connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConnEntry {
    #[serde(flatten)]
    pub key: ConnKey,
    pub last_seen: i64,
    /// Flow time (ns) a flow at the counting point last saw it; absent when
    /// none did. (Version 2 baselines have no such field: every entry was
    /// counted, at `last_seen`; the loader fills it in.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted: Option<i64>,
}

/// Whether a flow is observed where its connection is counted: at the
/// initiator's side (`traffic_direction` EGRESS: the local endpoint
/// initiated), or at the responder's (INGRESS) when the initiator is not a
/// Cilium-managed pod (world, host, remote-node, the API server…): only a
/// pod initiator has a node that also reports the connection, at EGRESS.
/// Flows without a direction (old agents, masked exports) count where they
/// are seen.
pub fn counting_point(
    direction: crate::proto::flow::TrafficDirection,
    initiator_is_pod: bool,
) -> bool {
    use crate::proto::flow::TrafficDirection as D;
    match direction {
        D::Egress | D::Unknown => true,
        D::Ingress => !initiator_is_pod,
    }
}

/// What the table keeps per connection: the flow time it was last seen at
/// all, and last seen at its counting point (`i64::MIN`: never).
#[derive(Debug, Clone, Copy)]
struct Seen {
    last: i64,
    counted: i64,
}

/// Table size at which a table is first pruned. There is one table per node
/// (a relay or fan-out run holds them all), so it is small: a node's table
/// holds its connections active within the window plus at most this many
/// idle ones. 512: at 4 096 a 50-node capture held ~200 000 idle entries
/// (+20 MiB peak); pruning is amortized (the next prune waits for twice the
/// entries kept).
const FIRST_PRUNE: usize = 1 << 9;

/// A sliding-window table of recently seen connections.
#[derive(Debug)]
pub struct ConnTracker {
    window_ns: i64,
    seen: FxHashMap<ConnKey, Seen>,
    newest: i64,
    next_prune: usize,
}

impl ConnTracker {
    pub fn new(window_ns: i64) -> ConnTracker {
        ConnTracker {
            window_ns,
            seen: FxHashMap::default(),
            newest: i64::MIN,
            next_prune: FIRST_PRUNE,
        }
    }

    /// Records a flow of `key` at `time_ns`; true when it opens a connection
    /// not counted within the window and is at the counting point
    /// (`counting`, see [`counting_point`]).
    pub fn observe(&mut self, key: ConnKey, time_ns: i64, counting: bool) -> bool {
        self.newest = self.newest.max(time_ns);
        let window = self.window_ns.unsigned_abs();
        let e = self.seen.entry(key).or_insert(Seen {
            last: time_ns,
            counted: i64::MIN,
        });
        e.last = if time_ns.abs_diff(e.last) <= window {
            e.last.max(time_ns)
        } else {
            time_ns
        };
        let is_new = if !counting {
            false
        } else if e.counted != i64::MIN && time_ns.abs_diff(e.counted) <= window {
            e.counted = e.counted.max(time_ns);
            false
        } else {
            e.counted = time_ns;
            true
        };
        if self.seen.len() >= self.next_prune {
            self.prune();
        }
        is_new
    }

    /// True when `key` was seen within the window of `time_ns` (a lookup
    /// that records nothing).
    pub fn seen(&self, key: &ConnKey, time_ns: i64) -> bool {
        self.seen
            .get(key)
            .is_some_and(|s| time_ns.abs_diff(s.last) <= self.window_ns.unsigned_abs())
    }

    /// The oldest last-seen time a connection may have and still decide a
    /// flow: what a prune keeps, and what a baseline stores.
    fn horizon(&self) -> i64 {
        self.newest.saturating_sub(self.window_ns)
    }

    fn prune(&mut self) {
        let horizon = self.horizon();
        self.seen.retain(|_, s| s.last >= horizon);
        self.next_prune = (self.seen.len() * 2).max(FIRST_PRUNE);
    }

    pub fn tracked(&self) -> usize {
        self.seen.len()
    }

    /// The table as a baseline stores it: the connections seen within the
    /// window of the newest flow, sorted. The idle entries a prune would
    /// drop are left out, as is when the next prune is due: the stored
    /// table is the same whenever the last prune happened, so a run stopped
    /// and continued stores what one run would, and a shard stores no more
    /// than its node's live connections. (An idle entry only ever decides a
    /// flow older than the newest by more than the window; one node's flows
    /// do not arrive that late.)
    pub fn export(&self) -> ConnTable {
        let horizon = self.horizon();
        let mut entries: Vec<ConnEntry> = self
            .seen
            .iter()
            .filter(|(_, s)| s.last >= horizon)
            .map(|(key, s)| ConnEntry {
                key: *key,
                last_seen: s.last,
                counted: (s.counted != i64::MIN).then_some(s.counted),
            })
            .collect();
        entries.sort();
        ConnTable {
            newest: self.newest,
            next_prune: 0,
            entries,
        }
    }

    /// A tracker continuing a stored table.
    pub fn import(window_ns: i64, table: &ConnTable) -> ConnTracker {
        let mut t = ConnTracker::new(window_ns);
        if table == &ConnTable::default() {
            return t;
        }
        t.newest = table.newest;
        if table.next_prune != 0 {
            t.next_prune = table.next_prune;
        }
        t.seen.extend(table.entries.iter().map(|e| {
            let seen = Seen {
                last: e.last_seen,
                counted: e.counted.unwrap_or(i64::MIN),
            };
            (e.key, seen)
        }));
        t
    }
}

impl Default for ConnTable {
    fn default() -> ConnTable {
        ConnTable::empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port: u16) -> ConnKey {
        ConnKey {
            initiator: "10.0.0.1".parse().unwrap(),
            initiator_port: port,
            responder: "10.0.0.2".parse().unwrap(),
            responder_port: 5432,
            proto: Proto::Tcp,
        }
    }

    #[test]
    fn both_observations_of_a_connection_count_once() {
        let mut t = ConnTracker::new(60_000_000_000);
        assert!(t.observe(key(40000), 1_000, true));
        assert!(!t.observe(key(40000), 1_500, true)); // the other endpoint's copy
        assert!(!t.observe(key(40000), 900, true)); // arrives out of order
        assert!(t.observe(key(40001), 2_000, true));
        assert!(t.observe(key(40000), 1_000 + 120_000_000_000, true)); // after the window
    }

    #[test]
    fn only_the_counting_point_counts() {
        let mut t = ConnTracker::new(60_000_000_000);
        // The responder's side first (not counting), then the initiator's.
        assert!(!t.observe(key(40000), 1_000, false));
        assert!(t.seen(&key(40000), 1_000), "still direction evidence");
        assert!(t.observe(key(40000), 1_200, true));
        assert!(!t.observe(key(40000), 1_300, true));
        assert!(!t.observe(key(40000), 1_400, false));
        let back = ConnTracker::import(60_000_000_000, &t.export());
        assert_eq!(back.export(), t.export());
        use crate::proto::flow::TrafficDirection as D;
        assert!(counting_point(D::Egress, true) && counting_point(D::Unknown, true));
        assert!(!counting_point(D::Ingress, true) && counting_point(D::Ingress, false));
    }

    /// The stored table holds the connections within the window of the
    /// newest flow, whenever the last prune was: a tracker that pruned and
    /// one that did not store the same table.
    #[test]
    fn the_stored_table_is_the_live_one_whatever_the_prunes() {
        const WINDOW: i64 = 60_000_000_000;
        let mut pruned = ConnTracker::new(WINDOW);
        let mut unpruned = ConnTracker::new(WINDOW);
        unpruned.next_prune = usize::MAX;
        let late = 10 * WINDOW;
        for t in [&mut pruned, &mut unpruned] {
            for port in 0..1_000u16 {
                t.observe(key(port), i64::from(port) * 1_000_000, true);
            }
            t.observe(key(60_000), late - WINDOW, false);
            for port in 1_000..1_100u16 {
                t.observe(key(port), late, true);
            }
        }
        assert!(pruned.tracked() < unpruned.tracked());
        let stored = pruned.export();
        assert_eq!(stored, unpruned.export());
        let kept: Vec<u16> = stored
            .entries
            .iter()
            .map(|e| e.key.initiator_port)
            .collect();
        let live: Vec<u16> = (1_000..1_100).chain([60_000]).collect();
        assert_eq!(
            kept, live,
            "the idle ones are left out, the window's edge kept"
        );
        assert_eq!(stored.next_prune, 0);
        // Continued from the stored table, the same flows count the same.
        let mut back = ConnTracker::import(WINDOW, &stored);
        assert!(!back.observe(key(1_001), late + 1, true));
        assert!(!unpruned.observe(key(1_001), late + 1, true));
        assert!(back.observe(key(2), late + 1, true));
        assert!(unpruned.observe(key(2), late + 1, true));
    }
}
