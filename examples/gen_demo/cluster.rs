//! The simulated cluster: nodes, pods and their identities, hostNetwork workloads, ClusterIPs,
//! and the lookups traffic classes use (pods by predicate, CoreDNS, an app's client pods).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::{Context, Result};

use super::pods::{add_database_pods, add_job_pods, add_workload_pods, PodFactory};
use super::rng::fnv1a;
use super::topology::Topology;
use super::workloads::expand_workload;

pub(crate) struct Node {
    pub(crate) name: String,
    /// Node (LAN) address; the topology does not list them, so 10.11.0.21.. are used.
    pub(crate) ip: Ipv4Addr,
    /// cilium_host router address inside the node's pod CIDR block.
    pub(crate) router_ip: Ipv4Addr,
    /// cilium-health endpoint address and endpoint ID.
    pub(crate) health_ip: Ipv4Addr,
    pub(crate) health_id: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PodRole {
    Normal,
    /// An envoy proxy of the named gateway (`network/envoy-internal`).
    Gateway(String),
    DbPrimary,
    DbReplica,
    /// A CronJob run, alive between the two times (ns offsets).
    Job {
        start: u64,
        end: u64,
    },
}

pub(crate) struct Pod {
    pub(crate) app_key: String,
    pub(crate) namespace: String,
    pub(crate) workload: String,
    pub(crate) workload_kind: String,
    pub(crate) name: String,
    /// Identity-relevant pod labels (after Cilium's label filter), without the `k8s:` prefix.
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) service_account: String,
    pub(crate) node: usize,
    pub(crate) ip: Ipv4Addr,
    pub(crate) ip6: Ipv6Addr,
    pub(crate) endpoint_id: u32,
    pub(crate) identity: u32,
    pub(crate) ports: Vec<u16>,
    pub(crate) probe_ports: Vec<u16>,
    pub(crate) role: PodRole,
}

impl Pod {
    pub(crate) fn identity_labels(&self, cluster_name: &str) -> Vec<String> {
        let mut labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("k8s:{k}={v}"))
            .collect();
        labels.push(format!(
            "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={}",
            self.namespace
        ));
        labels.push(format!("k8s:io.cilium.k8s.policy.cluster={cluster_name}"));
        labels.push(format!(
            "k8s:io.cilium.k8s.policy.serviceaccount={}",
            super::workloads::object_name(&self.service_account)
        ));
        labels.push(format!(
            "k8s:io.kubernetes.pod.namespace={}",
            self.namespace
        ));
        labels.sort();
        labels
    }

    pub(crate) fn is_long_lived(&self) -> bool {
        !matches!(self.role, PodRole::Job { .. })
    }
}

/// A hostNetwork workload: its traffic appears as `reserved:host` / `reserved:remote-node`.
pub(crate) struct HostWorkload {
    pub(crate) ports: Vec<u16>,
}

pub(crate) struct Cluster {
    pub(crate) name: String,
    pub(crate) nodes: Vec<Node>,
    pub(crate) pods: Vec<Pod>,
    pub(crate) host_workloads: Vec<HostWorkload>,
    /// ClusterIP per `ns/service`.
    cluster_ips: BTreeMap<String, Ipv4Addr>,
    pub(crate) apiserver_lb_ip: Ipv4Addr,
    /// Control-plane nodes (the kube-apiserver endpoints).
    pub(crate) control_plane: Vec<usize>,
    /// Gateway name (`network/envoy-internal`) → https / http pod ports.
    pub(crate) gateway_ports: BTreeMap<String, (u16, u16)>,
}

/// Parse the first IPv4 address embedded in free text such as `"LB 10.11.0.15:6443 (...)"`.
fn first_ipv4_in(text: &str) -> Option<Ipv4Addr> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find_map(|tok| tok.parse::<Ipv4Addr>().ok())
}

/// The /16 base of a CIDR like `10.201.0.0/16`.
fn cidr_base(cidr: &str) -> Result<[u8; 4]> {
    let ip: Ipv4Addr = cidr
        .split('/')
        .next()
        .unwrap_or_default()
        .parse()
        .with_context(|| format!("bad CIDR {cidr}"))?;
    Ok(ip.octets())
}

impl Cluster {
    pub(crate) fn build(topo: &Topology) -> Result<Self> {
        let info = &topo.cluster;
        let pod_base = cidr_base(&info.pod_cidr)?;
        let nodes = build_nodes(&info.nodes, pod_base);
        let dns_service_ip = first_ipv4_in(&info.cluster_dns).context("cluster_dns has no IP")?;
        let apiserver_lb_ip =
            first_ipv4_in(&info.kube_apiserver).context("kube_apiserver has no IP")?;
        let mut factory = PodFactory::new(pod_base, nodes.len());
        let mut pods = Vec::new();
        let mut host_workloads = Vec::new();
        let mut job_index = 0;
        for app in &topo.apps {
            for spec in &app.workloads {
                for wl in expand_workload(spec) {
                    if wl.host_network {
                        host_workloads.push(HostWorkload {
                            ports: wl.ports.clone(),
                        });
                        continue;
                    }
                    if wl.kind == "CronJob" {
                        add_job_pods(&mut factory, &mut pods, app, &wl, job_index, nodes.len());
                        job_index += 1;
                        continue;
                    }
                    add_workload_pods(&mut factory, &mut pods, app, &wl, nodes.len());
                }
            }
            for db in &app.databases_owned {
                add_database_pods(&mut factory, &mut pods, app, db, nodes.len());
            }
        }
        assign_identities(&mut pods, &info.name);
        let service_base = cidr_base(&info.service_cidr)?;
        let cluster_ips = allocate_cluster_ips(topo, service_base, dns_service_ip);
        let gateway_ports = info
            .gateways
            .iter()
            .map(|(name, g)| {
                let https = g.pod_ports.get("https").copied().unwrap_or(10443);
                let http = g.pod_ports.get("http").copied().unwrap_or(10080);
                (name.clone(), (https, http))
            })
            .collect();
        let control_plane = (0..nodes.len().min(3)).collect();
        Ok(Self {
            name: info.name.clone(),
            nodes,
            pods,
            host_workloads,
            cluster_ips,
            apiserver_lb_ip,
            control_plane,
            gateway_ports,
        })
    }

