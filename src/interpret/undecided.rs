//! Flows whose direction nothing decided: kept out of the graph (unless the
//! user passes `--guess-direction`), and listed — peers, ports, why — in the
//! summary, in baselines and in `verify`'s report.
//!
//! A reply can arrive before its connection's opener (two nodes, merged
//! streams): such a flow is also parked in a small per-5-tuple table for the
//! connection window, and when a later flow of the same 5-tuple is decided,
//! the parked flows are taken back out of the list (they were part of a
//! decided connection). Memory is bounded: the table is pruned by flow time
//! and the list keeps at most [`MAX_EDGES`] peer pairs (more are counted).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::direction::PortDoubt;
use crate::peer::l4::Proto;
use crate::peer::Peer;

/// Most peer pairs listed; further undecided flows are only counted.
pub const MAX_EDGES: usize = 10_000;
/// Most port pairs remembered per peer pair.
pub const MAX_PORT_PAIRS: usize = 8;

/// Two peers and a protocol, in a canonical order (`a` ≤ `b`), so both
/// directions of one connection land on one entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UndecidedEdge {
    pub a: Peer,
    pub b: Peer,
    pub proto: Proto,
}

/// Why nothing decided the direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Doubt {
    pub ports: PortDoubt,
    /// `traffic_direction` was present but neither end was known to be the
    /// endpoint local to the agent.
    pub direction_without_local_side: bool,
}

impl std::fmt::Display for Doubt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no is_reply, SYN, policy-verdict or earlier packet of the connection; {}; {}",
            if self.direction_without_local_side {
                "traffic_direction without a known local endpoint"
            } else {
                "no traffic_direction"
            },
            self.ports.describe()
        )
    }
}

/// What is known about one undecided peer pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UndecidedTally {
    pub flows: u64,
    /// Port pairs `(port of a, port of b)`, at most [`MAX_PORT_PAIRS`].
    pub ports: BTreeSet<(u16, u16)>,
    /// Port pairs not remembered.
    #[serde(default)]
    pub more_ports: u64,
    pub why: BTreeSet<Doubt>,
    pub first_seen: i64,
    pub last_seen: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    #[serde(flatten)]
    edge: UndecidedEdge,
    #[serde(flatten)]
    tally: UndecidedTally,
}

/// The undecided peer pairs of a run (serialized as a list).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Listed", into = "Listed")]
pub struct Undecided {
    pub edges: BTreeMap<UndecidedEdge, UndecidedTally>,
    /// Flows not listed because [`MAX_EDGES`] pairs were listed already.
    pub overflow_flows: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Listed {
    #[serde(default)]
    edges: Vec<Entry>,
    #[serde(default)]
    overflow_flows: u64,
}

impl From<Listed> for Undecided {
    fn from(l: Listed) -> Undecided {
        let mut u = Undecided {
            overflow_flows: l.overflow_flows,
            ..Undecided::default()
        };
        for e in l.edges {
            u.merge_one(&e.edge, &e.tally);
        }
        u
    }
}

impl From<Undecided> for Listed {
    fn from(u: Undecided) -> Listed {
        Listed {
            edges: u
                .edges
                .into_iter()
                .map(|(edge, tally)| Entry { edge, tally })
                .collect(),
            overflow_flows: u.overflow_flows,
        }
    }
}

/// One undecided flow, oriented as it was seen.
pub struct Seen<'a> {
    pub src: &'a Peer,
    pub dst: &'a Peer,
    pub proto: Proto,
    pub src_port: u16,
    pub dst_port: u16,
    pub time_ns: i64,
    pub why: Doubt,
}

impl Undecided {
    /// Total undecided flows (listed or not).
    pub fn flows(&self) -> u64 {
        self.edges.values().map(|t| t.flows).sum::<u64>() + self.overflow_flows
    }

    pub fn is_empty(&self) -> bool {
        self.edges.is_empty() && self.overflow_flows == 0
    }

    /// Records one flow; returns its canonical edge and port pair, or `None`
    /// when the list is full.
    pub fn add(&mut self, s: &Seen<'_>) -> Option<(UndecidedEdge, (u16, u16))> {
        let (edge, pair) = canonical(s);
        if !self.edges.contains_key(&edge) && self.edges.len() >= MAX_EDGES {
            self.overflow_flows += 1;
            return None;
        }
        let t = self.edges.entry(edge.clone()).or_default();
        t.flows += 1;
        if t.ports.len() < MAX_PORT_PAIRS || t.ports.contains(&pair) {
            t.ports.insert(pair);
        } else {
            t.more_ports += 1;
        }
        t.why.insert(s.why);
        if s.time_ns != 0 {
            t.first_seen = if t.first_seen == 0 {
                s.time_ns
            } else {
                t.first_seen.min(s.time_ns)
            };
            t.last_seen = t.last_seen.max(s.time_ns);
        }
        Some((edge, pair))
    }

