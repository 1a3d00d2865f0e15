//! What the fan-out is told and what it shows: [`FanoutOptions`] (how it
//! follows and merges) and [`NodeView`] (one node's stream, for the
//! progress line and the summary).

use std::time::Duration;

use super::backoff::Backoff;
use super::resume::FlowTime;
use crate::source::sink::NodeState;

/// How the fan-out follows and merges.
#[derive(Debug, Clone, PartialEq)]
pub struct FanoutOptions {
    /// Reconnect delays (node streams and the peer service).
    pub backoff: Backoff,
    /// Deliver flows without the fields nothing after the door reads.
    pub slim: bool,
    /// Stop after this long (wall time from the call).
    pub deadline: Option<Duration>,
    /// How long the merge waits for a node that says nothing before it
    /// lets the other nodes' flows pass (Hubble Relay waits 1 s).
    pub max_wait: Duration,
    /// Responses buffered per node before its stream is paused
    /// ([`PER_NODE`] by default).
    pub per_node: usize,
    /// How often `on_tick` is called.
    pub tick: Duration,
}

/// Responses the merge holds per node before pausing its stream. A held
/// response is ~4 KB with its strings, so this bounds what a node waiting
/// for a slower one costs to ~2 MB. Measured on the benchmark's 8-node flood
/// (client alone, docs/scale.md): 512 a node, 56 MiB peak RSS and
/// 140-147k flows/s; 4 096, 118-129 MiB and ~100k flows/s. (Hubble Relay
/// sorts through a buffer of 100 flows in all, `SortBufferMaxLen`.)
pub const PER_NODE: usize = 512;

impl Default for FanoutOptions {
    fn default() -> Self {
        FanoutOptions {
            backoff: Backoff::default(),
            slim: true,
            deadline: None,
            max_wait: Duration::from_secs(1),
            per_node: PER_NODE,
            tick: Duration::from_secs(1),
        }
    }
}

/// One node as the progress line and the summary show it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    pub name: String,
    /// `host:port` of its Hubble server.
    pub server: String,
    pub state: NodeState,
    /// Flows handed on (this run).
    pub flows: u64,
    /// Events the node reported lost (this run).
    pub lost: u64,
    /// Streams reopened after a break.
    pub reconnects: u32,
    /// Flows that arrived after newer ones had been handed on (the node
    /// was not waited for): interpreted out of time order.
    pub late: u64,
    /// Time of its newest flow (lag = now − this).
    pub newest: Option<FlowTime>,
}
