//! Endpoint matching: does a Cilium `EndpointSelector` (or a Kubernetes
//! label selector) select a traffic-graph peer?
//!
//! - Selector keys may carry a source prefix: `k8s:app`, `any:app` and
//!   `app` all match the pod label `app`; `reserved:host` matches the
//!   identities carrying `reserved:host`; a reserved identity carries the
//!   union of its addresses' labels (the host of a control-plane node is
//!   also `reserved:kube-apiserver`, see [`super::peers::reserved_labels`]).
//! - [`Scope::Namespace`] is Cilium's rule for CiliumNetworkPolicy and
//!   namespaced Kubernetes selectors: a selector that names no
//!   `io.kubernetes.pod.namespace` (and no `reserved:` label) only matches
//!   pods of the policy's namespace. [`Scope::Cluster`] (CCNP) leaves
//!   selectors as written, except that the empty selector `{}` means "every
//!   pod" (Cilium turns it into `io.kubernetes.pod.namespace Exists`).
//! - Namespace labels (`io.cilium.k8s.namespace.labels.<k>`) are in a pod's
//!   identity only when Hubble showed them. The namespace name label
//!   `kubernetes.io/metadata.name` is always known; any other namespace
//!   label of a workload whose flows carried no namespace labels at all is
//!   `Unknown`, never guessed.

use crate::peer::labels::{NAMESPACE_LABEL, NAMESPACE_LABELS_PREFIX};
use crate::peer::{Peer, WorkloadKey};
use crate::policy::{EndpointSelector, LabelSelectorRequirement, SelectorOperator};

use super::peers::carries;
use super::tri::{Tri, Why};

/// The namespace-name label Kubernetes puts on every namespace.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Where a selector applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A namespaced policy (CNP, NetworkPolicy) in this namespace.
    Namespace(String),
    /// A clusterwide policy.
    Cluster,
}

/// A label source prefix of a selector key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    K8s,
    Reserved,
    Other,
}

/// Splits `k8s:app` into (K8s, "app"); a key without source is `any`.
fn split_key(key: &str) -> (Source, &str) {
    match key.split_once(':') {
        Some((src, rest)) if !src.contains('/') && !src.contains('=') => {
            let s = match src {
                "k8s" | "any" => Source::K8s,
                "reserved" => Source::Reserved,
                _ => Source::Other,
            };
            (s, rest)
        }
        _ => (Source::K8s, key),
    }
}

/// The value of one label on a peer.
enum Lookup<'a> {
    Present(&'a str),
    Absent,
    Unknown(String),
}

/// Whether the workload's flows carried its namespace's labels.
pub fn knows_namespace_labels(w: &WorkloadKey) -> bool {
    w.labels
        .keys()
        .any(|k| k.starts_with(NAMESPACE_LABELS_PREFIX))
}

fn lookup<'a>(peer: &'a Peer, key: &str) -> Lookup<'a> {
    let (source, key) = split_key(key);
    match (source, peer) {
        (Source::Reserved, p) => {
            if carries(p, key) {
                Lookup::Present("")
            } else {
                Lookup::Absent
            }
        }
        (Source::K8s, Peer::Workload(w)) => workload_label(w, key),
        _ => Lookup::Absent,
    }
}

fn workload_label<'a>(w: &'a WorkloadKey, key: &str) -> Lookup<'a> {
    if let Some(v) = w.labels.get(key) {
        return Lookup::Present(v);
    }
    if key == NAMESPACE_LABEL {
        return Lookup::Present(&w.namespace);
    }
    if let Some(ns_key) = key.strip_prefix(NAMESPACE_LABELS_PREFIX) {
        if ns_key == NAMESPACE_NAME_LABEL {
            return Lookup::Present(&w.namespace);
        }
        if !knows_namespace_labels(w) {
            return Lookup::Unknown(format!(
                "the flows carry no namespace labels for {}/{}, so namespace label {ns_key} is unknown",
                w.namespace,
                w.display_name()
            ));
        }
    }
    Lookup::Absent
}

fn requirement(
    peer: &Peer,
    key: &str,
    op: SelectorOperator,
    values: &[String],
    why: &mut Why,
) -> Tri {
    let found = lookup(peer, key);
    let present = match found {
        Lookup::Unknown(reason) => return why.unknown(reason),
        Lookup::Present(v) => Some(v),
        Lookup::Absent => None,
    };
    Tri::from_bool(match op {
        SelectorOperator::In => present.is_some_and(|v| values.iter().any(|x| x == v)),
        SelectorOperator::NotIn => present.is_none_or(|v| !values.iter().any(|x| x == v)),
        SelectorOperator::Exists => present.is_some(),
        SelectorOperator::DoesNotExist => present.is_none(),
    })
}

fn names_key(sel: &EndpointSelector, wanted: &str) -> bool {
    sel.match_labels.keys().any(|k| split_key(k).1 == wanted)
        || sel
            .match_expressions
            .iter()
            .any(|e| split_key(&e.key).1 == wanted)
}

fn has_reserved(sel: &EndpointSelector) -> bool {
    let reserved = |k: &str| split_key(k).0 == Source::Reserved;
    sel.match_labels.keys().any(|k| reserved(k))
        || sel.match_expressions.iter().any(|e| reserved(&e.key))
}

