//! What synthesis reads: the traffic graph with each reserved identity
//! renamed to the entity a policy names for it (and, see [`super::roles`],
//! each instance of a role renamed to its role).
//!
//! Cilium selects reserved identities by label, and gives each the union of
//! the labels of the addresses it stands for: the host of a control-plane
//! node carries `reserved:host` and `reserved:kube-apiserver`, a remote
//! control-plane node (identity 7) `reserved:kube-apiserver` and
//! `reserved:remote-node`. A policy names one entity per rule, chosen from
//! the peer's labels and the port, never from its number:
//!
//! - egress to an API server port (TCP 6443 or 443) of an identity that
//!   carries `reserved:kube-apiserver` is `kube-apiserver`, wherever it runs
//!   (the local host or a remote node), so the rule still holds after the pod
//!   moves to another node;
//! - egress to another port of such an identity is `host` for the local host
//!   and `remote-node` for a remote node (kubelet, etcd, node exporters);
//! - ingress from the local host stays `host` (kubelet probes), from a remote
//!   API server `kube-apiserver` (webhooks).
//!
//! With `--include-dropped`, the HTTP requests and DNS names of DROPPED L7
//! records join the allowed ones here, so the L7 rules learn them too.

use std::borrow::Cow;

use super::roles::Roles;
use crate::graph::{PortStats, TrafficGraph};
use crate::peer::l4::PortKey;
use crate::peer::{Entity, Peer};

/// The graph synthesis reads: `graph` itself when nothing is renamed or
/// joined.
pub fn of<'g>(
    graph: &'g TrafficGraph,
    roles: &Roles,
    include_dropped: bool,
) -> Cow<'g, TrafficGraph> {
    let renames_entity = graph.petgraph().node_weights().any(|n| {
        matches!(
            n.peer,
            Peer::Entity(
                Entity::HostKubeApiserver | Entity::KubeApiserver | Entity::KubeApiserverWorld
            )
        )
    });
    let dropped_l7 = include_dropped
        && graph
            .petgraph()
            .edge_weights()
            .any(|e| e.ports.values().any(PortStats::has_dropped_l7));
    if !renames_entity && !dropped_l7 && roles.is_empty() {
        return Cow::Borrowed(graph);
    }
    let node = |p: &Peer| match p {
        Peer::Entity(e) => Peer::Entity(e.primary()),
        Peer::Workload(w) => roles
            .role_of(w)
            .map_or_else(|| p.clone(), |r| Peer::Workload(r.clone())),
        _ => p.clone(),
    };
    let port = |from: &Peer, to: &Peer, key: PortKey| {
        let responder = match (from, to) {
            (Peer::Workload(_), Peer::Entity(e)) => Peer::Entity(e.for_port(&key)),
            _ => node(to),
        };
        (node(from), responder)
    };
    let mut out = graph.renamed(node, port);
    if dropped_l7 {
        out.map_ports(PortStats::with_dropped_l7);
    }
    Cow::Owned(out)
}
