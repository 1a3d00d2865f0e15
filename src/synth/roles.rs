//! Roles, not instances: families of workloads that are instances of one
//! role, written as one policy with a selector that matches every instance.
//!
//! Rook runs one Deployment per OSD and per mon (`app: rook-ceph-osd`,
//! `osd: '0'`, `ceph_daemon_id`, `failure-domain`); StatefulSet ordinals,
//! operator-made per-instance Deployments (database clusters, brokers,
//! search nodes) and per-node Deployments have the same shape. Next week the
//! manager talks to another OSD on the same port, so a policy per instance,
//! listing the instances it was seen with, breaks.
//!
//! The rule: workloads of one namespace are instances of one role when they
//! have the same label keys, the same service account and the same value of
//! every role label ([`ROLE_KEYS`]), share at least one role label, and differ
//! only in instance labels: a key of [`INSTANCE_KEYS`] (per-daemon ids,
//! node and failure-domain names), or any other key whose values are all
//! instance-like ([`instance_like`]: ordinals, short ids, a common name with
//! an ordinal or id suffix, hashes). Workloads that differ in a role label
//! never merge, whatever its values. The role keeps the shared labels; its
//! selector ([`super::selector`]) is chosen from them, so it matches every
//! instance, the ones not seen yet included.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::selector::pod_labels;
use crate::peer::labels::{
    CLUSTER_LABEL, NAMESPACE_LABEL, NAMESPACE_LABELS_PREFIX, SERVICE_ACCOUNT_LABEL,
};
use crate::peer::WorkloadKey;

/// Label keys that name a role: workloads that differ in one of them are
/// different roles, never instances of one.
pub const ROLE_KEYS: &[&str] = &[
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/controller",
    "app.kubernetes.io/managed-by",
    "app",
    "k8s-app",
    "name",
    "component",
    "tier",
    "ceph_daemon_type",
    "rook_cluster",
    "cnpg.io/cluster",
    "cnpg.io/podRole",
];

/// Label keys that name one instance of a role, whatever their values:
/// Rook's per-daemon ids, node and failure-domain names.
pub const INSTANCE_KEYS: &[&str] = &[
    "osd",
    "mon",
    "mgr",
    "mds",
    "rgw",
    "ceph-osd-id",
    "ceph_daemon_id",
    "failure-domain",
    "kubernetes.io/hostname",
    "node",
    "node-name",
    "nodeName",
];

/// Key prefixes of instance labels (Rook's `topology-location-host`, …).
const INSTANCE_PREFIXES: &[&str] = &["topology-location-"];

/// Whether a label key names an instance whatever its value.
pub fn is_instance_key(key: &str) -> bool {
    INSTANCE_KEYS.contains(&key)
        || INSTANCE_PREFIXES.iter().any(|p| key.starts_with(p))
        || key.ends_with("/hostname")
}

/// Whether a label key names a role (or is one Cilium adds to every
/// identity: namespace, service account, cluster, namespace labels).
fn is_role_key(key: &str) -> bool {
    ROLE_KEYS.contains(&key)
        || key == NAMESPACE_LABEL
        || key == SERVICE_ACCOUNT_LABEL
        || key == CLUSTER_LABEL
        || key.starts_with(NAMESPACE_LABELS_PREFIX)
}

/// Whether the values a key takes across several workloads all name
/// instances: ordinals (`0`, `12`), short ids (`a`, `b`), one name with an
/// ordinal, short-id or hash suffix (`kafka-0`, `rook-ceph-osd-1`,
/// `k8s-3`), or hashes (`7d9f8c6b5`, a generated `x7k2p`).
pub fn instance_like<'a>(values: impl IntoIterator<Item = &'a str>) -> bool {
    let values: Vec<&str> = values.into_iter().collect();
    if values.len() < 2 {
        return false;
    }
    if values.iter().all(|v| is_id(v)) {
        return true;
    }
    // A shared stem ending at a separator, and an id after it in every value.
    let stem = common_prefix(&values);
    let Some(cut) = stem.rfind(['-', '_', '.']) else {
        return false;
    };
    let stem = &stem[..=cut];
    stem.len() > 1 && values.iter().all(|v| is_id(&v[stem.len()..]))
}

