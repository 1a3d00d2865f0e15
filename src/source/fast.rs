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
//! text's number ([`crate::interpret::EndpointHint`]) so interpretation
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
use serde::de::value::{BorrowedStrDeserializer, Error as ValueError, U64Deserializer};
use serde::Deserialize;

use super::scan::{self, Scanner};
use crate::interpret::validate::{self, Rejection};
use crate::proto::flow;

/// Distinct endpoint texts kept per decoding thread; the cache is emptied
/// when full (a cluster's busy endpoints come back at once).
const MAX_ENDPOINTS: usize = 2048;

/// Spare copies kept per distinct endpoint, and in all (per thread): a
/// few batches of flows (hundreds) are in flight per thread, and a busy
/// endpoint may be in most of them; fewer (32 and 1 024) ran dry and cost
/// a clone and a free per flow. Memory stays bounded whatever the cluster
/// (≈ 1 KB a spare).
const MAX_SPARES: usize = 256;
const MAX_ALL_SPARES: usize = 8192;
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
    pub fn hint(self) -> crate::interpret::EndpointHint {
        crate::interpret::EndpointHint(self.0.map(|s| s.map(|s| s.id)))
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
        let id = crate::interpret::EndpointHint::fresh_number();
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

/// The wrapper of a line: only `flow` responses are taken.
struct Response<'a> {
    node_name: Option<&'a str>,
    time: Option<pbjson_types::Timestamp>,
    flow: Option<Parts<'a>>,
}

/// A flow without its endpoints, which are kept as text for the cache.
struct Parts<'a> {
    flow: Box<flow::Flow>,
    source: Option<EndpointText<'a>>,
    destination: Option<EndpointText<'a>>,
    /// A `node_labels` text scanned (not recognised), to remember.
    node_labels: Option<&'a str>,
    /// The text of the flow's `time`.
    time_text: Option<&'a str>,
}

/// Each field once, as the generated code requires (`null`, which the
/// generated code lets a later duplicate overwrite, declines here).
#[derive(Default)]
struct Given(u64);

impl Given {
    fn once(&mut self, bit: u32) -> Option<()> {
        if self.0 & (1 << bit) != 0 {
            return None;
        }
        self.0 |= 1 << bit;
        Some(())
    }
}

fn response<'a>(
    scan: &mut Scanner<'a>,
    spare: Option<Box<flow::Flow>>,
    known: &KnownEndpoints<'_>,
) -> Option<Response<'a>> {
    let mut spare = Some(spare);
    let mut r = Response {
        node_name: None,
        time: None,
        flow: None,
    };
    let mut given = Given::default();
    scan.object(|scan, key| {
        match key {
            "node_name" | "nodeName" => {
                given.once(0)?;
                r.node_name = Some(scan.string()?);
            }
            "time" => {
                given.once(1)?;
                let text = scan.string()?;
                // Agents repeat the flow's time here: the same text, the
                // same (already parsed) value.
                r.time = Some(match &r.flow {
                    Some(p) if p.time_text == Some(text) => p.flow.time?,
                    _ => timestamp_of(text)?,
                });
            }
            "flow" => {
                given.once(2)?;
                r.flow = Some(flow(scan, spare.take().flatten(), known)?);
            }
            // Other responses are left to the full decoder.
            "node_status" | "nodeStatus" | "lost_events" | "lostEvents" => return None,
            _ => scan.skip()?,
        }
        Some(())
    })?;
    Some(r)
}

/// A message field decoded by its generated code, from its own text.
fn message<'a, T: Deserialize<'a>>(scan: &mut Scanner<'a>) -> Option<Option<T>> {
    if scan.null() {
        return None;
    }
    serde_json::from_str(scan.raw()?).ok().map(Some)
}

fn timestamp_of(text: &str) -> Option<pbjson_types::Timestamp> {
    pbjson_types::Timestamp::deserialize(BorrowedStrDeserializer::<ValueError>::new(text)).ok()
}

