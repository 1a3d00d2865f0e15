//! Pod placement: the factory that hands out pod IPs, endpoint IDs and nodes deterministically,
//! and the pods of long-lived workloads, CronJob runs and databases (CNPG, Dragonfly).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::clock::{NS_PER_SEC, START_UNIX_SECS};
use super::cluster::{Pod, PodRole};
use super::rng::{fnv1a, k8s_suffix};
use super::topology::{App, DatabaseSpec};
use super::workloads::{
    controller_labels, helm_volatile_labels, is_identity_relevant, pod_name_for, replicas_of,
    service_account_for, ExpandedWorkload,
};

/// Builder that hands out pod IPs, endpoint IDs and nodes deterministically.
pub(crate) struct PodFactory {
    pod_base: [u8; 4],
    next_host: Vec<u32>,
    used_ids: BTreeSet<(usize, u32)>,
}

impl PodFactory {
    pub(crate) fn new(pod_base: [u8; 4], nodes: usize) -> Self {
        Self {
            pod_base,
            next_host: vec![10; nodes],
            used_ids: BTreeSet::new(),
        }
    }

    fn address(&mut self, node: usize) -> (Ipv4Addr, Ipv6Addr) {
        let host = self.next_host[node];
        self.next_host[node] += 1;
        let third = (node as u32 * 4 + host / 250) as u8;
        let fourth = (host % 250 + 2) as u8;
        let v4 = Ipv4Addr::new(self.pod_base[0], self.pod_base[1], third, fourth);
        let v6 = Ipv6Addr::new(0xfd00, 0x10, 0x201, node as u16, 0, 0, 0, host as u16);
        (v4, v6)
    }

    fn endpoint_id(&mut self, node: usize, pod_name: &str) -> u32 {
        let mut id = (fnv1a(pod_name) % 4000 + 10) as u32;
        while !self.used_ids.insert((node, id)) {
            id = id % 4000 + 11;
        }
        id
    }

    #[allow(clippy::too_many_arguments)]
    fn make(
        &mut self,
        app: &App,
        wl: &ExpandedWorkload,
        pod_name: String,
        node: usize,
        raw_labels: BTreeMap<String, String>,
        service_account: String,
        role: PodRole,
    ) -> Pod {
        let (ip, ip6) = self.address(node);
        Pod {
            app_key: app.key(),
            namespace: app.namespace.clone(),
            workload: wl.name.clone(),
            workload_kind: wl.kind.clone(),
            endpoint_id: self.endpoint_id(node, &pod_name),
            name: pod_name,
            labels: raw_labels
                .into_iter()
                .filter(|(k, _)| is_identity_relevant(k))
                .collect(),
            service_account,
            node,
            ip,
            ip6,
            identity: 0,
            ports: wl.ports.clone(),
            probe_ports: wl.probe_ports.clone(),
            role,
        }
    }
}

/// CronJob schedule of the demo: every hour at minute 17 (jobs of one app are offset).
fn cronjob_runs(app_index: usize) -> Vec<u64> {
    (0..6)
        .map(|h| h * 3600 * NS_PER_SEC + (17 + 7 * app_index as u64 % 30) * 60 * NS_PER_SEC)
        .collect()
}

pub(crate) fn add_workload_pods(
    f: &mut PodFactory,
    pods: &mut Vec<Pod>,
    app: &App,
    wl: &ExpandedWorkload,
    nodes: usize,
) {
    let role = match (
        wl.labels.get("gateway.envoyproxy.io/owning-gateway-name"),
        wl.labels
            .get("gateway.envoyproxy.io/owning-gateway-namespace"),
    ) {
        (Some(gw), Some(ns)) => PodRole::Gateway(format!("{ns}/{gw}")),
        _ => PodRole::Normal,
    };
    let count = replicas_of(wl, nodes);
    for ordinal in 0..count {
        let pod_name = pod_name_for(&wl.kind, &wl.name, ordinal);
        let node = if wl.kind == "DaemonSet" {
            ordinal
        } else {
            ((fnv1a(&wl.name) as usize) + ordinal * 2) % nodes
        };
        let mut raw = wl.labels.clone();
        raw.extend(controller_labels(&wl.kind, &wl.name, &pod_name, ordinal));
        raw.extend(helm_volatile_labels(app, wl));
        let sa = service_account_for(wl);
        pods.push(f.make(app, wl, pod_name, node, raw, sa, role.clone()));
    }
}