    /// Takes `flows` flows of a connection that was decided later back out.
    pub fn resolve(&mut self, edge: &UndecidedEdge, pair: (u16, u16), flows: u64) {
        if let Some(t) = self.edges.get_mut(edge) {
            t.flows = t.flows.saturating_sub(flows);
            t.ports.remove(&pair);
            if t.flows == 0 {
                self.edges.remove(edge);
            }
        }
    }

    /// Folds another run's list in (commutative, associative).
    pub fn merge(&mut self, o: &Undecided) {
        for (e, t) in &o.edges {
            self.merge_one(e, t);
        }
        self.overflow_flows += o.overflow_flows;
    }

    fn merge_one(&mut self, e: &UndecidedEdge, o: &UndecidedTally) {
        if !self.edges.contains_key(e) && self.edges.len() >= MAX_EDGES {
            self.overflow_flows += o.flows;
            return;
        }
        let t = self.edges.entry(e.clone()).or_default();
        t.flows += o.flows;
        for p in &o.ports {
            if t.ports.len() < MAX_PORT_PAIRS || t.ports.contains(p) {
                t.ports.insert(*p);
            } else {
                t.more_ports += 1;
            }
        }
        t.more_ports += o.more_ports;
        t.why.extend(o.why.iter().copied());
        for time in [o.first_seen, o.last_seen] {
            if time != 0 {
                t.first_seen = if t.first_seen == 0 {
                    time
                } else {
                    t.first_seen.min(time)
                };
                t.last_seen = t.last_seen.max(time);
            }
        }
    }

    /// The listed pairs, most flows first (ties by edge).
    pub fn ranked(&self) -> Vec<(&UndecidedEdge, &UndecidedTally)> {
        let mut v: Vec<_> = self.edges.iter().collect();
        v.sort_by(|x, y| y.1.flows.cmp(&x.1.flows).then_with(|| x.0.cmp(y.0)));
        v
    }
}

fn canonical(s: &Seen<'_>) -> (UndecidedEdge, (u16, u16)) {
    if (s.src, s.src_port) <= (s.dst, s.dst_port) {
        (
            UndecidedEdge {
                a: s.src.clone(),
                b: s.dst.clone(),
                proto: s.proto,
            },
            (s.src_port, s.dst_port),
        )
    } else {
        (
            UndecidedEdge {
                a: s.dst.clone(),
                b: s.src.clone(),
                proto: s.proto,
            },
            (s.dst_port, s.src_port),
        )
    }
}

/// An address/port pair.
type Socket = (IpAddr, u16);

/// A connection's unordered 5-tuple.
type Tuple = (Socket, Socket, Proto);

/// Where a parked connection is listed, how many flows, last seen.
type ParkedFlows = (UndecidedEdge, (u16, u16), u64, i64);

/// Undecided flows parked per 5-tuple (unordered), waiting for a decided
/// flow of the same connection within the window.
#[derive(Debug, Default)]
pub struct Parked {
    by_tuple: FxHashMap<Tuple, ParkedFlows>,
    newest: i64,
    next_prune: usize,
}

fn tuple(a: Socket, b: Socket, proto: Proto) -> Tuple {
    if a <= b {
        (a, b, proto)
    } else {
        (b, a, proto)
    }
}

impl Parked {
    /// Parks one undecided flow of the connection `a`–`b`.
    pub fn park(
        &mut self,
        a: Socket,
        b: Socket,
        proto: Proto,
        listed: (UndecidedEdge, (u16, u16)),
        time_ns: i64,
        window_ns: i64,
    ) {
        self.newest = self.newest.max(time_ns);
        let e = self
            .by_tuple
            .entry(tuple(a, b, proto))
            .or_insert((listed.0, listed.1, 0, time_ns));
        e.2 += 1;
        e.3 = e.3.max(time_ns);
        if self.by_tuple.len() >= self.next_prune.max(1 << 14) {
            let horizon = self.horizon(window_ns);
            self.by_tuple.retain(|_, v| v.3 >= horizon);
            self.next_prune = self.by_tuple.len() * 2;
        }
    }

