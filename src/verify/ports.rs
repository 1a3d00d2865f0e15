//! Layer-4 matching: Cilium `toPorts` (port, `endPort`, protocol, named
//! ports) and `icmps`, and Kubernetes NetworkPolicy `ports`, compiled into
//! one [`PortMatcher`] per rule section.
//!
//! A section with neither ports nor ICMP fields allows every port and
//! protocol; one with `toPorts` only allows no ICMP, and one with `icmps`
//! only allows no TCP/UDP/SCTP. `ANY` (or no protocol) is TCP, UDP and
//! SCTP; port `0` is every port. Named ports resolve per pod at run time,
//! so they are `Unknown` offline.

use crate::peer::l4::{PortKey, Proto};
use crate::policy::k8s::{K8sProtocol, NetworkPolicyPort};
use crate::policy::{IcmpRule, IntOrString, PortRule, Protocol};

use super::tri::{Tri, Why};

/// One port entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortEntry {
    /// `proto` `None` means TCP, UDP and SCTP.
    Range {
        proto: Option<Proto>,
        lo: u16,
        hi: u16,
    },
    Named {
        proto: Option<Proto>,
        name: String,
    },
    /// An ICMP type of one family.
    Icmp {
        proto: Proto,
        icmp_type: u16,
    },
    /// An ICMP type name this tool does not know.
    UnknownIcmp(String),
}

impl std::fmt::Display for PortEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proto = |p: &Option<Proto>| p.map_or("ANY", Proto::as_str);
        match self {
            PortEntry::Range {
                proto: p, lo: 0, ..
            } => write!(f, "all/{}", proto(p)),
            PortEntry::Range { proto: p, lo, hi } if lo == hi => write!(f, "{lo}/{}", proto(p)),
            PortEntry::Range { proto: p, lo, hi } => write!(f, "{lo}-{hi}/{}", proto(p)),
            PortEntry::Named { proto: p, name } => write!(f, "{name}/{} (named)", proto(p)),
            PortEntry::Icmp { proto, icmp_type } => {
                write!(f, "{}/type {icmp_type}", proto.as_str())
            }
            PortEntry::UnknownIcmp(s) => write!(f, "ICMP {s}"),
        }
    }
}

/// The L4 part of a rule section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortMatcher {
    /// No port restriction at all.
    pub all: bool,
    pub entries: Vec<PortEntry>,
}

fn cilium_proto(p: Option<Protocol>) -> Option<Proto> {
    match p {
        Some(Protocol::TCP) => Some(Proto::Tcp),
        Some(Protocol::UDP) => Some(Proto::Udp),
        Some(Protocol::SCTP) => Some(Proto::Sctp),
        Some(Protocol::ANY) | None => None,
    }
}

fn number_or_name(proto: Option<Proto>, port: &str, end: Option<u16>) -> PortEntry {
    match port.trim().parse::<u16>() {
        Ok(lo) => PortEntry::Range {
            proto,
            lo,
            hi: end.filter(|e| *e > lo && lo != 0).unwrap_or(lo),
        },
        Err(_) if port.trim().is_empty() => PortEntry::Range {
            proto,
            lo: 0,
            hi: 0,
        },
        Err(_) => PortEntry::Named {
            proto,
            name: port.trim().to_string(),
        },
    }
}

/// ICMP type names Cilium accepts, per family.
fn icmp_type(name: &str, v6: bool) -> Option<u16> {
    const V4: &[(&str, u16)] = &[
        ("EchoReply", 0),
        ("DestinationUnreachable", 3),
        ("Redirect", 5),
        ("EchoRequest", 8),
        ("RouterAdvertisement", 9),
        ("RouterSelection", 10),
        ("TimeExceeded", 11),
        ("ParameterProblem", 12),
        ("Timestamp", 13),
        ("TimestampReply", 14),
        ("Photuris", 40),
        ("ExtendedEchoRequest", 42),
        ("ExtendedEchoReply", 43),
    ];
    const V6: &[(&str, u16)] = &[
        ("DestinationUnreachable", 1),
        ("PacketTooBig", 2),
        ("TimeExceeded", 3),
        ("ParameterProblem", 4),
        ("EchoRequest", 128),
        ("EchoReply", 129),
        ("MulticastListenerQuery", 130),
        ("MulticastListenerReport", 131),
        ("MulticastListenerDone", 132),
        ("RouterSolicitation", 133),
        ("RouterAdvertisement", 134),
        ("NeighborSolicitation", 135),
        ("NeighborAdvertisement", 136),
        ("RedirectMessage", 137),
        ("RouterRenumbering", 138),
        ("ICMPNodeInformationQuery", 139),
        ("ICMPNodeInformationResponse", 140),
        ("ExtendedEchoRequest", 160),
        ("ExtendedEchoReply", 161),
    ];
    let table = if v6 { V6 } else { V4 };
    table
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, t)| *t)
}

