//! The state of a running `observe`: the live graph (the loaded baseline
//! plus every flow since), the interpreter, the resume point, and the
//! periodic checkpoint that writes it all atomically to the baseline file.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::progress::{Numbers, Progress};
use super::record::Recorder;
use crate::cli::inputs::feed_hinted;
use crate::graph::baseline::{self, Baseline, BaselineMeta};
use crate::graph::TrafficGraph;
use crate::interpret::validate::{Rejection, Rejections};
use crate::interpret::{InterpretConfig, InterpretStats, Interpreter};
use crate::render::layout::write_file_atomic;
use crate::source::checked::CheckedEndpoints;
use crate::source::event::SourceEvent;
use crate::source::relay::{EndpointId, Recycler, RelayEvent, ResumeState};

/// Everything the follow sink and the checkpoint ticker share.
pub struct Live {
    pub path: PathBuf,
    pub graph: TrafficGraph,
    interpreter: Interpreter,
    /// Counters of the flows already in the loaded baseline.
    prior_stats: InterpretStats,
    /// Metadata as loaded (this run is added when saving).
    prior_meta: BaselineMeta,
    /// Mirrors the follow loop's resume state: it is updated with exactly
    /// the responses the loop delivers, so it equals the loop's own state.
    pub resume: ResumeState,
    started: Instant,
    pub deadline: Option<Duration>,
    pub reconnects: u64,
    pub connects: u64,
    /// Flows received in this run.
    pub flows: u64,
    last_checkpoint: Instant,
    checkpoint_every: Duration,
    pub recorder: Option<Recorder>,
    pub progress: Progress,
    /// A failure inside the sink (recording); stops the loop.
    pub fatal: Option<anyhow::Error>,
    /// Flows of this run rejected at the door (never learned).
    pub rejections: Rejections,
    /// The door check, each distinct endpoint checked once.
    checks: CheckedEndpoints,
    /// Flows' endpoints go back to the stream decoder through it.
    pub recycler: Recycler,
}

impl Live {
    pub fn new(
        path: PathBuf,
        base: Baseline,
        cfg: InterpretConfig,
        checkpoint_every: Duration,
        deadline: Option<Duration>,
        recorder: Option<Recorder>,
    ) -> Live {
        let now = Instant::now();
        Live {
            path,
            resume: base.meta.resume.clone(),
            graph: base.graph,
            interpreter: Interpreter::new(cfg),
            prior_stats: base.interpret,
            prior_meta: base.meta,
            started: now,
            deadline,
            reconnects: 0,
            connects: 0,
            flows: 0,
            last_checkpoint: now,
            checkpoint_every,
            recorder,
            progress: Progress::new(),
            fatal: None,
            rejections: Rejections::default(),
            checks: CheckedEndpoints::default(),
            recycler: Recycler::default(),
        }
    }