/// The selector as Cilium applies it in `scope` (namespace injection).
pub fn scoped(sel: &EndpointSelector, scope: &Scope) -> EndpointSelector {
    let mut s = sel.clone();
    match scope {
        Scope::Namespace(ns) => {
            if !names_key(sel, NAMESPACE_LABEL) && !has_reserved(sel) {
                s.match_labels
                    .insert(format!("k8s:{NAMESPACE_LABEL}"), ns.clone());
            }
        }
        Scope::Cluster => {
            if sel.is_empty() {
                s.match_expressions.push(LabelSelectorRequirement {
                    key: format!("k8s:{NAMESPACE_LABEL}"),
                    operator: SelectorOperator::Exists,
                    values: Vec::new(),
                });
            }
        }
    }
    s
}

/// Whether `sel` (already scoped) selects `peer`.
pub fn matches(sel: &EndpointSelector, peer: &Peer, why: &mut Why) -> Tri {
    let mut out = Tri::Yes;
    for (k, v) in &sel.match_labels {
        out = out.and(requirement(
            peer,
            k,
            SelectorOperator::In,
            std::slice::from_ref(v),
            why,
        ));
        if out == Tri::No {
            return out;
        }
    }
    for e in &sel.match_expressions {
        out = out.and(requirement(peer, &e.key, e.operator, &e.values, why));
        if out == Tri::No {
            return out;
        }
    }
    out
}

/// Whether `sel`, applied in `scope`, selects `peer`.
pub fn selects(sel: &EndpointSelector, scope: &Scope, peer: &Peer, why: &mut Why) -> Tri {
    matches(&scoped(sel, scope), peer, why)
}

/// A Kubernetes `namespaceSelector` (keys are namespace labels) against a
/// peer: only pods match, through `io.cilium.k8s.namespace.labels.*`.
pub fn namespace_selects(sel: &EndpointSelector, peer: &Peer, why: &mut Why) -> Tri {
    if !matches!(peer, Peer::Workload(_)) {
        return Tri::No;
    }
    let prefix = |k: &String| format!("{NAMESPACE_LABELS_PREFIX}{}", split_key(k).1);
    let translated = EndpointSelector {
        match_labels: sel
            .match_labels
            .iter()
            .map(|(k, v)| (prefix(k), v.clone()))
            .collect(),
        match_expressions: sel
            .match_expressions
            .iter()
            .map(|e| LabelSelectorRequirement {
                key: prefix(&e.key),
                ..e.clone()
            })
            .collect(),
    };
    matches(&translated, peer, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wl(ns: &str, labels: &[(&str, &str)]) -> Peer {
        Peer::Workload(WorkloadKey {
            namespace: ns.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .chain([(NAMESPACE_LABEL.to_string(), ns.to_string())])
                .collect(),
        })
    }

    fn sel(labels: &[(&str, &str)]) -> EndpointSelector {
        EndpointSelector::from_labels(labels.iter().copied())
    }

    #[test]
    fn prefixes_and_namespace_scoping() {
        let web = wl("shop", &[("app", "web")]);
        let ns = Scope::Namespace("shop".into());
        let mut why = Why::default();
        for key in ["app", "k8s:app", "any:app"] {
            assert_eq!(
                selects(&sel(&[(key, "web")]), &ns, &web, &mut why),
                Tri::Yes
            );
        }
        let other = Scope::Namespace("other".into());
        assert_eq!(
            selects(&sel(&[("app", "web")]), &other, &web, &mut why),
            Tri::No
        );
        let cross = sel(&[("app", "web"), ("k8s:io.kubernetes.pod.namespace", "shop")]);
        assert_eq!(selects(&cross, &other, &web, &mut why), Tri::Yes);
        let host = Peer::Entity(crate::peer::Entity::Host);
        assert_eq!(
            selects(&EndpointSelector::all(), &ns, &host, &mut why),
            Tri::No
        );
        assert_eq!(
            selects(&EndpointSelector::all(), &Scope::Cluster, &host, &mut why),
            Tri::No
        );
        assert_eq!(
            selects(&EndpointSelector::all(), &Scope::Cluster, &web, &mut why),
            Tri::Yes
        );
        assert_eq!(
            selects(&sel(&[("reserved:host", "")]), &ns, &host, &mut why),
            Tri::Yes
        );
    }

    #[test]
    fn namespace_labels_are_unknown_when_not_in_flows() {
        let bare = wl("shop", &[("app", "web")]);
        let mut why = Why::default();
        let s = sel(&[("k8s:io.cilium.k8s.namespace.labels.team", "a")]);
        assert_eq!(selects(&s, &Scope::Cluster, &bare, &mut why), Tri::Unknown);
        assert!(why.0[0].contains("team"));
        let by_name = sel(&[(
            "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name",
            "shop",
        )]);
        assert_eq!(
            selects(&by_name, &Scope::Cluster, &bare, &mut why),
            Tri::Yes
        );
        let known = wl(
            "shop",
            &[
                ("app", "web"),
                ("io.cilium.k8s.namespace.labels.env", "prod"),
            ],
        );
        assert_eq!(selects(&s, &Scope::Cluster, &known, &mut why), Tri::No);
        let ns_sel = sel(&[("env", "prod")]);
        assert_eq!(namespace_selects(&ns_sel, &known, &mut why), Tri::Yes);
        assert_eq!(namespace_selects(&ns_sel, &bare, &mut why), Tri::Unknown);
    }
}
