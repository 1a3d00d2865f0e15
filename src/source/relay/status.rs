//! `ServerStatus`: how many nodes the relay reaches, which are unavailable,
//! and how full their flow buffers are.

use std::time::Duration;

use crate::proto::observer::{ServerStatusRequest, ServerStatusResponse};

use super::config::RelayConfig;
use super::connect::connect;
use super::error::RelayError;

/// The relay's answer to `ServerStatus`, summed over its nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerStatus {
    /// Flows currently held in the nodes' ring buffers.
    pub num_flows: u64,
    /// Total capacity of those buffers.
    pub max_flows: u64,
    /// Flows seen since the agents started.
    pub seen_flows: u64,
    /// Uptime of the (longest running) server.
    pub uptime: Duration,
    /// Nodes the relay is connected to (None from a single agent).
    pub num_connected_nodes: Option<u32>,
    /// Nodes the relay cannot reach (None from a single agent).
    pub num_unavailable_nodes: Option<u32>,
    /// Names of (some of) the unavailable nodes.
    pub unavailable_nodes: Vec<String>,
    /// Server version string.
    pub version: String,
    /// Flows per second, as the server computes it.
    pub flows_rate: f64,
}

impl ServerStatus {
    /// `num_flows / max_flows`, if the capacity is known.
    pub fn buffer_fill(&self) -> Option<f64> {
        (self.max_flows > 0).then(|| self.num_flows as f64 / self.max_flows as f64)
    }
}

impl From<ServerStatusResponse> for ServerStatus {
    fn from(r: ServerStatusResponse) -> Self {
        ServerStatus {
            num_flows: r.num_flows,
            max_flows: r.max_flows,
            seen_flows: r.seen_flows,
            uptime: Duration::from_nanos(r.uptime_ns),
            num_connected_nodes: r.num_connected_nodes.map(|v| v.value),
            num_unavailable_nodes: r.num_unavailable_nodes.map(|v| v.value),
            unavailable_nodes: r.unavailable_nodes,
            version: r.version,
            flows_rate: r.flows_rate,
        }
    }
}

/// Connects and calls `ServerStatus` once (no retries), within
/// `cfg.timeout` for the connection and again for the call.
pub async fn server_status(cfg: &RelayConfig) -> Result<ServerStatus, RelayError> {
    let mut conn = connect(cfg).await?;
    let call = conn.client.server_status(ServerStatusRequest {});
    match tokio::time::timeout(cfg.timeout, call).await {
        Err(_) => Err(conn.errors().timeout()),
        Ok(Err(status)) => Err(conn.opening_error(&status).await),
        Ok(Ok(resp)) => Ok(resp.into_inner().into()),
    }
}
