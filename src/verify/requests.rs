//! Observed HTTP requests checked against the policies' HTTP rules.
//!
//! For every edge-port whose connection is allowed at L4, each recorded
//! request sample (method, raw target `path?query`, host) of each request
//! class is decided at the client's egress and the server's ingress by
//! [`l7::decide`]; a request one of them rejects is what Envoy answers
//! with **HTTP 403** (Hubble still shows the L7 record FORWARDED) and is
//! reported with the sections and rules it was checked against, and the
//! nearest rule. Connections L4 already drops or leaves unknown are
//! reported as connections; their requests are counted as not evaluated.
//!
//! Counts: a class is denied when one of its samples is, unknown when one
//! is and none is denied, allowed otherwise; `classes` and `requests` count
//! classes (with their request counts) by that verdict, `samples` counts
//! each sample by its own verdict.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::peer::l4::PortKey;
use crate::peer::Peer;

use super::engine::{Decision, DirDecision};
use super::http::RequestView;
use super::l7::{self, DirRequest};
use super::model::{peer_name, rule_ref, RuleRef};
use super::model::{Direction, Model, PolicyInfo, SectionRef};
use super::tri::Tri;

/// One request class of an edge-port, with its raw samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassInput<'a> {
    pub method: &'a str,
    /// The class' path (templated by the graph).
    pub path: &'a str,
    pub host: Option<&'a str>,
    /// Requests observed in the class.
    pub requests: u64,
    /// Raw targets (`path?query`) kept as samples.
    pub samples: Vec<&'a str>,
}

/// Request classes, requests and samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    pub classes: u64,
    pub requests: u64,
    pub samples: u64,
}

/// The request part of the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestSummary {
    /// Requests on connections allowed at L4 (the evaluated ones).
    pub evaluated: RequestCounts,
    pub allowed: RequestCounts,
    /// Requests Envoy would answer with 403.
    pub denied: RequestCounts,
    pub unknown: RequestCounts,
    /// Requests on connections dropped or unknown at L4, and requests the
    /// graph did not classify (over its class bound).
    pub not_evaluated: RequestCounts,
}

/// One HTTP rule as a request was checked against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleCheckReport {
    pub rule: String,
    pub verdict: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missed: Vec<String>,
}

/// One allow section consulted for a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionCheckReport {
    pub policy: PolicyInfo,
    /// Field path of the section, e.g. `spec.ingress[0]`.
    pub rule: String,
    /// How the section matched the connection at L4.
    pub l4: &'static str,
    pub verdict: &'static str,
    pub http_rules: Vec<RuleCheckReport>,
}

/// One direction of a request's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestDirReport {
    pub direction: &'static str,
    pub endpoint: String,
    pub verdict: &'static str,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_by: Option<RuleRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<SectionCheckReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
}

/// One observed request sample and its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestReport {
    pub method: String,
    /// `:path` as sent: path, then `?query`.
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The request class (templated path) the sample belongs to.
    pub class_path: String,
    /// Requests observed in that class.
    pub class_requests: u64,
    pub client: String,
    pub server: String,
    pub port: String,
    pub verdict: &'static str,
    /// The direction that rejects (or cannot decide) it; egress first, as
    /// the client's proxy sees the request first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<&'static str>,
    /// One line: why, and the nearest rule.
    pub message: String,
    pub directions: Vec<RequestDirReport>,
}

/// Which HTTP rules of an allow section observed requests were checked
/// against, and which of them matched one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SectionUsage {
    /// Request samples checked against the section's rules.
    pub samples: u64,
    /// `toPorts` entries whose rules were checked.
    pub checked: BTreeSet<usize>,
    /// `(entry, rule)` that matched at least one sample.
    pub matched: BTreeSet<(usize, usize)>,
}

/// Usage per allow section `(rule, direction, section)`.
pub type HttpUsage = BTreeMap<(usize, Direction, usize), SectionUsage>;

