//! The self-check behind flowpolicy's one promise: every port the output
//! opens for a workload is one that some connection *initiated toward* that
//! workload (ingress) or *by* it (egress).
//!
//! - Generated connections (proptest): TCP and UDP connections between pods,
//!   the host (identity 1, also `reserved:kube-apiserver`), a remote
//!   control-plane node and world addresses; every packet of both directions
//!   in any order within the window; `is_reply`, flags, `traffic_direction`,
//!   endpoint IDs and the source port each masked at random. The truth is
//!   known, so every learned edge must be a true (initiator → responder,
//!   port), and no policy may name port 0.
//! - The demo fixture and every real dump: the truth is not known, so an
//!   oracle that does not use the interpreter's direction logic bounds it:
//!   a port opened on ingress of W is the destination port of some flow
//!   toward W that is not a known reply, and is not W's own client port in a
//!   connection W is known to have opened; a port opened on egress of W is
//!   one W sent to outside a known reply, and is not the client port of a
//!   connection known to have been opened toward W.

use crate::common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::flowkit::{ident, pod};
use flowpolicy::graph::TrafficGraph;
use flowpolicy::interpret::peer::{classify_endpoint, EndpointKind};
use flowpolicy::interpret::{InterpretConfig, Interpreter};
use flowpolicy::peer::WorkloadKey;
use flowpolicy::proto::flow::{self, layer4::Protocol, Endpoint, Flow};
use flowpolicy::proto::observer::{get_flows_response::ResponseTypes, GetFlowsResponse};
use flowpolicy::render::yaml;
use flowpolicy::synth::{self, SynthConfig};
use proptest::prelude::*;

fn interpret(flows: &[Flow]) -> TrafficGraph {
    let mut g = TrafficGraph::new();
    let mut i = Interpreter::new(InterpretConfig::default());
    for f in flows {
        if let Some(o) = i.interpret(f) {
            g.record(&o);
        }
    }
    g
}

fn assert_no_port_zero(g: &TrafficGraph, what: &str) {
    let set = synth::synthesize(
        g,
        &SynthConfig {
            foundation: true,
            include_dropped: true,
            ..SynthConfig::default()
        },
    );
    let text = yaml::stream(&yaml::documents(&set));
    assert!(
        !text.contains("port: '0'") && !text.contains("port: \"0\""),
        "{what}: a policy names port 0 (every port)"
    );
}

// ---- generated connections --------------------------------------------------

#[derive(Debug, Clone)]
struct Conn {
    client: usize,
    server: usize,
    udp: bool,
    client_port: u16,
    server_port: u16,
}

/// The cast: pods (with an address each), the local host, a remote
/// control-plane node, world addresses.
fn cast() -> Vec<((Endpoint, String), &'static str)> {
    vec![
        (
            pod("shop", &[("app.kubernetes.io/name", "cart")], "10.1.0.5"),
            "shop/cart",
        ),
        (
            pod("shop", &[("app.kubernetes.io/name", "redis")], "10.1.0.9"),
            "shop/redis",
        ),
        (
            pod("pay", &[("app.kubernetes.io/name", "gateway")], "10.1.1.7"),
            "pay/gateway",
        ),
        (
            ident(
                1,
                &["reserved:host", "reserved:kube-apiserver"],
                "192.168.1.10",
            ),
            "entity:host+kube-apiserver",
        ),
        (
            ident(
                7,
                &["reserved:kube-apiserver", "reserved:remote-node"],
                "192.168.1.11",
            ),
            "entity:kube-apiserver",
        ),
        (
            ident(2, &["reserved:world"], "203.0.113.7"),
            "cidr:203.0.113.7/32",
        ),
    ]
}

const PODS: usize = 3;

/// Masks chosen per packet.
#[derive(Debug, Clone, Copy)]
struct Mask {
    is_reply: bool,
    flags: bool,
    direction: bool,
    ids: bool,
    /// Observed on the server's node (else the client's), for pod ↔ pod.
    at_server: bool,
    zero_source_port: bool,
}

fn mask() -> impl Strategy<Value = Mask> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(is_reply, flags, direction, ids, at_server, zero_source_port)| Mask {
                is_reply,
                flags,
                direction,
                ids,
                at_server,
                zero_source_port,
            },
        )
}

