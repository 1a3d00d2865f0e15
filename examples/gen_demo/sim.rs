//! The simulator's state: connections (`Conn`) between peers, the event buffer every traffic
//! class appends to (in generation order, for a stable sort), and which nodes observe a
//! connection.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use flowpolicy::proto::flow::Flow;
use flowpolicy::proto::observer::{get_flows_response::ResponseTypes, GetFlowsResponse};

use super::clock::timestamp;
use super::cluster::Cluster;
use super::peers::Peer;
use super::rng::{SplitMix64, SEED};

/// Which end of a connection an observation is taken at.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Source,
    Destination,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    Tcp,
    Udp,
}

/// A connection (or UDP exchange) between two peers, post-DNAT (backend pod port).
#[derive(Clone)]
pub(crate) struct Conn {
    pub(crate) src: Peer,
    pub(crate) dst: Peer,
    pub(crate) proto: Proto,
    pub(crate) sport: u32,
    pub(crate) dport: u32,
    pub(crate) v6: bool,
    /// `destination_names` for world destinations resolved through the DNS proxy.
    pub(crate) names: Vec<String>,
}

pub(crate) struct Sim<'c> {
    pub(crate) cluster: &'c Cluster,
    pub(crate) rng: SplitMix64,
    pub(crate) events: Vec<(u64, u64, GetFlowsResponse)>,
    pub(crate) world_identities: BTreeMap<IpAddr, u32>,
    /// (pod, name) pairs already resolved once (every client resolves before its first use).
    pub(crate) resolved: BTreeSet<(usize, String)>,
}

impl<'c> Sim<'c> {
    pub(crate) fn new(cluster: &'c Cluster) -> Self {
        Self {
            cluster,
            rng: SplitMix64(SEED),
            events: Vec::new(),
            world_identities: BTreeMap::new(),
            resolved: BTreeSet::new(),
        }
    }

    pub(crate) fn push(&mut self, t: u64, resp: GetFlowsResponse) {
        let seq = self.events.len() as u64;
        self.events.push((t, seq, resp));
    }

    pub(crate) fn push_flow(&mut self, t: u64, mut flow: Flow) {
        let node = flow.node_name.clone();
        flow.time = Some(timestamp(t));
        self.push(
            t,
            GetFlowsResponse {
                node_name: node,
                time: Some(timestamp(t)),
                response_types: Some(ResponseTypes::Flow(flow)),
            },
        );
    }

    /// Nodes that observe this connection, and at which side.
    pub(crate) fn observers(&self, conn: &Conn) -> Vec<(usize, Side)> {
        let mut obs = Vec::new();
        let src = self.local_node(&conn.src);
        if let Some(n) = src {
            obs.push((n, Side::Source));
        }
        if let Some(n) = self.local_node(&conn.dst) {
            if src != Some(n) {
                obs.push((n, Side::Destination));
            }
        }
        obs
    }
}
