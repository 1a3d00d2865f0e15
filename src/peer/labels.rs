//! Cilium identity labels as Hubble shows them (`source:key=value`), and which
//! of them are stable enough to build a selector on.
//!
//! Cilium's default label filter already drops `pod-template-hash`,
//! `controller-revision-hash`, `io.kubernetes*`, … before Hubble sees them, but
//! several volatile labels survive it (job names, chart and app versions) and
//! custom filters vary: flowpolicy drops them again here so a workload keeps
//! one identity across rollouts and CronJob runs.

use std::collections::BTreeMap;

/// The namespace label every pod identity carries.
pub const NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
/// The service-account label Cilium adds to every pod identity.
pub const SERVICE_ACCOUNT_LABEL: &str = "io.cilium.k8s.policy.serviceaccount";
/// The ClusterMesh cluster-name label.
pub const CLUSTER_LABEL: &str = "io.cilium.k8s.policy.cluster";
/// Prefix of the namespace's own labels, copied into the pod identity.
pub const NAMESPACE_LABELS_PREFIX: &str = "io.cilium.k8s.namespace.labels.";

/// One parsed label: `k8s:app=web` → source `k8s`, key `app`, value `web`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label<'a> {
    pub source: &'a str,
    pub key: &'a str,
    pub value: &'a str,
}

/// Parses `source:key=value`; labels without a source are `k8s`, without a
/// value have an empty value. Keys may contain `:` only after the source.
pub fn parse(raw: &str) -> Label<'_> {
    let (source, rest) = match raw.split_once(':') {
        Some((s, rest)) if !s.contains('=') && !s.contains('/') => (s, rest),
        _ => ("k8s", raw),
    };
    let (key, value) = rest.split_once('=').unwrap_or((rest, ""));
    Label { source, key, value }
}

/// Labels that change between rollouts, job runs, chart upgrades or database
/// failovers, or name a single pod: never part of a workload's identity or
/// selector.
pub fn is_volatile(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "pod-template-hash",
        "pod-template-generation",
        "controller-revision-hash",
        "controller-uid",
        "job-name",
        "helm.sh/chart",
        "app.kubernetes.io/version",
        "chart",
        "release",
        "heritage",
        "version",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "etcd_node",
        // Database operators flip these on failover (CloudNativePG, Zalando/Spilo).
        "role",
        "spilo-role",
        "cnpg.io/instanceName",
        "cnpg.io/instanceRole",
    ];
    const PREFIXES: &[&str] = &[
        "batch.kubernetes.io/",
        "security.istio.io/",
        "service.istio.io/",
        "annotation.",
    ];
    EXACT.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p))
}

/// The stable Kubernetes labels of an identity, keyed without their source
/// prefix (every pod label has source `k8s`). Includes the namespace,
/// service-account, cluster and namespace-label keys, which selectors may use.
pub fn stable_k8s_labels<'a>(
    raw: impl IntoIterator<Item = &'a String>,
) -> BTreeMap<String, String> {
    raw.into_iter()
        .map(|l| parse(l))
        .filter(|l| l.source == "k8s" && !is_volatile(l.key))
        .map(|l| (l.key.to_string(), l.value.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sources_keys_and_values() {
        assert_eq!(
            parse("k8s:app.kubernetes.io/name=web"),
            Label {
                source: "k8s",
                key: "app.kubernetes.io/name",
                value: "web"
            }
        );
        assert_eq!(
            parse("reserved:host"),
            Label {
                source: "reserved",
                key: "host",
                value: ""
            }
        );
        assert_eq!(
            parse("cidr:10.0.0.0/8"),
            Label {
                source: "cidr",
                key: "10.0.0.0/8",
                value: ""
            }
        );
        assert_eq!(
            parse("app=x"),
            Label {
                source: "k8s",
                key: "app",
                value: "x"
            }
        );
    }

    #[test]
    fn volatile_labels_are_dropped_from_identity() {
        let raw: Vec<String> = [
            "k8s:app=web",
            "k8s:job-name=backup-29000000",
            "k8s:batch.kubernetes.io/job-name=backup-29000000",
            "k8s:helm.sh/chart=web-1.2.3",
            "k8s:app.kubernetes.io/version=1.2.3",
            "k8s:io.kubernetes.pod.namespace=prod",
            "reserved:something",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let stable = stable_k8s_labels(&raw);
        assert_eq!(stable.keys().collect::<Vec<_>>(), ["app", NAMESPACE_LABEL]);
    }
}
