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

    /// The live connection opened, or broke and will be retried.
    fn status(&mut self, status: &StreamStatus) -> ControlFlow<()> {
        let _ = status;
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
}

/// A sink from a closure over each event (tests, simple tools).
pub struct EachEvent<F>(pub F);

impl<F: FnMut(&SourceEvent)> FlowSink for EachEvent<F> {
    fn event(&mut self, event: &SourceEvent, _: At<'_>, _: EndpointHint) -> ControlFlow<()> {
        (self.0)(event);
        ControlFlow::Continue(())
    }
}
