//! In-cluster destinations: resolving a `talks_to`-style target (service, gateway, database or
//! workload) to backend pods and the pod port, and connecting to it after a DNS lookup.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::super::clock::{NS_PER_US, RTT_CLUSTER};
use super::super::cluster::{Cluster, Pod, PodRole};
use super::super::dns::DnsAnswer;
use super::super::peers::Peer;
use super::super::sim::{Conn, Proto, Sim};
use super::super::topology::Topology;

/// A resolved in-cluster destination: backend pods, backend port, the DNS name clients use.
pub(crate) struct Target {
    pub(crate) pods: Vec<usize>,
    pub(crate) port: u16,
    pub(crate) dns_name: String,
    pub(crate) service: (String, String),
}

fn strip_service_name(service: &str) -> String {
    let last = service.rsplit('/').next().unwrap_or(service);
    last.split(" (").next().unwrap_or(last).trim().to_string()
}

/// Resolve a `talks_to`-style target to backend pods and the pod (target) port.
pub(crate) fn resolve_target(
    c: &Cluster,
    topo: &Topology,
    target: &str,
    service: Option<&str>,
    port: Option<u16>,
) -> Option<Target> {
    let app = topo.apps.iter().find(|a| a.key() == target)?;
    let ns = app.namespace.clone();
    let svc_name = service
        .map(strip_service_name)
        .unwrap_or_else(|| app.app.clone());
    let app_pods = c.pods_where(|p| p.app_key == app.key() && p.is_long_lived());
    let in_ns = |sel: &BTreeMap<String, String>| {
        c.pods_where(|p| {
            p.namespace == ns
                && p.is_long_lived()
                && sel.iter().all(|(k, v)| p.labels.get(k) == Some(v))
        })
    };
    let (pods, port) = if let Some(svc) = app.services.iter().find(|s| s.name == svc_name) {
        let sp = svc
            .ports
            .iter()
            .find(|p| Some(p.port) == port || Some(p.backend_port()) == port)
            .or(svc.ports.first())?;
        (in_ns(&svc.selector), sp.backend_port())
    } else if let Some((_, (https, http))) = c
        .gateway_ports
        .iter()
        .find(|(g, _)| g.ends_with(&format!("/{svc_name}")))
    {
        let gw = format!("{ns}/{svc_name}");
        let pods = c.pods_where(|p| p.role == PodRole::Gateway(gw.clone()));
        (pods, if port == Some(80) { *http } else { *https })
    } else if let Some(db) = app
        .databases_owned
        .iter()
        .find(|d| svc_name.starts_with(&d.name))
    {
        let pods = c.pods_where(|p| p.namespace == db.namespace && p.workload == db.name);
        let chosen: Vec<usize> = if svc_name.ends_with("-ro") {
            pods.iter()
                .copied()
                .filter(|&i| c.pods[i].role == PodRole::DbReplica)
                .collect()
        } else if svc_name.ends_with("-r") {
            pods
        } else {
            pods.iter()
                .copied()
                .filter(|&i| c.pods[i].role == PodRole::DbPrimary)
                .collect()
        };
        (chosen, port.unwrap_or(db.port))
    } else {
        let stem = ["-operated", "-headless", "-server", "-rw", "-ro"]
            .iter()
            .fold(svc_name.clone(), |s, suf| {
                s.strip_suffix(suf).map(str::to_string).unwrap_or(s)
            });
        let by = |pred: &dyn Fn(&Pod) -> bool| -> Vec<usize> {
            app_pods
                .iter()
                .copied()
                .filter(|&i| pred(&c.pods[i]))
                .collect()
        };
        let mut pods = by(&|p| p.workload == stem);
        if pods.is_empty() {
            pods = by(&|p| p.labels.get("app.kubernetes.io/name") == Some(&stem));
        }
        if pods.is_empty() {
            pods = by(&|p| p.workload.starts_with(&stem) && !p.workload.contains("operator"));
        }
        if pods.is_empty() {
            pods = by(&|p| port.is_some_and(|pt| p.ports.contains(&pt)));
        }
        if pods.is_empty() {
            pods = app_pods.clone();
        }
        let port = port.or_else(|| pods.first().and_then(|&i| c.pods[i].ports.first().copied()))?;
        (pods, port)
    };
    if pods.is_empty() {
        return None;
    }
    Some(Target {
        pods,
        port,
        dns_name: format!("{svc_name}.{ns}.svc.cluster.local"),
        service: (ns, svc_name),
    })
}

/// Connect `src` to one of `target`'s pods, resolving its name first when needed.
pub(crate) fn connect_to_target(
    sim: &mut Sim,
    internet_apps: &BTreeSet<String>,
    src: usize,
    target: &Target,
    t: u64,
) -> u64 {
    let c = sim.cluster;
    let mut t = t;
    let first_use = sim.resolved.insert((src, target.dns_name.clone()));
    if first_use || sim.rng.chance(40) {
        let ip = c.cluster_ip(&target.service.0, &target.service.1);
        let answer = DnsAnswer {
            ips: vec![IpAddr::V4(ip)],
            ttl: 30,
            rcode: 0,
            qtype: "A",
        };
        let expand = sim.rng.chance(30);
        let proxied = sim.dns_is_proxied(internet_apps, src);
        t = sim.resolve(proxied, src, &target.dns_name, expand, &answer, t)
            + sim.rng.range(100, 900) * NS_PER_US;
    }
    let dst = *sim.rng.pick(&target.pods);
    let conn = Conn {
        src: Peer::Pod(src),
        dst: Peer::Pod(dst),
        proto: Proto::Tcp,
        sport: sim.rng.ephemeral_port(),
        dport: u32::from(target.port),
        v6: false,
        names: vec![],
    };
    sim.tcp_session(&conn, t, RTT_CLUSTER)
}
