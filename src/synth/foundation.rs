//! Foundation rules of the rollout plan (phase 2), as clusterwide policies
//! that only *add* allows: `enableDefaultDeny: {ingress: false, egress:
//! false}` keeps them from flipping any pod into default-deny (Cilium ≥ 1.16).
//!
//! - DNS: every endpoint may query the detected in-cluster resolver(s)
//!   through the DNS proxy, and the resolver accepts DNS from the whole cluster;
//!   with `--l7 dns` only the latter: Cilium unites the DNS rules of every
//!   policy selecting an endpoint, so a clusterwide `matchPattern: "*"` would
//!   void each workload's own name list (which its CNP carries instead);
//! - kube-apiserver: the workloads that used it (or every endpoint with
//!   `apiserver_cluster_wide`) may reach it on the observed ports;
//! - optionally a same-namespace allow, written as one namespaced policy per
//!   namespace: in a CNP an empty peer selector means "this namespace", while
//!   in a CCNP it would mean the whole cluster.

use std::collections::BTreeSet;

use super::egress::dns_port_rule;
use super::peers;
use super::ports::l4_rules;
use super::{Context, ANNOTATION_PREFIX, MANAGED_BY};
use crate::peer::l4::PortKey;
use crate::peer::{Entity, Peer};
use crate::policy::{
    self, CiliumClusterwideNetworkPolicy, CiliumNetworkPolicy, DefaultDenyConfig, EgressRule,
    EndpointSelector, IngressRule, Rule,
};

/// Never puts anything into default-deny.
fn additive() -> Option<DefaultDenyConfig> {
    Some(DefaultDenyConfig {
        ingress: Some(false),
        egress: Some(false),
    })
}

fn labelled(mut p: CiliumClusterwideNetworkPolicy, what: &str) -> CiliumClusterwideNetworkPolicy {
    p.metadata
        .labels
        .insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    p.metadata
        .annotations
        .insert(format!("{ANNOTATION_PREFIX}foundation"), what.into());
    p
}

/// The clusterwide foundation policies for this graph.
pub fn clusterwide(ctx: &Context<'_>) -> Vec<CiliumClusterwideNetworkPolicy> {
    let mut out = Vec::new();
    if let Some(p) = dns(ctx) {
        out.push(p);
    }
    if let Some(p) = apiserver(ctx) {
        out.push(p);
    }
    out
}

fn dns(ctx: &Context<'_>) -> Option<CiliumClusterwideNetworkPolicy> {
    // World resolvers that a few pods query directly stay in those pods' own
    // policies: the foundation must not open the internet's DNS to everyone.
    let in_cluster: Vec<_> = ctx
        .resolvers
        .iter()
        .filter(|r| !r.peer.is_world())
        .collect();
    if in_cluster.is_empty() {
        return None;
    }
    let mut specs = Vec::new();
    for r in in_cluster {
        if !ctx.cfg.l7.dns {
            specs.push(every_endpoint_resolves(ctx, r));
        }
        if let Peer::Workload(w) = &r.peer {
            let ports: BTreeSet<PortKey> = r
                .ports
                .iter()
                .flat_map(|p| {
                    [
                        PortKey {
                            proto: crate::peer::l4::Proto::Udp,
                            port: *p,
                        },
                        PortKey {
                            proto: crate::peer::l4::Proto::Tcp,
                            port: *p,
                        },
                    ]
                })
                .collect();
            specs.push(Rule {
                endpoint_selector: Some(peers::workload_selector(w, ctx.selector(w), None)),
                ingress: vec![IngressRule {
                    from_entities: vec![policy::Entity::Cluster],
                    to_ports: l4_rules(&ports).to_ports,
                    ..IngressRule::default()
                }],
                enable_default_deny: additive(),
                description: Some(format!(
                    "flowpolicy foundation: the resolver {} answers the whole cluster",
                    r.peer
                )),
                ..Rule::default()
            });
        }
    }
    if specs.is_empty() {
        return None;
    }
    let mut p = CiliumClusterwideNetworkPolicy::new("flowpolicy-foundation-dns");
    p.specs = specs;
    Some(labelled(p, "dns"))
}

