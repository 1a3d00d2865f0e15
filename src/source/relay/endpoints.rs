//! Decoding the flow stream with each endpoint looked up by its bytes.
//!
//! A cluster's flows come from a few hundred endpoints, and an endpoint
//! (identity, namespace, pod, a dozen labels) is most of a flow message.
//! [`EndpointCache`] keeps each distinct `source`/`destination` encoding
//! with the door check's answer for it ([`validate::check_endpoint`], per
//! side: the side names the rejected field), so a repeated endpoint is
//! checked with a hash and one byte comparison instead of hashing and
//! comparing its decoded strings. (Keeping the decoded endpoint too and
//! cloning it measured no faster than decoding it again: the clone
//! allocates the same strings.)
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

use prost::bytes::Buf;
use prost::encoding::{decode_key, decode_varint, DecodeContext, WireType};
use prost::Message;
use rustc_hash::FxHashMap;

use super::resume::{Fingerprint, Received};
use crate::interpret::validate::{self, Rejection};
use crate::proto::flow;
use crate::proto::observer::get_flows_response::ResponseTypes;
use crate::proto::observer::GetFlowsResponse;

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

/// One remembered endpoint encoding and its checks, per side.
struct Entry {
    bytes: Box<[u8]>,
    checks: [Option<Result<(), Rejection>>; 2],
}

/// Endpoints of the stream, by their encoding.
#[derive(Default)]
pub struct EndpointCache {
    seen: FxHashMap<u64, Entry>,
    /// Skip the [`UNUSED`] fields.
    slim: bool,
}

impl EndpointCache {
    /// `slim`: skip the fields nothing after the door reads.
    pub fn new(slim: bool) -> EndpointCache {
        EndpointCache {
            seen: FxHashMap::default(),
            slim,
        }
    }

    /// Decodes one message of the stream: the response, its fingerprint,
    /// and (on the common path) its endpoints' door checks.
    pub fn decode(&mut self, bytes: &[u8]) -> Result<Received, prost::DecodeError> {
        match self.decode_common(bytes) {
            Some((response, checks)) => Ok(Received {
                response,
                fingerprint: Fingerprint::of_wire(bytes),
                endpoint_checks: Some(checks),
            }),
            None => Received::from_wire(bytes),
        }
    }

    /// The common shape, or None to let prost decide.
    fn decode_common(&mut self, mut buf: &[u8]) -> Option<(GetFlowsResponse, EndpointChecks)> {
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
        let (flow, checks) = found?;
        resp.response_types = Some(ResponseTypes::Flow(flow));
        Some((resp, checks))
    }

    fn flow(&mut self, mut buf: &[u8]) -> Option<(flow::Flow, EndpointChecks)> {
        let mut f = flow::Flow::default();
        let mut checks: EndpointChecks = [None, None];
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
            if wire_type != WireType::LengthDelimited || checks[side].is_some() || len > buf.len() {
                return None;
            }
            let (endpoint, check) = self.endpoint(side, &buf[..len])?;
            buf.advance(len);
            checks[side] = Some(check);
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
        Some((f, checks))
    }

    /// The endpoint encoded as `bytes`, and its check.
    fn endpoint(
        &mut self,
        side: usize,
        bytes: &[u8],
    ) -> Option<(flow::Endpoint, Result<(), Rejection>)> {
        let endpoint = flow::Endpoint::decode(bytes).ok()?;
        let key = xxhash_rust::xxh3::xxh3_64(bytes);
        let entry = match self.seen.get_mut(&key) {
            Some(e) if *e.bytes == *bytes => e,
            _ => {
                if self.seen.len() >= MAX_ENDPOINTS {
                    self.seen.clear();
                }
                let entry = Entry {
                    bytes: bytes.into(),
                    checks: [None, None],
                };
                self.seen.entry(key).insert_entry(entry).into_mut()
            }
        };
        let name = if side == 0 { "source" } else { "destination" };
        let check = entry.checks[side]
            .get_or_insert_with(|| validate::check_endpoint(name, &endpoint))
            .clone();
        Some((endpoint, check))
    }
}
