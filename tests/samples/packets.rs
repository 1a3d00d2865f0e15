//! Packet builders for the sample generator: peers (pods, the node's host,
//! world addresses), TCP sessions and UDP exchanges as Hubble trace events at
//! each observing node, DNS lookups through the DNS proxy and HTTP through
//! the L7 proxy, on a deterministic clock.

use flowpolicy::proto::flow::{
    layer4::Protocol, layer7::Record, CiliumEventType, Dns, Endpoint, Flow, FlowType, Http,
    HttpHeader, Ip, IpVersion, L7FlowType, Layer4, Layer7, Tcp, TcpFlags, TraceObservationPoint,
    TrafficDirection, Udp, Verdict, Workload,
};
use flowpolicy::proto::observer::{get_flows_response::ResponseTypes, GetFlowsResponse};
use pbjson_types::{BoolValue, Timestamp};

/// 2026-11-01T10:00:00Z: time zero of every sample file.
const T0: i64 = 1_793_527_200;
const US: i64 = 1_000;
const MS: i64 = 1_000_000;
pub const NODES: [&str; 2] = ["node-a", "node-b"];
const NODE_IPS: [&str; 2] = ["10.10.0.11", "10.10.0.12"];
const CLUSTER: &str = "sample";

/// A pod: one workload (`app` label, Deployment of that name) on a node.
pub struct Pod {
    pub ns: &'static str,
    pub app: &'static str,
    pub version: &'static str,
    pub name: &'static str,
    pub ip: &'static str,
    pub node: usize,
    pub id: u32,
    pub identity: u32,
}

/// One end of a connection.
#[derive(Clone, Copy)]
pub enum Peer<'p> {
    Pod(&'p Pod),
    /// The node itself (kubelet probes), by node index.
    Host(usize),
    World(&'static str),
}

impl Peer<'_> {
    fn ip(&self) -> &'static str {
        match self {
            Peer::Pod(p) => p.ip,
            Peer::Host(n) => NODE_IPS[*n],
            Peer::World(ip) => ip,
        }
    }

    fn node(&self) -> Option<usize> {
        match self {
            Peer::Pod(p) => Some(p.node),
            Peer::Host(n) => Some(*n),
            Peer::World(_) => None,
        }
    }

    fn endpoint(&self) -> Endpoint {
        match self {
            Peer::Pod(p) => {
                let mut labels = vec![
                    format!("k8s:app={}", p.app),
                    format!(
                        "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={}",
                        p.ns
                    ),
                    format!("k8s:io.cilium.k8s.policy.cluster={CLUSTER}"),
                    format!("k8s:io.cilium.k8s.policy.serviceaccount={}", p.app),
                    format!("k8s:io.kubernetes.pod.namespace={}", p.ns),
                ];
                if !p.version.is_empty() {
                    labels.push(format!("k8s:version={}", p.version));
                }
                labels.sort();
                Endpoint {
                    id: p.id,
                    identity: p.identity,
                    cluster_name: CLUSTER.into(),
                    namespace: p.ns.into(),
                    labels,
                    pod_name: p.name.into(),
                    workloads: vec![Workload {
                        name: p.app.into(),
                        kind: "Deployment".into(),
                    }],
                }
            }
            Peer::Host(_) => reserved(1, "reserved:host"),
            Peer::World(_) => reserved(2, "reserved:world"),
        }
    }
}

fn reserved(identity: u32, label: &str) -> Endpoint {
    Endpoint {
        identity,
        labels: vec![label.into()],
        ..Endpoint::default()
    }
}

/// A connection: client, server, ports, and the DNS names of the server.
pub struct Conn<'p> {
    pub client: Peer<'p>,
    pub server: Peer<'p>,
    pub sport: u32,
    pub dport: u32,
    pub udp: bool,
    pub names: Vec<String>,
}

/// Which end an observing node is on.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Client,
    Server,
}

fn flags(spec: &str) -> TcpFlags {
    TcpFlags {
        syn: spec.contains('S'),
        ack: spec.contains('A'),
        psh: spec.contains('P'),
        fin: spec.contains('F'),
        ..TcpFlags::default()
    }
}

