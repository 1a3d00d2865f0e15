//! Node-host traffic: kubelet probes from `reserved:host`, cilium-health ICMP echo, and the
//! hostNetwork agents other pods reach (cilium agents on 4244, kubelets on 10250).

use flowpolicy::proto::flow::{
    layer4, CiliumEventType, IcmPv4, TraceObservationPoint, TrafficDirection,
};

use super::super::clock::{periodic, spread, DURATION_NS, NS_PER_SEC, NS_PER_US, RTT_CLUSTER};
use super::super::cluster::PodRole;
use super::super::packets::{trace_sub_type, EVENT_TRACE};
use super::super::peers::Peer;
use super::super::sim::{Conn, Proto, Sim};

/// kubelet liveness/readiness probes from `reserved:host` to each container's probe ports.
pub(crate) fn kubelet_probes(sim: &mut Sim) {
    let c = sim.cluster;
    for (i, pod) in c.pods.iter().enumerate() {
        let (from, to) = match pod.role {
            PodRole::Job { start, end } => (start + 5 * NS_PER_SEC, end),
            _ => (0, DURATION_NS),
        };
        for &port in &pod.probe_ports {
            for t in periodic(&mut sim.rng, 20 * 60 * NS_PER_SEC) {
                if t < from || t >= to {
                    continue;
                }
                let conn = Conn {
                    src: Peer::Host(pod.node),
                    dst: Peer::Pod(i),
                    proto: Proto::Tcp,
                    sport: sim.rng.ephemeral_port(),
                    dport: u32::from(port),
                    v6: false,
                    names: vec![],
                };
                sim.tcp_session(&conn, t, 150 * NS_PER_US);
            }
        }
    }
}

/// cilium-health ICMP echo to the local and remote health endpoints, plus gatus ICMP checks.
pub(crate) fn health_checks(sim: &mut Sim) {
    let nodes = sim.cluster.nodes.len();
    for n in 0..nodes {
        for t in periodic(&mut sim.rng, 45 * 60 * NS_PER_SEC) {
            let remote = (n + 1) % nodes;
            for (src, dst) in [
                (Peer::Host(n), Peer::Health(n)),
                (Peer::Host(remote), Peer::Health(n)),
            ] {
                icmp_echo(sim, &src, &dst, n, t);
            }
        }
    }
}

fn icmp_echo(sim: &mut Sim, src: &Peer, dst: &Peer, observer: usize, t: u64) {
    for (reverse, icmp_type, summary, point) in [
        (
            false,
            8,
            "ICMPv4 EchoRequest",
            TraceObservationPoint::ToEndpoint,
        ),
        (true, 0, "ICMPv4 EchoReply", TraceObservationPoint::ToStack),
    ] {
        let conn = Conn {
            src: src.clone(),
            dst: dst.clone(),
            proto: Proto::Tcp,
            sport: 0,
            dport: 0,
            v6: false,
            names: vec![],
        };
        let l4 = layer4::Protocol::IcmPv4(IcmPv4 {
            r#type: icmp_type,
            code: 0,
        });
        let mut flow = sim.packet_flow(&conn, reverse, observer, l4);
        let egress = matches!(src, Peer::Pod(_));
        flow.traffic_direction = if egress {
            TrafficDirection::Egress
        } else {
            TrafficDirection::Ingress
        } as i32;
        let point = if egress {
            if reverse {
                TraceObservationPoint::ToEndpoint
            } else {
                TraceObservationPoint::ToStack
            }
        } else {
            point
        };
        flow.trace_observation_point = point as i32;
        flow.event_type = Some(CiliumEventType {
            r#type: EVENT_TRACE,
            sub_type: trace_sub_type(point),
        });
        flow.summary = summary.into();
        sim.push_flow(t + if reverse { 90 * NS_PER_US } else { 0 }, flow);
    }
}

/// hubble-relay → cilium agents (4244) and metrics-server → kubelets (10250): hostNetwork peers.
pub(crate) fn node_agents(sim: &mut Sim) {
    let c = sim.cluster;
    let pairs = [("hubble-relay", 4244u32), ("metrics-server", 10250)];
    for (workload, port) in pairs {
        for src in c.pods_where(|p| p.workload == workload) {
            for node in 0..c.nodes.len() {
                for t in spread(&mut sim.rng, 3) {
                    let conn = Conn {
                        src: Peer::Pod(src),
                        dst: Peer::NodeIp(node),
                        proto: Proto::Tcp,
                        sport: sim.rng.ephemeral_port(),
                        dport: port,
                        v6: false,
                        names: vec![],
                    };
                    sim.tcp_session(&conn, t, RTT_CLUSTER);
                }
            }
        }
    }
}
