//! Kubernetes NetworkPolicy output (`recommend --format k8s`): the same
//! least-privilege intent as the CiliumNetworkPolicies, for what
//! NetworkPolicy can express, never widened.
//!
//! - Workloads become `podSelector` peers (plus a `namespaceSelector` on
//!   `kubernetes.io/metadata.name` across namespaces).
//! - World addresses and groups become `ipBlock`s; a world name becomes the
//!   addresses it was observed at (`/32`, `/128`), or is listed as not
//!   expressible when none were kept (and listed too when the graph's cap on
//!   remembered addresses was reached); the `world` entity (a world peer with no
//!   address) becomes `0.0.0.0/0` and `::/0`, which is what Cilium's `world`
//!   entity is.
//! - Other entities (host, remote-node, kube-apiserver, health, ingress,
//!   init, unmanaged) are not expressible: an `ipBlock` does not select
//!   Cilium's cluster identities (without `policy-cidr-match-mode=nodes`).
//! - ICMP is not expressible (NetworkPolicy has TCP, UDP and SCTP only).
//! - Ports keep their `endPort` ranges.
//! - L7 rules (`--l7 http`, `--l7 dns`) are not expressible: NetworkPolicy
//!   stops at L4. Each port that would carry HTTP rules, and each DNS rule
//!   that would list names, is listed; the port stays allowed at L4.
//! - No foundation and no same-namespace policy: NetworkPolicy has no
//!   allow-only rule, so a namespace-wide DNS or same-namespace policy would
//!   put every pod of the namespace into default-deny. Each workload's policy
//!   carries its own observed DNS egress instead.
//!
//! Everything left out is returned as [`NotExpressible`] so the caller can
//! list it.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::ports::runs;
use super::workload::{policy_name, workload_annotations, PolicyNames};
use super::{Context, Neighbourhood, SynthConfig, MANAGED_BY};
use crate::graph::{PortStats, TrafficGraph, MAX_ADDRESSES};
use crate::peer::l4::{PortKey, Proto};
use crate::peer::{Entity, Peer, WorkloadKey};
use crate::policy::k8s::{
    IpBlock, K8sProtocol, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, PolicyType,
};
use crate::policy::{EndpointSelector, IntOrString, NetworkPolicy};

/// The label every namespace carries with its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// One observed peer (or some of its ports) a NetworkPolicy cannot allow.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NotExpressible {
    /// `namespace/name` of the policy it belongs in.
    pub policy: String,
    /// `ingress` or `egress`.
    pub direction: &'static str,
    pub peer: String,
    /// The ports left out (`all` when the whole peer is).
    pub ports: String,
    pub reason: String,
}

impl std::fmt::Display for NotExpressible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} ({}): {}",
            self.policy, self.direction, self.peer, self.ports, self.reason
        )
    }
}

/// The NetworkPolicies and what they leave out.
#[derive(Debug, Clone, Default)]
pub struct K8sSet {
    /// Sorted by namespace and name.
    pub policies: Vec<NetworkPolicy>,
    pub not_expressible: Vec<NotExpressible>,
    /// What was not generated at all, and why.
    pub notes: Vec<String>,
}

/// Builds one NetworkPolicy per observed workload.
pub fn synthesize_k8s(graph: &TrafficGraph, cfg: &SynthConfig) -> K8sSet {
    let view = super::view::of(graph, &super::roles(graph, cfg), cfg.include_dropped);
    let ctx = Context::new(&view, cfg);
    let mut out = K8sSet::default();
    if cfg.foundation {
        out.notes.push(
            "no foundation: NetworkPolicy cannot allow without denying (a namespace-wide DNS policy would put every pod in egress default-deny); each workload's policy carries its own observed DNS egress".into(),
        );
    }
    if cfg.same_namespace {
        out.notes.push(
            "--same-namespace is not generated: a NetworkPolicy allowing a namespace would put every pod of it into default-deny".into(),
        );
    }
    let mut names = PolicyNames::default();
    for (w, hood) in &ctx.neighbourhoods {
        if !cfg.namespaces.is_empty() && !cfg.namespaces.contains(&w.namespace) {
            continue;
        }
        let np = workload_policy(&ctx, w, hood, &mut names, &mut out.not_expressible);
        out.policies.push(np);
    }
    out.policies.sort_by(|a, b| {
        (a.metadata.namespace.as_deref(), a.metadata.name.as_str())
            .cmp(&(b.metadata.namespace.as_deref(), b.metadata.name.as_str()))
    });
    out.not_expressible.sort();
    out
}

