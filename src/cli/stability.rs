//! The stability summary on stderr (recommend, observe): the verdict, new
//! edges per hour and the newest edges, so the user knows whether the
//! baseline is done.

use crate::graph::evidence::format_time;
use crate::graph::stability::{newest_edges, Stability, Verdict};
use crate::graph::TrafficGraph;

/// Prints the stability lines for a graph.
pub fn print(graph: &TrafficGraph) {
    let s = Stability::of(graph);
    eprintln!("  baseline: {}", s.verdict_line());
    if s.verdict == Verdict::Empty {
        return;
    }
    eprintln!(
        "  window {} to {}; {}",
        format_time(s.window_start),
        format_time(s.window_end),
        s.per_hour_line(24)
    );
    if s.verdict == Verdict::StillLearning {
        for (from, to, t) in newest_edges(graph, 3) {
            eprintln!(
                "    newest edge: {from} -> {to} first seen {}",
                format_time(t)
            );
        }
    }
}
