//! Is the baseline done? Derived from the graph alone: when each edge was
//! first seen, how many new edges appeared per hour of the window, and a
//! verdict.
//!
//! Time is flow time, not wall time: the window is the first to the last
//! flow of the baseline and "now" is its last flow, so the verdict is the
//! same for a live baseline, a replayed dump and a merged baseline. The rule:
//! **stable** when the window is at least 48 h and no edge appeared in its
//! last 24 h; otherwise **still learning**, with the number of edges first
//! seen in the last 6 h.

use std::time::Duration;

use serde::Serialize;

use super::{EdgeData, TrafficGraph};
use crate::peer::Peer;

/// Shortest window that can be called stable.
pub const MIN_WINDOW: Duration = Duration::from_secs(48 * 3600);
/// How long without a new edge before a long enough window is stable.
pub const QUIET_FOR: Duration = Duration::from_secs(24 * 3600);
/// "Recent" for the still-learning count.
pub const RECENT: Duration = Duration::from_secs(6 * 3600);

const HOUR_NS: i64 = 3_600_000_000_000;

/// First and last time (ns) any port of an edge saw traffic (0: unknown).
pub fn edge_span(e: &EdgeData) -> (i64, i64) {
    let mut first = 0i64;
    let mut last = 0i64;
    for stats in e.ports.values() {
        let (f, l, _) = port_span(stats);
        if f != 0 && (first == 0 || f < first) {
            first = f;
        }
        last = last.max(l);
    }
    (first, last)
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No timed flow at all.
    Empty,
    /// Long enough and quiet long enough.
    Stable,
    /// New edges may still come.
    StillLearning,
}

/// Stability signals of a graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stability {
    /// First and last flow (ns since the epoch).
    pub window_start: i64,
    pub window_end: i64,
    pub edges: usize,
    /// First-seen time of the newest edge.
    pub last_new_edge: i64,
    /// New edges per hour of the window, oldest hour first.
    pub new_per_hour: Vec<u64>,
    /// Edges first seen within [`RECENT`] of the window's end.
    pub recent_new: usize,
    pub verdict: Verdict,
}

impl Stability {
    pub fn of(graph: &TrafficGraph) -> Stability {
        let (start, end) = (graph.coverage.first_flow, graph.coverage.last_flow);
        // Counts and a maximum: in the graph's own order, not sorted.
        let firsts: Vec<i64> = graph
            .edges()
            .map(|(_, _, e)| edge_span(e).0)
            .filter(|t| *t != 0)
            .collect();
        let last_new_edge = firsts.iter().copied().max().unwrap_or(0);
        let hours = if end > start {
            ((end - start) / HOUR_NS + 1) as usize
        } else {
            1
        };
        let mut new_per_hour = vec![0u64; hours.min(24 * 366)];
        for t in &firsts {
            let i = ((t - start).max(0) / HOUR_NS) as usize;
            if let Some(slot) = new_per_hour.get_mut(i.min(hours - 1)) {
                *slot += 1;
            }
        }
        let recent_from = end - RECENT.as_nanos() as i64;
        let recent_new = firsts.iter().filter(|t| **t > recent_from).count();
        let verdict = if start == 0 || end == 0 {
            Verdict::Empty
        } else if end - start >= MIN_WINDOW.as_nanos() as i64
            && end - last_new_edge >= QUIET_FOR.as_nanos() as i64
        {
            Verdict::Stable
        } else {
            Verdict::StillLearning
        };
        Stability {
            window_start: start,
            window_end: end,
            edges: graph.edge_count(),
            last_new_edge,
            new_per_hour,
            recent_new,
            verdict,
        }
    }

    /// Length of the window.
    pub fn window(&self) -> Duration {
        ns(self.window_end - self.window_start)
    }

    /// Time from the newest edge to the end of the window.
    pub fn quiet(&self) -> Duration {
        if self.last_new_edge == 0 {
            return self.window();
        }
        ns(self.window_end - self.last_new_edge)
    }

    /// One line: the verdict and why.
    pub fn verdict_line(&self) -> String {
        match self.verdict {
            Verdict::Empty => "no timed flows: nothing to judge".to_string(),
            Verdict::Stable => format!(
                "stable: no new edge for {} (window {})",
                span(self.quiet()),
                span(self.window())
            ),
            Verdict::StillLearning => {
                let why = if self.window() < MIN_WINDOW {
                    format!(
                        "window {} of at least {}",
                        span(self.window()),
                        span(MIN_WINDOW)
                    )
                } else {
                    format!(
                        "no new edge for {} of the {} needed",
                        span(self.quiet()),
                        span(QUIET_FOR)
                    )
                };
                format!(
                    "still learning: {} new edge{} in the last {} ({why}; last new edge {} before the last flow)",
                    self.recent_new,
                    if self.recent_new == 1 { "" } else { "s" },
                    span(RECENT.min(self.window())),
                    span(self.quiet()),
                )
            }
        }
    }

