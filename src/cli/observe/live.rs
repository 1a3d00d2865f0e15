//! The state of a running `observe`: the stream's door (resume point, door
//! check, recycling — [`StreamDoor`]), the sink behind it (the graph
//! builder over the loaded baseline, recording, what is shown), and the
//! periodic checkpoint that writes it all atomically to the baseline file.
//!
//! The builder continues the loaded baseline with the interpreter state it
//! saved (DNS answers, open connections, parked flows), so a baseline
//! observed in several runs is the baseline of one run. A failing
//! `--record` is only a warning: recording stops, the baseline goes on.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::progress::{Numbers, Progress};
use super::record::Recorder;
use crate::baseline::file::write_file_atomic;
use crate::baseline::{self, Baseline, BaselineMeta};
use crate::graph::builder::GraphBuilder;
use crate::graph::TrafficGraph;
use crate::interpret::{InterpretConfig, InterpretStats};
use crate::proto::observer::GetFlowsResponse;
use crate::source::event::{EndpointHint, SourceEvent};
use crate::source::relay::{node_points, NodePoints, ResumeState, StreamDoor};
use crate::source::sink::{At, FlowSink, StreamStatus};
use crate::source::validate::{Rejection, Rejections};

/// Everything the follow loop and the checkpoint ticker share.
pub struct Live {
    pub path: PathBuf,
    /// Resume admission, door check and recycling of the stream.
    pub door: StreamDoor,
    /// With `--peer-service`: each node's resume point (the fan-out keeps
    /// its nodes' doors; `door` is then unused).
    pub node_resume: Option<BTreeMap<String, ResumeState>>,
    /// What the door hands the flows to.
    pub sink: ObserveSink,
    /// Metadata as loaded (this run is added when saving).
    prior_meta: BaselineMeta,
    /// Flows in the file as last saved (None before the first save).
    pub saved_flows: Option<u64>,
    started: Instant,
    pub deadline: Option<Duration>,
    last_checkpoint: Instant,
    checkpoint_every: Duration,
}

/// `observe`'s sink: the live graph, the recording, what is shown.
pub struct ObserveSink {
    pub builder: GraphBuilder,
    /// Streams reopened after the first (failed attempts are not counted).
    pub reconnects: u64,
    pub connects: u64,
    /// Flows received in this run.
    pub flows: u64,
    pub recorder: Option<Recorder>,
    /// Why recording stopped, if it failed.
    pub record_failed: Option<String>,
    pub progress: Progress,
    /// Flows of this run rejected at the door (never learned).
    pub rejections: Rejections,
}

impl ObserveSink {
    /// Stops recording after a failure, with a warning that names the file
    /// and what it keeps; the baseline goes on.
    pub fn stop_recording(&mut self, error: &anyhow::Error) {
        let Some(rec) = self.recorder.take() else {
            return;
        };
        let path = rec.path().display().to_string();
        let kept = rec.complete_lines;
        rec.abandon();
        let why = format!("{error:#}");
        self.progress.println(&format!(
            "warning: --record {path}: {why}; recording stopped (the baseline goes on). {path} keeps the {kept} responses recorded up to the last checkpoint; later flows are only in the baseline"
        ));
        self.record_failed = Some(format!("{path}: {why}"));
    }
}

impl FlowSink for ObserveSink {
    fn event(&mut self, event: &SourceEvent, _: At<'_>, hint: EndpointHint) -> ControlFlow<()> {
        match event {
            SourceEvent::Flow(_) => self.flows += 1,
            SourceEvent::Lost {
                node,
                source,
                count,
            } => self.progress.println(&format!(
                "warning: {count} events lost ({source}) on {}: the baseline has a gap",
                if node.is_empty() {
                    "unknown node"
                } else {
                    node
                }
            )),
            SourceEvent::NodeStatus { state, nodes, .. } => {
                if state == "NODE_UNAVAILABLE" {
                    self.progress.println(&format!(
                        "warning: relay reports nodes unavailable: {}",
                        crate::brief::list(nodes)
                    ));
                }
            }
        }
        self.builder.add(event, hint, &mut |_| {});
        ControlFlow::Continue(())
    }

    /// Counts a rejected flow; the first few of each reason are shown as
    /// they happen, the rest in the summary.
    fn rejected(&mut self, at: At<'_>, r: &Rejection) -> ControlFlow<()> {
        self.flows += 1;
        let first =
            self.rejections.counts.get(&r.reason).copied().unwrap_or(0) < Rejections::KEPT as u64;
        if first {
            self.progress.println(&format!(
                "warning: rejected flow from {at}: {r}; not learned"
            ));
        }
        self.rejections.add(|| at.to_string(), r.clone());
        ControlFlow::Continue(())
    }

    fn response(&mut self, response: &GetFlowsResponse) -> ControlFlow<()> {
        if let Some(rec) = &mut self.recorder {
            if let Err(e) = rec.write(response) {
                self.stop_recording(&e);
            }
        }
        ControlFlow::Continue(())
    }

