//! `flowpolicy merge`: combine baselines (and dumps) into one baseline.
//! The merge is commutative and associative: counts add up, first/last seen
//! widen, coverage gaps unite, and the latest resume point wins.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use clap::Args;

use super::inputs::{self, InputArgs};
use crate::baseline::file::{remove_stale_temp_files, write_file_atomic, LockError, WriterLock};
use crate::baseline::Baseline;

/// Combine baselines from several runs or clusters into one.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    flowpolicy merge a.baseline b.baseline -o all.baseline\n  \
    flowpolicy merge day1.jsonpb.zst day2.jsonpb.zst -o week.baseline   # dumps become a baseline\n\n\
Dumps given here are replayed into the result, so a baseline can also be built from saved flows.")]
pub struct MergeArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The baseline to write (atomically).
    #[arg(long = "output", short = 'o', value_name = "FILE")]
    pub out: PathBuf,
    /// Replace an existing output file that is not one of the inputs.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &MergeArgs) -> Result<()> {
    // One writer per baseline: an `observe` (or another merge) writing the
    // output would overwrite ours, or we its.
    let _lock = WriterLock::acquire(&args.out, "merge").map_err(|e| match e {
        LockError::Held { .. } => anyhow!(
            "{e}; refusing to write it: wait for that run to finish, or write to another -o file"
        ),
        e => e.into(),
    })?;
    let is_input = args.input.inputs.iter().any(|p| p == &args.out);
    if args.out.exists() && !is_input && !args.force {
        bail!(
            "{} already exists; refusing to overwrite it (pass --force, or choose another -o)",
            args.out.display()
        );
    }
    for stale in remove_stale_temp_files(&args.out) {
        eprintln!(
            "note: removed {}, left by an interrupted save",
            stale.display()
        );
    }
    let (graph, report) = inputs::load(&args.input)?;
    let merged = Baseline {
        graph,
        interpret: report.interpret.clone(),
        meta: report.meta.clone(),
        unchecked: false,
    };
    write_file_atomic(&args.out, &merged.encode())?;
    inputs::print_load_report(&report, &merged.graph, false);
    eprintln!(
        "flowpolicy: merged {} input{} ({} baseline{}) into {}: {} flows, {} workloads, {} edges",
        report.files.len(),
        if report.files.len() == 1 { "" } else { "s" },
        report.baselines,
        if report.baselines == 1 { "" } else { "s" },
        args.out.display(),
        merged.graph.coverage.flows,
        merged.graph.workloads().len(),
        merged.graph.edge_count()
    );
    Ok(())
}
