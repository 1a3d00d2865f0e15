//! Non-selector peers: entities, CIDRs (with `except`) and FQDN selectors,
//! matched against a traffic-graph peer.
//!
//! World peers are `Cidr` (an address or a configured group), `Fqdn` (a DNS
//! name, with the addresses it resolved to) or `Entity(World)` (no
//! address). CIDR rules select world peers only; a group prefix must lie
//! inside the rule's CIDR, and an `except` that cuts into it makes the
//! answer `Unknown`. A name matches a CIDR rule when every address it
//! resolved to does.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::interpret::dns::normalize;
use crate::peer::{Entity as PeerEntity, Peer};
use crate::policy::{Entity, FqdnSelector};

use super::tri::{Tri, Why};

/// A peer with what the graph knows about it.
#[derive(Debug, Clone, Copy)]
pub struct PeerInfo<'a> {
    pub peer: &'a Peer,
    /// Addresses an FQDN peer resolved to (empty otherwise).
    pub addresses: &'a BTreeSet<IpAddr>,
}

/// The `reserved:` labels of a peer as Cilium's selector cache sees them: a
/// reserved identity carries the union of the labels of the addresses it
/// stands for ([`PeerEntity::labels`]: the host of a control-plane node is
/// also `kube-apiserver`, identity 7 also `remote-node`), a world address
/// `world`; pods carry none.
pub fn reserved_labels(peer: &Peer) -> &'static [&'static str] {
    match peer {
        Peer::Entity(e) => e.labels(),
        Peer::Cidr(_) | Peer::Fqdn(_) => PeerEntity::World.labels(),
        Peer::Workload(_) => &[],
    }
}

/// Whether the peer's identity carries `reserved:<key>`.
pub fn carries(peer: &Peer, key: &str) -> bool {
    reserved_labels(peer).contains(&key)
}

/// The reserved labels Cilium's `cluster` entity selects besides the pods
/// of the cluster (`pkg/policy/api/entity.go`, `InitEntities`).
const CLUSTER_RESERVED: [&str; 7] = [
    "host",
    "remote-node",
    "init",
    "ingress",
    "health",
    "unmanaged",
    "kube-apiserver",
];

/// Whether a policy entity covers the peer. Entities select by label, as
/// Cilium's selector cache does: `host` selects every identity carrying
/// `reserved:host`, `kube-apiserver` every identity carrying
/// `reserved:kube-apiserver` (the local host of a control-plane node, a
/// remote control-plane node, an API server outside the cluster), and so on.
pub fn entity_matches(e: &Entity, p: PeerInfo<'_>, why: &mut Why) -> Tri {
    let peer = p.peer;
    let label = |key: &str| Tri::from_bool(carries(peer, key));
    match e {
        Entity::All => Tri::Yes,
        Entity::None | Entity::Other(_) => Tri::No,
        Entity::World => label("world"),
        Entity::WorldIpv4 | Entity::WorldIpv6 => {
            let v4 = matches!(e, Entity::WorldIpv4);
            match peer {
                Peer::Cidr(net) => Tri::from_bool(matches!(net, IpNet::V4(_)) == v4),
                Peer::Fqdn(name) if !p.addresses.is_empty() => {
                    let fam: BTreeSet<bool> = p.addresses.iter().map(IpAddr::is_ipv4).collect();
                    match (fam.contains(&v4), fam.len()) {
                        (false, _) => Tri::No,
                        (true, 1) => Tri::Yes,
                        _ => {
                            why.unknown(format!("{name} resolved to both IPv4 and IPv6 addresses"))
                        }
                    }
                }
                Peer::Fqdn(_)
                | Peer::Entity(PeerEntity::World | PeerEntity::KubeApiserverWorld) => {
                    why.unknown(format!("the address family of {peer} is unknown"))
                }
                _ => Tri::No,
            }
        }
        Entity::Cluster => Tri::from_bool(
            matches!(peer, Peer::Workload(_)) || CLUSTER_RESERVED.iter().any(|k| carries(peer, k)),
        ),
        Entity::Host => label("host"),
        Entity::RemoteNode => label("remote-node"),
        Entity::KubeApiserver => label("kube-apiserver"),
        Entity::Ingress => label("ingress"),
        Entity::Health => label("health"),
        Entity::Init => label("init"),
        Entity::Unmanaged => label("unmanaged"),
    }
}

/// Parses a CIDR as Cilium does: a prefix, or a bare address as a host prefix.
pub fn parse_cidr(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .map(|n| n.trunc())
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// A CIDR rule entry: the prefix and its exceptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrMatch {
    pub net: IpNet,
    pub except: Vec<IpNet>,
}

fn contains(outer: &IpNet, inner: &IpNet) -> bool {
    match (outer, inner) {
        (IpNet::V4(a), IpNet::V4(b)) => a.contains(b),
        (IpNet::V6(a), IpNet::V6(b)) => a.contains(b),
        _ => false,
    }
}

