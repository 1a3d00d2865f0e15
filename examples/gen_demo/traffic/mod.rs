//! The traffic classes, one module each, and `simulate`, which runs them in a fixed order.
//! Every class draws from the one shared PRNG, so this order (like the order inside each class)
//! decides every byte of the fixture.

mod apiserver;
mod apps;
mod databases;
mod egress;
mod host;
mod ingress;
mod jobs;
mod l7;
mod noise;
mod scrapes;
mod targets;

use std::collections::BTreeSet;

use super::sim::Sim;
use super::topology::{App, Topology};

/// Run every traffic class, in the order that defines the fixture.
pub(crate) fn simulate(sim: &mut Sim, topo: &Topology) {
    let internet_apps: BTreeSet<String> = topo
        .apps
        .iter()
        .filter(|a| !a.egress_internet.is_empty())
        .map(App::key)
        .collect();
    noise::node_status_events(sim);
    host::kubelet_probes(sim);
    host::health_checks(sim);
    apiserver::apiserver_watches(sim, topo, &internet_apps);
    apps::app_connections(sim, topo, &internet_apps);
    ingress::gateway_routes(sim, topo);
    scrapes::prometheus_scrapes(sim, topo);
    databases::database_internal(sim);
    ingress::lan_load_balancers(sim, topo);
    egress::internet_egress(sim, topo, &internet_apps);
    jobs::cronjob_runs_traffic(sim, topo, &internet_apps);
    host::node_agents(sim);
    apps::stale_homepage_lookups(sim, topo, &internet_apps);
    noise::socket_lb_events(sim, topo);
    noise::scanner_drops(sim);
    noise::lost_events(sim);
    l7::http_requests(sim, topo);
}
