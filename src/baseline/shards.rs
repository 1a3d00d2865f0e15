//! Checking shards before trusting their sum: which node each input baseline
//! covers and when ([`NodeCoverage`]), the same node in two inputs at
//! overlapping times (its flows and connections would be counted twice),
//! and hours in which a node reported nothing while others did (gaps).
//!
//! Built from the per-node coverage each baseline carries; holds one small
//! record per (input, node), never a graph.

use std::collections::BTreeMap;

use crate::graph::node_coverage::HOUR_NS;
use crate::graph::{Coverage, NodeCoverage};

/// One node's part of one input.
#[derive(Debug, Clone)]
pub struct ShardPart {
    pub file: String,
    pub coverage: NodeCoverage,
    pub lost: u64,
}

/// The per-node parts of every baseline input, in input order.
#[derive(Debug, Clone, Default)]
pub struct Shards {
    pub by_node: BTreeMap<String, Vec<ShardPart>>,
}

/// The same node in two inputs at overlapping flow times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    pub node: String,
    pub files: (String, String),
    /// The overlapping flow times (ns).
    pub from: i64,
    pub to: i64,
}

/// Hours (inclusive, since the epoch) in which a node reported no flow
/// while the inputs as a whole cover them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub node: String,
    pub hours: [i64; 2],
}

/// A row of the per-node summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub node: String,
    pub inputs: usize,
    pub coverage: NodeCoverage,
    pub lost: u64,
    pub gap_hours: i64,
}

/// What the check found.
#[derive(Debug, Clone, Default)]
pub struct ShardCheck {
    pub rows: Vec<NodeRow>,
    pub overlaps: Vec<Overlap>,
    pub gaps: Vec<Gap>,
}

impl Shards {
    /// Notes the per-node coverage of one input baseline.
    pub fn add(&mut self, file: &str, coverage: &Coverage) {
        for (node, c) in &coverage.nodes {
            self.by_node
                .entry(node.clone())
                .or_default()
                .push(ShardPart {
                    file: file.to_string(),
                    coverage: c.clone(),
                    lost: coverage.lost_events.get(node).copied().unwrap_or(0),
                });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_node.is_empty()
    }

    /// Overlaps between inputs per node, gaps per node over the hours all
    /// inputs together cover, and a row per node.
    pub fn check(&self) -> ShardCheck {
        let mut out = ShardCheck::default();
        let hours = self
            .by_node
            .values()
            .flatten()
            .flat_map(|p| p.coverage.hours.iter())
            .fold(None, |span: Option<[i64; 2]>, h| {
                Some(span.map_or(*h, |s| [s[0].min(h[0]), s[1].max(h[1])]))
            });
        for (node, parts) in &self.by_node {
            for (i, a) in parts.iter().enumerate() {
                for b in &parts[i + 1..] {
                    let (ca, cb) = (&a.coverage, &b.coverage);
                    let from = ca.first_flow.max(cb.first_flow);
                    let to = ca.last_flow.min(cb.last_flow);
                    let timed = ca.first_flow != 0 && cb.first_flow != 0;
                    // Touching at one instant is a resumed stream, not an overlap.
                    if timed && (from < to || (a.file == b.file && from <= to)) {
                        out.overlaps.push(Overlap {
                            node: node.clone(),
                            files: (a.file.clone(), b.file.clone()),
                            from,
                            to,
                        });
                    }
                }
            }
            let mut all = NodeCoverage::default();
            for p in parts {
                all.merge(&p.coverage);
            }
            let gaps = hours.map(|h| all.gaps(h[0], h[1])).unwrap_or_default();
            out.rows.push(NodeRow {
                node: node.clone(),
                inputs: parts.len(),
                lost: parts.iter().map(|p| p.lost).sum(),
                gap_hours: gaps.iter().map(|g| g[1] - g[0] + 1).sum(),
                coverage: all,
            });
            out.gaps.extend(gaps.into_iter().map(|hours| Gap {
                node: node.clone(),
                hours,
            }));
        }
        out
    }
}

/// An hour number as `YYYY-MM-DDTHH:00Z`.
pub fn format_hour(hour: i64) -> String {
    chrono::DateTime::from_timestamp(hour.saturating_mul(HOUR_NS / 1_000_000_000), 0)
        .map(|t| t.format("%Y-%m-%dT%H:00Z").to_string())
        .unwrap_or_else(|| hour.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cov(node: &str, hours: &[i64]) -> Coverage {
        let mut c = Coverage::default();
        for h in hours {
            c.see_node(node, h * HOUR_NS + 1);
        }
        c
    }

    #[test]
    fn overlaps_and_gaps_are_found() {
        let mut s = Shards::default();
        s.add("a-1.baseline", &cov("a", &[0, 1]));
        s.add("a-2.baseline", &cov("a", &[0, 2]));
        s.add("b.baseline", &cov("b", &[0, 3]));
        let check = s.check();
        assert_eq!(check.overlaps.len(), 1, "{check:?}");
        assert_eq!(check.overlaps[0].node, "a");
        assert_eq!(
            check.gaps,
            vec![
                Gap {
                    node: "a".into(),
                    hours: [3, 3]
                },
                Gap {
                    node: "b".into(),
                    hours: [1, 2]
                }
            ]
        );
        assert_eq!(check.rows[0].inputs, 2);
        assert_eq!(format_hour(0), "1970-01-01T00:00Z");
    }
}