fn conn() -> impl Strategy<Value = Conn> {
    // Clients are pods or the outside; servers are anything but the same
    // peer. Client ports follow Linux (ephemeral range), or are low only
    // when the server port is low too: the one premise of the port rule.
    (
        0..6usize,
        0..6usize,
        any::<bool>(),
        prop_oneof![
            Just(53u16),
            Just(443),
            Just(5432),
            Just(6443),
            1u16..32768,
            32768u16..=65535
        ],
        32768u16..61000,
        1024u16..32768,
        prop::bool::weighted(0.2),
    )
        .prop_filter("one end is a pod; not a self-loop", |(c, s, ..)| {
            c != s && (*c < PODS || *s < PODS)
        })
        .prop_map(
            |(client, server, udp, server_port, eph, low, use_low)| Conn {
                client,
                server,
                udp,
                server_port,
                client_port: if use_low && u32::from(server_port) < 32768 {
                    low
                } else {
                    eph
                },
            },
        )
}

/// Every packet of a connection: opener, answer, and more data both ways.
fn packets(c: &Conn, masks: &[Mask], t: i64) -> Vec<Flow> {
    let cast = cast();
    let (client, server) = (&cast[c.client].0, &cast[c.server].0);
    let script: &[(bool, bool, bool)] = if c.udp {
        // (from client, is reply, SYN)
        &[
            (true, false, false),
            (false, true, false),
            (true, false, false),
            (false, true, false),
        ]
    } else {
        &[
            (true, false, true),
            (false, true, true),
            (true, false, false),
            (false, true, false),
        ]
    };
    script
        .iter()
        .zip(masks)
        .map(|(&(from_client, reply, syn), m)| {
            let (src, dst) = if from_client {
                (client, server)
            } else {
                (server, client)
            };
            let (sp, dp) = if from_client {
                (c.client_port, c.server_port)
            } else {
                (c.server_port, c.client_port)
            };
            let sp = if m.zero_source_port && !reply { 0 } else { sp };
            let mut f = Flow {
                time: Some(pbjson_types::Timestamp {
                    seconds: 1_700_000_000 + t,
                    nanos: 0,
                }),
                verdict: flow::Verdict::Forwarded as i32,
                ip: Some(flow::Ip {
                    source: src.1.clone(),
                    destination: dst.1.clone(),
                    ip_version: flow::IpVersion::IPv4 as i32,
                    ..Default::default()
                }),
                source: Some(src.0.clone()),
                destination: Some(dst.0.clone()),
                ..Default::default()
            };
            f.l4 = Some(flow::Layer4 {
                protocol: Some(if c.udp {
                    Protocol::Udp(flow::Udp {
                        source_port: u32::from(sp),
                        destination_port: u32::from(dp),
                    })
                } else {
                    Protocol::Tcp(flow::Tcp {
                        source_port: u32::from(sp),
                        destination_port: u32::from(dp),
                        flags: m.flags.then_some(flow::TcpFlags {
                            syn,
                            ack: reply || !syn,
                            ..Default::default()
                        }),
                    })
                }),
            });
            if m.is_reply {
                f.is_reply = Some(pbjson_types::BoolValue { value: reply });
            }
            // Which end is local to the agent that reported the packet.
            let client_pod = c.client < PODS;
            let server_pod = c.server < PODS;
            let local_is_client = match (client_pod, server_pod) {
                (true, true) => !m.at_server,
                (true, false) => true,
                _ => false,
            };
            let src_local = local_is_client == from_client;
            if m.direction {
                let egress = src_local != reply;
                f.traffic_direction = if egress {
                    flow::TrafficDirection::Egress
                } else {
                    flow::TrafficDirection::Ingress
                } as i32;
            }
            if m.ids {
                let local = if src_local {
                    &mut f.source
                } else {
                    &mut f.destination
                };
                if let Some(e) = local.as_mut() {
                    e.id = 42;
                }
            }
            f
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        ..ProptestConfig::default()
    })]

    #[test]
    fn learned_edges_are_true_connections(
        conns in prop::collection::vec(conn(), 1..8),
        masks in prop::collection::vec(prop::collection::vec(mask(), 4), 8),
        order in prop::collection::vec(any::<u32>(), 32),
    ) {
        let mut flows: Vec<(u32, Flow)> = Vec::new();
        let mut truth: HashSet<String> = HashSet::new();
        let cast = cast();
        for (i, c) in conns.iter().enumerate() {
            let proto = if c.udp { "UDP" } else { "TCP" };
            truth.insert(format!("{} -> {} {}/{proto}", cast[c.client].1, cast[c.server].1, c.server_port));
            for (j, f) in packets(c, &masks[i], i as i64).into_iter().enumerate() {
                flows.push((order[(i * 4 + j) % order.len()], f));
            }
        }
        // Any order within the window.
        flows.sort_by_key(|(k, _)| *k);
        let flows: Vec<Flow> = flows.into_iter().map(|(_, f)| f).collect();
        let g = interpret(&flows);
        for (from, to, e) in g.edges_sorted() {
            for p in e.ports.keys() {
                let edge = format!("{from} -> {to} {p}");
                prop_assert!(truth.contains(&edge), "learned {edge}, never initiated; truth {truth:?}");
            }
        }
        assert_no_port_zero(&g, "generated");
    }
}

