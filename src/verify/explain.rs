//! Evidence for every rule: for each allow section of each policy, the
//! observed connections that go through it — initiator, responder, port,
//! counts, first/last seen and how their direction was decided. A section no
//! observed connection uses is over-permissive. The inverse view of
//! [`super::report`], built from the same engine decisions.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::graph::evidence::format_time;
use crate::graph::{PortStats, Tally, TrafficGraph};

use super::engine::Engine;
use super::model::peer_name;
use super::model::SectionRef;
use super::model::{Direction, Model, PolicyInfo};
use super::report::VerifyOptions;

/// One observed (initiator → responder, port) that a rule allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Justification {
    pub initiator: String,
    pub responder: String,
    pub port: String,
    pub connections: u64,
    pub flows: u64,
    pub first_seen: String,
    pub last_seen: String,
    /// Flows per evidence that decided the direction (`is_reply`, `tcp-flags`, …).
    pub direction: BTreeMap<String, u64>,
    /// Seen only as DROPPED (counted with `--include-dropped`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dropped: bool,
}

/// One allow section and what justifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleEvidence {
    pub policy: PolicyInfo,
    /// Field path of the section, e.g. `spec.egress[2]`.
    pub rule: String,
    pub direction: &'static str,
    pub justified_by: Vec<Justification>,
}

impl RuleEvidence {
    /// No observed connection uses the section.
    pub fn over_permissive(&self) -> bool {
        self.justified_by.is_empty()
    }
}

type SectionKey = (usize, Direction, usize);

fn justification(from: &str, to: &str, port: String, t: &Tally, dropped: bool) -> Justification {
    Justification {
        initiator: from.to_string(),
        responder: to.to_string(),
        port,
        connections: t.connections,
        flows: t.flows,
        first_seen: format_time(t.first_seen),
        last_seen: format_time(t.last_seen),
        direction: t
            .direction
            .iter()
            .map(|(b, n)| (b.as_str().to_string(), *n))
            .collect(),
        dropped,
    }
}

fn tally(stats: &PortStats, include_dropped: bool) -> Option<(&Tally, bool)> {
    match (&stats.allowed, &stats.dropped) {
        (Some(a), _) => Some((a, false)),
        (None, Some(d)) if include_dropped => Some((d, true)),
        _ => None,
    }
}

/// Every allow section of every policy, in policy order, with the observed
/// connections it allows.
pub fn explain(model: &Model, graph: &TrafficGraph, opts: &VerifyOptions) -> Vec<RuleEvidence> {
    let engine = Engine::new(model, graph);
    let mut by_section: BTreeMap<SectionKey, Vec<Justification>> = BTreeMap::new();
    for (from, to, edge) in graph.edges_sorted() {
        let (from_name, to_name) = (peer_name(from), peer_name(to));
        for (port, stats) in &edge.ports {
            let Some((t, dropped)) = tally(stats, opts.include_dropped) else {
                continue;
            };
            let dec = engine.decide(from, to, *port);
            let mut seen: Vec<SectionKey> = Vec::new();
            for r in dec.used.iter().filter(|r: &&SectionRef| !r.deny) {
                let key = (r.rule, r.direction, r.section);
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                by_section.entry(key).or_default().push(justification(
                    &from_name,
                    &to_name,
                    port.to_string(),
                    t,
                    dropped,
                ));
            }
        }
    }
    let mut out = Vec::new();
    for (ri, rule) in model.rules.iter().enumerate() {
        for dir in [Direction::Ingress, Direction::Egress] {
            for (si, section) in rule.sections(dir, false).iter().enumerate() {
                // `{}` (no peer at all) allows nothing: the default-deny idiom.
                if section.peers.is_empty() {
                    continue;
                }
                out.push(RuleEvidence {
                    policy: model.policies[rule.policy].clone(),
                    rule: section.path.clone(),
                    direction: dir.as_str(),
                    justified_by: by_section.remove(&(ri, dir, si)).unwrap_or_default(),
                });
            }
        }
    }
    out
}

/// Human-readable rendering: one block per policy, one line per rule, its
/// connections indented below; over-permissive rules say so.
pub fn render(rules: &[RuleEvidence]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let unused = rules.iter().filter(|r| r.over_permissive()).count();
    let _ = writeln!(
        out,
        "flowpolicy explain: {} rules, {} justified by observed connections, {} over-permissive",
        rules.len(),
        rules.len() - unused,
        unused
    );
    let mut current: Option<&PolicyInfo> = None;
    for r in rules {
        if current != Some(&r.policy) {
            let _ = writeln!(out, "\n{} ({})", r.policy, r.policy.source);
            current = Some(&r.policy);
        }
        if r.over_permissive() {
            let _ = writeln!(
                out,
                "  {} ({}): OVER-PERMISSIVE — no observed connection uses this rule",
                r.rule, r.direction
            );
            continue;
        }
        let conns: u64 = r.justified_by.iter().map(|j| j.connections).sum();
        let _ = writeln!(
            out,
            "  {} ({}): {} connections over {} edge ports",
            r.rule,
            r.direction,
            conns,
            r.justified_by.len()
        );
        for j in &r.justified_by {
            let how: Vec<String> = j
                .direction
                .iter()
                .map(|(b, n)| format!("{b} {n}"))
                .collect();
            let _ = writeln!(
                out,
                "    {} → {} {}: {} connections, {} flows, {} to {}; direction from {}{}",
                j.initiator,
                j.responder,
                j.port,
                j.connections,
                j.flows,
                j.first_seen,
                j.last_seen,
                if how.is_empty() {
                    "an older baseline (not recorded)".to_string()
                } else {
                    how.join(", ")
                },
                if j.dropped { " (seen DROPPED)" } else { "" }
            );
        }
    }
    out
}