impl CidrMatch {
    fn net_matches(&self, net: &IpNet, why: &mut Why) -> Tri {
        if !contains(&self.net, net) {
            return Tri::No;
        }
        for e in &self.except {
            if contains(e, net) {
                return Tri::No;
            }
            if contains(net, e) {
                return why.unknown(format!(
                    "{net} is partly excluded from {} by except {e}",
                    self.net
                ));
            }
        }
        Tri::Yes
    }

    /// Whether one address lies in this CIDR and in none of its exceptions.
    pub fn covers(&self, a: IpAddr) -> bool {
        let net = IpNet::from(a);
        contains(&self.net, &net) && !self.except.iter().any(|e| contains(e, &net))
    }

    /// Whether the peer's address(es) lie in this CIDR (minus `except`).
    pub fn matches(&self, p: PeerInfo<'_>, why: &mut Why) -> Tri {
        match p.peer {
            Peer::Cidr(net) => self.net_matches(net, why),
            Peer::Fqdn(name) => {
                if p.addresses.is_empty() {
                    return Tri::No;
                }
                let results: BTreeSet<Tri> = p
                    .addresses
                    .iter()
                    .map(|a| self.net_matches(&IpNet::from(*a), why))
                    .collect();
                match (results.len(), results.iter().next()) {
                    (1, Some(t)) => *t,
                    _ => why.unknown(format!("only some addresses of {name} lie in {}", self.net)),
                }
            }
            Peer::Entity(PeerEntity::World) if self.net.prefix_len() == 0 => {
                why.unknown("the address family of the world peer is unknown")
            }
            _ => Tri::No,
        }
    }
}

/// Whether a DNS name matches a Cilium FQDN selector: `matchName` exactly
/// (case-insensitive, trailing dot ignored); `matchPattern` where `*`
/// alone matches every name and otherwise matches 0 or more DNS
/// characters within one label (`*.example.com` matches `a.example.com`,
/// not `example.com` nor `a.b.example.com`).
pub fn fqdn_matches(sel: &FqdnSelector, name: &str) -> bool {
    let name = normalize(name);
    if let Some(n) = &sel.match_name {
        if normalize(n) == name {
            return true;
        }
    }
    match &sel.match_pattern {
        Some(p) => pattern_matches(&normalize(p), &name),
        None => false,
    }
}

fn pattern_matches(pattern: &str, name: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let pl: Vec<&str> = pattern.split('.').collect();
    let nl: Vec<&str> = name.split('.').collect();
    pl.len() == nl.len()
        && pl
            .iter()
            .zip(&nl)
            .all(|(p, n)| label_glob(p.as_bytes(), n.as_bytes()))
}

fn is_dns_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

fn label_glob(p: &[u8], n: &[u8]) -> bool {
    match p.split_first() {
        None => n.is_empty(),
        Some((b'*', rest)) => (0..=n.len())
            .any(|i| n[..i].iter().all(|c| is_dns_char(*c)) && label_glob(rest, &n[i..])),
        Some((c, rest)) => n.first() == Some(c) && label_glob(rest, &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_patterns_follow_cilium() {
        let p = FqdnSelector::pattern("*.example.com");
        assert!(fqdn_matches(&p, "a.example.com."));
        assert!(fqdn_matches(&p, "A.Example.com"));
        assert!(!fqdn_matches(&p, "example.com"));
        assert!(!fqdn_matches(&p, "a.b.example.com"));
        assert!(fqdn_matches(&FqdnSelector::pattern("*"), "anything.at.all"));
        assert!(fqdn_matches(
            &FqdnSelector::pattern("part*ial.com"),
            "part-extra-ial.com"
        ));
        assert!(fqdn_matches(
            &FqdnSelector::pattern("part*ial.com"),
            "partial.com"
        ));
        assert!(fqdn_matches(
            &FqdnSelector::name("My.1Password.com."),
            "my.1password.com"
        ));
        assert!(!fqdn_matches(
            &FqdnSelector::name("1password.com"),
            "my.1password.com"
        ));
    }

    #[test]
    fn cidr_with_except() {
        let empty = BTreeSet::new();
        let m = CidrMatch {
            net: "10.0.0.0/8".parse().unwrap(),
            except: vec!["10.96.0.0/12".parse().unwrap()],
        };
        let mut why = Why::default();
        let peer = |s: &str| Peer::Cidr(s.parse().unwrap());
        let info = |p: &'_ Peer| -> Tri {
            let mut w = Why::default();
            m.matches(
                PeerInfo {
                    peer: p,
                    addresses: &empty,
                },
                &mut w,
            )
        };
        assert_eq!(info(&peer("10.0.4.2/32")), Tri::Yes);
        assert_eq!(info(&peer("10.96.0.1/32")), Tri::No);
        assert_eq!(info(&peer("192.0.2.1/32")), Tri::No);
        assert_eq!(info(&peer("10.0.0.0/8")), Tri::Unknown);
        assert_eq!(parse_cidr("10.0.0.5"), Some("10.0.0.5/32".parse().unwrap()));
        let world = Peer::Entity(PeerEntity::World);
        let _ = m.matches(
            PeerInfo {
                peer: &world,
                addresses: &empty,
            },
            &mut why,
        );
    }
}
