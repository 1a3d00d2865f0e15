//! Which end started the connection. Rules come only from the initiator's
//! side: a reply's destination port is an ephemeral port and must never
//! become a rule. When nothing below decides, the flow is *undecided*: it is
//! reported, and learned only when the user opts in (`--guess-direction`).
//!
//! Evidence, strongest first (docs/interpretation.md gives the Hubble fact
//! behind each):
//! 1. ICMP type: echo/timestamp requests start, their replies answer (mapped
//!    back to the request type); errors (unreachable, time exceeded, …) are
//!    *related* to another connection and never learned.
//! 2. What the agent said about the packet: `is_reply` (a BoolValue, absent
//!    when unknown), the deprecated `reply: true`, the L7 record type
//!    (REQUEST/RESPONSE), a policy-verdict event (emitted only for a
//!    connection's first packet) or a policy drop (the agent treats a dropped
//!    packet as an opener).
//! 3. TCP flags: SYN without ACK opens a connection, SYN+ACK answers it.
//! 4. The connection table (in `interpret`): a packet whose 5-tuple, or whose
//!    reverse 5-tuple, belongs to a connection decided earlier follows it.
//! 5. `traffic_direction` together with which side is the local endpoint:
//!    the agent writes EGRESS exactly when "the source is the local endpoint"
//!    differs from "the packet is a reply", so knowing the local side gives
//!    the reply flag back.
//! 6. Ports, only when exactly one side has a real service port: a port in
//!    1..32768 facing one in Linux's ephemeral range, or a real port facing
//!    an absent/zero one (a zero port is never a service port).

use serde::{Deserialize, Serialize};

use crate::proto::flow::{self, layer4::Protocol};

use crate::peer::l4::Proto;

/// First port of the Linux ephemeral range.
pub const EPHEMERAL_START: u32 = 32768;

/// How a flow relates to the connection it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// Source initiated: source → destination.
    Forward,
    /// A reply: destination initiated, so the rule is destination → source.
    Reverse,
    /// ICMP error about another connection: never a rule.
    Related,
}

/// What the orientation was decided from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    #[serde(rename = "icmp-type")]
    Icmp,
    #[serde(rename = "is_reply")]
    IsReply,
    LegacyReply,
    /// L7 record type, policy-verdict event or policy drop.
    EventKind,
    TcpFlags,
    ConnectionTable,
    TrafficDirection,
    Ports,
    /// No evidence; the lower port was taken as the server because the user
    /// passed `--guess-direction`.
    #[serde(rename = "port-guess")]
    Guess,
}

impl Basis {
    pub const ALL: [Basis; 9] = [
        Basis::Icmp,
        Basis::IsReply,
        Basis::LegacyReply,
        Basis::EventKind,
        Basis::TcpFlags,
        Basis::ConnectionTable,
        Basis::TrafficDirection,
        Basis::Ports,
        Basis::Guess,
    ];

    /// The name used in summaries, baselines and `explain`.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Icmp => "icmp-type",
            Basis::IsReply => "is_reply",
            Basis::LegacyReply => "legacy-reply",
            Basis::EventKind => "event-kind",
            Basis::TcpFlags => "tcp-flags",
            Basis::ConnectionTable => "connection-table",
            Basis::TrafficDirection => "traffic-direction",
            Basis::Ports => "ports",
            Basis::Guess => "port-guess",
        }
    }
}

impl std::fmt::Display for Basis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The L4 facts interpretation needs from a flow.
#[derive(Debug, Clone, Copy)]
pub struct L4 {
    pub proto: Proto,
    pub src_port: u16,
    pub dst_port: u16,
    pub syn: bool,
    pub ack: bool,
}

