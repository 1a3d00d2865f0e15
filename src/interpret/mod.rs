//! Interpretation: one Hubble flow → at most one normalized [`Observation`]
//! (who initiated, who answered, protocol and responder port, verdict class,
//! and whether it opens a connection not seen before).
//!
//! Owns every Cilium/Hubble semantic that turns packets into connections:
//! reply inversion ([`direction`]), double-observation dedup ([`conntrack`]),
//! peer classification ([`peer`]), DNS name correlation ([`dns`]) and stable
//! selectors ([`selector`]). It knows nothing about YAML or rules.

pub mod conntrack;
pub mod direction;
pub mod dns;
pub mod http;
pub mod l4;
pub mod labels;
pub mod path_template;
pub mod peer;
pub mod selector;
pub mod undecided;
pub mod validate;

use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::proto::flow;
use conntrack::{ConnKey, ConnTracker};
use direction::{Basis, Orientation, Side};
use dns::DnsCache;
use l4::PortKey;
use peer::{EndpointKind, Entity, Peer};
use undecided::{Doubt, Parked, Seen, Undecided};

/// Tunables of interpretation.
#[derive(Debug, Clone)]
pub struct InterpretConfig {
    /// World *clients* (initiators) inside one of these prefixes become that
    /// prefix (e.g. LAN clients `10.0.0.0/8`) instead of one `/32` each.
    /// Destinations are never grouped.
    pub cidr_groups: Vec<IpNet>,
    /// Flows of one 5-tuple within this window are one connection.
    pub conn_window_ns: i64,
    /// Learn flows whose direction no evidence decides by taking the lower
    /// port as the server (off by default: such flows are only reported).
    pub guess_direction: bool,
}

impl Default for InterpretConfig {
    fn default() -> Self {
        InterpretConfig {
            cidr_groups: Vec::new(),
            conn_window_ns: 120 * 1_000_000_000,
            guess_direction: false,
        }
    }
}

/// How the policy engine treated the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictClass {
    /// FORWARDED, REDIRECTED (to a proxy), TRACED.
    Allowed,
    /// AUDIT: would have been dropped, allowed because of audit mode.
    Audit,
    /// DROPPED.
    Dropped,
}

/// Why a flow produced no observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// No TCP/UDP/SCTP/ICMP layer (e.g. field-masked, or other protocols).
    NoL4,
    /// Socket-LB translation or other non-packet events.
    NotAPacket,
    /// Verdict ERROR (or unknown future verdicts).
    ErrorVerdict,
    /// ICMP errors belong to another connection.
    IcmpRelated,
    /// Source or destination carries no identity at all.
    UnknownPeer,
    /// A pod the L7 proxy reported as `reserved:world` (identity not yet
    /// known to it) whose address was never seen with its real identity.
    UnresolvedPod,
    /// Neither end is a workload (node-to-node, host-to-world…): no pod policy applies.
    NoWorkload,
    /// The responder's port is absent or 0: there is no port to allow, and
    /// `port: "0"` would mean every port.
    NoPort,
    /// Nothing decided which end initiated (listed in the summary).
    Undecided,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::NoL4 => "no L4 layer",
            SkipReason::NotAPacket => "socket-LB/translation events",
            SkipReason::ErrorVerdict => "error verdict",
            SkipReason::IcmpRelated => "ICMP errors (related to other connections)",
            SkipReason::UnknownPeer => "peer without identity",
            SkipReason::UnresolvedPod => {
                "pods reported as world by the proxy, never seen with their identity"
            }
            SkipReason::NoWorkload => "no workload on either side",
            SkipReason::NoPort => "no destination port (absent or 0)",
            SkipReason::Undecided => "direction undecided",
        }
    }
}

/// One flow, normalized to the connection it belongs to.
#[derive(Debug, Clone)]
pub struct Observation<'f> {
    pub flow: &'f flow::Flow,
    /// Flow time in ns since the epoch (0 when unknown).
    pub time_ns: i64,
    pub initiator: Arc<Peer>,
    pub responder: Arc<Peer>,
    pub initiator_ip: Option<IpAddr>,
    pub responder_ip: Option<IpAddr>,
    pub port: PortKey,
    pub verdict: VerdictClass,
    /// True for the first flow of a connection (within the window).
    pub new_connection: bool,
    /// The evidence that decided which end initiated.
    pub basis: Basis,
}