/// Everything the request check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFindings {
    pub summary: RequestSummary,
    pub denied: Vec<RequestReport>,
    pub unknown: Vec<RequestReport>,
    /// Allowed samples (reported with `--explain`).
    pub allowed: Vec<RequestReport>,
    pub usage: HttpUsage,
}

fn verdict_name(t: Tri) -> &'static str {
    match t {
        Tri::Yes => "allowed",
        Tri::No => "denied",
        Tri::Unknown => "unknown",
    }
}

fn add(c: &mut RequestCounts, classes: u64, requests: u64, samples: u64) {
    c.classes += classes;
    c.requests += requests;
    c.samples += samples;
}

impl RequestFindings {
    /// Requests the graph saw but could not classify.
    pub fn overflow(&mut self, requests: u64) {
        add(&mut self.summary.not_evaluated, 0, requests, 0);
    }

    /// Checks the classes of one edge-port (initiator → responder).
    pub fn add_port(
        &mut self,
        model: &Model,
        dec: &Decision,
        (client, server, port): (&Peer, &Peer, PortKey),
        classes: &[ClassInput<'_>],
    ) {
        for class in classes {
            let n = class.samples.len() as u64;
            // without a raw target there is nothing a rule could be checked on
            if !dec.verdict.is_yes() || n == 0 {
                add(&mut self.summary.not_evaluated, 1, class.requests, n);
                continue;
            }
            add(&mut self.summary.evaluated, 1, class.requests, n);
            let mut class_verdict = Tri::Yes;
            for sample in &class.samples {
                let req = RequestView {
                    method: class.method,
                    target: sample,
                    host: class.host,
                    headers: None,
                };
                let (v, r) = report(
                    model,
                    dec,
                    (client, server, port),
                    (class, &req),
                    &mut self.usage,
                );
                class_verdict = class_verdict.and(v);
                let s = &mut self.summary;
                match v {
                    Tri::Yes => {
                        add(&mut s.allowed, 0, 0, 1);
                        self.allowed.push(r);
                    }
                    Tri::No => {
                        add(&mut s.denied, 0, 0, 1);
                        self.denied.push(r);
                    }
                    Tri::Unknown => {
                        add(&mut s.unknown, 0, 0, 1);
                        self.unknown.push(r);
                    }
                }
            }
            let s = &mut self.summary;
            let c = match class_verdict {
                Tri::Yes => &mut s.allowed,
                Tri::No => &mut s.denied,
                Tri::Unknown => &mut s.unknown,
            };
            add(c, 1, class.requests, 0);
        }
    }
}

/// Decides one request sample on an L4-allowed connection.
fn report(
    model: &Model,
    dec: &Decision,
    (client, server, port): (&Peer, &Peer, PortKey),
    (class, req): (&ClassInput<'_>, &RequestView<'_>),
    usage: &mut HttpUsage,
) -> (Tri, RequestReport) {
    let dirs: Vec<(&DirDecision, DirRequest)> = [&dec.egress, &dec.ingress]
        .into_iter()
        .flatten()
        .map(|d| (d, l7::decide(model, d, port, req)))
        .collect();
    for c in dirs.iter().flat_map(|(_, r)| &r.checked) {
        let u = usage
            .entry((c.section.rule, c.section.direction, c.section.section))
            .or_default();
        u.samples += 1;
        for rc in c.rules.iter().flatten() {
            u.checked.insert(rc.entry);
            if rc.verdict.is_yes() {
                u.matched.insert((rc.entry, rc.index));
            }
        }
    }
    let verdict = dirs.iter().fold(Tri::Yes, |a, (_, r)| a.and(r.verdict));
    let deciding = dirs
        .iter()
        .find(|(_, r)| r.verdict == Tri::No)
        .or_else(|| dirs.iter().find(|(_, r)| r.verdict == Tri::Unknown));
    let message = match deciding {
        Some((d, r)) => message(model, d, r),
        None => allowed_message(model, &dirs),
    };
    let report = RequestReport {
        method: req.method.to_string(),
        target: req.target.to_string(),
        host: req.host.map(str::to_string),
        class_path: class.path.to_string(),
        class_requests: class.requests,
        client: peer_name(client),
        server: peer_name(server),
        port: port.to_string(),
        verdict: verdict_name(verdict),
        direction: deciding.map(|(d, _)| d.direction.as_str()),
        message,
        directions: dirs.iter().map(|(d, r)| dir_report(model, d, r)).collect(),
    };
    (verdict, report)
}

/// What allowed a request: the sections whose rule (or wildcard) let it
/// through, per direction that filters it at L7.
fn allowed_message(model: &Model, dirs: &[(&DirDecision, DirRequest)]) -> String {
    let parts: Vec<String> = dirs
        .iter()
        .filter(|(_, r)| !r.checked.is_empty())
        .map(|(d, r)| {
            let by = match r.allowed_by {
                Some(s) if r.reason.is_empty() => {
                    format!("an http rule of {}", section_name(model, &s))
                }
                _ => r.reason.clone(),
            };
            format!("{} at {}: {by}", d.direction.as_str(), d.endpoint)
        })
        .collect();
    if parts.is_empty() {
        "allowed: no http rule applies to this connection".to_string()
    } else {
        format!("allowed — {}", parts.join("; "))
    }
}

fn section_name(model: &Model, r: &SectionRef) -> String {
    let rr = rule_ref(model, r);
    format!("{} {}", rr.policy, rr.rule)
}

/// `no http rule of ns/policy spec.ingress[0] matches — nearest: GET /x (missed path)`.
fn message(model: &Model, d: &DirDecision, r: &DirRequest) -> String {
    let at = format!("{} at {}", d.direction.as_str(), d.endpoint);
    if r.verdict == Tri::Unknown {
        return format!("{at}: cannot be decided offline: {}", r.unknown.join("; "));
    }
    let sections: Vec<String> = r
        .checked
        .iter()
        .filter(|c| c.l4 != Tri::No)
        .map(|c| section_name(model, &c.section))
        .collect();
    let nearest = r
        .checked
        .iter()
        .flat_map(|c| c.rules.iter().flatten())
        .min_by_key(|c| c.missed.len());
    let mut m = format!("{at}: no http rule of {} matches", sections.join(", "));
    if let Some(n) = nearest {
        m.push_str(&format!(
            " — nearest: {} (missed {})",
            n.rule,
            n.missed.join(", ")
        ));
    }
    m
}

fn dir_report(model: &Model, d: &DirDecision, r: &DirRequest) -> RequestDirReport {
    let sections = r
        .checked
        .iter()
        .map(|c| {
            let rr = rule_ref(model, &c.section);
            SectionCheckReport {
                policy: rr.policy,
                rule: rr.rule,
                l4: super::tri::verdict_name(c.l4),
                verdict: verdict_name(c.verdict),
                http_rules: c
                    .rules
                    .iter()
                    .flatten()
                    .map(|h| RuleCheckReport {
                        rule: h.rule.clone(),
                        verdict: verdict_name(h.verdict),
                        missed: h.missed.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    let reason = match (r.verdict, r.allowed_by) {
        (Tri::Yes, Some(s)) if r.reason.is_empty() => {
            format!("allowed by an http rule of {}", section_name(model, &s))
        }
        (Tri::Yes, _) => r.reason.clone(),
        (Tri::No, _) => message(model, d, r),
        (Tri::Unknown, _) => "cannot be decided offline".to_string(),
    };
    RequestDirReport {
        direction: d.direction.as_str(),
        endpoint: peer_name(&d.endpoint),
        verdict: verdict_name(r.verdict),
        reason,
        allowed_by: r.allowed_by.map(|s| rule_ref(model, &s)),
        sections,
        unknown: r.unknown.clone(),
    }
}
