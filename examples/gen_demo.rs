//! Deterministic generator of the bundled demo Hubble dump `fixtures/demo.jsonpb.zst`.
//!
//! It reads the seed cluster's topology (`cluster-topology.json`: apps, workloads and their
//! pod labels, services, routes, who talks to whom, internet egress, LAN load balancers,
//! CIDRs, nodes) **at generation time**, places one or more pods per workload on the
//! cluster's nodes, and simulates six hours of traffic as `hubble observe -o jsonpb` would
//! print it through Hubble Relay: one `GetFlowsResponse` per line, zstd-compressed.
//!
//! The simulation follows Hubble's semantics (see the reference facts, sections 1, 2, 6, 7):
//! identity labels after Cilium's default label filter, TCP connections as SYN / SYN-ACK /
//! data / FIN packets with `is_reply`, a connection seen twice (source node EGRESS, destination
//! node INGRESS) when both ends are pods on different nodes, DNS to CoreDNS (plain L3/L4 and,
//! for pods with internet egress, via the DNS proxy with L7 records and search-list
//! NXDOMAINs), world egress in the single-stack, CIDR-identity and IPv6 forms, kubelet probes
//! from `reserved:host`, kube-apiserver watches, LAN clients through LoadBalancers, Prometheus
//! scrapes, CronJob runs with per-run labels, cilium-health ICMP, and noise (node status,
//! lost events, policy drops, socket-LB translation events, AUDIT verdicts).
//!
//! Determinism: a hand-written splitmix64 PRNG, FNV-1a hashes for per-name choices, BTreeMaps
//! only, a fixed start time and no wall clock, so the same topology gives byte-identical output.
//!
//! Run: `cargo run --release --example gen_demo -- --topology
//! ../shared/data/seed-cluster/cluster-topology.json --out fixtures/demo.jsonpb.zst`

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use serde::Deserialize;

use flowpolicy::proto::flow::{
    layer4, layer7, CiliumEventType, Dns, DropReason, Endpoint, Flow, FlowType, IcmPv4, Ip,
    IpVersion, L7FlowType, Layer4, Layer7, LostEvent, LostEventSource, Service, Tcp, TcpFlags,
    TraceObservationPoint, TrafficDirection, Udp, Verdict, Workload,
};
use flowpolicy::proto::observer::{get_flows_response::ResponseTypes, GetFlowsResponse};
use flowpolicy::proto::relay::{NodeState, NodeStatusEvent};
use pbjson_types::{BoolValue, Timestamp};

/// 2026-11-20T00:00:00Z, the fixed start of the simulated capture.
const START_UNIX_SECS: u64 = 1_795_132_800;
/// Six simulated hours.
const DURATION_NS: u64 = 6 * 3600 * NS_PER_SEC;
const NS_PER_SEC: u64 = 1_000_000_000;
const NS_PER_MS: u64 = 1_000_000;
const NS_PER_US: u64 = 1_000;
/// Seed of the traffic PRNG; change it and the fixture changes.
const SEED: u64 = 0x666c_6f77_706f_6c79;
/// zstd level: slow but small; the generator runs rarely.
const ZSTD_LEVEL: i32 = 19;
/// Namespace whose (hypothetical) staged policy runs in audit mode.
const AUDIT_NAMESPACE: &str = "downloads";
/// Cilium's drop reason code for POLICY_DENIED.
const DROP_POLICY_DENIED: u32 = 133;
/// Cilium monitor message types used in `event_type.type`.
const EVENT_DROP: i32 = 1;
const EVENT_TRACE: i32 = 4;
const EVENT_POLICY_VERDICT: i32 = 5;
const EVENT_SOCK: i32 = 14;
const EVENT_L7: i32 = 129;
/// First locally scoped (CIDR) identity.
const LOCAL_IDENTITY_BASE: u32 = 1 << 24;
/// Alphabet Kubernetes uses for generated name suffixes.
const K8S_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Command line of the generator.
#[derive(Parser, Debug)]
#[command(about = "Generate the deterministic demo Hubble dump from the seed cluster topology")]
struct Args {
    /// Path to cluster-topology.json.
    #[arg(long)]
    topology: PathBuf,
    /// Output file (zstd-compressed jsonpb lines).
    #[arg(long)]
    out: PathBuf,
}

#[allow(dead_code)]
fn main() -> Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.topology)
        .with_context(|| format!("reading {}", args.topology.display()))?;
    let (bytes, stats) = generate(&text)?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "wrote {} ({} bytes): {} lines, {} flows, {} node_status, {} lost_events",
        args.out.display(),
        bytes.len(),
        stats.lines,
        stats.flows,
        stats.node_status,
        stats.lost_events
    );
    Ok(())
}

/// Line counts of a generated dump.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DumpStats {
    pub lines: usize,
    pub flows: usize,
    pub node_status: usize,
    pub lost_events: usize,
}

/// Generate the compressed dump from the topology JSON text.
pub fn generate(topology_json: &str) -> Result<(Vec<u8>, DumpStats)> {
    let topo: Topology = serde_json::from_str(topology_json).context("parsing topology")?;
    let cluster = Cluster::build(&topo)?;
    let mut sim = Sim::new(&cluster);
    simulate(&mut sim, &topo);
    let (jsonl, stats) = sim.render()?;
    let compressed = zstd::stream::encode_all(jsonl.as_slice(), ZSTD_LEVEL)?;
    Ok((compressed, stats))
}

// ---------------------------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------------------------

/// splitmix64: tiny, fast, good enough for synthetic traffic, and fully deterministic.
#[derive(Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Client ephemeral port in Linux's default range 32768–60999.
    fn ephemeral_port(&mut self) -> u32 {
        self.range(32768, 60999) as u32
    }
}

/// FNV-1a, for stable per-name choices independent of generation order.
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A Kubernetes-style random suffix derived from `seed`.
fn k8s_suffix(seed: &str, len: usize) -> String {
    let mut rng = SplitMix64(fnv1a(seed));
    (0..len)
        .map(|_| K8S_ALPHABET[rng.below(K8S_ALPHABET.len() as u64) as usize] as char)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Topology (the subset of cluster-topology.json the generator reads)
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct Topology {
    cluster: ClusterInfo,
    apps: Vec<App>,
}

#[derive(Deserialize)]
struct ClusterInfo {
    name: String,
    pod_cidr: String,
    service_cidr: String,
    cluster_dns: String,
    nodes: Vec<String>,
    kube_apiserver: String,
    #[serde(default)]
    gateways: BTreeMap<String, GatewayInfo>,
}

#[derive(Deserialize)]
struct GatewayInfo {
    #[serde(default)]
    pod_ports: BTreeMap<String, u16>,
}

#[derive(Deserialize)]
struct App {
    namespace: String,
    app: String,
    #[serde(default)]
    helm: Vec<HelmRelease>,
    #[serde(default)]
    workloads: Vec<WorkloadSpec>,
    #[serde(default)]
    services: Vec<ServiceSpec>,
    #[serde(default)]
    databases_owned: Vec<DatabaseSpec>,
    exposure: Exposure,
    #[serde(default)]
    talks_to: Vec<Talk>,
    #[serde(default)]
    egress_internet: Vec<EgressSpec>,
}

impl App {
    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.app)
    }
}

#[derive(Deserialize)]
struct HelmRelease {
    #[serde(default)]
    release: Option<String>,
    #[serde(default)]
    chart: Option<String>,
    #[serde(default)]
    chart_url: Option<String>,
}

