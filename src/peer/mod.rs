//! The shared vocabulary of every stage: who is at each end of a connection
//! ([`Peer`]: a workload, a reserved entity, the world by address or by
//! name), the responder port ([`l4`]) and Cilium identity labels
//! ([`labels`]). Interpretation makes these values from flows; the graph,
//! synthesis, verification and rendering read them.

pub mod l4;
pub mod labels;

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use labels::SERVICE_ACCOUNT_LABEL;

/// Cilium entities a flow peer can be (the reserved identities), each with
/// the reserved labels its identity carries. Cilium gives a reserved identity
/// the union of the labels of every address it stands for
/// (`pkg/ipcache/metadata.go`): the host identity (1) of a control-plane node
/// also carries `reserved:kube-apiserver`, and the kube-apiserver identity (7)
/// of a remote control-plane node also carries `reserved:remote-node`. Those
/// unions are separate peers here, because a policy entity selects by label
/// ([`Entity::labels`]), never by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Entity {
    /// The local host (identity 1): `reserved:host`.
    Host,
    /// The local host of a node that serves the API server (identity 1 on a
    /// control-plane node): `reserved:host` + `reserved:kube-apiserver`.
    #[serde(rename = "host+kube-apiserver")]
    HostKubeApiserver,
    RemoteNode,
    /// A remote node that serves the API server (identity 7):
    /// `reserved:kube-apiserver` + `reserved:remote-node`.
    KubeApiserver,
    /// An API server outside the cluster (a CIDR identity, as managed control
    /// planes have): `reserved:kube-apiserver` + `reserved:world`.
    #[serde(rename = "kube-apiserver+world")]
    KubeApiserverWorld,
    Health,
    Ingress,
    Init,
    Unmanaged,
    /// Outside the cluster, address unknown (e.g. a field-masked flow).
    World,
}

/// The TCP ports the API server listens on: 6443 (kubeadm, k3s, Talos and
/// most self-managed clusters) and 443 (managed control planes). Hubble shows
/// the backend port, after the `kubernetes` Service was translated.
pub const APISERVER_PORTS: [u16; 2] = [6443, 443];

impl Entity {
    /// The peer's name in summaries and baselines: the entity name, or the
    /// labels of a union joined by `+` (`host+kube-apiserver`).
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Host => "host",
            Entity::HostKubeApiserver => "host+kube-apiserver",
            Entity::RemoteNode => "remote-node",
            Entity::KubeApiserver => "kube-apiserver",
            Entity::KubeApiserverWorld => "kube-apiserver+world",
            Entity::Health => "health",
            Entity::Ingress => "ingress",
            Entity::Init => "init",
            Entity::Unmanaged => "unmanaged",
            Entity::World => "world",
        }
    }

    /// The `reserved:` labels (keys) of this identity, as Cilium's selector
    /// cache sees them.
    pub fn labels(self) -> &'static [&'static str] {
        match self {
            Entity::Host => &["host"],
            Entity::HostKubeApiserver => &["host", "kube-apiserver"],
            Entity::RemoteNode => &["remote-node"],
            Entity::KubeApiserver => &["kube-apiserver", "remote-node"],
            Entity::KubeApiserverWorld => &["kube-apiserver", "world"],
            Entity::Health => &["health"],
            Entity::Ingress => &["ingress"],
            Entity::Init => &["init"],
            Entity::Unmanaged => &["unmanaged"],
            Entity::World => &["world"],
        }
    }

    /// Whether the identity carries `reserved:<key>`.
    pub fn carries(self, key: &str) -> bool {
        self.labels().contains(&key)
    }

    /// Whether this is the local host (identity 1), whatever else it carries.
    pub fn is_host(self) -> bool {
        self.carries("host")
    }

    /// Whether the identity carries `reserved:kube-apiserver`.
    pub fn is_apiserver(self) -> bool {
        self.carries("kube-apiserver")
    }

    /// The one entity a policy names for this peer, without port context:
    /// the host stays `host` (kubelet probes come from it), an API server
    /// elsewhere is `kube-apiserver`. Egress to an API server port uses
    /// [`Entity::for_port`].
    pub fn primary(self) -> Entity {
        match self {
            Entity::HostKubeApiserver => Entity::Host,
            Entity::KubeApiserverWorld => Entity::KubeApiserver,
            e => e,
        }
    }

    /// The entity a policy names for a connection *to* this peer on `port`:
    /// the API server, wherever it runs, on an API server port of an identity
    /// that carries `reserved:kube-apiserver`; on any other port the host
    /// for the local host and `remote-node` for a remote control-plane node,
    /// which is what the connection reached.
    pub fn for_port(self, port: &l4::PortKey) -> Entity {
        let api_port = port.proto == l4::Proto::Tcp && APISERVER_PORTS.contains(&port.port);
        match self {
            Entity::HostKubeApiserver | Entity::KubeApiserver if api_port => Entity::KubeApiserver,
            Entity::HostKubeApiserver => Entity::Host,
            Entity::KubeApiserver => Entity::RemoteNode,
            Entity::KubeApiserverWorld => Entity::KubeApiserver,
            e => e,
        }
    }
}

/// A workload: pods sharing a namespace and their stable identity labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkloadKey {
    pub namespace: String,
    /// Stable `k8s` identity labels, keys without the `k8s:` prefix.
    pub labels: BTreeMap<String, String>,
}

impl WorkloadKey {
    /// A workload from its namespace and (unprefixed) label pairs.
    pub fn from_pairs(namespace: &str, labels: &[(&str, &str)]) -> WorkloadKey {
        WorkloadKey {
            namespace: namespace.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// A short human name from the most descriptive label present.
    pub fn display_name(&self) -> String {
        const KEYS: &[&str] = &[
            "app.kubernetes.io/name",
            "app",
            "k8s-app",
            "name",
            "app.kubernetes.io/instance",
        ];
        let base = KEYS
            .iter()
            .find_map(|k| self.labels.get(*k))
            .or_else(|| self.labels.get(SERVICE_ACCOUNT_LABEL))
            .cloned()
            .unwrap_or_else(|| "unlabelled".to_string());
        match self.labels.get("app.kubernetes.io/component") {
            Some(c) if !base.contains(c.as_str()) => format!("{base}-{c}"),
            _ => base,
        }
    }

    pub fn service_account(&self) -> Option<&str> {
        self.labels.get(SERVICE_ACCOUNT_LABEL).map(String::as_str)
    }
}

/// One end of a connection, as a graph node and a policy peer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    Workload(WorkloadKey),
    Entity(Entity),
    /// World by address: a single IP (/32, /128) or a configured group prefix.
    Cidr(IpNet),
    /// World by DNS name (from the flow's names or a correlated DNS answer).
    Fqdn(String),
}

impl Peer {
    pub fn as_workload(&self) -> Option<&WorkloadKey> {
        match self {
            Peer::Workload(w) => Some(w),
            _ => None,
        }
    }

    pub fn is_world(&self) -> bool {
        matches!(
            self,
            Peer::Cidr(_) | Peer::Fqdn(_) | Peer::Entity(Entity::World)
        )
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Workload(w) => write!(f, "{}/{}", w.namespace, w.display_name()),
            Peer::Entity(e) => write!(f, "entity:{}", e.as_str()),
            Peer::Cidr(c) => write!(f, "cidr:{c}"),
            Peer::Fqdn(n) => write!(f, "fqdn:{n}"),
        }
    }
}
