//! A stable selector per workload: the smallest well-known label set that
//! selects this workload and no other observed workload in its namespace.
//!
//! Preference: `app.kubernetes.io/name` (+ `instance`, + `component` when
//! needed to tell workloads apart), then `app`, `k8s-app`, `name`, then the
//! service account (which Cilium puts in every identity). Volatile labels were
//! already removed from the workload's identity (see [`crate::peer::labels`]). When
//! no candidate is unique, every stable pod label is used and a warning says
//! which other workload it also matches.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use crate::peer::labels::{
    CLUSTER_LABEL, NAMESPACE_LABEL, NAMESPACE_LABELS_PREFIX, SERVICE_ACCOUNT_LABEL,
};
use crate::peer::WorkloadKey;

const NAME: &str = "app.kubernetes.io/name";
const INSTANCE: &str = "app.kubernetes.io/instance";
const COMPONENT: &str = "app.kubernetes.io/component";

/// Candidate label sets, most preferred first.
const CANDIDATES: &[&[&str]] = &[
    &[NAME],
    &[NAME, INSTANCE],
    &[NAME, COMPONENT],
    &[NAME, INSTANCE, COMPONENT],
    &["app"],
    &["app", "component"],
    &["k8s-app"],
    &["name"],
    &[SERVICE_ACCOUNT_LABEL],
    &[NAME, SERVICE_ACCOUNT_LABEL],
    &["app", SERVICE_ACCOUNT_LABEL],
];

/// The selector chosen for one workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// Label keys (no `k8s:` prefix) and values, namespace excluded.
    pub labels: BTreeMap<String, String>,
    /// Set when the selector also matches another observed workload.
    pub warning: Option<String>,
}

/// Every workload's selector, looked up by the key's address first.
/// Synthesis looks one up for every workload peer of every rule, nearly
/// always with a key the graph itself holds; a workload key hashes and
/// compares label by label, so finding the graph's own keys by where they
/// are costs a fraction of that. Any other key (an equal one held
/// elsewhere) is found by value. Sound because the graph is borrowed for
/// `'g`: none of its keys moves or is freed while this exists.
pub struct Selectors<'g> {
    by_address: FxHashMap<usize, usize>,
    by_key: FxHashMap<WorkloadKey, usize>,
    list: Vec<Selector>,
    graph: std::marker::PhantomData<&'g WorkloadKey>,
}

impl<'g> Selectors<'g> {
    /// The selectors of `workloads` (the graph's keys), chosen by
    /// [`choose_selectors`], in the keys' order.
    pub fn choose(workloads: Vec<&'g WorkloadKey>) -> Selectors<'g> {
        let chosen = choose_selectors(workloads.iter().copied());
        let mut out = Selectors {
            by_address: FxHashMap::default(),
            by_key: FxHashMap::default(),
            list: Vec::with_capacity(chosen.len()),
            graph: std::marker::PhantomData,
        };
        for (key, selector) in chosen {
            out.by_key.insert(key, out.list.len());
            out.list.push(selector);
        }
        for w in workloads {
            if let Some(&i) = out.by_key.get(w) {
                out.by_address.insert(address(w), i);
            }
        }
        out
    }

    /// The selector of an observed workload.
    ///
    /// # Panics
    /// If `w` is not one of the workloads the selectors were chosen for.
    pub fn get(&self, w: &WorkloadKey) -> &Selector {
        let i = self
            .by_address
            .get(&address(w))
            .or_else(|| self.by_key.get(w))
            .expect("a selector was chosen for every workload of the graph");
        &self.list[*i]
    }

    /// Every selector, in the workloads' order.
    pub fn iter(&self) -> impl Iterator<Item = &Selector> {
        self.list.iter()
    }
}

fn address(w: &WorkloadKey) -> usize {
    std::ptr::from_ref(w).addr()
}

/// Chooses a selector for every workload, comparing each with the others of
/// its namespace. Deterministic: depends only on the set of workloads.
pub fn choose_selectors<'a>(
    workloads: impl IntoIterator<Item = &'a WorkloadKey>,
) -> BTreeMap<WorkloadKey, Selector> {
    let mut by_ns: BTreeMap<&str, Vec<&WorkloadKey>> = BTreeMap::new();
    for w in workloads {
        by_ns.entry(w.namespace.as_str()).or_default().push(w);
    }
    let mut out = BTreeMap::new();
    for peers in by_ns.values() {
        for w in peers {
            out.insert((*w).clone(), choose(w, peers));
        }
    }
    out
}

