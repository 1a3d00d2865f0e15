//! The benchmark's synthetic cluster, written as real agents write it: every
//! field a Cilium 1.19 agent puts in a jsonpb line (uuid, emitter, ethernet,
//! node_labels, interface, event_type, trace_observation_point, trace_reason,
//! workloads, cluster_name, Summary…), in their order, so lines are about 2 KB
//! like the real dumps and the demo fixture. 300 workloads in 20 namespaces
//! on 50 nodes, a fixed set of 2000 edges; TCP connections of three packets
//! and, one connection in ten, a DNS request and answer to kube-dns with its
//! L7 record. Deterministic (splitmix64 from a fixed seed).

use std::fmt::Write as _;

pub const NAMESPACES: usize = 20;
pub const APPS_PER_NS: usize = 15;
pub const EDGES: usize = 2_000;
pub const NODES: usize = 50;
const APPS: usize = NAMESPACES * APPS_PER_NS;

/// splitmix64: a tiny deterministic PRNG.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One workload: its address, node and endpoint JSON with and without `ID`.
struct Pod {
    ip: String,
    node: usize,
    mac: String,
    /// `"ID":…,"identity":…` prefix pieces, then the rest of the object.
    id: u32,
    body: String,
    ifname: String,
}

impl Pod {
    fn new(app: usize) -> Pod {
        let ns = format!("ns-{}", app / APPS_PER_NS);
        let name = format!("app-{app}");
        let tier = ["frontend", "backend", "cache", "db", "worker"][app % 5];
        let labels = [
            format!("k8s:app.kubernetes.io/name={name}"),
            format!("k8s:app.kubernetes.io/component={tier}"),
            format!("k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={ns}"),
            "k8s:io.cilium.k8s.policy.cluster=bench".to_string(),
            format!("k8s:io.cilium.k8s.policy.serviceaccount={name}"),
            format!("k8s:io.kubernetes.pod.namespace={ns}"),
            format!("k8s:version=v{}", 1 + app % 3),
        ];
        let labels: Vec<String> = labels.iter().map(|l| format!("\"{l}\"")).collect();
        let body = format!(
            r#""identity":{},"cluster_name":"bench","namespace":"{ns}","labels":[{}],"pod_name":"{name}-6b746f74dc-{:05x}","workloads":[{{"name":"{name}","kind":"Deployment"}}]}}"#,
            10_000 + app,
            labels.join(","),
            app * 7919 % 0xfffff
        );
        Pod {
            ip: format!("10.{}.{}.{}", 1 + app / 65536, (app / 256) % 256, app % 256),
            node: app % NODES,
            mac: format!("d2:d9:76:{:02x}:{:02x}:90", app / 256, app % 256),
            id: 100 + app as u32 * 13 % 4000,
            body,
            ifname: format!("lxc{:011x}", app * 104_729),
        }
    }

    /// The endpoint object; local endpoints carry their endpoint `ID`.
    fn endpoint(&self, local: bool, out: &mut String) {
        if local {
            let _ = write!(out, r#"{{"ID":{},"#, self.id);
        } else {
            out.push('{');
        }
        out.push_str(&self.body);
    }
}

/// A node's name and its `node_labels` array (the largest part of a line).
fn node(i: usize) -> (String, String) {
    let name = format!("ip-10-0-{}-{}.eu-west-1.compute.internal", i / 16, 10 + i);
    let zone = ["eu-west-1a", "eu-west-1b", "eu-west-1c"][i % 3];
    let labels = [
        "beta.kubernetes.io/instance-type=m6i.2xlarge".to_string(),
        "eks.amazonaws.com/capacityType=ON_DEMAND".to_string(),
        format!("kubernetes.io/hostname={name}"),
        "kubernetes.io/os=linux".to_string(),
        "node.kubernetes.io/instance-type=m6i.2xlarge".to_string(),
        "topology.kubernetes.io/region=eu-west-1".to_string(),
        format!("topology.kubernetes.io/zone={zone}"),
    ];
    let labels: Vec<String> = labels.iter().map(|l| format!("\"{l}\"")).collect();
    (name, labels.join(","))
}

/// Writes the dump's lines, one at a time, to `emit`.
pub struct Generator {
    pods: Vec<Pod>,
    nodes: Vec<(String, String)>,
    edges: Vec<(usize, usize, u32)>,
    dns: usize,
    rng: Rng,
    conn: u64,
    t_ms: i64,
    line: String,
}

impl Generator {
    pub fn new() -> Generator {
        let pods: Vec<Pod> = (0..APPS).map(Pod::new).collect();
        let mut rng = Rng(42);
        let edges = (0..EDGES)
            .map(|_| {
                (
                    rng.below(APPS),
                    rng.below(APPS),
                    [80, 443, 5432, 6379, 8080, 9090][rng.below(6)],
                )
            })
            .collect();
        Generator {
            pods,
            nodes: (0..NODES).map(node).collect(),
            edges,
            dns: 3, // app-3 in ns-0 plays kube-dns
            rng,
            conn: 0,
            t_ms: 0,
            line: String::with_capacity(4096),
        }
    }

