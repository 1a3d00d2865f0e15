//! Noise: Relay node-status lines, ring-buffer lost events, socket-LB translation events, and
//! policy drops of an unknown scanner's SYNs.

use std::net::{IpAddr, Ipv4Addr};

use flowpolicy::proto::flow::{
    layer4, CiliumEventType, Flow, FlowType, Ip, IpVersion, Layer4, LostEvent, LostEventSource,
    Service, Tcp, TrafficDirection, Verdict,
};
use flowpolicy::proto::observer::{get_flows_response::ResponseTypes, GetFlowsResponse};
use flowpolicy::proto::relay::{NodeState, NodeStatusEvent};

use super::super::clock::{spread, timestamp, NS_PER_SEC};
use super::super::packets::EVENT_SOCK;
use super::super::peers::Peer;
use super::super::sim::{Conn, Proto, Sim};
use super::super::topology::Topology;
use super::targets::resolve_target;

/// Relay's node status lines: all connected at the start, one node flapping mid-capture.
pub(crate) fn node_status_events(sim: &mut Sim) {
    let names: Vec<String> = sim.cluster.nodes.iter().map(|n| n.name.clone()).collect();
    let event = |state: NodeState, nodes: Vec<String>, message: &str| GetFlowsResponse {
        node_name: String::new(),
        time: None,
        response_types: Some(ResponseTypes::NodeStatus(NodeStatusEvent {
            state_change: state as i32,
            node_names: nodes,
            message: message.to_string(),
        })),
    };
    let push = |sim: &mut Sim, t: u64, e: GetFlowsResponse| {
        let mut e = e;
        e.time = Some(timestamp(t));
        sim.push(t, e);
    };
    push(sim, 0, event(NodeState::NodeConnected, names.clone(), ""));
    let flapping = names[names.len() / 2].clone();
    let down = 2 * 3600 * NS_PER_SEC + 7 * 60 * NS_PER_SEC;
    push(
        sim,
        down,
        event(
            NodeState::NodeUnavailable,
            vec![flapping.clone()],
            "connection error: desc = \"transport: Error while dialing: dial tcp: i/o timeout\"",
        ),
    );
    push(
        sim,
        down + 95 * NS_PER_SEC,
        event(NodeState::NodeConnected, vec![flapping], ""),
    );
}

/// Hubble ring-buffer overflows on two busy nodes.
pub(crate) fn lost_events(sim: &mut Sim) {
    for (i, (hour, lost)) in [(1u64, 1342u64), (4, 87)].into_iter().enumerate() {
        let t = hour * 3600 * NS_PER_SEC + 1_234_567_890;
        let node = sim.cluster.nodes[(i * 3 + 1) % sim.cluster.nodes.len()]
            .name
            .clone();
        sim.push(
            t,
            GetFlowsResponse {
                node_name: node,
                time: Some(timestamp(t)),
                response_types: Some(ResponseTypes::LostEvents(LostEvent {
                    source: LostEventSource::HubbleRingBuffer as i32,
                    num_events_lost: lost,
                    cpu: None,
                    first: Some(timestamp(t - 2 * NS_PER_SEC)),
                    last: Some(timestamp(t)),
                })),
            },
        );
    }
}

/// Socket-LB events (Type SOCK): pre-translation to a ClusterIP (TRACED) and post-translation
/// to the backend pod (TRANSLATED) for a sample of service connections.
pub(crate) fn socket_lb_events(sim: &mut Sim, topo: &Topology) {
    let c = sim.cluster;
    let Some(src) = c
        .pods_where(|p| {
            p.labels.get("app.kubernetes.io/name").map(String::as_str) == Some("cloudflared")
        })
        .first()
        .copied()
    else {
        return;
    };
    let Some(target) = resolve_target(
        c,
        topo,
        "network/envoy-gateway",
        Some("network/envoy-external"),
        Some(443),
    ) else {
        return;
    };
    let vip = c.cluster_ip("network", "envoy-external");
    for t in spread(&mut sim.rng, 12) {
        let backend = *sim.rng.pick(&target.pods);
        let sport = sim.rng.ephemeral_port();
        for (verdict, dst_ip, port, dst) in [
            (Verdict::Traced, vip, 443u32, None),
            (
                Verdict::Translated,
                c.pods[backend].ip,
                u32::from(target.port),
                Some(Peer::Pod(backend)),
            ),
        ] {
            let node = c.pods[src].node;
            let source = sim.endpoint(&Peer::Pod(src), node);
            let destination = dst.map(|d| sim.endpoint(&d, node));
            let flow = Flow {
                verdict: verdict as i32,
                ip: Some(Ip {
                    source: c.pods[src].ip.to_string(),
                    destination: dst_ip.to_string(),
                    ip_version: IpVersion::IPv4 as i32,
                    ..Default::default()
                }),
                l4: Some(Layer4 {
                    protocol: Some(layer4::Protocol::Tcp(Tcp {
                        source_port: sport,
                        destination_port: port,
                        flags: None,
                    })),
                }),
                source: Some(source),
                destination,
                r#type: FlowType::Sock as i32,
                node_name: c.nodes[node].name.clone(),
                event_type: Some(CiliumEventType {
                    r#type: EVENT_SOCK,
                    sub_type: 0,
                }),
                traffic_direction: TrafficDirection::Egress as i32,
                destination_service: Some(Service {
                    name: "envoy-external".into(),
                    namespace: "network".into(),
                }),
                summary: format!("{}:{port}", dst_ip),
                ..Default::default()
            };
            sim.push_flow(t, flow);
        }
    }
}

/// An unknown scanner in the world probing LoadBalancer backends; Dragonfly's existing
/// NetworkPolicy admits only Prometheus on its admin port, so those SYNs are DROPPED.
pub(crate) fn scanner_drops(sim: &mut Sim) {
    let c = sim.cluster;
    let targets = c.pods_where(|p| p.workload == "dragonfly");
    let scanner = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 77));
    for &pod in targets.iter().take(2) {
        let port = c.pods[pod]
            .ports
            .iter()
            .copied()
            .find(|&p| p == 9999)
            .unwrap_or(9999);
        for t in spread(&mut sim.rng, 3) {
            let conn = Conn {
                src: Peer::World(scanner),
                dst: Peer::Pod(pod),
                proto: Proto::Tcp,
                sport: sim.rng.ephemeral_port(),
                dport: u32::from(port),
                v6: false,
                names: vec![],
            };
            sim.dropped_syns(&conn, t, 3);
        }
    }
}
