//! Workload expansion: the topology's compact notations (`a|b|c` names or label alternatives,
//! `<controller-name>` placeholders, notes) into concrete workloads, and what their pods get:
//! controller and Helm labels, Cilium's identity-label filter, names, replicas, service accounts.

use std::collections::BTreeMap;

use super::rng::{fnv1a, k8s_suffix};
use super::topology::{App, WorkloadSpec};

/// Labels Cilium's default identity-label filter drops (facts §2).
pub(crate) fn is_identity_relevant(key: &str) -> bool {
    const EXCLUDED_PREFIXES: [&str; 5] = [
        "io.kubernetes",
        "kubernetes.io",
        "beta.kubernetes.io",
        "k8s.io",
        "annotation.",
    ];
    const EXCLUDED_KEYS: [&str; 9] = [
        "pod-template-generation",
        "pod-template-hash",
        "controller-revision-hash",
        "etcd_node",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "batch.kubernetes.io/job-completion-index",
        "batch.kubernetes.io/controller-uid",
        "controller-uid",
    ];
    !EXCLUDED_PREFIXES.iter().any(|p| key.starts_with(p)) && !EXCLUDED_KEYS.contains(&key)
}

/// One concrete workload after expanding the topology's compact notations
/// (`a|b|c` names or label alternatives, `<controller-name>` placeholders, notes in parentheses).
pub(crate) struct ExpandedWorkload {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) host_network: bool,
    pub(crate) app_template: bool,
    pub(crate) ports: Vec<u16>,
    pub(crate) probe_ports: Vec<u16>,
}

fn split_name_and_note(raw: &str) -> (String, String) {
    match raw.split_once(" (") {
        Some((name, note)) => (
            name.trim().to_string(),
            note.trim_end_matches(')').to_string(),
        ),
        None => (raw.trim().to_string(), String::new()),
    }
}

/// The topology's names are prose at times ("volsync controller"); what a
/// flow shows must be a Kubernetes object name (RFC 1123 subdomain): lower
/// case, anything else `-`. Applied where names are written, so the
/// simulation (hashed on the topology's names) is unchanged.
pub(crate) fn object_name(raw: &str) -> String {
    raw.to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn note_says_host_network(note: &str) -> bool {
    note == "hostNetwork" || note.ends_with(", hostNetwork")
}

fn normalize_kind(kind: &str, name: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if k.contains('/') {
        return if name.contains("worker") {
            "DaemonSet"
        } else {
            "Deployment"
        }
        .to_string();
    }
    match k.as_str() {
        "deployment" | "various" => "Deployment",
        "daemonset" => "DaemonSet",
        "statefulset" => "StatefulSet",
        "cronjob" => "CronJob",
        "pod" => "Pod",
        _ => "Deployment",
    }
    .to_string()
}

pub(crate) fn expand_workload(spec: &WorkloadSpec) -> Vec<ExpandedWorkload> {
    let (base, note) = split_name_and_note(&spec.name);
    let mut names: Vec<String> = if base.contains('|') {
        base.split('|').map(|s| s.trim().to_string()).collect()
    } else if base.contains(" / ") {
        base.split(" / ").map(|s| s.trim().to_string()).collect()
    } else {
        vec![base.clone()]
    };
    let alternatives: Vec<(&String, Vec<&str>)> = spec
        .pod_labels
        .iter()
        .filter(|(_, v)| v.contains('|'))
        .map(|(k, v)| (k, v.split('|').collect()))
        .collect();
    if names.len() == 1 {
        if let Some((_, alts)) = alternatives.first() {
            names = alts.iter().map(|s| s.to_string()).collect();
        }
    }
    let host_network = spec.host_network == Some(true) || note_says_host_network(&note);
    let containers = spec.containers.as_deref().unwrap_or(&[]);
    let probe_ports: Vec<u16> = containers
        .iter()
        .filter(|c| c.kind == "containers")
        .flat_map(|c| c.probe_ports.iter().copied())
        .collect();
    let ports = spec.ports.clone().unwrap_or_default();
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let labels = spec
                .pod_labels
                .iter()
                .map(|(k, v)| {
                    let alt = alternatives.iter().find(|(ak, _)| *ak == k);
                    let value = match alt {
                        Some((_, alts)) => alts.get(i).copied().unwrap_or(alts[0]).to_string(),
                        None => v.replace("<controller-name>", name),
                    };
                    (k.clone(), value)
                })
                .collect();
            ExpandedWorkload {
                name: name.clone(),
                kind: normalize_kind(&spec.kind, name),
                labels,
                host_network,
                app_template: spec.controller_id.is_some(),
                ports: ports.clone(),
                probe_ports: if probe_ports.is_empty() && spec.controller_id.is_none() {
                    ports.first().copied().into_iter().collect()
                } else {
                    probe_ports.clone()
                },
            }
        })
        .collect()
}

