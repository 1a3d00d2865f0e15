//! Turning the user's inputs (dump files, baselines, `-`) into one traffic
//! graph: the source → interpret → graph stages wired together, streaming,
//! with a report of everything that was read, skipped or lost.
//!
//! Every input is sniffed after decompression: a flowpolicy baseline (its
//! first bytes are `{"format": "flowpolicy-baseline"`, or its name ends in
//! `.baseline`) is decoded and merged in; anything else is replayed as a
//! Hubble dump. Every command that reads flows goes through [`load_graph`].
//!
//! Flows that fail validation never get here: the dump reader rejects them
//! at the door and counts them per file ([`FileReport::rejected`]). The
//! report prints bounded lists only (see [`crate::render::brief`]).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use ipnet::IpNet;

use super::flood::{Flood, Spread};
use crate::graph::baseline::{self, Baseline, BaselineMeta};
use crate::graph::TrafficGraph;
use crate::interpret::validate::Rejections;
use crate::interpret::{EndpointHint, InterpretConfig, InterpretStats, Interpreter};
use crate::render::brief;
use crate::source::dump::{self, DumpOptions, FileReport};
use crate::source::event::SourceEvent;

/// Flags shared by every command that reads flows.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Hubble dumps (`hubble observe -o jsonpb`, exporter files; plain, .gz or .zst),
    /// flowpolicy baselines (`observe --baseline`), or `-` for stdin.
    #[arg(required = true, value_name = "FLOWS")]
    pub inputs: Vec<PathBuf>,
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
    /// The settings a baseline records for flows read with these flags.
    pub fn settings(&self) -> baseline::Settings {
        baseline::Settings {
            cidr_groups: self.cidr_groups.iter().copied().collect(),
            conn_window_seconds: [self.conn_window].into(),
        }
    }

    pub fn interpret_config(&self) -> InterpretConfig {
        InterpretConfig {
            cidr_groups: self.cidr_groups.clone(),
            conn_window_ns: i64::try_from(self.conn_window).unwrap_or(i64::MAX / 1_000_000_000)
                * 1_000_000_000,
            guess_direction: self.guess_direction,
        }
    }
}

/// What reading the inputs produced besides the graph.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub files: Vec<FileReport>,
    pub interpret: InterpretStats,
    /// Number of inputs that were baselines.
    pub baselines: usize,
    /// Run facts, settings and resume points of the baselines (merged),
    /// plus the settings the dumps were read with.
    pub meta: BaselineMeta,
    /// Set when many workloads were seen in a single flow each.
    pub flood: Option<Flood>,
}

impl LoadReport {
    pub fn malformed(&self) -> u64 {
        self.files.iter().map(|f| f.malformed).sum()
    }

    pub fn skipped(&self) -> u64 {
        self.interpret.skipped.values().sum()
    }

    /// Flows rejected at the door, all inputs together.
    pub fn rejected(&self) -> Rejections {
        let mut all = Rejections::default();
        for f in &self.files {
            all.merge(&f.rejected);
        }
        all
    }
}

/// Reads every input into one graph: baselines are merged, dumps replayed
/// (through one interpreter, so connections and DNS answers carry across
/// files).
pub fn load_graph(args: &InputArgs) -> Result<(TrafficGraph, LoadReport)> {
    let mut graph = TrafficGraph::new();
    let mut interpreter = Interpreter::new(args.interpret_config());
    let mut report = LoadReport::default();
    let progress = super::progress::ReadProgress::start(&args.inputs);
    let opts = DumpOptions {
        strict: args.strict,
    };
    let mut dumps = 0usize;
    let mut spread = Spread::default();
    let mut names: Vec<String> = Vec::new();
    for path in &args.inputs {
        let name = dump::display_name(path);
        let mut reader = dump::open_input_counted(path, Some(progress.counter()))?;
        if is_baseline(path, &mut reader) {
            let b = Baseline::decode(&name, reader)?;
            report.files.push(FileReport {
                file: name,
                flows: b.graph.coverage.flows,
                ..FileReport::default()
            });
            report.baselines += 1;
            baseline::add_stats(&mut report.interpret, &b.interpret);
            report.meta.merge(&b.meta);
            if args.cidr_groups.is_empty() {
                graph.merge(&b.graph);
            } else {
                graph.merge(&b.graph.regrouped(&args.cidr_groups));
            }
            continue;
        }
        dumps += 1;
        let index = names.len();
        names.push(name.clone());
        let file = dump::read_one_at(&name, reader, opts, &mut |line, event, hint| {
            feed_seen(&mut graph, &mut interpreter, event, hint, &mut |o| {
                spread.see(o, (index, line))
            });
            if progress.is_shown() && interpreter.stats.flows.is_multiple_of(8192) {
                progress.message(format!(
                    "{} flows, {} edges",
                    interpreter.stats.flows,
                    graph.edge_count()
                ));
            }
        })?;
        report.files.push(file);
    }
    progress.finish();
    baseline::add_stats(&mut report.interpret, &interpreter.stats);
    report.flood = spread.flood(&names);
    if dumps > 0 {
        report.meta.merge(&BaselineMeta {
            settings: args.settings(),
            ..BaselineMeta::default()
        });
    }
    Ok((graph, report))
}

/// Whether an opened input is a baseline (peeks without consuming).
fn is_baseline(path: &Path, reader: &mut impl BufRead) -> bool {
    if path.extension().is_some_and(|e| e == "baseline") {
        return true;
    }
    match reader.fill_buf() {
        Ok(head) => baseline::looks_like_baseline(head),
        // The dump reader reports the error with its position.
        Err(_) => false,
    }
}

/// Adds one source event to the graph.
pub fn feed(graph: &mut TrafficGraph, interpreter: &mut Interpreter, event: &SourceEvent) {
    feed_hinted(graph, interpreter, event, EndpointHint::default())
}

/// [`feed`], with the decoder's numbers for the flow's endpoints.
pub fn feed_hinted(
    graph: &mut TrafficGraph,
    interpreter: &mut Interpreter,
    event: &SourceEvent,
    hint: EndpointHint,
) {
    feed_seen(graph, interpreter, event, hint, &mut |_| {})
}

/// [`feed`], also showing each observation to `seen`.
fn feed_seen(
    graph: &mut TrafficGraph,
    interpreter: &mut Interpreter,
    event: &SourceEvent,
    hint: EndpointHint,
    seen: &mut dyn FnMut(&crate::interpret::Observation<'_>),
) {
    match event {
        SourceEvent::Flow(f) => {
            graph.coverage.flows += 1;
            let t = crate::interpret::time_ns(f);
            graph.coverage.see_time(t);
            if let Some(o) = interpreter.interpret_hinted(f, hint) {
                seen(&o);
                graph.record(&o);
            }
        }
        SourceEvent::Lost { node, count, .. } => {
            let key = if node.is_empty() {
                "unknown".to_string()
            } else {
                node.clone()
            };
            *graph.coverage.lost_events.entry(key).or_default() += count;
        }
        SourceEvent::NodeStatus { state, nodes, .. } => {
            if state == "NODE_UNAVAILABLE" {
                graph
                    .coverage
                    .unavailable_nodes
                    .extend(nodes.iter().cloned());
            }
            *graph.coverage.node_status.entry(state.clone()).or_default() += 1;
        }
    }
}

/// Prints what was read, skipped and lost to stderr.
pub fn print_load_report(r: &LoadReport, graph: &TrafficGraph) {
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
        eprintln!(
            "  {} DROPPED flows are kept as evidence but not learned (pass --include-dropped to allow them)",
            r.interpret.dropped
        );
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
