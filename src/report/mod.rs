//! The review report (`flowpolicy report`): what a reviewer reads next to the
//! generated policies. A typed, serializable [`Report`] is built from the
//! traffic graph (and optional policy sets), then rendered by two
//! renderers over the same model: [`markdown`] and [`html`] (with the
//! namespace graph as inline SVG from Graphviz, see [`svg`]).
//!
//! Sections: an overview of the capture, the risk [`findings`] (classifier
//! table in [`classify`], policy files each concerns in [`files`]), the
//! namespace graph (and its adjacency [`matrix`]), per-namespace peer
//! [`tables`], and one section per policy set ([`policies`]). [`summary`]
//! fits the Markdown in a pull-request comment. Nothing
//! depends on wall-clock time: the same input gives the same report.

pub mod classify;
pub mod files;
pub mod findings;
pub mod grid;
pub mod html;
pub mod html_matrix;
pub mod html_text;
pub mod markdown;
pub mod matrix;
pub mod names;
pub mod policies;
pub mod summary;
pub mod svg;
pub mod tables;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::graph::evidence::format_time;
use crate::graph::namespaces::NamespaceGraph;
use crate::graph::stability::NextWeek;
use crate::graph::TrafficGraph;
use crate::interpret::InterpretStats;
use crate::policy::LoadedPolicies;
use crate::render::graph_export;
use crate::synth::roles::Roles;

pub use files::ChangedFiles;
pub use findings::{Finding, FindingKind, PolicyFile, Severity};
pub use policies::PolicySetSection;
pub use tables::NamespaceSection;

/// What was read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Overview {
    /// Input file names (no directories, so reports do not depend on where
    /// the files were).
    pub inputs: Vec<String>,
    pub flows: u64,
    pub first_flow: String,
    pub last_flow: String,
    pub namespaces: usize,
    pub workloads: usize,
    pub nodes: usize,
    pub edges: usize,
    pub edge_ports: usize,
    pub connections: u64,
    pub dropped_flows: u64,
    pub lost_events: u64,
    pub undecided_flows: u64,
    pub undecided_pairs: usize,
    pub malformed_lines: u64,
}

/// The namespace graph, as diagram sources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diagram {
    pub mermaid: String,
    pub dot: String,
    /// Nodes and (cross-namespace) edges drawn.
    pub nodes: usize,
    pub edges: usize,
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub overview: Overview,
    /// Findings per kind (every kind, zero included).
    pub finding_counts: BTreeMap<FindingKind, usize>,
    pub findings: Vec<Finding>,
    pub diagram: Diagram,
    /// The same graph as an adjacency matrix (readable at any size).
    pub matrix: matrix::Matrix,
    /// Findings about a workload whose policy file the pull request changes
    /// (`None` without `--changed-files`).
    pub changed_findings: Option<usize>,
    pub namespaces: Vec<NamespaceSection>,
    pub policy_sets: Vec<PolicySetSection>,
    /// Will the policies hold next week: the last day's new connection
    /// classes and the workloads still learning.
    pub next_week: NextWeek,
    /// Families of instances that `recommend` writes as one policy per role.
    pub families: Vec<String>,
}

/// What the report is built from besides the graph.
#[derive(Debug, Clone, Default)]
pub struct Inputs<'a> {
    /// Input names as shown.
    pub names: Vec<String>,
    pub interpret: Option<&'a InterpretStats>,
    pub malformed_lines: u64,
    pub policy_sets: Vec<PolicySetSection>,
    /// The loaded policy sets, to name the files each finding concerns.
    pub loaded: Vec<&'a LoadedPolicies>,
    /// Files the pull request adds or changes (`--changed-files`).
    pub changed: Option<ChangedFiles>,
}

/// Builds the report model.
pub fn build(graph: &TrafficGraph, inputs: Inputs<'_>) -> Report {
    let empty = InterpretStats::default();
    let stats = inputs.interpret.unwrap_or(&empty);
    let names = names::Names::new(graph.workloads());
    let mut findings = findings::analyse(graph, &stats.undecided, &names);
    let given = inputs.changed.is_some();
    let changed = inputs.changed.unwrap_or_default();
    let touching = files::relate(&mut findings, graph, &names, &inputs.loaded, &changed);
    let changed_findings = given.then_some(touching);
    let ns_graph = NamespaceGraph::of(graph);
    let edges = graph.edges_sorted();
    let mut connections = 0;
    let mut dropped_flows = 0;
    let mut edge_ports = 0;
    for (_, _, e) in &edges {
        for s in e.ports.values() {
            edge_ports += 1;
            for t in [&s.allowed, &s.dropped].into_iter().flatten() {
                connections += t.connections;
            }
            dropped_flows += s.dropped.as_ref().map_or(0, |t| t.flows);
        }
    }
    let namespaces = tables::namespaces(graph, &names);
    let c = &graph.coverage;
    Report {
        overview: Overview {
            inputs: inputs.names,
            flows: c.flows,
            first_flow: format_time(c.first_flow),
            last_flow: format_time(c.last_flow),
            namespaces: namespaces.len(),
            workloads: graph.workloads().len(),
            nodes: graph.node_count(),
            edges: edges.len(),
            edge_ports,
            connections,
            dropped_flows,
            lost_events: c.total_lost(),
            undecided_flows: stats.undecided.flows(),
            undecided_pairs: stats.undecided.edges.len(),
            malformed_lines: inputs.malformed_lines,
        },
        finding_counts: findings::counts(&findings),
        findings,
        diagram: Diagram {
            mermaid: graph_export::namespace_mermaid(&ns_graph),
            dot: graph_export::namespace_dot(&ns_graph),
            nodes: ns_graph.nodes.len(),
            edges: ns_graph.crossing().count(),
        },
        matrix: matrix::Matrix::of(graph),
        changed_findings,
        namespaces,
        policy_sets: inputs.policy_sets,
        next_week: NextWeek::of(&crate::synth::policy_view(
            graph,
            &crate::synth::SynthConfig::default(),
        )),
        families: Roles::detect(graph.workloads())
            .families()
            .iter()
            .map(|f| f.describe())
            .collect(),
    }
}