    fn status(&mut self, status: &StreamStatus) -> ControlFlow<()> {
        match status {
            StreamStatus::Connected => {
                self.connects += 1;
                if self.connects > 1 {
                    self.reconnects += 1;
                }
                let line = if self.connects == 1 {
                    "observe: stream open: reading the relay's buffers, then following new flows"
                        .to_string()
                } else {
                    format!("observe: stream reopened (reconnect {})", self.reconnects)
                };
                self.progress.println(&line);
            }
            StreamStatus::Reconnecting {
                attempt,
                delay,
                error,
            } => {
                self.progress.println(&format!(
                    "observe: stream interrupted: {error}; reconnecting in {:.1}s (attempt {attempt})",
                    delay.as_secs_f64()
                ));
            }
        }
        ControlFlow::Continue(())
    }
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
            door: StreamDoor::through_relay(
                base.meta.resume.clone(),
                NodePoints::new(base.meta.node_resume.clone()),
            ),
            node_resume: None,
            sink: ObserveSink {
                builder: GraphBuilder::resume(base.graph, cfg, &base.meta.state, base.interpret),
                reconnects: 0,
                connects: 0,
                flows: 0,
                recorder,
                record_failed: None,
                progress: Progress::new(),
                rejections: Rejections::default(),
            },
            prior_meta: base.meta,
            saved_flows: None,
            started: now,
            deadline,
            last_checkpoint: now,
            checkpoint_every,
        }
    }

    /// The graph as it stands.
    pub fn graph(&self) -> &TrafficGraph {
        &self.sink.builder.graph
    }

    /// Hands one event of the follow loop through the door to the sink.
    pub fn deliver(&mut self, event: crate::source::relay::RelayEvent) -> ControlFlow<()> {
        self.door.deliver(event, &mut self.sink)
    }

    fn numbers(&self) -> Numbers {
        let elapsed = self.started.elapsed();
        Numbers {
            elapsed,
            remaining: self.deadline.map(|d| d.saturating_sub(elapsed)),
            flows: self.sink.flows,
            workloads: self.graph().workloads().len(),
            edges: self.graph().edge_count(),
            lost: self.graph().coverage.total_lost(),
            reconnects: self.sink.reconnects,
        }
    }

    /// Called every tick: refreshes the display, checkpoints when due.
    pub fn tick(&mut self) {
        let n = self.numbers();
        self.sink.progress.refresh(n);
        if self.last_checkpoint.elapsed() >= self.checkpoint_every {
            if let Err(e) = self.checkpoint() {
                let kept = match self.saved_flows {
                    Some(n) => format!(
                        "{} keeps the last checkpoint ({n} flows)",
                        self.path.display()
                    ),
                    None => format!("{} was not written yet", self.path.display()),
                };
                self.sink.progress.println(&format!(
                    "warning: checkpoint failed (will retry): {e:#}; {kept}, the flows since are only in memory"
                ));
            }
            self.sink.progress.log(n);
        }
    }

    /// The baseline as it stands, with this run counted. The interpreter
    /// carries the loaded baseline's counters on, and its state is what
    /// the next run continues from.
    pub fn snapshot(&self) -> (InterpretStats, BaselineMeta) {
        let interpreter = &self.sink.builder.interpreter;
        let mut meta = self.prior_meta.clone();
        meta.observation.runs += 1;
        meta.observation.observed_seconds += self.started.elapsed().as_secs();
        meta.observation.reconnects += self.sink.reconnects;
        meta.resume = self.door.resume.clone();
        match &self.node_resume {
            Some(points) => {
                // The relay's point, should the baseline be continued
                // through a relay: the oldest of the nodes' (each node's
                // own point then drops what it delivered).
                if let Some(oldest) = node_points::oldest(points) {
                    meta.resume = oldest.clone();
                }
                meta.node_resume = points.clone();
            }
            None => {
                if let Some(nodes) = &self.door.nodes {
                    meta.node_resume = nodes.reached();
                }
            }
        }
        meta.state = interpreter.state();
        (interpreter.stats.clone(), meta)
    }

    /// Ends the recording's frame (a failure there only stops recording)
    /// and writes the baseline atomically (temp file, fsync, rename).
    pub fn checkpoint(&mut self) -> Result<()> {
        self.last_checkpoint = Instant::now();
        if let Some(rec) = &mut self.sink.recorder {
            if let Err(e) = rec.end_frame() {
                self.sink.stop_recording(&e);
            }
        }
        let (stats, meta) = self.snapshot();
        // Observed time moves on even without flows, so always write.
        write_file_atomic(&self.path, &baseline::encode(self.graph(), &stats, &meta))
            .with_context(|| format!("saving the baseline to {}", self.path.display()))?;
        self.saved_flows = Some(self.graph().coverage.flows);
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
        self.sink.progress.log(n);
    }
}
