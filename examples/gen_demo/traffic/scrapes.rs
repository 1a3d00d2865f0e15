//! Prometheus scrapes of metrics ports across namespaces: pods, databases and hostNetwork
//! agents.

use std::collections::BTreeSet;

use super::super::clock::{periodic, NS_PER_SEC, RTT_CLUSTER};
use super::super::cluster::{Pod, PodRole};
use super::super::peers::Peer;
use super::super::sim::{Conn, Proto, Sim};
use super::super::topology::Topology;

/// Preferred metrics ports, in order.
const METRICS_PORTS: [u16; 20] = [
    9402, 9153, 9962, 9965, 9187, 9999, 9100, 8080, 9090, 9093, 2020, 12345, 9115, 8081, 7979,
    3100, 9283, 9428, 9130, 8888,
];

fn metrics_port(pod: &Pod) -> Option<u16> {
    METRICS_PORTS
        .iter()
        .copied()
        .find(|p| pod.ports.contains(p) || pod.probe_ports.contains(p))
        .or_else(|| pod.ports.first().copied())
        .or_else(|| pod.probe_ports.first().copied())
}

/// Prometheus scraping metrics ports across namespaces (pods, DBs, and hostNetwork agents).
pub(crate) fn prometheus_scrapes(sim: &mut Sim, topo: &Topology) {
    let c = sim.cluster;
    let prometheus = c.pods_where(|p| {
        p.labels.get("app.kubernetes.io/name").map(String::as_str) == Some("prometheus")
    });
    let Some(&prom) = prometheus.first() else {
        return;
    };
    let scraped_apps: BTreeSet<String> = topo
        .apps
        .iter()
        .flat_map(|a| a.talks_to.iter())
        .filter(|t| t.relation.starts_with("metrics scrape"))
        .map(|t| t.target.clone())
        .collect();
    let always = [
        "kube-system",
        "observability",
        "cert-manager",
        "external-secrets",
        "dbms",
    ];
    let targets = c.pods_where(|p| {
        p.is_long_lived()
            && (scraped_apps.contains(&p.app_key)
                || always.contains(&p.namespace.as_str())
                || matches!(p.role, PodRole::DbPrimary | PodRole::DbReplica))
    });
    for target in targets {
        if target == prom {
            continue;
        }
        let Some(port) = metrics_port(&c.pods[target]) else {
            continue;
        };
        for t in periodic(&mut sim.rng, 20 * 60 * NS_PER_SEC) {
            let conn = Conn {
                src: Peer::Pod(prom),
                dst: Peer::Pod(target),
                proto: Proto::Tcp,
                sport: sim.rng.ephemeral_port(),
                dport: u32::from(port),
                v6: false,
                names: vec![],
            };
            sim.tcp_session(&conn, t, RTT_CLUSTER);
        }
    }
    for hw in &c.host_workloads {
        let Some(&port) = hw.ports.iter().find(|p| METRICS_PORTS.contains(p)) else {
            continue;
        };
        for node in 0..c.nodes.len() {
            for t in periodic(&mut sim.rng, 30 * 60 * NS_PER_SEC) {
                let conn = Conn {
                    src: Peer::Pod(prom),
                    dst: Peer::NodeIp(node),
                    proto: Proto::Tcp,
                    sport: sim.rng.ephemeral_port(),
                    dport: u32::from(port),
                    v6: false,
                    names: vec![],
                };
                sim.tcp_session(&conn, t, RTT_CLUSTER);
            }
        }
    }
}
