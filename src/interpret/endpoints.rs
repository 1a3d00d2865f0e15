//! The endpoint cache of interpretation: each Hubble endpoint classified
//! once per identity and labels (or once per decoder number, see
//! [`EndpointHint`](crate::source::event::EndpointHint)), workloads and
//! entities with their peer built once, and the workload last seen per pod
//! address ([`PodAddresses`], one per node: part of a node's memory), to
//! repair flows the L7 proxy reports as world.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use serde::{Deserialize, Serialize};

use super::peer::{self, EndpointKind};
use super::SkipReason;
use crate::peer::{Peer, WorkloadKey};
use crate::proto::flow;

/// A pod address and the workload last seen there, as a baseline stores it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PodEntry {
    pub address: IpAddr,
    pub workload: WorkloadKey,
}

/// An endpoint's classification, cached per identity; workloads and entities
/// carry their peer, built once, so a busy identity costs no allocation per
/// flow. World peers depend on the address and are resolved per flow.
#[derive(Debug)]
pub(super) struct Classified {
    pub(super) kind: EndpointKind,
    pub(super) peer: Option<Arc<Peer>>,
}

impl Classified {
    fn new(kind: EndpointKind) -> Classified {
        let peer = match &kind {
            EndpointKind::Workload(w) => Some(Arc::new(Peer::Workload(w.clone()))),
            EndpointKind::Entity(e) => Some(Arc::new(Peer::Entity(*e))),
            EndpointKind::World | EndpointKind::Unknown => None,
        };
        Classified { kind, peer }
    }
}

/// Classifications remembered by [`EndpointHint`] number; emptied when full.
const MAX_HINTED: usize = 1 << 16;

/// Classified endpoints, by identity and labels and by decoder number.
#[derive(Default)]
pub(super) struct Endpoints {
    by_labels: FxHashMap<u64, (Vec<String>, String, u32, Arc<Classified>)>,
    /// The classification of a hinted endpoint, by its number.
    hinted: FxHashMap<u64, Arc<Classified>>,
}

/// Workload identity last seen per pod address, to repair proxy flows.
#[derive(Default)]
pub(super) struct PodAddresses {
    pod_ips: FxHashMap<IpAddr, Arc<Classified>>,
}

impl Endpoints {
    /// Classifies an endpoint, caching by identity and labels so the labels of
    /// a busy identity are parsed once. Pods the L7 proxy reported as world
    /// (it names the pod but not its identity) get the identity last seen for
    /// their address.
    pub(super) fn endpoint(
        &mut self,
        ep: Option<&flow::Endpoint>,
        ip: Option<IpAddr>,
        number: Option<u64>,
        pods: &mut PodAddresses,
    ) -> Result<Arc<Classified>, SkipReason> {
        let Some(e) = ep else {
            return Ok(Arc::new(Classified::new(EndpointKind::Unknown)));
        };
        let kind = match number {
            Some(n) => match self.hinted.get(&n) {
                Some(kind) => kind.clone(),
                None => {
                    let kind = self.classify_cached(e);
                    if self.hinted.len() >= MAX_HINTED {
                        self.hinted.clear();
                    }
                    self.hinted.insert(n, kind.clone());
                    kind
                }
            },
            None => self.classify_cached(e),
        };
        match (&kind.kind, ip) {
            (EndpointKind::Workload(_), Some(ip)) => {
                if pods.pod_ips.get(&ip).is_none_or(|k| !Arc::ptr_eq(k, &kind)) {
                    pods.pod_ips.insert(ip, kind.clone());
                }
                Ok(kind)
            }
            (EndpointKind::World, _) if !e.pod_name.is_empty() => ip
                .and_then(|ip| pods.pod_ips.get(&ip).cloned())
                .ok_or(SkipReason::UnresolvedPod),
            _ => Ok(kind),
        }
    }

    fn classify_cached(&mut self, e: &flow::Endpoint) -> Arc<Classified> {
        // The key hashes a few labels, not all (hashing them all was a
        // third of this thread's time); the comparison below decides.
        let mut h = rustc_hash::FxHasher::default();
        e.identity.hash(&mut h);
        e.namespace.hash(&mut h);
        e.labels.len().hash(&mut h);
        e.labels.first().hash(&mut h);
        e.labels.last().hash(&mut h);
        let key = h.finish();
        if let Some((labels, ns, id, kind)) = self.by_labels.get(&key) {
            if *labels == e.labels && *ns == e.namespace && *id == e.identity {
                return kind.clone();
            }
        }
        let kind = Arc::new(Classified::new(peer::classify_endpoint(Some(e))));
        self.by_labels.insert(
            key,
            (
                e.labels.clone(),
                e.namespace.clone(),
                e.identity,
                kind.clone(),
            ),
        );
        kind
    }
}

impl PodAddresses {
    /// The workload last seen per pod address, sorted by address: the part
    /// of the cache that changes what later flows mean (the rest is
    /// recomputed from each flow).
    pub(super) fn export(&self) -> Vec<PodEntry> {
        let mut v: Vec<PodEntry> = self
            .pod_ips
            .iter()
            .filter_map(|(ip, c)| match &c.kind {
                EndpointKind::Workload(w) => Some(PodEntry {
                    address: *ip,
                    workload: w.clone(),
                }),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    /// A cache knowing stored pod addresses.
    pub(super) fn import(pods: &[PodEntry]) -> PodAddresses {
        let mut e = PodAddresses::default();
        for p in pods {
            e.pod_ips.insert(
                p.address,
                Arc::new(Classified::new(EndpointKind::Workload(p.workload.clone()))),
            );
        }
        e
    }
}
