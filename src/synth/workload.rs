//! One CiliumNetworkPolicy per workload: exactly the observed ingress and
//! egress (the egress half in [`super::egress`]), grouped by peer, in
//! default-deny both ways.
//!
//! Rules per peer kind: workloads and entities get one rule each; world
//! addresses and world names are grouped by identical port sets (one `toCIDR`
//! / `toFQDNs` list per port set). Egress to a detected resolver carries the
//! DNS L7 rule (`matchPattern: "*"`) on both UDP and TCP, which `toFQDNs`
//! needs; a policy with `toFQDNs` always gets such a rule, even when the
//! workload's own DNS queries were not captured.
//!
//! With `--l7 http`, ports where HTTP requests were recorded get
//! `rules.http` (see [`super::l7`]): on ingress for every peer of such a
//! port (its own requests, or `{}` for a peer seen only at L4), on egress
//! to in-cluster workloads for the requests this workload sent. With
//! `--l7 dns`, the DNS rule lists the names the workload queried.

use std::collections::{BTreeMap, BTreeSet};

use super::egress::egress_rules;
use super::l7::ports::{
    http_key, http_ports, port_rules, usable_http_ports, warn_overflow, HttpKey, HttpPorts,
};
use super::peers;
use super::ports::{port_set, split_icmp, L4Rules};
use super::{
    Context, Neighbourhood, Warning, ANNOTATION_PREFIX, DESCRIPTION_PREFIX, EVIDENCE_ANNOTATIONS,
    MANAGED_BY,
};
use crate::graph::evidence::format_time;
use crate::graph::PortStats;
use crate::peer::l4::PortKey;
use crate::peer::{Peer, WorkloadKey};
use crate::policy::{
    CiliumNetworkPolicy, DefaultDenyConfig, EgressRule, EndpointSelector, IngressRule, Rule,
};

/// Names of the other namespaced policies synthesis writes: never given
/// to a workload.
const RESERVED_NAMES: &[&str] = &["flowpolicy-same-namespace"];

/// Keeps generated policy names unique per namespace.
#[derive(Debug, Default)]
pub struct PolicyNames {
    used: BTreeSet<(String, String)>,
}

impl PolicyNames {
    /// A valid object name (RFC 1123 subdomain, at most 63 characters) for
    /// the workload, unique in its namespace.
    pub fn claim(&mut self, namespace: &str, wanted: &str) -> String {
        let base = dns1123(wanted);
        let mut name = base.clone();
        let mut n = 2;
        while RESERVED_NAMES.contains(&name.as_str())
            || !self.used.insert((namespace.to_string(), name.clone()))
        {
            name = format!("{base}-{n}");
            n += 1;
        }
        name
    }
}

/// An RFC 1123 subdomain of at most 57 characters (room for a `-N`
/// suffix): lower-case alphanumerics, '-' and '.', each dot-separated part
/// starting and ending with an alphanumeric; never empty.
pub fn dns1123(s: &str) -> String {
    let mapped: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(57)
        .collect();
    let out = mapped
        .split('.')
        .map(|part| part.trim_matches('-'))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(".");
    if out.is_empty() {
        "workload".to_string()
    } else {
        out
    }
}

/// Sums evidence over a set of ports.
#[derive(Debug, Default)]
struct Totals {
    connections: u64,
    flows: u64,
    first: i64,
    last: i64,
}

impl Totals {
    fn add(&mut self, stats: &PortStats, include_dropped: bool) {
        let tallies = [
            Some(&stats.allowed),
            include_dropped.then_some(&stats.dropped),
        ];
        for t in tallies.into_iter().flatten().flatten() {
            self.connections += t.connections;
            self.flows += t.flows;
            if t.first_seen != 0 {
                self.first = if self.first == 0 {
                    t.first_seen
                } else {
                    self.first.min(t.first_seen)
                };
            }
            self.last = self.last.max(t.last_seen);
        }
    }
}

/// The evidence behind a workload's rules, summed over its neighbourhood.
fn totals(ctx: &Context<'_>, hood: &Neighbourhood<'_>) -> Totals {
    let mut totals = Totals::default();
    for ports in hood.ingress.values().chain(hood.egress.values()) {
        for stats in ports.values() {
            totals.add(stats, ctx.cfg.include_dropped);
        }
    }
    totals
}

/// `flowpolicy.io/connections`, `flows`, `first-seen`, `last-seen`.
fn evidence_annotations(totals: &Totals) -> BTreeMap<String, String> {
    let [connections, first_seen, flows, last_seen] = EVIDENCE_ANNOTATIONS;
    [
        (connections, totals.connections.to_string()),
        (flows, totals.flows.to_string()),
        (first_seen, format_time(totals.first)),
        (last_seen, format_time(totals.last)),
    ]
    .into_iter()
    .map(|(k, v)| (format!("{ANNOTATION_PREFIX}{k}"), v))
    .collect()
}

/// The evidence annotations of a workload's policy (the same for every
/// output format).
pub fn workload_annotations(
    ctx: &Context<'_>,
    hood: &Neighbourhood<'_>,
) -> BTreeMap<String, String> {
    evidence_annotations(&totals(ctx, hood))
}

/// The policy name for a workload (unique in its namespace through `names`).
pub fn policy_name(ctx: &Context<'_>, w: &WorkloadKey, names: &mut PolicyNames) -> String {
    names.claim(&w.namespace, &sel_name(w, &ctx.selector(w).labels))
}

