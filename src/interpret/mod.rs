//! Interpretation: one Hubble flow → at most one normalized [`Observation`]
//! (who initiated, who answered, protocol and responder port, verdict class,
//! and whether it opens a connection not seen before).
//!
//! Owns every Cilium/Hubble semantic that turns packets into connections:
//! reply inversion ([`direction`]), double-observation dedup ([`conntrack`]),
//! peer classification ([`peer`], cached per endpoint in `endpoints`), DNS
//! name correlation ([`dns`]), and the typed L7 facts and evidence sample of
//! each observation ([`Observation::l7`], [`sample`]), so the graph never
//! reads a raw flow. It knows nothing about YAML or rules.
//!
//! Each flow is interpreted with the memory of its own node's earlier flows
//! (`memory`), and counts its connection only at the connection's counting
//! point ([`conntrack::counting_point`]): per-node shards of a capture add
//! up to exactly the whole capture.

pub mod conntrack;
pub mod direction;
pub mod dns;
mod endpoints;
pub mod http;
mod memory;
mod observation;
pub mod path_template;
pub mod peer;
pub mod sample;
pub mod state;
pub mod undecided;

use std::net::IpAddr;
use std::sync::Arc;

use crate::peer::l4::PortKey;
use crate::peer::{Entity, Peer};
use crate::proto::flow;
use crate::source::event::EndpointHint;
use conntrack::ConnKey;
use direction::{Basis, Orientation, Side};
use endpoints::{Classified, Endpoints};
use memory::Memories;
use peer::EndpointKind;
use undecided::{Doubt, Seen};

pub use observation::{
    time_ns, verdict_class, InterpretConfig, InterpretStats, L7Fact, Observation, SkipReason,
    VerdictClass,
};
pub use state::{InterpretState, NodeState};

/// Turns flows into observations, keeping the small state this needs.
pub struct Interpreter {
    cfg: InterpretConfig,
    /// What each node's earlier flows taught (the current node's at hand).
    memory: Memories,
    endpoints: Endpoints,
    pub stats: InterpretStats,
}

impl Interpreter {
    pub fn new(cfg: InterpretConfig) -> Interpreter {
        Interpreter {
            memory: Memories::new(cfg.conn_window_ns),
            cfg,
            endpoints: Endpoints::default(),
            stats: InterpretStats::default(),
        }
    }

    /// Continues where an earlier interpreter stopped: its memory of earlier
    /// flows ([`Interpreter::state`]) and its counters, so the flows that
    /// follow mean what they would have meant to it.
    pub fn resume(
        cfg: InterpretConfig,
        state: &InterpretState,
        stats: InterpretStats,
    ) -> Interpreter {
        Interpreter {
            memory: Memories::import(cfg.conn_window_ns, state),
            cfg,
            endpoints: Endpoints::default(),
            stats,
        }
    }

    /// The memory of earlier flows that changes what later flows mean (see
    /// [`InterpretState`]).
    pub fn state(&self) -> InterpretState {
        self.memory.export()
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
        self.memory.switch(&f.node_name);
        self.memory.current().dns.learn(f, time_ns(f));
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
        let time_ns = time_ns(f);
        let memory = self.memory.current();
        memory.dns.remember(&f.destination_names, dst_ip, time_ns);
        memory.dns.remember(&f.source_names, src_ip, time_ns);
        let src =
            self.endpoints
                .endpoint(f.source.as_ref(), src_ip, hint.0[0], &mut memory.pods)?;
        let dst =
            self.endpoints
                .endpoint(f.destination.as_ref(), dst_ip, hint.0[1], &mut memory.pods)?;
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
        let initiator_is_pod = matches!(
            if reverse { &dst.kind } else { &src.kind },
            EndpointKind::Workload(_)
        );
        let counting = conntrack::counting_point(f.traffic_direction(), initiator_is_pod);
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
                let memory = self.memory.current();
                if let Some((edge, pair, n)) = memory.parked.take(
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
                memory.conns.observe(
                    ConnKey {
                        initiator: i,
                        initiator_port: i_port,
                        responder: r,
                        responder_port: port.port,
                        proto: port.proto,
                    },
                    time_ns,
                    counting,
                )
            }
            // No addresses to track the connection by: a SYN opens one, and
            // so does a flagless TCP flow (minimal JSON), which has no other.
            _ => counting && (l4.proto != crate::peer::l4::Proto::Tcp || l4.syn || !l4.ack),
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
            let conns = &self.memory.get().conns;
            let forward = conns.seen(&key(s, l4.src_port, d, l4.dst_port), time_ns);
            let backward = conns.seen(&key(d, l4.dst_port, s, l4.src_port), time_ns);
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
                        Entity::RemoteNode
                            | Entity::KubeApiserver
                            | Entity::KubeApiserverWorld
                            | Entity::World
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
            self.memory.current().parked.park(
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
                    let names = self.memory.get().dns.names_for(flow_names, ip);
                    peer::world_peer(ip, &names, &[])
                }
                // Initiators (clients): grouped into --cidr-group prefixes.
                None => peer::world_peer(ip, &[], &self.cfg.cidr_groups),
            },
            EndpointKind::Unknown => unreachable!("unknown peers are skipped before resolution"),
        })
    }
}

fn ips(f: &flow::Flow) -> (Option<IpAddr>, Option<IpAddr>) {
    match &f.ip {
        Some(ip) => (ip.source.parse().ok(), ip.destination.parse().ok()),
        None => (None, None),
    }
}