/// A peer as NetworkPolicy writes it, or why it cannot.
enum K8sPeer {
    Pods(NetworkPolicyPeer),
    Blocks(BTreeSet<IpNet>),
    No(String),
}

fn peer_of(ctx: &Context<'_>, policy_ns: &str, peer: &Peer) -> K8sPeer {
    match peer {
        Peer::Workload(p) => K8sPeer::Pods(pods_peer(ctx, policy_ns, p)),
        Peer::Cidr(net) => K8sPeer::Blocks([*net].into()),
        Peer::Fqdn(name) => match ctx.graph.node_data(peer) {
            Some(n) if !n.addresses.is_empty() => {
                K8sPeer::Blocks(n.addresses.iter().map(|a| IpNet::from(*a)).collect())
            }
            _ => K8sPeer::No(format!(
                "no observed address for {name} (NetworkPolicy has no DNS names)"
            )),
        },
        Peer::Entity(Entity::World) => K8sPeer::Blocks(
            ["0.0.0.0/0", "::/0"]
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect(),
        ),
        Peer::Entity(e) => K8sPeer::No(format!(
            "the {} entity has no NetworkPolicy form (an ipBlock does not select Cilium's cluster identities)",
            e.as_str()
        )),
    }
}

fn pods_peer(ctx: &Context<'_>, policy_ns: &str, p: &WorkloadKey) -> NetworkPolicyPeer {
    let pods = EndpointSelector::from_labels(ctx.selector(p).labels.clone());
    NetworkPolicyPeer {
        pod_selector: Some(pods),
        namespace_selector: (p.namespace != policy_ns)
            .then(|| EndpointSelector::from_labels([(NAMESPACE_NAME_LABEL, p.namespace.as_str())])),
        ip_block: None,
    }
}

fn block(net: &IpNet) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IpBlock {
            cidr: net.to_string(),
            except: Vec::new(),
        }),
        ..NetworkPolicyPeer::default()
    }
}

/// NetworkPolicy ports for a port set (ranges as `endPort`), and the ICMP
/// types it cannot carry.
fn k8s_ports(set: &BTreeSet<PortKey>) -> (Vec<NetworkPolicyPort>, Vec<String>) {
    let mut ports = Vec::new();
    for (proto, wire) in [
        (Proto::Tcp, K8sProtocol::TCP),
        (Proto::Udp, K8sProtocol::UDP),
        (Proto::Sctp, K8sProtocol::SCTP),
    ] {
        let numbers: Vec<u16> = set
            .iter()
            .filter(|p| p.proto == proto)
            .map(|p| p.port)
            .collect();
        for (start, end) in runs(&numbers) {
            ports.push(NetworkPolicyPort {
                protocol: Some(wire),
                port: Some(IntOrString::Int(i64::from(start))),
                end_port: (end > start).then_some(i32::from(end)),
            });
        }
    }
    let icmp = set
        .iter()
        .filter(|p| matches!(p.proto, Proto::Icmp4 | Proto::Icmp6))
        .map(PortKey::to_string)
        .collect();
    (ports, icmp)
}