    /// New edges per hour, the last `n` hours, as `12 3 0 0 1`.
    pub fn per_hour_line(&self, n: usize) -> String {
        let skip = self.new_per_hour.len().saturating_sub(n);
        let tail: Vec<String> = self.new_per_hour[skip..]
            .iter()
            .map(u64::to_string)
            .collect();
        let label = if skip > 0 {
            format!("last {} h of {} h", n, self.new_per_hour.len())
        } else {
            format!("{} h", self.new_per_hour.len())
        };
        format!(
            "new edges per hour ({label}, oldest first): {}",
            tail.join(" ")
        )
    }
}

/// "Next week": will the policies of this baseline hold tomorrow? Of the
/// connection classes (edge ports: initiator, responder, port) with traffic
/// in the last day of the window, how many were first seen that day, and
/// which workloads still got new ones then: the user's signal that the
/// baseline is not long enough yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NextWeek {
    /// Start of the last day (ns): the window's end minus 24 h.
    pub since: i64,
    /// The window is shorter than two days: every class is new in it.
    pub short_window: bool,
    /// Edge ports with traffic in the last day.
    pub active: usize,
    /// Of them, first seen in the last day.
    pub new: usize,
    /// Connections on the new edge ports.
    pub new_connections: u64,
    /// Workloads at either end of a new edge port, as `namespace/name`, sorted.
    pub learning: Vec<String>,
}

impl NextWeek {
    pub fn of(graph: &TrafficGraph) -> NextWeek {
        let (start, end) = (graph.coverage.first_flow, graph.coverage.last_flow);
        let day = QUIET_FOR.as_nanos() as i64;
        let since = end - day;
        let mut out = NextWeek {
            since,
            short_window: end - start < 2 * day,
            ..NextWeek::default()
        };
        // Peers first, their names once each (a name per port was ~20 000
        // strings on a 2 000-edge graph); each graph node once, by its
        // address (a sorted set compared whole peers, label by label, a
        // tenth of synthesis).
        let mut seen: rustc_hash::FxHashSet<*const Peer> = Default::default();
        let mut learning: Vec<&Peer> = Vec::new();
        // Counts and a sorted set of names: in the graph's own order.
        for (from, to, e) in graph.edges() {
            for stats in e.ports.values() {
                let (first, last, connections) = port_span(stats);
                if last < since || last == 0 {
                    continue;
                }
                out.active += 1;
                if first >= since {
                    out.new += 1;
                    out.new_connections += connections;
                    for p in [from, to] {
                        if p.as_workload().is_some() && seen.insert(p as *const Peer) {
                            learning.push(p);
                        }
                    }
                }
            }
        }
        let names: std::collections::BTreeSet<String> =
            learning.into_iter().map(ToString::to_string).collect();
        out.learning = names.into_iter().collect();
        out
    }

    /// The share of the last day's classes that were new, in percent.
    pub fn percent(&self) -> f64 {
        if self.active == 0 {
            0.0
        } else {
            100.0 * self.new as f64 / self.active as f64
        }
    }

    /// One line: the share and what it means.
    pub fn line(&self) -> String {
        if self.active == 0 {
            return "no traffic in the last 24 h of the window".to_string();
        }
        let share = format!(
            "{:.0} % of the connection classes of the last 24 h were first seen in it ({} of {}, {} connections)",
            self.percent(),
            self.new,
            self.active,
            self.new_connections
        );
        if self.short_window {
            format!("{share}; the window is shorter than two days, so that day is the whole baseline: observe longer")
        } else if self.new == 0 {
            format!("{share}: nothing is still learning")
        } else if self.learning.is_empty() {
            format!("{share}; no workload is at either end of them")
        } else {
            format!(
                "{share}; still learning: {}",
                crate::brief::list(&self.learning)
            )
        }
    }
}

/// First and last seen (ns) and connections of one edge port, allowed and
/// dropped together.
fn port_span(stats: &super::PortStats) -> (i64, i64, u64) {
    let (mut first, mut last, mut connections) = (0i64, 0i64, 0u64);
    for t in [&stats.allowed, &stats.dropped].into_iter().flatten() {
        if t.first_seen != 0 && (first == 0 || t.first_seen < first) {
            first = t.first_seen;
        }
        last = last.max(t.last_seen);
        connections += t.connections;
    }
    (first, last, connections)
}

/// The `n` edges first seen most recently: (initiator, responder, first seen),
/// the newest first and, at the same time, by peers. Picked in one pass over
/// the graph's edges, unsorted: the order is total (one edge per pair of
/// peers), so the graph's own order cannot change the answer.
pub fn newest_edges(graph: &TrafficGraph, n: usize) -> Vec<(&Peer, &Peer, i64)> {
    let before = |x: &(&Peer, &Peer, i64), y: &(&Peer, &Peer, i64)| {
        y.2.cmp(&x.2).then_with(|| (x.0, x.1).cmp(&(y.0, y.1)))
    };
    let mut best: Vec<(&Peer, &Peer, i64)> = Vec::with_capacity(n + 1);
    for (from, to, e) in graph.edges() {
        let edge = (from, to, edge_span(e).0);
        if best.len() == n && best.last().is_none_or(|w| before(&edge, w).is_ge()) {
            continue;
        }
        let at = best.partition_point(|b| before(b, &edge).is_lt());
        best.insert(at, edge);
        best.truncate(n);
    }
    best
}

