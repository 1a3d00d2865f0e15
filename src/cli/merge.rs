//! `flowpolicy merge`: combine baselines (and dumps) into one baseline.
//! The merge is commutative and associative: counts add up, first/last seen
//! widen, coverage gaps unite, and the latest resume point wins. Inputs are
//! read one at a time into the result (memory grows with edges, not with
//! inputs). Per-node shards (DaemonSet mode) are checked: a table of what
//! each node contributed, overlaps (one node in two inputs at once: counted
//! twice) and gaps (hours a node reported nothing).

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use clap::Args;

use super::inputs::{self, InputArgs};
use crate::baseline::file::{remove_stale_temp_files, write_file_atomic, LockError, WriterLock};
use crate::baseline::shards::{format_hour, ShardCheck, Shards};
use crate::baseline::Baseline;
use crate::brief;
use crate::graph::evidence::format_time;

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
    let (graph, report) = inputs::load_for_baseline(&args.input)?;
    let merged = Baseline {
        graph,
        interpret: report.interpret.clone(),
        meta: report.meta.clone(),
        unchecked: false,
    };
    write_file_atomic(&args.out, &merged.encode())?;
    inputs::print_load_report(&report, &merged.graph, false);
    print_shards(&report.shards);
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

/// Most node rows shown in the summary table.
const MAX_ROWS: usize = 20;

/// The per-node table, then overlaps and gaps as warnings.
fn print_shards(shards: &Shards) {
    if shards.is_empty() {
        return;
    }
    let check = shards.check();
    eprint!("{}", shard_table(&check));
    for o in check.overlaps.iter().take(brief::CAP) {
        eprintln!(
            "warning: node {} is in both {} and {} from {} to {}: its flows and connections in that time are counted twice; leave one of them out (a shard continued with `observe --baseline` never overlaps itself)",
            o.node,
            o.files.0,
            o.files.1,
            format_time(o.from),
            format_time(o.to)
        );
    }
    if check.overlaps.len() > brief::CAP {
        eprintln!(
            "warning: … and {} more overlaps",
            check.overlaps.len() - brief::CAP
        );
    }
    let gaps: Vec<String> = check
        .gaps
        .iter()
        .map(|g| match g.hours[1] - g.hours[0] {
            0 => format!("{} at {}", g.node, format_hour(g.hours[0])),
            n => format!(
                "{} from {} for {} h",
                g.node,
                format_hour(g.hours[0]),
                n + 1
            ),
        })
        .collect();
    if !gaps.is_empty() {
        eprintln!(
            "warning: nodes without flows in hours the other inputs cover (not observed then: a pod down, a node added or removed, a shard missing): {}",
            brief::list_counted(gaps.iter().take(brief::CAP), gaps.len() as u64)
        );
    }
}

/// The summary table of [`ShardCheck::rows`] (at most [`MAX_ROWS`]).
fn shard_table(check: &ShardCheck) -> String {
    use std::fmt::Write;
    let width = check
        .rows
        .iter()
        .map(|r| r.node.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut out = format!(
        "flowpolicy: {} node{} in the inputs:\n  {:width$}  inputs  {:20}  {:20}  {:>10}  {:>6}  {:>9}\n",
        check.rows.len(),
        if check.rows.len() == 1 { "" } else { "s" },
        "node",
        "first flow",
        "last flow",
        "flows",
        "lost",
        "gap hours"
    );
    for r in check.rows.iter().take(MAX_ROWS) {
        let _ = writeln!(
            out,
            "  {:width$}  {:>6}  {:20}  {:20}  {:>10}  {:>6}  {:>9}",
            r.node,
            r.inputs,
            format_time(r.coverage.first_flow),
            format_time(r.coverage.last_flow),
            r.coverage.flows,
            r.lost,
            r.gap_hours
        );
    }
    if check.rows.len() > MAX_ROWS {
        let _ = writeln!(out, "  … and {} more nodes", check.rows.len() - MAX_ROWS);
    }
    out
}
