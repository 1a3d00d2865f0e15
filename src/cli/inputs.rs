//! The flags shared by every command that reads flows ([`InputArgs`], turned
//! once into [`LoadOptions`]), and the summary of what was read, skipped and
//! lost, printed to stderr. The reading itself is [`crate::baseline::load`].
//! The summary prints bounded lists only (see [`crate::brief`]).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use ipnet::IpNet;

use super::progress::ReadProgress;
use crate::baseline::load::{load_graph_with, LoadOptions, LoadProgress, LoadReport};
use crate::brief;
use crate::graph::TrafficGraph;
use crate::interpret::{InterpretConfig, InterpretStats};
use crate::source::validate::Rejections;

/// Flags shared by every command that reads flows.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Hubble dumps (`hubble observe -o jsonpb`, exporter files; plain, .gz or .zst),
    /// flowpolicy baselines (`observe --baseline`), or `-` for stdin.
    #[arg(required = true, value_name = "FLOWS")]
    pub inputs: Vec<std::path::PathBuf>,
    /// Fail on the first malformed line, rejected flow (invalid name, label, port, time…)
    /// or truncated file instead of skipping it.
    #[arg(long)]
    pub strict: bool,
    /// Group world clients (connection initiators) inside this prefix into one peer (repeatable),
    /// e.g. `--cidr-group 10.0.0.0/8` for LAN clients of LoadBalancer services; destinations stay exact.
    #[arg(long = "cidr-group", value_name = "CIDR")]
    pub cidr_groups: Vec<IpNet>,
    /// Flows of one 5-tuple within this many seconds are one connection.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub conn_window: u64,
    /// Learn flows whose direction no evidence decides (no is_reply, SYN, earlier packet,
    /// traffic_direction with a known local side, or one clear service port) by taking the
    /// lower port as the server. Off by default: such flows are listed, not learned.
    #[arg(long)]
    pub guess_direction: bool,
}

impl InputArgs {
    /// The options these flags stand for.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            inputs: self.inputs.clone(),
            strict: self.strict,
            interpret: InterpretConfig {
                cidr_groups: self.cidr_groups.clone(),
                conn_window_ns: i64::try_from(self.conn_window)
                    .unwrap_or(i64::MAX / 1_000_000_000)
                    .saturating_mul(1_000_000_000),
                guess_direction: self.guess_direction,
            },
            keep_state: false,
        }
    }
}

/// Reads the inputs into one graph ([`load_graph_with`]), with a progress
/// bar on a terminal. What continuing a baseline would need is not kept
/// ([`LoadReport::meta`] stays empty): see [`load_for_baseline`].
pub fn load(args: &InputArgs) -> Result<(TrafficGraph, LoadReport)> {
    load_with(args.load_options())
}

/// [`load`], keeping the state a baseline written from these inputs needs
/// to be continued (the interpreter's state, the baselines' run facts).
pub fn load_for_baseline(args: &InputArgs) -> Result<(TrafficGraph, LoadReport)> {
    let opts = LoadOptions {
        keep_state: true,
        ..args.load_options()
    };
    load_with(opts)
}

/// Reads with these options, showing the progress.
fn load_with(opts: LoadOptions) -> Result<(TrafficGraph, LoadReport)> {
    let progress = ReadProgress::start(&opts.inputs);
    let loaded = load_graph_with(&opts, &progress);
    progress.finish();
    loaded
}

impl LoadProgress for ReadProgress {
    fn counter(&self) -> Option<Arc<AtomicU64>> {
        Some(ReadProgress::counter(self))
    }

    fn flows(&self, flows: u64, edges: usize) {
        if self.is_shown() {
            self.message(format!("{flows} flows, {edges} edges"));
        }
    }
}

