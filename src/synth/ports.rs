//! Port hygiene for generated rules: ports as strings, grouped by protocol,
//! consecutive ports collapsed into `endPort` ranges (which allow exactly the
//! same set), at most 40 entries per `ports` list (the CRD's limit), and ICMP
//! as `icmps` with the request type and family.

use std::collections::{BTreeMap, BTreeSet};

use crate::graph::PortStats;
use crate::peer::l4::{PortKey, Proto};
use crate::policy::{
    EgressRule, IcmpField, IcmpRule, IngressRule, IntOrString, PortProtocol, PortRule, Protocol,
};

/// The CRD's `maxItems` for `toPorts[].ports` and `icmps[].fields`.
pub const MAX_PORTS_PER_RULE: usize = 40;

/// L4 ports and ICMP types of one peer, as Cilium rule parts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct L4Rules {
    pub to_ports: Vec<PortRule>,
    pub icmps: Vec<IcmpRule>,
}

/// Builds `toPorts` and `icmps` for a set of responder ports.
pub fn l4_rules(ports: &BTreeSet<PortKey>) -> L4Rules {
    let mut entries = Vec::new();
    for (proto, wire) in [
        (Proto::Tcp, Protocol::TCP),
        (Proto::Udp, Protocol::UDP),
        (Proto::Sctp, Protocol::SCTP),
    ] {
        let numbers: Vec<u16> = ports
            .iter()
            .filter(|p| p.proto == proto)
            .map(|p| p.port)
            .collect();
        for (start, end) in runs(&numbers) {
            let mut pp = PortProtocol::new(start, wire);
            if end > start {
                pp.end_port = Some(end);
            }
            entries.push(pp);
        }
    }
    let to_ports = in_chunks(entries)
        .into_iter()
        .map(|ports| PortRule {
            ports,
            ..PortRule::default()
        })
        .collect();
    let fields: Vec<IcmpField> = ports
        .iter()
        .filter(|p| p.proto.is_icmp())
        .map(|p| IcmpField {
            family: Some(
                if p.proto == Proto::Icmp4 {
                    "IPv4"
                } else {
                    "IPv6"
                }
                .to_string(),
            ),
            icmp_type: IntOrString::Int(i64::from(p.port)),
        })
        .collect();
    let icmps = in_chunks(fields)
        .into_iter()
        .map(|fields| IcmpRule { fields })
        .collect();
    L4Rules { to_ports, icmps }
}

/// A list cut into lists of at most [`MAX_PORTS_PER_RULE`], moved, not
/// copied (a short one, the usual case, is kept as it is).
fn in_chunks<T>(mut list: Vec<T>) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    while list.len() > MAX_PORTS_PER_RULE {
        let rest = list.split_off(MAX_PORTS_PER_RULE);
        out.push(std::mem::replace(&mut list, rest));
    }
    if !list.is_empty() {
        out.push(list);
    }
    out
}

/// Splits sorted, distinct ports into maximal runs of consecutive numbers.
pub fn runs(sorted: &[u16]) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for &p in sorted {
        match out.last_mut() {
            Some((_, end)) if u32::from(*end) + 1 == u32::from(p) => *end = p,
            _ => out.push((p, p)),
        }
    }
    out
}

/// The ports of one peer, as a set.
pub fn port_set(ports: &BTreeMap<PortKey, &PortStats>) -> BTreeSet<PortKey> {
    ports.keys().copied().collect()
}

/// Rules that carry both `toPorts` and `icmps`.
pub trait L4Parts: Clone {
    fn l4_parts(&mut self) -> (&mut Vec<PortRule>, &mut Vec<IcmpRule>);
}

impl L4Parts for IngressRule {
    fn l4_parts(&mut self) -> (&mut Vec<PortRule>, &mut Vec<IcmpRule>) {
        (&mut self.to_ports, &mut self.icmps)
    }
}

impl L4Parts for EgressRule {
    fn l4_parts(&mut self) -> (&mut Vec<PortRule>, &mut Vec<IcmpRule>) {
        (&mut self.to_ports, &mut self.icmps)
    }
}

/// Cilium rejects a rule that has both `icmps` and `toPorts` ("the ICMPs block
/// may only be present without ToPorts"): ICMP goes into a rule of its own,
/// with the same peers.
pub fn split_icmp<R: L4Parts>(mut rule: R) -> Vec<R> {
    let (ports, icmps) = rule.l4_parts();
    if icmps.is_empty() || ports.is_empty() {
        return vec![rule];
    }
    let icmps = std::mem::take(icmps);
    let mut icmp_rule = rule.clone();
    let (ports, slot) = icmp_rule.l4_parts();
    ports.clear();
    *slot = icmps;
    vec![rule, icmp_rule]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(proto: Proto, ports: &[u16]) -> BTreeSet<PortKey> {
        ports.iter().map(|&port| PortKey { proto, port }).collect()
    }

    #[test]
    fn lists_are_cut_in_order_into_chunks_of_at_most_the_limit() {
        for n in [0, 1, 40, 41, 85] {
            let chunks = in_chunks((0..n).collect::<Vec<usize>>());
            let lengths: Vec<usize> = chunks.iter().map(Vec::len).collect();
            let expected: Vec<usize> = (0..n)
                .step_by(MAX_PORTS_PER_RULE)
                .map(|start| (n - start).min(MAX_PORTS_PER_RULE))
                .collect();
            assert_eq!(lengths, expected, "{n}");
            assert_eq!(chunks.concat(), (0..n).collect::<Vec<usize>>());
        }
    }

    #[test]
    fn ports_are_strings_with_protocol() {
        let r = l4_rules(&keys(Proto::Tcp, &[5432]));
        assert_eq!(
            r.to_ports[0].ports,
            vec![PortProtocol::new(5432, Protocol::TCP)]
        );
        assert_eq!(r.to_ports[0].ports[0].port, "5432");
    }

    #[test]
    fn consecutive_ports_become_ranges() {
        assert_eq!(
            runs(&[80, 81, 82, 443, 8080]),
            vec![(80, 82), (443, 443), (8080, 8080)]
        );
        let r = l4_rules(&keys(Proto::Udp, &[6881, 6882, 6883]));
        assert_eq!(r.to_ports[0].ports[0].end_port, Some(6883));
    }

    #[test]
    fn at_most_forty_ports_per_list() {
        let ports: Vec<u16> = (0..100).map(|i| 1000 + i * 2).collect();
        let r = l4_rules(&keys(Proto::Tcp, &ports));
        assert_eq!(r.to_ports.len(), 3);
        assert!(r
            .to_ports
            .iter()
            .all(|p| p.ports.len() <= MAX_PORTS_PER_RULE));
    }

    #[test]
    fn icmp_becomes_icmps() {
        let r = l4_rules(&keys(Proto::Icmp4, &[8]));
        assert!(r.to_ports.is_empty());
        assert_eq!(r.icmps[0].fields[0].icmp_type, IntOrString::Int(8));
        assert_eq!(r.icmps[0].fields[0].family.as_deref(), Some("IPv4"));
    }
}
