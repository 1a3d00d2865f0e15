//! The live stream's door: what a dump reader does for its lines, done for
//! the relay's responses before a [`FlowSink`] sees them — resume admission
//! mirrored for checkpoints, the door check (each distinct endpoint once),
//! and the flow's endpoints given back to the stream decoder afterwards.
//! Through the relay it also keeps each node's point ([`NodePoints`]): the
//! flows a node's own stream delivered in an earlier run are dropped.
//! [`follow_into`] runs the follow loop into a sink through it.

use std::future::Future;
use std::ops::ControlFlow;

use super::config::RelayConfig;
use super::endpoints::{EndpointId, Recycler};
use super::error::RelayError;
use super::follow::{follow, FollowOptions, FollowSummary, RelayEvent};
use super::node_points::NodePoints;
use super::resume::ResumeState;
use crate::source::checked::CheckedEndpoints;
use crate::source::event::SourceEvent;
use crate::source::sink::{At, FlowSink, StreamStatus};

/// Between the follow loop and a sink.
#[derive(Default)]
pub struct StreamDoor {
    /// Mirrors the follow loop's resume state: it is updated with exactly
    /// the responses the loop delivers, so it equals the loop's own state
    /// and can be saved while the loop runs.
    pub resume: ResumeState,
    /// Through the relay: each node's point (those saved, then moved by
    /// the flows delivered). `None` for a node's own stream.
    pub nodes: Option<NodePoints>,
    /// The door check, each distinct endpoint checked once.
    checks: CheckedEndpoints,
    /// Flows' endpoints go back to the stream decoder through it.
    recycler: Recycler,
}

impl StreamDoor {
    /// A door continuing from `resume`.
    pub fn new(resume: ResumeState) -> StreamDoor {
        StreamDoor {
            resume,
            ..StreamDoor::default()
        }
    }

    /// The recycler the follow loop's decoder takes endpoints back from
    /// (for [`FollowOptions::recycler`]).
    pub fn recycler(&self) -> Recycler {
        self.recycler.clone()
    }

    /// A door on the relay continuing from `resume`, dropping what each
    /// node's stream delivered up to its saved point (`nodes`).
    pub fn through_relay(resume: ResumeState, nodes: NodePoints) -> StreamDoor {
        StreamDoor {
            resume,
            nodes: Some(nodes),
            ..StreamDoor::default()
        }
    }

    /// Hands one event of the follow loop to `sink`.
    pub fn deliver(&mut self, event: RelayEvent, sink: &mut impl FlowSink) -> ControlFlow<()> {
        let mut received = match event {
            RelayEvent::Connected => return sink.status(&StreamStatus::Connected),
            RelayEvent::Reconnecting {
                attempt,
                delay,
                error,
            } => {
                return sink.status(&StreamStatus::Reconnecting {
                    attempt,
                    delay,
                    error,
                })
            }
            RelayEvent::Response(received) => received,
        };
        let fresh = self.nodes.as_mut().is_none_or(|n| n.admit(&received));
        if !fresh {
            self.resume.admit(&received);
            return ControlFlow::Continue(());
        }
        sink.response(&received.response)?;
        self.resume.admit(&received);
        let known = received.endpoint_checks.take();
        let ids = received.endpoint_ids;
        let Some(event) = SourceEvent::from_response(received.response) else {
            return ControlFlow::Continue(());
        };
        let flow = match &event {
            SourceEvent::Flow(f) => match self.checks.check_decoded(f, known) {
                Err(r) => sink.rejected(At::Node(&f.node_name), &r),
                Ok(()) => sink.event(&event, At::Node(&f.node_name), EndpointId::hint(ids)),
            },
            SourceEvent::Lost { node, .. } => {
                sink.event(&event, At::Node(node), EndpointId::hint(ids))
            }
            SourceEvent::NodeStatus { .. } => {
                sink.event(&event, At::Node(""), EndpointId::hint(ids))
            }
        };
        if let SourceEvent::Flow(mut f) = event {
            self.recycler.give_back(&mut f, ids);
        }
        flow
    }
}

/// Follows the relay ([`follow`]) into `sink` through `door`, starting at
/// the door's resume point; the door's resume state is current when this
/// returns, also on error.
pub async fn follow_into<S: Future<Output = ()>>(
    cfg: &RelayConfig,
    opts: &FollowOptions,
    door: &mut StreamDoor,
    sink: &mut impl FlowSink,
    shutdown: S,
) -> Result<FollowSummary, RelayError> {
    let opts = FollowOptions {
        recycler: Some(door.recycler()),
        ..opts.clone()
    };
    let mut resume = door.resume.clone();
    let outcome = follow(cfg, &opts, &mut resume, |e| door.deliver(e, sink), shutdown).await;
    debug_assert_eq!(door.resume, resume);
    door.resume = resume;
    outcome
}
