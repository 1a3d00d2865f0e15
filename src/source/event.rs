//! What every source hands to the rest of the pipeline: one decoded
//! `GetFlowsResponse` line at a time, already split into its three kinds.

use crate::proto::{flow, observer, relay};

/// One decoded line of a dump or one message of the live stream.
#[derive(Debug, Clone)]
pub enum SourceEvent {
    /// A flow, with the node that reported it (from the wrapper or the flow).
    Flow(Box<flow::Flow>),
    /// Events the node or relay could not deliver: the baseline has a gap.
    Lost {
        node: String,
        source: String,
        count: u64,
    },
    /// A relay node came or went.
    NodeStatus {
        state: String,
        nodes: Vec<String>,
        message: String,
    },
}

impl SourceEvent {
    /// Splits a `GetFlowsResponse` into its event; `None` for an empty response.
    pub fn from_response(resp: observer::GetFlowsResponse) -> Option<SourceEvent> {
        use observer::get_flows_response::ResponseTypes;
        match resp.response_types? {
            ResponseTypes::Flow(mut f) => {
                if f.node_name.is_empty() {
                    f.node_name = resp.node_name;
                }
                if f.time.is_none() {
                    f.time = resp.time;
                }
                Some(SourceEvent::Flow(Box::new(f)))
            }
            ResponseTypes::LostEvents(l) => Some(SourceEvent::Lost {
                node: resp.node_name,
                source: l.source().as_str_name().to_string(),
                count: l.num_events_lost,
            }),
            ResponseTypes::NodeStatus(s) => Some(SourceEvent::NodeStatus {
                state: relay::NodeState::try_from(s.state_change)
                    .map(|s| s.as_str_name().to_string())
                    .unwrap_or_else(|_| s.state_change.to_string()),
                nodes: s.node_names,
                message: s.message,
            }),
        }
    }
}

/// Numbers a decoder gives a flow's `[source, destination]` endpoints:
/// two flows whose endpoints carry the same number have endpoints decoded
/// from the very same text or bytes (the dump's fast path and the live
/// stream decoder number each distinct endpoint encoding they remember with
/// [`EndpointHint::fresh_number`], never reusing one), so what was learned
/// of one is true of the other without comparing them again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointHint(pub [Option<u64>; 2]);

impl EndpointHint {
    /// A number for a newly remembered endpoint text: unique in the
    /// process, whichever decoder (dump threads, the live stream) asks.
    pub fn fresh_number() -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}
