//! `verify --against-recorded`: the simulation checked against what Cilium
//! itself recorded. On a capture from a cluster that enforced the policies
//! being verified, every observed (edge, port) is decided by the engine and
//! compared with the verdicts Hubble recorded for it:
//!
//! - **dropped, but allowed**: flows DROPPED with a policy reason
//!   (POLICY_DENIED, POLICY_DENY) that the policies would allow;
//! - **forwarded, but dropped**: flows delivered (FORWARDED, REDIRECTED,
//!   TRACED) that the policies would drop;
//! - **audited, but allowed**: AUDIT flows (Cilium's policy would have
//!   dropped them; audit mode let them through) that the policies allow.
//!
//! Drops for other reasons (conntrack, routing, errors) say nothing about
//! policy and are not compared. An (edge, port) whose decision depends on
//! what the flows do not carry is counted as undecided, never as a
//! disagreement. Every disagreement is a place where verify and the real
//! engine differ: either the policies given are not those in force, or
//! verify is wrong.

use serde::Serialize;

use super::engine::Engine;
use super::model::{peer_name, Model};
use super::report::{edges, port_report, EdgeReport, Groups};
use super::tri::Tri;
use crate::graph::TrafficGraph;

/// How the recorded verdicts and the simulation compared, in edge ports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecordedSummary {
    /// Edge ports compared (with delivered, audited or policy-dropped flows).
    pub compared: u64,
    pub agree: u64,
    pub dropped_but_allowed: u64,
    pub forwarded_but_dropped: u64,
    pub audited_but_allowed: u64,
    /// Edge ports whose simulated verdict is `unknown` offline.
    pub undecided: u64,
}

/// The comparison, grouped by peer pair, each port with its sample flow and
/// the rule that decided the simulation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecordedReport {
    pub summary: RecordedSummary,
    pub dropped_but_allowed: Vec<EdgeReport>,
    pub forwarded_but_dropped: Vec<EdgeReport>,
    pub audited_but_allowed: Vec<EdgeReport>,
}

impl RecordedReport {
    /// Whether the simulation and Cilium agree everywhere they can be
    /// compared.
    pub fn agrees(&self) -> bool {
        self.summary.dropped_but_allowed
            + self.summary.forwarded_but_dropped
            + self.summary.audited_but_allowed
            == 0
    }
}

/// Compares every observed (edge, port) of `graph` with the model.
pub fn compare(model: &Model, graph: &TrafficGraph) -> RecordedReport {
    let engine = Engine::new(model, graph);
    let mut s = RecordedSummary::default();
    let (mut dropped, mut forwarded, mut audited_groups) =
        (Groups::new(), Groups::new(), Groups::new());
    for (from, to, edge) in graph.edges_sorted() {
        for (port, stats) in &edge.ports {
            let audit = stats.audit_flows;
            let delivered = stats
                .allowed
                .as_ref()
                .filter(|t| t.flows > audit)
                .map(|t| (t, t.flows - audit));
            let denied = stats.dropped.as_ref().filter(|t| t.policy_denied > 0);
            let audited = stats.allowed.as_ref().filter(|_| audit > 0);
            if delivered.is_none() && denied.is_none() && audited.is_none() {
                continue;
            }
            s.compared += 1;
            let dec = engine.decide(from, to, *port);
            let key = (peer_name(from), peer_name(to));
            let mut differs = false;
            match dec.verdict {
                Tri::Unknown => {
                    s.undecided += 1;
                    continue;
                }
                Tri::Yes => {
                    if let Some(t) = denied {
                        s.dropped_but_allowed += 1;
                        differs = true;
                        dropped
                            .entry(key.clone())
                            .or_default()
                            .push(port_report(model, *port, t, &dec));
                    }
                    if let Some(t) = audited {
                        s.audited_but_allowed += 1;
                        differs = true;
                        audited_groups
                            .entry(key)
                            .or_default()
                            .push(port_report(model, *port, t, &dec));
                    }
                }
                Tri::No => {
                    if let Some((t, _)) = delivered {
                        s.forwarded_but_dropped += 1;
                        differs = true;
                        forwarded
                            .entry(key)
                            .or_default()
                            .push(port_report(model, *port, t, &dec));
                    }
                }
            }
            if !differs {
                s.agree += 1;
            }
        }
    }
    RecordedReport {
        summary: s,
        dropped_but_allowed: edges(dropped),
        forwarded_but_dropped: edges(forwarded),
        audited_but_allowed: edges(audited_groups),
    }
}

/// The comparison as text: the counts, then each disagreement with its
/// sample flow and the rule (or default deny) that decided.
pub fn render(r: &RecordedReport) -> String {
    let s = &r.summary;
    let mut out = format!(
        "against recorded verdicts: {} edge ports compared, {} agree, {} dropped by Cilium but allowed, {} forwarded by Cilium but dropped, {} audited but allowed, {} undecided offline\n",
        s.compared,
        s.agree,
        s.dropped_but_allowed,
        s.forwarded_but_dropped,
        s.audited_but_allowed,
        s.undecided
    );
    for (title, list) in [
        (
            "Cilium DROPPED (policy) but these policies allow",
            &r.dropped_but_allowed,
        ),
        (
            "Cilium FORWARDED but these policies drop",
            &r.forwarded_but_dropped,
        ),
        (
            "Cilium AUDITED (would drop) but these policies allow",
            &r.audited_but_allowed,
        ),
    ] {
        if list.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{title}:\n"));
        for e in list {
            for p in &e.ports {
                out.push_str(&format!(
                    "  {} -> {} {}: {} flows, {} connections\n    sample: {}\n",
                    e.source, e.destination, p.port, p.flows, p.connections, p.sample
                ));
                for d in &p.directions {
                    let rule = d
                        .rule
                        .as_ref()
                        .map(|r| format!(" by {} {}", r.policy, r.rule))
                        .unwrap_or_default();
                    out.push_str(&format!(
                        "    {} at {}: {}{rule} ({})\n",
                        d.direction, d.endpoint, d.verdict, d.reason
                    ));
                }
            }
        }
    }
    out
}