/// Prints what was read, skipped and lost to stderr.
/// `include_dropped`: the command was given `--include-dropped` (recommend,
/// verify, explain), which makes DROPPED flows traffic to allow.
pub fn print_load_report(r: &LoadReport, graph: &TrafficGraph, include_dropped: bool) {
    // A handful of examples over all inputs, then counts per input (five
    // inputs at most): many damaged files must not flood the terminal.
    let mut shown = 0usize;
    let mut more: Vec<String> = Vec::new();
    for f in &r.files {
        let mut printed = 0u64;
        for e in f.first_errors.iter().take(brief::CAP.saturating_sub(shown)) {
            eprintln!("warning: malformed line {e}");
            printed += 1;
        }
        shown += printed as usize;
        if f.malformed > printed {
            more.push(format!(
                "{}: {} more malformed lines",
                f.file,
                f.malformed - printed
            ));
        }
    }
    for m in more.iter().take(brief::CAP) {
        eprintln!("warning: {m}");
    }
    if more.len() > brief::CAP {
        eprintln!(
            "warning: … and {} more inputs with malformed lines",
            more.len() - brief::CAP
        );
    }
    let truncated: Vec<String> = r
        .files
        .iter()
        .filter_map(|f| {
            f.truncated
                .as_ref()
                .map(|t| format!("{}: input ends early after line {}: {t}", f.file, f.lines))
        })
        .collect();
    for t in truncated.iter().take(brief::CAP) {
        eprintln!("warning: {t}; the flows before it were used");
    }
    if truncated.len() > brief::CAP {
        eprintln!(
            "warning: … and {} more inputs end early",
            truncated.len() - brief::CAP
        );
    }
    print_rejections(&r.rejected());
    for name in &r.unchecked {
        eprintln!("{}", unchecked_note(name));
    }
    if let Some(flood) = &r.flood {
        eprintln!(
            "warning: {} of {} workloads were seen in a single flow each (first at {}): damaged names look like this; check the input",
            flood.single_flow,
            flood.workloads,
            brief::list_counted(&flood.lines, flood.single_flow as u64)
        );
    }
    if !r.interpret.skipped.is_empty() {
        let parts: Vec<String> = r
            .interpret
            .skipped
            .iter()
            .map(|(k, v)| format!("{v} {}", k.describe()))
            .collect();
        eprintln!("  skipped flows: {}", parts.join(", "));
    }
    print_direction_report(&r.interpret);
    if r.interpret.dropped > 0 {
        eprintln!("  {}", dropped_line(r.interpret.dropped, include_dropped));
    }
    let lost = graph.coverage.total_lost();
    if lost > 0 {
        let per = brief::list(
            graph
                .coverage
                .lost_events
                .iter()
                .map(|(n, c)| format!("{}: {c}", escaped(n))),
        );
        eprintln!("warning: {lost} events were lost by Hubble ({per}): the baseline is incomplete");
    }
    if !graph.coverage.unavailable_nodes.is_empty() {
        eprintln!(
            "warning: nodes unavailable to the relay at some point: {}",
            brief::list(graph.coverage.unavailable_nodes.iter().map(|n| escaped(n)))
        );
    }
}

/// The note for a baseline read without a checksum.
pub fn unchecked_note(name: &str) -> String {
    format!(
        "note: {name} has no checksum (written by a flowpolicy older than baseline format 2), so damage to it cannot be detected; it was loaded as is. `flowpolicy merge {name} -o {name}` rewrites it with one"
    )
}

/// What was done with the DROPPED flows.
fn dropped_line(dropped: u64, include_dropped: bool) -> String {
    if include_dropped {
        format!(
            "{dropped} DROPPED flows are taken as traffic to allow (--include-dropped), their HTTP and DNS records included"
        )
    } else {
        format!(
            "{dropped} DROPPED flows are kept as evidence but not learned (pass --include-dropped to allow them)"
        )
    }
}

/// Most undecided peer pairs printed in the summary.
const UNDECIDED_SHOWN: usize = 5;

/// How directions were decided, and the peer pairs nothing decided.
fn print_direction_report(s: &InterpretStats) {
    let basis: Vec<String> = crate::interpret::direction::Basis::ALL
        .iter()
        .filter_map(|b| s.basis.get(b.as_str()).map(|n| format!("{b} {n}")))
        .collect();
    if !basis.is_empty() {
        eprintln!("  direction decided by: {}", basis.join(", "));
    }
    if let Some(guessed) = s.basis.get("port-guess").filter(|n| **n > 0) {
        eprintln!(
            "warning: {guessed} flows had no evidence of their direction and were learned by --guess-direction (lower port = server)"
        );
    }
    if s.undecided.is_empty() {
        return;
    }
    eprintln!(
        "warning: {} flows in {} peer pairs: nothing decided which end initiated, so they are not in the policy (see docs/interpretation.md; --guess-direction learns them by port order):",
        s.undecided.flows(),
        s.undecided.edges.len()
    );
    let ranked = s.undecided.ranked();
    for (e, t) in ranked.iter().take(UNDECIDED_SHOWN) {
        eprintln!("    {}", crate::interpret::undecided::describe(e, t));
    }
    if ranked.len() > UNDECIDED_SHOWN {
        eprintln!(
            "    … and {} more peer pairs",
            ranked.len() - UNDECIDED_SHOWN
        );
    }
}

/// A node name from the input, escaped when it is not plain.
fn escaped(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_graphic()) && s.len() <= 64 {
        s.to_string()
    } else {
        crate::policy::names::shown(s)
    }
}

/// One line per reason: how many flows, and the first few positions with
/// what was wrong with the first of them.
pub fn print_rejections(r: &Rejections) {
    if r.is_empty() {
        return;
    }
    let parts = brief::list_of(
        r.counts
            .iter()
            .map(|(k, n)| format!("{n} {}", k.describe())),
        usize::MAX,
    );
    eprintln!(
        "warning: {} flows rejected ({parts}); they were not learned",
        r.total()
    );
    for (reason, n) in &r.counts {
        let Some(first) = r.first.get(reason).and_then(|v| v.first()) else {
            continue;
        };
        let places = brief::list_counted(r.first[reason].iter().map(|(at, _)| at), *n);
        eprintln!("warning: rejected flow at {places}: {}", first.1);
    }
}
