//! The push contract between a source and what consumes its flows: both
//! sources (saved dumps, [`super::dump`], and the live stream,
//! [`super::relay::StreamDoor`]) feed a [`FlowSink`], so a consumer (the
//! graph builder, `observe`'s baseline, a benchmark) is written once.
//!
//! What a source guarantees before it calls the sink:
//! - **Order**: events arrive in source order (file order for a dump, the
//!   relay's order for the stream), one at a time, on the caller's thread.
//! - **The door check is done**: every flow handed to [`FlowSink::event`]
//!   passed [`super::validate`]; a flow that failed it goes to
//!   [`FlowSink::rejected`] instead, never to `event`.
//! - **Nothing twice**: the live stream admits each response once
//!   ([`super::relay::ResumeState`]) across reconnects and restarts.
//! - **Borrowed, then recycled**: the event is lent for the call only; the
//!   source gets the flow back afterwards and reuses its endpoints
//!   (a sink that keeps anything clones it).
//!
//! A sink stops the source by returning [`ControlFlow::Break`] from any
//! method; the source then returns at once (a dump reader with what it read
//! so far, the follow loop with [`super::relay::FollowEnd::SinkStopped`]).

use std::fmt;
use std::ops::ControlFlow;

use crate::proto::observer::GetFlowsResponse;
use crate::source::event::{EndpointHint, SourceEvent};
use crate::source::validate::Rejection;

/// Where an event came from, for messages: a dump's file and line, or the
/// node that reported it on the live stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At<'a> {
    /// Line `line` (1-based) of the input shown as `file`.
    Line { file: &'a str, line: u64 },
    /// A node of the live stream (`""` when the response named none).
    Node(&'a str),
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Line { file, line } => write!(f, "{file}:{line}"),
            At::Node(node) => {
                let node = if node.is_empty() { "unknown" } else { node };
                write!(f, "relay node {}", crate::policy::names::shown(node))
            }
        }
    }
}

/// A change in the state of a live source's connection.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamStatus {
    /// A stream is open: the first connection, or a reconnection.
    Connected,
    /// The stream failed; retry number `attempt` follows after `delay`.
    Reconnecting {
        attempt: u32,
        delay: std::time::Duration,
        error: String,
    },
}

/// The state of one node's stream when the live source follows every
/// node's Hubble server itself (`--peer-service`, the fan-out).
#[derive(Debug, Clone, PartialEq)]
pub enum NodeState {
    /// Announced; the stream is being opened.
    Connecting,
    /// The stream is open and flows arrive.
    Streaming,
    /// The stream broke; retry `attempt` follows after `delay`.
    Reconnecting {
        attempt: u32,
        delay: std::time::Duration,
        error: String,
    },
    /// The peer service deleted the node; its flows so far stay.
    Removed,
    /// The node's stream reached `--until`.
    Ended,
    /// A failure retrying cannot fix (certificate, refused call); a later
    /// update of the node tries again.
    Failed(String),
}

impl NodeState {
    /// Whether the node may still send flows (the merge waits for it).
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            NodeState::Connecting | NodeState::Streaming | NodeState::Reconnecting { .. }
        )
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeState::Connecting => f.write_str("connecting"),
            NodeState::Streaming => f.write_str("streaming"),
            NodeState::Reconnecting { attempt, .. } => {
                write!(f, "reconnecting (attempt {attempt})")
            }
            NodeState::Removed => f.write_str("removed"),
            NodeState::Ended => f.write_str("ended (--until)"),
            NodeState::Failed(_) => f.write_str("failed"),
        }
    }
}

/// What a source pushes its events into. Only [`FlowSink::event`] is
/// required; the other methods default to doing nothing.
pub trait FlowSink {
    /// One decoded event that passed the door check: a flow (with the
    /// decoder's numbers for its endpoints), lost events or a node status.
    fn event(&mut self, event: &SourceEvent, at: At<'_>, hint: EndpointHint) -> ControlFlow<()>;

    /// A flow refused at the door: it is never handed to [`FlowSink::event`].
    fn rejected(&mut self, at: At<'_>, rejection: &Rejection) -> ControlFlow<()> {
        let _ = (at, rejection);
        ControlFlow::Continue(())
    }

    /// A live response exactly as the relay sent it, before the door check
    /// (for `observe --record`); dumps never call it.
    fn response(&mut self, response: &GetFlowsResponse) -> ControlFlow<()> {
        let _ = response;
        ControlFlow::Continue(())
    }

    /// The live connection opened, or broke and will be retried (with
    /// `--peer-service`: the peer service's stream).
    fn status(&mut self, status: &StreamStatus) -> ControlFlow<()> {
        let _ = status;
        ControlFlow::Continue(())
    }

    /// A node's stream changed state (fan-out only).
    fn node_state(&mut self, node: &str, state: &NodeState) -> ControlFlow<()> {
        let _ = (node, state);
        ControlFlow::Continue(())
    }
}

impl<S: FlowSink + ?Sized> FlowSink for &mut S {
    fn event(&mut self, event: &SourceEvent, at: At<'_>, hint: EndpointHint) -> ControlFlow<()> {
        (**self).event(event, at, hint)
    }
    fn rejected(&mut self, at: At<'_>, rejection: &Rejection) -> ControlFlow<()> {
        (**self).rejected(at, rejection)
    }
    fn response(&mut self, response: &GetFlowsResponse) -> ControlFlow<()> {
        (**self).response(response)
    }
    fn status(&mut self, status: &StreamStatus) -> ControlFlow<()> {
        (**self).status(status)
    }
    fn node_state(&mut self, node: &str, state: &NodeState) -> ControlFlow<()> {
        (**self).node_state(node, state)
    }
}

/// A sink from a closure over each event (tests, simple tools).
pub struct EachEvent<F>(pub F);

impl<F: FnMut(&SourceEvent)> FlowSink for EachEvent<F> {
    fn event(&mut self, event: &SourceEvent, _: At<'_>, _: EndpointHint) -> ControlFlow<()> {
        (self.0)(event);
        ControlFlow::Continue(())
    }
}