    /// A flow of `a`–`b` was decided: the parked flows of that connection
    /// (if still within the window) are returned to be taken off the list.
    pub fn take(
        &mut self,
        a: Socket,
        b: Socket,
        proto: Proto,
        time_ns: i64,
        window_ns: i64,
    ) -> Option<(UndecidedEdge, (u16, u16), u64)> {
        if self.by_tuple.is_empty() {
            return None;
        }
        let (edge, pair, n, last) = self.by_tuple.remove(&tuple(a, b, proto))?;
        (time_ns.abs_diff(last) <= window_ns.unsigned_abs()).then_some((edge, pair, n))
    }

    pub fn len(&self) -> usize {
        self.by_tuple.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_tuple.is_empty()
    }

    /// The oldest last-parked time an entry may have and still be taken
    /// back: what a prune keeps, and what a baseline stores.
    fn horizon(&self, window_ns: i64) -> i64 {
        self.newest.saturating_sub(window_ns)
    }

    /// The table as a baseline stores it: the connections parked within
    /// `window_ns` of the newest, sorted. As with the connection table
    /// ([`super::conntrack::ConnTracker::export`]), what a prune would drop
    /// is left out and the next prune's size is not stored, so the stored
    /// table does not depend on when the last prune was: an older entry is
    /// only ever taken by a flow older than the newest by more than the
    /// window.
    pub fn export(&self, window_ns: i64) -> ParkedTable {
        let horizon = self.horizon(window_ns);
        let mut entries: Vec<ParkedEntry> = self
            .by_tuple
            .iter()
            .filter(|(_, (_, _, _, last))| *last >= horizon)
            .map(|(&(a, b, proto), (edge, ports, flows, last))| ParkedEntry {
                a: a.0,
                a_port: a.1,
                b: b.0,
                b_port: b.1,
                protocol: proto,
                listed: edge.clone(),
                ports: *ports,
                flows: *flows,
                last_seen: *last,
            })
            .collect();
        entries.sort();
        ParkedTable {
            newest: self.newest,
            next_prune: 0,
            entries,
        }
    }

    /// A table continuing a stored one.
    pub fn import(table: &ParkedTable) -> Parked {
        Parked {
            by_tuple: table
                .entries
                .iter()
                .map(|e| {
                    (
                        tuple((e.a, e.a_port), (e.b, e.b_port), e.protocol),
                        (e.listed.clone(), e.ports, e.flows, e.last_seen),
                    )
                })
                .collect(),
            newest: table.newest,
            next_prune: table.next_prune,
        }
    }
}

/// The parked flows as a baseline stores them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ParkedTable {
    /// Newest flow time (ns) parked.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub newest: i64,
    /// Table size at which it is next pruned (0: the default).
    #[serde(skip_serializing_if = "is_zero_usize")]
    pub next_prune: usize,
    pub entries: Vec<ParkedEntry>,
}

impl ParkedTable {
    /// Whether nothing is parked (written as absent).
    pub fn is_empty(&self) -> bool {
        self == &ParkedTable::default()
    }
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

fn is_zero_usize(v: &usize) -> bool {
    *v == 0
}

/// The undecided flows of one connection (its unordered 5-tuple), waiting
/// for a decided flow of it, and where they are listed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ParkedEntry {
    pub a: IpAddr,
    pub a_port: u16,
    pub b: IpAddr,
    pub b_port: u16,
    pub protocol: Proto,
    /// The listed peer pair the flows are counted under.
    pub listed: UndecidedEdge,
    /// Their port pair in that listing.
    pub ports: (u16, u16),
    pub flows: u64,
    pub last_seen: i64,
}

