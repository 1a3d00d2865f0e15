//! How a graph peer is written in a rule: a workload becomes an endpoint
//! selector (with `k8s:io.kubernetes.pod.namespace` exactly when it lives in
//! another namespace than the policy, or always in a clusterwide policy, since
//! CNP peer selectors without it are scoped to the policy's namespace), an
//! entity becomes `fromEntities`/`toEntities`, a world address a CIDR, a world
//! name a `toFQDNs` selector.

use std::collections::{BTreeMap, BTreeSet};

use crate::peer::l4::PortKey;
use crate::peer::{Entity, Peer, WorkloadKey};
use crate::policy::{self, EndpointSelector, FqdnSelector};
use crate::synth::selector::Selector;

/// The namespace label a cross-namespace peer selector must carry.
pub const NS_SELECTOR_KEY: &str = "k8s:io.kubernetes.pod.namespace";

/// The endpoint selector for a workload peer, seen from a policy in
/// `policy_ns` (`None` for a clusterwide policy).
pub fn workload_selector(
    w: &WorkloadKey,
    sel: &Selector,
    policy_ns: Option<&str>,
) -> EndpointSelector {
    let mut labels = sel.labels.clone();
    if policy_ns != Some(w.namespace.as_str()) {
        labels.insert(NS_SELECTOR_KEY.to_string(), w.namespace.clone());
    }
    // The map as it is (collecting it again would rebuild it).
    EndpointSelector {
        match_labels: labels,
        match_expressions: Vec::new(),
    }
}

/// The policy entity for an interpreted entity without port context
/// ([`Entity::primary`]: the host of a control-plane node is `host`, an API
/// server elsewhere `kube-apiserver`). Egress names the entity per port:
/// [`entity_for_port`].
pub fn entity(e: Entity) -> policy::Entity {
    match e.primary() {
        Entity::Host | Entity::HostKubeApiserver => policy::Entity::Host,
        Entity::RemoteNode => policy::Entity::RemoteNode,
        Entity::KubeApiserver | Entity::KubeApiserverWorld => policy::Entity::KubeApiserver,
        Entity::Health => policy::Entity::Health,
        Entity::Ingress => policy::Entity::Ingress,
        Entity::Init => policy::Entity::Init,
        Entity::Unmanaged => policy::Entity::Unmanaged,
        Entity::World => policy::Entity::World,
    }
}

/// The policy entity for a connection to `e` on `port` ([`Entity::for_port`]):
/// `kube-apiserver` on an API server port of an identity that carries
/// `reserved:kube-apiserver`, whether that is the local host or a remote node.
pub fn entity_for_port(e: Entity, port: &PortKey) -> policy::Entity {
    entity(e.for_port(port))
}

/// `toFQDNs` selectors for a set of names: `matchName` each, except that
/// `collapse = Some(n)` turns ≥ n siblings under one parent domain (at least
/// two labels, e.g. `s3.amazonaws.com`) into one `matchPattern: "*.parent"`.
pub fn fqdn_selectors(names: &BTreeSet<String>, collapse: Option<usize>) -> Vec<FqdnSelector> {
    let mut by_parent: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for n in names {
        if let Some((_, parent)) = n.split_once('.') {
            if parent.contains('.') {
                by_parent.entry(parent).or_default().push(n);
            }
        }
    }
    let mut patterns: BTreeSet<String> = BTreeSet::new();
    let mut covered: BTreeSet<&String> = BTreeSet::new();
    if let Some(threshold) = collapse.filter(|t| *t >= 2) {
        for (parent, children) in &by_parent {
            if children.len() >= threshold {
                patterns.insert(format!("*.{parent}"));
                covered.extend(children.iter().copied());
            }
        }
    }
    let mut out: Vec<FqdnSelector> = names
        .iter()
        .filter(|n| !covered.contains(n))
        .map(FqdnSelector::name)
        .collect();
    out.extend(patterns.into_iter().map(FqdnSelector::pattern));
    out
}

/// A CIDR string for a world address peer.
pub fn cidr(peer: &Peer) -> Option<String> {
    match peer {
        Peer::Cidr(net) => Some(net.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wl(ns: &str) -> (WorkloadKey, Selector) {
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        (
            WorkloadKey {
                namespace: ns.into(),
                labels: labels.clone(),
            },
            Selector {
                labels,
                warning: None,
            },
        )
    }

    #[test]
    fn same_namespace_peer_has_no_namespace_label_and_cross_namespace_has_it() {
        let (w, s) = wl("shop");
        assert!(!workload_selector(&w, &s, Some("shop"))
            .match_labels
            .contains_key(NS_SELECTOR_KEY));
        assert_eq!(
            workload_selector(&w, &s, Some("other")).match_labels[NS_SELECTOR_KEY],
            "shop"
        );
        assert_eq!(
            workload_selector(&w, &s, None).match_labels[NS_SELECTOR_KEY],
            "shop"
        );
    }

    #[test]
    fn fqdn_collapse_is_opt_in_and_bounded() {
        let names: BTreeSet<String> = [
            "a.s3.amazonaws.com",
            "b.s3.amazonaws.com",
            "c.s3.amazonaws.com",
            "github.com",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(fqdn_selectors(&names, None).len(), 4);
        let collapsed = fqdn_selectors(&names, Some(3));
        assert_eq!(
            collapsed,
            vec![
                FqdnSelector::name("github.com"),
                FqdnSelector::pattern("*.s3.amazonaws.com")
            ]
        );
        // "x.com" has a one-label parent: never collapsed to "*.com".
        let tld: BTreeSet<String> = ["a.com", "b.com", "c.com"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(fqdn_selectors(&tld, Some(2)).len(), 3);
    }
}
