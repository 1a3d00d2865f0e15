//! `flowpolicy explain`: for each rule of the given policies, the observed
//! connections that justify it (initiator, responder, port, counts, first and
//! last seen, how the direction was decided); rules nothing uses are flagged
//! over-permissive. Exit code 0, or 1 with `--fail-on-unused` when a rule is
//! over-permissive; 2 on bad input.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::inputs::{self, InputArgs};
use super::verify::{load_policies, Format};
use crate::verify::{explain, Model, VerifyOptions};

/// Show the observed connections behind every rule of a policy set.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    flowpolicy explain --policies policies/ flows.jsonpb\n  \
    flowpolicy recommend flows.jsonpb | flowpolicy explain --policies - flows.jsonpb -o json\n\n\
Every allow rule (ingress/egress section) is listed with the connections that go through it; a rule\n\
no observed connection uses is reported as OVER-PERMISSIVE.")]
pub struct ExplainArgs {
    /// Policy files or directories (recursive; multi-document YAML/JSON), or `-` for stdin; repeat `-p` for several.
    #[arg(long = "policies", short = 'p', required = true, value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Also count traffic that Hubble saw DROPPED as justification.
    #[arg(long)]
    pub include_dropped: bool,
    /// Exit with 1 when some rule is justified by no observed connection.
    #[arg(long)]
    pub fail_on_unused: bool,
}

pub fn run(args: &ExplainArgs) -> Result<ExitCode> {
    let loaded = load_policies(&args.policies, &args.input)?;
    let (graph, load_report) = inputs::load(&args.input)?;
    inputs::print_load_report(&load_report, &graph, args.include_dropped);
    super::stability::print_families(
        crate::synth::roles::Roles::detect(graph.workloads()).families(),
        "in these flows (recommend writes one policy per role for each, whose rules list the instances as their evidence)",
    );
    let model = Model::compile(&loaded);
    let rules = explain::explain(
        &model,
        &graph,
        &VerifyOptions {
            include_dropped: args.include_dropped,
        },
    );
    let mut out = std::io::stdout().lock();
    match args.output {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &rules)?;
            writeln!(out)?;
        }
        Format::Text => out.write_all(explain::render(&rules).as_bytes())?,
    }
    out.flush()?;
    let unused = rules.iter().any(|r| r.over_permissive());
    Ok(if unused && args.fail_on_unused {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
