//! [`AnyPolicy`]: one loaded policy object of any supported kind, and
//! [`PolicyKind`], the classification of a document by `apiVersion`/`kind`.

use std::fmt;

use serde::Serialize;

use super::cilium::{
    CiliumClusterwideNetworkPolicy, CiliumNetworkPolicy, CCNP_KIND, CILIUM_API_VERSION, CNP_KIND,
};
use super::k8s::{NetworkPolicy, K8S_API_VERSION, K8S_NETPOL_KIND};
use super::meta::ObjectMeta;
use super::rule::Rule;

/// The policy kinds this crate understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolicyKind {
    Cnp,
    Ccnp,
    K8s,
}

impl PolicyKind {
    /// The `kind:` string.
    pub fn kind(self) -> &'static str {
        match self {
            PolicyKind::Cnp => CNP_KIND,
            PolicyKind::Ccnp => CCNP_KIND,
            PolicyKind::K8s => K8S_NETPOL_KIND,
        }
    }

    /// The supported `apiVersion:` string.
    pub fn api_version(self) -> &'static str {
        match self {
            PolicyKind::Cnp | PolicyKind::Ccnp => CILIUM_API_VERSION,
            PolicyKind::K8s => K8S_API_VERSION,
        }
    }

    /// Classifies a document by API group and kind, ignoring the version
    /// (so an unsupported version is reported, not silently skipped).
    /// `None` means "not a policy this crate handles".
    pub fn classify(api_version: &str, kind: &str) -> Option<PolicyKind> {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        match (group, kind) {
            ("cilium.io", CNP_KIND) => Some(PolicyKind::Cnp),
            ("cilium.io", CCNP_KIND) => Some(PolicyKind::Ccnp),
            ("networking.k8s.io", K8S_NETPOL_KIND) => Some(PolicyKind::K8s),
            _ => None,
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

/// A policy object of any supported kind. Serializes as the inner object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AnyPolicy {
    Cnp(CiliumNetworkPolicy),
    Ccnp(CiliumClusterwideNetworkPolicy),
    K8s(NetworkPolicy),
}

impl AnyPolicy {
    pub fn kind(&self) -> PolicyKind {
        match self {
            AnyPolicy::Cnp(_) => PolicyKind::Cnp,
            AnyPolicy::Ccnp(_) => PolicyKind::Ccnp,
            AnyPolicy::K8s(_) => PolicyKind::K8s,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            AnyPolicy::Cnp(p) => &p.metadata,
            AnyPolicy::Ccnp(p) => &p.metadata,
            AnyPolicy::K8s(p) => &p.metadata,
        }
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            AnyPolicy::Cnp(p) => &mut p.metadata,
            AnyPolicy::Ccnp(p) => &mut p.metadata,
            AnyPolicy::K8s(p) => &mut p.metadata,
        }
    }

    pub fn name(&self) -> &str {
        &self.metadata().name
    }

    /// The namespace (always `None` for a CCNP, whatever the file says).
    pub fn namespace(&self) -> Option<&str> {
        match self {
            AnyPolicy::Ccnp(_) => None,
            _ => self.metadata().namespace.as_deref(),
        }
    }

    /// All Cilium rules (`spec` then `specs`); none for a Kubernetes policy.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        let (spec, specs): (Option<&Rule>, &[Rule]) = match self {
            AnyPolicy::Cnp(p) => (p.spec.as_ref(), &p.specs),
            AnyPolicy::Ccnp(p) => (p.spec.as_ref(), &p.specs),
            AnyPolicy::K8s(_) => (None, &[]),
        };
        spec.into_iter().chain(specs.iter())
    }
}

impl From<CiliumNetworkPolicy> for AnyPolicy {
    fn from(p: CiliumNetworkPolicy) -> Self {
        AnyPolicy::Cnp(p)
    }
}

impl From<CiliumClusterwideNetworkPolicy> for AnyPolicy {
    fn from(p: CiliumClusterwideNetworkPolicy) -> Self {
        AnyPolicy::Ccnp(p)
    }
}

impl From<NetworkPolicy> for AnyPolicy {
    fn from(p: NetworkPolicy) -> Self {
        AnyPolicy::K8s(p)
    }
}
