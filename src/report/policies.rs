//! The report's section for one policy set (`--policies`): the verify
//! summary (what enforcing it would drop), the dropped connections, and the
//! over-permissive rules (unused, broad or selecting nothing), from
//! [`crate::verify::verify`] and [`crate::verify::explain::explain`].

use serde::Serialize;

use crate::graph::TrafficGraph;
use crate::policy::LoadedPolicies;
use crate::verify::report::Summary;
use crate::verify::{self, explain, Model, VerifyOptions};

/// Most rows listed per table of a policy set; the rest are counted.
pub const ROWS_LISTED: usize = 100;

/// An observed connection the policies would drop (or cannot decide).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DropRow {
    pub source: String,
    pub destination: String,
    pub port: String,
    pub connections: u64,
    pub flows: u64,
    /// Why, from the deciding direction.
    pub reason: String,
}

/// A rule that allows more than was observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverRow {
    /// `selects-nothing`, `unused-rule`, `unused-port` or `broad-peer`.
    pub kind: &'static str,
    pub policy: String,
    pub source: String,
    pub rule: String,
    pub message: String,
}

/// One policy set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicySetSection {
    /// The `--policies` path as given.
    pub path: String,
    pub invalid_documents: usize,
    pub summary: Summary,
    /// Allow rules (sections) and how many observed connections justify.
    pub rules: usize,
    pub rules_justified: usize,
    pub would_drop: Vec<DropRow>,
    pub would_drop_more: usize,
    pub unknown: Vec<DropRow>,
    pub unknown_more: usize,
    pub over_permissive: Vec<OverRow>,
    pub over_permissive_more: usize,
    pub notes: Vec<String>,
}

fn rows(edges: &[verify::report::EdgeReport], verdict: &str) -> Vec<DropRow> {
    let mut out = Vec::new();
    for e in edges {
        for p in &e.ports {
            let reason = p
                .directions
                .iter()
                .find(|d| d.verdict == verdict)
                .or(p.directions.first())
                .map(|d| d.reason.clone())
                .unwrap_or_default();
            out.push(DropRow {
                source: e.source.clone(),
                destination: e.destination.clone(),
                port: p.port.clone(),
                connections: p.connections,
                flows: p.flows,
                reason,
            });
        }
    }
    out
}

fn capped<T>(mut v: Vec<T>) -> (Vec<T>, usize) {
    let more = v.len().saturating_sub(ROWS_LISTED);
    v.truncate(ROWS_LISTED);
    (v, more)
}

/// Verifies and explains `graph` against one loaded policy set.
pub fn section(path: &str, loaded: &LoadedPolicies, graph: &TrafficGraph) -> PolicySetSection {
    let opts = VerifyOptions::default();
    let report = verify::verify(graph, loaded, &opts);
    let model = Model::compile(loaded);
    let rules = explain::explain(&model, graph, &opts);
    let (would_drop, would_drop_more) = capped(rows(&report.dropped, "dropped"));
    let (unknown, unknown_more) = capped(rows(&report.unknown, "unknown"));
    let over: Vec<OverRow> = report
        .over_permissive
        .iter()
        .map(|f| OverRow {
            kind: f.kind,
            policy: f.policy.to_string(),
            source: f.policy.source.clone(),
            rule: f.rule.clone(),
            message: f.message.clone(),
        })
        .collect();
    let (over_permissive, over_permissive_more) = capped(over);
    PolicySetSection {
        path: path.to_string(),
        invalid_documents: loaded.invalid.len(),
        summary: report.summary.clone(),
        rules: rules.len(),
        rules_justified: rules.iter().filter(|r| !r.over_permissive()).count(),
        would_drop,
        would_drop_more,
        unknown,
        unknown_more,
        over_permissive,
        over_permissive_more,
        notes: report.notes.clone(),
    }
}
