//! kube-apiserver traffic: operators, controllers, CNPG instances and apps that say so watch
//! the API server on 6443, at a control-plane node or the LB address.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::super::clock::{spread, NS_PER_MS, RTT_CLUSTER};
use super::super::cluster::{Pod, PodRole};
use super::super::dns::DnsAnswer;
use super::super::peers::Peer;
use super::super::sim::{Conn, Proto, Sim};
use super::super::topology::{App, Topology};

/// Workloads that watch the API server: controllers/operators by name, plus apps whose
/// topology says they talk to kube-apiserver.
fn watches_apiserver(pod: &Pod, apps_talking: &BTreeSet<String>) -> bool {
    const KEYWORDS: [&str; 14] = [
        "operator",
        "controller",
        "cert-manager",
        "cainjector",
        "webhook",
        "external-secrets",
        "cloudnative-pg",
        "external-dns",
        "reloader",
        "descheduler",
        "kube-state-metrics",
        "metrics-server",
        "tuppr",
        "nfd",
    ];
    let is_db_instance = matches!(pod.role, PodRole::DbPrimary | PodRole::DbReplica)
        && pod.workload_kind == "Cluster";
    apps_talking.contains(&pod.app_key)
        || is_db_instance
        || pod.labels.get("k8s-app").map(String::as_str) == Some("kube-dns")
        || KEYWORDS.iter().any(|k| pod.workload.contains(k))
}

pub(crate) fn apiserver_watches(sim: &mut Sim, topo: &Topology, internet_apps: &BTreeSet<String>) {
    let talking: BTreeSet<String> = topo
        .apps
        .iter()
        .filter(|a| a.talks_to.iter().any(|t| t.target == "kube-apiserver"))
        .map(App::key)
        .collect();
    let c = sim.cluster;
    let watchers = c.pods_where(|p| p.is_long_lived() && watches_apiserver(p, &talking));
    for pod in watchers {
        for t in spread(&mut sim.rng, 8) {
            let dst = if sim.rng.chance(10) {
                Peer::ApiServerLb
            } else {
                Peer::ApiServer(*sim.rng.pick(&c.control_plane))
            };
            if sim.rng.chance(25) {
                let name = "kubernetes.default.svc.cluster.local";
                let answer = DnsAnswer {
                    ips: vec![IpAddr::V4(c.cluster_ip("default", "kubernetes"))],
                    ttl: 30,
                    rcode: 0,
                    qtype: "A",
                };
                let proxied = sim.dns_is_proxied(internet_apps, pod);
                sim.resolve(proxied, pod, name, false, &answer, t);
            }
            let conn = Conn {
                src: Peer::Pod(pod),
                dst,
                proto: Proto::Tcp,
                sport: sim.rng.ephemeral_port(),
                dport: 6443,
                v6: false,
                names: vec![],
            };
            sim.tcp_session(&conn, t + 2 * NS_PER_MS, RTT_CLUSTER);
        }
    }
}