fn choose(w: &WorkloadKey, peers: &[&WorkloadKey]) -> Selector {
    for keys in CANDIDATES {
        let Some(sel) = pick(w, keys) else { continue };
        if others_matching(w, &sel, peers).is_empty() {
            return Selector {
                labels: sel,
                warning: None,
            };
        }
    }
    let all = pod_labels(w);
    let clash = others_matching(w, &all, peers);
    let warning = (!clash.is_empty()).then(|| {
        format!(
            "no label set tells {}/{} apart from {}; the policy would also select them",
            w.namespace,
            w.display_name(),
            crate::brief::list(clash.iter().map(|o| o.display_name()))
        )
    });
    Selector {
        labels: all,
        warning,
    }
}

fn pick(w: &WorkloadKey, keys: &[&str]) -> Option<BTreeMap<String, String>> {
    keys.iter()
        .map(|k| w.labels.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// The workload's own pod labels (and service account), without the
/// namespace-derived and cluster labels.
pub fn pod_labels(w: &WorkloadKey) -> BTreeMap<String, String> {
    w.labels
        .iter()
        .filter(|(k, _)| {
            k.as_str() != NAMESPACE_LABEL
                && k.as_str() != CLUSTER_LABEL
                && !k.starts_with(NAMESPACE_LABELS_PREFIX)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn others_matching<'a>(
    w: &WorkloadKey,
    sel: &BTreeMap<String, String>,
    peers: &[&'a WorkloadKey],
) -> Vec<&'a WorkloadKey> {
    peers
        .iter()
        .filter(|o| **o != w && sel.iter().all(|(k, v)| o.labels.get(k) == Some(v)))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key is found whether it is the one the selectors were chosen from
    /// (by address) or an equal one held elsewhere (by value).
    #[test]
    fn selectors_are_found_by_the_graphs_keys_and_by_equal_ones() {
        let a = WorkloadKey::from_pairs("shop", &[("app", "web")]);
        let b = WorkloadKey::from_pairs("shop", &[("app", "db")]);
        let selectors = Selectors::choose(vec![&b, &a]);
        let copy = a.clone();
        assert_eq!(selectors.get(&a).labels, selectors.get(&copy).labels);
        assert_eq!(selectors.get(&a).labels["app"], "web");
        assert_eq!(selectors.get(&b).labels["app"], "db");
        assert_eq!(selectors.iter().count(), 2);
    }

    fn wl(ns: &str, labels: &[(&str, &str)]) -> WorkloadKey {
        WorkloadKey::from_pairs(ns, labels)
    }

    #[test]
    fn prefers_app_kubernetes_io_name() {
        let a = wl(
            "media",
            &[
                (NAME, "plex"),
                ("app", "plex"),
                (SERVICE_ACCOUNT_LABEL, "default"),
            ],
        );
        let s = choose_selectors([&a]);
        assert_eq!(s[&a].labels.keys().collect::<Vec<_>>(), [NAME]);
    }

    #[test]
    fn adds_instance_or_component_to_tell_workloads_apart() {
        let server = wl(
            "media",
            &[
                (NAME, "immich"),
                (COMPONENT, "server"),
                (INSTANCE, "immich"),
            ],
        );
        let ml = wl(
            "media",
            &[
                (NAME, "immich"),
                (COMPONENT, "machine-learning"),
                (INSTANCE, "immich"),
            ],
        );
        let s = choose_selectors([&server, &ml]);
        assert_eq!(
            s[&server].labels.get(COMPONENT).map(String::as_str),
            Some("server")
        );
        assert!(s[&server].warning.is_none());
        assert_ne!(s[&server].labels, s[&ml].labels);
    }

    #[test]
    fn same_name_in_other_namespace_does_not_clash() {
        let a = wl("a", &[("app", "web")]);
        let b = wl("b", &[("app", "web")]);
        let s = choose_selectors([&a, &b]);
        assert_eq!(s[&a].labels.len(), 1);
    }

    #[test]
    fn falls_back_to_service_account() {
        let a = wl("x", &[(SERVICE_ACCOUNT_LABEL, "runner"), ("foo", "1")]);
        let s = choose_selectors([&a]);
        assert_eq!(
            s[&a].labels.keys().collect::<Vec<_>>(),
            [SERVICE_ACCOUNT_LABEL]
        );
    }

    #[test]
    fn warns_when_nothing_is_unique() {
        let a = wl("x", &[("app", "web")]);
        let b = wl("x", &[("app", "web"), ("tier", "canary")]);
        let s = choose_selectors([&a, &b]);
        assert!(s[&a].warning.as_deref().unwrap().contains("web"));
        assert!(s[&b].warning.is_none());
    }
}
