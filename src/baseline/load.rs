//! Turning the user's inputs (dump files, baselines, `-`) into one traffic
//! graph: the source → interpret → graph stages wired together, streaming,
//! with a report of everything that was read, skipped or lost.
//!
//! Every input is sniffed after decompression: a flowpolicy baseline (its
//! first bytes are `{"format": "flowpolicy-baseline"`, or its name ends in
//! `.baseline`) is decoded and merged in; anything else is replayed as a
//! Hubble dump into the one [`GraphBuilder`]. Every command that reads flows
//! goes through [`load_graph`].
//!
//! Flows that fail validation never get here: the dump reader rejects them
//! at the door and counts them per file ([`FileReport::rejected`]).

use std::io::BufRead;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::Result;
use ipnet::IpNet;

use super::shards::Shards;
use super::{add_stats, looks_like_baseline, Baseline, BaselineMeta, Keep, Settings};
use crate::graph::builder::GraphBuilder;
use crate::graph::flood::{Flood, Spread};
use crate::graph::TrafficGraph;
use crate::interpret::{InterpretConfig, InterpretStats};
use crate::source::dump::{self, DumpOptions, FileReport};
use crate::source::event::{EndpointHint, SourceEvent};
use crate::source::sink::{At, FlowSink};
use crate::source::validate::Rejections;

/// How to read the inputs (from the flags shared by every command that
/// reads flows).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub inputs: Vec<PathBuf>,
    /// Fail on the first malformed line, rejected flow or truncated input.
    pub strict: bool,
    pub interpret: InterpretConfig,
    /// Keep what continuing a baseline needs ([`LoadReport::meta`]: the
    /// interpreter's state at the end of the dumps, the baselines' run
    /// facts and resume points). Only a command that writes a baseline
    /// needs it; exporting and merging the state of a dump costs ~30 ms of
    /// one core on the benchmark's 431 MB dump (docs/performance.md).
    pub keep_state: bool,
}

