//! A graph cut down to the connections `watch` still remembers (and the
//! baseline's): what keeps its graph bounded once `--max-edges` evicts.

use crate::graph::TrafficGraph;
use crate::peer::l4::PortKey;
use crate::peer::Peer;

/// `graph` with only the edge ports `keep` accepts, their nodes with their
/// addresses and times, and the same coverage.
pub fn retained(
    graph: &TrafficGraph,
    keep: impl Fn(&Peer, &Peer, PortKey) -> bool,
) -> TrafficGraph {
    let mut out = TrafficGraph::new();
    out.coverage = graph.coverage.clone();
    for (from, to, edge) in graph.edges_sorted() {
        for (port, stats) in &edge.ports {
            if keep(from, to, *port) {
                out.insert_port(from, to, *port, stats);
            }
        }
    }
    for n in graph.nodes_sorted() {
        if out.node_data(&n.peer).is_some() {
            out.insert_node(n);
        }
    }
    out
}
