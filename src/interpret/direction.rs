//! Which end started the connection. Rules come only from the initiator's
//! side: a reply's destination port is an ephemeral port and must never
//! become a rule.
//!
//! In order of trust:
//! 1. ICMP: echo/timestamp requests start, their replies answer (and map back
//!    to the request type); error messages (unreachable, time exceeded, …) are
//!    *related* to another connection and never learned.
//! 2. `is_reply` (a BoolValue: absent when the agent did not know).
//! 3. The deprecated `reply: true` written by old agents.
//! 4. TCP flags: SYN without ACK opens a connection, SYN+ACK answers it.
//! 5. Ports, when nothing else is known: the side with a port below 32768
//!    (Linux's ephemeral range starts there) is the server; if both or neither
//!    are, the lower port is the server. Both packets of a connection map to
//!    the same orientation, so a guess never splits one connection in two.

use crate::proto::flow::{self, layer4::Protocol};

use super::l4::{PortKey, Proto};

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

/// What the orientation was decided from (for the summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Basis {
    Icmp,
    IsReply,
    LegacyReply,
    TcpFlags,
    PortHeuristic,
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

/// Decides the orientation of a flow and the responder's port key.
pub fn orient(f: &flow::Flow, l4: &L4) -> (Orientation, Basis, PortKey) {
    if l4.proto.is_icmp() {
        let (o, ty) = icmp_orientation(l4.proto, l4.dst_port);
        return (
            o,
            Basis::Icmp,
            PortKey {
                proto: l4.proto,
                port: ty,
            },
        );
    }
    let (o, basis) = if let Some(r) = &f.is_reply {
        (
            if r.value {
                Orientation::Reverse
            } else {
                Orientation::Forward
            },
            Basis::IsReply,
        )
    } else if f.reply {
        (Orientation::Reverse, Basis::LegacyReply)
    } else if l4.proto == Proto::Tcp && l4.syn {
        (
            if l4.ack {
                Orientation::Reverse
            } else {
                Orientation::Forward
            },
            Basis::TcpFlags,
        )
    } else {
        (
            port_heuristic(l4.src_port, l4.dst_port),
            Basis::PortHeuristic,
        )
    };
    let port = if o == Orientation::Reverse {
        l4.src_port
    } else {
        l4.dst_port
    };
    (
        o,
        basis,
        PortKey {
            proto: l4.proto,
            port,
        },
    )
}

/// The server is the side with a non-ephemeral port, else the lower port.
pub fn port_heuristic(src: u16, dst: u16) -> Orientation {
    let (s, d) = (u32::from(src), u32::from(dst));
    match (s < EPHEMERAL_START, d < EPHEMERAL_START) {
        (false, true) => Orientation::Forward,
        (true, false) => Orientation::Reverse,
        _ if d <= s => Orientation::Forward,
        _ => Orientation::Reverse,
    }
}

/// ICMP: requests start, replies answer (mapped to their request type),
/// errors are related to another connection.
fn icmp_orientation(proto: Proto, ty: u16) -> (Orientation, u16) {
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
    use crate::proto::flow::{Layer4, Tcp, TcpFlags, Udp};

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

    fn key(f: &flow::Flow) -> (Orientation, Basis, u16) {
        let l4 = l4_of(f).unwrap();
        let (o, b, k) = orient(f, &l4);
        (o, b, k.port)
    }

    #[test]
    fn a_reply_never_yields_its_ephemeral_port() {
        // 5432 answering a client on 45678: the rule port is 5432, reversed.
        let f = tcp_flow(5432, 45678, false, true, Some(true));
        assert_eq!(key(&f), (Orientation::Reverse, Basis::IsReply, 5432));
        let legacy = flow::Flow {
            reply: true,
            ..tcp_flow(5432, 45678, false, true, None)
        };
        assert_eq!(
            key(&legacy),
            (Orientation::Reverse, Basis::LegacyReply, 5432)
        );
    }

    #[test]
    fn syn_opens_and_syn_ack_answers() {
        assert_eq!(
            key(&tcp_flow(40000, 8080, true, false, None)),
            (Orientation::Forward, Basis::TcpFlags, 8080)
        );
        assert_eq!(
            key(&tcp_flow(8080, 40000, true, true, None)),
            (Orientation::Reverse, Basis::TcpFlags, 8080)
        );
    }

    #[test]
    fn port_heuristic_is_symmetric() {
        for (a, b) in [(51000u16, 53u16), (40000, 45000), (2049, 800), (9090, 9091)] {
            let there = port_heuristic(a, b);
            let back = port_heuristic(b, a);
            assert_ne!(there, back, "{a} {b}");
        }
        let udp = flow::Flow {
            l4: Some(Layer4 {
                protocol: Some(Protocol::Udp(Udp {
                    source_port: 53,
                    destination_port: 51000,
                })),
            }),
            ..Default::default()
        };
        assert_eq!(key(&udp), (Orientation::Reverse, Basis::PortHeuristic, 53));
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
