//! Unambiguous names for the report. A workload's display name (its most
//! descriptive label) can be shared by several workloads of a namespace —
//! two controllers of one app, or an app and its CloudNativePG cluster;
//! those get the labels that tell them apart appended,
//! `immich{app.kubernetes.io/controller=server}`.

use std::collections::{BTreeMap, BTreeSet};

use crate::peer::{Peer, WorkloadKey};

/// Labels that say nothing about which workload this is.
fn descriptive(key: &str) -> bool {
    !(key.starts_with("io.cilium.k8s.namespace.labels.")
        || key == "io.kubernetes.pod.namespace"
        || key == "io.cilium.k8s.policy.cluster")
}

/// Names of every workload of a graph.
#[derive(Debug, Clone, Default)]
pub struct Names {
    short: BTreeMap<WorkloadKey, String>,
}

impl Names {
    pub fn new<'a>(workloads: impl IntoIterator<Item = &'a WorkloadKey>) -> Names {
        let mut groups: BTreeMap<(&str, String), Vec<&WorkloadKey>> = BTreeMap::new();
        for w in workloads {
            groups
                .entry((w.namespace.as_str(), w.display_name()))
                .or_default()
                .push(w);
        }
        let mut short = BTreeMap::new();
        for ((_, base), members) in groups {
            if members.len() == 1 {
                short.insert(members[0].clone(), base);
                continue;
            }
            let sets: Vec<BTreeSet<(&String, &String)>> = members
                .iter()
                .map(|w| w.labels.iter().filter(|(k, _)| descriptive(k)).collect())
                .collect();
            for (i, w) in members.iter().enumerate() {
                let others: BTreeSet<(&String, &String)> = sets
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .flat_map(|(_, s)| s.iter().copied())
                    .collect();
                // The first label no other member has; else every label
                // that not all of them have.
                let own: Vec<String> = match sets[i].difference(&others).next() {
                    Some((k, v)) => vec![format!("{k}={v}")],
                    None => {
                        let common = sets.iter().fold(sets[i].clone(), |acc, s| {
                            acc.intersection(s).copied().collect()
                        });
                        sets[i]
                            .difference(&common)
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect()
                    }
                };
                short.insert((*w).clone(), format!("{base}{{{}}}", own.join(",")));
            }
        }
        Names { short }
    }

    /// The workload's name within its namespace.
    pub fn workload(&self, w: &WorkloadKey) -> String {
        self.short
            .get(w)
            .cloned()
            .unwrap_or_else(|| w.display_name())
    }

    /// A peer's name: `namespace/name` for workloads, as displayed otherwise.
    pub fn peer(&self, p: &Peer) -> String {
        match p {
            Peer::Workload(w) => format!("{}/{}", w.namespace, self.workload(w)),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(labels: &[(&str, &str)]) -> WorkloadKey {
        WorkloadKey {
            namespace: "media".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn shared_display_names_get_their_distinct_labels() {
        let a = w(&[
            ("app.kubernetes.io/name", "immich"),
            ("app.kubernetes.io/controller", "server"),
        ]);
        let b = w(&[
            ("app.kubernetes.io/name", "immich"),
            ("app.kubernetes.io/controller", "ml"),
        ]);
        let c = w(&[("app.kubernetes.io/name", "plex")]);
        let pg = w(&[
            ("cnpg.io/cluster", "immich"),
            ("io.cilium.k8s.policy.serviceaccount", "immich"),
        ]);
        let n = Names::new([&a, &b, &c, &pg]);
        assert_eq!(n.workload(&pg), "immich{cnpg.io/cluster=immich}");
        assert_eq!(
            n.workload(&a),
            "immich{app.kubernetes.io/controller=server}"
        );
        assert_eq!(n.workload(&b), "immich{app.kubernetes.io/controller=ml}");
        assert_eq!(n.peer(&Peer::Workload(c)), "media/plex");
    }
}