fn all_ports(set: &BTreeSet<PortKey>) -> String {
    set.iter()
        .map(PortKey::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One direction's rules: pods per peer, ipBlocks grouped by port set.
fn rules(
    ctx: &Context<'_>,
    policy: &str,
    policy_ns: &str,
    direction: &'static str,
    peers: &BTreeMap<&Peer, BTreeMap<PortKey, &PortStats>>,
    missing: &mut Vec<NotExpressible>,
) -> Vec<(Vec<NetworkPolicyPort>, Vec<NetworkPolicyPeer>)> {
    let mut out = Vec::new();
    // ipBlocks grouped by identical (non-ICMP) port sets.
    let mut blocks: BTreeMap<BTreeSet<PortKey>, (Vec<NetworkPolicyPort>, BTreeSet<IpNet>)> =
        BTreeMap::new();
    for (peer, ports) in peers {
        let set: BTreeSet<PortKey> = ports.keys().copied().collect();
        let mut miss = |ports: String, reason: String| {
            missing.push(NotExpressible {
                policy: policy.to_string(),
                direction,
                peer: peer.to_string(),
                ports,
                reason,
            })
        };
        let (np_ports, icmp) = k8s_ports(&set);
        let k8s_peer = peer_of(ctx, policy_ns, peer);
        if let K8sPeer::No(mut reason) = k8s_peer {
            if direction == "ingress" && **peer == Peer::Entity(Entity::Host) {
                reason.push_str("; Cilium allows the local node's traffic to its pods by default (allow-localhost)");
            }
            miss(all_ports(&set), reason);
            continue;
        }
        if !icmp.is_empty() {
            miss(icmp.join(", "), "NetworkPolicy has no ICMP".into());
        }
        if let (Peer::Fqdn(name), K8sPeer::Blocks(nets)) = (*peer, &k8s_peer) {
            if nets.len() >= MAX_ADDRESSES && !np_ports.is_empty() {
                miss(
                    all_ports(&set),
                    format!("only the first {MAX_ADDRESSES} addresses of {name} were kept: connections to its other addresses are not allowed"),
                );
            }
        }
        l7_left_out(ctx, direction, peer, ports, &mut miss);
        if np_ports.is_empty() {
            continue;
        }
        match k8s_peer {
            K8sPeer::Pods(p) => out.push((np_ports, vec![p])),
            K8sPeer::Blocks(nets) => {
                let key = set.iter().filter(|p| !p.proto.is_icmp()).copied().collect();
                blocks
                    .entry(key)
                    .or_insert_with(|| (np_ports, BTreeSet::new()))
                    .1
                    .extend(nets);
            }
            K8sPeer::No(_) => {}
        }
    }
    for (_, (ports, nets)) in blocks {
        out.push((ports, nets.iter().map(block).collect()));
    }
    out
}

/// Lists the L7 rules the Cilium output would carry for this peer's ports.
fn l7_left_out(
    ctx: &Context<'_>,
    direction: &str,
    peer: &Peer,
    ports: &BTreeMap<PortKey, &PortStats>,
    miss: &mut impl FnMut(String, String),
) {
    let l7 = &ctx.cfg.l7;
    let in_cluster = direction == "ingress" || matches!(peer, Peer::Workload(_));
    if l7.http && in_cluster {
        for (p, stats) in ports {
            if p.proto != Proto::Tcp {
                continue;
            }
            if let Some(seen) = super::l7::http::usable(stats.http.as_ref()) {
                miss(
                    p.to_string(),
                    format!(
                        "{} HTTP request classes would become L7 rules; NetworkPolicy stops at L4, so every request on the port is allowed",
                        seen.classes.len()
                    ),
                );
            }
        }
    }
    if l7.dns && direction == "egress" && ctx.is_resolver(peer) {
        let names: BTreeSet<&String> = ports
            .iter()
            .filter(|(p, _)| super::resolver::is_dns_port(p))
            .filter_map(|(_, s)| s.dns.as_ref())
            .flat_map(|d| d.names.iter())
            .collect();
        if !names.is_empty() {
            let dns: Vec<String> = ports
                .keys()
                .filter(|p| super::resolver::is_dns_port(p))
                .map(PortKey::to_string)
                .collect();
            miss(
                dns.join(", "),
                format!(
                    "{} queried DNS names would become a DNS rule; NetworkPolicy has no DNS rules, so every name may be resolved",
                    names.len()
                ),
            );
        }
    }
}

fn workload_policy(
    ctx: &Context<'_>,
    w: &WorkloadKey,
    hood: &Neighbourhood<'_>,
    names: &mut PolicyNames,
    missing: &mut Vec<NotExpressible>,
) -> NetworkPolicy {
    let name = policy_name(ctx, w, names);
    let id = format!("{}/{name}", w.namespace);
    let mut np = NetworkPolicy::new(name, w.namespace.clone());
    np.metadata
        .labels
        .insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    np.metadata.annotations = workload_annotations(ctx, hood);
    np.spec.pod_selector = EndpointSelector::from_labels(ctx.selector(w).labels.clone());
    np.spec.ingress = rules(ctx, &id, &w.namespace, "ingress", &hood.ingress, missing)
        .into_iter()
        .map(|(ports, from)| NetworkPolicyIngressRule { ports, from })
        .collect();
    np.spec.egress = rules(ctx, &id, &w.namespace, "egress", &hood.egress, missing)
        .into_iter()
        .map(|(ports, to)| NetworkPolicyEgressRule { ports, to })
        .collect();
    // Both directions are default-deny, whatever was observed (as the CNP).
    np.spec.policy_types = vec![PolicyType::Ingress, PolicyType::Egress];
    np
}