/// An ordinal, a one- or two-letter id, or a hash.
fn is_id(v: &str) -> bool {
    let ordinal = !v.is_empty() && v.len() <= 6 && v.bytes().all(|b| b.is_ascii_digit());
    let short = (1..=2).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_lowercase());
    let digit = v.bytes().any(|b| b.is_ascii_digit());
    // A hex digest (`7d9f8c6b5`), or a name suffix Kubernetes generates
    // (5 or 10 characters of its vowel-free alphabet, `x7k2p`).
    let hex = (6..=40).contains(&v.len())
        && digit
        && v.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let generated = matches!(v.len(), 5 | 10)
        && digit
        && v.bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b));
    let hash = hex || generated;
    ordinal || short || hash
}

fn common_prefix<'a>(values: &[&'a str]) -> &'a str {
    let first = values[0];
    let mut len = first.len();
    for v in &values[1..] {
        len = first
            .bytes()
            .zip(v.bytes())
            .take(len)
            .take_while(|(a, b)| a == b)
            .count();
    }
    &first[..len]
}

/// Instances of one role, written as one policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Family {
    /// The role: the namespace and the labels every instance shares.
    pub role: WorkloadKey,
    /// The instances, sorted.
    pub members: Vec<WorkloadKey>,
    /// The labels that tell the instances apart.
    pub instance_keys: BTreeSet<String>,
}

