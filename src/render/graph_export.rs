//! Exports of the namespace/workload traffic graph: Graphviz DOT (one
//! cluster per namespace), Mermaid flowchart (one subgraph per namespace)
//! and JSON. Deterministic: nodes and edges are sorted by peer, node ids are
//! their positions in that order.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::graph::evidence::format_time;
use crate::graph::stability::edge_span;
use crate::graph::{EdgeData, NodeData, TrafficGraph};
use crate::interpret::peer::Peer;

/// Ids (`n0`, `n1`, …) of the nodes in sorted order.
fn ids(graph: &TrafficGraph) -> (Vec<&NodeData>, BTreeMap<&Peer, String>) {
    let nodes = graph.nodes_sorted();
    let ids = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (&n.peer, format!("n{i}")))
        .collect();
    (nodes, ids)
}

/// The namespace a node is drawn in (None: outside every namespace).
fn namespace(p: &Peer) -> Option<&str> {
    p.as_workload().map(|w| w.namespace.as_str())
}

/// The short label of a node.
fn label(p: &Peer) -> String {
    match p {
        Peer::Workload(w) => w.display_name(),
        other => other.to_string(),
    }
}

/// `80/TCP, 53/UDP (dropped)`: the ports of an edge.
fn ports_label(e: &EdgeData) -> String {
    e.ports
        .iter()
        .map(|(k, s)| {
            if s.allowed.is_none() {
                format!("{k} (dropped)")
            } else {
                k.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn only_dropped(e: &EdgeData) -> bool {
    e.ports.values().all(|s| s.allowed.is_none())
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Graphviz DOT.
pub fn to_dot(graph: &TrafficGraph) -> String {
    let (nodes, ids) = ids(graph);
    let mut out = String::from(
        "digraph flowpolicy {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
    );
    let mut by_ns: BTreeMap<Option<&str>, Vec<&NodeData>> = BTreeMap::new();
    for n in &nodes {
        by_ns.entry(namespace(&n.peer)).or_default().push(n);
    }
    for (i, (ns, members)) in by_ns.iter().enumerate() {
        let indent = if ns.is_some() { "    " } else { "  " };
        if let Some(ns) = ns {
            out.push_str(&format!(
                "  subgraph cluster_{i} {{\n    label={};\n    style=rounded;\n",
                quote(ns)
            ));
        }
        for n in members {
            let shape = if n.peer.as_workload().is_some() {
                ""
            } else {
                ", shape=ellipse"
            };
            out.push_str(&format!(
                "{indent}{} [label={}{shape}];\n",
                ids[&n.peer],
                quote(&label(&n.peer))
            ));
        }
        if ns.is_some() {
            out.push_str("  }\n");
        }
    }
    for (from, to, e) in graph.edges_sorted() {
        let style = if only_dropped(e) {
            ", style=dashed, color=red"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {} -> {} [label={}{style}];\n",
            ids[from],
            ids[to],
            quote(&ports_label(e))
        ));
    }
    out.push_str("}\n");
    out
}

/// Mermaid flowchart.
pub fn to_mermaid(graph: &TrafficGraph) -> String {
    let (nodes, ids) = ids(graph);
    let text = |s: &str| format!("\"{}\"", s.replace('"', "#quot;"));
    let mut out = String::from("flowchart LR\n");
    let mut by_ns: BTreeMap<Option<&str>, Vec<&NodeData>> = BTreeMap::new();
    for n in &nodes {
        by_ns.entry(namespace(&n.peer)).or_default().push(n);
    }
    for (i, (ns, members)) in by_ns.iter().enumerate() {
        if let Some(ns) = ns {
            out.push_str(&format!("  subgraph ns{i}[{}]\n", text(ns)));
        }
        for n in members {
            let (open, close) = if n.peer.as_workload().is_some() {
                ("[", "]")
            } else {
                ("([", "])")
            };
            out.push_str(&format!(
                "    {}{open}{}{close}\n",
                ids[&n.peer],
                text(&label(&n.peer))
            ));
        }
        if ns.is_some() {
            out.push_str("  end\n");
        }
    }
    for (from, to, e) in graph.edges_sorted() {
        let arrow = if only_dropped(e) { "-.->" } else { "-->" };
        out.push_str(&format!(
            "  {} {arrow}|{}| {}\n",
            ids[from],
            text(&ports_label(e)),
            ids[to]
        ));
    }
    out
}

/// JSON: `{"nodes": [...], "edges": [...]}` with ids, peers, first/last
/// seen and per-port counts.
pub fn to_json(graph: &TrafficGraph) -> String {
    let (nodes, ids) = ids(graph);
    let nodes: Vec<Value> = nodes
        .iter()
        .map(|n| {
            json!({
                "id": ids[&n.peer],
                "label": label(&n.peer),
                "namespace": namespace(&n.peer),
                "peer": n.peer,
                "first_seen": format_time(n.first_seen),
                "last_seen": format_time(n.last_seen),
            })
        })
        .collect();
    let edges: Vec<Value> = graph
        .edges_sorted()
        .into_iter()
        .map(|(from, to, e)| {
            let (first, last) = edge_span(e);
            let ports: Vec<Value> = e
                .ports
                .iter()
                .map(|(k, s)| {
                    let count = |t: &Option<crate::graph::Tally>| {
                        t.as_ref()
                            .map(|t| json!({"connections": t.connections, "flows": t.flows}))
                    };
                    json!({
                        "protocol": k.proto,
                        "port": k.port,
                        "allowed": count(&s.allowed),
                        "dropped": count(&s.dropped),
                    })
                })
                .collect();
            json!({
                "from": ids[from],
                "to": ids[to],
                "ports": ports,
                "first_seen": format_time(first),
                "last_seen": format_time(last),
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&json!({
        "format": "flowpolicy-graph",
        "nodes": nodes,
        "edges": edges,
    }))
    .expect("JSON values serialize");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{evidence::Tally, PortStats};
    use crate::interpret::l4::{PortKey, Proto};
    use crate::interpret::peer::{Entity, WorkloadKey};

    fn sample() -> TrafficGraph {
        let w = |ns: &str, app: &str| {
            Peer::Workload(WorkloadKey {
                namespace: ns.into(),
                labels: [("app".to_string(), app.to_string())].into(),
            })
        };
        let allowed = PortStats {
            allowed: Some(Tally {
                connections: 2,
                flows: 5,
                first_seen: 1,
                last_seen: 2,
                sample: String::new(),
                ..Tally::default()
            }),
            ..PortStats::default()
        };
        let dropped = PortStats {
            dropped: allowed.allowed.clone(),
            ..PortStats::default()
        };
        let tcp = |port| PortKey {
            proto: Proto::Tcp,
            port,
        };
        let mut g = TrafficGraph::new();
        g.insert_port(&w("shop", "web"), &w("shop", "db"), tcp(5432), &allowed);
        g.insert_port(
            &w("shop", "web"),
            &Peer::Entity(Entity::World),
            tcp(443),
            &dropped,
        );
        g.insert_port(&w("ops", "prom"), &w("shop", "web"), tcp(9090), &allowed);
        g
    }

    #[test]
    fn dot_groups_namespaces_and_is_deterministic() {
        let dot = to_dot(&sample());
        assert_eq!(dot, to_dot(&sample()));
        assert!(dot.contains("label=\"shop\""), "{dot}");
        assert!(
            dot.contains("[label=\"443/TCP (dropped)\", style=dashed, color=red]"),
            "{dot}"
        );
        assert!(dot.contains("[label=\"5432/TCP\"]"), "{dot}");
    }

    #[test]
    fn mermaid_and_json_have_every_edge() {
        let m = to_mermaid(&sample());
        assert_eq!(
            m.matches("-->").count() + m.matches("-.->").count(),
            3,
            "{m}"
        );
        assert!(m.starts_with("flowchart LR\n"));
        let j: Value = serde_json::from_str(&to_json(&sample())).unwrap();
        assert_eq!(j["edges"].as_array().unwrap().len(), 3);
        assert_eq!(j["nodes"].as_array().unwrap().len(), 4);
    }
}
