//! Counting connections, not packets: the same connection is seen many times
//! (every packet, both directions) and, when both ends are local endpoints, on
//! two nodes (EGRESS at the source, INGRESS at the destination). A flow whose
//! oriented 5-tuple was seen within the window is the same connection.
//!
//! Memory is bounded by the connections active within the window: entries
//! idle longer than the window (in flow time) are pruned as flows arrive.

use rustc_hash::FxHashMap;
use std::net::IpAddr;

use crate::peer::l4::Proto;

/// Initiator address/port, responder address/port, protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKey {
    pub initiator: IpAddr,
    pub initiator_port: u16,
    pub responder: IpAddr,
    pub responder_port: u16,
    pub proto: Proto,
}

/// A sliding-window table of recently seen connections.
#[derive(Debug)]
pub struct ConnTracker {
    window_ns: i64,
    seen: FxHashMap<ConnKey, i64>,
    newest: i64,
    next_prune: usize,
}

impl ConnTracker {
    pub fn new(window_ns: i64) -> ConnTracker {
        ConnTracker {
            window_ns,
            seen: FxHashMap::default(),
            newest: i64::MIN,
            next_prune: 1 << 16,
        }
    }

    /// Records a flow of `key` at `time_ns`; true when it opens a connection
    /// not seen within the window.
    pub fn observe(&mut self, key: ConnKey, time_ns: i64) -> bool {
        self.newest = self.newest.max(time_ns);
        let is_new = match self.seen.get_mut(&key) {
            Some(last)
                if time_ns - *last <= self.window_ns && *last - time_ns <= self.window_ns =>
            {
                *last = (*last).max(time_ns);
                false
            }
            Some(last) => {
                *last = time_ns;
                true
            }
            None => {
                self.seen.insert(key, time_ns);
                true
            }
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
            .is_some_and(|last| time_ns.abs_diff(*last) <= self.window_ns.unsigned_abs())
    }

    fn prune(&mut self) {
        let horizon = self.newest.saturating_sub(self.window_ns);
        self.seen.retain(|_, last| *last >= horizon);
        self.next_prune = (self.seen.len() * 2).max(1 << 16);
    }

    pub fn tracked(&self) -> usize {
        self.seen.len()
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
        assert!(t.observe(key(40000), 1_000));
        assert!(!t.observe(key(40000), 1_500)); // the other node's copy
        assert!(!t.observe(key(40000), 900)); // arrives out of order
        assert!(t.observe(key(40001), 2_000));
        assert!(t.observe(key(40000), 1_000 + 120_000_000_000)); // after the window
    }
}