    /// Handles one event of the follow loop; false to stop it.
    pub fn on_event(&mut self, event: RelayEvent) -> bool {
        match event {
            RelayEvent::Connected => {
                self.connects += 1;
                let line = if self.connects == 1 {
                    "observe: stream open: reading the relay's buffers, then following new flows"
                        .to_string()
                } else {
                    format!("observe: stream reopened (reconnect {})", self.reconnects)
                };
                self.progress.println(&line);
            }
            RelayEvent::Reconnecting {
                attempt,
                delay,
                error,
            } => {
                self.reconnects += 1;
                self.progress.println(&format!(
                    "observe: stream interrupted: {error}; reconnecting in {:.1}s (attempt {attempt})",
                    delay.as_secs_f64()
                ));
            }
            RelayEvent::Response(mut received) => {
                if let Some(rec) = &mut self.recorder {
                    if let Err(e) = rec.write(&received.response) {
                        self.fatal = Some(e);
                        return false;
                    }
                }
                self.resume.admit(&received);
                let known = received.endpoint_checks.take();
                let ids = received.endpoint_ids;
                if let Some(event) = SourceEvent::from_response(received.response) {
                    match &event {
                        SourceEvent::Flow(_) => self.flows += 1,
                        SourceEvent::Lost {
                            node,
                            source,
                            count,
                        } => {
                            self.progress.println(&format!(
                            "warning: {count} events lost ({source}) on {}: the baseline has a gap",
                            if node.is_empty() { "unknown node" } else { node }
                        ))
                        }
                        SourceEvent::NodeStatus { state, nodes, .. } => {
                            if state == "NODE_UNAVAILABLE" {
                                self.progress.println(&format!(
                                    "warning: relay reports nodes unavailable: {}",
                                    crate::render::brief::list(nodes)
                                ));
                            }
                        }
                    }
                    if let SourceEvent::Flow(f) = &event {
                        if let Err(r) = self.checks.check_decoded(f, known) {
                            self.reject(&f.node_name, r);
                            return true;
                        }
                    }
                    let hint = EndpointId::hint(ids);
                    feed_hinted(&mut self.graph, &mut self.interpreter, &event, hint);
                    if let SourceEvent::Flow(mut f) = event {
                        self.recycler.give_back(&mut f, ids);
                    }
                }
            }
        }
        true
    }

    /// Counts a rejected flow; the first few of each reason are shown as
    /// they happen, the rest in the summary.
    fn reject(&mut self, node: &str, r: Rejection) {
        let node = if node.is_empty() { "unknown" } else { node };
        let at = format!("relay node {}", crate::policy::names::shown(node));
        let first =
            self.rejections.counts.get(&r.reason).copied().unwrap_or(0) < Rejections::KEPT as u64;
        if first {
            self.progress.println(&format!(
                "warning: rejected flow from {at}: {r}; not learned"
            ));
        }
        self.rejections.add(|| at, r);
    }

    fn numbers(&self) -> Numbers {
        let elapsed = self.started.elapsed();
        Numbers {
            elapsed,
            remaining: self.deadline.map(|d| d.saturating_sub(elapsed)),
            flows: self.flows,
            workloads: self.graph.workloads().len(),
            edges: self.graph.edge_count(),
            lost: self.graph.coverage.total_lost(),
            reconnects: self.reconnects,
        }
    }

    /// Called every tick: refreshes the display, checkpoints when due.
    pub fn tick(&mut self) {
        let n = self.numbers();
        self.progress.refresh(n);
        if self.last_checkpoint.elapsed() >= self.checkpoint_every {
            if let Err(e) = self.checkpoint() {
                self.progress
                    .println(&format!("warning: checkpoint failed (will retry): {e:#}"));
            }
            self.progress.log(n);
        }
    }

    /// The baseline as it stands, with this run counted.
    pub fn snapshot(&self) -> (InterpretStats, BaselineMeta) {
        let mut stats = self.prior_stats.clone();
        baseline::add_stats(&mut stats, &self.interpreter.stats);
        let mut meta = self.prior_meta.clone();
        meta.observation.runs += 1;
        meta.observation.observed_seconds += self.started.elapsed().as_secs();
        meta.observation.reconnects += self.reconnects;
        meta.resume = self.resume.clone();
        (stats, meta)
    }

    /// Writes the baseline atomically (temp file, fsync, rename) and
    /// flushes the recording.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.last_checkpoint = Instant::now();
        if let Some(rec) = &mut self.recorder {
            rec.flush()?;
        }
        let (stats, meta) = self.snapshot();
        // Observed time moves on even without flows, so always write.
        write_file_atomic(&self.path, &baseline::encode(&self.graph, &stats, &meta))?;
        Ok(())
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Interpretation counters of the whole baseline.
    pub fn total_stats(&self) -> InterpretStats {
        self.snapshot().0
    }

    pub fn log_now(&mut self) {
        let n = self.numbers();
        self.progress.log(n);
    }
}