impl LoadOptions {
    /// The settings a baseline records for flows read with these options.
    pub fn settings(&self) -> Settings {
        Settings {
            cidr_groups: self.interpret.cidr_groups.iter().copied().collect(),
            conn_window_seconds: [(self.interpret.conn_window_ns / 1_000_000_000) as u64].into(),
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
    /// plus the settings the dumps were read with; empty unless
    /// [`LoadOptions::keep_state`].
    pub meta: BaselineMeta,
    /// Set when many workloads were seen in a single flow each.
    pub flood: Option<Flood>,
    /// Baselines read without a checksum (written before format version 2).
    pub unchecked: Vec<String>,
    /// Which nodes each baseline input covers, and when (to find overlaps
    /// and gaps between shards).
    pub shards: Shards,
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

/// Refuses inputs that hold not one flow (an empty file, the wrong file, a
/// capture that failed) unless `allow_empty`: policies for nothing would
/// look like a result.
pub fn require_flows(graph: &TrafficGraph, report: &LoadReport, allow_empty: bool) -> Result<()> {
    if allow_empty || graph.coverage.flows > 0 || graph.edge_count() > 0 {
        return Ok(());
    }
    let files: Vec<&str> = report.files.iter().map(|f| f.file.as_str()).collect();
    let malformed = match report.malformed() {
        0 => String::new(),
        n => format!(" ({n} malformed lines)"),
    };
    anyhow::bail!(
        "no flows in the input ({}){malformed}: nothing to learn from; check the capture (`hubble observe --all -o jsonpb`), or pass --allow-empty to go on anyway",
        crate::brief::list(files),
    )
}

/// Watches the reading: the bytes read so far (for a progress bar) and a
/// line now and then.
pub trait LoadProgress {
    /// Where the raw bytes read are added up, if anyone looks.
    fn counter(&self) -> Option<Arc<AtomicU64>>;
    /// Called every 8192 flows.
    fn flows(&self, flows: u64, edges: usize);
}

/// No progress shown.
impl LoadProgress for () {
    fn counter(&self) -> Option<Arc<AtomicU64>> {
        None
    }
    fn flows(&self, _: u64, _: usize) {}
}

/// The dump sink of [`load_graph`]: the graph builder, plus the flood
/// watch and progress.
struct Replay<'a, P: LoadProgress> {
    builder: &'a mut GraphBuilder,
    spread: &'a mut Spread,
    index: usize,
    progress: &'a P,
}

impl<P: LoadProgress> FlowSink for Replay<'_, P> {
    fn event(&mut self, event: &SourceEvent, at: At<'_>, hint: EndpointHint) -> ControlFlow<()> {
        let line = match at {
            At::Line { line, .. } => line,
            At::Node(_) => 0,
        };
        let (spread, index) = (&mut *self.spread, self.index);
        self.builder
            .add(event, hint, &mut |o| spread.see(o, (index, line)));
        let flows = self.builder.interpreter.stats.flows;
        if flows.is_multiple_of(8192) {
            self.progress.flows(flows, self.builder.graph.edge_count());
        }
        ControlFlow::Continue(())
    }
}

/// Reads every input into one graph: baselines are merged, dumps replayed
/// (through one interpreter, so connections and DNS answers carry across
/// files).
pub fn load_graph(opts: &LoadOptions) -> Result<(TrafficGraph, LoadReport)> {
    load_graph_with(opts, &())
}

/// [`load_graph`], showing its progress.
pub fn load_graph_with(
    opts: &LoadOptions,
    progress: &impl LoadProgress,
) -> Result<(TrafficGraph, LoadReport)> {
    let mut builder = GraphBuilder::new(opts.interpret.clone());
    let mut report = LoadReport::default();
    let dump_opts = DumpOptions {
        strict: opts.strict,
    };
    let mut dumps = 0usize;
    let mut spread = Spread::default();
    let mut names: Vec<String> = Vec::new();
    for path in &opts.inputs {
        let name = dump::display_name(path);
        let mut reader = dump::open_input_counted(path, progress.counter())?;
        if is_baseline(path, &mut reader) {
            // Without the state to keep, its bytes are only parsed past.
            let keep = if opts.keep_state {
                Keep::Everything
            } else {
                Keep::Graph
            };
            let b = Baseline::read(&name, reader, keep, dump::decompressed_size(path))?;
            report.files.push(FileReport {
                file: name.clone(),
                flows: b.graph.coverage.flows,
                ..FileReport::default()
            });
            report.baselines += 1;
            report.shards.add(&name, &b.graph.coverage);
            if b.unchecked {
                report.unchecked.push(name.clone());
            }
            add_stats(&mut report.interpret, &b.interpret);
            if opts.keep_state {
                report.meta.merge(&b.meta);
            }
            let groups: &[IpNet] = &opts.interpret.cidr_groups;
            if !groups.is_empty() {
                builder.graph.merge(&b.graph.regrouped(groups));
            } else if builder.graph.is_empty() {
                // The first graph is taken as it is (merging it into an
                // empty one would only copy it), its coverage as merged.
                let mut graph = b.graph;
                let coverage = std::mem::take(&mut graph.coverage);
                graph.coverage.merge(&coverage);
                builder.graph = graph;
            } else {
                builder.graph.merge(&b.graph);
            }
            continue;
        }
        dumps += 1;
        let index = names.len();
        names.push(name.clone());
        let mut sink = Replay {
            builder: &mut builder,
            spread: &mut spread,
            index,
            progress,
        };
        let file = dump::read_one(&name, reader, dump_opts, &mut sink)?;
        report.files.push(file);
    }
    add_stats(&mut report.interpret, &builder.interpreter.stats);
    report.flood = spread.flood(&names);
    if dumps > 0 && opts.keep_state {
        // The dumps' interpreter state joins the baselines' (so a baseline
        // converted from a dump can be continued by `observe`).
        report.meta.merge(&BaselineMeta {
            settings: opts.settings(),
            state: builder.interpreter.state(),
            ..BaselineMeta::default()
        });
    }
    Ok((builder.graph, report))
}

/// Whether an opened input is a baseline (peeks without consuming).
fn is_baseline(path: &Path, reader: &mut impl BufRead) -> bool {
    if path.extension().is_some_and(|e| e == "baseline") {
        return true;
    }
    match reader.fill_buf() {
        Ok(head) => looks_like_baseline(head),
        // The dump reader reports the error with its position.
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interpreter's state and the settings are kept only when asked
    /// for (by `merge`, which writes a baseline); the graph is the same.
    #[test]
    fn the_state_is_kept_only_when_asked_for() {
        let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst");
        let read = |keep_state| {
            load_graph(&LoadOptions {
                inputs: vec![demo.clone()],
                keep_state,
                ..LoadOptions::default()
            })
            .unwrap()
        };
        let (plain, plain_report) = read(false);
        let (kept, kept_report) = read(true);
        assert_eq!(plain_report.meta, BaselineMeta::default());
        assert!(!kept_report.meta.state.nodes.is_empty());
        assert_eq!(kept_report.meta.settings, LoadOptions::default().settings());
        assert_eq!(plain.edge_count(), kept.edge_count());
        assert_eq!(plain.coverage.flows, kept.coverage.flows);
    }

    /// A baseline read for its graph alone (its interpreter state parsed
    /// past, the graph taken as decoded) gives what reading it whole and
    /// merging it into an empty graph gives; a second input still merges.
    #[test]
    fn a_baseline_read_for_its_graph_equals_one_read_whole() {
        let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst");
        let (graph, report) = load_graph(&LoadOptions {
            inputs: vec![demo],
            keep_state: true,
            ..LoadOptions::default()
        })
        .unwrap();
        assert!(!report.meta.state.nodes.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.baseline");
        std::fs::write(
            &path,
            crate::baseline::encode(&graph, &report.interpret, &report.meta),
        )
        .unwrap();
        let open = || crate::source::dump::open_input(&path).unwrap();
        let open_raw = || std::fs::File::open(&path).unwrap();
        let whole = Baseline::decode("demo", open()).unwrap();
        let size = crate::source::dump::decompressed_size(&path);
        let raw = zstd::decode_all(open_raw()).unwrap();
        assert_eq!(size, Some(raw.len() as u64));
        // Streamed through its checksum into the compressor, the JSON is
        // the one written whole.
        assert!(raw == crate::baseline::to_json(&graph, &report.interpret, &report.meta));
        let lean = Baseline::read("demo", open(), Keep::Graph, size).unwrap();
        assert_eq!(whole.meta.state, report.meta.state);
        assert_eq!(
            lean.meta,
            BaselineMeta {
                state: Default::default(),
                ..whole.meta.clone()
            }
        );
        let bytes = |g: &TrafficGraph| {
            crate::baseline::encode(g, &report.interpret, &BaselineMeta::default())
        };
        let mut merged = TrafficGraph::new();
        merged.merge(&whole.graph);
        assert_eq!(bytes(&lean.graph), bytes(&merged));
        let read = |inputs: Vec<PathBuf>, keep_state| {
            load_graph(&LoadOptions {
                inputs,
                keep_state,
                ..LoadOptions::default()
            })
            .unwrap()
        };
        let (one, one_report) = read(vec![path.clone()], false);
        assert_eq!(bytes(&one), bytes(&merged));
        assert_eq!(one_report.meta, BaselineMeta::default());
        let (kept, kept_report) = read(vec![path.clone()], true);
        assert_eq!(bytes(&kept), bytes(&merged));
        assert_eq!(kept_report.meta.state, report.meta.state);
        let (two, _) = read(vec![path.clone(), path], false);
        merged.merge(&whole.graph);
        assert_eq!(bytes(&two), bytes(&merged));
    }
}
