//! The fast path of dump decoding: a `{"flow":{…},…}` line walked by a
//! strict zero-copy scanner ([`super::scan`]) that mirrors the generated
//! proto3 JSON mapping (pbjson) field by field — same names (proto and
//! lowerCamel), same value types, duplicates refused, unknown fields
//! skipped — without building what nothing downstream reads. `IP`, `l4`
//! and `event_type` are walked here too; rarer messages (`l7`, services,
//! policies) are decoded from their own text by their generated code, and
//! enums and timestamps go through their generated code. Each endpoint
//! (`source`, `destination`: most of a line) is decoded and validated once
//! per distinct text, then reused; where a line repeats a remembered text
//! byte for byte it is stepped over unscanned, and the flow carries the
//! text's number ([`crate::source::event::EndpointHint`]) so interpretation
//! need not compare its labels again either. A node's `node_labels` text
//! is stepped over the same way.
//!
//! What differs from the full decoder, by design: `uuid`, `ethernet`,
//! `node_labels` and `Summary` are checked (a wrong type is still an error)
//! but left empty in the flow; nothing reads them. Everything else is decoded as the full
//! decoder does (for nested messages, with the very same generated code).
//!
//! Anything this path does not handle — another response kind, `null`
//! values, escaped strings, numbers written as strings, any error at all —
//! is declined (`None`), and the caller decodes the
//! line with the full decoder, which then decides (and words) the outcome, so
//! the fast path can only ever agree or step aside. `tests/fast_decode.rs`
//! checks that on every real dump, the demo fixture and damaged lines.

use std::hash::Hasher;

use rustc_hash::{FxHashMap, FxHasher};

use super::scan::{self, Scanner};
use crate::proto::flow;
use crate::source::validate::{self, Rejection};

mod fields;
use fields::{response, Parts, Response};

/// Distinct endpoint texts kept per decoding thread; the cache is emptied
/// when full (a cluster's busy endpoints come back at once).
const MAX_ENDPOINTS: usize = 2048;

/// Spare copies kept per distinct endpoint, and in all (per thread): a
/// few batches of flows (hundreds) are in flight per thread, and a busy
/// endpoint may be in most of them; fewer (32 and 1 024) ran dry and cost
/// a clone and a free per flow. Memory stays bounded whatever the cluster
/// (≈ 1 KB a spare); 4 096 in all (was 8 192) keeps `recommend`'s peak
/// under 64 MiB on the 432 MB benchmark dump at the same CPU.
const MAX_SPARES: usize = 256;
const MAX_ALL_SPARES: usize = 4096;
/// Spent flows kept per thread for their allocations (box, strings).
const MAX_SPARE_FLOWS: usize = 512;

/// Endpoint texts at least this long are found by their first bytes
/// ([`KnownEndpoints`]).
const PREFIX: usize = 48;

/// One distinct endpoint text: decoded, its check per side (the side is
/// part of a rejection's field name), computed when first needed, a number
/// naming it for as long as it is remembered, and spare copies of it taken
/// back from flows the pipeline is done with.
struct Interned {
    text: Box<[u8]>,
    endpoint: flow::Endpoint,
    checked: [Option<Result<(), Rejection>>; 2],
    id: u64,
    spares: Vec<flow::Endpoint>,
}

/// Where a line's endpoint is remembered: its text's hash and its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    hash: u64,
    id: u64,
}

/// Per-thread state of the fast path: the endpoint cache, and spare copies
/// of each endpoint taken back from flows the pipeline is done with, so a
/// busy endpoint is not cloned (a dozen allocations) for every flow.
#[derive(Default)]
pub struct FastDecoder {
    /// By the hash of the text (computed once per endpoint and line); the
    /// text itself is compared, and another text with the same hash
    /// replaces the entry.
    endpoints: FxHashMap<u64, Interned>,
    /// Spares held, all endpoints together.
    spare_count: usize,
    /// Spent flows, emptied, whose box and strings the next lines reuse.
    // The boxes are the point: each goes back out as a `SourceEvent::Flow`.
    #[allow(clippy::vec_box)]
    spare_flows: Vec<Box<flow::Flow>>,
    /// The hash (key of `endpoints`) of a remembered text by the hash of
    /// its first [`PREFIX`] bytes.
    by_prefix: FxHashMap<u64, u64>,
    /// The last `node_labels` text accepted, per node name: a node's labels
    /// come back on every flow it reports, and are checked, not kept.
    node_labels: FxHashMap<Box<str>, Box<str>>,
}

