//! The Cilium policy `Rule` (`spec` / `specs[]` of CNP and CCNP) and its
//! ingress and egress sections, with keys and field order as in the CRD.
//!
//! Deny sections (`ingressDeny`, `egressDeny`) reuse [`IngressRule`] and
//! [`EgressRule`]; Cilium forbids L7 rules, `toFQDNs`, TLS, listeners and
//! `authentication` in them, which the CRD schema enforces.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::entity::Entity;
use super::l7::FqdnSelector;
use super::ports::{IcmpRule, PortRule};
use super::selector::EndpointSelector;

/// One policy rule. Exactly one of `endpoint_selector` / `node_selector`
/// must be set for Cilium to accept it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_selector: Option<EndpointSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<EndpointSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IngressRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress_deny: Vec<IngressRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<EgressRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress_deny: Vec<EgressRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<RuleLabel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_default_deny: Option<DefaultDenyConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<PolicyLog>,
}

impl Rule {
    /// A rule selecting endpoints, with no sections yet.
    pub fn for_endpoints(selector: EndpointSelector) -> Self {
        Self {
            endpoint_selector: Some(selector),
            ..Self::default()
        }
    }

    /// Whether this rule puts selected endpoints into ingress default-deny
    /// (it has an ingress section and does not opt out).
    pub fn enforces_ingress(&self) -> bool {
        let has = !self.ingress.is_empty() || !self.ingress_deny.is_empty();
        has && self
            .enable_default_deny
            .as_ref()
            .and_then(|d| d.ingress)
            .unwrap_or(true)
    }

    /// Same as [`Rule::enforces_ingress`] for egress.
    pub fn enforces_egress(&self) -> bool {
        let has = !self.egress.is_empty() || !self.egress_deny.is_empty();
        has && self
            .enable_default_deny
            .as_ref()
            .and_then(|d| d.egress)
            .unwrap_or(true)
    }
}

/// `enableDefaultDeny` (Cilium 1.16+): `false` makes the rule add allows
/// without switching that direction to default-deny.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DefaultDenyConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<bool>,
}

/// `spec.labels[]` entry (policy labels, not selector labels).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RuleLabel {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// `spec.log`: a label attached to policy-verdict log lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PolicyLog {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// An `ingress` (or `ingressDeny`) entry. Peers in different fields are
/// alternatives (OR); `toPorts` restricts all of them. `{}` allows nothing
/// but switches ingress to default-deny.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_endpoints: Vec<EndpointSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_requires: Vec<EndpointSelector>,
    #[serde(default, rename = "fromCIDR", skip_serializing_if = "Vec::is_empty")]
    pub from_cidr: Vec<String>,
    #[serde(default, rename = "fromCIDRSet", skip_serializing_if = "Vec::is_empty")]
    pub from_cidr_set: Vec<CidrRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_entities: Vec<Entity>,
    /// Cloud-provider groups (kept opaque).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_groups: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_nodes: Vec<EndpointSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_ports: Vec<PortRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub icmps: Vec<IcmpRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
}

/// An `egress` (or `egressDeny`) entry; see [`IngressRule`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_endpoints: Vec<EndpointSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_requires: Vec<EndpointSelector>,
    #[serde(default, rename = "toCIDR", skip_serializing_if = "Vec::is_empty")]
    pub to_cidr: Vec<String>,
    #[serde(default, rename = "toCIDRSet", skip_serializing_if = "Vec::is_empty")]
    pub to_cidr_set: Vec<CidrRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_entities: Vec<Entity>,
    /// Kubernetes Services (kept opaque; cannot be combined with `toPorts`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_services: Vec<Value>,
    /// Cloud-provider groups (kept opaque).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_groups: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_nodes: Vec<EndpointSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_ports: Vec<PortRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub icmps: Vec<IcmpRule>,
    /// FQDN peers; only effective with a DNS L7 rule on the same endpoint,
    /// and not combinable with other peer kinds in one entry.
    #[serde(default, rename = "toFQDNs", skip_serializing_if = "Vec::is_empty")]
    pub to_fqdns: Vec<FqdnSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
}

/// `fromCIDRSet` / `toCIDRSet` entry: exactly one of `cidr`,
/// `cidrGroupRef`, `cidrGroupSelector`, plus optional `except`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CidrRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr_group_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr_group_selector: Option<EndpointSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

/// `authentication: {mode}` (mutual authentication).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Authentication {
    pub mode: String,
}
