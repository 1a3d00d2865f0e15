//! L7 filters of an allow section, per `toPorts` entry, and the decision
//! for one HTTP request at one direction of an allowed connection.
//!
//! Cilium merges L7 rules per port and per peer selector (pkg/policy
//! `mergePortProto`; pkg/envoy/server.go `getDirectionNetworkPolicy`):
//! a selector without L7 rules on a redirected port gets an allow-all L7
//! rule ("nil L7 rules wildcard L7"), an L3-only section (no `toPorts`)
//! is an allow-all port-0 rule, and Envoy allows a request when *any* rule
//! of the port whose remote identities include the peer allows it. So a
//! request passes a direction when some allow section matching the peer
//! and port is L4-only or has an HTTP rule matching all its fields; the
//! Cilium docs: "If a layer 4 rule is specified in the policy, and a
//! similar layer 4 rule with layer 7 rules is also specified, then the
//! layer 7 portions of the latter rule will have no effect."

use crate::peer::l4::PortKey;

use super::engine::DirDecision;
use super::http::RequestView;
use super::model::{Model, Section, SectionRef};
use super::port_l7::{L7Filter, PortL7, SectionFilter};
use super::tri::{Tri, Why};

impl Section {
    /// The L7 filter of this section on `port`.
    pub fn l7_filter(&self, port: PortKey) -> SectionFilter<'_> {
        let mut scratch = Why::default();
        let mut http = false;
        for p in &self.port_l7 {
            if p.ports.matches(port, &mut scratch).0 == Tri::No {
                continue;
            }
            match &p.filter {
                L7Filter::None => return SectionFilter::Wildcard,
                L7Filter::Other(kind) => return SectionFilter::Other(kind),
                L7Filter::Http(_) => http = true,
            }
        }
        if http {
            SectionFilter::Http(&self.port_l7)
        } else {
            SectionFilter::Wildcard
        }
    }
}

/// One HTTP rule a request was checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCheck {
    /// Index of the `toPorts` entry, and of the rule in its `http` list.
    pub entry: usize,
    pub index: usize,
    /// The rule, as `GET /path host=…`.
    pub rule: String,
    pub verdict: Tri,
    /// Fields it did not match.
    pub missed: Vec<String>,
}

/// One allow section consulted for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionCheck {
    pub section: SectionRef,
    /// Whether the section matched the connection at L4.
    pub l4: Tri,
    pub verdict: Tri,
    /// `None`: the section has no HTTP rules on this port (all pass).
    pub rules: Option<Vec<RuleCheck>>,
}

/// The L7 decision of one direction for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirRequest {
    pub verdict: Tri,
    /// The section whose rule (or wildcard) allowed it.
    pub allowed_by: Option<SectionRef>,
    /// Sections with HTTP rules on this port, as checked.
    pub checked: Vec<SectionCheck>,
    /// Why it is allowed when no section filters it, or why unknown.
    pub reason: String,
    pub unknown: Vec<String>,
}

/// Decides `req` at one direction whose L4 verdict is allowed.
pub fn decide(model: &Model, d: &DirDecision, port: PortKey, req: &RequestView<'_>) -> DirRequest {
    let mut out = DirRequest {
        verdict: Tri::Yes,
        allowed_by: None,
        checked: Vec::new(),
        reason: String::new(),
        unknown: Vec::new(),
    };
    if d.host_default {
        out.reason = "host → local pod: Cilium wildcards L7 rules for the host".into();
        return out;
    }
    let mut why = Why::default();
    let (mut allow, mut l7_applies) = (Tri::No, Tri::No);
    let mut wildcard_by = None;
    for (r, l4) in &d.matched {
        let section = &model.rules[r.rule].sections(r.direction, false)[r.section];
        let (verdict, rules) = match section.l7_filter(port) {
            SectionFilter::Wildcard => {
                if l4.is_yes() && wildcard_by.is_none() {
                    wildcard_by = Some(*r);
                }
                (Tri::Yes, None)
            }
            SectionFilter::Other(kind) => (
                why.unknown(format!(
                    "{} {} filters this port with {kind} rules, not HTTP",
                    model.policies[model.rules[r.rule].policy], section.path
                )),
                Some(Vec::new()),
            ),
            SectionFilter::Http(entries) => {
                let checks = http_checks(entries, port, req, &mut why);
                let v = checks.iter().fold(Tri::No, |a, c| a.or(c.verdict));
                (v, Some(checks))
            }
        };
        let v = l4.and(verdict);
        if rules.is_some() {
            l7_applies = l7_applies.or(*l4);
            out.checked.push(SectionCheck {
                section: *r,
                l4: *l4,
                verdict,
                rules,
            });
        }
        if v.is_yes() && out.allowed_by.is_none() {
            out.allowed_by = Some(*r);
        }
        allow = allow.or(v);
    }
    if l7_applies == Tri::No {
        out.reason = "no L7 rule applies to this connection: requests are not filtered".into();
        return out;
    }
    if d.enforced_by.is_empty() {
        // Not in default deny: only traffic an L7 section selects is
        // redirected to the proxy and filtered.
        allow = allow.or(l7_applies.negate());
    }
    out.verdict = allow;
    if let (Tri::Yes, Some(w)) = (allow, wildcard_by) {
        out.allowed_by = Some(w);
        out.reason = "an L4-only section matching the peer wildcards L7 on this port".into();
    }
    if allow == Tri::Yes && out.allowed_by.is_none() {
        out.reason = "not in default deny, and no section with L7 rules selects it".into();
    }
    if allow == Tri::Unknown {
        out.unknown = why.0;
    }
    out
}

fn http_checks(
    entries: &[PortL7],
    port: PortKey,
    req: &RequestView<'_>,
    why: &mut Why,
) -> Vec<RuleCheck> {
    let mut scratch = Why::default();
    let mut out = Vec::new();
    for (entry, p) in entries.iter().enumerate() {
        let L7Filter::Http(rules) = &p.filter else {
            continue;
        };
        if p.ports.matches(port, &mut scratch).0 == Tri::No {
            continue;
        }
        for (index, m) in rules.iter().enumerate() {
            let o = m.matches(req, why);
            out.push(RuleCheck {
                entry,
                index,
                rule: m.to_string(),
                verdict: o.verdict,
                missed: o.missed,
            });
        }
    }
    out
}

#[cfg(test)]
#[path = "l7_tests.rs"]
mod tests;
