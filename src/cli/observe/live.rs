//! The state of a running `observe`: the stream's door (resume point, door
//! check, recycling — [`StreamDoor`]), the sink behind it (the graph
//! builder over the loaded baseline, recording, what is shown), and the
//! periodic checkpoint that writes it all atomically to the baseline file.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::progress::{Numbers, Progress};
use super::record::Recorder;
use crate::baseline::{self, Baseline, BaselineMeta};
use crate::graph::builder::GraphBuilder;
use crate::graph::TrafficGraph;
use crate::interpret::{InterpretConfig, InterpretStats};
use crate::proto::observer::GetFlowsResponse;
use crate::render::layout::write_file_atomic;
use crate::source::event::{EndpointHint, SourceEvent};
use crate::source::relay::StreamDoor;
use crate::source::sink::{At, FlowSink, StreamStatus};
use crate::source::validate::{Rejection, Rejections};

/// Everything the follow loop and the checkpoint ticker share.
pub struct Live {
    pub path: PathBuf,
    /// Resume admission, door check and recycling of the stream.
    pub door: StreamDoor,
    /// What the door hands the flows to.
    pub sink: ObserveSink,
    /// Counters of the flows already in the loaded baseline.
    prior_stats: InterpretStats,
    /// Metadata as loaded (this run is added when saving).
    prior_meta: BaselineMeta,
    started: Instant,
    pub deadline: Option<Duration>,
    last_checkpoint: Instant,
    checkpoint_every: Duration,
}

/// `observe`'s sink: the live graph, the recording, what is shown.
pub struct ObserveSink {
    pub builder: GraphBuilder,
    pub reconnects: u64,
    pub connects: u64,
    /// Flows received in this run.
    pub flows: u64,
    pub recorder: Option<Recorder>,
    pub progress: Progress,
    /// A failure inside the sink (recording); stops the loop.
    pub fatal: Option<anyhow::Error>,
    /// Flows of this run rejected at the door (never learned).
    pub rejections: Rejections,
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
                self.fatal = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    fn status(&mut self, status: &StreamStatus) -> ControlFlow<()> {
        match status {
            StreamStatus::Connected => {
                self.connects += 1;
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
                self.reconnects += 1;
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
            door: StreamDoor::new(base.meta.resume.clone()),
            sink: ObserveSink {
                builder: GraphBuilder::on(base.graph, cfg),
                reconnects: 0,
                connects: 0,
                flows: 0,
                recorder,
                progress: Progress::new(),
                fatal: None,
                rejections: Rejections::default(),
            },
            prior_stats: base.interpret,
            prior_meta: base.meta,
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
                self.sink
                    .progress
                    .println(&format!("warning: checkpoint failed (will retry): {e:#}"));
            }
            self.sink.progress.log(n);
        }
    }

    /// The baseline as it stands, with this run counted.
    pub fn snapshot(&self) -> (InterpretStats, BaselineMeta) {
        let mut stats = self.prior_stats.clone();
        baseline::add_stats(&mut stats, &self.sink.builder.interpreter.stats);
        let mut meta = self.prior_meta.clone();
        meta.observation.runs += 1;
        meta.observation.observed_seconds += self.started.elapsed().as_secs();
        meta.observation.reconnects += self.sink.reconnects;
        meta.resume = self.door.resume.clone();
        (stats, meta)
    }

    /// Writes the baseline atomically (temp file, fsync, rename) and
    /// flushes the recording.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.last_checkpoint = Instant::now();
        if let Some(rec) = &mut self.sink.recorder {
            rec.flush()?;
        }
        let (stats, meta) = self.snapshot();
        // Observed time moves on even without flows, so always write.
        write_file_atomic(&self.path, &baseline::encode(self.graph(), &stats, &meta))?;
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