#[derive(Deserialize)]
struct WorkloadSpec {
    name: String,
    kind: String,
    #[serde(default)]
    pod_labels: BTreeMap<String, String>,
    #[serde(default)]
    ports: Option<Vec<u16>>,
    #[serde(default, rename = "hostNetwork")]
    host_network: Option<bool>,
    #[serde(default)]
    controller_id: Option<String>,
    #[serde(default)]
    containers: Option<Vec<ContainerSpec>>,
}

#[derive(Deserialize)]
struct ContainerSpec {
    kind: String,
    #[serde(default)]
    probe_ports: Vec<u16>,
}

#[derive(Deserialize)]
struct ServiceSpec {
    name: String,
    #[serde(default)]
    selector: BTreeMap<String, String>,
    #[serde(default)]
    ports: Vec<ServicePort>,
}

#[derive(Deserialize)]
struct ServicePort {
    port: u16,
    #[serde(default, rename = "targetPort")]
    target_port: Option<serde_json::Value>,
}

impl ServicePort {
    /// The backend (pod) port: numeric targetPort, else the service port.
    fn backend_port(&self) -> u16 {
        self.target_port
            .as_ref()
            .and_then(|v| v.as_u64())
            .map(|p| p as u16)
            .unwrap_or(self.port)
    }
}

#[derive(Deserialize)]
struct DatabaseSpec {
    kind: String,
    name: String,
    namespace: String,
    #[serde(default)]
    instances: Option<u32>,
    #[serde(default)]
    replicas: Option<u32>,
    port: u16,
    #[serde(default)]
    pod_labels: BTreeMap<String, String>,
    #[serde(default)]
    metrics_port: Option<u16>,
    #[serde(default)]
    admin_port: Option<u16>,
}

#[derive(Deserialize, Default)]
struct Exposure {
    #[serde(default)]
    routes: Vec<RouteSpec>,
    #[serde(default)]
    lan_loadbalancers: Vec<LanLoadBalancer>,
}

#[derive(Deserialize)]
struct RouteSpec {
    gateway: String,
    #[serde(default)]
    hostnames: Vec<String>,
    #[serde(default)]
    backend_service: Option<String>,
    #[serde(default)]
    backend_port: Option<u16>,
    #[serde(default)]
    pod_port: Option<u16>,
}

#[derive(Deserialize)]
struct LanLoadBalancer {
    service: String,
    #[serde(default)]
    ports: Vec<u16>,
}

#[derive(Deserialize)]
struct Talk {
    target: String,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    relation: String,
}

#[derive(Deserialize)]
struct EgressSpec {
    dest: String,
    #[serde(default)]
    port: Option<u16>,
}

// ---------------------------------------------------------------------------------------------
// The simulated cluster: nodes, pods, identities
// ---------------------------------------------------------------------------------------------

struct Node {
    name: String,
    /// Node (LAN) address; the topology does not list them, so 10.11.0.21.. are used.
    ip: Ipv4Addr,
    /// cilium_host router address inside the node's pod CIDR block.
    router_ip: Ipv4Addr,
    /// cilium-health endpoint address and endpoint ID.
    health_ip: Ipv4Addr,
    health_id: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PodRole {
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

struct Pod {
    app_key: String,
    namespace: String,
    workload: String,
    workload_kind: String,
    name: String,
    /// Identity-relevant pod labels (after Cilium's label filter), without the `k8s:` prefix.
    labels: BTreeMap<String, String>,
    service_account: String,
    node: usize,
    ip: Ipv4Addr,
    ip6: Ipv6Addr,
    endpoint_id: u32,
    identity: u32,
    ports: Vec<u16>,
    probe_ports: Vec<u16>,
    role: PodRole,
}

impl Pod {
    fn identity_labels(&self, cluster_name: &str) -> Vec<String> {
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
            self.service_account
        ));
        labels.push(format!(
            "k8s:io.kubernetes.pod.namespace={}",
            self.namespace
        ));
        labels.sort();
        labels
    }

    fn is_long_lived(&self) -> bool {
        !matches!(self.role, PodRole::Job { .. })
    }
}

/// A hostNetwork workload: its traffic appears as `reserved:host` / `reserved:remote-node`.
struct HostWorkload {
    ports: Vec<u16>,
}

struct Cluster {
    name: String,
    nodes: Vec<Node>,
    pods: Vec<Pod>,
    host_workloads: Vec<HostWorkload>,
    /// ClusterIP per `ns/service`.
    cluster_ips: BTreeMap<String, Ipv4Addr>,
    apiserver_lb_ip: Ipv4Addr,
    /// Control-plane nodes (the kube-apiserver endpoints).
    control_plane: Vec<usize>,
    /// Gateway name (`network/envoy-internal`) → https / http pod ports.
    gateway_ports: BTreeMap<String, (u16, u16)>,
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

/// Labels Cilium's default identity-label filter drops (facts §2).
fn is_identity_relevant(key: &str) -> bool {
    const EXCLUDED_PREFIXES: [&str; 5] = [
        "io.kubernetes",
        "kubernetes.io",
        "beta.kubernetes.io",
        "k8s.io",
        "annotation.",
    ];
    const EXCLUDED_KEYS: [&str; 9] = [
        "pod-template-generation",
        "pod-template-hash",
        "controller-revision-hash",
        "etcd_node",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "batch.kubernetes.io/job-completion-index",
        "batch.kubernetes.io/controller-uid",
        "controller-uid",
    ];
    !EXCLUDED_PREFIXES.iter().any(|p| key.starts_with(p)) && !EXCLUDED_KEYS.contains(&key)
}

/// One concrete workload after expanding the topology's compact notations
/// (`a|b|c` names or label alternatives, `<controller-name>` placeholders, notes in parentheses).
struct ExpandedWorkload {
    name: String,
    kind: String,
    labels: BTreeMap<String, String>,
    host_network: bool,
    app_template: bool,
    ports: Vec<u16>,
    probe_ports: Vec<u16>,
}

fn split_name_and_note(raw: &str) -> (String, String) {
    match raw.split_once(" (") {
        Some((name, note)) => (
            name.trim().to_string(),
            note.trim_end_matches(')').to_string(),
        ),
        None => (raw.trim().to_string(), String::new()),
    }
}

fn note_says_host_network(note: &str) -> bool {
    note == "hostNetwork" || note.ends_with(", hostNetwork")
}

fn normalize_kind(kind: &str, name: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if k.contains('/') {
        return if name.contains("worker") {
            "DaemonSet"
        } else {
            "Deployment"
        }
        .to_string();
    }
    match k.as_str() {
        "deployment" | "various" => "Deployment",
        "daemonset" => "DaemonSet",
        "statefulset" => "StatefulSet",
        "cronjob" => "CronJob",
        "pod" => "Pod",
        _ => "Deployment",
    }
    .to_string()
}

fn expand_workload(spec: &WorkloadSpec) -> Vec<ExpandedWorkload> {
    let (base, note) = split_name_and_note(&spec.name);
    let mut names: Vec<String> = if base.contains('|') {
        base.split('|').map(|s| s.trim().to_string()).collect()
    } else if base.contains(" / ") {
        base.split(" / ").map(|s| s.trim().to_string()).collect()
    } else {
        vec![base.clone()]
    };
    let alternatives: Vec<(&String, Vec<&str>)> = spec
        .pod_labels
        .iter()
        .filter(|(_, v)| v.contains('|'))
        .map(|(k, v)| (k, v.split('|').collect()))
        .collect();
    if names.len() == 1 {
        if let Some((_, alts)) = alternatives.first() {
            names = alts.iter().map(|s| s.to_string()).collect();
        }
    }
    let host_network = spec.host_network == Some(true) || note_says_host_network(&note);
    let containers = spec.containers.as_deref().unwrap_or(&[]);
    let probe_ports: Vec<u16> = containers
        .iter()
        .filter(|c| c.kind == "containers")
        .flat_map(|c| c.probe_ports.iter().copied())
        .collect();
    let ports = spec.ports.clone().unwrap_or_default();
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let labels = spec
                .pod_labels
                .iter()
                .map(|(k, v)| {
                    let alt = alternatives.iter().find(|(ak, _)| *ak == k);
                    let value = match alt {
                        Some((_, alts)) => alts.get(i).copied().unwrap_or(alts[0]).to_string(),
                        None => v.replace("<controller-name>", name),
                    };
                    (k.clone(), value)
                })
                .collect();
            ExpandedWorkload {
                name: name.clone(),
                kind: normalize_kind(&spec.kind, name),
                labels,
                host_network,
                app_template: spec.controller_id.is_some(),
                ports: ports.clone(),
                probe_ports: if probe_ports.is_empty() && spec.controller_id.is_none() {
                    ports.first().copied().into_iter().collect()
                } else {
                    probe_ports.clone()
                },
            }
        })
        .collect()
}

