//! Per-namespace tables of the report: for every namespace, its workloads'
//! inbound peers (from other namespaces or outside), outbound peers, and the
//! traffic inside the namespace — one row per (workload, peer) with the
//! ports, counts and first/last seen.

use std::collections::BTreeMap;

use serde::Serialize;

use super::classify::{self, Role};
use super::names::Names;
use crate::graph::evidence::format_time;
use crate::graph::{EdgeData, Tally, TrafficGraph};
use crate::peer::{Peer, WorkloadKey};

/// One (workload, peer) pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerRow {
    /// The namespace's workload (initiator for traffic inside the namespace).
    pub workload: String,
    /// The other end (`namespace/name`, `entity:…`, `cidr:…`, `fqdn:…`).
    pub peer: String,
    /// Responder ports; `(dropped)` when seen only DROPPED.
    pub ports: Vec<String>,
    pub connections: u64,
    pub flows: u64,
    /// Of the flows, how many were DROPPED.
    pub dropped_flows: u64,
    pub first_seen: String,
    pub last_seen: String,
}

/// A workload the classifier gave a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classified {
    pub workload: String,
    pub roles: Vec<Role>,
}

/// One namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NamespaceSection {
    pub name: String,
    pub workloads: Vec<String>,
    pub classified: Vec<Classified>,
    /// Initiators outside the namespace → its workloads.
    pub inbound: Vec<PeerRow>,
    /// Its workloads → responders outside the namespace.
    pub outbound: Vec<PeerRow>,
    /// Between workloads of the namespace (`workload` initiates, `peer` responds).
    pub internal: Vec<PeerRow>,
}

fn row(names: &Names, workload: &WorkloadKey, peer: &Peer, e: &EdgeData) -> PeerRow {
    let mut sum = Tally::default();
    let mut dropped_flows = 0;
    let mut ports = Vec::new();
    for (k, s) in &e.ports {
        if s.allowed.is_none() {
            ports.push(format!("{k} (dropped)"));
        } else {
            ports.push(k.to_string());
        }
        for t in [&s.allowed, &s.dropped].into_iter().flatten() {
            sum.merge(t);
        }
        if let Some(d) = &s.dropped {
            dropped_flows += d.flows;
        }
    }
    PeerRow {
        workload: names.workload(workload),
        peer: names.peer(peer),
        ports,
        connections: sum.connections,
        flows: sum.flows,
        dropped_flows,
        first_seen: format_time(sum.first_seen),
        last_seen: format_time(sum.last_seen),
    }
}

/// The sections, one per namespace with a workload, sorted by name.
pub fn namespaces(graph: &TrafficGraph, names: &Names) -> Vec<NamespaceSection> {
    let mut by_ns: BTreeMap<&str, NamespaceSection> = BTreeMap::new();
    let mut responder_ports: BTreeMap<&WorkloadKey, Vec<u16>> = BTreeMap::new();
    for w in graph.workloads() {
        let s = by_ns.entry(w.namespace.as_str()).or_default();
        s.name = w.namespace.clone();
        s.workloads.push(names.workload(w));
    }
    for (from, to, e) in graph.edges_sorted() {
        let (fw, tw) = (from.as_workload(), to.as_workload());
        if let Some(t) = tw {
            responder_ports
                .entry(t)
                .or_default()
                .extend(e.ports.keys().map(|k| k.port));
        }
        match (fw, tw) {
            (Some(f), Some(t)) if f.namespace == t.namespace => {
                if let Some(s) = by_ns.get_mut(f.namespace.as_str()) {
                    s.internal.push(row(names, f, to, e));
                }
            }
            _ => {
                if let Some(t) = tw {
                    if let Some(s) = by_ns.get_mut(t.namespace.as_str()) {
                        s.inbound.push(row(names, t, from, e));
                    }
                }
                if let Some(f) = fw {
                    if let Some(s) = by_ns.get_mut(f.namespace.as_str()) {
                        s.outbound.push(row(names, f, to, e));
                    }
                }
            }
        }
    }
    for w in graph.workloads() {
        let ports = responder_ports.get(w).map(Vec::as_slice).unwrap_or(&[]);
        let roles = classify::roles(w, ports);
        if roles.is_empty() {
            continue;
        }
        if let Some(s) = by_ns.get_mut(w.namespace.as_str()) {
            s.classified.push(Classified {
                workload: names.workload(w),
                roles,
            });
        }
    }
    let key = |r: &PeerRow| (r.workload.clone(), r.peer.clone());
    by_ns
        .into_values()
        .map(|mut s| {
            s.workloads.sort();
            s.workloads.dedup();
            for t in [&mut s.inbound, &mut s.outbound, &mut s.internal] {
                t.sort_by_key(key);
            }
            s
        })
        .collect()
}
