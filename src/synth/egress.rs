//! The egress half of a workload's policy: one rule per workload or entity
//! peer, world addresses and names grouped by identical port sets (`toCIDR`
//! / `toFQDNs`), DNS ports of a detected resolver through Cilium's DNS proxy
//! (which `toFQDNs` needs), and the companion DNS rule a `toFQDNs` rule gets
//! when the workload's own DNS traffic was not captured.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::l7;
use super::l7::ports::{
    dns_selectors, http_ports, port_rules, usable_http_ports, warn_overflow, HttpPorts,
};
use super::peers::{self, NS_SELECTOR_KEY};
use super::ports::{l4_rules, port_set, split_icmp, L4Rules};
use super::resolver::{is_dns_port, DNS_PORTS};
use super::{Context, Neighbourhood, Warning, WarningKind};
use crate::peer::l4::PortKey;
use crate::peer::{Peer, WorkloadKey};
use crate::policy::{
    EgressRule, EndpointSelector, FqdnSelector, L7Rules, PortProtocol, PortRule, Protocol,
};

/// The DNS port rule for a resolver: each DNS port on UDP and TCP, through
/// Cilium's DNS proxy (`rules.dns`), which is what makes `toFQDNs` work.
pub fn dns_port_rule(dns_ports: &BTreeSet<u16>) -> PortRule {
    dns_port_rule_for(dns_ports, vec![FqdnSelector::pattern("*")])
}

/// [`dns_port_rule`] allowing only the names `dns` selects.
pub fn dns_port_rule_for(dns_ports: &BTreeSet<u16>, dns: Vec<FqdnSelector>) -> PortRule {
    let mut ports = Vec::new();
    for p in dns_ports {
        ports.push(PortProtocol::new(*p, Protocol::UDP));
        ports.push(PortProtocol::new(*p, Protocol::TCP));
    }
    PortRule {
        ports,
        rules: Some(L7Rules {
            dns,
            ..L7Rules::default()
        }),
        ..PortRule::default()
    }
}

/// Egress port rules to one peer: DNS ports of a resolver go through the DNS
/// proxy (with `dns` as its rule); the rest are L4, with `http` rules.
fn egress_l4(
    ctx: &Context<'_>,
    peer: &Peer,
    set: &BTreeSet<PortKey>,
    http: &HttpPorts,
    dns: impl FnOnce() -> Vec<FqdnSelector>,
) -> (L4Rules, bool) {
    if !ctx.is_resolver(peer) {
        return (port_rules(set, http), false);
    }
    let dns_ports: BTreeSet<u16> = set
        .iter()
        .filter(|p| is_dns_port(p))
        .map(|p| p.port)
        .collect();
    if dns_ports.is_empty() {
        return (port_rules(set, http), false);
    }
    let rest: BTreeSet<PortKey> = set.iter().filter(|p| !is_dns_port(p)).copied().collect();
    let mut l4 = port_rules(&rest, http);
    l4.to_ports.insert(0, dns_port_rule_for(&dns_ports, dns()));
    (l4, true)
}

