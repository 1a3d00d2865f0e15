//! Decoding the flow stream with each endpoint looked up by its bytes.
//!
//! A cluster's flows come from a few hundred endpoints, and an endpoint
//! (identity, namespace, pod, a dozen labels) is most of a flow message.
//! [`EndpointCache`] keeps each distinct `source`/`destination` encoding
//! with its decoded [`flow::Endpoint`] and the door check's answer for it
//! ([`validate::check_endpoint`], per side: the side names the rejected
//! field), so a repeated endpoint is recognised with a hash and one byte
//! comparison instead of being decoded and checked again. The copy a flow
//! gets is a spare when there is one: the sink hands each flow's endpoints
//! back through a [`Recycler`] once it is done with them, tagged with the
//! cache entry they came from ([`EndpointId`]), and they serve the next
//! flows of the same endpoint without allocating. (Cloning instead measured
//! no faster than decoding: it allocates the same strings.)
//!
//! With `slim`, the fields nothing after the door reads (`uuid`,
//! `ethernet`, `node_labels`, `Summary`: those the dump's fast path drops)
//! are left out: for `observe` without `--record`, which writes them out.
//!
//! Only the common shape takes this path: a response holding one flow
//! (field one) and its envelope, each endpoint present at most once.
//! Anything else (node status, lost events, a repeated field, any decoding
//! error) is decoded by prost's generated code alone, which also words every
//! error, so the outcome is always exactly prost's.

use std::sync::{Arc, Mutex};

use prost::bytes::Buf;
use prost::encoding::{decode_key, decode_varint, DecodeContext, WireType};
use prost::Message;
use rustc_hash::FxHashMap;

use super::fingerprint::Fingerprint;
use crate::proto::flow;
use crate::proto::observer::get_flows_response::ResponseTypes;
use crate::proto::observer::GetFlowsResponse;
use crate::source::event::EndpointHint;
use crate::source::validate::{self, Rejection};

/// Distinct endpoint encodings remembered; emptied when full.
const MAX_ENDPOINTS: usize = 4096;

/// `GetFlowsResponse.flow`, `Flow.source`, `Flow.destination`.
const RESPONSE_FLOW: u32 = 1;
const FLOW_SOURCE: u32 = 8;
const FLOW_DESTINATION: u32 = 9;

/// `Flow` string fields skipped when slim (their UTF-8 still checked, as
/// prost would): `uuid`, `node_labels`, `Summary`.
const UNUSED_STRINGS: [u32; 3] = [34, 37, 100_000];

/// The door check of a flow's endpoints, done when they were decoded:
/// `[source, destination]`, `None` where the flow has no such endpoint.
pub type EndpointChecks = [Option<Result<(), Rejection>>; 2];

/// A response of the flow stream with its [`Fingerprint`].
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub response: GetFlowsResponse,
    pub fingerprint: Fingerprint,
    /// The door check of the flow's endpoints when the decoder did it
    /// ([`EndpointCache`]); None: not done yet.
    pub endpoint_checks: Option<EndpointChecks>,
    /// Where each endpoint copy came from, to give it back
    /// ([`Recycler`]).
    pub endpoint_ids: [Option<EndpointId>; 2],
}

impl Received {
    /// Decodes one message of the stream, fingerprinting its bytes.
    pub fn from_wire(bytes: &[u8]) -> Result<Received, prost::DecodeError> {
        Ok(Received {
            response: GetFlowsResponse::decode(bytes)?,
            fingerprint: Fingerprint::of_wire(bytes),
            endpoint_checks: None,
            endpoint_ids: [None, None],
        })
    }

    /// A response built in memory, fingerprinted as this build encodes it.
    pub fn new(response: GetFlowsResponse) -> Received {
        Received {
            fingerprint: Fingerprint::of(&response),
            response,
            endpoint_checks: None,
            endpoint_ids: [None, None],
        }
    }
}

/// Spare copies kept per endpoint, and endpoints on their way back.
const MAX_SPARES: usize = 16;
const MAX_RETURNED: usize = 4096;

