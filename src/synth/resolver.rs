//! The cluster's DNS resolver, detected from the flows, never assumed:
//! whatever answered UDP or TCP on port 53 or 5353 (CoreDNS/kube-dns, NodeLocal DNS
//! on the host, OpenShift's 5353 after DNAT, an upstream in the world).
//! `toFQDNs` only works when the pod's DNS goes through Cilium's DNS proxy,
//! so every egress rule to a resolver carries `rules.dns` (see docs).

use std::collections::{BTreeMap, BTreeSet};

use crate::graph::TrafficGraph;
use crate::peer::l4::{PortKey, Proto};
use crate::peer::Peer;

/// Ports on which an answering peer is taken to be a DNS resolver.
pub const DNS_PORTS: [u16; 2] = [53, 5353];

/// A detected resolver: the peer and the DNS ports it answered on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolver {
    pub peer: Peer,
    pub ports: BTreeSet<u16>,
    /// How many distinct workloads used it.
    pub clients: usize,
}

/// Whether a responder port is DNS.
pub fn is_dns_port(p: &PortKey) -> bool {
    matches!(p.proto, Proto::Udp | Proto::Tcp) && DNS_PORTS.contains(&p.port)
}

/// Resolvers from allowed traffic: in-cluster ones (workloads, host) first,
/// then world resolvers some pods query directly; most used first.
pub fn detect(graph: &TrafficGraph) -> Vec<Resolver> {
    let mut found: BTreeMap<&Peer, (BTreeSet<u16>, BTreeSet<&Peer>)> = BTreeMap::new();
    // Into sorted maps and sets: in the graph's own order.
    for (from, to, edge) in graph.edges() {
        for (port, stats) in &edge.ports {
            if is_dns_port(port) && stats.allowed.is_some() {
                let e = found.entry(to).or_default();
                e.0.insert(port.port);
                e.1.insert(from);
            }
        }
    }
    let mut out: Vec<Resolver> = found
        .into_iter()
        .map(|(peer, (ports, clients))| Resolver {
            peer: peer.clone(),
            ports,
            clients: clients.len(),
        })
        .collect();
    out.sort_by(|a, b| {
        (a.peer.is_world(), std::cmp::Reverse(a.clients), &a.peer).cmp(&(
            b.peer.is_world(),
            std::cmp::Reverse(b.clients),
            &b.peer,
        ))
    });
    out
}