/// The egress rules of workload `w`.
pub(super) fn egress_rules(
    ctx: &Context<'_>,
    w: &WorkloadKey,
    hood: &Neighbourhood<'_>,
    warnings: &mut Vec<Warning>,
) -> Vec<EgressRule> {
    let mut rules = Vec::new();
    let mut cidrs: BTreeMap<BTreeSet<PortKey>, BTreeSet<IpNet>> = BTreeMap::new();
    let mut fqdns: BTreeMap<BTreeSet<PortKey>, BTreeSet<String>> = BTreeMap::new();
    let mut has_dns_rule = false;
    let fqdn_names: BTreeSet<String> = hood
        .egress
        .keys()
        .filter_map(|p| match p {
            Peer::Fqdn(name) if fqdn_fallback_cidrs(ctx, p).is_none() => Some(name.clone()),
            _ => None,
        })
        .collect();
    for (peer, ports) in &hood.egress {
        let set = port_set(ports);
        let in_cluster = matches!(peer, Peer::Workload(_));
        if in_cluster {
            warn_overflow(ctx, w, "egress to", peer, ports, warnings);
        }
        let mut rule = EgressRule::default();
        match peer {
            Peer::Workload(p) => {
                rule.to_endpoints = vec![peers::workload_selector(
                    p,
                    ctx.selector(p),
                    Some(&w.namespace),
                )]
            }
            Peer::Entity(e) => rule.to_entities = vec![peers::entity(*e)],
            Peer::Cidr(_) if ctx.is_resolver(peer) => {
                rule.to_cidr = peers::cidr(peer).into_iter().collect()
            }
            Peer::Cidr(net) => {
                cidrs.entry(set).or_default().insert(*net);
                continue;
            }
            Peer::Fqdn(name) => {
                match fqdn_fallback_cidrs(ctx, peer) {
                    Some(addresses) => cidrs.entry(set).or_default().extend(addresses),
                    None => {
                        fqdns.entry(set).or_default().insert(name.clone());
                    }
                }
                continue;
            }
        }
        let http = if in_cluster {
            http_ports(ctx, ports, &usable_http_ports(ctx, ports.iter()))
        } else {
            HttpPorts::new()
        };
        let dns_rule = || dns_selectors(ctx, w, peer, ports, &fqdn_names, warnings);
        let (L4Rules { to_ports, icmps }, dns) = egress_l4(ctx, peer, &set, &http, dns_rule);
        has_dns_rule |= dns;
        rule.to_ports = to_ports;
        rule.icmps = icmps;
        rules.extend(split_icmp(rule));
    }
    for (set, list) in cidrs {
        let L4Rules { to_ports, icmps } = l4_rules(&set);
        rules.extend(split_icmp(EgressRule {
            to_cidr: list.iter().map(IpNet::to_string).collect(),
            to_ports,
            icmps,
            ..EgressRule::default()
        }));
    }
    let had_fqdns = !fqdns.is_empty();
    for (set, names) in fqdns {
        let L4Rules { to_ports, icmps } = l4_rules(&set);
        let rule = EgressRule {
            to_fqdns: peers::fqdn_selectors(&names, ctx.cfg.fqdn_collapse),
            to_ports,
            icmps,
            ..EgressRule::default()
        };
        rules.extend(split_icmp(rule));
    }
    if had_fqdns && !has_dns_rule {
        rules.push(companion_dns_rule(ctx, w, warnings));
    }
    rules
}

/// Without any observed resolver a `toFQDNs` rule could never work (there is
/// nowhere to send the DNS proxy rule), so a named peer whose addresses are
/// known is written by address instead. `None`: use `toFQDNs`.
fn fqdn_fallback_cidrs(ctx: &Context<'_>, peer: &Peer) -> Option<Vec<IpNet>> {
    if !ctx.resolvers.is_empty() {
        return None;
    }
    let node = ctx.graph.node_data(peer)?;
    if node.addresses.is_empty() {
        return None;
    }
    Some(node.addresses.iter().map(|a| IpNet::from(*a)).collect())
}

/// The DNS rule `toFQDNs` needs when the workload's own DNS traffic was not
/// captured: to the most used detected resolver.
fn companion_dns_rule(
    ctx: &Context<'_>,
    w: &WorkloadKey,
    warnings: &mut Vec<Warning>,
) -> EgressRule {
    let mut rule = EgressRule::default();
    if ctx.cfg.l7.dns {
        warnings.push(Warning::new(
            WarningKind::DnsWildcard,
            format!(
                "{}/{}: the DNS rule its toFQDNs needs keeps matchPattern \"*\": {}",
                w.namespace,
                w.display_name(),
                l7::dns::Fallback::NoEvidence.describe()
            ),
        ));
    }
    match ctx.resolvers.first() {
        Some(r) => {
            match &r.peer {
                Peer::Workload(p) => {
                    rule.to_endpoints = vec![peers::workload_selector(
                        p,
                        ctx.selector(p),
                        Some(&w.namespace),
                    )]
                }
                Peer::Entity(e) => rule.to_entities = vec![peers::entity(*e)],
                other => rule.to_cidr = peers::cidr(other).into_iter().collect(),
            }
            rule.to_ports = vec![dns_port_rule(&r.ports)];
        }
        None => {
            warnings.push(Warning::new(
                WarningKind::AssumedKubeDns,
                format!(
                    "{}/{}: toFQDNs needs a DNS rule, but no resolver and no address for the names were observed; assuming kube-system/kube-dns",
                    w.namespace,
                    w.display_name()
                ),
            ));
            rule.to_endpoints = vec![EndpointSelector::from_labels([
                (NS_SELECTOR_KEY, "kube-system"),
                ("k8s-app", "kube-dns"),
            ])];
            rule.to_ports = vec![dns_port_rule(&DNS_PORTS[..1].iter().copied().collect())];
        }
    }
    rule
}