/// Which cache entry a flow's endpoint copy came from: its key and the
/// number of the entry, unique in the process (a replaced or evicted entry
/// never takes back copies of its predecessor; interpretation takes the
/// number as an [`EndpointHint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointId {
    key: u64,
    serial: u64,
}

/// One remembered endpoint encoding: decoded, checked per side, and spare
/// copies of it.
struct Entry {
    bytes: Box<[u8]>,
    serial: u64,
    endpoint: flow::Endpoint,
    checks: [Option<Result<(), Rejection>>; 2],
    spares: Vec<flow::Endpoint>,
}

/// Endpoints handed back by the sink, for the stream decoder to reuse.
#[derive(Debug, Clone, Default)]
pub struct Recycler(Arc<Mutex<Vec<(flow::Endpoint, EndpointId)>>>);

impl EndpointId {
    /// The flow's endpoints' numbers, for interpretation.
    pub fn hint(ids: [Option<EndpointId>; 2]) -> EndpointHint {
        EndpointHint(ids.map(|id| id.map(|id| id.serial)))
    }
}

impl PartialEq for Recycler {
    /// The same recycler, shared.
    fn eq(&self, other: &Recycler) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Recycler {
    /// Takes the endpoints out of a flow the sink is done with (`ids` from
    /// its [`Received`]); the rest of the flow is the caller's to drop.
    pub fn give_back(&self, f: &mut flow::Flow, ids: [Option<EndpointId>; 2]) {
        let Ok(mut returned) = self.0.lock() else {
            return;
        };
        for (ep, id) in [(f.source.take(), ids[0]), (f.destination.take(), ids[1])] {
            if let (Some(ep), Some(id)) = (ep, id) {
                if returned.len() < MAX_RETURNED {
                    returned.push((ep, id));
                }
            }
        }
    }
}

/// Endpoints of the stream, by their encoding.
#[derive(Default)]
pub struct EndpointCache {
    seen: FxHashMap<u64, Entry>,
    /// Skip the [`UNUSED_STRINGS`] (and `ethernet`).
    slim: bool,
    recycler: Option<Recycler>,
    /// Endpoint copies that were spares (the rest were clones or decoded).
    spares_used: u64,
}

impl EndpointCache {
    /// How many flows' endpoints were spares given back.
    pub fn spares_used(&self) -> u64 {
        self.spares_used
    }

    /// `slim`: skip the fields nothing after the door reads.
    pub fn new(slim: bool) -> EndpointCache {
        EndpointCache {
            slim,
            ..EndpointCache::default()
        }
    }

    /// Takes spare endpoint copies back from `recycler`.
    pub fn with_recycler(mut self, recycler: Option<Recycler>) -> EndpointCache {
        self.recycler = recycler;
        self
    }

    /// Files the copies the sink gave back under their entries.
    fn take_back(&mut self) {
        let Some(recycler) = &self.recycler else {
            return;
        };
        let Ok(mut returned) = recycler.0.try_lock() else {
            return;
        };
        for (ep, id) in returned.drain(..) {
            if let Some(e) = self.seen.get_mut(&id.key) {
                if e.serial == id.serial && e.spares.len() < MAX_SPARES {
                    debug_assert!(ep == e.endpoint, "a spare differs from its entry");
                    e.spares.push(ep);
                }
            }
        }
    }

    /// Decodes one message of the stream: the response, its fingerprint,
    /// and (on the common path) its endpoints' door checks.
    pub fn decode(&mut self, bytes: &[u8]) -> Result<Received, prost::DecodeError> {
        self.take_back();
        match self.decode_common(bytes) {
            Some((response, found)) => Ok(Received {
                response,
                fingerprint: Fingerprint::of_wire(bytes),
                endpoint_checks: Some(found.checks),
                endpoint_ids: found.ids,
            }),
            None => Received::from_wire(bytes),
        }
    }

