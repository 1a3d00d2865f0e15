//! Exports of the namespace/workload traffic graph: Graphviz DOT (one
//! cluster per namespace), Mermaid flowchart (one subgraph per namespace)
//! and JSON, of the workload graph or of its namespace view
//! ([`NamespaceGraph`]), through one emitter per format. Deterministic: nodes and edges are sorted by peer, node ids are
//! their positions in that order.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::graph::evidence::format_time;
use crate::graph::namespaces::{NamespaceGraph, NsNode};
use crate::graph::stability::edge_span;
use crate::graph::{EdgeData, NodeData, TrafficGraph};
use crate::peer::Peer;

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

/// A Mermaid label in quotes: `"`, `#`, `<` and `>` as Mermaid entity codes
/// (inside quotes every other character is literal).
pub fn mermaid_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One drawn node.
struct DrawNode {
    id: String,
    label: String,
    /// Outside the cluster's workloads (drawn rounded).
    round: bool,
}

/// What both emitters draw: nodes grouped into clusters (`None`: top
/// level), and labelled edges (dashed: seen only DROPPED).
struct Drawing {
    groups: Vec<(Option<String>, Vec<DrawNode>)>,
    edges: Vec<(String, String, String, bool)>,
}

/// The workload-level drawing: one cluster per namespace.
fn workload_drawing(graph: &TrafficGraph) -> Drawing {
    let (nodes, ids) = ids(graph);
    let mut by_ns: BTreeMap<Option<&str>, Vec<&NodeData>> = BTreeMap::new();
    for n in &nodes {
        by_ns.entry(namespace(&n.peer)).or_default().push(n);
    }
    let groups = by_ns
        .into_iter()
        .map(|(ns, members)| {
            let members = members
                .into_iter()
                .map(|n| DrawNode {
                    id: ids[&n.peer].clone(),
                    label: label(&n.peer),
                    round: n.peer.as_workload().is_none(),
                })
                .collect();
            (ns.map(str::to_string), members)
        })
        .collect();
    let edges = graph
        .edges_sorted()
        .into_iter()
        .map(|(from, to, e)| {
            (
                ids[from].clone(),
                ids[to].clone(),
                ports_label(e),
                only_dropped(e),
            )
        })
        .collect();
    Drawing { groups, edges }
}

/// Most ports named on a namespace-level edge before it says `N ports`.
const NS_PORTS_NAMED: usize = 3;

/// The namespace-level drawing: namespaces, entities, CIDR groups and
/// `world` as nodes; edges between different nodes labelled with their
/// ports (or how many), traffic inside a namespace left out.
fn namespace_drawing(g: &NamespaceGraph) -> Drawing {
    let ids: BTreeMap<&NsNode, String> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n, format!("n{i}")))
        .collect();
    let members = g
        .nodes
        .iter()
        .map(|n| DrawNode {
            id: ids[n].clone(),
            label: n.to_string(),
            round: !n.is_namespace(),
        })
        .collect();
    let edges = g
        .crossing()
        .map(|(a, b, e)| {
            let ports = if e.ports.len() <= NS_PORTS_NAMED {
                e.ports
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                format!("{} ports", e.ports.len())
            };
            let label = if e.only_dropped {
                format!("{ports} (dropped)")
            } else {
                ports
            };
            let id = |n: &NsNode| ids.get(n).cloned().unwrap_or_default();
            (id(a), id(b), label, e.only_dropped)
        })
        .collect();
    Drawing {
        groups: vec![(None, members)],
        edges,
    }
}

fn dot(d: &Drawing) -> String {
    let mut out = String::from(
        "digraph flowpolicy {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
    );
    for (i, (ns, members)) in d.groups.iter().enumerate() {
        let indent = if ns.is_some() { "    " } else { "  " };
        if let Some(ns) = ns {
            out.push_str(&format!(
                "  subgraph cluster_{i} {{\n    label={};\n    style=rounded;\n",
                quote(ns)
            ));
        }
        for n in members {
            let shape = if n.round { ", shape=ellipse" } else { "" };
            out.push_str(&format!(
                "{indent}{} [label={}{shape}];\n",
                n.id,
                quote(&n.label)
            ));
        }
        if ns.is_some() {
            out.push_str("  }\n");
        }
    }
    for (from, to, label, dashed) in &d.edges {
        let style = if *dashed {
            ", style=dashed, color=red"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {from} -> {to} [label={}{style}];\n",
            quote(label)
        ));
    }
    out.push_str("}\n");
    out
}

fn mermaid(d: &Drawing) -> String {
    let mut out = String::from("flowchart LR\n");
    for (i, (ns, members)) in d.groups.iter().enumerate() {
        if let Some(ns) = ns {
            out.push_str(&format!("  subgraph ns{i}[{}]\n", mermaid_text(ns)));
        }
        for n in members {
            let (open, close) = if n.round { ("([", "])") } else { ("[", "]") };
            out.push_str(&format!(
                "    {}{open}{}{close}\n",
                n.id,
                mermaid_text(&n.label)
            ));
        }
        if ns.is_some() {
            out.push_str("  end\n");
        }
    }
    for (from, to, label, dashed) in &d.edges {
        let arrow = if *dashed { "-.->" } else { "-->" };
        out.push_str(&format!("  {from} {arrow}|{}| {to}\n", mermaid_text(label)));
    }
    out
}

/// Graphviz DOT.
pub fn to_dot(graph: &TrafficGraph) -> String {
    dot(&workload_drawing(graph))
}

/// Mermaid flowchart.
pub fn to_mermaid(graph: &TrafficGraph) -> String {
    mermaid(&workload_drawing(graph))
}

/// Graphviz DOT of the namespace view.
pub fn namespace_dot(g: &NamespaceGraph) -> String {
    dot(&namespace_drawing(g))
}

/// Mermaid flowchart of the namespace view.
pub fn namespace_mermaid(g: &NamespaceGraph) -> String {
    mermaid(&namespace_drawing(g))
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
    use crate::peer::l4::{PortKey, Proto};
    use crate::peer::{Entity, WorkloadKey};

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
        assert_eq!(mermaid_text("a\"b#c<d>"), "\"a#quot;b#35;c#lt;d#gt;\"");
        let j: Value = serde_json::from_str(&to_json(&sample())).unwrap();
        assert_eq!(j["edges"].as_array().unwrap().len(), 3);
        assert_eq!(j["nodes"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn namespace_view_draws_namespaces_and_crossing_edges() {
        let ns = NamespaceGraph::of(&sample());
        let m = namespace_mermaid(&ns);
        assert!(m.contains("([\"world\"])"), "{m}");
        assert!(m.contains("[\"ops\"]") && m.contains("[\"shop\"]"), "{m}");
        assert!(m.contains("-.->|\"443/TCP (dropped)\"|"), "{m}");
        assert!(!m.contains("5432"), "traffic inside shop is not drawn: {m}");
        let d = namespace_dot(&ns);
        assert_eq!(d.matches(" -> ").count(), 2, "{d}");
        assert!(!d.contains("subgraph"), "{d}");
    }
}
