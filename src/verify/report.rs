//! The verification report: every observed (edge, port) decided, grouped
//! by edge into allowed / dropped / unknown, with counts, a sample flow and
//! the deciding policy rule per direction; and the over-permissive
//! findings (rules that allow what was never observed). Serializes as the
//! stable `-o json` document (see docs/verify.md).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::graph::{PortStats, Tally, TrafficGraph};
use crate::peer::l4::PortKey;
use crate::peer::Peer;

use super::engine::{Decision, DirDecision, Engine};
use super::findings::{self, Finding};
use super::model::{peer_name, rule_ref, Model, RuleRef, SectionRef};
use super::requests::{ClassInput, RequestFindings, RequestReport, RequestSummary};
use super::tri::{verdict_name, Tri};

/// Version of the JSON document layout.
pub const REPORT_VERSION: u32 = 1;

/// Options of one verification run.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Also require traffic that Hubble saw DROPPED to be allowed.
    pub include_dropped: bool,
}

/// Connections, flows and (edge, port) pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub edge_ports: u64,
    pub connections: u64,
    pub flows: u64,
}

impl Counts {
    fn add(&mut self, t: &Tally) {
        self.edge_ports += 1;
        self.connections += t.connections;
        self.flows += t.flows;
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub policies: usize,
    pub rules: usize,
    /// Traffic that was delivered when observed (FORWARDED/REDIRECTED/AUDIT).
    pub observed: Counts,
    pub allowed: Counts,
    pub dropped: Counts,
    pub unknown: Counts,
    /// Traffic Hubble saw DROPPED (only counted above with `--include-dropped`).
    pub observed_dropped: Counts,
    /// Of that, what these policies would now allow.
    pub observed_dropped_now_allowed: Counts,
    /// Observed HTTP requests checked against the HTTP rules.
    pub requests: RequestSummary,
}

/// One direction of one decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirReport {
    pub direction: &'static str,
    /// The pod whose policy decided.
    pub endpoint: String,
    pub verdict: &'static str,
    /// One sentence.
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub enforced_by: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
}

/// One port of an edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortReport {
    pub port: String,
    pub protocol: &'static str,
    pub number: u16,
    pub verdict: &'static str,
    pub connections: u64,
    pub flows: u64,
    pub sample: String,
    pub directions: Vec<DirReport>,
}

/// An edge (source → destination) and its ports of one verdict class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeReport {
    pub source: String,
    pub destination: String,
    pub ports: Vec<PortReport>,
}

/// The whole result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub version: u32,
    pub summary: Summary,
    pub dropped: Vec<EdgeReport>,
    pub unknown: Vec<EdgeReport>,
    pub allowed: Vec<EdgeReport>,
    /// Traffic Hubble saw DROPPED, as these policies would treat it.
    pub observed_dropped: Vec<EdgeReport>,
    /// Observed HTTP requests Envoy would answer with 403.
    pub requests_denied: Vec<RequestReport>,
    /// Observed HTTP requests whose L7 verdict cannot be decided offline.
    pub requests_unknown: Vec<RequestReport>,
    /// Observed HTTP requests the policies allow (only with `--explain`).
    pub requests_allowed: Vec<RequestReport>,
    pub over_permissive: Vec<Finding>,
    /// Parts of the policies that were not evaluated.
    pub notes: Vec<String>,
}

impl Report {
    /// Whether anything that was delivered when observed would be dropped.
    pub fn has_drops(&self) -> bool {
        self.summary.dropped.edge_ports > 0
    }

    /// Whether the policies would break observed traffic: a dropped
    /// connection or a request answered with 403.
    pub fn has_failures(&self) -> bool {
        self.has_drops() || self.summary.requests.denied.samples > 0
    }
}

pub(crate) fn dir_report(model: &Model, d: &DirDecision) -> DirReport {
    let enforced: Vec<String> = d
        .enforced_by
        .iter()
        .map(|p| model.policies[*p].to_string())
        .collect();
    let (reason, rule) = match d.verdict {
        Tri::Yes => match (&d.allowed_by, d.host_default) {
            (_, true) => ("host → local pod is always allowed".to_string(), None),
            (Some(r), _) => {
                let rr = rule_ref(model, r);
                let l7 = if d.l7.is_empty() {
                    String::new()
                } else {
                    format!("; {} rules then filter requests", d.l7.join("/"))
                };
                (
                    format!("allowed by {} {}{l7}", rr.policy, rr.rule),
                    Some(rr),
                )
            }
            (None, _) => (
                format!("no policy enforces {} on it", d.direction.as_str()),
                None,
            ),
        },
        Tri::No => match &d.denied_by {
            Some(r) => {
                let rr = rule_ref(model, r);
                (format!("denied by {} {}", rr.policy, rr.rule), Some(rr))
            }
            None => (
                format!(
                    "default deny ({} enforced by {}); no rule allows it",
                    d.direction.as_str(),
                    enforced.join(", ")
                ),
                None,
            ),
        },
        Tri::Unknown => ("cannot be decided offline".to_string(), None),
    };
    DirReport {
        direction: d.direction.as_str(),
        endpoint: peer_name(&d.endpoint),
        verdict: verdict_name(d.verdict),
        reason,
        rule,
        enforced_by: enforced,
        hints: d.hints.clone(),
        unknown: d.unknown.clone(),
    }
}

