//! Over-permissive analysis: what the policies allow that the flows never
//! showed. Reported per rule section:
//!
//! - `selects-nothing`: the rule's subject selects no observed pod (often a
//!   wrong label: the policy then protects nothing);
//! - `unused-rule`: an allow section no observed connection went through;
//! - `unused-port`: port entries of a used section that nothing used;
//! - `unused-http-rule` (see [`super::http_findings`]): HTTP rules no
//!   observed request that was checked against them matched;
//! - `broad-peer`: `world`/`cluster`/`all` entities, empty selectors (every
//!   pod of a namespace, or of the cluster in a clusterwide policy), rules
//!   without peers (any peer), CIDRs shorter than /16 (IPv4) or /48 (IPv6),
//!   and `toFQDNs` patterns matching every name.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::Serialize;

use crate::graph::TrafficGraph;
use crate::peer::Peer;

use super::model::{CompiledRule, Direction, Model, PeerMatcher, PolicyInfo, Section, SectionRef};
use super::ports::PortEntry;
use super::selectors::{selects, Scope};
use super::tri::{Tri, Why};

/// One over-permissive finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `selects-nothing`, `unused-rule`, `unused-port`, `unused-http-rule`
    /// or `broad-peer`.
    pub kind: &'static str,
    pub policy: PolicyInfo,
    /// Field path of the rule or section.
    pub rule: String,
    pub message: String,
    /// Observed (edge, port) pairs this section allowed.
    pub observed: u64,
}

/// Key of a section regardless of the matching port entry.
type SectionKey = (usize, Direction, bool, usize);

fn key(r: &SectionRef) -> SectionKey {
    (r.rule, r.direction, r.deny, r.section)
}

/// Runs the analysis; `used` counts the decisions each section (and port
/// entry) allowed.
pub fn analyse(
    model: &Model,
    graph: &TrafficGraph,
    used: &BTreeMap<SectionRef, u64>,
) -> Vec<Finding> {
    let mut per_section: BTreeMap<SectionKey, (u64, Vec<Option<usize>>)> = BTreeMap::new();
    for (r, n) in used {
        let e = per_section.entry(key(r)).or_default();
        e.0 += n;
        e.1.push(r.entry);
    }
    let workloads: Vec<Peer> = graph
        .workloads()
        .into_iter()
        .cloned()
        .map(Peer::Workload)
        .collect();
    let mut out = Vec::new();
    for (ri, rule) in model.rules.iter().enumerate() {
        let policy = &model.policies[rule.policy];
        let finding = |kind, rule_path: &str, message: String, observed| Finding {
            kind,
            policy: policy.clone(),
            rule: rule_path.to_string(),
            message,
            observed,
        };
        let Some((sel, scope)) = &rule.subject else {
            continue;
        };
        let mut why = Why::default();
        let selects_some = workloads
            .iter()
            .any(|w| selects(sel, scope, w, &mut why) != Tri::No);
        if !selects_some {
            out.push(finding(
                "selects-nothing",
                &rule.path,
                format!(
                    "endpointSelector {} selects no observed pod{}: the rule protects nothing and allows nothing that was seen",
                    selector_text(sel),
                    match scope {
                        Scope::Namespace(ns) => format!(" in namespace {ns}"),
                        Scope::Cluster => String::new(),
                    }
                ),
                0,
            ));
            continue;
        }
        for dir in [Direction::Ingress, Direction::Egress] {
            for (si, section) in rule.sections(dir, false).iter().enumerate() {
                let usage = per_section.get(&(ri, dir, false, si));
                let observed = usage.map_or(0, |u| u.0);
                if section.peers.is_empty() {
                    continue; // `{}`: allows nothing
                }
                if observed == 0 {
                    out.push(finding(
                        "unused-rule",
                        &section.path,
                        format!("no observed connection used this {} rule", dir.as_str()),
                        0,
                    ));
                } else if let Some((_, entries)) = usage {
                    let unused: Vec<String> = section
                        .ports
                        .entries
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !entries.contains(&Some(*i)))
                        .filter(|(_, e)| !dns_twin(section, e, entries))
                        .map(|(_, e)| e.to_string())
                        .collect();
                    if !unused.is_empty() && !section.ports.all {
                        out.push(finding(
                            "unused-port",
                            &section.path,
                            format!(
                                "allows {} but no observed connection used it",
                                unused.join(", ")
                            ),
                            observed,
                        ));
                    }
                }
                for m in broad(rule, section) {
                    out.push(finding("broad-peer", &section.path, m, observed));
                }
            }
        }
    }
    out
}

/// In a DNS-proxy section, TCP is the fallback for truncated UDP answers:
/// the twin of a used port is expected, not over-permissive.
fn dns_twin(section: &Section, e: &PortEntry, used: &[Option<usize>]) -> bool {
    let PortEntry::Range { lo, .. } = e else {
        return false;
    };
    section.l7.iter().any(|l| l == "dns")
        && used.iter().flatten().any(|i| {
            matches!(section.ports.entries.get(*i), Some(PortEntry::Range { lo: l, .. }) if l == lo)
        })
}

fn selector_text(sel: &crate::policy::EndpointSelector) -> String {
    serde_json::to_string(sel).unwrap_or_default()
}

fn broad(rule: &CompiledRule, section: &Section) -> Vec<String> {
    let ports = if section.ports.all {
        " on every port"
    } else {
        ""
    };
    let mut out = Vec::new();
    for p in &section.peers {
        let what = match p {
            PeerMatcher::Any => Some("any peer (the rule names no peer)".to_string()),
            PeerMatcher::Entity(e) => match e.as_str() {
                "world" | "world-ipv4" | "world-ipv6" => Some(format!("entity {e}: the whole internet")),
                "cluster" => Some("entity cluster: every pod and node of the cluster".to_string()),
                "all" => Some("entity all: every peer, inside or outside the cluster".to_string()),
                _ => None,
            },
            PeerMatcher::Endpoints { selector, scope } if selector.is_empty() => Some(match scope {
                Scope::Namespace(ns) => format!("empty selector {{}}: every pod in namespace {ns}"),
                Scope::Cluster => "empty selector {} in a clusterwide policy: every pod in every namespace (not only the policy's own)".to_string(),
            }),
            PeerMatcher::K8sNamespaces { namespaces, pods }
                if namespaces.is_empty() && pods.as_ref().is_none_or(|p| p.is_empty()) =>
            {
                Some("empty namespaceSelector: every pod in every namespace".to_string())
            }
            PeerMatcher::Cidr(c) => {
                let short = match c.net {
                    IpNet::V4(n) => n.prefix_len() < 16,
                    IpNet::V6(n) => n.prefix_len() < 48,
                };
                short.then(|| format!("broad CIDR {}", c.net))
            }
            PeerMatcher::Fqdn(f) if f.match_pattern.as_deref() == Some("*") => {
                Some("toFQDNs matchPattern \"*\": every DNS name".to_string())
            }
            _ => None,
        };
        if let Some(w) = what {
            out.push(format!("allows {w}{ports}"));
        }
    }
    let _ = rule;
    out
}
