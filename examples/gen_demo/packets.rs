//! Packet builders: a connection as observed Hubble flows (trace events at every observing
//! node, TCP sessions, UDP exchanges, policy drops, AUDIT verdicts), and the Cilium monitor
//! codes they carry.

use flowpolicy::proto::flow::{
    layer4, CiliumEventType, DropReason, Flow, FlowType, Ip, IpVersion, Layer4, Tcp, TcpFlags,
    TraceObservationPoint, TrafficDirection, Udp, Verdict,
};
use pbjson_types::BoolValue;

use super::clock::{NS_PER_MS, NS_PER_SEC, NS_PER_US};
use super::peers::Peer;
use super::sim::{Conn, Proto, Side, Sim};

/// Namespace whose (hypothetical) staged policy runs in audit mode.
const AUDIT_NAMESPACE: &str = "downloads";
/// Cilium's drop reason code for POLICY_DENIED.
const DROP_POLICY_DENIED: u32 = 133;
/// Cilium monitor message types used in `event_type.type`.
const EVENT_DROP: i32 = 1;
pub(crate) const EVENT_TRACE: i32 = 4;
pub(crate) const EVENT_POLICY_VERDICT: i32 = 5;
pub(crate) const EVENT_SOCK: i32 = 14;
pub(crate) const EVENT_L7: i32 = 129;

fn tcp_summary(f: &TcpFlags) -> String {
    let mut parts = Vec::new();
    for (set, name) in [
        (f.syn, "SYN"),
        (f.ack, "ACK"),
        (f.psh, "PSH"),
        (f.fin, "FIN"),
        (f.rst, "RST"),
    ] {
        if set {
            parts.push(name);
        }
    }
    format!("TCP Flags: {}", parts.join(", "))
}

impl<'c> Sim<'c> {
    /// A flow skeleton for one packet of `conn` (reverse = the responder sends it).
    pub(crate) fn packet_flow(
        &mut self,
        conn: &Conn,
        reverse: bool,
        observer: usize,
        l4: layer4::Protocol,
    ) -> Flow {
        let (from, to) = if reverse {
            (&conn.dst, &conn.src)
        } else {
            (&conn.src, &conn.dst)
        };
        let (src_ip, dst_ip) = (self.peer_ip(from, conn.v6), self.peer_ip(to, conn.v6));
        let source = self.endpoint(from, observer);
        let destination = self.endpoint(to, observer);
        let mut flow = Flow {
            verdict: Verdict::Forwarded as i32,
            ip: Some(Ip {
                source: src_ip.to_string(),
                destination: dst_ip.to_string(),
                ip_version: if conn.v6 {
                    IpVersion::IPv6
                } else {
                    IpVersion::IPv4
                } as i32,
                ..Default::default()
            }),
            l4: Some(Layer4 { protocol: Some(l4) }),
            source: Some(source),
            destination: Some(destination),
            r#type: FlowType::L3L4 as i32,
            node_name: self.cluster.nodes[observer].name.clone(),
            is_reply: Some(BoolValue { value: reverse }),
            reply: reverse,
            ..Default::default()
        };
        if !conn.names.is_empty() {
            if reverse {
                flow.source_names = conn.names.clone();
            } else {
                flow.destination_names = conn.names.clone();
            }
        }
        flow
    }

    /// The skeleton of an L7 proxy record of `conn` (reverse = the response):
    /// the packet skeleton with `Type: L7`, event type 129 and the side the
    /// proxy sits on.
    pub(crate) fn l7_flow(
        &mut self,
        conn: &Conn,
        reverse: bool,
        observer: usize,
        direction: TrafficDirection,
    ) -> Flow {
        let l4 = Self::l4_for(conn, reverse, None);
        let mut flow = self.packet_flow(conn, reverse, observer, l4);
        flow.r#type = FlowType::L7 as i32;
        flow.event_type = Some(CiliumEventType {
            r#type: EVENT_L7,
            sub_type: 0,
        });
        flow.traffic_direction = direction as i32;
        flow
    }

    pub(crate) fn l4_for(conn: &Conn, reverse: bool, flags: Option<TcpFlags>) -> layer4::Protocol {
        let (sp, dp) = if reverse {
            (conn.dport, conn.sport)
        } else {
            (conn.sport, conn.dport)
        };
        match conn.proto {
            Proto::Tcp => layer4::Protocol::Tcp(Tcp {
                source_port: sp,
                destination_port: dp,
                flags,
            }),
            Proto::Udp => layer4::Protocol::Udp(Udp {
                source_port: sp,
                destination_port: dp,
            }),
        }
    }