/// An enum, by name or number, through its generated code.
fn enumeration<'a, T: Deserialize<'a>>(scan: &mut Scanner<'a>) -> Option<T> {
    if scan.next_is(b'"') {
        T::deserialize(BorrowedStrDeserializer::<ValueError>::new(scan.string()?)).ok()
    } else {
        T::deserialize(U64Deserializer::<ValueError>::new(scan.unsigned()?)).ok()
    }
}

fn u32_of(scan: &mut Scanner<'_>) -> Option<u32> {
    u32::try_from(scan.unsigned()?).ok()
}

/// `{"source": "…", "destination": "…"}`, checked (nobody reads the MACs).
fn ethernet(scan: &mut Scanner<'_>) -> Option<()> {
    let mut given = Given::default();
    scan.object(|scan, key| {
        match key {
            "source" => given.once(0)?,
            "destination" => given.once(1)?,
            _ => return scan.skip(),
        }
        scan.string().map(drop)
    })
}

/// A `uint32` written as a plain integer.
fn port(scan: &mut Scanner<'_>, given: &mut Given, bit: u32) -> Option<u32> {
    given.once(bit)?;
    u32_of(scan)
}

/// `l4`: one of TCP, UDP, SCTP, ICMPv4, ICMPv6 (two of them are a duplicate
/// of the oneof, as in the generated code).
fn layer4(scan: &mut Scanner<'_>) -> Option<flow::Layer4> {
    use flow::layer4::Protocol;
    let mut protocol = None;
    scan.object(|scan, key| {
        let ports = |scan: &mut Scanner<'_>, tcp: bool| {
            let (mut src, mut dst, mut flags) = (0, 0, None);
            let mut given = Given::default();
            scan.object(|scan, key| {
                match key {
                    "source_port" | "sourcePort" => src = port(scan, &mut given, 0)?,
                    "destination_port" | "destinationPort" => dst = port(scan, &mut given, 1)?,
                    "flags" if tcp => {
                        given.once(2)?;
                        flags = Some(tcp_flags(scan)?);
                    }
                    _ => scan.skip()?,
                }
                Some(())
            })?;
            Some((src, dst, flags))
        };
        let icmp = |scan: &mut Scanner<'_>| {
            let (mut ty, mut code) = (0, 0);
            let mut given = Given::default();
            scan.object(|scan, key| {
                match key {
                    "type" => ty = port(scan, &mut given, 0)?,
                    "code" => code = port(scan, &mut given, 1)?,
                    _ => scan.skip()?,
                }
                Some(())
            })?;
            Some((ty, code))
        };
        let p = match key {
            "TCP" => {
                let (source_port, destination_port, flags) = ports(scan, true)?;
                Protocol::Tcp(flow::Tcp {
                    source_port,
                    destination_port,
                    flags,
                })
            }
            "UDP" => {
                let (source_port, destination_port, _) = ports(scan, false)?;
                Protocol::Udp(flow::Udp {
                    source_port,
                    destination_port,
                })
            }
            "SCTP" => {
                let (source_port, destination_port, _) = ports(scan, false)?;
                Protocol::Sctp(flow::Sctp {
                    source_port,
                    destination_port,
                })
            }
            "ICMPv4" => {
                let (r#type, code) = icmp(scan)?;
                Protocol::IcmPv4(flow::IcmPv4 { r#type, code })
            }
            "ICMPv6" => {
                let (r#type, code) = icmp(scan)?;
                Protocol::IcmPv6(flow::IcmPv6 { r#type, code })
            }
            _ => return scan.skip(),
        };
        if protocol.replace(p).is_some() {
            return None;
        }
        Some(())
    })?;
    Some(flow::Layer4 { protocol })
}

fn tcp_flags(scan: &mut Scanner<'_>) -> Option<flow::TcpFlags> {
    let mut f = flow::TcpFlags::default();
    let mut given = Given::default();
    scan.object(|scan, key| {
        let (bit, slot) = match key {
            "FIN" => (0, &mut f.fin),
            "SYN" => (1, &mut f.syn),
            "RST" => (2, &mut f.rst),
            "PSH" => (3, &mut f.psh),
            "ACK" => (4, &mut f.ack),
            "URG" => (5, &mut f.urg),
            "ECE" => (6, &mut f.ece),
            "CWR" => (7, &mut f.cwr),
            "NS" => (8, &mut f.ns),
            _ => return scan.skip(),
        };
        given.once(bit)?;
        *slot = scan.bool()?;
        Some(())
    })?;
    Some(f)
}

/// `IP`, into `spare`'s strings when there is one.
fn ip(scan: &mut Scanner<'_>, spare: Option<flow::Ip>) -> Option<flow::Ip> {
    let mut ip = spare.map_or_else(flow::Ip::default, |mut ip| {
        ip.source.clear();
        ip.source_xlated.clear();
        ip.destination.clear();
        ip.ip_version = 0;
        ip.encrypted = false;
        ip
    });
    let mut given = Given::default();
    scan.object(|scan, key| {
        match key {
            "source" => {
                given.once(0)?;
                ip.source.push_str(scan.string()?);
            }
            "source_xlated" | "sourceXlated" => {
                given.once(1)?;
                ip.source_xlated.push_str(scan.string()?);
            }
            "destination" => {
                given.once(2)?;
                ip.destination.push_str(scan.string()?);
            }
            "ipVersion" => {
                given.once(3)?;
                ip.ip_version = enumeration::<flow::IpVersion>(scan)? as i32;
            }
            "encrypted" => {
                given.once(4)?;
                ip.encrypted = scan.bool()?;
            }
            _ => scan.skip()?,
        }
        Some(())
    })?;
    Some(ip)
}

fn event_type(scan: &mut Scanner<'_>) -> Option<flow::CiliumEventType> {
    let mut e = flow::CiliumEventType::default();
    let mut given = Given::default();
    let int = |scan: &mut Scanner<'_>| i32::try_from(scan.unsigned()?).ok();
    scan.object(|scan, key| {
        match key {
            "type" => {
                given.once(0)?;
                e.r#type = int(scan)?;
            }
            "sub_type" | "subType" => {
                given.once(1)?;
                e.sub_type = int(scan)?;
            }
            _ => scan.skip()?,
        }
        Some(())
    })?;
    Some(e)
}

/// A `source` or `destination` value (None for `null`): stepped over when
/// it is a remembered text, else scanned.
fn endpoint_text<'a>(
    scan: &mut Scanner<'a>,
    known: &KnownEndpoints<'_>,
) -> Option<Option<EndpointText<'a>>> {
    let rest = scan.rest();
    if let Some((len, slot)) = known.at_start_of(rest) {
        scan.step_over(len);
        return Some(Some(EndpointText {
            raw: &rest[..len],
            known: Some(slot),
        }));
    }
    let raw = scan.raw()?;
    Some((raw != "null").then_some(EndpointText { raw, known: None }))
}

/// The `flow` object, into a spent flow's allocations when there is one.
fn flow<'a>(
    scan: &mut Scanner<'a>,
    spare: Option<Box<flow::Flow>>,
    known: &KnownEndpoints<'_>,
) -> Option<Parts<'a>> {
    let (mut f, mut spare_ip) = match spare {
        Some(mut f) => {
            let (node, ip) = (std::mem::take(&mut f.node_name), f.ip.take());
            *f = flow::Flow::default();
            f.node_name = node;
            f.node_name.clear();
            (f, ip)
        }
        None => (Box::default(), None),
    };
    let (mut source, mut destination) = (None, None);
    let mut node_labels = None;
    let mut time_text = None;
    let mut given = Given::default();
    scan.object(|scan, key| {
        match key {
            "time" => {
                given.once(0)?;
                let text = scan.string()?;
                f.time = Some(timestamp_of(text)?);
                time_text = Some(text);
            }
            "uuid" => {
                given.once(1)?;
                scan.skip_string()?;
            }
            "verdict" => {
                given.once(2)?;
                f.verdict = enumeration::<flow::Verdict>(scan)? as i32;
            }
            "drop_reason" | "dropReason" => {
                given.once(3)?;
                f.drop_reason = u32_of(scan)?;
            }
            "ethernet" => {
                given.once(4)?;
                ethernet(scan)?;
            }
            "IP" => {
                given.once(5)?;
                f.ip = Some(ip(scan, spare_ip.take())?);
            }
            "l4" => {
                given.once(6)?;
                f.l4 = Some(layer4(scan)?);
            }
            "source" => {
                given.once(7)?;
                source = endpoint_text(scan, known)?;
            }
            "destination" => {
                given.once(8)?;
                destination = endpoint_text(scan, known)?;
            }
            "Type" => {
                given.once(9)?;
                f.r#type = enumeration::<flow::FlowType>(scan)? as i32;
            }
            "node_name" | "nodeName" => {
                given.once(10)?;
                f.node_name.push_str(scan.string()?);
            }
            "node_labels" | "nodeLabels" => {
                given.once(11)?;
                // The node's labels as last seen (the node name comes first
                // in agents' output): the same bytes, the same valid value.
                let rest = scan.rest();
                match known.node_labels.get(f.node_name.as_str()) {
                    Some(text) if rest.starts_with(&**text) => scan.step_over(text.len()),
                    _ => {
                        scan.skip_strings()?;
                        let text = &rest[..rest.len() - scan.rest().len()];
                        node_labels = (!f.node_name.is_empty()).then_some(text);
                    }
                }
            }
            "source_names" | "sourceNames" => {
                given.once(12)?;
                f.source_names = scan.strings()?;
            }
            "destination_names" | "destinationNames" => {
                given.once(13)?;
                f.destination_names = scan.strings()?;
            }
            "l7" => {
                given.once(14)?;
                f.l7 = message(scan)?;
            }
            "reply" => {
                given.once(15)?;
                f.reply = scan.bool()?;
            }
            "event_type" | "eventType" => {
                given.once(16)?;
                f.event_type = Some(event_type(scan)?);
            }
            "source_service" | "sourceService" => {
                given.once(17)?;
                f.source_service = message(scan)?;
            }
            "destination_service" | "destinationService" => {
                given.once(18)?;
                f.destination_service = message(scan)?;
            }
            "traffic_direction" | "trafficDirection" => {
                given.once(19)?;
                f.traffic_direction = enumeration::<flow::TrafficDirection>(scan)? as i32;
            }
            "policy_match_type" | "policyMatchType" => {
                given.once(20)?;
                f.policy_match_type = u32_of(scan)?;
            }
            "trace_observation_point" | "traceObservationPoint" => {
                given.once(21)?;
                f.trace_observation_point =
                    enumeration::<flow::TraceObservationPoint>(scan)? as i32;
            }
            "drop_reason_desc" | "dropReasonDesc" => {
                given.once(22)?;
                f.drop_reason_desc = enumeration::<flow::DropReason>(scan)? as i32;
            }
            "is_reply" | "isReply" => {
                given.once(23)?;
                f.is_reply = Some(pbjson_types::BoolValue {
                    value: scan.bool()?,
                });
            }
            "proxy_port" | "proxyPort" => {
                given.once(24)?;
                f.proxy_port = u32_of(scan)?;
            }
            "socket_cookie" | "socketCookie" => {
                given.once(25)?;
                f.socket_cookie = scan.unsigned()?;
            }
            "cgroup_id" | "cgroupId" => {
                given.once(26)?;
                f.cgroup_id = scan.unsigned()?;
            }
            "Summary" => {
                given.once(27)?;
                scan.skip_string()?;
            }
            "egress_allowed_by" | "egressAllowedBy" => {
                given.once(28)?;
                f.egress_allowed_by = serde_json::from_str(scan.raw()?).ok()?;
            }
            "ingress_allowed_by" | "ingressAllowedBy" => {
                given.once(29)?;
                f.ingress_allowed_by = serde_json::from_str(scan.raw()?).ok()?;
            }
            "egress_denied_by" | "egressDeniedBy" => {
                given.once(30)?;
                f.egress_denied_by = serde_json::from_str(scan.raw()?).ok()?;
            }
            "ingress_denied_by" | "ingressDeniedBy" => {
                given.once(31)?;
                f.ingress_denied_by = serde_json::from_str(scan.raw()?).ok()?;
            }
            _ => scan.skip()?,
        }
        Some(())
    })?;
    Some(Parts {
        flow: f,
        source,
        destination,
        node_labels,
        time_text,
    })
}
