//! A generated multi-node capture for the shard tests (`shards.rs`): pods on
//! four nodes, every flow observed where Cilium observes it. A pod-to-pod
//! connection is seen at the client's node (EGRESS) *and* at the server's
//! node (INGRESS), both on one node when they share it; world clients, the
//! host and remote nodes are seen at the server's node only; pod-to-world at
//! the client's only. Replies carry `is_reply` and the direction of their
//! connection; some UDP flows lose `is_reply` (an exporter field mask); DNS
//! answers come from the client's node (its DNS proxy) and name a world
//! address the client then connects to; a few connections are dropped at the
//! server's ingress; some 5-tuples are reused after the connection window.
//!
//! Deterministic: splitmix64 from a seed, times strictly increasing (two
//! observation points never share a nanosecond, as on real nodes).

use flowpolicy::proto::flow::{
    self, layer4::Protocol, layer7::Record, Dns, Endpoint, Flow, Layer4, Layer7, Tcp, TcpFlags,
    TrafficDirection, Udp,
};

use super::flowkit::{ident, pod};
use crate::mutate::Rng;

pub const NODES: [&str; 4] = ["k8s-a", "k8s-b", "k8s-c", "k8s-d"];

/// An endpoint and the node it runs on (`None`: outside any node's pods).
#[derive(Clone)]
struct Ep {
    ep: (Endpoint, String),
    node: Option<usize>,
}

fn pods(ns: &str, app: &str, nodes: &[usize], net: u8) -> Vec<Ep> {
    nodes
        .iter()
        .enumerate()
        .map(|(i, &n)| Ep {
            ep: pod(ns, &[("app", app)], &format!("10.{net}.{n}.{}", 10 + i)),
            node: Some(n),
        })
        .collect()
}

/// How a connection's packets go.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Tcp,
    Udp,
    /// UDP whose flows lost `is_reply` on the way.
    UdpMasked,
    /// TCP dropped at the server's ingress by policy.
    DroppedAtIngress,
}

struct Gen {
    rng: Rng,
    t: i64,
    sport: u32,
    flows: Vec<Flow>,
}

impl Gen {
    /// The next flow time: strictly increasing, a few ms apart.
    fn tick(&mut self) -> i64 {
        self.t += 1_000_000 + (self.rng.next_u64() % 5_000_000) as i64;
        self.t
    }

    #[allow(clippy::too_many_arguments)]
    fn packet(
        &mut self,
        (src, dst): (&Ep, &Ep),
        (sport, dport): (u32, u32),
        kind: Kind,
        syn: bool,
        ack: bool,
        reply: bool,
        node: usize,
        dir: TrafficDirection,
    ) {
        let t = self.tick();
        let (s, d) = if reply { (dst, src) } else { (src, dst) };
        let (sp, dp) = if reply {
            (dport, sport)
        } else {
            (sport, dport)
        };
        let l4 = match kind {
            Kind::Udp | Kind::UdpMasked => Protocol::Udp(Udp {
                source_port: sp,
                destination_port: dp,
            }),
            Kind::Tcp | Kind::DroppedAtIngress => Protocol::Tcp(Tcp {
                source_port: sp,
                destination_port: dp,
                flags: Some(TcpFlags {
                    syn,
                    ack,
                    ..Default::default()
                }),
            }),
        };
        let dropped = kind == Kind::DroppedAtIngress && dir == TrafficDirection::Ingress;
        let f = Flow {
            time: Some(pbjson_types::Timestamp {
                seconds: t / 1_000_000_000,
                nanos: (t % 1_000_000_000) as i32,
            }),
            verdict: if dropped {
                flow::Verdict::Dropped
            } else {
                flow::Verdict::Forwarded
            } as i32,
            drop_reason_desc: if dropped {
                flow::DropReason::PolicyDenied as i32
            } else {
                0
            },
            ip: Some(flow::Ip {
                source: s.ep.1.clone(),
                destination: d.ep.1.clone(),
                ip_version: flow::IpVersion::IPv4 as i32,
                ..Default::default()
            }),
            source: Some(s.ep.0.clone()),
            destination: Some(d.ep.0.clone()),
            l4: Some(Layer4 { protocol: Some(l4) }),
            r#type: flow::FlowType::L3L4 as i32,
            node_name: NODES[node].to_string(),
            is_reply: (kind != Kind::UdpMasked).then_some(pbjson_types::BoolValue { value: reply }),
            traffic_direction: dir as i32,
            ..Default::default()
        };
        self.flows.push(f);
    }

    /// One connection `client → server:port`, with `packets` request/reply
    /// rounds, observed at every point Cilium observes it.
    fn conn(&mut self, client: &Ep, server: &Ep, port: u32, kind: Kind, packets: usize) {
        self.sport = 32768 + (self.sport - 32768 + 7919) % 28000;
        self.conn_from(client, server, self.sport, port, kind, packets);
    }

