//! `flowpolicy report`: the review report of a capture (and optionally of
//! policy sets against it), as Markdown (default), a Markdown summary that
//! fits a pull-request comment (`--summary`, with `--full FILE` for the whole
//! report to attach), or one self-contained HTML page (`--html`), to stdout
//! or `-o FILE`. Wiring only: the model is built by [`crate::report`].

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use super::inputs::{self, InputArgs};
use super::verify::load_policies;
use crate::report::{self, html, markdown, policies, summary, svg};

/// Write a review report: namespace graph, per-namespace peers, risk findings.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    flowpolicy report flows.jsonpb -o report.md\n  \
    flowpolicy report main.baseline --policies policies/ -o report.md\n  \
    flowpolicy report fixtures/demo.jsonpb.zst --cidr-group 10.0.0.0/8 --html -o report.html\n  \
    git diff --name-only origin/main... > changed.txt\n  \
    flowpolicy report main.baseline -p policies/ --changed-files changed.txt --summary -o comment.md --full report.md\n\n\
For a pull request: --summary fits a comment (at most 60,000 characters; long tables are\n\
shortened and whole sections left out, each saying how many more the full report has), and\n\
--full writes the whole report to attach. The HTML page shows the namespace graph as an\n\
adjacency matrix and per-namespace panels (and as a Graphviz drawing when it is small and `dot`\n\
is installed). Findings and the classifier table: docs/report.md.")]
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
    #[arg(long, conflicts_with = "summary")]
    pub html: bool,
    /// Write a Markdown summary that fits a pull-request comment (at most 60,000 characters)
    /// instead of the whole report; the sections left out are named, with how many more
    /// rows the full report has.
    #[arg(long)]
    pub summary: bool,
    /// With --summary: also write the whole Markdown report to FILE (to attach to the pull
    /// request); the summary points at it by its file name.
    #[arg(long, value_name = "FILE", requires = "summary")]
    pub full: Option<PathBuf>,
    /// Files the pull request adds or changes, one path a line (e.g. `git diff --name-only
    /// origin/main...`): each finding names the --policies files whose policies select its
    /// workload, and those in this list are marked changed and listed first.
    #[arg(long, value_name = "FILE", requires = "policies")]
    pub changed_files: Option<PathBuf>,
}

/// The name an input is shown by: its file name (`-` for stdin).
fn shown(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Builds the report text (Markdown, summary or HTML) for these arguments.
pub fn render(args: &ReportArgs) -> Result<String> {
    Ok(render_all(args)?.0)
}

/// The report text, and with `--full` the whole Markdown report as well.
pub fn render_all(args: &ReportArgs) -> Result<(String, Option<String>)> {
    let changed = match &args.changed_files {
        Some(p) => Some(report::ChangedFiles::parse(
            &std::fs::read_to_string(p)
                .with_context(|| format!("reading --changed-files {}", p.display()))?,
        )),
        None => None,
    };
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
            loaded: loaded.iter().map(|(_, l)| l).collect(),
            changed,
        },
    );
    Ok(if args.html {
        let image = if model.diagram.nodes <= html::DRAWN_NODES
            && model.diagram.edges <= html::DRAWN_EDGES
        {
            let image = svg::render(&model.diagram.dot, svg::TIMEOUT);
            if let Err(why) = &image {
                eprintln!("note: {why}; the page shows the Mermaid source instead");
            }
            image
        } else {
            Err("too large to draw legibly".to_string())
        };
        (html::render(&model, &image), None)
    } else if args.summary {
        let full_name = match &args.full {
            Some(p) => markdown::code(&shown(p)),
            None => "(`flowpolicy report` without `--summary`)".to_string(),
        };
        let full = args.full.as_ref().map(|_| markdown::render(&model));
        (summary::render(&model, &full_name), full)
    } else {
        (markdown::render(&model), None)
    })
}

pub fn run(args: &ReportArgs) -> Result<()> {
    let (text, full) = render_all(args)?;
    if let (Some(path), Some(full)) = (&args.full, full) {
        crate::baseline::file::write_file_atomic(path, full.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("flowpolicy: full report written to {}", path.display());
    }
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
