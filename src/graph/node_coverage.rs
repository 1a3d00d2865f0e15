//! Per-node coverage: for each node that reported flows (by the flow's
//! `node_name`), its first and last flow time, its flow count and the hours
//! in which it reported any flow. A shard baseline carries it so `merge` can
//! tell which node was observed when: the same node in two shards at the
//! same time (counted twice) and hours in which a node was not observed
//! (gaps). Merging unites it exactly (commutative and associative).

use serde::{Deserialize, Serialize};

/// Nanoseconds in an hour.
pub const HOUR_NS: i64 = 3_600_000_000_000;

/// What one node contributed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeCoverage {
    /// Flow time (ns) of its first and last flow (0: unknown).
    pub first_flow: i64,
    pub last_flow: i64,
    pub flows: u64,
    /// The hours (flow time / 1 h, since the epoch) with at least one flow,
    /// as sorted, disjoint, non-adjacent inclusive ranges `[from, to]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hours: Vec<[i64; 2]>,
}

/// Widens a first/last time span (ns; a first of 0 is "none yet") to `t`.
pub(crate) fn widen_span(first: &mut i64, last: &mut i64, t: i64) {
    *first = if *first == 0 { t } else { (*first).min(t) };
    *last = (*last).max(t);
}

impl NodeCoverage {
    /// Counts one flow at `t` (ns; 0 = unknown time).
    pub fn see(&mut self, t: i64) {
        self.flows += 1;
        if t == 0 {
            return;
        }
        widen_span(&mut self.first_flow, &mut self.last_flow, t);
        let hour = t.div_euclid(HOUR_NS);
        match self.hours.last_mut() {
            Some(last) if last[0] <= hour && hour <= last[1] + 1 => last[1] = last[1].max(hour),
            _ => {
                let at = self.hours.partition_point(|h| h[1] < hour);
                if self.hours.get(at).is_none_or(|h| h[0] > hour) {
                    self.add_hours([hour, hour]);
                }
            }
        }
    }

    /// Adds a range of hours, keeping the list sorted and coalesced.
    fn add_hours(&mut self, r: [i64; 2]) {
        let at = self.hours.partition_point(|h| h[0] < r[0]);
        self.hours.insert(at, r);
        let mut out: Vec<[i64; 2]> = Vec::with_capacity(self.hours.len());
        for h in self.hours.drain(..) {
            match out.last_mut() {
                Some(last) if h[0] <= last[1] + 1 => last[1] = last[1].max(h[1]),
                _ => out.push(h),
            }
        }
        self.hours = out;
    }

    pub fn merge(&mut self, o: &NodeCoverage) {
        self.flows += o.flows;
        for t in [o.first_flow, o.last_flow] {
            if t != 0 {
                self.first_flow = if self.first_flow == 0 {
                    t
                } else {
                    self.first_flow.min(t)
                };
                self.last_flow = self.last_flow.max(t);
            }
        }
        for r in &o.hours {
            self.add_hours(*r);
        }
    }

    /// The hour ranges within `[from, to]` (inclusive) with no flow.
    pub fn gaps(&self, from: i64, to: i64) -> Vec<[i64; 2]> {
        let mut out = Vec::new();
        let mut next = from;
        for h in &self.hours {
            if h[0] > next && next <= to {
                out.push([next, (h[0] - 1).min(to)]);
            }
            next = next.max(h[1] + 1);
        }
        if next <= to {
            out.push([next, to]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: &[i64]) -> NodeCoverage {
        let mut c = NodeCoverage::default();
        for h in hours {
            c.see(h * HOUR_NS + 5);
        }
        c
    }

    #[test]
    fn hours_coalesce_and_merge_in_any_order() {
        let c = at(&[10, 11, 11, 14, 12, 3]);
        assert_eq!(c.hours, vec![[3, 3], [10, 12], [14, 14]]);
        assert_eq!(c.gaps(2, 15), vec![[2, 2], [4, 9], [13, 13], [15, 15]]);
        let (a, b) = (at(&[1, 2, 7]), at(&[3, 9]));
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert_eq!(ab.hours, vec![[1, 3], [7, 7], [9, 9]]);
        assert_eq!(ab, at(&[1, 2, 7, 3, 9]));
    }
}
