//! Hand-made flows for tests: endpoints with real Hubble label shapes, TCP
//! connections as SYN / SYN-ACK / ACK packets, UDP and DNS exchanges, and the
//! helpers that run them through interpretation, the graph and synthesis.

pub mod cluster;

use flowpolicy::graph::TrafficGraph;
use flowpolicy::interpret::{InterpretConfig, Interpreter};
use flowpolicy::proto::flow::{
    self, layer4::Protocol, layer7::Record, Dns, Endpoint, Flow, Http, Layer4, Layer7, Tcp,
    TcpFlags, Udp,
};
use flowpolicy::synth::{self, PolicySet, SynthConfig};

/// A pod endpoint: `k8s:` labels plus namespace, service account and cluster.
pub fn pod(ns: &str, labels: &[(&str, &str)], ip: &str) -> (Endpoint, String) {
    let mut l: Vec<String> = labels.iter().map(|(k, v)| format!("k8s:{k}={v}")).collect();
    l.push(format!("k8s:io.kubernetes.pod.namespace={ns}"));
    l.push("k8s:io.cilium.k8s.policy.cluster=default".into());
    l.push(format!(
        "k8s:io.cilium.k8s.policy.serviceaccount={}",
        labels.first().map(|x| x.1).unwrap_or("default")
    ));
    l.sort();
    (
        Endpoint {
            identity: 1000 + (ip.len() as u32),
            namespace: ns.into(),
            labels: l,
            ..Default::default()
        },
        ip.into(),
    )
}