/// Every endpoint may query the resolver `r` through the DNS proxy.
fn every_endpoint_resolves(ctx: &Context<'_>, r: &super::Resolver) -> Rule {
    let mut egress = EgressRule {
        to_ports: vec![dns_port_rule(&r.ports)],
        ..EgressRule::default()
    };
    match &r.peer {
        Peer::Workload(w) => {
            egress.to_endpoints = vec![peers::workload_selector(w, ctx.selector(w), None)]
        }
        Peer::Entity(e) => egress.to_entities = vec![peers::entity(*e)],
        other => egress.to_cidr = peers::cidr(other).into_iter().collect(),
    }
    Rule {
        endpoint_selector: Some(EndpointSelector::all()),
        egress: vec![egress],
        enable_default_deny: additive(),
        description: Some(format!(
            "flowpolicy foundation: every endpoint may resolve names via {}",
            r.peer
        )),
        ..Rule::default()
    }
}

fn apiserver(ctx: &Context<'_>) -> Option<CiliumClusterwideNetworkPolicy> {
    let api = Peer::Entity(Entity::KubeApiserver);
    let mut users = Vec::new();
    let mut all_ports = BTreeSet::new();
    for (w, hood) in &ctx.neighbourhoods {
        if let Some(ports) = hood.egress.get(&api) {
            let set: BTreeSet<PortKey> = ports.keys().copied().collect();
            all_ports.extend(set.iter().copied());
            users.push((*w, set));
        }
    }
    if users.is_empty() {
        return None;
    }
    let egress = |set: &BTreeSet<PortKey>| EgressRule {
        to_entities: vec![policy::Entity::KubeApiserver],
        to_ports: l4_rules(set).to_ports,
        ..EgressRule::default()
    };
    let specs = if ctx.cfg.apiserver_cluster_wide {
        vec![Rule {
            endpoint_selector: Some(EndpointSelector::all()),
            egress: vec![egress(&all_ports)],
            enable_default_deny: additive(),
            description: Some(
                "flowpolicy foundation: every endpoint may reach the kube-apiserver".into(),
            ),
            ..Rule::default()
        }]
    } else {
        users
            .iter()
            .map(|(w, set)| Rule {
                endpoint_selector: Some(peers::workload_selector(w, ctx.selector(w), None)),
                egress: vec![egress(set)],
                enable_default_deny: additive(),
                description: Some(format!(
                    "flowpolicy foundation: {}/{} uses the kube-apiserver",
                    w.namespace,
                    w.display_name()
                )),
                ..Rule::default()
            })
            .collect()
    };
    let mut p = CiliumClusterwideNetworkPolicy::new("flowpolicy-foundation-kube-apiserver");
    p.specs = specs;
    Some(labelled(p, "kube-apiserver"))
}

/// Allows traffic between the pods of one namespace, and only that namespace.
pub fn same_namespace(namespace: &str) -> CiliumNetworkPolicy {
    let mut p = CiliumNetworkPolicy::new("flowpolicy-same-namespace", namespace);
    p.metadata
        .labels
        .insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    p.metadata.annotations.insert(
        format!("{ANNOTATION_PREFIX}foundation"),
        "same-namespace".into(),
    );
    p.spec = Some(Rule {
        endpoint_selector: Some(EndpointSelector::all()),
        ingress: vec![IngressRule { from_endpoints: vec![EndpointSelector::all()], ..IngressRule::default() }],
        egress: vec![EgressRule { to_endpoints: vec![EndpointSelector::all()], ..EgressRule::default() }],
        enable_default_deny: additive(),
        description: Some(format!(
            "flowpolicy foundation: pods in {namespace} may talk to each other (an empty selector in a namespaced policy means this namespace only)"
        )),
        ..Rule::default()
    });
    p
}
