//! Evidence kept on the graph: per responder port, how many connections and
//! flows, first and last seen, and one sample flow in a readable line.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::interpret::direction::Basis;
pub use crate::interpret::sample::format_time;

/// Counts for one verdict class of one (edge, port).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub connections: u64,
    pub flows: u64,
    /// ns since the epoch (0: unknown).
    pub first_seen: i64,
    pub last_seen: i64,
    /// The earliest flow seen, as one readable line.
    pub sample: String,
    /// Flows per evidence that decided their direction (why this is the
    /// initiator's side).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub direction: BTreeMap<Basis, u64>,
    /// Of DROPPED flows: those dropped by a policy decision (POLICY_DENIED,
    /// POLICY_DENY), not by another fault.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub policy_denied: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Tally {
    /// Counts one flow; `sample` describes it, asked only when it becomes
    /// the tally's sample (the earliest flow).
    pub fn record(
        &mut self,
        time_ns: i64,
        new_connection: bool,
        sample: impl FnOnce() -> String,
        basis: Basis,
    ) {
        self.flows += 1;
        match self.direction.get_mut(&basis) {
            Some(n) => *n += 1,
            None => {
                self.direction.insert(basis, 1);
            }
        }
        if new_connection {
            self.connections += 1;
        }
        if self.sample.is_empty()
            || (time_ns != 0 && (self.first_seen == 0 || time_ns < self.first_seen))
        {
            self.sample = sample();
        } else if time_ns != 0 && time_ns == self.first_seen {
            // A tie keeps the smaller line, as [`Tally::merge`] does: the
            // sample does not depend on which node's flow came first.
            let other = sample();
            if other < self.sample {
                self.sample = other;
            }
        }
        if time_ns != 0 {
            self.first_seen = if self.first_seen == 0 {
                time_ns
            } else {
                self.first_seen.min(time_ns)
            };
            self.last_seen = self.last_seen.max(time_ns);
        }
    }

    /// Combines two tallies; commutative and associative.
    pub fn merge(&mut self, other: &Tally) {
        for (b, n) in &other.direction {
            *self.direction.entry(*b).or_default() += n;
        }
        self.connections += other.connections;
        self.flows += other.flows;
        self.policy_denied += other.policy_denied;
        let take_other = match (self.first_seen, other.first_seen) {
            (_, 0) => {
                self.sample.is_empty() || (self.first_seen == 0 && other.sample < self.sample)
            }
            (0, _) => true,
            (a, b) => b < a || (a == b && other.sample < self.sample),
        };
        if take_other && !other.sample.is_empty() {
            self.sample = other.sample.clone();
        }
        self.first_seen = match (self.first_seen, other.first_seen) {
            (0, b) => b,
            (a, 0) => a,
            (a, b) => a.min(b),
        };
        self.last_seen = self.last_seen.max(other.last_seen);
    }
}
