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

/// Cilium entities a flow peer can be (the reserved identities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Entity {
    Host,
    RemoteNode,
    KubeApiserver,
    Health,
    Ingress,
    Init,
    Unmanaged,
    /// Outside the cluster, address unknown (e.g. a field-masked flow).
    World,
}

impl Entity {
    /// The entity name used in `toEntities`/`fromEntities`.
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Host => "host",
            Entity::RemoteNode => "remote-node",
            Entity::KubeApiserver => "kube-apiserver",
            Entity::Health => "health",
            Entity::Ingress => "ingress",
            Entity::Init => "init",
            Entity::Unmanaged => "unmanaged",
            Entity::World => "world",
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