    fn conn_from(&mut self, c: &Ep, s: &Ep, sport: u32, port: u32, kind: Kind, packets: usize) {
        let mut points = Vec::new();
        if let Some(n) = c.node {
            points.push((n, TrafficDirection::Egress));
        }
        if let Some(n) = s.node {
            points.push((n, TrafficDirection::Ingress));
        }
        let tcp = matches!(kind, Kind::Tcp | Kind::DroppedAtIngress);
        for round in 0..packets {
            // (syn, ack, reply) of this round's packets.
            let shape: &[(bool, bool, bool)] = match (tcp, round) {
                (true, 0) => &[
                    (true, false, false),
                    (true, true, true),
                    (false, true, false),
                ],
                (true, _) => &[(false, true, false), (false, true, true)],
                (false, _) => &[(false, false, false), (false, false, true)],
            };
            for &(syn, ack, reply) in shape {
                for &(node, dir) in &points {
                    // A dropped SYN never reaches the server: no reply.
                    if kind == Kind::DroppedAtIngress && (reply || round > 0 || !syn) {
                        continue;
                    }
                    self.packet((c, s), (sport, port), kind, syn, ack, reply, node, dir);
                }
            }
        }
    }

    /// A DNS answer for `name` → `ip` at the client's node (its DNS proxy).
    fn dns(&mut self, client: &Ep, resolver: &Ep, name: &str, ip: &str) {
        self.conn(client, resolver, 53, Kind::Udp, 1);
        let mut answer = self.flows.last().unwrap().clone();
        answer.time = Some(pbjson_types::Timestamp {
            seconds: self.tick() / 1_000_000_000,
            nanos: (self.t % 1_000_000_000) as i32,
        });
        answer.node_name = NODES[client.node.unwrap()].to_string();
        answer.traffic_direction = TrafficDirection::Egress as i32;
        answer.r#type = flow::FlowType::L7 as i32;
        answer.l7 = Some(Layer7 {
            r#type: flow::L7FlowType::Response as i32,
            record: Some(Record::Dns(Dns {
                query: format!("{name}."),
                ips: vec![ip.to_string()],
                ttl: 30,
                ..Default::default()
            })),
            ..Default::default()
        });
        // The answer goes resolver → client.
        if answer.source.as_ref() != Some(&resolver.ep.0) {
            let ip4 = answer.ip.as_mut().unwrap();
            std::mem::swap(&mut ip4.source, &mut ip4.destination);
            std::mem::swap(&mut answer.source, &mut answer.destination);
        }
        self.flows.push(answer);
    }
}

/// A capture of `rounds` rounds of traffic (every flow, time-ordered).
pub fn capture(seed: u64, rounds: usize) -> Vec<Flow> {
    let frontend = pods("shop", "frontend", &[0, 1], 1);
    let api = pods("shop", "api", &[1, 2], 1);
    let db = pods("shop", "db", &[2], 1);
    let worker = pods("batch", "worker", &[0, 3], 2);
    let dns = Ep {
        ep: pod("kube-system", &[("k8s-app", "kube-dns")], "10.3.0.53"),
        node: Some(0),
    };
    let outside = |ip: &str| Ep {
        ep: ident(2, &["reserved:world"], ip),
        node: None,
    };
    let hosts: Vec<Ep> = (0..NODES.len())
        .map(|n| Ep {
            ep: ident(1, &["reserved:host"], &format!("192.168.0.{}", 10 + n)),
            node: None,
        })
        .collect();
    let remote = |n: usize| Ep {
        ep: ident(
            6,
            &["reserved:remote-node"],
            &format!("192.168.0.{}", 10 + n),
        ),
        node: None,
    };
    let mut g = Gen {
        rng: Rng::new(seed),
        t: 1_700_000_000_000_000_000,
        sport: 32768,
        flows: Vec::new(),
    };
    for round in 0..rounds {
        let pick = |g: &mut Gen, v: &[Ep]| v[g.rng.below(v.len())].clone();
        let (f, a, d, w) = (
            pick(&mut g, &frontend),
            pick(&mut g, &api),
            db[0].clone(),
            pick(&mut g, &worker),
        );
        let rounds = 1 + g.rng.below(3);
        g.conn(&f, &a, 8080, Kind::Tcp, rounds);
        g.conn(&a, &d, 5432, Kind::Tcp, 2);
        g.dns(&w, &dns, "api.example.com", "203.0.113.10");
        g.conn(&w, &outside("203.0.113.10"), 443, Kind::Tcp, 2);
        g.conn(&outside("198.51.100.7"), &f, 443, Kind::Tcp, 1);
        let n = a.node.unwrap();
        g.conn(&hosts[n], &a, 8080, Kind::Tcp, 1);
        g.conn(&remote((n + 1) % NODES.len()), &a, 9090, Kind::Tcp, 1);
        g.conn(&f, &dns, 53, Kind::UdpMasked, 1);
        if round % 3 == 0 {
            g.conn(&f, &d, 5432, Kind::DroppedAtIngress, 1);
        }
        if round % 4 == 1 {
            // The same 5-tuple again after the connection window: a new one.
            g.t += 130_000_000_000;
            g.conn_from(&w, &a, 40_000, 8080, Kind::Tcp, 1);
        }
    }
    g.flows
}
