//! App-to-app traffic from `talks_to` (databases, the *arr stack, Grafana datasources, logs),
//! and homepage's stale lookups that never resolve.

use std::collections::BTreeSet;

use super::super::clock::spread;
use super::super::dns::{DnsAnswer, NEGATIVE_TTL};
use super::super::sim::Sim;
use super::super::topology::{Talk, Topology};

use super::targets::{connect_to_target, resolve_target};

fn is_app_edge(talk: &Talk) -> bool {
    !(talk.relation.starts_with("metrics scrape")
        || talk.relation.starts_with("HTTPRoute")
        || talk.target.starts_with("LAN:")
        || talk.target.starts_with("UNRESOLVED:")
        || talk.target == "kube-apiserver")
}

/// App-to-app traffic from `talks_to` (databases, *arr stack, Grafana datasources, logs…).
pub(crate) fn app_connections(sim: &mut Sim, topo: &Topology, internet_apps: &BTreeSet<String>) {
    let c = sim.cluster;
    for app in &topo.apps {
        let clients = c.client_pods(&app.key());
        if clients.is_empty() {
            continue;
        }
        for talk in app.talks_to.iter().filter(|t| is_app_edge(t)) {
            let Some(mut target) =
                resolve_target(c, topo, &talk.target, talk.service.as_deref(), talk.port)
            else {
                continue;
            };
            let srcs: Vec<usize> = clients
                .iter()
                .copied()
                .filter(|s| !target.pods.contains(s))
                .collect();
            if srcs.is_empty() {
                continue;
            }
            target.pods.sort_unstable();
            for t in spread(&mut sim.rng, 12) {
                let src = *sim.rng.pick(&srcs);
                connect_to_target(sim, internet_apps, src, &target, t);
            }
        }
    }
}

/// homepage's stale config points at `<app>.media`; those names never resolve (NXDOMAIN).
pub(crate) fn stale_homepage_lookups(
    sim: &mut Sim,
    topo: &Topology,
    internet_apps: &BTreeSet<String>,
) {
    let c = sim.cluster;
    for app in &topo.apps {
        let clients = c.client_pods(&app.key());
        for talk in app
            .talks_to
            .iter()
            .filter(|t| t.target.starts_with("UNRESOLVED:"))
        {
            let Some(service) = &talk.service else {
                continue;
            };
            let (ns, name) = service.split_once('/').unwrap_or(("default", service));
            let fqdn = format!("{name}.{ns}.svc.cluster.local");
            for &pod in &clients {
                for t in spread(&mut sim.rng, 4) {
                    let nx = DnsAnswer {
                        ips: vec![],
                        ttl: NEGATIVE_TTL,
                        rcode: 3,
                        qtype: "A",
                    };
                    let proxied = sim.dns_is_proxied(internet_apps, pod);
                    sim.resolve(proxied, pod, &fqdn, true, &nx, t);
                }
            }
        }
    }
}
