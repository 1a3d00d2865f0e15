//! The stability summary on stderr (recommend, observe): the verdict, new
//! edges per hour, the newest edges and the "next week" line (how much of
//! the last day was new, which workloads are still learning), so the user
//! knows whether the baseline is done; and the families of instances
//! written as one policy per role (recommend, explain).

use crate::brief;
use crate::graph::evidence::format_time;
use crate::graph::stability::{newest_edges, NextWeek, Stability, Verdict};
use crate::graph::TrafficGraph;
use crate::synth::roles::Family;
use crate::synth::SynthConfig;

/// Prints the stability lines for a graph; the "next week" line is measured
/// on the graph as synthesis with `cfg` reads it (roles, policy entities).
pub fn print(graph: &TrafficGraph, cfg: &SynthConfig) {
    print_measured(graph, || {
        NextWeek::of(&crate::synth::policy_view(graph, cfg))
    });
}

/// [`print`] with the "next week" measure from synthesis (or computed by
/// `next_week` only when the verdict needs it).
pub fn print_measured(graph: &TrafficGraph, next_week: impl FnOnce() -> NextWeek) {
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
    eprintln!("  next week: {}", next_week().line());
}

/// The families of instances in the flows, `how` they are written.
pub fn print_families(families: &[Family], how: &str) {
    if families.is_empty() {
        return;
    }
    eprintln!("  roles: {} families of instances {how}:", families.len());
    for f in families.iter().take(brief::CAP) {
        eprintln!("    {}", f.describe());
    }
    if families.len() > brief::CAP {
        eprintln!("    … and {} more families", families.len() - brief::CAP);
    }
}