impl PortMatcher {
    /// From a Cilium section's `toPorts` and `icmps`.
    pub fn cilium(to_ports: &[PortRule], icmps: &[IcmpRule]) -> PortMatcher {
        let mut entries = Vec::new();
        for pr in to_ports {
            if pr.ports.is_empty() {
                entries.push(PortEntry::Range {
                    proto: None,
                    lo: 0,
                    hi: 0,
                });
            }
            for pp in &pr.ports {
                entries.push(number_or_name(
                    cilium_proto(pp.protocol),
                    &pp.port,
                    pp.end_port,
                ));
            }
        }
        for f in icmps.iter().flat_map(|r| &r.fields) {
            let v6 = f
                .family
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case("IPv6"));
            let proto = if v6 { Proto::Icmp6 } else { Proto::Icmp4 };
            let t = match &f.icmp_type {
                IntOrString::Int(i) => u16::try_from(*i).ok(),
                IntOrString::String(s) => s.parse().ok().or_else(|| icmp_type(s, v6)),
            };
            entries.push(match t {
                Some(icmp_type) => PortEntry::Icmp { proto, icmp_type },
                None => PortEntry::UnknownIcmp(f.icmp_type.to_string()),
            });
        }
        PortMatcher {
            all: entries.is_empty(),
            entries,
        }
    }

    /// From a Kubernetes NetworkPolicy rule's `ports` (protocol defaults to TCP).
    pub fn k8s(ports: &[NetworkPolicyPort]) -> PortMatcher {
        let entries: Vec<PortEntry> = ports
            .iter()
            .map(|p| {
                let proto = Some(match p.protocol {
                    Some(K8sProtocol::UDP) => Proto::Udp,
                    Some(K8sProtocol::SCTP) => Proto::Sctp,
                    Some(K8sProtocol::TCP) | None => Proto::Tcp,
                });
                let end = p.end_port.and_then(|e| u16::try_from(e).ok());
                match &p.port {
                    None => PortEntry::Range {
                        proto,
                        lo: 0,
                        hi: 0,
                    },
                    Some(IntOrString::Int(i)) => number_or_name(proto, &i.to_string(), end),
                    Some(IntOrString::String(s)) => number_or_name(proto, s, end),
                }
            })
            .collect();
        PortMatcher {
            all: entries.is_empty(),
            entries,
        }
    }

    /// Whether the port is allowed, and by which entry (index).
    pub fn matches(&self, port: PortKey, why: &mut Why) -> (Tri, Option<usize>) {
        if self.all {
            return (Tri::Yes, None);
        }
        let mut best = (Tri::No, None);
        for (i, e) in self.entries.iter().enumerate() {
            let t = entry_matches(e, port, why);
            if t == Tri::Yes {
                return (Tri::Yes, Some(i));
            }
            best.0 = best.0.or(t);
        }
        best
    }
}

fn proto_ok(want: Option<Proto>, got: Proto) -> bool {
    match want {
        None => matches!(got, Proto::Tcp | Proto::Udp | Proto::Sctp),
        Some(p) => p == got,
    }
}

fn entry_matches(e: &PortEntry, port: PortKey, why: &mut Why) -> Tri {
    match e {
        PortEntry::Range { proto, lo, hi } => Tri::from_bool(
            proto_ok(*proto, port.proto) && (*lo == 0 || (*lo..=*hi).contains(&port.port)),
        ),
        PortEntry::Named { proto, name } if proto_ok(*proto, port.proto) => why.unknown(format!(
            "named port {name:?} cannot be resolved offline (it is the pod's containerPort name)"
        )),
        PortEntry::Named { .. } => Tri::No,
        PortEntry::Icmp { proto, icmp_type } => {
            Tri::from_bool(*proto == port.proto && *icmp_type == port.port)
        }
        PortEntry::UnknownIcmp(name) if port.proto.is_icmp() => {
            why.unknown(format!("unknown ICMP type {name:?}"))
        }
        PortEntry::UnknownIcmp(_) => Tri::No,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{IcmpField, PortProtocol};

    fn key(proto: Proto, port: u16) -> PortKey {
        PortKey { proto, port }
    }

    #[test]
    fn ranges_any_and_named() {
        let mut range = PortProtocol::new(8000, Protocol::TCP);
        range.end_port = Some(8010);
        let any = PortProtocol {
            port: "53".into(),
            end_port: None,
            protocol: None,
        };
        let named = PortProtocol {
            port: "http".into(),
            end_port: None,
            protocol: Some(Protocol::TCP),
        };
        let m = PortMatcher::cilium(
            &[PortRule {
                ports: vec![range, any, named],
                ..PortRule::default()
            }],
            &[],
        );
        let mut why = Why::default();
        assert_eq!(m.matches(key(Proto::Tcp, 8005), &mut why).0, Tri::Yes);
        assert_eq!(
            m.matches(key(Proto::Udp, 53), &mut why),
            (Tri::Yes, Some(1))
        );
        assert_eq!(m.matches(key(Proto::Udp, 8005), &mut why).0, Tri::No);
        assert_eq!(m.matches(key(Proto::Tcp, 9999), &mut why).0, Tri::Unknown);
        assert_eq!(m.matches(key(Proto::Icmp4, 8), &mut why).0, Tri::No);
        assert!(why.0[0].contains("http"));
    }

    #[test]
    fn icmp_by_number_and_name() {
        let m = PortMatcher::cilium(
            &[],
            &[IcmpRule {
                fields: vec![
                    IcmpField {
                        family: None,
                        icmp_type: IntOrString::Int(8),
                    },
                    IcmpField {
                        family: Some("IPv6".into()),
                        icmp_type: "EchoRequest".into(),
                    },
                ],
            }],
        );
        let mut why = Why::default();
        assert_eq!(m.matches(key(Proto::Icmp4, 8), &mut why).0, Tri::Yes);
        assert_eq!(m.matches(key(Proto::Icmp6, 128), &mut why).0, Tri::Yes);
        assert_eq!(m.matches(key(Proto::Icmp4, 13), &mut why).0, Tri::No);
        assert_eq!(m.matches(key(Proto::Tcp, 80), &mut why).0, Tri::No);
        assert!(PortMatcher::cilium(&[], &[])
            .matches(key(Proto::Icmp4, 8), &mut why)
            .0
            .is_yes());
    }
}