/// Counters for the summary.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InterpretStats {
    pub flows: u64,
    pub observations: u64,
    pub replies_inverted: u64,
    pub dropped: u64,
    pub audit: u64,
    pub basis: BTreeMap<String, u64>,
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Peer pairs whose direction nothing decided (not learned unless
    /// `--guess-direction`).
    #[serde(default, skip_serializing_if = "Undecided::is_empty")]
    pub undecided: Undecided,
    /// Undecided flows later found to belong to a decided connection (a
    /// reply seen before its opener).
    #[serde(default)]
    pub undecided_resolved: u64,
}

/// An endpoint's classification, cached per identity; workloads and entities
/// carry their peer, built once, so a busy identity costs no allocation per
/// flow. World peers depend on the address and are resolved per flow.
#[derive(Debug)]
struct Classified {
    kind: EndpointKind,
    peer: Option<Arc<Peer>>,
}

impl Classified {
    fn new(kind: EndpointKind) -> Classified {
        let peer = match &kind {
            EndpointKind::Workload(w) => Some(Arc::new(Peer::Workload(w.clone()))),
            EndpointKind::Entity(e) => Some(Arc::new(Peer::Entity(*e))),
            EndpointKind::World | EndpointKind::Unknown => None,
        };
        Classified { kind, peer }
    }
}

/// Numbers a decoder gives a flow's `[source, destination]` endpoints:
/// two flows whose endpoints carry the same number have endpoints decoded
/// from the very same text or bytes (the dump's fast path and the live
/// stream decoder number each distinct endpoint encoding they remember with
/// [`EndpointHint::fresh_number`], never reusing one), so what was learned
/// of one is true of the other without comparing them again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointHint(pub [Option<u64>; 2]);

impl EndpointHint {
    /// A number for a newly remembered endpoint text: unique in the
    /// process, whichever decoder (dump threads, the live stream) asks.
    pub fn fresh_number() -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

/// Classifications remembered by [`EndpointHint`] number; emptied when full.
const MAX_HINTED: usize = 1 << 16;

/// Turns flows into observations, keeping the small state this needs.
pub struct Interpreter {
    cfg: InterpretConfig,
    dns: DnsCache,
    conns: ConnTracker,
    endpoints: FxHashMap<u64, (Vec<String>, String, u32, Arc<Classified>)>,
    /// The classification of a hinted endpoint, by its number.
    hinted: FxHashMap<u64, Arc<Classified>>,
    parked: Parked,
    /// Workload identity last seen per pod address, to repair proxy flows.
    pod_ips: FxHashMap<IpAddr, Arc<Classified>>,
    pub stats: InterpretStats,
}

impl Interpreter {
    pub fn new(cfg: InterpretConfig) -> Interpreter {
        let conns = ConnTracker::new(cfg.conn_window_ns);
        Interpreter {
            cfg,
            dns: DnsCache::default(),
            conns,
            endpoints: FxHashMap::default(),
            hinted: FxHashMap::default(),
            parked: Parked::default(),
            pod_ips: FxHashMap::default(),
            stats: InterpretStats::default(),
        }
    }