    /// Emits the lines of the next connection (3 TCP packets, or a DNS
    /// request and answer); returns how many.
    pub fn connection(&mut self, emit: &mut impl FnMut(&[u8])) -> usize {
        self.conn += 1;
        self.t_ms += 7;
        let sport = 32768 + (self.conn % 28000) as u32;
        if self.conn.is_multiple_of(10) {
            let a = self.rng.below(APPS);
            let q = format!("app-{}.ns-{}.svc.cluster.local.", a, a / APPS_PER_NS);
            for reply in [false, true] {
                self.packet(a, self.dns, sport, 53, Pkt::Dns(&q), reply);
                emit(self.line.as_bytes());
            }
            return 2;
        }
        let (a, b, port) = self.edges[self.rng.below(EDGES)];
        for (flags, reply) in [("SYN", false), ("SYN\":true,\"ACK", true), ("ACK", false)] {
            self.packet(a, b, sport, port, Pkt::Tcp(flags), reply);
            emit(self.line.as_bytes());
        }
        3
    }

    /// One line: a packet of the connection from `a` to `b` (reversed when
    /// `reply`), seen on the node of the end that sends it.
    fn packet(&mut self, a: usize, b: usize, sport: u32, dport: u32, pkt: Pkt, reply: bool) {
        let (src, dst, sp, dp) = if reply {
            (b, a, dport, sport)
        } else {
            (a, b, sport, dport)
        };
        let (s, d) = (&self.pods[src], &self.pods[dst]);
        let (node, node_labels) = &self.nodes[s.node];
        let secs = 1_800_000_000 + self.t_ms / 1000;
        let nanos = (self.t_ms % 1000) * 1_000_000 + (self.conn % 1000) as i64 * 997;
        let time = format_time(secs, nanos);
        let l = &mut self.line;
        l.clear();
        let _ = write!(
            l,
            r#"{{"flow":{{"time":"{time}","uuid":"{:08x}-0c3a-4440-9ecd-{:012x}","emitter":{{"name":"Hubble","version":"1.19.2+g3977f6a1"}},"verdict":"FORWARDED","ethernet":{{"source":"{}","destination":"{}"}},"IP":{{"source":"{}","destination":"{}","ipVersion":"IPv4"}},"l4":"#,
            self.conn as u32,
            self.conn * 3 + reply as u64,
            s.mac,
            d.mac,
            s.ip,
            d.ip
        );
        match pkt {
            Pkt::Tcp(flags) => {
                let _ = write!(
                    l,
                    r#"{{"TCP":{{"source_port":{sp},"destination_port":{dp},"flags":{{"{flags}":true}}}}}}"#
                );
            }
            Pkt::Dns(..) => {
                let _ = write!(
                    l,
                    r#"{{"UDP":{{"source_port":{sp},"destination_port":{dp}}}}}"#
                );
            }
        }
        l.push_str(r#","source":"#);
        s.endpoint(true, l);
        l.push_str(r#","destination":"#);
        d.endpoint(false, l);
        let ty = if matches!(pkt, Pkt::Dns(..)) {
            "L7"
        } else {
            "L3_L4"
        };
        let _ = write!(
            l,
            r#","Type":"{ty}","node_name":"{node}","node_labels":[{node_labels}],"#
        );
        if reply {
            l.push_str(r#""reply":true,"#);
        }
        match pkt {
            Pkt::Tcp(flags) => {
                let _ = write!(
                    l,
                    r#""event_type":{{"type":4}},"traffic_direction":"EGRESS","trace_observation_point":"TO_STACK","trace_reason":"{}","is_reply":{reply},"interface":{{"index":{},"name":"{}"}},"Summary":"TCP Flags: {}"}}"#,
                    if reply { "REPLY" } else { "NEW" },
                    10 + s.node,
                    s.ifname,
                    flags.replace("\":true,\"", ", ")
                );
            }
            Pkt::Dns(q) => {
                if reply {
                    let _ = write!(
                        l,
                        r#""l7":{{"type":"RESPONSE","latency_ns":"{}","dns":{{"query":"{q}","ips":["{}"],"ttl":30,"observation_source":"proxy","rcode":0,"qtypes":["A"],"rrtypes":["A"]}}}},"#,
                        90_000 + self.conn % 1000,
                        self.pods[a].ip
                    );
                } else {
                    let _ = write!(
                        l,
                        r#""l7":{{"type":"REQUEST","dns":{{"query":"{q}","observation_source":"proxy","qtypes":["A"]}}}},"#
                    );
                }
                let _ = write!(
                    l,
                    r#""event_type":{{"type":129}},"traffic_direction":"EGRESS","is_reply":{reply},"Summary":"DNS {} {q} A"}}"#,
                    if reply { "Answer" } else { "Query" }
                );
            }
        }
        let _ = writeln!(l, r#","node_name":"{node}","time":"{time}"}}"#);
    }
}

enum Pkt<'a> {
    /// TCP with the flags object's inside (`SYN":true,"ACK`).
    Tcp(&'a str),
    /// A DNS query (the request, or its answer when the packet is a reply).
    Dns(&'a str),
}

/// RFC 3339 with nanoseconds, as Hubble writes it (2027-01-15T08:00:00.123456789Z).
fn format_time(secs: i64, nanos: i64) -> String {
    chrono::DateTime::from_timestamp(secs, nanos as u32)
        .expect("bench times are in range")
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