    pub(crate) fn pods_where(&self, pred: impl Fn(&Pod) -> bool) -> Vec<usize> {
        (0..self.pods.len())
            .filter(|&i| pred(&self.pods[i]))
            .collect()
    }

    pub(crate) fn coredns_pods(&self) -> Vec<usize> {
        self.pods_where(|p| p.labels.get("k8s-app").map(String::as_str) == Some("kube-dns"))
    }

    /// Long-lived pods of an app that initiate its connections: the workload named like the
    /// app (or Prometheus itself), else the non-helper workloads, else the first workload.
    pub(crate) fn client_pods(&self, app_key: &str) -> Vec<usize> {
        const HELPERS: [&str; 4] = ["operator", "webhook", "cert-controller", "cainjector"];
        let app_name = app_key.rsplit('/').next().unwrap_or(app_key);
        let all = self.pods_where(|p| {
            p.app_key == app_key
                && p.is_long_lived()
                && matches!(p.role, PodRole::Normal | PodRole::Gateway(_))
        });
        let named: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| {
                let p = &self.pods[i];
                let name = p.labels.get("app.kubernetes.io/name").map(String::as_str);
                p.workload == app_name || name == Some(app_name) || name == Some("prometheus")
            })
            .collect();
        if !named.is_empty() {
            return named;
        }
        let main: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| !HELPERS.iter().any(|h| self.pods[i].workload.contains(h)))
            .collect();
        if !main.is_empty() {
            return main;
        }
        let first = all.first().map(|&i| self.pods[i].workload.clone());
        all.into_iter()
            .filter(|&i| Some(&self.pods[i].workload) == first.as_ref())
            .collect()
    }

    pub(crate) fn cluster_ip(&self, ns: &str, service: &str) -> Ipv4Addr {
        let key = format!("{ns}/{service}");
        self.cluster_ips
            .get(&key)
            .copied()
            .unwrap_or_else(|| hashed_service_ip(&key, [10, 200, 0, 0]))
    }
}

fn build_nodes(names: &[String], pod_base: [u8; 4]) -> Vec<Node> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let block = (i * 4) as u8;
            Node {
                name: name.clone(),
                ip: Ipv4Addr::new(10, 11, 0, 21 + i as u8),
                router_ip: Ipv4Addr::new(pod_base[0], pod_base[1], block, 1),
                health_ip: Ipv4Addr::new(
                    pod_base[0],
                    pod_base[1],
                    block,
                    2 + (fnv1a(name) % 8) as u8 + 240,
                ),
                health_id: (fnv1a(&format!("{name}/health")) % 3000 + 100) as u32,
            }
        })
        .collect()
}

/// Stable identities ≥ 256 per distinct label set, hashed like a real allocator would look.
fn assign_identities(pods: &mut [Pod], cluster_name: &str) {
    let label_sets: BTreeSet<Vec<String>> = pods
        .iter()
        .map(|p| p.identity_labels(cluster_name))
        .collect();
    let mut by_labels: BTreeMap<Vec<String>, u32> = BTreeMap::new();
    let mut taken = BTreeSet::new();
    for set in label_sets {
        let mut id = (fnv1a(&set.join(",")) % 60_000) as u32 + 256;
        while !taken.insert(id) {
            id = (id - 256 + 1) % 60_000 + 256;
        }
        by_labels.insert(set, id);
    }
    for pod in pods.iter_mut() {
        pod.identity = by_labels[&pod.identity_labels(cluster_name)];
    }
}

fn hashed_service_ip(key: &str, base: [u8; 4]) -> Ipv4Addr {
    let h = fnv1a(key);
    Ipv4Addr::new(
        base[0],
        base[1],
        (h % 250) as u8 + 1,
        ((h >> 8) % 250) as u8 + 2,
    )
}

fn allocate_cluster_ips(
    topo: &Topology,
    base: [u8; 4],
    dns_ip: Ipv4Addr,
) -> BTreeMap<String, Ipv4Addr> {
    let mut ips = BTreeMap::new();
    ips.insert("kube-system/kube-dns".to_string(), dns_ip);
    ips.insert(
        "default/kubernetes".to_string(),
        Ipv4Addr::new(base[0], base[1], 0, 1),
    );
    for app in &topo.apps {
        for svc in &app.services {
            let key = format!("{}/{}", app.namespace, svc.name);
            let ip = hashed_service_ip(&key, base);
            ips.entry(key).or_insert(ip);
        }
    }
    ips
}