/// Helm's volatile labels (`helm.sh/chart`, `app.kubernetes.io/version`) for some chart pods.
pub(crate) fn helm_volatile_labels(app: &App, wl: &ExpandedWorkload) -> Vec<(String, String)> {
    if wl.app_template || fnv1a(&wl.name) % 2 == 1 {
        return Vec::new();
    }
    let instance = wl.labels.get("app.kubernetes.io/instance");
    let release = app
        .helm
        .iter()
        .find(|h| h.release.as_ref() == instance && instance.is_some())
        .or_else(|| app.helm.first());
    let Some(release) = release else {
        return Vec::new();
    };
    let (Some(chart), Some(url)) = (&release.chart, &release.chart_url) else {
        return Vec::new();
    };
    let Some((_, version)) = url.rsplit_once(':') else {
        return Vec::new();
    };
    vec![
        ("helm.sh/chart".to_string(), format!("{chart}-{version}")),
        ("app.kubernetes.io/version".to_string(), version.to_string()),
        (
            "app.kubernetes.io/managed-by".to_string(),
            "Helm".to_string(),
        ),
    ]
}

/// Replica count of a long-lived workload.
pub(crate) fn replicas_of(wl: &ExpandedWorkload, node_count: usize) -> usize {
    let proxy = wl
        .labels
        .get("app.kubernetes.io/component")
        .map(String::as_str)
        == Some("proxy");
    let coredns = wl.labels.get("k8s-app").map(String::as_str) == Some("kube-dns");
    match wl.kind.as_str() {
        "DaemonSet" => node_count,
        _ if proxy || coredns => 2,
        _ => 1,
    }
}

/// Labels the controllers add (most are then dropped by the identity filter).
pub(crate) fn controller_labels(
    kind: &str,
    workload: &str,
    pod_name: &str,
    ordinal: usize,
) -> Vec<(String, String)> {
    let hash = k8s_suffix(&format!("{workload}/template"), 10);
    match kind {
        "Deployment" => vec![("pod-template-hash".into(), hash)],
        "StatefulSet" => vec![
            (
                "controller-revision-hash".into(),
                format!("{workload}-{hash}"),
            ),
            (
                "statefulset.kubernetes.io/pod-name".into(),
                pod_name.to_string(),
            ),
            ("apps.kubernetes.io/pod-index".into(), ordinal.to_string()),
        ],
        "DaemonSet" => vec![
            ("controller-revision-hash".into(), hash),
            ("pod-template-generation".into(), "1".into()),
        ],
        _ => Vec::new(),
    }
}

pub(crate) fn pod_name_for(kind: &str, workload: &str, ordinal: usize) -> String {
    let seed = format!("{workload}#{ordinal}");
    match kind {
        "StatefulSet" => format!("{workload}-{ordinal}"),
        "DaemonSet" => format!("{workload}-{}", k8s_suffix(&seed, 5)),
        "Pod" => format!(
            "{workload}-{}-runner-{}",
            k8s_suffix(&seed, 5),
            k8s_suffix(&(seed.clone() + "r"), 5)
        ),
        _ => format!(
            "{workload}-{}-{}",
            k8s_suffix(&format!("{workload}/template"), 10),
            k8s_suffix(&seed, 5)
        ),
    }
}

pub(crate) fn service_account_for(wl: &ExpandedWorkload) -> String {
    if wl.app_template {
        "default".to_string()
    } else {
        wl.name.clone()
    }
}