    /// The common shape, or None to let prost decide.
    fn decode_common(&mut self, mut buf: &[u8]) -> Option<(GetFlowsResponse, Found)> {
        let mut resp = GetFlowsResponse::default();
        let mut found = None;
        while buf.has_remaining() {
            let (tag, wire_type) = decode_key(&mut buf).ok()?;
            if tag == RESPONSE_FLOW && wire_type == WireType::LengthDelimited {
                let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
                if found.is_some() || len > buf.len() {
                    return None;
                }
                found = Some(self.flow(&buf[..len])?);
                buf.advance(len);
            } else if tag == 1000 || tag == 1001 {
                resp.merge_field(tag, wire_type, &mut buf, DecodeContext::default())
                    .ok()?;
            } else {
                return None;
            }
        }
        let (flow, endpoints) = found?;
        resp.response_types = Some(ResponseTypes::Flow(flow));
        Some((resp, endpoints))
    }

    fn flow(&mut self, mut buf: &[u8]) -> Option<(flow::Flow, Found)> {
        let mut f = flow::Flow::default();
        let mut found = Found::default();
        while buf.has_remaining() {
            let (tag, wire_type) = decode_key(&mut buf).ok()?;
            let side = match tag {
                FLOW_SOURCE => 0,
                FLOW_DESTINATION => 1,
                _ if self.slim && UNUSED_STRINGS.contains(&tag) => {
                    if wire_type != WireType::LengthDelimited {
                        return None;
                    }
                    let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
                    std::str::from_utf8(buf.get(..len)?).ok()?;
                    buf.advance(len);
                    continue;
                }
                _ => {
                    f.merge_field(tag, wire_type, &mut buf, DecodeContext::default())
                        .ok()?;
                    continue;
                }
            };
            let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
            if wire_type != WireType::LengthDelimited
                || found.checks[side].is_some()
                || len > buf.len()
            {
                return None;
            }
            let (endpoint, check, id) = self.endpoint(side, &buf[..len])?;
            buf.advance(len);
            found.checks[side] = Some(check);
            found.ids[side] = Some(id);
            if side == 0 {
                f.source = Some(endpoint);
            } else {
                f.destination = Some(endpoint);
            }
        }
        if self.slim {
            // Decoded (so an invalid one fails as in prost), not kept.
            f.ethernet = None;
        }
        Some((f, found))
    }

    /// The endpoint encoded as `bytes` (a spare copy, a clone, or decoded
    /// when new), its check and where it came from.
    fn endpoint(
        &mut self,
        side: usize,
        bytes: &[u8],
    ) -> Option<(flow::Endpoint, Result<(), Rejection>, EndpointId)> {
        let key = xxhash_rust::xxh3::xxh3_64(bytes);
        let (entry, copy) = match self.seen.get_mut(&key) {
            Some(e) if *e.bytes == *bytes => {
                let copy = match e.spares.pop() {
                    Some(spare) => {
                        self.spares_used += 1;
                        spare
                    }
                    None => e.endpoint.clone(),
                };
                (e, copy)
            }
            _ => {
                let endpoint = flow::Endpoint::decode(bytes).ok()?;
                if self.seen.len() >= MAX_ENDPOINTS {
                    self.seen.clear();
                }
                let entry = Entry {
                    bytes: bytes.into(),
                    serial: EndpointHint::fresh_number(),
                    endpoint: endpoint.clone(),
                    checks: [None, None],
                    spares: Vec::new(),
                };
                (
                    self.seen.entry(key).insert_entry(entry).into_mut(),
                    endpoint,
                )
            }
        };
        let name = if side == 0 { "source" } else { "destination" };
        let check = entry.checks[side]
            .get_or_insert_with(|| validate::check_endpoint(name, &entry.endpoint))
            .clone();
        let id = EndpointId {
            key,
            serial: entry.serial,
        };
        Some((copy, check, id))
    }
}

/// What the common path learned of a flow's endpoints.
#[derive(Default)]
struct Found {
    checks: EndpointChecks,
    ids: [Option<EndpointId>; 2],
}
