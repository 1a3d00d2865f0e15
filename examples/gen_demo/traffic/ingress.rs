//! Traffic entering the cluster: HTTPRoutes from LAN clients or cloudflared through the envoy
//! gateways to their backends, and LAN clients through LoadBalancer services (some SNATed).

use std::net::{IpAddr, Ipv4Addr};

use super::super::clock::{spread, RTT_CLUSTER};
use super::super::cluster::{Cluster, PodRole};
use super::super::peers::Peer;
use super::super::rng::SplitMix64;
use super::super::sim::{Conn, Proto, Sim};
use super::super::topology::{App, RouteSpec, Topology};

use super::targets::{resolve_target, Target};

/// Hostname-keyed backends for routes whose backend service/port the topology leaves open.
const ROUTE_BACKENDS: [(&str, &str, u16); 7] = [
    ("flux-receiver", "notification-controller", 9292),
    ("hubble", "hubble-ui", 8081),
    ("grafana", "grafana", 3000),
    ("prometheus", "prometheus-kube-prometheus-stack", 9090),
    ("alerts", "alertmanager-kube-prometheus-stack", 9093),
    ("logs", "victoria-logs-server", 9428),
    ("rook", "rook-ceph-mgr", 7000),
];

fn route_target(c: &Cluster, topo: &Topology, app: &App, route: &RouteSpec) -> Option<Target> {
    let host = route.hostnames.first()?;
    let label = host.split('.').next().unwrap_or_default();
    if let Some((_, workload, port)) = ROUTE_BACKENDS.iter().find(|(l, _, _)| *l == label) {
        let pods = c.pods_where(|p| {
            p.namespace == app.namespace && p.workload == *workload && p.is_long_lived()
        });
        if !pods.is_empty() {
            let svc = route
                .backend_service
                .clone()
                .unwrap_or_else(|| workload.to_string());
            return Some(Target {
                pods,
                port: *port,
                dns_name: String::new(),
                service: (app.namespace.clone(), svc),
            });
        }
    }
    let port = route.pod_port.or(route.backend_port);
    resolve_target(c, topo, &app.key(), route.backend_service.as_deref(), port)
}

/// HTTPRoutes: LAN clients (internal gateway) or cloudflared (external gateway) → envoy pod
/// (10443/10080) → backend pod on its target port.
pub(crate) fn gateway_routes(sim: &mut Sim, topo: &Topology) {
    let c = sim.cluster;
    let tunnel = c.pods_where(|p| {
        p.labels.get("app.kubernetes.io/name").map(String::as_str) == Some("cloudflared")
    });
    for app in &topo.apps {
        for route in &app.exposure.routes {
            let Some(target) = route_target(c, topo, app, route) else {
                continue;
            };
            let gateway_pods = c.pods_where(|p| p.role == PodRole::Gateway(route.gateway.clone()));
            let Some(&(https, http)) = c.gateway_ports.get(&route.gateway) else {
                continue;
            };
            if gateway_pods.is_empty() {
                continue;
            }
            let external = route.gateway.ends_with("external");
            for t in spread(&mut sim.rng, 14) {
                let envoy = *sim.rng.pick(&gateway_pods);
                let (src, port) = if external && !tunnel.is_empty() {
                    (Peer::Pod(*sim.rng.pick(&tunnel)), https)
                } else {
                    (
                        Peer::World(lan_client_ip(&mut sim.rng)),
                        if sim.rng.chance(10) { http } else { https },
                    )
                };
                let front = Conn {
                    src,
                    dst: Peer::Pod(envoy),
                    proto: Proto::Tcp,
                    sport: sim.rng.ephemeral_port(),
                    dport: u32::from(port),
                    v6: false,
                    names: vec![],
                };
                sim.tcp_session(&front, t, RTT_CLUSTER * 2);
                let backend = *sim.rng.pick(&target.pods);
                let back = Conn {
                    src: Peer::Pod(envoy),
                    dst: Peer::Pod(backend),
                    proto: Proto::Tcp,
                    sport: sim.rng.ephemeral_port(),
                    dport: u32::from(target.port),
                    v6: false,
                    names: vec![],
                };
                sim.tcp_session(&back, t + RTT_CLUSTER * 2, RTT_CLUSTER);
            }
        }
    }
}

/// A LAN client (laptops, phones, the NAS) in 10.0.0.0/16.
fn lan_client_ip(rng: &mut SplitMix64) -> IpAddr {
    const CLIENTS: [[u8; 2]; 8] = [
        [10, 20],
        [10, 21],
        [10, 35],
        [20, 11],
        [20, 54],
        [30, 7],
        [30, 8],
        [0, 42],
    ];
    let c = rng.pick(&CLIENTS);
    IpAddr::V4(Ipv4Addr::new(10, 0, c[0], c[1]))
}

/// LAN clients through LoadBalancer services (postgres, dragonfly, plex, immich-db). With
/// kube-proxy replacement in SNAT mode, some arrive SNATed to the ingress node (remote-node).
pub(crate) fn lan_load_balancers(sim: &mut Sim, topo: &Topology) {
    let c = sim.cluster;
    for app in &topo.apps {
        for lb in &app.exposure.lan_loadbalancers {
            for &port in &lb.ports {
                let Some(target) =
                    resolve_target(c, topo, &app.key(), Some(&lb.service), Some(port))
                else {
                    continue;
                };
                for t in spread(&mut sim.rng, 10) {
                    let backend = *sim.rng.pick(&target.pods);
                    let backend_node = c.pods[backend].node;
                    let src = if sim.rng.chance(25) {
                        Peer::NodeIp((backend_node + 1) % c.nodes.len())
                    } else {
                        Peer::World(lan_client_ip(&mut sim.rng))
                    };
                    let conn = Conn {
                        src,
                        dst: Peer::Pod(backend),
                        proto: Proto::Tcp,
                        sport: sim.rng.ephemeral_port(),
                        dport: u32::from(target.port),
                        v6: false,
                        names: vec![],
                    };
                    sim.tcp_session(&conn, t, RTT_CLUSTER * 3);
                }
            }
        }
    }
}