// ---- real dumps and the demo: an independent oracle -------------------------

/// What a flow shows without any inference: which end it came from, ports,
/// and whether it is *known* to be a reply or an opener.
struct Raw {
    src: Option<WorkloadKey>,
    dst: Option<WorkloadKey>,
    proto: &'static str,
    sport: u16,
    dport: u16,
    known_reply: bool,
    known_opener: bool,
}

fn workload(e: &Option<Endpoint>) -> Option<WorkloadKey> {
    match classify_endpoint(e.as_ref()) {
        EndpointKind::Workload(w) => Some(w),
        _ => None,
    }
}

/// Pod addresses → workload, for L7-proxy flows that name a pod but report
/// it as `reserved:world`.
type PodIps = std::collections::HashMap<String, WorkloadKey>;

fn pod_ips(flows: &[Flow]) -> PodIps {
    let mut m = PodIps::new();
    for f in flows {
        if let Some(ip) = &f.ip {
            if let Some(w) = workload(&f.source) {
                m.insert(ip.source.clone(), w);
            }
            if let Some(w) = workload(&f.destination) {
                m.insert(ip.destination.clone(), w);
            }
        }
    }
    m
}

fn endpoint(e: &Option<Endpoint>, ip: Option<&String>, pods: &PodIps) -> Option<WorkloadKey> {
    workload(e).or_else(|| {
        let named = e.as_ref().is_some_and(|e| !e.pod_name.is_empty());
        named
            .then(|| ip.and_then(|ip| pods.get(ip)).cloned())
            .flatten()
    })
}