fn ns(v: i64) -> Duration {
    Duration::from_nanos(v.max(0) as u64)
}

/// `36 h`, `2.5 d`, `12 min`, `40 s`.
pub fn span(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 4.0 * 86400.0 {
        format!("{:.1} d", s / 86400.0)
    } else if s >= 2.0 * 3600.0 {
        format!("{:.0} h", s / 3600.0)
    } else if s >= 120.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{s:.0} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{evidence::Tally, PortStats};
    use crate::peer::l4::{PortKey, Proto};
    use crate::peer::Entity;

    fn graph_with_edges(times_h: &[i64], window_h: i64) -> TrafficGraph {
        let mut g = TrafficGraph::new();
        let base = 1_700_000_000 * 1_000_000_000i64;
        for (i, h) in times_h.iter().enumerate() {
            let t = base + h * HOUR_NS;
            let stats = PortStats {
                allowed: Some(Tally {
                    connections: 1,
                    flows: 1,
                    first_seen: t,
                    last_seen: t,
                    sample: String::new(),
                    ..Tally::default()
                }),
                ..PortStats::default()
            };
            let key = PortKey {
                proto: Proto::Tcp,
                port: i as u16 + 1,
            };
            let to = Peer::Fqdn(format!("e{i}.example"));
            g.insert_port(&Peer::Entity(Entity::Host), &to, key, &stats);
        }
        g.coverage.see_time(base);
        g.coverage.see_time(base + window_h * HOUR_NS);
        g
    }

    /// Picked in one pass, the newest edges are the first `n` of all the
    /// edges sorted newest first and then by peers, ties included.
    #[test]
    fn newest_edges_are_the_head_of_the_sorted_edges() {
        let g = graph_with_edges(&[3, 7, 7, 1, 7, 5, 3, 7, 0, 6], 8);
        let mut all: Vec<(&Peer, &Peer, i64)> = g
            .edges_sorted()
            .into_iter()
            .map(|(a, b, e)| (a, b, edge_span(e).0))
            .collect();
        all.sort_by(|x, y| y.2.cmp(&x.2).then_with(|| (x.0, x.1).cmp(&(y.0, y.1))));
        for n in 0..=12 {
            let want: Vec<_> = all.iter().take(n).copied().collect();
            assert_eq!(newest_edges(&g, n), want, "n = {n}");
        }
    }

    #[test]
    fn next_week_counts_the_last_days_new_classes_and_who_is_learning() {
        let mut g = graph_with_edges(&[0, 50, 59], 60);
        // A class first seen at hour 1 and still used at hour 55.
        let base = 1_700_000_000 * 1_000_000_000i64;
        let stats = PortStats {
            allowed: Some(Tally {
                connections: 4,
                flows: 4,
                first_seen: base + HOUR_NS,
                last_seen: base + 55 * HOUR_NS,
                ..Tally::default()
            }),
            ..PortStats::default()
        };
        let web = Peer::Workload(crate::peer::WorkloadKey::from_pairs(
            "shop",
            &[("app", "web")],
        ));
        let key = PortKey {
            proto: Proto::Tcp,
            port: 80,
        };
        g.insert_port(&web, &Peer::Fqdn("old.example".into()), key, &stats);
        let n = NextWeek::of(&g);
        assert!(!n.short_window);
        assert_eq!((n.active, n.new, n.new_connections), (3, 2, 2));
        assert!(n.learning.is_empty(), "only entities and names are new");
        assert!(
            n.line().starts_with("67 % of the connection classes"),
            "{}",
            n.line()
        );
        assert!(n.line().contains("no workload"), "{}", n.line());
        let short = NextWeek::of(&graph_with_edges(&[0, 5], 10));
        assert!(short.short_window);
        assert!(
            short.line().contains("shorter than two days"),
            "{}",
            short.line()
        );
    }

    #[test]
    fn quiet_long_window_is_stable() {
        let s = Stability::of(&graph_with_edges(&[0, 1, 5, 12], 60));
        assert_eq!(s.verdict, Verdict::Stable);
        assert_eq!(s.new_per_hour.len(), 61);
        assert_eq!(s.new_per_hour[0..2], [1, 1]);
        assert!(
            s.verdict_line().starts_with("stable: no new edge for 48 h"),
            "{}",
            s.verdict_line()
        );
    }

    #[test]
    fn recent_edges_or_short_window_still_learn() {
        let s = Stability::of(&graph_with_edges(&[0, 55, 58], 60));
        assert_eq!(s.verdict, Verdict::StillLearning);
        assert_eq!(s.recent_new, 2);
        assert!(s
            .verdict_line()
            .starts_with("still learning: 2 new edges in the last 6 h"));
        let s = Stability::of(&graph_with_edges(&[0], 10));
        assert_eq!(s.verdict, Verdict::StillLearning);
        assert!(
            s.verdict_line().contains("window 10 h of at least 48 h"),
            "{}",
            s.verdict_line()
        );
        assert_eq!(Stability::of(&TrafficGraph::new()).verdict, Verdict::Empty);
    }
}