/// Extracts protocol and ports; `None` for flows without a supported L4.
/// A port that does not fit 16 bits is no port (0).
pub fn l4_of(f: &flow::Flow) -> Option<L4> {
    let proto = f.l4.as_ref()?.protocol.as_ref()?;
    let port = |p: u32| u16::try_from(p).unwrap_or(0);
    Some(match proto {
        Protocol::Tcp(t) => {
            let flags = t.flags.unwrap_or_default();
            L4 {
                proto: Proto::Tcp,
                src_port: port(t.source_port),
                dst_port: port(t.destination_port),
                syn: flags.syn,
                ack: flags.ack,
            }
        }
        Protocol::Udp(u) => plain(Proto::Udp, port(u.source_port), port(u.destination_port)),
        Protocol::Sctp(s) => plain(Proto::Sctp, port(s.source_port), port(s.destination_port)),
        Protocol::IcmPv4(i) => plain(Proto::Icmp4, 0, port(i.r#type)),
        Protocol::IcmPv6(i) => plain(Proto::Icmp6, 0, port(i.r#type)),
    })
}

fn plain(proto: Proto, src_port: u16, dst_port: u16) -> L4 {
    L4 {
        proto,
        src_port,
        dst_port,
        syn: false,
        ack: false,
    }
}

/// Evidence the flow carries about itself (tiers 2 and 3 of the module
/// doc); `None` when it says nothing.
pub fn stated(f: &flow::Flow, l4: &L4) -> Option<(Orientation, Basis)> {
    use Orientation::{Forward, Reverse};
    if let Some(r) = &f.is_reply {
        return Some((if r.value { Reverse } else { Forward }, Basis::IsReply));
    }
    if f.reply {
        return Some((Reverse, Basis::LegacyReply));
    }
    if let Some(o) = event_kind(f) {
        return Some((o, Basis::EventKind));
    }
    if l4.proto == Proto::Tcp && l4.syn {
        return Some((if l4.ack { Reverse } else { Forward }, Basis::TcpFlags));
    }
    None
}

/// L7 request/response records, policy-verdict events (only ever emitted
/// for a connection's first packet) and policy drops (the agent assumes a
/// dropped packet is not a reply).
fn event_kind(f: &flow::Flow) -> Option<Orientation> {
    if let Some(l7) = &f.l7 {
        match flow::L7FlowType::try_from(l7.r#type) {
            Ok(flow::L7FlowType::Request) => return Some(Orientation::Forward),
            Ok(flow::L7FlowType::Response) => return Some(Orientation::Reverse),
            _ => {}
        }
    }
    const POLICY_VERDICT_EVENT: i32 = 5;
    if f.event_type
        .as_ref()
        .is_some_and(|e| e.r#type == POLICY_VERDICT_EVENT)
    {
        return Some(Orientation::Forward);
    }
    (f.verdict() == flow::Verdict::Dropped && is_policy_drop(f)).then_some(Orientation::Forward)
}

/// Whether a flow's drop reason is a policy decision (POLICY_DENIED, or
/// POLICY_DENY for a deny rule), in the enum or the legacy number.
pub fn is_policy_drop(f: &flow::Flow) -> bool {
    matches!(
        flow::DropReason::try_from(f.drop_reason_desc),
        Ok(flow::DropReason::PolicyDenied | flow::DropReason::PolicyDeny)
    ) || matches!(f.drop_reason, 133 | 181)
}

/// Which end of a flow is the endpoint local to the reporting agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
}

/// The local side, from what the flow shows: only local endpoints carry an
/// endpoint `ID`; `TO_ENDPOINT`/`FROM_ENDPOINT` name the local endpoint's
/// side; and when exactly one end is a pod and the other is outside the node
/// (world, a remote node), the pod is the local one. `None` when unsure.
pub fn local_side(
    f: &flow::Flow,
    src_pod: bool,
    dst_pod: bool,
    other_remote: bool,
) -> Option<Side> {
    let id = |e: &Option<flow::Endpoint>| e.as_ref().is_some_and(|e| e.id != 0);
    match (id(&f.source), id(&f.destination)) {
        (true, false) => return Some(Side::Source),
        (false, true) => return Some(Side::Destination),
        _ => {}
    }
    use flow::TraceObservationPoint as P;
    match P::try_from(f.trace_observation_point) {
        Ok(P::ToEndpoint) => return Some(Side::Destination),
        Ok(P::FromEndpoint) => return Some(Side::Source),
        _ => {}
    }
    match (src_pod, dst_pod) {
        (true, false) if other_remote => Some(Side::Source),
        (false, true) if other_remote => Some(Side::Destination),
        _ => None,
    }
}

/// Tier 5: `traffic_direction` is EGRESS exactly when (source is local) XOR
/// (packet is a reply); with the local side known, that is the reply flag.
pub fn by_traffic_direction(f: &flow::Flow, local: Option<Side>) -> Option<Orientation> {
    let egress = match f.traffic_direction() {
        flow::TrafficDirection::Egress => true,
        flow::TrafficDirection::Ingress => false,
        flow::TrafficDirection::Unknown => return None,
    };
    let is_reply = egress != (local? == Side::Source);
    Some(if is_reply {
        Orientation::Reverse
    } else {
        Orientation::Forward
    })
}

/// Why ports could not decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortDoubt {
    /// Neither side has a port.
    NoPorts,
    /// Both ports are in the ephemeral range.
    BothEphemeral,
    /// Both ports are below the ephemeral range.
    BothService,
}

impl PortDoubt {
    pub fn describe(self) -> &'static str {
        match self {
            PortDoubt::NoPorts => "neither side has a port",
            PortDoubt::BothEphemeral => "both ports are in the ephemeral range (32768+)",
            PortDoubt::BothService => "both ports are below the ephemeral range",
        }
    }
}

/// Tier 6: ports decide only when exactly one side has a real service port.
pub fn by_ports(src: u16, dst: u16) -> Result<Orientation, PortDoubt> {
    let service = |p: u16| p != 0 && u32::from(p) < EPHEMERAL_START;
    match (src, dst) {
        (0, 0) => Err(PortDoubt::NoPorts),
        // A zero port is no port: the other side is the only possible server.
        (0, _) => Ok(Orientation::Forward),
        (_, 0) => Ok(Orientation::Reverse),
        _ => match (service(src), service(dst)) {
            (false, true) => Ok(Orientation::Forward),
            (true, false) => Ok(Orientation::Reverse),
            (true, true) => Err(PortDoubt::BothService),
            (false, false) => Err(PortDoubt::BothEphemeral),
        },
    }
}

/// The opt-in guess (`--guess-direction`): the lower port is the server.
/// Symmetric, so both directions of a connection get the same orientation.
pub fn guess(src: u16, dst: u16) -> Orientation {
    if dst <= src {
        Orientation::Forward
    } else {
        Orientation::Reverse
    }
}

/// The responder's port for an oriented flow.
pub fn responder_port(o: Orientation, l4: &L4) -> u16 {
    if o == Orientation::Reverse {
        l4.src_port
    } else {
        l4.dst_port
    }
}

/// ICMP: requests start, replies answer (mapped to their request type),
/// errors are related to another connection.
pub fn icmp_orientation(proto: Proto, ty: u16) -> (Orientation, u16) {
    match (proto, ty) {
        // echo reply, timestamp reply, info reply, address mask reply
        (Proto::Icmp4, 0) => (Orientation::Reverse, 8),
        (Proto::Icmp4, 14) => (Orientation::Reverse, 13),
        (Proto::Icmp4, 16) => (Orientation::Reverse, 15),
        (Proto::Icmp4, 18) => (Orientation::Reverse, 17),
        // destination unreachable, source quench, redirect, time exceeded, parameter problem
        (Proto::Icmp4, 3 | 4 | 5 | 11 | 12) => (Orientation::Related, ty),
        (Proto::Icmp6, 129) => (Orientation::Reverse, 128),
        // destination unreachable, packet too big, time exceeded, parameter problem
        (Proto::Icmp6, 1..=4) => (Orientation::Related, ty),
        _ => (Orientation::Forward, ty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::flow::{Layer4, Tcp, TcpFlags};

    fn tcp_flow(sp: u32, dp: u32, syn: bool, ack: bool, is_reply: Option<bool>) -> flow::Flow {
        flow::Flow {
            l4: Some(Layer4 {
                protocol: Some(Protocol::Tcp(Tcp {
                    source_port: sp,
                    destination_port: dp,
                    flags: Some(TcpFlags {
                        syn,
                        ack,
                        ..Default::default()
                    }),
                })),
            }),
            is_reply: is_reply.map(|value| pbjson_types::BoolValue { value }),
            ..Default::default()
        }
    }

    fn stated_of(f: &flow::Flow) -> Option<(Orientation, Basis, u16)> {
        let l4 = l4_of(f).unwrap();
        stated(f, &l4).map(|(o, b)| (o, b, responder_port(o, &l4)))
    }

    #[test]
    fn a_reply_never_yields_its_ephemeral_port() {
        // 5432 answering a client on 45678: the rule port is 5432, reversed.
        let f = tcp_flow(5432, 45678, false, true, Some(true));
        assert_eq!(
            stated_of(&f),
            Some((Orientation::Reverse, Basis::IsReply, 5432))
        );
        let legacy = flow::Flow {
            reply: true,
            ..tcp_flow(5432, 45678, false, true, None)
        };
        assert_eq!(
            stated_of(&legacy),
            Some((Orientation::Reverse, Basis::LegacyReply, 5432))
        );
    }

    #[test]
    fn syn_opens_and_syn_ack_answers() {
        assert_eq!(
            stated_of(&tcp_flow(40000, 8080, true, false, None)),
            Some((Orientation::Forward, Basis::TcpFlags, 8080))
        );
        assert_eq!(
            stated_of(&tcp_flow(8080, 40000, true, true, None)),
            Some((Orientation::Reverse, Basis::TcpFlags, 8080))
        );
        assert_eq!(stated_of(&tcp_flow(8080, 40000, false, true, None)), None);
    }

    #[test]
    fn policy_verdicts_drops_and_l7_records_state_their_direction() {
        let verdict_event = flow::Flow {
            event_type: Some(flow::CiliumEventType {
                r#type: 5,
                sub_type: 0,
            }),
            ..tcp_flow(45000, 50000, false, false, None)
        };
        assert_eq!(
            stated_of(&verdict_event),
            Some((Orientation::Forward, Basis::EventKind, 50000))
        );
        let drop = flow::Flow {
            verdict: flow::Verdict::Dropped as i32,
            drop_reason_desc: flow::DropReason::PolicyDenied as i32,
            ..tcp_flow(45000, 50000, false, false, None)
        };
        assert_eq!(stated_of(&drop).map(|s| s.0), Some(Orientation::Forward));
        let response = flow::Flow {
            l7: Some(flow::Layer7 {
                r#type: flow::L7FlowType::Response as i32,
                ..Default::default()
            }),
            ..tcp_flow(8080, 45000, false, false, None)
        };
        assert_eq!(
            stated_of(&response),
            Some((Orientation::Reverse, Basis::EventKind, 8080))
        );
    }

    #[test]
    fn ports_decide_only_with_exactly_one_service_port() {
        use Orientation::*;
        assert_eq!(by_ports(51000, 53), Ok(Forward));
        assert_eq!(by_ports(53, 51000), Ok(Reverse));
        assert_eq!(by_ports(0, 6379), Ok(Forward));
        assert_eq!(by_ports(0, 45000), Ok(Forward));
        assert_eq!(by_ports(443, 0), Ok(Reverse));
        assert_eq!(by_ports(0, 0), Err(PortDoubt::NoPorts));
        assert_eq!(by_ports(2049, 800), Err(PortDoubt::BothService));
        assert_eq!(by_ports(45000, 50000), Err(PortDoubt::BothEphemeral));
        // Symmetric: both packets of a connection agree.
        for (a, b) in [(51000u16, 53u16), (0, 8443), (40000, 80)] {
            assert_ne!(by_ports(a, b), by_ports(b, a), "{a} {b}");
        }
    }

    #[test]
    fn traffic_direction_with_a_known_local_side_gives_the_reply_flag() {
        let with = |dir: flow::TrafficDirection| flow::Flow {
            traffic_direction: dir as i32,
            ..Default::default()
        };
        use flow::TrafficDirection::{Egress, Ingress};
        // Local client sends (EGRESS, source local): not a reply.
        assert_eq!(
            by_traffic_direction(&with(Egress), Some(Side::Source)),
            Some(Orientation::Forward)
        );
        // Answer to the local client (EGRESS, destination local): a reply.
        assert_eq!(
            by_traffic_direction(&with(Egress), Some(Side::Destination)),
            Some(Orientation::Reverse)
        );
        // Local server receives (INGRESS, destination local): not a reply.
        assert_eq!(
            by_traffic_direction(&with(Ingress), Some(Side::Destination)),
            Some(Orientation::Forward)
        );
        // Local server answers (INGRESS, source local): a reply.
        assert_eq!(
            by_traffic_direction(&with(Ingress), Some(Side::Source)),
            Some(Orientation::Reverse)
        );
        assert_eq!(by_traffic_direction(&with(Ingress), None), None);
    }

    #[test]
    fn icmp_replies_map_to_requests_and_errors_are_related() {
        assert_eq!(icmp_orientation(Proto::Icmp4, 8), (Orientation::Forward, 8));
        assert_eq!(icmp_orientation(Proto::Icmp4, 0), (Orientation::Reverse, 8));
        assert_eq!(icmp_orientation(Proto::Icmp4, 3).0, Orientation::Related);
        assert_eq!(
            icmp_orientation(Proto::Icmp6, 129),
            (Orientation::Reverse, 128)
        );
    }
}