/// Helm's volatile labels (`helm.sh/chart`, `app.kubernetes.io/version`) for some chart pods.
fn helm_volatile_labels(app: &App, wl: &ExpandedWorkload) -> Vec<(String, String)> {
    if wl.app_template || fnv1a(&wl.name) % 2 == 1 {
        return Vec::new();
    }
    let instance = wl.labels.get("app.kubernetes.io/instance");
    let release = app
        .helm
        .iter()
        .find(|h| h.release.as_ref() == instance && instance.is_some())
        .or_else(|| app.helm.first());
    let Some(release) = release else {
        return Vec::new();
    };
    let (Some(chart), Some(url)) = (&release.chart, &release.chart_url) else {
        return Vec::new();
    };
    let Some((_, version)) = url.rsplit_once(':') else {
        return Vec::new();
    };
    vec![
        ("helm.sh/chart".to_string(), format!("{chart}-{version}")),
        ("app.kubernetes.io/version".to_string(), version.to_string()),
        (
            "app.kubernetes.io/managed-by".to_string(),
            "Helm".to_string(),
        ),
    ]
}

/// Replica count of a long-lived workload.
fn replicas_of(wl: &ExpandedWorkload, node_count: usize) -> usize {
    let proxy = wl
        .labels
        .get("app.kubernetes.io/component")
        .map(String::as_str)
        == Some("proxy");
    let coredns = wl.labels.get("k8s-app").map(String::as_str) == Some("kube-dns");
    match wl.kind.as_str() {
        "DaemonSet" => node_count,
        _ if proxy || coredns => 2,
        _ => 1,
    }
}

/// Labels the controllers add (most are then dropped by the identity filter).
fn controller_labels(
    kind: &str,
    workload: &str,
    pod_name: &str,
    ordinal: usize,
) -> Vec<(String, String)> {
    let hash = k8s_suffix(&format!("{workload}/template"), 10);
    match kind {
        "Deployment" => vec![("pod-template-hash".into(), hash)],
        "StatefulSet" => vec![
            (
                "controller-revision-hash".into(),
                format!("{workload}-{hash}"),
            ),
            (
                "statefulset.kubernetes.io/pod-name".into(),
                pod_name.to_string(),
            ),
            ("apps.kubernetes.io/pod-index".into(), ordinal.to_string()),
        ],
        "DaemonSet" => vec![
            ("controller-revision-hash".into(), hash),
            ("pod-template-generation".into(), "1".into()),
        ],
        _ => Vec::new(),
    }
}

fn pod_name_for(kind: &str, workload: &str, ordinal: usize) -> String {
    let seed = format!("{workload}#{ordinal}");
    match kind {
        "StatefulSet" => format!("{workload}-{ordinal}"),
        "DaemonSet" => format!("{workload}-{}", k8s_suffix(&seed, 5)),
        "Pod" => format!(
            "{workload}-{}-runner-{}",
            k8s_suffix(&seed, 5),
            k8s_suffix(&(seed.clone() + "r"), 5)
        ),
        _ => format!(
            "{workload}-{}-{}",
            k8s_suffix(&format!("{workload}/template"), 10),
            k8s_suffix(&seed, 5)
        ),
    }
}

fn service_account_for(wl: &ExpandedWorkload) -> String {
    if wl.app_template {
        "default".to_string()
    } else {
        wl.name.clone()
    }
}

/// Builder that hands out pod IPs, endpoint IDs and nodes deterministically.
struct PodFactory {
    pod_base: [u8; 4],
    next_host: Vec<u32>,
    used_ids: BTreeSet<(usize, u32)>,
}