fn summary(f: &TcpFlags) -> String {
    let set = [
        (f.syn, "SYN"),
        (f.ack, "ACK"),
        (f.psh, "PSH"),
        (f.fin, "FIN"),
    ];
    let names: Vec<&str> = set.iter().filter(|s| s.0).map(|s| s.1).collect();
    format!("TCP Flags: {}", names.join(", "))
}

fn point_sub_type(point: TraceObservationPoint) -> i32 {
    match point {
        TraceObservationPoint::ToProxy => 1,
        TraceObservationPoint::ToStack => 3,
        _ => 0,
    }
}

/// Flows on a clock, with a splitmix64 PRNG: the same seed, the same file.
pub struct Gen {
    now: i64,
    rng: u64,
    out: Vec<(i64, GetFlowsResponse)>,
}

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen {
            now: 0,
            rng: seed,
            out: Vec::new(),
        }
    }

    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo) as u64) as i64
    }

    /// Moves the clock on by `lo..hi` milliseconds.
    pub fn wait_ms(&mut self, lo: i64, hi: i64) {
        self.now += self.range(lo * MS, hi * MS);
    }

    /// An ephemeral client port.
    pub fn sport(&mut self) -> u32 {
        self.range(32768, 61000) as u32
    }

    pub fn len(&self) -> usize {
        self.out.len()
    }

    fn push(&mut self, at: i64, flow: Flow) {
        let node_name = flow.node_name.clone();
        let resp = GetFlowsResponse {
            response_types: Some(ResponseTypes::Flow(flow)),
            node_name,
            time: None,
        };
        self.out.push((at, resp));
    }

    /// The responses in time order (ties keep emission order, then get
    /// distinct nanoseconds), at most `limit` of them, times filled in.
    pub fn finish(mut self, limit: usize) -> Vec<GetFlowsResponse> {
        self.out.sort_by_key(|(at, _)| *at);
        self.out.truncate(limit);
        let mut last = -1;
        self.out
            .into_iter()
            .map(|(at, mut resp)| {
                let at = at.max(last + 1);
                last = at;
                let ts = Timestamp {
                    seconds: T0 + at / 1_000_000_000,
                    nanos: (at % 1_000_000_000) as i32,
                };
                if let Some(ResponseTypes::Flow(f)) = &mut resp.response_types {
                    f.time = Some(ts);
                }
                resp.time = Some(ts);
                resp
            })
            .collect()
    }

    /// The skeleton of one packet of `conn` (`reply`: sent by the server)
    /// as the agent on `node` reports it.
    fn packet(&self, conn: &Conn, reply: bool, node: usize, l4: Protocol) -> Flow {
        let (from, to) = if reply {
            (conn.server, conn.client)
        } else {
            (conn.client, conn.server)
        };
        let mut flow = Flow {
            verdict: Verdict::Forwarded as i32,
            ip: Some(Ip {
                source: from.ip().into(),
                destination: to.ip().into(),
                ip_version: IpVersion::IPv4 as i32,
                ..Ip::default()
            }),
            l4: Some(Layer4 { protocol: Some(l4) }),
            source: Some(from.endpoint()),
            destination: Some(to.endpoint()),
            r#type: FlowType::L3L4 as i32,
            node_name: NODES[node].into(),
            is_reply: Some(BoolValue { value: reply }),
            ..Flow::default()
        };
        if reply {
            flow.source_names = conn.names.clone();
        } else {
            flow.destination_names = conn.names.clone();
        }
        flow
    }

    fn l4(conn: &Conn, reply: bool, flags: Option<TcpFlags>) -> Protocol {
        let (source_port, destination_port) = if reply {
            (conn.dport, conn.sport)
        } else {
            (conn.sport, conn.dport)
        };
        if conn.udp {
            Protocol::Udp(Udp {
                source_port,
                destination_port,
            })
        } else {
            Protocol::Tcp(Tcp {
                source_port,
                destination_port,
                flags,
            })
        }
    }

    /// The nodes that report a packet of `conn`: the client's and the
    /// server's, once when both are the same node.
    fn observers(conn: &Conn) -> Vec<(usize, Side)> {
        let mut v = Vec::new();
        if let (Peer::Pod(_), Some(n)) = (conn.client, conn.client.node()) {
            v.push((n, Side::Client));
        }
        if let (Peer::Pod(_), Some(n)) = (conn.server, conn.server.node()) {
            if v.iter().all(|(m, _)| *m != n) {
                v.push((n, Side::Server));
            }
        }
        v
    }

    /// One packet, as a trace event at every observing node.
    fn emit(&mut self, conn: &Conn, reply: bool, flags: Option<TcpFlags>) {
        let same_node = conn.client.node() == conn.server.node();
        for (node, side) in Self::observers(conn) {
            let point = match (side, reply) {
                (Side::Client, false) if same_node => TraceObservationPoint::ToEndpoint,
                (Side::Client, false) | (Side::Server, true) => TraceObservationPoint::ToStack,
                _ => TraceObservationPoint::ToEndpoint,
            };
            let late = matches!((side, reply), (Side::Server, false) | (Side::Client, true));
            let at = self.now
                + if late {
                    self.range(30 * US, 90 * US)
                } else {
                    0
                };
            let mut flow = self.packet(conn, reply, node, Self::l4(conn, reply, flags));
            flow.traffic_direction = match side {
                Side::Client => TrafficDirection::Egress,
                Side::Server => TrafficDirection::Ingress,
            } as i32;
            flow.trace_observation_point = point as i32;
            flow.event_type = Some(CiliumEventType {
                r#type: 4,
                sub_type: point_sub_type(point),
            });
            flow.summary = flags.as_ref().map_or("UDP".into(), summary);
            self.push(at, flow);
        }
    }

    /// A whole TCP connection: handshake, one request and its response,
    /// FIN both ways. The server answers in `work_ms` milliseconds.
    pub fn tcp_session(&mut self, conn: &Conn, work_ms: (i64, i64)) {
        self.tcp_session_with(conn, |g, _| g.wait_ms(work_ms.0, work_ms.1));
    }

    /// An L7 record of `conn` from the proxy on the `proxy` side's node:
    /// egress (client side, e.g. DNS) or ingress (server side, e.g. HTTP).
    fn l7(&mut self, conn: &Conn, reply: bool, proxy: Side, l7: Layer7, text: String) {
        let (peer, direction) = match proxy {
            Side::Client => (conn.client, TrafficDirection::Egress),
            Side::Server => (conn.server, TrafficDirection::Ingress),
        };
        let node = peer.node().expect("a proxy runs on a node");
        let mut flow = self.packet(conn, reply, node, Self::l4(conn, reply, None));
        flow.r#type = FlowType::L7 as i32;
        flow.event_type = Some(CiliumEventType {
            r#type: 129,
            sub_type: 0,
        });
        flow.traffic_direction = direction as i32;
        flow.l7 = Some(l7);
        flow.summary = text;
        let at = self.now;
        self.push(at, flow);
    }

    /// A DNS lookup through the DNS proxy: the REDIRECTED policy verdict, the
    /// query to the proxy, the L7 query and answer, and the UDP exchange the
    /// proxy makes (reported at the DNS server's node too). `ips` empty means
    /// NXDOMAIN.
    pub fn dns_lookup(&mut self, client: &Pod, server: &Pod, name: &str, ips: &[&str]) {
        let conn = Conn {
            client: Peer::Pod(client),
            server: Peer::Pod(server),
            sport: self.sport(),
            dport: 53,
            udp: true,
            names: Vec::new(),
        };
        let mut verdict = self.packet(&conn, false, client.node, Self::l4(&conn, false, None));
        verdict.verdict = Verdict::Redirected as i32;
        verdict.event_type = Some(CiliumEventType {
            r#type: 5,
            sub_type: 0,
        });
        verdict.traffic_direction = TrafficDirection::Egress as i32;
        verdict.policy_match_type = 2;
        verdict.summary = "UDP".into();
        let at = self.now;
        self.push(at, verdict.clone());
        self.now += self.range(5 * US, 20 * US);
        let mut to_proxy = verdict;
        to_proxy.verdict = Verdict::Forwarded as i32;
        to_proxy.event_type = Some(CiliumEventType {
            r#type: 4,
            sub_type: 1,
        });
        to_proxy.policy_match_type = 0;
        to_proxy.trace_observation_point = TraceObservationPoint::ToProxy as i32;
        let at = self.now;
        self.push(at, to_proxy);
        self.now += self.range(50 * US, 150 * US);
        let query = format!("{name}.");
        let request = Dns {
            query: query.clone(),
            observation_source: "proxy".into(),
            qtypes: vec!["A".into()],
            ..Dns::default()
        };
        let l7 = Layer7 {
            r#type: L7FlowType::Request as i32,
            latency_ns: 0,
            record: Some(Record::Dns(request)),
        };
        self.l7(
            &conn,
            false,
            Side::Client,
            l7,
            format!("DNS Query {query} A"),
        );
        self.emit(&conn, false, None);
        let latency = self.range(300 * US, 2 * MS);
        self.now += latency;
        self.emit(&conn, true, None);
        self.now += self.range(20 * US, 80 * US);
        let rcode = if ips.is_empty() { 3 } else { 0 };
        let answer = Dns {
            query: query.clone(),
            ips: ips.iter().map(|s| s.to_string()).collect(),
            ttl: 30,
            observation_source: "proxy".into(),
            rcode,
            qtypes: vec!["A".into()],
            rrtypes: if ips.is_empty() {
                vec![]
            } else {
                vec!["A".into()]
            },
            ..Dns::default()
        };
        let text = if ips.is_empty() {
            format!("DNS Answer RCode: Non-Existent Domain TTL: 30 (Proxy {query} A)")
        } else {
            let quoted: Vec<String> = ips.iter().map(|ip| format!("\"{ip}\"")).collect();
            format!("DNS Answer {} TTL: 30 (Proxy {query} A)", quoted.join(","))
        };
        let l7 = Layer7 {
            r#type: L7FlowType::Response as i32,
            latency_ns: latency as u64,
            record: Some(Record::Dns(answer)),
        };
        self.l7(&conn, true, Side::Client, l7, text);
        self.now += self.range(200 * US, 900 * US);
    }

    /// An HTTP/1.1 exchange through the server's ingress L7 proxy: the TCP
    /// session plus the L7 request and response records.
    pub fn http(&mut self, conn: &Conn, method: &str, url: &str, code: u32) {
        self.tcp_session_with(conn, |g, latency| {
            let http = |code| Http {
                code,
                method: method.into(),
                url: url.into(),
                protocol: "HTTP/1.1".into(),
                headers: vec![HttpHeader {
                    key: "User-Agent".into(),
                    value: "sample/1.0".into(),
                }],
            };
            let req = Layer7 {
                r#type: L7FlowType::Request as i32,
                latency_ns: 0,
                record: Some(Record::Http(http(0))),
            };
            g.l7(
                conn,
                false,
                Side::Server,
                req,
                format!("HTTP/1.1 {method} {url}"),
            );
            g.now += latency;
            let resp = Layer7 {
                r#type: L7FlowType::Response as i32,
                latency_ns: latency as u64,
                record: Some(Record::Http(http(code))),
            };
            let text = format!("HTTP/1.1 {code} {}ms ({method} {url})", latency / MS);
            g.l7(conn, true, Side::Server, resp, text);
        });
    }

    /// A TCP session whose server work is done by `work(gen, latency)`.
    fn tcp_session_with(&mut self, conn: &Conn, work: impl FnOnce(&mut Gen, i64)) {
        for (reply, spec) in [(false, "S"), (true, "SA"), (false, "A"), (false, "PA")] {
            self.emit(conn, reply, Some(flags(spec)));
            self.now += self.range(150 * US, 600 * US);
        }
        let latency = self.range(2 * MS, 40 * MS);
        work(self, latency);
        for (reply, spec) in [(true, "PA"), (false, "FA"), (true, "FA"), (false, "A")] {
            self.emit(conn, reply, Some(flags(spec)));
            self.now += self.range(150 * US, 600 * US);
        }
    }
}
