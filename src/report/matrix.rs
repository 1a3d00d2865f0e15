//! The namespace graph as an adjacency matrix and per-namespace
//! neighbourhoods: what stays readable at 20+ namespaces and 100+ edges,
//! where a drawn graph becomes a tangle. Rows are initiators, columns
//! responders (namespaces first, then entities, CIDR groups and `world`);
//! each cell holds the folded workload edges, their ports, connections and a
//! verdict (allowed, partly or only DROPPED) and whether the pair is new in
//! the capture's last day.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::graph::namespaces::NsNode;
use crate::graph::TrafficGraph;

/// How long before the capture's end a pair must first appear to be "new".
const NEW_WINDOW_NS: i64 = 24 * 3600 * 1_000_000_000;

/// What the traffic of one cell was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Allowed,
    /// Some ports seen only DROPPED.
    PartlyDropped,
    /// Every port seen only DROPPED.
    Dropped,
}

/// One (initiator, responder) pair of the namespace view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatrixCell {
    pub from: usize,
    pub to: usize,
    /// Workload-level edges folded in.
    pub edges: usize,
    /// Responder ports, as `443/TCP`.
    pub ports: Vec<String>,
    pub connections: u64,
    pub verdict: Verdict,
    /// First seen in the last 24 h of a capture longer than that.
    pub new: bool,
}

/// The matrix: node names and the non-empty cells, row-major.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Matrix {
    pub nodes: Vec<String>,
    /// How many of `nodes` are namespaces (they come first).
    pub namespaces: usize,
    pub cells: Vec<MatrixCell>,
}

#[derive(Default)]
struct Acc {
    edges: usize,
    ports: BTreeSet<crate::peer::l4::PortKey>,
    dropped_ports: usize,
    all_ports: usize,
    connections: u64,
    first_seen: Option<i64>,
}

impl Matrix {
    /// Folds the graph; traffic inside a namespace is left out (it is in
    /// the namespace tables).
    pub fn of(graph: &TrafficGraph) -> Matrix {
        let mut nodes: BTreeSet<NsNode> = BTreeSet::new();
        let mut acc: BTreeMap<(NsNode, NsNode), Acc> = BTreeMap::new();
        for n in graph.nodes_sorted() {
            nodes.insert(NsNode::of(&n.peer));
        }
        let c = &graph.coverage;
        let (first, last) = (c.first_flow, c.last_flow);
        for (from, to, e) in graph.edges_sorted() {
            let (a, b) = (NsNode::of(from), NsNode::of(to));
            if a == b {
                continue;
            }
            let x = acc.entry((a, b)).or_default();
            x.edges += 1;
            for (port, s) in &e.ports {
                x.ports.insert(*port);
                x.all_ports += 1;
                if s.allowed.is_none() {
                    x.dropped_ports += 1;
                }
                for t in [&s.allowed, &s.dropped].into_iter().flatten() {
                    x.connections += t.connections;
                    if t.first_seen > 0 {
                        let f = t.first_seen;
                        x.first_seen = Some(x.first_seen.map_or(f, |v: i64| v.min(f)));
                    }
                }
            }
        }
        // Namespaces first (they are what a reviewer looks for), then the rest.
        let order: Vec<NsNode> = nodes
            .iter()
            .filter(|n| n.is_namespace())
            .chain(nodes.iter().filter(|n| !n.is_namespace()))
            .cloned()
            .collect();
        let index: BTreeMap<&NsNode, usize> =
            order.iter().enumerate().map(|(i, n)| (n, i)).collect();
        let long = first > 0 && last.saturating_sub(first) > NEW_WINDOW_NS;
        let mut cells: Vec<MatrixCell> = acc
            .iter()
            .map(|((a, b), x)| MatrixCell {
                from: index[a],
                to: index[b],
                edges: x.edges,
                ports: x.ports.iter().map(|p| p.to_string()).collect(),
                connections: x.connections,
                verdict: if x.dropped_ports == 0 {
                    Verdict::Allowed
                } else if x.dropped_ports == x.all_ports {
                    Verdict::Dropped
                } else {
                    Verdict::PartlyDropped
                },
                new: long && x.first_seen.is_some_and(|f| f > last - NEW_WINDOW_NS),
            })
            .collect();
        cells.sort_by_key(|c| (c.from, c.to));
        Matrix {
            namespaces: order.iter().filter(|n| n.is_namespace()).count(),
            nodes: order.iter().map(|n| n.to_string()).collect(),
            cells,
        }
    }

    /// The cell of a pair, if any.
    pub fn cell(&self, from: usize, to: usize) -> Option<&MatrixCell> {
        self.cells
            .binary_search_by_key(&(from, to), |c| (c.from, c.to))
            .ok()
            .map(|i| &self.cells[i])
    }

    /// Cells a node initiates and responds to: (outbound, inbound).
    pub fn neighbourhood(&self, node: usize) -> (Vec<&MatrixCell>, Vec<&MatrixCell>) {
        let out = self.cells.iter().filter(|c| c.from == node).collect();
        let inb = self.cells.iter().filter(|c| c.to == node).collect();
        (out, inb)
    }

    /// Nodes that take part in at least one cell.
    pub fn active(&self) -> Vec<usize> {
        let mut v: BTreeSet<usize> = BTreeSet::new();
        for c in &self.cells {
            v.insert(c.from);
            v.insert(c.to);
        }
        v.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_graph_has_an_empty_matrix() {
        let m = Matrix::of(&TrafficGraph::default());
        assert!(m.nodes.is_empty() && m.cells.is_empty());
        assert_eq!(m.cell(0, 0), None);
    }
}