/// One line for a listed pair: peers, protocol, port pairs, flows, why.
pub fn describe(e: &UndecidedEdge, t: &UndecidedTally) -> String {
    let mut ports: Vec<String> = t.ports.iter().map(|(a, b)| format!("{a}↔{b}")).collect();
    if t.more_ports > 0 {
        ports.push(format!("and {} more", t.more_ports));
    }
    let why: Vec<String> = t.why.iter().map(ToString::to_string).collect();
    format!(
        "{} ↔ {} {} ports {}: {} flows ({})",
        e.a,
        e.b,
        e.proto.as_str(),
        ports.join(", "),
        t.flows,
        why.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::Entity;

    fn seen<'a>(src: &'a Peer, dst: &'a Peer, sp: u16, dp: u16, t: i64) -> Seen<'a> {
        Seen {
            src,
            dst,
            proto: Proto::Tcp,
            src_port: sp,
            dst_port: dp,
            time_ns: t,
            why: Doubt {
                ports: PortDoubt::BothEphemeral,
                direction_without_local_side: false,
            },
        }
    }

    #[test]
    fn both_directions_of_a_connection_are_one_pair_and_resolve_together() {
        let (a, b) = (
            Peer::Entity(Entity::Host),
            Peer::Cidr("10.0.0.1/32".parse().unwrap()),
        );
        let mut u = Undecided::default();
        let one = u.add(&seen(&a, &b, 45000, 50000, 10)).unwrap();
        let two = u.add(&seen(&b, &a, 50000, 45000, 20)).unwrap();
        assert_eq!(one, two, "canonical edge and port pair");
        assert_eq!(u.flows(), 2);
        assert_eq!(u.edges[&one.0].first_seen, 10);
        assert_eq!(u.edges[&one.0].last_seen, 20);
        u.resolve(&one.0, one.1, 2);
        assert!(u.is_empty());
    }

    #[test]
    fn the_list_is_bounded_and_survives_serialization_and_merge() {
        let host = Peer::Entity(Entity::Host);
        let peers: Vec<Peer> = (0..MAX_EDGES + 3)
            .map(|i| Peer::Cidr(format!("10.{}.{}.1/32", i / 250, i % 250).parse().unwrap()))
            .collect();
        let mut u = Undecided::default();
        for p in &peers {
            u.add(&seen(&host, p, 45000, 50000, 1));
        }
        assert_eq!(u.edges.len(), MAX_EDGES);
        assert_eq!(u.overflow_flows, 3);
        assert_eq!(u.flows(), MAX_EDGES as u64 + 3);
        let json = serde_json::to_string(&u).unwrap();
        let back: Undecided = serde_json::from_str(&json).unwrap();
        assert_eq!(back, u);
        let mut twice = back.clone();
        twice.merge(&u);
        assert_eq!(twice.flows(), 2 * u.flows());
        assert_eq!(twice.edges.len(), MAX_EDGES);
    }

    /// Where a parked flow of host–world is listed.
    fn listed() -> (UndecidedEdge, (u16, u16)) {
        let (a, b) = (Peer::Entity(Entity::Host), Peer::Entity(Entity::World));
        let mut u = Undecided::default();
        u.add(&seen(&a, &b, 45000, 50000, 0)).unwrap()
    }

    /// The socket `10.0.0.{host}:{port}`.
    fn socket(host: u8, port: u16) -> Socket {
        (IpAddr::from([10, 0, 0, host]), port)
    }

    #[test]
    fn parked_flows_come_back_only_within_the_window() {
        let listed = listed();
        let (x, y) = (socket(1, 45000), socket(2, 50000));
        let mut p = Parked::default();
        p.park(x, y, Proto::Tcp, listed.clone(), 0, 100);
        assert_eq!(p.len(), 1);
        // Either orientation of the 5-tuple finds it; too late, it is dropped.
        assert!(p.take(y, x, Proto::Tcp, 50, 100).is_some());
        p.park(x, y, Proto::Tcp, listed, 0, 100);
        assert!(p.take(x, y, Proto::Tcp, 500, 100).is_none());
        assert!(p.is_empty());
    }

    /// The stored table leaves out what a prune would drop, whether or not
    /// one happened, and continues alike.
    #[test]
    fn the_stored_parked_table_is_the_live_one() {
        let listed = listed();
        let (x, y, z) = (socket(1, 45000), socket(2, 50000), socket(3, 50000));
        let mut p = Parked::default();
        p.park(x, y, Proto::Tcp, listed.clone(), 0, 100);
        p.park(x, z, Proto::Tcp, listed.clone(), 150, 100);
        p.park(y, z, Proto::Tcp, listed, 300, 100);
        assert_eq!(p.len(), 3, "no prune below its size");
        let stored = p.export(100);
        let kept: Vec<i64> = stored.entries.iter().map(|e| e.last_seen).collect();
        assert_eq!(kept, [300], "the idle ones left out");
        assert_eq!((stored.newest, stored.next_prune), (300, 0));
        let mut back = Parked::import(&stored);
        assert_eq!(back.export(100), stored);
        assert!(back.take(z, y, Proto::Tcp, 350, 100).is_some());
        assert!(p.take(z, y, Proto::Tcp, 350, 100).is_some());
    }
}
