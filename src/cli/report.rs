//! `flowpolicy report`: the review report of a capture (and optionally of
//! policy sets against it), as Markdown (default) or one self-contained HTML
//! page (`--html`), to stdout or `-o FILE`. Wiring only: the model is built
//! by [`crate::report`].

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use super::inputs::{self, InputArgs};
use super::verify::load_policies;
use crate::report::{self, html, markdown, policies, svg};

/// Write a review report: namespace graph, per-namespace peers, risk findings.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    flowpolicy report flows.jsonpb -o report.md\n  \
    flowpolicy report main.baseline --policies policies/ -o report.md\n  \
    flowpolicy report fixtures/demo.jsonpb.zst --cidr-group 10.0.0.0/8 --html -o report.html\n\n\
The HTML page draws the graph with Graphviz `dot` when it is installed (else it shows the\n\
Mermaid source). Findings and the classifier table: docs/report.md.")]
pub struct ReportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Policy files or directories to verify against the flows; each `-p` is one policy set
    /// with its own section (would-be drops, over-permissive rules).
    #[arg(long = "policies", short = 'p', value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Write the report to this file instead of stdout.
    #[arg(long = "output", short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write one self-contained HTML page instead of Markdown.
    #[arg(long)]
    pub html: bool,
}

/// The name an input is shown by: its file name (`-` for stdin).
fn shown(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Builds the report text (Markdown or HTML) for these arguments.
pub fn render(args: &ReportArgs) -> Result<String> {
    let loaded: Vec<_> = args
        .policies
        .iter()
        .map(|p| load_policies(std::slice::from_ref(p), &args.input).map(|l| (p, l)))
        .collect::<Result<_>>()?;
    let (graph, load) = inputs::load(&args.input)?;
    inputs::print_load_report(&load, &graph, false);
    let policy_sets = loaded
        .iter()
        .map(|(p, l)| policies::section(&p.display().to_string(), l, &graph))
        .collect();
    let model = report::build(
        &graph,
        report::Inputs {
            names: args.input.inputs.iter().map(|p| shown(p)).collect(),
            interpret: Some(&load.interpret),
            malformed_lines: load.malformed(),
            policy_sets,
        },
    );
    Ok(if args.html {
        let image = svg::render(&model.diagram.dot, svg::TIMEOUT);
        if let Err(why) = &image {
            eprintln!("note: {why}; the page shows the Mermaid source instead");
        }
        html::render(&model, &image)
    } else {
        markdown::render(&model)
    })
}

pub fn run(args: &ReportArgs) -> Result<()> {
    let text = render(args)?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("flowpolicy: report written to {}", path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}
