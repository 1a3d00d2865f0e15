//! The subset of the seed cluster's `cluster-topology.json` the generator reads (serde model).

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Deserialize)]
pub(crate) struct Topology {
    pub(crate) cluster: ClusterInfo,
    pub(crate) apps: Vec<App>,
}

#[derive(Deserialize)]
pub(crate) struct ClusterInfo {
    pub(crate) name: String,
    pub(crate) pod_cidr: String,
    pub(crate) service_cidr: String,
    pub(crate) cluster_dns: String,
    pub(crate) nodes: Vec<String>,
    pub(crate) kube_apiserver: String,
    #[serde(default)]
    pub(crate) gateways: BTreeMap<String, GatewayInfo>,
}

#[derive(Deserialize)]
pub(crate) struct GatewayInfo {
    #[serde(default)]
    pub(crate) pod_ports: BTreeMap<String, u16>,
}

#[derive(Deserialize)]
pub(crate) struct App {
    pub(crate) namespace: String,
    pub(crate) app: String,
    #[serde(default)]
    pub(crate) helm: Vec<HelmRelease>,
    #[serde(default)]
    pub(crate) workloads: Vec<WorkloadSpec>,
    #[serde(default)]
    pub(crate) services: Vec<ServiceSpec>,
    #[serde(default)]
    pub(crate) databases_owned: Vec<DatabaseSpec>,
    pub(crate) exposure: Exposure,
    #[serde(default)]
    pub(crate) talks_to: Vec<Talk>,
    #[serde(default)]
    pub(crate) egress_internet: Vec<EgressSpec>,
}

impl App {
    pub(crate) fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.app)
    }
}

#[derive(Deserialize)]
pub(crate) struct HelmRelease {
    #[serde(default)]
    pub(crate) release: Option<String>,
    #[serde(default)]
    pub(crate) chart: Option<String>,
    #[serde(default)]
    pub(crate) chart_url: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct WorkloadSpec {
    pub(crate) name: String,
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) pod_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) ports: Option<Vec<u16>>,
    #[serde(default, rename = "hostNetwork")]
    pub(crate) host_network: Option<bool>,
    #[serde(default)]
    pub(crate) controller_id: Option<String>,
    #[serde(default)]
    pub(crate) containers: Option<Vec<ContainerSpec>>,
}

#[derive(Deserialize)]
pub(crate) struct ContainerSpec {
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) probe_ports: Vec<u16>,
}

#[derive(Deserialize)]
pub(crate) struct ServiceSpec {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) selector: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) ports: Vec<ServicePort>,
}

#[derive(Deserialize)]
pub(crate) struct ServicePort {
    pub(crate) port: u16,
    #[serde(default, rename = "targetPort")]
    pub(crate) target_port: Option<serde_json::Value>,
}

impl ServicePort {
    /// The backend (pod) port: numeric targetPort, else the service port.
    pub(crate) fn backend_port(&self) -> u16 {
        self.target_port
            .as_ref()
            .and_then(|v| v.as_u64())
            .map(|p| p as u16)
            .unwrap_or(self.port)
    }
}

#[derive(Deserialize)]
pub(crate) struct DatabaseSpec {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) namespace: String,
    #[serde(default)]
    pub(crate) instances: Option<u32>,
    #[serde(default)]
    pub(crate) replicas: Option<u32>,
    pub(crate) port: u16,
    #[serde(default)]
    pub(crate) pod_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) metrics_port: Option<u16>,
    #[serde(default)]
    pub(crate) admin_port: Option<u16>,
}

#[derive(Deserialize, Default)]
pub(crate) struct Exposure {
    #[serde(default)]
    pub(crate) routes: Vec<RouteSpec>,
    #[serde(default)]
    pub(crate) lan_loadbalancers: Vec<LanLoadBalancer>,
}

#[derive(Deserialize)]
pub(crate) struct RouteSpec {
    pub(crate) gateway: String,
    #[serde(default)]
    pub(crate) hostnames: Vec<String>,
    #[serde(default)]
    pub(crate) backend_service: Option<String>,
    #[serde(default)]
    pub(crate) backend_port: Option<u16>,
    #[serde(default)]
    pub(crate) pod_port: Option<u16>,
}

#[derive(Deserialize)]
pub(crate) struct LanLoadBalancer {
    pub(crate) service: String,
    #[serde(default)]
    pub(crate) ports: Vec<u16>,
}

#[derive(Deserialize)]
pub(crate) struct Talk {
    pub(crate) target: String,
    #[serde(default)]
    pub(crate) service: Option<String>,
    #[serde(default)]
    pub(crate) port: Option<u16>,
    #[serde(default)]
    pub(crate) relation: String,
}

#[derive(Deserialize)]
pub(crate) struct EgressSpec {
    pub(crate) dest: String,
    #[serde(default)]
    pub(crate) port: Option<u16>,
}
