//! Kubernetes `NetworkPolicy` (`networking.k8s.io/v1`).
//!
//! Unlike Cilium rules, `podSelector` is always written (`{}` selects every
//! pod of the namespace), and an empty `from`/`to`/`ports` list means "any".

use serde::{Deserialize, Deserializer, Serialize};

use super::meta::ObjectMeta;
use super::scalar::IntOrString;
use super::selector::LabelSelector;

pub const K8S_API_VERSION: &str = "networking.k8s.io/v1";
pub const K8S_NETPOL_KIND: &str = "NetworkPolicy";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicy {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NetworkPolicySpec,
}

impl NetworkPolicy {
    /// An empty policy with the right `apiVersion` and `kind`.
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            api_version: K8S_API_VERSION.to_owned(),
            kind: K8S_NETPOL_KIND.to_owned(),
            metadata: ObjectMeta::new(name, Some(namespace.into())),
            spec: NetworkPolicySpec::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    #[serde(default)]
    pub pod_selector: LabelSelector,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<NetworkPolicyIngressRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<NetworkPolicyEgressRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_types: Vec<PolicyType>,
}

impl NetworkPolicySpec {
    /// Effective policy types: the explicit list, or Kubernetes' default
    /// (`Ingress`, plus `Egress` when egress rules exist).
    pub fn effective_policy_types(&self) -> Vec<PolicyType> {
        if !self.policy_types.is_empty() {
            return self.policy_types.clone();
        }
        let mut t = vec![PolicyType::Ingress];
        if !self.egress.is_empty() {
            t.push(PolicyType::Egress);
        }
        t
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PolicyType {
    Ingress,
    Egress,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkPolicyIngressRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<NetworkPolicyPort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<NetworkPolicyPeer>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkPolicyEgressRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<NetworkPolicyPort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<NetworkPolicyPeer>,
}

/// A peer: pods (optionally in selected namespaces), or an IP block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyPeer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IpBlock {
    pub cidr: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

/// `{protocol, port, endPort}`; `port` is a number or a named port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyPort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<K8sProtocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i32>,
}

/// `TCP | UDP | SCTP` (Kubernetes has no `ANY`; absent means TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum K8sProtocol {
    TCP,
    UDP,
    SCTP,
}

impl<'de> Deserialize<'de> for K8sProtocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.to_ascii_uppercase().as_str() {
            "TCP" => Ok(K8sProtocol::TCP),
            "UDP" => Ok(K8sProtocol::UDP),
            "SCTP" => Ok(K8sProtocol::SCTP),
            _ => Err(serde::de::Error::unknown_variant(
                &s,
                &["TCP", "UDP", "SCTP"],
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::to_yaml;

    #[test]
    fn round_trips_and_always_writes_pod_selector() {
        let yaml = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: data}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: a}}
      podSelector: {}
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
    ports:
    - {protocol: TCP, port: 5432}
    - {port: metrics, endPort: 9100}
";
        let p: NetworkPolicy = serde_yaml::from_str(yaml).unwrap();
        let ports = &p.spec.ingress[0].ports;
        assert_eq!(ports[0].port, Some(IntOrString::Int(5432)));
        assert_eq!(ports[1].port, Some(IntOrString::String("metrics".into())));
        assert_eq!(
            p.spec.ingress[0].from[0].pod_selector,
            Some(LabelSelector::default())
        );
        let out = to_yaml(&p).unwrap();
        assert!(out.contains("spec:\n  podSelector: {}\n"), "{out}");
        assert!(
            out.contains("- port: 5432") || out.contains("port: 5432\n"),
            "{out}"
        );
        assert_eq!(serde_yaml::from_str::<NetworkPolicy>(&out).unwrap(), p);
        let empty = to_yaml(&NetworkPolicy::new("n", "ns")).unwrap();
        assert!(empty.ends_with("spec:\n  podSelector: {}\n"), "{empty}");
        assert_eq!(
            NetworkPolicySpec::default().effective_policy_types(),
            vec![PolicyType::Ingress]
        );
    }
}