impl Family {
    /// `rook-ceph/rook-ceph-osd: 3 instances (osd 0, 1, 2)`.
    pub fn describe(&self) -> String {
        let rank = |k: &&String| {
            let known = INSTANCE_KEYS.iter().position(|i| *i == k.as_str());
            (known.unwrap_or(usize::MAX), (*k).clone())
        };
        let key = self
            .instance_keys
            .iter()
            .min_by_key(rank)
            .map(String::as_str)
            .unwrap_or("");
        let values: Vec<&str> = self
            .members
            .iter()
            .filter_map(|m| m.labels.get(key).map(String::as_str))
            .collect();
        format!(
            "{}/{}: {} instances ({key} {}) differing in {}",
            self.role.namespace,
            self.role.display_name(),
            self.members.len(),
            crate::brief::list(values),
            self.instance_keys
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Instances and their roles.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    role_of: BTreeMap<WorkloadKey, WorkloadKey>,
    families: Vec<Family>,
}

impl Roles {
    /// Finds the families among `workloads` (see the module doc).
    pub fn detect<'a>(workloads: impl IntoIterator<Item = &'a WorkloadKey>) -> Roles {
        let all: BTreeSet<&WorkloadKey> = workloads.into_iter().collect();
        // Same namespace, label keys and service account, same role labels.
        type Bucket<'w> = (&'w str, Vec<&'w str>, Vec<(&'w str, &'w str)>);
        let mut buckets: BTreeMap<Bucket, Vec<&WorkloadKey>> = BTreeMap::new();
        for w in &all {
            let keys: Vec<&str> = w.labels.keys().map(String::as_str).collect();
            let role: Vec<(&str, &str)> = w
                .labels
                .iter()
                .filter(|(k, _)| is_role_key(k))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            buckets
                .entry((w.namespace.as_str(), keys, role))
                .or_default()
                .push(w);
        }
        let mut out = Roles::default();
        for ((_, _, role), members) in buckets {
            if members.len() < 2 || !role.iter().any(|(k, _)| ROLE_KEYS.contains(k)) {
                continue;
            }
            out.split(&members, &all);
        }
        out.families.sort_by(|a, b| a.role.cmp(&b.role));
        out
    }

    /// Within one bucket: the keys whose values differ and are instance
    /// labels are dropped; what is left groups the instances.
    fn split(&mut self, members: &[&WorkloadKey], all: &BTreeSet<&WorkloadKey>) {
        let mut varying: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for w in members {
            for (k, v) in &w.labels {
                varying.entry(k.as_str()).or_default().insert(v.as_str());
            }
        }
        varying.retain(|_, values| values.len() > 1);
        let instance: BTreeSet<String> = varying
            .iter()
            .filter(|(k, values)| is_instance_key(k) || instance_like(values.iter().copied()))
            .map(|(k, _)| k.to_string())
            .collect();
        if instance.is_empty() {
            return;
        }
        let mut groups: BTreeMap<WorkloadKey, Vec<WorkloadKey>> = BTreeMap::new();
        for w in members {
            let role = WorkloadKey {
                namespace: w.namespace.clone(),
                labels: w
                    .labels
                    .iter()
                    .filter(|(k, _)| !instance.contains(*k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            };
            groups.entry(role).or_default().push((*w).clone());
        }
        for (role, members) in groups {
            // A role that is itself an observed workload (one without the
            // instance labels) stays apart: nothing merges into it.
            if members.len() < 2 || all.contains(&role) || pod_labels(&role).is_empty() {
                continue;
            }
            for m in &members {
                self.role_of.insert(m.clone(), role.clone());
            }
            let instance_keys = instance
                .iter()
                .filter(|k| {
                    let values: BTreeSet<&String> =
                        members.iter().filter_map(|m| m.labels.get(*k)).collect();
                    values.len() > 1
                })
                .cloned()
                .collect();
            self.families.push(Family {
                role,
                members,
                instance_keys,
            });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.role_of.is_empty()
    }

    /// The role an instance belongs to (`None`: it is its own role).
    pub fn role_of(&self, w: &WorkloadKey) -> Option<&WorkloadKey> {
        self.role_of.get(w)
    }

    /// The families found, by role.
    pub fn families(&self) -> &[Family] {
        &self.families
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wl(ns: &str, labels: &[(&str, &str)]) -> WorkloadKey {
        let mut w = WorkloadKey::from_pairs(ns, labels);
        w.labels.insert(NAMESPACE_LABEL.to_string(), ns.to_string());
        w
    }

    fn osd(id: &str, host: &str) -> WorkloadKey {
        wl(
            "rook-ceph",
            &[
                ("app", "rook-ceph-osd"),
                ("osd", id),
                ("ceph-osd-id", id),
                ("ceph_daemon_id", id),
                ("ceph_daemon_type", "osd"),
                ("failure-domain", host),
                ("topology-location-host", host),
                ("topology-location-root", "default"),
                ("rook_cluster", "rook-ceph"),
                (SERVICE_ACCOUNT_LABEL, "rook-ceph-osd"),
            ],
        )
    }

    #[test]
    fn rook_osds_are_one_role() {
        let osds = [osd("0", "k8s-1"), osd("1", "k8s-2"), osd("2", "talos-abc")];
        let mgr = wl(
            "rook-ceph",
            &[
                ("app", "rook-ceph-mgr"),
                ("ceph_daemon_type", "mgr"),
                (SERVICE_ACCOUNT_LABEL, "rook-ceph-mgr"),
            ],
        );
        let roles = Roles::detect(osds.iter().chain([&mgr]));
        assert_eq!(roles.families().len(), 1);
        let f = &roles.families()[0];
        assert_eq!(f.members.len(), 3);
        assert!(!f.role.labels.contains_key("osd"));
        assert!(!f.role.labels.contains_key("failure-domain"));
        assert_eq!(f.role.labels["topology-location-root"], "default");
        assert_eq!(
            f.instance_keys
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            [
                "ceph-osd-id",
                "ceph_daemon_id",
                "failure-domain",
                "osd",
                "topology-location-host"
            ]
        );
        assert!(
            f.describe().contains("3 instances (osd 0, 1, 2)"),
            "{}",
            f.describe()
        );
        assert_eq!(roles.role_of(&osds[1]), Some(&f.role));
        assert_eq!(roles.role_of(&mgr), None);
    }

    #[test]
    fn different_role_labels_never_merge() {
        let a = wl("x", &[("app", "web-0"), ("shard", "0")]);
        let b = wl("x", &[("app", "web-1"), ("shard", "1")]);
        assert!(Roles::detect([&a, &b]).is_empty());
        let c = wl(
            "x",
            &[
                ("app.kubernetes.io/name", "db"),
                ("app.kubernetes.io/component", "primary"),
                ("idx", "0"),
            ],
        );
        let d = wl(
            "x",
            &[
                ("app.kubernetes.io/name", "db"),
                ("app.kubernetes.io/component", "replica"),
                ("idx", "1"),
            ],
        );
        assert!(Roles::detect([&c, &d]).is_empty());
    }

    #[test]
    fn different_service_accounts_or_namespaces_never_merge() {
        let a = wl(
            "x",
            &[
                ("app", "kafka"),
                ("broker", "0"),
                (SERVICE_ACCOUNT_LABEL, "a"),
            ],
        );
        let b = wl(
            "x",
            &[
                ("app", "kafka"),
                ("broker", "1"),
                (SERVICE_ACCOUNT_LABEL, "b"),
            ],
        );
        assert!(Roles::detect([&a, &b]).is_empty());
        let c = wl(
            "y",
            &[
                ("app", "kafka"),
                ("broker", "1"),
                (SERVICE_ACCOUNT_LABEL, "a"),
            ],
        );
        assert!(Roles::detect([&a, &c]).is_empty());
        let d = wl(
            "x",
            &[
                ("app", "kafka"),
                ("broker", "1"),
                (SERVICE_ACCOUNT_LABEL, "a"),
            ],
        );
        assert_eq!(Roles::detect([&a, &d]).families().len(), 1);
    }

    #[test]
    fn values_that_are_not_instance_like_keep_workloads_apart() {
        let a = wl("x", &[("app", "web"), ("track", "stable")]);
        let b = wl("x", &[("app", "web"), ("track", "canary")]);
        assert!(Roles::detect([&a, &b]).is_empty());
        let c = wl("x", &[("app", "es"), ("es-node", "es-data-0")]);
        let d = wl("x", &[("app", "es"), ("es-node", "es-data-1")]);
        let e = wl("x", &[("app", "es"), ("es-node", "es-data-2")]);
        assert_eq!(Roles::detect([&c, &d, &e]).families()[0].members.len(), 3);
    }

    #[test]
    fn a_role_that_is_already_a_workload_stays_apart() {
        let a = wl("x", &[("app", "kafka"), ("broker", "0")]);
        let b = wl("x", &[("app", "kafka"), ("broker", "1")]);
        let bare = wl("x", &[("app", "kafka")]);
        // `bare` has other keys, so it is not in the bucket; the role of a
        // and b would be `bare` itself.
        assert!(Roles::detect([&a, &b, &bare]).is_empty());
    }

    #[test]
    fn instance_like_values() {
        for yes in [
            &["0", "1", "2"][..],
            &["a", "b", "c"],
            &["kafka-0", "kafka-1"],
            &["rook-ceph-osd-0", "rook-ceph-osd-11"],
            &["k8s-1", "k8s-5"],
            &["web-7d9f8c6b5", "web-5c8d7f9b4"],
            &["x7k2p", "b4zq9"],
        ] {
            assert!(instance_like(yes.iter().copied()), "{yes:?}");
        }
        for no in [
            &["stable", "canary"][..],
            &["hdd", "ssd"],
            &["frontend", "backend"],
            &["0"],
            &["primary", "replica"],
            &["web-api", "web-ui"],
            &["prod1", "prod2"],
            &["env-prod1", "env-prod2"],
            &["node1", "web2"],
        ] {
            assert!(!instance_like(no.iter().copied()), "{no:?}");
        }
    }
}