    /// Emit one packet as seen by every observing node (trace events).
    fn emit_packet(&mut self, conn: &Conn, reverse: bool, flags: Option<TcpFlags>, t: u64) {
        for (node, side) in self.observers(conn) {
            let local_delivery = self.local_node(&conn.dst) == self.local_node(&conn.src);
            let point = match (side, reverse) {
                (Side::Source, false) if local_delivery => TraceObservationPoint::ToEndpoint,
                (Side::Source, false) => TraceObservationPoint::ToStack,
                (Side::Source, true) => TraceObservationPoint::ToEndpoint,
                (Side::Destination, false) => TraceObservationPoint::ToEndpoint,
                (Side::Destination, true) => TraceObservationPoint::ToStack,
            };
            let later = matches!(
                (side, reverse),
                (Side::Destination, false) | (Side::Source, true)
            );
            let delay = if later {
                self.rng.range(30, 120) * NS_PER_US
            } else {
                0
            };
            let l4 = Self::l4_for(conn, reverse, flags);
            let mut flow = self.packet_flow(conn, reverse, node, l4);
            flow.traffic_direction = match side {
                Side::Source => TrafficDirection::Egress,
                Side::Destination => TrafficDirection::Ingress,
            } as i32;
            flow.trace_observation_point = point as i32;
            flow.event_type = Some(CiliumEventType {
                r#type: EVENT_TRACE,
                sub_type: trace_sub_type(point),
            });
            flow.summary = match &flags {
                Some(f) => tcp_summary(f),
                None => "UDP".to_string(),
            };
            if side == Side::Destination && !reverse && flags.is_some_and(|f| f.syn && !f.ack) {
                self.maybe_audit(conn, node, &flow, t + delay);
            }
            self.push_flow(t + delay, flow);
        }
    }

    /// Policy-verdict AUDIT event for new ingress connections into the audited namespace.
    fn maybe_audit(&mut self, conn: &Conn, node: usize, trace: &Flow, t: u64) {
        let Peer::Pod(dst) = conn.dst else { return };
        let dst_ns = &self.cluster.pods[dst].namespace;
        let same_ns = matches!(conn.src, Peer::Pod(s) if &self.cluster.pods[s].namespace == dst_ns);
        if dst_ns != AUDIT_NAMESPACE || same_ns {
            return;
        }
        let mut flow = trace.clone();
        flow.node_name = self.cluster.nodes[node].name.clone();
        flow.verdict = Verdict::Audit as i32;
        flow.trace_observation_point = 0;
        flow.event_type = Some(CiliumEventType {
            r#type: EVENT_POLICY_VERDICT,
            sub_type: 0,
        });
        flow.policy_match_type = 0;
        self.push_flow(t, flow);
    }

    /// A full TCP connection: SYN, SYN-ACK, request, response, FIN. Returns its end time.
    pub(crate) fn tcp_session(&mut self, conn: &Conn, t0: u64, rtt: u64) -> u64 {
        let syn = TcpFlags {
            syn: true,
            ..Default::default()
        };
        let syn_ack = TcpFlags {
            syn: true,
            ack: true,
            ..Default::default()
        };
        let data = TcpFlags {
            ack: true,
            psh: true,
            ..Default::default()
        };
        let fin = TcpFlags {
            ack: true,
            fin: true,
            ..Default::default()
        };
        let mut t = t0;
        self.emit_packet(conn, false, Some(syn), t);
        t += rtt / 2 + self.rng.below(rtt / 4 + 1);
        self.emit_packet(conn, true, Some(syn_ack), t);
        t += rtt / 2 + self.rng.below(200 * NS_PER_US);
        self.emit_packet(conn, false, Some(data), t);
        t += rtt + self.rng.below(20 * NS_PER_MS);
        self.emit_packet(conn, true, Some(data), t);
        t += self.rng.range(1, 30_000) * NS_PER_US;
        self.emit_packet(conn, false, Some(fin), t);
        t
    }

    /// A UDP request/response exchange.
    pub(crate) fn udp_exchange(&mut self, conn: &Conn, t0: u64, rtt: u64) -> u64 {
        self.emit_packet(conn, false, None, t0);
        let t = t0 + rtt + self.rng.below(rtt / 2 + 1);
        self.emit_packet(conn, true, None, t);
        t
    }

    /// SYN retransmissions dropped by policy at the destination node.
    pub(crate) fn dropped_syns(&mut self, conn: &Conn, t0: u64, tries: u64) {
        let Some(node) = self.local_node(&conn.dst) else {
            return;
        };
        for attempt in 0..tries {
            let t = t0 + attempt * (1 << attempt) * NS_PER_SEC;
            let flags = TcpFlags {
                syn: true,
                ..Default::default()
            };
            let l4 = Self::l4_for(conn, false, Some(flags));
            let mut flow = self.packet_flow(conn, false, node, l4);
            flow.verdict = Verdict::Dropped as i32;
            flow.drop_reason = DROP_POLICY_DENIED;
            flow.drop_reason_desc = DropReason::PolicyDenied as i32;
            flow.is_reply = None;
            flow.traffic_direction = TrafficDirection::Ingress as i32;
            flow.event_type = Some(CiliumEventType {
                r#type: EVENT_DROP,
                sub_type: DROP_POLICY_DENIED as i32,
            });
            flow.summary = tcp_summary(&flags);
            self.push_flow(t, flow);
        }
    }
}

pub(crate) fn trace_sub_type(point: TraceObservationPoint) -> i32 {
    match point {
        TraceObservationPoint::ToEndpoint => 0,
        TraceObservationPoint::ToProxy => 1,
        TraceObservationPoint::ToHost => 2,
        TraceObservationPoint::ToStack => 3,
        TraceObservationPoint::ToOverlay => 4,
        _ => 0,
    }
}
