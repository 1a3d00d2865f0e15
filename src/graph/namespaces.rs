//! The namespace-level view of a traffic graph: every workload folded into
//! its namespace, every world peer (addresses, names, `world`) into one
//! `world` node except configured CIDR groups, which stay apart (they are
//! "the LAN", not "the internet"), and Cilium entities kept as they are.
//! Used for diagrams that must stay readable for a whole cluster.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use serde::Serialize;

use super::TrafficGraph;
use crate::peer::l4::PortKey;
use crate::peer::{Entity, Peer};

/// A node of the namespace view.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "kebab-case")]
pub enum NsNode {
    Namespace(String),
    Entity(Entity),
    /// A prefix wider than one address (a `--cidr-group`).
    CidrGroup(IpNet),
    /// Everything else outside the cluster: single addresses, DNS names.
    World,
}

impl NsNode {
    /// The node a peer is folded into.
    pub fn of(p: &Peer) -> NsNode {
        match p {
            Peer::Workload(w) => NsNode::Namespace(w.namespace.clone()),
            Peer::Entity(Entity::World) | Peer::Fqdn(_) => NsNode::World,
            Peer::Entity(e) => NsNode::Entity(*e),
            Peer::Cidr(net) if net.prefix_len() < net.max_prefix_len() => NsNode::CidrGroup(*net),
            Peer::Cidr(_) => NsNode::World,
        }
    }

    pub fn is_namespace(&self) -> bool {
        matches!(self, NsNode::Namespace(_))
    }
}

impl std::fmt::Display for NsNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NsNode::Namespace(ns) => f.write_str(ns),
            NsNode::Entity(e) => write!(f, "entity:{}", e.as_str()),
            NsNode::CidrGroup(net) => write!(f, "cidr:{net}"),
            NsNode::World => f.write_str("world"),
        }
    }
}

/// Everything one node of the view did to another.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NsEdge {
    /// Responder ports used.
    pub ports: BTreeSet<PortKey>,
    /// Workload-level edges folded in.
    pub edges: usize,
    /// Connections and flows, allowed and dropped together.
    pub connections: u64,
    pub flows: u64,
    /// Every folded port was seen only DROPPED.
    pub only_dropped: bool,
}

/// The namespace view: nodes and edges, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceGraph {
    pub nodes: BTreeSet<NsNode>,
    /// (initiator, responder) → evidence; self-loops are traffic inside a namespace.
    pub edges: BTreeMap<(NsNode, NsNode), NsEdge>,
}

impl NamespaceGraph {
    /// Folds a workload graph into its namespace view.
    pub fn of(graph: &TrafficGraph) -> NamespaceGraph {
        let mut out = NamespaceGraph::default();
        for n in graph.nodes_sorted() {
            out.nodes.insert(NsNode::of(&n.peer));
        }
        for (from, to, e) in graph.edges_sorted() {
            let key = (NsNode::of(from), NsNode::of(to));
            let fresh = !out.edges.contains_key(&key);
            let agg = out.edges.entry(key).or_default();
            if fresh {
                agg.only_dropped = true;
            }
            agg.edges += 1;
            for (port, stats) in &e.ports {
                agg.ports.insert(*port);
                for t in [&stats.allowed, &stats.dropped].into_iter().flatten() {
                    agg.connections += t.connections;
                    agg.flows += t.flows;
                }
                if stats.allowed.is_some() {
                    agg.only_dropped = false;
                }
            }
        }
        out
    }

    /// Edges between different nodes (what a diagram draws).
    pub fn crossing(&self) -> impl Iterator<Item = (&NsNode, &NsNode, &NsEdge)> {
        self.edges
            .iter()
            .filter(|((a, b), _)| a != b)
            .map(|((a, b), e)| (a, b, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{PortStats, Tally};
    use crate::peer::l4::Proto;
    use crate::peer::WorkloadKey;

    fn w(ns: &str, app: &str) -> Peer {
        Peer::Workload(WorkloadKey {
            namespace: ns.into(),
            labels: [("app".to_string(), app.to_string())].into(),
        })
    }

    fn stats(dropped: bool) -> PortStats {
        let t = Some(Tally {
            connections: 2,
            flows: 6,
            ..Tally::default()
        });
        if dropped {
            PortStats {
                dropped: t,
                ..PortStats::default()
            }
        } else {
            PortStats {
                allowed: t,
                ..PortStats::default()
            }
        }
    }

    #[test]
    fn folds_workloads_into_namespaces_and_world_into_one_node() {
        let tcp = |port| PortKey {
            proto: Proto::Tcp,
            port,
        };
        let mut g = TrafficGraph::new();
        g.insert_port(
            &w("shop", "web"),
            &w("dbms", "pg"),
            tcp(5432),
            &stats(false),
        );
        g.insert_port(
            &w("shop", "api"),
            &w("dbms", "pg"),
            tcp(5432),
            &stats(false),
        );
        g.insert_port(&w("shop", "api"), &w("shop", "web"), tcp(80), &stats(false));
        g.insert_port(
            &w("shop", "web"),
            &Peer::Fqdn("example.com".into()),
            tcp(443),
            &stats(true),
        );
        g.insert_port(
            &Peer::Cidr("192.0.2.1/32".parse().unwrap()),
            &w("shop", "web"),
            tcp(443),
            &stats(false),
        );
        g.insert_port(
            &Peer::Cidr("10.0.0.0/8".parse().unwrap()),
            &w("dbms", "pg"),
            tcp(5432),
            &stats(false),
        );
        let ns = NamespaceGraph::of(&g);
        let shop = NsNode::Namespace("shop".into());
        let dbms = NsNode::Namespace("dbms".into());
        let e = &ns.edges[&(shop.clone(), dbms.clone())];
        assert_eq!((e.edges, e.connections, e.flows), (2, 4, 12));
        assert!(!e.only_dropped);
        assert!(ns.edges[&(shop.clone(), NsNode::World)].only_dropped);
        assert!(ns.edges.contains_key(&(NsNode::World, shop.clone())));
        let lan = NsNode::CidrGroup("10.0.0.0/8".parse().unwrap());
        assert!(ns.edges.contains_key(&(lan, dbms)));
        assert_eq!(
            ns.crossing().count(),
            4,
            "the shop self-loop is not crossing"
        );
        assert_eq!(ns.nodes.len(), 4);
    }
}