/// Nodes whose `node_labels` text is remembered; emptied when full.
const MAX_NODES: usize = 1024;

/// Remembered endpoint texts, found where a line's `source` or
/// `destination` value starts: when the line continues with the very bytes
/// of a remembered text, that text is the whole value (a JSON value ends
/// where its own bytes say), so it is stepped over — no scanning, hashing
/// or second comparison of the most of a line.
struct KnownEndpoints<'d> {
    endpoints: &'d FxHashMap<u64, Interned>,
    by_prefix: &'d FxHashMap<u64, u64>,
    node_labels: &'d FxHashMap<Box<str>, Box<str>>,
}

impl KnownEndpoints<'_> {
    /// The remembered text `rest` starts with: its length and entry.
    // Called from the field walkers (another module): kept inlinable.
    #[inline]
    fn at_start_of(&self, rest: &str) -> Option<(usize, Slot)> {
        let prefix = rest.as_bytes().get(..PREFIX)?;
        let hash = *self.by_prefix.get(&prefix_hash(prefix))?;
        let known = self.endpoints.get(&hash)?;
        let slot = Slot { hash, id: known.id };
        rest.as_bytes()
            .starts_with(&known.text)
            .then_some((known.text.len(), slot))
    }
}

#[inline]
fn prefix_hash(prefix: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(prefix);
    h.finish()
}

/// A `source` or `destination` value: its text, and its entry in the
/// cache when it was recognised as a remembered one.
#[derive(Clone, Copy)]
struct EndpointText<'a> {
    raw: &'a str,
    known: Option<Slot>,
}

/// A flow decoded by the fast path, with the result of its door check.
pub struct FastFlow {
    pub flow: Box<flow::Flow>,
    pub check: Result<(), Rejection>,
    /// Which remembered endpoints its source and destination are copies of.
    pub endpoints: EndpointIds,
}

/// See [`FastFlow::endpoints`] and [`FastDecoder::recycle`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointIds([Option<Slot>; 2]);

impl EndpointIds {
    /// For interpretation: the same numbers name the same endpoint text.
    pub fn hint(self) -> crate::source::event::EndpointHint {
        crate::source::event::EndpointHint(self.0.map(|s| s.map(|s| s.id)))
    }
}

impl FastDecoder {
    /// Decodes a trimmed line that starts with `{`; `None` declines it.
    pub fn decode(&mut self, line: &[u8]) -> Option<FastFlow> {
        let mut scan = Scanner::new(scan::scannable(line)?);
        let Response {
            node_name,
            time,
            flow: Some(parts),
        } = response(
            &mut scan,
            self.spare_flows.pop(),
            &KnownEndpoints {
                endpoints: &self.endpoints,
                by_prefix: &self.by_prefix,
                node_labels: &self.node_labels,
            },
        )?
        else {
            return None;
        };
        if !scan.at_end() {
            return None;
        }
        let Parts {
            flow: mut f,
            source,
            destination,
            node_labels,
            time_text: _,
        } = parts;
        if let Some(text) = node_labels {
            if self.node_labels.len() >= MAX_NODES {
                self.node_labels.clear();
            }
            self.node_labels
                .insert(f.node_name.as_str().into(), text.into());
        }
        let (src, dst, src_check, dst_check);
        (f.source, src, src_check) = self.endpoint_copy(source, 0)?;
        (f.destination, dst, dst_check) = self.endpoint_copy(destination, 1)?;
        let (slots, checks) = ([src, dst], [src_check, dst_check]);
        // As `SourceEvent::from_response`: the wrapper's node and time fill in.
        if f.node_name.is_empty() {
            if let Some(n) = node_name {
                f.node_name.push_str(n);
            }
        }
        if f.time.is_none() {
            f.time = time;
        }
        // Each present endpoint's check was taken with its copy.
        let check = validate::check_flow_with(&f, &mut |side, ep| {
            let i = usize::from(side != "source");
            checks[i]
                .clone()
                .unwrap_or_else(|| validate::check_endpoint(side, ep))
        });
        Some(FastFlow {
            flow: f,
            check,
            endpoints: EndpointIds(slots),
        })
    }