/// A reserved/world endpoint with the given labels and numeric identity.
pub fn ident(identity: u32, labels: &[&str], ip: &str) -> (Endpoint, String) {
    (
        Endpoint {
            identity,
            labels: labels.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
        ip.into(),
    )
}

fn base(src: &(Endpoint, String), dst: &(Endpoint, String), t: i64) -> Flow {
    Flow {
        time: Some(pbjson_types::Timestamp {
            seconds: 1_700_000_000 + t,
            nanos: 0,
        }),
        verdict: flow::Verdict::Forwarded as i32,
        ip: Some(flow::Ip {
            source: src.1.clone(),
            destination: dst.1.clone(),
            ip_version: if src.1.contains(':') {
                flow::IpVersion::IPv6
            } else {
                flow::IpVersion::IPv4
            } as i32,
            ..Default::default()
        }),
        source: Some(src.0.clone()),
        destination: Some(dst.0.clone()),
        r#type: flow::FlowType::L3L4 as i32,
        node_name: "node-1".into(),
        ..Default::default()
    }
}

fn tcp(sp: u32, dp: u32, syn: bool, ack: bool) -> Option<Layer4> {
    Some(Layer4 {
        protocol: Some(Protocol::Tcp(Tcp {
            source_port: sp,
            destination_port: dp,
            flags: Some(TcpFlags {
                syn,
                ack,
                ..Default::default()
            }),
        })),
    })
}

/// One TCP connection: SYN, SYN-ACK (reply), ACK.
pub fn tcp_conn(
    client: &(Endpoint, String),
    server: &(Endpoint, String),
    sport: u32,
    port: u32,
    t: i64,
) -> Vec<Flow> {
    let mut syn = base(client, server, t);
    syn.l4 = tcp(sport, port, true, false);
    syn.is_reply = Some(pbjson_types::BoolValue { value: false });
    syn.traffic_direction = flow::TrafficDirection::Egress as i32;
    let mut synack = base(server, client, t);
    synack.l4 = tcp(port, sport, true, true);
    synack.is_reply = Some(pbjson_types::BoolValue { value: true });
    let mut ack = base(client, server, t);
    ack.l4 = tcp(sport, port, false, true);
    ack.is_reply = Some(pbjson_types::BoolValue { value: false });
    vec![syn, synack, ack]
}

/// An ICMPv4 echo request (type 8) from `src` to `dst`.
pub fn ping(src: &(Endpoint, String), dst: &(Endpoint, String), t: i64) -> Flow {
    let mut f = base(src, dst, t);
    f.l4 = Some(Layer4 {
        protocol: Some(Protocol::IcmPv4(flow::IcmPv4 { r#type: 8, code: 0 })),
    });
    f.is_reply = Some(pbjson_types::BoolValue { value: false });
    f
}

/// A UDP request and its reply.
pub fn udp_exchange(
    client: &(Endpoint, String),
    server: &(Endpoint, String),
    sport: u32,
    port: u32,
    t: i64,
) -> Vec<Flow> {
    let mut req = base(client, server, t);
    req.l4 = Some(Layer4 {
        protocol: Some(Protocol::Udp(Udp {
            source_port: sport,
            destination_port: port,
        })),
    });
    req.is_reply = Some(pbjson_types::BoolValue { value: false });
    let mut rep = base(server, client, t);
    rep.l4 = Some(Layer4 {
        protocol: Some(Protocol::Udp(Udp {
            source_port: port,
            destination_port: sport,
        })),
    });
    rep.is_reply = Some(pbjson_types::BoolValue { value: true });
    vec![req, rep]
}

/// A DNS answer (L7 RESPONSE from the resolver) resolving `name` to `ips`.
pub fn dns_answer(
    client: &(Endpoint, String),
    resolver: &(Endpoint, String),
    name: &str,
    ips: &[&str],
    t: i64,
) -> Flow {
    let mut f = base(resolver, client, t);
    f.l4 = Some(Layer4 {
        protocol: Some(Protocol::Udp(Udp {
            source_port: 53,
            destination_port: 40000,
        })),
    });
    f.is_reply = Some(pbjson_types::BoolValue { value: true });
    f.r#type = flow::FlowType::L7 as i32;
    f.l7 = Some(Layer7 {
        r#type: flow::L7FlowType::Response as i32,
        record: Some(Record::Dns(Dns {
            query: format!("{name}."),
            ips: ips.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })),
        ..Default::default()
    });
    f
}

/// An HTTP request as Hubble records it at the proxy: an L7 REQUEST flow
/// from client to server, the absolute URL the proxy saw.
pub fn http(
    client: &(Endpoint, String),
    server: &(Endpoint, String),
    sport: u32,
    port: u32,
    method: &str,
    url: &str,
) -> Flow {
    let mut f = tcp_conn(client, server, sport, port, 0).remove(2);
    f.r#type = flow::FlowType::L7 as i32;
    f.l7 = Some(Layer7 {
        r#type: flow::L7FlowType::Request as i32,
        record: Some(Record::Http(Http {
            method: method.into(),
            url: url.into(),
            protocol: "HTTP/1.1".into(),
            ..Default::default()
        })),
        ..Default::default()
    });
    f
}

/// Runs flows through interpretation into a graph.
pub fn graph_of(flows: &[Flow]) -> TrafficGraph {
    graph_with(flows, InterpretConfig::default())
}

pub fn graph_with(flows: &[Flow], cfg: InterpretConfig) -> TrafficGraph {
    let mut g = TrafficGraph::new();
    let mut i = Interpreter::new(cfg);
    for f in flows {
        if let Some(o) = i.interpret(f) {
            g.record(&o);
        }
    }
    g
}

/// Default synthesis with foundation rules.
pub fn policies(flows: &[Flow]) -> PolicySet {
    synth::synthesize(
        &graph_of(flows),
        &SynthConfig {
            foundation: true,
            ..SynthConfig::default()
        },
    )
}

/// The namespaced policy for a workload by name.
pub fn cnp<'a>(
    set: &'a PolicySet,
    ns: &str,
    name: &str,
) -> &'a flowpolicy::policy::CiliumNetworkPolicy {
    set.namespaced
        .iter()
        .find(|p| p.metadata.namespace.as_deref() == Some(ns) && p.metadata.name == name)
        .unwrap_or_else(|| {
            let names: Vec<_> = set
                .namespaced
                .iter()
                .map(|p| format!("{:?}/{}", p.metadata.namespace, p.metadata.name))
                .collect();
            panic!("no policy {ns}/{name}; have {names:?}")
        })
}

/// YAML of a value, for readable assertions.
pub fn yaml<T: serde::Serialize>(v: &T) -> String {
    serde_yaml::to_string(v).unwrap()
}

/// Writes flows as a `hubble observe -o jsonpb` dump: one `GetFlowsResponse`
/// per line.
pub fn write_dump(path: &std::path::Path, flows: &[Flow]) {
    use flowpolicy::proto::observer::{get_flows_response::ResponseTypes, GetFlowsResponse};
    let mut text = String::new();
    for f in flows {
        let r = GetFlowsResponse {
            node_name: f.node_name.clone(),
            time: f.time,
            response_types: Some(ResponseTypes::Flow(f.clone())),
        };
        text.push_str(&serde_json::to_string(&r).unwrap());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}
