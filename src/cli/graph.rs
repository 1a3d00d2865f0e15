//! `flowpolicy graph`: export the namespace/workload traffic graph of dumps
//! or baselines as DOT, Mermaid or JSON on stdout.

use std::io::Write;

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::inputs::{self, InputArgs};
use crate::render::graph_export;

/// Export the traffic graph (who talks to whom, on which ports).
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    flowpolicy graph flows.jsonpb -o dot | dot -Tsvg > graph.svg\n  \
    flowpolicy graph main.baseline -o mermaid > graph.mmd\n  \
    flowpolicy graph main.baseline -o json | jq '.edges | length'")]
pub struct GraphArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format.
    #[arg(long = "output", short = 'o', value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
    Json,
}

pub fn run(args: &GraphArgs) -> Result<()> {
    let (graph, report) = inputs::load(&args.input)?;
    let text = match args.format {
        GraphFormat::Dot => graph_export::to_dot(&graph),
        GraphFormat::Mermaid => graph_export::to_mermaid(&graph),
        GraphFormat::Json => graph_export::to_json(&graph),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    inputs::print_load_report(&report, &graph, false);
    eprintln!(
        "flowpolicy: {} nodes ({} workloads), {} edges",
        graph.node_count(),
        graph.workloads().len(),
        graph.edge_count()
    );
    Ok(())
}