    /// A copy of the decoded endpoint of a text (a spare one when there is
    /// one), where it is remembered, and its check as the endpoint of side
    /// `i` (0 source, 1 destination); `None` when it does not decode.
    #[allow(clippy::type_complexity)]
    fn endpoint_copy(
        &mut self,
        text: Option<EndpointText<'_>>,
        i: usize,
    ) -> Option<(
        Option<flow::Endpoint>,
        Option<Slot>,
        Option<Result<(), Rejection>>,
    )> {
        let Some(text) = text else {
            return Some((None, None, None));
        };
        // A known text's entry may be gone since the line was scanned (the
        // line's other endpoint, remembered first, emptied the cache or took
        // its hash): entry numbers are never reused, so the same number is
        // the same entry, the same text.
        let slot = match text.known {
            Some(slot)
                if self
                    .endpoints
                    .get(&slot.hash)
                    .is_some_and(|e| e.id == slot.id) =>
            {
                slot
            }
            _ => self.remember(text.raw)?,
        };
        let e = self.endpoints.get_mut(&slot.hash)?;
        let side = if i == 0 { "source" } else { "destination" };
        let check = e.checked[i]
            .get_or_insert_with(|| validate::check_endpoint(side, &e.endpoint))
            .clone();
        let copy = match e.spares.pop() {
            Some(spare) => {
                self.spare_count -= 1;
                spare
            }
            None => e.endpoint.clone(),
        };
        Some((Some(copy), Some(slot), Some(check)))
    }

    /// Takes back a flow the pipeline is done with (on the thread that
    /// decoded it): its endpoints as spares for the next flows of the same
    /// endpoints (they are unchanged copies: the pipeline only ever borrows
    /// a flow), the rest for its allocations.
    pub fn recycle(&mut self, mut flow: Box<flow::Flow>, ids: EndpointIds) {
        for (copy, slot) in [
            (&mut flow.source, ids.0[0]),
            (&mut flow.destination, ids.0[1]),
        ] {
            let (Some(slot), Some(_)) = (slot, copy.as_ref()) else {
                continue;
            };
            // Only into the entry it was copied from (numbers are never
            // reused: a replaced or emptied entry takes nothing back).
            let Some(e) = self.endpoints.get_mut(&slot.hash) else {
                continue;
            };
            if e.id == slot.id && e.spares.len() < MAX_SPARES && self.spare_count < MAX_ALL_SPARES {
                e.spares.extend(copy.take());
                self.spare_count += 1;
            }
        }
        if self.spare_flows.len() < MAX_SPARE_FLOWS {
            self.spare_flows.push(flow);
        }
    }

    /// Remembers the endpoint of a text, decoding it when new.
    fn remember(&mut self, raw: &str) -> Option<Slot> {
        let mut h = FxHasher::default();
        h.write(raw.as_bytes());
        let hash = h.finish();
        if let Some(known) = self.endpoints.get(&hash) {
            if *known.text == *raw.as_bytes() {
                return Some(Slot { hash, id: known.id });
            }
        }
        let endpoint: flow::Endpoint = serde_json::from_str(raw).ok()?;
        if self.endpoints.len() >= MAX_ENDPOINTS {
            self.endpoints.clear();
            self.by_prefix.clear();
            self.spare_count = 0;
        }
        // Numbers are never reused: a flow decoded before a clear cannot
        // give its endpoints to a newer entry.
        // Unique across threads too: they are interpretation's hints.
        let id = crate::source::event::EndpointHint::fresh_number();
        let entry = Interned {
            text: raw.as_bytes().into(),
            endpoint,
            checked: [None, None],
            id,
            spares: Vec::new(),
        };
        if let Some(replaced) = self.endpoints.insert(hash, entry) {
            self.spare_count -= replaced.spares.len();
        }
        if let Some(prefix) = raw.as_bytes().get(..PREFIX) {
            // The newest text with these first bytes is the one looked for.
            self.by_prefix.insert(prefix_hash(prefix), hash);
        }
        Some(Slot { hash, id })
    }
}