/// Builds the workload's policy; also returns warnings.
pub fn workload_policy(
    ctx: &Context<'_>,
    w: &WorkloadKey,
    hood: &Neighbourhood<'_>,
    names: &mut PolicyNames,
) -> (CiliumNetworkPolicy, Vec<Warning>) {
    let mut warnings = Vec::new();
    let sel = ctx.selector(w);
    let name = policy_name(ctx, w, names);
    let totals = totals(ctx, hood);
    let mut ingress = ingress_rules(ctx, w, hood, &mut warnings);
    let mut egress = egress_rules(ctx, w, hood, &mut warnings);
    // An empty rule turns on default-deny for a direction with nothing observed.
    if ingress.is_empty() {
        ingress.push(IngressRule::default());
    }
    if egress.is_empty() {
        egress.push(EgressRule::default());
    }
    let description = format!(
        "{DESCRIPTION_PREFIX}{}/{} from {} connections ({} flows) observed {} to {}; \
         {} ingress and {} egress peers; everything else is denied",
        w.namespace,
        w.display_name(),
        totals.connections,
        totals.flows,
        format_time(totals.first),
        format_time(totals.last),
        hood.ingress.len(),
        hood.egress.len(),
    );
    let mut cnp = CiliumNetworkPolicy::new(name, w.namespace.clone());
    cnp.metadata
        .labels
        .insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    cnp.metadata.annotations = evidence_annotations(&totals);
    cnp.spec = Some(Rule {
        endpoint_selector: Some(EndpointSelector::from_labels(sel.labels.clone())),
        ingress,
        egress,
        enable_default_deny: Some(DefaultDenyConfig {
            ingress: Some(true),
            egress: Some(true),
        }),
        description: Some(description),
        ..Rule::default()
    });
    (cnp, warnings)
}

fn sel_name(w: &WorkloadKey, sel: &BTreeMap<String, String>) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for v in sel.values() {
        if !parts
            .iter()
            .any(|p| p.contains(v.as_str()) || v.contains(*p))
        {
            parts.push(v);
        } else if let Some(i) = parts.iter().position(|p| v.contains(*p)) {
            parts[i] = v;
        }
    }
    if parts.is_empty() {
        w.display_name()
    } else {
        parts.join("-")
    }
}

fn ingress_rules(
    ctx: &Context<'_>,
    w: &WorkloadKey,
    hood: &Neighbourhood<'_>,
    warnings: &mut Vec<Warning>,
) -> Vec<IngressRule> {
    let mut rules = Vec::new();
    let mut cidrs: BTreeMap<(BTreeSet<PortKey>, HttpKey), (HttpPorts, Vec<String>)> =
        BTreeMap::new();
    let l7_ports = usable_http_ports(ctx, hood.ingress.values().flat_map(|p| p.iter()));
    for (peer, ports) in &hood.ingress {
        warn_overflow(ctx, w, "ingress from", peer, ports, warnings);
        let set = port_set(ports);
        let http = http_ports(ctx, ports, &l7_ports);
        let L4Rules { to_ports, icmps } = port_rules(&set, &http);
        let mut rule = IngressRule {
            to_ports,
            icmps,
            ..IngressRule::default()
        };
        match peer {
            Peer::Workload(p) => {
                rule.from_endpoints = vec![peers::workload_selector(
                    p,
                    ctx.selector(p),
                    Some(&w.namespace),
                )]
            }
            Peer::Entity(e) => rule.from_entities = vec![peers::entity(*e)],
            Peer::Cidr(_) | Peer::Fqdn(_) => {
                if let Some(c) = peers::cidr(peer) {
                    let key = (set, http_key(&http));
                    cidrs
                        .entry(key)
                        .or_insert_with(|| (http, Vec::new()))
                        .1
                        .push(c);
                }
                continue;
            }
        }
        rules.extend(split_icmp(rule));
    }
    for ((set, _), (http, list)) in cidrs {
        let L4Rules { to_ports, icmps } = port_rules(&set, &http);
        let rule = IngressRule {
            from_cidr: list,
            to_ports,
            icmps,
            ..IngressRule::default()
        };
        rules.extend(split_icmp(rule));
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::names::is_dns1123_subdomain;

    #[test]
    fn policy_names_are_valid_subdomains_whatever_the_labels() {
        for (wanted, name) in [
            ("web", "web"),
            ("Web App", "web-app"),
            ("a..b", "a.b"),
            ("-.a-.-b.", "a.b"),
            ("x.-y", "x.y"),
            ("...", "workload"),
            ("é", "workload"),
        ] {
            assert_eq!(dns1123(wanted), name, "{wanted}");
        }
        for wanted in [
            "a".repeat(300),
            format!("{}.{}", "b".repeat(56), "c".repeat(9)),
        ] {
            let name = dns1123(&wanted);
            assert!(name.len() <= 57 && is_dns1123_subdomain(&name), "{name}");
        }
    }

    #[test]
    fn claimed_names_are_unique_and_avoid_the_same_namespace_policy() {
        let mut names = PolicyNames::default();
        assert_eq!(names.claim("a", "web"), "web");
        assert_eq!(names.claim("a", "WEB"), "web-2");
        assert_eq!(names.claim("b", "web"), "web");
        assert_eq!(
            names.claim("a", "flowpolicy-same-namespace"),
            "flowpolicy-same-namespace-2"
        );
    }
}
