//! Peers (the ends of a connection) and how a node's agent describes them as Hubble endpoints:
//! pod identities, reserved identities (host, remote-node, kube-apiserver, health) and the three
//! styles of world identity.

use std::net::IpAddr;

use flowpolicy::proto::flow::{Endpoint, Workload};

use super::rng::fnv1a;
use super::sim::Sim;
use super::workloads::object_name;

/// First locally scoped (CIDR) identity.
const LOCAL_IDENTITY_BASE: u32 = 1 << 24;

/// One end of a connection.
#[derive(Clone, Debug)]
pub(crate) enum Peer {
    Pod(usize),
    /// A node's host namespace seen from its cilium_host address (kubelet probes).
    Host(usize),
    /// A node at its own address (hostNetwork agents, SNATed LoadBalancer traffic).
    NodeIp(usize),
    /// kube-apiserver on a control-plane node.
    ApiServer(usize),
    /// kube-apiserver reached at its LoadBalancer address.
    ApiServerLb,
    Health(usize),
    /// Anything outside the cluster (internet, LAN clients, NAS).
    World(IpAddr),
}

/// How Hubble labels a world address (facts §1): three styles coexist in the fixture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WorldStyle {
    Plain,
    CidrIpv4,
    Ipv6,
}

fn world_style(ip: &IpAddr) -> WorldStyle {
    match ip {
        IpAddr::V6(_) => WorldStyle::Ipv6,
        IpAddr::V4(v4) if v4.octets()[0] == 10 => WorldStyle::Plain,
        IpAddr::V4(v4) if fnv1a(&v4.to_string()) % 5 < 2 => WorldStyle::CidrIpv4,
        IpAddr::V4(_) => WorldStyle::Plain,
    }
}

fn reserved_endpoint(identity: u32, labels: &[&str]) -> Endpoint {
    Endpoint {
        identity,
        labels: labels.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

impl<'c> Sim<'c> {
    /// Node where a peer is a local Cilium endpoint (only pods and health endpoints).
    pub(crate) fn local_node(&self, peer: &Peer) -> Option<usize> {
        match peer {
            Peer::Pod(i) => Some(self.cluster.pods[*i].node),
            Peer::Health(n) => Some(*n),
            _ => None,
        }
    }

    pub(crate) fn peer_ip(&self, peer: &Peer, v6: bool) -> IpAddr {
        let c = self.cluster;
        match peer {
            Peer::Pod(i) if v6 => IpAddr::V6(c.pods[*i].ip6),
            Peer::Pod(i) => IpAddr::V4(c.pods[*i].ip),
            Peer::Host(n) => IpAddr::V4(c.nodes[*n].router_ip),
            Peer::NodeIp(n) => IpAddr::V4(c.nodes[*n].ip),
            Peer::ApiServer(n) => IpAddr::V4(c.nodes[*n].ip),
            Peer::ApiServerLb => IpAddr::V4(c.apiserver_lb_ip),
            Peer::Health(n) => IpAddr::V4(c.nodes[*n].health_ip),
            Peer::World(ip) => *ip,
        }
    }

    fn world_endpoint(&mut self, ip: IpAddr) -> Endpoint {
        match world_style(&ip) {
            WorldStyle::Plain => reserved_endpoint(2, &["reserved:world"]),
            WorldStyle::Ipv6 => reserved_endpoint(10, &["reserved:world-ipv6"]),
            WorldStyle::CidrIpv4 => {
                let next = LOCAL_IDENTITY_BASE + 1 + self.world_identities.len() as u32;
                let id = *self.world_identities.entry(ip).or_insert(next);
                Endpoint {
                    identity: id,
                    labels: vec![format!("cidr:{ip}/32"), "reserved:world-ipv4".to_string()],
                    ..Default::default()
                }
            }
        }
    }

    /// The endpoint as the agent on `observer` node describes it.
    pub(crate) fn endpoint(&mut self, peer: &Peer, observer: usize) -> Endpoint {
        let c = self.cluster;
        match peer {
            Peer::Pod(i) => {
                let p = &c.pods[*i];
                Endpoint {
                    id: p.endpoint_id,
                    identity: p.identity,
                    cluster_name: c.name.clone(),
                    namespace: p.namespace.clone(),
                    labels: p.identity_labels(&c.name),
                    pod_name: object_name(&p.name),
                    workloads: vec![Workload {
                        name: object_name(&p.workload),
                        kind: p.workload_kind.clone(),
                    }],
                }
            }
            Peer::Host(n) | Peer::NodeIp(n) if *n == observer => {
                reserved_endpoint(1, &["reserved:host"])
            }
            Peer::Host(_) | Peer::NodeIp(_) => reserved_endpoint(6, &["reserved:remote-node"]),
            Peer::ApiServer(n) if *n == observer => {
                reserved_endpoint(1, &["reserved:host", "reserved:kube-apiserver"])
            }
            Peer::ApiServer(_) | Peer::ApiServerLb => {
                reserved_endpoint(7, &["reserved:kube-apiserver", "reserved:remote-node"])
            }
            Peer::Health(n) => Endpoint {
                id: c.nodes[*n].health_id,
                identity: 4,
                labels: vec!["reserved:health".into()],
                ..Default::default()
            },
            Peer::World(ip) => self.world_endpoint(*ip),
        }
    }
}