    /// Interprets one flow; `None` (with the reason counted) when it teaches nothing.
    pub fn interpret<'f>(&mut self, f: &'f flow::Flow) -> Option<Observation<'f>> {
        self.interpret_hinted(f, EndpointHint::default())
    }

    /// [`Interpreter::interpret`], with the decoder's numbers for the
    /// flow's endpoints (the same observation, found faster).
    pub fn interpret_hinted<'f>(
        &mut self,
        f: &'f flow::Flow,
        hint: EndpointHint,
    ) -> Option<Observation<'f>> {
        self.stats.flows += 1;
        self.dns.learn(f);
        match self.observe(f, hint) {
            Ok(o) => {
                self.stats.observations += 1;
                match o.verdict {
                    VerdictClass::Dropped => self.stats.dropped += 1,
                    VerdictClass::Audit => self.stats.audit += 1,
                    VerdictClass::Allowed => {}
                }
                Some(o)
            }
            Err(reason) => {
                *self.stats.skipped.entry(reason).or_default() += 1;
                None
            }
        }
    }

    fn observe<'f>(
        &mut self,
        f: &'f flow::Flow,
        hint: EndpointHint,
    ) -> Result<Observation<'f>, SkipReason> {
        let verdict = verdict_class(f)?;
        let l4 = direction::l4_of(f).ok_or(SkipReason::NoL4)?;
        let icmp = l4
            .proto
            .is_icmp()
            .then(|| direction::icmp_orientation(l4.proto, l4.dst_port));
        if icmp.is_some_and(|(o, _)| o == Orientation::Related) {
            return Err(SkipReason::IcmpRelated);
        }
        let (src_ip, dst_ip) = ips(f);
        self.dns.remember(&f.destination_names, dst_ip);
        self.dns.remember(&f.source_names, src_ip);
        let src = self.endpoint(f.source.as_ref(), src_ip, hint.0[0])?;
        let dst = self.endpoint(f.destination.as_ref(), dst_ip, hint.0[1])?;
        if matches!(src.kind, EndpointKind::Unknown) || matches!(dst.kind, EndpointKind::Unknown) {
            return Err(SkipReason::UnknownPeer);
        }
        if !matches!(src.kind, EndpointKind::Workload(_))
            && !matches!(dst.kind, EndpointKind::Workload(_))
        {
            return Err(SkipReason::NoWorkload);
        }
        if icmp.is_none() && l4.src_port == 0 && l4.dst_port == 0 {
            return Err(SkipReason::NoPort);
        }
        let time_ns = time_ns(f);
        let (orientation, basis) = match icmp {
            Some((o, _)) => (o, Basis::Icmp),
            None => self.decide(f, &l4, &src, &dst, (src_ip, dst_ip), time_ns)?,
        };
        let port = PortKey {
            proto: l4.proto,
            port: match icmp {
                Some((_, ty)) => ty,
                None => direction::responder_port(orientation, &l4),
            },
        };
        if port.port == 0 && !l4.proto.is_icmp() {
            return Err(SkipReason::NoPort);
        }
        match self.stats.basis.get_mut(basis.as_str()) {
            Some(n) => *n += 1,
            None => {
                self.stats.basis.insert(basis.as_str().to_string(), 1);
            }
        }
        let reverse = orientation == Orientation::Reverse;
        if reverse {
            self.stats.replies_inverted += 1;
        }
        // World initiators are named by address only: ingress rules cannot
        // use DNS names, and a source name says nothing about who may connect.
        let (initiator, responder, i_ip, r_ip, i_port) = if reverse {
            let responder = self.resolve(&src, src_ip, Some(&f.source_names));
            (
                self.resolve(&dst, dst_ip, None),
                responder,
                dst_ip,
                src_ip,
                l4.dst_port,
            )
        } else {
            let responder = self.resolve(&dst, dst_ip, Some(&f.destination_names));
            (
                self.resolve(&src, src_ip, None),
                responder,
                src_ip,
                dst_ip,
                l4.src_port,
            )
        };
        let new_connection = match (i_ip, r_ip) {
            (Some(i), Some(r)) => {
                if let Some((edge, pair, n)) = self.parked.take(
                    (i, i_port),
                    (r, port.port),
                    port.proto,
                    time_ns,
                    self.cfg.conn_window_ns,
                ) {
                    self.stats.undecided.resolve(&edge, pair, n);
                    self.stats.undecided_resolved += n;
                    if let Some(c) = self.stats.skipped.get_mut(&SkipReason::Undecided) {
                        *c = c.saturating_sub(n);
                        if *c == 0 {
                            self.stats.skipped.remove(&SkipReason::Undecided);
                        }
                    }
                }
                self.conns.observe(
                    ConnKey {
                        initiator: i,
                        initiator_port: i_port,
                        responder: r,
                        responder_port: port.port,
                        proto: port.proto,
                    },
                    time_ns,
                )
            }
            // No addresses to track the connection by: a SYN opens one, and
            // so does a flagless TCP flow (minimal JSON), which has no other.
            _ => l4.proto != l4::Proto::Tcp || l4.syn || !l4.ack,
        };
        Ok(Observation {
            flow: f,
            time_ns,
            initiator,
            responder,
            initiator_ip: i_ip,
            responder_ip: r_ip,
            port,
            verdict,
            new_connection,
            basis,
        })
    }

    /// Decides which end of a TCP/UDP/SCTP flow initiated, from the
    /// strongest evidence available (see [`direction`]); an undecided flow
    /// is listed and parked, or guessed when the user opted in.
    fn decide(
        &mut self,
        f: &flow::Flow,
        l4: &direction::L4,
        src: &Classified,
        dst: &Classified,
        (src_ip, dst_ip): (Option<IpAddr>, Option<IpAddr>),
        time_ns: i64,
    ) -> Result<(Orientation, Basis), SkipReason> {
        if let Some(d) = direction::stated(f, l4) {
            return Ok(d);
        }
        if let (Some(s), Some(d)) = (src_ip, dst_ip) {
            let key = |i, ip, r, rp| ConnKey {
                initiator: i,
                initiator_port: ip,
                responder: r,
                responder_port: rp,
                proto: l4.proto,
            };
            let forward = self
                .conns
                .seen(&key(s, l4.src_port, d, l4.dst_port), time_ns);
            let backward = self
                .conns
                .seen(&key(d, l4.dst_port, s, l4.src_port), time_ns);
            match (forward, backward) {
                (true, false) => return Ok((Orientation::Forward, Basis::ConnectionTable)),
                (false, true) => return Ok((Orientation::Reverse, Basis::ConnectionTable)),
                _ => {}
            }
        }
        let is_pod = |c: &Classified| matches!(c.kind, EndpointKind::Workload(_));
        let is_remote = |c: &Classified| {
            matches!(
                c.kind,
                EndpointKind::World
                    | EndpointKind::Entity(
                        Entity::RemoteNode | Entity::KubeApiserver | Entity::World
                    )
            )
        };
        let local: Option<Side> = direction::local_side(
            f,
            is_pod(src),
            is_pod(dst),
            if is_pod(src) {
                is_remote(dst)
            } else {
                is_remote(src)
            },
        );
        if let Some(o) = direction::by_traffic_direction(f, local) {
            return Ok((o, Basis::TrafficDirection));
        }
        let doubt = match direction::by_ports(l4.src_port, l4.dst_port) {
            Ok(o) => return Ok((o, Basis::Ports)),
            Err(d) => d,
        };
        if self.cfg.guess_direction {
            return Ok((direction::guess(l4.src_port, l4.dst_port), Basis::Guess));
        }
        let why = Doubt {
            ports: doubt,
            direction_without_local_side: f.traffic_direction() != flow::TrafficDirection::Unknown,
        };
        let (src_peer, dst_peer) = (
            self.resolve(src, src_ip, None),
            self.resolve(dst, dst_ip, None),
        );
        let listed = self.stats.undecided.add(&Seen {
            src: &src_peer,
            dst: &dst_peer,
            proto: l4.proto,
            src_port: l4.src_port,
            dst_port: l4.dst_port,
            time_ns,
            why,
        });
        if let (Some(listed), Some(s), Some(d)) = (listed, src_ip, dst_ip) {
            self.parked.park(
                (s, l4.src_port),
                (d, l4.dst_port),
                l4.proto,
                listed,
                time_ns,
                self.cfg.conn_window_ns,
            );
        }
        Err(SkipReason::Undecided)
    }

    /// Classifies an endpoint, caching by identity and labels so the labels of
    /// a busy identity are parsed once. Pods the L7 proxy reported as world
    /// (it names the pod but not its identity) get the identity last seen for
    /// their address.
    fn endpoint(
        &mut self,
        ep: Option<&flow::Endpoint>,
        ip: Option<IpAddr>,
        number: Option<u64>,
    ) -> Result<Arc<Classified>, SkipReason> {
        let Some(e) = ep else {
            return Ok(Arc::new(Classified::new(EndpointKind::Unknown)));
        };
        let kind = match number {
            Some(n) => match self.hinted.get(&n) {
                Some(kind) => kind.clone(),
                None => {
                    let kind = self.classify_cached(e);
                    if self.hinted.len() >= MAX_HINTED {
                        self.hinted.clear();
                    }
                    self.hinted.insert(n, kind.clone());
                    kind
                }
            },
            None => self.classify_cached(e),
        };
        match (&kind.kind, ip) {
            (EndpointKind::Workload(_), Some(ip)) => {
                if self.pod_ips.get(&ip).is_none_or(|k| !Arc::ptr_eq(k, &kind)) {
                    self.pod_ips.insert(ip, kind.clone());
                }
                Ok(kind)
            }
            (EndpointKind::World, _) if !e.pod_name.is_empty() => ip
                .and_then(|ip| self.pod_ips.get(&ip).cloned())
                .ok_or(SkipReason::UnresolvedPod),
            _ => Ok(kind),
        }
    }

    fn classify_cached(&mut self, e: &flow::Endpoint) -> Arc<Classified> {
        // The key hashes a few labels, not all (hashing them all was a
        // third of this thread's time); the comparison below decides.
        let mut h = rustc_hash::FxHasher::default();
        e.identity.hash(&mut h);
        e.namespace.hash(&mut h);
        e.labels.len().hash(&mut h);
        e.labels.first().hash(&mut h);
        e.labels.last().hash(&mut h);
        let key = h.finish();
        if let Some((labels, ns, id, kind)) = self.endpoints.get(&key) {
            if *labels == e.labels && *ns == e.namespace && *id == e.identity {
                return kind.clone();
            }
        }
        let kind = Arc::new(Classified::new(peer::classify_endpoint(Some(e))));
        self.endpoints.insert(
            key,
            (
                e.labels.clone(),
                e.namespace.clone(),
                e.identity,
                kind.clone(),
            ),
        );
        kind
    }

    fn resolve(&self, c: &Classified, ip: Option<IpAddr>, names: Option<&[String]>) -> Arc<Peer> {
        if let Some(peer) = &c.peer {
            return peer.clone();
        }
        Arc::new(match &c.kind {
            EndpointKind::Workload(_) | EndpointKind::Entity(_) => {
                unreachable!("workload and entity peers are built once, when classified")
            }
            EndpointKind::World => match names {
                // Responders: named when possible, never grouped (grouping
                // destinations would open egress to a whole prefix).
                Some(flow_names) => {
                    let names = self.dns.names_for(flow_names, ip);
                    peer::world_peer(ip, &names, &[])
                }
                // Initiators (clients): grouped into --cidr-group prefixes.
                None => peer::world_peer(ip, &[], &self.cfg.cidr_groups),
            },
            EndpointKind::Unknown => unreachable!("unknown peers are skipped before resolution"),
        })
    }

    /// Addresses this interpreter has names for.
    pub fn named_addresses(&self) -> usize {
        self.dns.len()
    }

    /// Connections currently tracked for deduplication.
    pub fn tracked_connections(&self) -> usize {
        self.conns.tracked()
    }
}

