//! The fast path's field walkers: the wrapper, the flow and its small
//! messages (`IP`, `l4`, `event_type`, `ethernet`), each mirroring the
//! generated proto3 JSON mapping (names, value types, one occurrence of
//! each field), and the endpoint values, stepped over when remembered
//! ([`super::KnownEndpoints`]). The caches and the copies live in
//! [`super`].

use serde::de::value::{BorrowedStrDeserializer, Error as ValueError, U64Deserializer};
use serde::Deserialize;

use super::{EndpointText, KnownEndpoints};
use crate::proto::flow;
use crate::source::scan::Scanner;

/// The wrapper of a line: only `flow` responses are taken.
pub(super) struct Response<'a> {
    pub(super) node_name: Option<&'a str>,
    pub(super) time: Option<pbjson_types::Timestamp>,
    pub(super) flow: Option<Parts<'a>>,
}

/// A flow without its endpoints, which are kept as text for the cache.
pub(super) struct Parts<'a> {
    pub(super) flow: Box<flow::Flow>,
    pub(super) source: Option<EndpointText<'a>>,
    pub(super) destination: Option<EndpointText<'a>>,
    /// A `node_labels` text scanned (not recognised), to remember.
    pub(super) node_labels: Option<&'a str>,
    /// The text of the flow's `time`.
    pub(super) time_text: Option<&'a str>,
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

pub(super) fn response<'a>(
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