pub(crate) fn add_job_pods(
    f: &mut PodFactory,
    pods: &mut Vec<Pod>,
    app: &App,
    wl: &ExpandedWorkload,
    index: usize,
    nodes: usize,
) {
    for (run, start) in cronjob_runs(index).into_iter().enumerate() {
        let scheduled_minute = (START_UNIX_SECS + start / NS_PER_SEC) / 60;
        let job = format!("{}-{scheduled_minute}", wl.name);
        let pod_name = format!("{job}-{}", k8s_suffix(&job, 5));
        let uid = format!("{:016x}", fnv1a(&job));
        let mut raw = wl.labels.clone();
        raw.insert("job-name".into(), job.clone());
        raw.insert("batch.kubernetes.io/job-name".into(), job.clone());
        raw.insert("controller-uid".into(), uid.clone());
        raw.insert("batch.kubernetes.io/controller-uid".into(), uid);
        let node = (fnv1a(&pod_name) as usize + run) % nodes;
        let role = PodRole::Job {
            start,
            end: start + 4 * 60 * NS_PER_SEC,
        };
        pods.push(f.make(app, wl, pod_name, node, raw, "default".into(), role));
    }
}

/// CNPG clusters (`postgres-18-1..3`) and Dragonfly (`dragonfly-0..2`) from `databases_owned`.
pub(crate) fn add_database_pods(
    f: &mut PodFactory,
    pods: &mut Vec<Pod>,
    app: &App,
    db: &DatabaseSpec,
    nodes: usize,
) {
    let count = db.instances.or(db.replicas).unwrap_or(1) as usize;
    let cnpg = db.kind.starts_with("cnpg");
    let mut ports = vec![db.port];
    ports.extend(db.metrics_port);
    ports.extend(db.admin_port);
    if cnpg {
        ports.push(8000);
    }
    let wl = ExpandedWorkload {
        name: db.name.clone(),
        kind: if cnpg {
            "Cluster".into()
        } else {
            "Dragonfly".into()
        },
        labels: BTreeMap::new(),
        host_network: false,
        app_template: false,
        probe_ports: if cnpg {
            vec![8000]
        } else {
            vec![db.admin_port.unwrap_or(db.port)]
        },
        ports,
    };
    let first_node = fnv1a(&db.name) as usize % nodes;
    for i in 0..count {
        let primary = i == 0;
        let pod_name = if cnpg {
            format!("{}-{}", db.name, i + 1)
        } else {
            format!("{}-{i}", db.name)
        };
        let mut raw: BTreeMap<String, String> = db
            .pod_labels
            .iter()
            .map(|(k, v)| {
                let v = v.split(' ').next().unwrap_or(v);
                let value = match v.split_once('|') {
                    Some((first, second)) => {
                        if primary {
                            first
                        } else {
                            second
                        }
                    }
                    None => v,
                };
                (k.clone(), value.to_string())
            })
            .collect();
        if cnpg {
            raw.insert("cnpg.io/instanceName".into(), pod_name.clone());
        } else {
            raw.insert(
                "role".into(),
                if primary { "master" } else { "replica" }.into(),
            );
            raw.extend(controller_labels("StatefulSet", &db.name, &pod_name, i));
        }
        let node = (first_node + i * 2 + i / 3) % nodes;
        let role = if primary {
            PodRole::DbPrimary
        } else {
            PodRole::DbReplica
        };
        let mut pod = f.make(app, &wl, pod_name, node, raw, db.name.clone(), role);
        pod.namespace = db.namespace.clone();
        pods.push(pod);
    }
}