/// Maps Hubble's verdict to what learning does with it.
pub fn verdict_class(f: &flow::Flow) -> Result<VerdictClass, SkipReason> {
    use flow::Verdict;
    if f.r#type() == flow::FlowType::Sock {
        return Err(SkipReason::NotAPacket);
    }
    match Verdict::try_from(f.verdict) {
        Ok(Verdict::Forwarded | Verdict::Redirected | Verdict::Traced) => Ok(VerdictClass::Allowed),
        // Field-masked exporters may drop the verdict: such a flow was delivered.
        Ok(Verdict::Unknown) => Ok(VerdictClass::Allowed),
        Ok(Verdict::Audit) => Ok(VerdictClass::Audit),
        Ok(Verdict::Dropped) => Ok(VerdictClass::Dropped),
        Ok(Verdict::Translated) => Err(SkipReason::NotAPacket),
        Ok(Verdict::Error) | Err(_) => Err(SkipReason::ErrorVerdict),
    }
}

fn ips(f: &flow::Flow) -> (Option<IpAddr>, Option<IpAddr>) {
    match &f.ip {
        Some(ip) => (ip.source.parse().ok(), ip.destination.parse().ok()),
        None => (None, None),
    }
}

/// Flow time in ns since the epoch, 0 when absent.
pub fn time_ns(f: &flow::Flow) -> i64 {
    f.time
        .as_ref()
        .map(|t| {
            t.seconds
                .saturating_mul(1_000_000_000)
                .saturating_add(i64::from(t.nanos))
        })
        .unwrap_or(0)
}