pub(crate) fn port_report(model: &Model, port: PortKey, t: &Tally, dec: &Decision) -> PortReport {
    PortReport {
        port: port.to_string(),
        protocol: port.proto.as_str(),
        number: port.port,
        verdict: verdict_name(dec.verdict),
        connections: t.connections,
        flows: t.flows,
        sample: t.sample.clone(),
        directions: [&dec.egress, &dec.ingress]
            .into_iter()
            .flatten()
            .map(|d| dir_report(model, d))
            .collect(),
    }
}

pub(crate) type Groups = BTreeMap<(String, String), Vec<PortReport>>;

fn push(groups: &mut Groups, from: &Peer, to: &Peer, p: PortReport) {
    groups
        .entry((peer_name(from), peer_name(to)))
        .or_default()
        .push(p);
}

pub(crate) fn edges(groups: Groups) -> Vec<EdgeReport> {
    groups
        .into_iter()
        .map(|((source, destination), ports)| EdgeReport {
            source,
            destination,
            ports,
        })
        .collect()
}

/// The tally that decides how an (edge, port) is classified.
fn observed(stats: &PortStats, include_dropped: bool) -> Option<(&Tally, bool)> {
    match (&stats.allowed, &stats.dropped) {
        (Some(a), _) => Some((a, true)),
        (None, Some(d)) => Some((d, include_dropped)),
        (None, None) => None,
    }
}

/// Verifies every observed connection of the graph against the model.
pub fn build(model: &Model, graph: &TrafficGraph, opts: &VerifyOptions) -> Report {
    let engine = Engine::new(model, graph);
    let mut summary = Summary {
        policies: model.policies.len(),
        rules: model.rules.len(),
        ..Summary::default()
    };
    let (mut dropped, mut unknown, mut allowed, mut was_dropped) =
        (Groups::new(), Groups::new(), Groups::new(), Groups::new());
    let mut used: BTreeMap<SectionRef, u64> = BTreeMap::new();
    let mut requests = RequestFindings::default();
    for (from, to, edge) in graph.edges_sorted() {
        for (port, stats) in &edge.ports {
            let Some((tally, required)) = observed(stats, opts.include_dropped) else {
                continue;
            };
            let dec = engine.decide(from, to, *port);
            for r in &dec.used {
                *used.entry(*r).or_default() += 1;
            }
            let report = port_report(model, *port, tally, &dec);
            if !required {
                summary.observed_dropped.add(tally);
                if dec.verdict.is_yes() {
                    summary.observed_dropped_now_allowed.add(tally);
                }
                push(&mut was_dropped, from, to, report);
                continue;
            }
            summary.observed.add(tally);
            // With --include-dropped, DROPPED HTTP requests are required too.
            let joined;
            let l7 = if opts.include_dropped && stats.has_dropped_l7() {
                joined = stats.with_dropped_l7();
                &joined
            } else {
                stats
            };
            let (classes, overflow) = http_classes(l7);
            requests.add_port(model, &dec, (from, to, *port), &classes);
            requests.overflow(overflow);
            let (counts, groups) = match dec.verdict {
                Tri::Yes => (&mut summary.allowed, &mut allowed),
                Tri::No => (&mut summary.dropped, &mut dropped),
                Tri::Unknown => (&mut summary.unknown, &mut unknown),
            };
            counts.add(tally);
            push(groups, from, to, report);
        }
    }
    summary.requests = requests.summary;
    let mut over_permissive = findings::analyse(model, graph, &used);
    over_permissive.extend(super::http_findings::unused_rules(model, &requests.usage));
    let notes = model
        .notes
        .iter()
        .map(|(p, n)| {
            format!(
                "{} ({}): {n}",
                model.policies[*p], model.policies[*p].source
            )
        })
        .collect();
    Report {
        version: REPORT_VERSION,
        summary,
        dropped: edges(dropped),
        unknown: edges(unknown),
        allowed: edges(allowed),
        observed_dropped: edges(was_dropped),
        requests_denied: requests.denied,
        requests_unknown: requests.unknown,
        requests_allowed: requests.allowed,
        over_permissive,
        notes,
    }
}

/// The HTTP request classes the graph recorded on an edge-port, and the
/// requests it saw beyond its class bound.
fn http_classes(stats: &PortStats) -> (Vec<ClassInput<'_>>, u64) {
    let Some(http) = &stats.http else {
        return (Vec::new(), 0);
    };
    let classes = http
        .classes
        .iter()
        .map(|(class, st)| ClassInput {
            method: &class.method,
            path: &class.path,
            host: class.host.as_deref(),
            requests: st.requests,
            samples: st.samples.iter().map(String::as_str).collect(),
        })
        .collect();
    (classes, http.overflow)
}