fn raw(f: &Flow, pods: &PodIps) -> Option<Raw> {
    let (proto, sport, dport, syn, ack) = match f.l4.as_ref()?.protocol.as_ref()? {
        Protocol::Tcp(t) => {
            let fl = t.flags.unwrap_or_default();
            ("TCP", t.source_port, t.destination_port, fl.syn, fl.ack)
        }
        Protocol::Udp(u) => ("UDP", u.source_port, u.destination_port, false, false),
        Protocol::Sctp(s) => ("SCTP", s.source_port, s.destination_port, false, false),
        _ => return None,
    };
    let is_reply = f.is_reply.map(|r| r.value);
    let l7 = f.l7.as_ref().map(|l| l.r#type);
    let ip = f.ip.as_ref();
    Some(Raw {
        src: endpoint(&f.source, ip.map(|i| &i.source), pods),
        dst: endpoint(&f.destination, ip.map(|i| &i.destination), pods),
        proto,
        sport: u16::try_from(sport).ok()?,
        dport: u16::try_from(dport).ok()?,
        known_reply: is_reply == Some(true)
            || f.reply
            || (syn && ack)
            || l7 == Some(flow::L7FlowType::Response as i32),
        known_opener: is_reply == Some(false)
            || (syn && !ack)
            || l7 == Some(flow::L7FlowType::Request as i32),
    })
}

type Key = (WorkloadKey, &'static str, u16);

#[derive(Default)]
struct Oracle {
    /// (W, proto, port): some flow toward W on that port, not a known reply.
    toward: HashSet<Key>,
    /// (W, proto, port): some flow from W on that port, not a known reply.
    from: HashSet<Key>,
    /// W's client ports of connections W is known to have opened.
    client_ports: HashSet<Key>,
    /// Client ports of connections known to have been opened toward W.
    clients_of: HashSet<Key>,
}

impl Oracle {
    fn see(&mut self, r: &Raw) {
        if !r.known_reply {
            if let Some(w) = &r.dst {
                self.toward.insert((w.clone(), r.proto, r.dport));
            }
            if let Some(w) = &r.src {
                self.from.insert((w.clone(), r.proto, r.dport));
            }
        } else {
            // A known reply still proves the reverse opening.
            if let Some(w) = &r.src {
                self.toward.insert((w.clone(), r.proto, r.sport));
            }
            if let Some(w) = &r.dst {
                self.from.insert((w.clone(), r.proto, r.sport));
            }
        }
        if r.known_opener {
            if let Some(w) = &r.src {
                self.client_ports.insert((w.clone(), r.proto, r.sport));
            }
            if let Some(w) = &r.dst {
                self.clients_of.insert((w.clone(), r.proto, r.sport));
            }
        }
    }
}

fn flows_of(path: &Path) -> Vec<Flow> {
    let file = std::fs::File::open(path).unwrap();
    let reader: Box<dyn BufRead> = if path.extension().is_some_and(|e| e == "zst") {
        Box::new(BufReader::new(
            zstd::stream::read::Decoder::new(file).unwrap(),
        ))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut out = Vec::new();
    for line in reader.lines() {
        let line = line.unwrap();
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        // Wrapped (`{"flow":…}`) or bare flow lines.
        if v.get("flow").is_some() {
            let r: GetFlowsResponse = serde_json::from_value(v).unwrap();
            if let Some(ResponseTypes::Flow(f)) = r.response_types {
                out.push(f);
            }
        } else if v.get("lost_events").is_none() && v.get("node_status").is_none() {
            out.push(serde_json::from_value(v).unwrap());
        }
    }
    out
}

/// Checks one capture; returns (edge ports checked, flows).
fn check_capture(path: &Path) -> (usize, usize) {
    let flows = flows_of(path);
    let mut oracle = Oracle::default();
    let pods = pod_ips(&flows);
    for f in &flows {
        if let Some(r) = raw(f, &pods) {
            oracle.see(&r);
        }
    }
    let g = interpret(&flows);
    let mut checked = 0;
    let name = path.file_name().unwrap().to_string_lossy();
    for (from, to, e) in g.edges_sorted() {
        for p in e.ports.keys().filter(|p| !p.proto.is_icmp()) {
            let proto = p.proto.as_str();
            if let Some(w) = to.as_workload() {
                let k = (w.clone(), proto, p.port);
                assert!(
                    oracle.toward.contains(&k) && !oracle.client_ports.contains(&k),
                    "{name}: ingress {from} -> {to} {p} opens a port no connection was initiated toward"
                );
                checked += 1;
            }
            if let Some(w) = from.as_workload() {
                let k = (w.clone(), proto, p.port);
                assert!(
                    oracle.from.contains(&k) && !oracle.clients_of.contains(&k),
                    "{name}: egress {from} -> {to} {p} opens a port the workload never initiated to"
                );
                checked += 1;
            }
            assert_ne!(p.port, 0, "{name}: port 0 learned");
        }
    }
    assert_no_port_zero(&g, &name);
    (checked, flows.len())
}

#[test]
fn the_demo_opens_only_initiated_ports() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst");
    let (checked, flows) = check_capture(&demo);
    assert!(
        checked > 400,
        "{checked} edge ports checked over {flows} flows"
    );
    println!("demo: {checked} edge ports checked over {flows} flows");
}

#[test]
fn every_real_dump_opens_only_initiated_ports() {
    let Some(dumps) = common::real_dumps("the self-check on real dumps") else {
        return;
    };
    let mut total = 0;
    for d in &dumps {
        let (checked, flows) = check_capture(d);
        println!(
            "{}: {checked} edge ports checked over {flows} flows",
            d.display()
        );
        total += checked;
    }
    assert!(total > 0);
}

#[test]
fn every_in_repo_sample_opens_only_initiated_ports() {
    let mut total = 0;
    for d in common::sample_dumps() {
        let (checked, flows) = check_capture(&d);
        println!(
            "{}: {checked} edge ports checked over {flows} flows",
            d.display()
        );
        total += checked;
    }
    assert!(total > 0);
}