impl PodFactory {
    fn new(pod_base: [u8; 4], nodes: usize) -> Self {
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

impl Cluster {
    fn build(topo: &Topology) -> Result<Self> {
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

    fn pods_where(&self, pred: impl Fn(&Pod) -> bool) -> Vec<usize> {
        (0..self.pods.len())
            .filter(|&i| pred(&self.pods[i]))
            .collect()
    }

    fn coredns_pods(&self) -> Vec<usize> {
        self.pods_where(|p| p.labels.get("k8s-app").map(String::as_str) == Some("kube-dns"))
    }

    /// Long-lived pods of an app that initiate its connections: the workload named like the
    /// app (or Prometheus itself), else the non-helper workloads, else the first workload.
    fn client_pods(&self, app_key: &str) -> Vec<usize> {
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

    fn cluster_ip(&self, ns: &str, service: &str) -> Ipv4Addr {
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

fn add_workload_pods(
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

fn add_job_pods(
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
fn add_database_pods(
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

// ---------------------------------------------------------------------------------------------
// Peers and endpoints
// ---------------------------------------------------------------------------------------------

/// One end of a connection.
#[derive(Clone, Debug)]
enum Peer {
    Pod(usize),
    /// A node's host namespace seen from its cilium_host address (kubelet probes).
    Host(usize),
    /// A node at its own address (hostNetwork agents, SNATed LoadBalancer traffic).
    NodeIp(usize),
    /// kube-apiserver on a control-plane node.
    ApiServer(usize),
    /// kube-apiserver reached at its LoadBalancer address.
    ApiServerLb,
    Health(usize),
    /// Anything outside the cluster (internet, LAN clients, NAS).
    World(IpAddr),
}

/// How Hubble labels a world address (facts §1): three styles coexist in the fixture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WorldStyle {
    Plain,
    CidrIpv4,
    Ipv6,
}

fn world_style(ip: &IpAddr) -> WorldStyle {
    match ip {
        IpAddr::V6(_) => WorldStyle::Ipv6,
        IpAddr::V4(v4) if v4.octets()[0] == 10 => WorldStyle::Plain,
        IpAddr::V4(v4) if fnv1a(&v4.to_string()) % 5 < 2 => WorldStyle::CidrIpv4,
        IpAddr::V4(_) => WorldStyle::Plain,
    }
}

fn reserved_endpoint(identity: u32, labels: &[&str]) -> Endpoint {
    Endpoint {
        identity,
        labels: labels.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The simulator: turns connections into observed flows
// ---------------------------------------------------------------------------------------------

/// Which end of a connection an observation is taken at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Source,
    Destination,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Proto {
    Tcp,
    Udp,
}

/// A connection (or UDP exchange) between two peers, post-DNAT (backend pod port).
#[derive(Clone)]
struct Conn {
    src: Peer,
    dst: Peer,
    proto: Proto,
    sport: u32,
    dport: u32,
    v6: bool,
    /// `destination_names` for world destinations resolved through the DNS proxy.
    names: Vec<String>,
}

struct Sim<'c> {
    cluster: &'c Cluster,
    rng: SplitMix64,
    events: Vec<(u64, u64, GetFlowsResponse)>,
    world_identities: BTreeMap<IpAddr, u32>,
    /// (pod, name) pairs already resolved once (every client resolves before its first use).
    resolved: BTreeSet<(usize, String)>,
}

fn timestamp(offset_ns: u64) -> Timestamp {
    Timestamp {
        seconds: (START_UNIX_SECS + offset_ns / NS_PER_SEC) as i64,
        nanos: (offset_ns % NS_PER_SEC) as i32,
    }
}

fn tcp_summary(f: &TcpFlags) -> String {
    let mut parts = Vec::new();
    for (set, name) in [
        (f.syn, "SYN"),
        (f.ack, "ACK"),
        (f.psh, "PSH"),
        (f.fin, "FIN"),
        (f.rst, "RST"),
    ] {
        if set {
            parts.push(name);
        }
    }
    format!("TCP Flags: {}", parts.join(", "))
}

impl<'c> Sim<'c> {
    fn new(cluster: &'c Cluster) -> Self {
        Self {
            cluster,
            rng: SplitMix64(SEED),
            events: Vec::new(),
            world_identities: BTreeMap::new(),
            resolved: BTreeSet::new(),
        }
    }

    fn push(&mut self, t: u64, resp: GetFlowsResponse) {
        let seq = self.events.len() as u64;
        self.events.push((t, seq, resp));
    }

    fn push_flow(&mut self, t: u64, mut flow: Flow) {
        let node = flow.node_name.clone();
        flow.time = Some(timestamp(t));
        self.push(
            t,
            GetFlowsResponse {
                node_name: node,
                time: Some(timestamp(t)),
                response_types: Some(ResponseTypes::Flow(flow)),
            },
        );
    }

    /// Node where a peer is a local Cilium endpoint (only pods and health endpoints).
    fn local_node(&self, peer: &Peer) -> Option<usize> {
        match peer {
            Peer::Pod(i) => Some(self.cluster.pods[*i].node),
            Peer::Health(n) => Some(*n),
            _ => None,
        }
    }

    fn peer_ip(&self, peer: &Peer, v6: bool) -> IpAddr {
        let c = self.cluster;
        match peer {
            Peer::Pod(i) if v6 => IpAddr::V6(c.pods[*i].ip6),
            Peer::Pod(i) => IpAddr::V4(c.pods[*i].ip),
            Peer::Host(n) => IpAddr::V4(c.nodes[*n].router_ip),
            Peer::NodeIp(n) => IpAddr::V4(c.nodes[*n].ip),
            Peer::ApiServer(n) => IpAddr::V4(c.nodes[*n].ip),
            Peer::ApiServerLb => IpAddr::V4(c.apiserver_lb_ip),
            Peer::Health(n) => IpAddr::V4(c.nodes[*n].health_ip),
            Peer::World(ip) => *ip,
        }
    }

    fn world_endpoint(&mut self, ip: IpAddr) -> Endpoint {
        match world_style(&ip) {
            WorldStyle::Plain => reserved_endpoint(2, &["reserved:world"]),
            WorldStyle::Ipv6 => reserved_endpoint(10, &["reserved:world-ipv6"]),
            WorldStyle::CidrIpv4 => {
                let next = LOCAL_IDENTITY_BASE + 1 + self.world_identities.len() as u32;
                let id = *self.world_identities.entry(ip).or_insert(next);
                Endpoint {
                    identity: id,
                    labels: vec![format!("cidr:{ip}/32"), "reserved:world-ipv4".to_string()],
                    ..Default::default()
                }
            }
        }
    }

    /// The endpoint as the agent on `observer` node describes it.
    fn endpoint(&mut self, peer: &Peer, observer: usize) -> Endpoint {
        let c = self.cluster;
        match peer {
            Peer::Pod(i) => {
                let p = &c.pods[*i];
                Endpoint {
                    id: p.endpoint_id,
                    identity: p.identity,
                    cluster_name: c.name.clone(),
                    namespace: p.namespace.clone(),
                    labels: p.identity_labels(&c.name),
                    pod_name: p.name.clone(),
                    workloads: vec![Workload {
                        name: p.workload.clone(),
                        kind: p.workload_kind.clone(),
                    }],
                }
            }
            Peer::Host(n) | Peer::NodeIp(n) if *n == observer => {
                reserved_endpoint(1, &["reserved:host"])
            }
            Peer::Host(_) | Peer::NodeIp(_) => reserved_endpoint(6, &["reserved:remote-node"]),
            Peer::ApiServer(n) if *n == observer => {
                reserved_endpoint(1, &["reserved:host", "reserved:kube-apiserver"])
            }
            Peer::ApiServer(_) | Peer::ApiServerLb => {
                reserved_endpoint(7, &["reserved:kube-apiserver", "reserved:remote-node"])
            }
            Peer::Health(n) => Endpoint {
                id: c.nodes[*n].health_id,
                identity: 4,
                labels: vec!["reserved:health".into()],
                ..Default::default()
            },
            Peer::World(ip) => self.world_endpoint(*ip),
        }
    }

    /// Nodes that observe this connection, and at which side.
    fn observers(&self, conn: &Conn) -> Vec<(usize, Side)> {
        let mut obs = Vec::new();
        let src = self.local_node(&conn.src);
        if let Some(n) = src {
            obs.push((n, Side::Source));
        }
        if let Some(n) = self.local_node(&conn.dst) {
            if src != Some(n) {
                obs.push((n, Side::Destination));
            }
        }
        obs
    }

    /// A flow skeleton for one packet of `conn` (reverse = the responder sends it).
    fn packet_flow(
        &mut self,
        conn: &Conn,
        reverse: bool,
        observer: usize,
        l4: layer4::Protocol,
    ) -> Flow {
        let (from, to) = if reverse {
            (&conn.dst, &conn.src)
        } else {
            (&conn.src, &conn.dst)
        };
        let (src_ip, dst_ip) = (self.peer_ip(from, conn.v6), self.peer_ip(to, conn.v6));
        let source = self.endpoint(from, observer);
        let destination = self.endpoint(to, observer);
        let mut flow = Flow {
            verdict: Verdict::Forwarded as i32,
            ip: Some(Ip {
                source: src_ip.to_string(),
                destination: dst_ip.to_string(),
                ip_version: if conn.v6 {
                    IpVersion::IPv6
                } else {
                    IpVersion::IPv4
                } as i32,
                ..Default::default()
            }),
            l4: Some(Layer4 { protocol: Some(l4) }),
            source: Some(source),
            destination: Some(destination),
            r#type: FlowType::L3L4 as i32,
            node_name: self.cluster.nodes[observer].name.clone(),
            is_reply: Some(BoolValue { value: reverse }),
            reply: reverse,
            ..Default::default()
        };
        if !conn.names.is_empty() {
            if reverse {
                flow.source_names = conn.names.clone();
            } else {
                flow.destination_names = conn.names.clone();
            }
        }
        flow
    }

    fn l4_for(conn: &Conn, reverse: bool, flags: Option<TcpFlags>) -> layer4::Protocol {
        let (sp, dp) = if reverse {
            (conn.dport, conn.sport)
        } else {
            (conn.sport, conn.dport)
        };
        match conn.proto {
            Proto::Tcp => layer4::Protocol::Tcp(Tcp {
                source_port: sp,
                destination_port: dp,
                flags,
            }),
            Proto::Udp => layer4::Protocol::Udp(Udp {
                source_port: sp,
                destination_port: dp,
            }),
        }
    }

    /// Emit one packet as seen by every observing node (trace events).
    fn emit_packet(&mut self, conn: &Conn, reverse: bool, flags: Option<TcpFlags>, t: u64) {
        for (node, side) in self.observers(conn) {
            let local_delivery = self.local_node(&conn.dst) == self.local_node(&conn.src);
            let point = match (side, reverse) {
                (Side::Source, false) if local_delivery => TraceObservationPoint::ToEndpoint,
                (Side::Source, false) => TraceObservationPoint::ToStack,
                (Side::Source, true) => TraceObservationPoint::ToEndpoint,
                (Side::Destination, false) => TraceObservationPoint::ToEndpoint,
                (Side::Destination, true) => TraceObservationPoint::ToStack,
            };
            let later = matches!(
                (side, reverse),
                (Side::Destination, false) | (Side::Source, true)
            );
            let delay = if later {
                self.rng.range(30, 120) * NS_PER_US
            } else {
                0
            };
            let l4 = Self::l4_for(conn, reverse, flags);
            let mut flow = self.packet_flow(conn, reverse, node, l4);
            flow.traffic_direction = match side {
                Side::Source => TrafficDirection::Egress,
                Side::Destination => TrafficDirection::Ingress,
            } as i32;
            flow.trace_observation_point = point as i32;
            flow.event_type = Some(CiliumEventType {
                r#type: EVENT_TRACE,
                sub_type: trace_sub_type(point),
            });
            flow.summary = match &flags {
                Some(f) => tcp_summary(f),
                None => "UDP".to_string(),
            };
            if side == Side::Destination && !reverse && flags.is_some_and(|f| f.syn && !f.ack) {
                self.maybe_audit(conn, node, &flow, t + delay);
            }
            self.push_flow(t + delay, flow);
        }
    }

    /// Policy-verdict AUDIT event for new ingress connections into the audited namespace.
    fn maybe_audit(&mut self, conn: &Conn, node: usize, trace: &Flow, t: u64) {
        let Peer::Pod(dst) = conn.dst else { return };
        let dst_ns = &self.cluster.pods[dst].namespace;
        let same_ns = matches!(conn.src, Peer::Pod(s) if &self.cluster.pods[s].namespace == dst_ns);
        if dst_ns != AUDIT_NAMESPACE || same_ns {
            return;
        }
        let mut flow = trace.clone();
        flow.node_name = self.cluster.nodes[node].name.clone();
        flow.verdict = Verdict::Audit as i32;
        flow.trace_observation_point = 0;
        flow.event_type = Some(CiliumEventType {
            r#type: EVENT_POLICY_VERDICT,
            sub_type: 0,
        });
        flow.policy_match_type = 0;
        self.push_flow(t, flow);
    }

    /// A full TCP connection: SYN, SYN-ACK, request, response, FIN. Returns its end time.
    fn tcp_session(&mut self, conn: &Conn, t0: u64, rtt: u64) -> u64 {
        let syn = TcpFlags {
            syn: true,
            ..Default::default()
        };
        let syn_ack = TcpFlags {
            syn: true,
            ack: true,
            ..Default::default()
        };
        let data = TcpFlags {
            ack: true,
            psh: true,
            ..Default::default()
        };
        let fin = TcpFlags {
            ack: true,
            fin: true,
            ..Default::default()
        };
        let mut t = t0;
        self.emit_packet(conn, false, Some(syn), t);
        t += rtt / 2 + self.rng.below(rtt / 4 + 1);
        self.emit_packet(conn, true, Some(syn_ack), t);
        t += rtt / 2 + self.rng.below(200 * NS_PER_US);
        self.emit_packet(conn, false, Some(data), t);
        t += rtt + self.rng.below(20 * NS_PER_MS);
        self.emit_packet(conn, true, Some(data), t);
        t += self.rng.range(1, 30_000) * NS_PER_US;
        self.emit_packet(conn, false, Some(fin), t);
        t
    }

    /// A UDP request/response exchange.
    fn udp_exchange(&mut self, conn: &Conn, t0: u64, rtt: u64) -> u64 {
        self.emit_packet(conn, false, None, t0);
        let t = t0 + rtt + self.rng.below(rtt / 2 + 1);
        self.emit_packet(conn, true, None, t);
        t
    }

    /// SYN retransmissions dropped by policy at the destination node.
    fn dropped_syns(&mut self, conn: &Conn, t0: u64, tries: u64) {
        let Some(node) = self.local_node(&conn.dst) else {
            return;
        };
        for attempt in 0..tries {
            let t = t0 + attempt * (1 << attempt) * NS_PER_SEC;
            let flags = TcpFlags {
                syn: true,
                ..Default::default()
            };
            let l4 = Self::l4_for(conn, false, Some(flags));
            let mut flow = self.packet_flow(conn, false, node, l4);
            flow.verdict = Verdict::Dropped as i32;
            flow.drop_reason = DROP_POLICY_DENIED;
            flow.drop_reason_desc = DropReason::PolicyDenied as i32;
            flow.is_reply = None;
            flow.traffic_direction = TrafficDirection::Ingress as i32;
            flow.event_type = Some(CiliumEventType {
                r#type: EVENT_DROP,
                sub_type: DROP_POLICY_DENIED as i32,
            });
            flow.summary = tcp_summary(&flags);
            self.push_flow(t, flow);
        }
    }

    fn render(mut self) -> Result<(Vec<u8>, DumpStats)> {
        self.events.sort_by_key(|(t, seq, _)| (*t, *seq));
        let mut out = Vec::with_capacity(self.events.len() * 1200);
        let mut stats = DumpStats::default();
        for (_, _, resp) in &self.events {
            let line = serde_json::to_string(resp)?;
            // Hubble prints UTC timestamps with a `Z` suffix; pbjson writes `+00:00`.
            out.write_all(line.replace("+00:00\"", "Z\"").as_bytes())?;
            out.write_all(b"\n")?;
            stats.lines += 1;
            match resp.response_types {
                Some(ResponseTypes::Flow(_)) => stats.flows += 1,
                Some(ResponseTypes::NodeStatus(_)) => stats.node_status += 1,
                Some(ResponseTypes::LostEvents(_)) => stats.lost_events += 1,
                None => {}
            }
        }
        Ok((out, stats))
    }
}

fn trace_sub_type(point: TraceObservationPoint) -> i32 {
    match point {
        TraceObservationPoint::ToEndpoint => 0,
        TraceObservationPoint::ToProxy => 1,
        TraceObservationPoint::ToHost => 2,
        TraceObservationPoint::ToStack => 3,
        TraceObservationPoint::ToOverlay => 4,
        _ => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// DNS
// ---------------------------------------------------------------------------------------------

/// Round-trip times.
const RTT_CLUSTER: u64 = 400 * NS_PER_US;
const RTT_WORLD: u64 = 25 * NS_PER_MS;
/// TTL Hubble prints for negative answers seen by the proxy.
const NEGATIVE_TTL: u32 = u32::MAX;

/// One DNS answer to simulate.
struct DnsAnswer {
    ips: Vec<IpAddr>,
    ttl: u32,
    rcode: u32,
    qtype: &'static str,
}

impl<'c> Sim<'c> {
    /// Pods whose DNS goes through Cilium's DNS proxy (apps with internet egress, i.e. the pods
    /// a toFQDNs policy would cover); their lookups carry L7 DNS records.
    fn dns_is_proxied(&self, topo_internet_apps: &BTreeSet<String>, pod: usize) -> bool {
        topo_internet_apps.contains(&self.cluster.pods[pod].app_key)
    }

    /// Resolve `name` from `pod` (with search-list expansion when `expand`), returns the time
    /// the final answer arrives.
    fn resolve(
        &mut self,
        proxied: bool,
        pod: usize,
        name: &str,
        expand: bool,
        answer: &DnsAnswer,
        t0: u64,
    ) -> u64 {
        let mut t = t0;
        if expand {
            let ns = self.cluster.pods[pod].namespace.clone();
            for suffix in [
                format!("{ns}.svc.cluster.local"),
                "svc.cluster.local".into(),
                "cluster.local".into(),
            ] {
                let query = format!("{name}.{suffix}.");
                let nx = DnsAnswer {
                    ips: vec![],
                    ttl: NEGATIVE_TTL,
                    rcode: 3,
                    qtype: answer.qtype,
                };
                t = self.dns_query(proxied, pod, &query, &nx, t)
                    + self.rng.range(50, 400) * NS_PER_US;
            }
        }
        self.dns_query(proxied, pod, &format!("{name}."), answer, t)
    }

    fn dns_query(
        &mut self,
        proxied: bool,
        pod: usize,
        query: &str,
        answer: &DnsAnswer,
        t0: u64,
    ) -> u64 {
        let coredns = self.cluster.coredns_pods();
        let server = *self.rng.pick(&coredns);
        let conn = Conn {
            src: Peer::Pod(pod),
            dst: Peer::Pod(server),
            proto: Proto::Udp,
            sport: self.rng.ephemeral_port(),
            dport: 53,
            v6: false,
            names: vec![],
        };
        if !proxied {
            return self.udp_exchange(&conn, t0, RTT_CLUSTER);
        }
        self.proxied_dns(&conn, query, answer, t0)
    }

    /// DNS through the proxy: policy verdict REDIRECTED, trace TO_PROXY, L7 request/response,
    /// the proxied packet at CoreDNS's node, and the answer delivered back to the client.
    fn proxied_dns(&mut self, conn: &Conn, query: &str, answer: &DnsAnswer, t0: u64) -> u64 {
        let Peer::Pod(client) = conn.src else {
            return t0;
        };
        let node = self.cluster.pods[client].node;
        let l4 = Self::l4_for(conn, false, None);
        let mut verdict = self.packet_flow(conn, false, node, l4);
        verdict.verdict = Verdict::Redirected as i32;
        verdict.event_type = Some(CiliumEventType {
            r#type: EVENT_POLICY_VERDICT,
            sub_type: 0,
        });
        verdict.traffic_direction = TrafficDirection::Egress as i32;
        verdict.policy_match_type = 2;
        verdict.summary = "UDP".into();
        let mut to_proxy = verdict.clone();
        self.push_flow(t0, verdict);
        to_proxy.verdict = Verdict::Forwarded as i32;
        to_proxy.event_type = Some(CiliumEventType {
            r#type: EVENT_TRACE,
            sub_type: 1,
        });
        to_proxy.trace_observation_point = TraceObservationPoint::ToProxy as i32;
        self.push_flow(t0 + 5 * NS_PER_US, to_proxy);

        let t_req = t0 + self.rng.range(20, 80) * NS_PER_US;
        let request = self.l7_dns_flow(conn, node, false, query, answer, 0);
        self.push_flow(t_req, request);
        let t_up = t_req + self.rng.range(20, 60) * NS_PER_US;
        let upstream = Conn {
            src: conn.src.clone(),
            dst: conn.dst.clone(),
            ..conn.clone()
        };
        let server_node = self.local_node(&conn.dst).unwrap_or(node);
        self.emit_server_side_udp(&upstream, server_node, t_up);
        let latency = RTT_CLUSTER + self.rng.below(2 * NS_PER_MS);
        let t_resp = t_req + latency;
        let response = self.l7_dns_flow(conn, node, true, query, answer, latency);
        self.push_flow(t_resp, response);
        let l4r = Self::l4_for(conn, true, None);
        let mut delivered = self.packet_flow(conn, true, node, l4r);
        delivered.traffic_direction = TrafficDirection::Egress as i32;
        delivered.trace_observation_point = TraceObservationPoint::ToEndpoint as i32;
        delivered.event_type = Some(CiliumEventType {
            r#type: EVENT_TRACE,
            sub_type: 0,
        });
        delivered.summary = "UDP".into();
        self.push_flow(t_resp + 10 * NS_PER_US, delivered);
        t_resp + 10 * NS_PER_US
    }

    /// The proxied query and its answer as observed at the DNS server's node.
    fn emit_server_side_udp(&mut self, conn: &Conn, node: usize, t: u64) {
        for (reverse, point, dt) in [
            (false, TraceObservationPoint::ToEndpoint, 0),
            (true, TraceObservationPoint::ToStack, RTT_CLUSTER / 2),
        ] {
            let l4 = Self::l4_for(conn, reverse, None);
            let mut flow = self.packet_flow(conn, reverse, node, l4);
            flow.traffic_direction = TrafficDirection::Ingress as i32;
            flow.trace_observation_point = point as i32;
            flow.event_type = Some(CiliumEventType {
                r#type: EVENT_TRACE,
                sub_type: trace_sub_type(point),
            });
            flow.summary = "UDP".into();
            self.push_flow(t + dt, flow);
        }
    }

    fn l7_dns_flow(
        &mut self,
        conn: &Conn,
        node: usize,
        response: bool,
        query: &str,
        answer: &DnsAnswer,
        latency: u64,
    ) -> Flow {
        let l4 = Self::l4_for(conn, response, None);
        let mut flow = self.packet_flow(conn, response, node, l4);
        flow.r#type = FlowType::L7 as i32;
        flow.event_type = Some(CiliumEventType {
            r#type: EVENT_L7,
            sub_type: 0,
        });
        flow.traffic_direction = TrafficDirection::Egress as i32;
        let qtypes = vec![answer.qtype.to_string()];
        let dns = if response {
            let ips: Vec<String> = answer.ips.iter().map(|ip| ip.to_string()).collect();
            flow.summary = if answer.rcode == 3 {
                format!(
                    "DNS Answer RCode: Non-Existent Domain TTL: {} (Proxy {query} {})",
                    answer.ttl, answer.qtype
                )
            } else {
                let quoted: Vec<String> = ips.iter().map(|ip| format!("\"{ip}\"")).collect();
                format!(
                    "DNS Answer {} TTL: {} (Proxy {query} {})",
                    quoted.join(","),
                    answer.ttl,
                    answer.qtype
                )
            };
            Dns {
                query: query.to_string(),
                rrtypes: if ips.is_empty() {
                    vec![]
                } else {
                    qtypes.clone()
                },
                ips,
                ttl: answer.ttl,
                observation_source: "proxy".into(),
                rcode: answer.rcode,
                qtypes,
                ..Default::default()
            }
        } else {
            flow.summary = format!("DNS Query {query} {}", answer.qtype);
            Dns {
                query: query.to_string(),
                observation_source: "proxy".into(),
                qtypes,
                ..Default::default()
            }
        };
        flow.l7 = Some(Layer7 {
            r#type: if response {
                L7FlowType::Response
            } else {
                L7FlowType::Request
            } as i32,
            latency_ns: latency,
            record: Some(layer7::Record::Dns(dns)),
        });
        flow
    }
}

// ---------------------------------------------------------------------------------------------
// Internet names and addresses
// ---------------------------------------------------------------------------------------------

/// Concrete hostnames for the topology's vague egress descriptions.
const VAGUE_DESTINATIONS: [(&str, &[&str]); 7] = [
    ("subtitle", &["api.opensubtitles.com"]),
    ("indexer", &["api.nzbgeek.info", "nzbplanet.net"]),
    ("usenet", &["news.newshosting.com"]),
    (
        "cloud integrations",
        &["api.met.no", "services.home-assistant.io"],
    ),
    ("watched website", &["www.example.com", "www.iana.org"]),
    ("widgets", &["api.openweathermap.org"]),
    ("registries", &["registry-1.docker.io"]),
];

/// Deterministic public-looking IPv4 addresses (documentation ranges) for a hostname.
fn addresses_for(name: &str) -> Vec<IpAddr> {
    const RANGES: [[u8; 3]; 3] = [[192, 0, 2], [198, 51, 100], [203, 0, 113]];
    let h = fnv1a(name);
    let count = 1 + (h % 2) as usize;
    (0..count)
        .map(|i| {
            let hi = h.rotate_left(17 * i as u32);
            let r = RANGES[(hi % 3) as usize];
            IpAddr::V4(Ipv4Addr::new(r[0], r[1], r[2], (hi >> 8) as u8 % 250 + 3))
        })
        .collect()
}

/// A few names are reached over IPv6 (dual-stack egress).
fn ipv6_address_for(name: &str) -> Option<IpAddr> {
    let h = fnv1a(name);
    h.is_multiple_of(7).then(|| {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            (h >> 16) as u16,
            0,
            0,
            0,
            0,
            (h % 0xffff) as u16 + 1,
        ))
    })
}

fn is_hostname(token: &str) -> bool {
    token.contains('.')
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '*')
        && token.chars().any(|c| c.is_ascii_alphabetic())
}

/// A world destination parsed from an `egress_internet` entry.
#[derive(Clone, Debug)]
enum WorldDest {
    Name(String),
    Address(IpAddr),
}

/// Turn a free-text `dest` into concrete names/addresses (wildcards get a concrete label).
fn parse_egress_dest(dest: &str, external_hosts: &[String]) -> Vec<WorldDest> {
    let lower = dest.to_ascii_lowercase();
    if lower.contains("multus")
        || lower.contains("in-pod")
        || lower.contains("if configured")
        || lower.contains("clients via")
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    for token in
        dest.split(|c: char| c.is_whitespace() || c == ',' || c == '/' || c == '(' || c == ')')
    {
        let token = token
            .trim_end_matches(';')
            .trim_start_matches("https:")
            .trim_matches('/');
        if let Ok(ip) = token.parse::<Ipv4Addr>() {
            out.push(WorldDest::Address(IpAddr::V4(ip)));
        } else if token.contains("<sub>") {
            let domain = token
                .split_once("<sub>.")
                .map(|(_, d)| d)
                .unwrap_or_default();
            out.extend(
                external_hosts
                    .iter()
                    .filter(|h| h.ends_with(domain))
                    .take(3)
                    .map(|h| WorldDest::Name(h.clone())),
            );
        } else if is_hostname(token) {
            let label = ["api", "edge", "my", "cdn"][(fnv1a(token) % 4) as usize];
            out.push(WorldDest::Name(token.replace('*', label)));
        }
    }
    if out.is_empty() {
        for (needle, names) in VAGUE_DESTINATIONS {
            if lower.contains(needle) {
                out.extend(names.iter().map(|n| WorldDest::Name(n.to_string())));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Traffic classes
// ---------------------------------------------------------------------------------------------

/// Spread `count` start times over the capture window with jitter.
fn spread(rng: &mut SplitMix64, count: u64) -> Vec<u64> {
    let slot = DURATION_NS / count.max(1);
    (0..count)
        .map(|i| i * slot + rng.below(slot.saturating_sub(2 * NS_PER_SEC)) + NS_PER_SEC)
        .collect()
}

/// Periodic times (e.g. probes, scrapes) with a per-target phase.
fn periodic(rng: &mut SplitMix64, period: u64) -> Vec<u64> {
    let phase = rng.below(period);
    (0..)
        .map(|i| phase + i * period)
        .take_while(|t| *t < DURATION_NS - NS_PER_SEC)
        .collect()
}

fn simulate(sim: &mut Sim, topo: &Topology) {
    let internet_apps: BTreeSet<String> = topo
        .apps
        .iter()
        .filter(|a| !a.egress_internet.is_empty())
        .map(App::key)
        .collect();
    node_status_events(sim);
    kubelet_probes(sim);
    health_checks(sim);
    apiserver_watches(sim, topo, &internet_apps);
    app_connections(sim, topo, &internet_apps);
    gateway_routes(sim, topo);
    prometheus_scrapes(sim, topo);
    database_internal(sim);
    lan_load_balancers(sim, topo);
    internet_egress(sim, topo, &internet_apps);
    cronjob_runs_traffic(sim, topo, &internet_apps);
    node_agents(sim);
    stale_homepage_lookups(sim, topo, &internet_apps);
    socket_lb_events(sim, topo);
    scanner_drops(sim);
    lost_events(sim);
}

/// Relay's node status lines: all connected at the start, one node flapping mid-capture.
fn node_status_events(sim: &mut Sim) {
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
fn lost_events(sim: &mut Sim) {
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

/// kubelet liveness/readiness probes from `reserved:host` to each container's probe ports.
fn kubelet_probes(sim: &mut Sim) {
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
fn health_checks(sim: &mut Sim) {
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

fn apiserver_watches(sim: &mut Sim, topo: &Topology, internet_apps: &BTreeSet<String>) {
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

/// A resolved in-cluster destination: backend pods, backend port, the DNS name clients use.
struct Target {
    pods: Vec<usize>,
    port: u16,
    dns_name: String,
    service: (String, String),
}

fn strip_service_name(service: &str) -> String {
    let last = service.rsplit('/').next().unwrap_or(service);
    last.split(" (").next().unwrap_or(last).trim().to_string()
}

/// Resolve a `talks_to`-style target to backend pods and the pod (target) port.
fn resolve_target(
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
fn connect_to_target(
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

fn is_app_edge(talk: &Talk) -> bool {
    !(talk.relation.starts_with("metrics scrape")
        || talk.relation.starts_with("HTTPRoute")
        || talk.target.starts_with("LAN:")
        || talk.target.starts_with("UNRESOLVED:")
        || talk.target == "kube-apiserver")
}

/// App-to-app traffic from `talks_to` (databases, *arr stack, Grafana datasources, logs…).
fn app_connections(sim: &mut Sim, topo: &Topology, internet_apps: &BTreeSet<String>) {
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
fn gateway_routes(sim: &mut Sim, topo: &Topology) {
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
fn prometheus_scrapes(sim: &mut Sim, topo: &Topology) {
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

/// CNPG streaming replication and operator status checks; Dragonfly replication.
fn database_internal(sim: &mut Sim) {
    let c = sim.cluster;
    let primaries = c.pods_where(|p| p.role == PodRole::DbPrimary);
    let operator = c.pods_where(|p| {
        p.labels.get("app.kubernetes.io/name").map(String::as_str) == Some("cloudnative-pg")
    });
    for primary in primaries {
        let p = &c.pods[primary];
        let replicas = c.pods_where(|r| {
            r.role == PodRole::DbReplica && r.workload == p.workload && r.namespace == p.namespace
        });
        let port = u32::from(p.ports[0]);
        for &replica in &replicas {
            for t in spread(&mut sim.rng, 3) {
                let conn = Conn {
                    src: Peer::Pod(replica),
                    dst: Peer::Pod(primary),
                    proto: Proto::Tcp,
                    sport: sim.rng.ephemeral_port(),
                    dport: port,
                    v6: false,
                    names: vec![],
                };
                sim.tcp_session(&conn, t, RTT_CLUSTER);
            }
        }
        if p.workload_kind != "Cluster" {
            continue;
        }
        for &op in &operator {
            for &instance in replicas.iter().chain(std::iter::once(&primary)) {
                for t in spread(&mut sim.rng, 6) {
                    let conn = Conn {
                        src: Peer::Pod(op),
                        dst: Peer::Pod(instance),
                        proto: Proto::Tcp,
                        sport: sim.rng.ephemeral_port(),
                        dport: 8000,
                        v6: false,
                        names: vec![],
                    };
                    sim.tcp_session(&conn, t, RTT_CLUSTER);
                }
            }
        }
    }
}

/// LAN clients through LoadBalancer services (postgres, dragonfly, plex, immich-db). With
/// kube-proxy replacement in SNAT mode, some arrive SNATed to the ingress node (remote-node).
fn lan_load_balancers(sim: &mut Sim, topo: &Topology) {
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

/// Internet egress from `egress_internet`: DNS via the proxy (L7), then the connection.
fn internet_egress(sim: &mut Sim, topo: &Topology, internet_apps: &BTreeSet<String>) {
    let c = sim.cluster;
    let external_hosts: Vec<String> = topo
        .apps
        .iter()
        .flat_map(|a| a.exposure.routes.iter())
        .filter(|r| r.gateway.ends_with("external"))
        .flat_map(|r| r.hostnames.iter().cloned())
        .collect();
    for app in &topo.apps {
        let clients = c.client_pods(&app.key());
        if clients.is_empty() {
            continue;
        }
        for egress in &app.egress_internet {
            let dests = parse_egress_dest(&egress.dest, &external_hosts);
            let (proto, port) = egress_protocol(&egress.dest, egress.port);
            let Some(port) = port else { continue };
            for dest in dests {
                if egress.dest.contains("on nodes") {
                    continue;
                }
                for t in spread(&mut sim.rng, 6) {
                    let src = *sim.rng.pick(&clients);
                    world_connection(sim, internet_apps, src, &dest, proto, port, t);
                }
            }
        }
    }
}

/// cloudflared's tunnel is QUIC (UDP 7844) per its helmrelease; WireGuard VPNs use UDP 51820.
fn egress_protocol(dest: &str, port: Option<u16>) -> (Proto, Option<u16>) {
    let lower = dest.to_ascii_lowercase();
    if lower.contains("argotunnel") {
        (Proto::Udp, port)
    } else if lower.contains("wireguard") {
        (Proto::Udp, Some(51820))
    } else if port == Some(53) {
        (Proto::Udp, port)
    } else {
        (Proto::Tcp, port)
    }
}

fn world_connection(
    sim: &mut Sim,
    internet_apps: &BTreeSet<String>,
    src: usize,
    dest: &WorldDest,
    proto: Proto,
    port: u16,
    t: u64,
) {
    let (ip, names, v6) = match dest {
        WorldDest::Address(ip) => (*ip, vec![], false),
        WorldDest::Name(name) => {
            let v6_addr = ipv6_address_for(name);
            let addrs = addresses_for(name);
            let (qtype, answers) = match v6_addr {
                Some(a) => ("AAAA", vec![a]),
                None => ("A", addrs.clone()),
            };
            let ttl = [60, 300, 3600][(fnv1a(name) % 3) as usize];
            let answer = DnsAnswer {
                ips: answers.clone(),
                ttl,
                rcode: 0,
                qtype,
            };
            let expand = sim.rng.chance(35);
            let proxied = sim.dns_is_proxied(internet_apps, src);
            sim.resolve(
                proxied,
                src,
                name,
                expand,
                &answer,
                t.saturating_sub(3 * NS_PER_MS),
            );
            let ip = *sim.rng.pick(&answers);
            let names = if !fnv1a(name).is_multiple_of(3) {
                vec![name.clone()]
            } else {
                vec![]
            };
            (ip, names, v6_addr.is_some())
        }
    };
    let conn = Conn {
        src: Peer::Pod(src),
        dst: Peer::World(ip),
        proto,
        sport: sim.rng.ephemeral_port(),
        dport: u32::from(port),
        v6,
        names,
    };
    match proto {
        Proto::Tcp => sim.tcp_session(&conn, t, RTT_WORLD),
        Proto::Udp => sim.udp_exchange(&conn, t, RTT_WORLD),
    };
}

/// CronJob runs: each run is a fresh pod whose `job-name` differs. Backup jobs dump their
/// app's database through its `-rw` service; other jobs work against the API server.
fn cronjob_runs_traffic(sim: &mut Sim, topo: &Topology, internet_apps: &BTreeSet<String>) {
    let c = sim.cluster;
    for job in c.pods_where(|p| matches!(p.role, PodRole::Job { .. })) {
        let PodRole::Job { start, .. } = c.pods[job].role else {
            continue;
        };
        let t = start + 8 * NS_PER_SEC;
        let app = topo.apps.iter().find(|a| a.key() == c.pods[job].app_key);
        let database = app.and_then(|a| a.databases_owned.first().map(|db| (a, db)));
        match database {
            Some((app, db)) if c.pods[job].workload.contains("backup") => {
                let service = format!("{}-rw", db.name);
                if let Some(target) =
                    resolve_target(c, topo, &app.key(), Some(&service), Some(db.port))
                {
                    connect_to_target(sim, internet_apps, job, &target, t);
                }
            }
            _ => {
                let conn = Conn {
                    src: Peer::Pod(job),
                    dst: Peer::ApiServer(c.control_plane[0]),
                    proto: Proto::Tcp,
                    sport: sim.rng.ephemeral_port(),
                    dport: 6443,
                    v6: false,
                    names: vec![],
                };
                sim.tcp_session(&conn, t, RTT_CLUSTER);
            }
        }
    }
}

/// hubble-relay → cilium agents (4244) and metrics-server → kubelets (10250): hostNetwork peers.
fn node_agents(sim: &mut Sim) {
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

/// homepage's stale config points at `<app>.media`; those names never resolve (NXDOMAIN).
fn stale_homepage_lookups(sim: &mut Sim, topo: &Topology, internet_apps: &BTreeSet<String>) {
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

/// Socket-LB events (Type SOCK): pre-translation to a ClusterIP (TRACED) and post-translation
/// to the backend pod (TRANSLATED) for a sample of service connections.
fn socket_lb_events(sim: &mut Sim, topo: &Topology) {
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
fn scanner_drops(sim: &mut Sim) {
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
