//! Which workloads hold data or secrets, and which act with cluster-admin-like
//! power: the one table the report's risk findings rely on (documented in
//! docs/report.md — keep the two in step).
//!
//! A workload has a role when a keyword of that role appears, as a whole
//! word, in one of its label keys or values or its service account (and,
//! for CI/GitOps, its namespace), or — for data and secret stores — when it
//! was reached on one of the role's well-known ports. Words match at
//! boundaries: a keyword may be followed by digits (`postgres16`) but not
//! by letters, so `vault` does not match `vaultwarden`. A workload whose
//! name contains an excluded word (`operator`, `exporter`, `backup`, …)
//! is a helper of the store, not the store.

use serde::Serialize;

use crate::peer::WorkloadKey;

/// What a workload is, for risk findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A database, cache or key-value store.
    Datastore,
    /// A secret store or the controller that syncs secrets from one.
    SecretStore,
    /// A CI runner or GitOps/deployment controller: code or manifests from
    /// outside become cluster changes, usually with cluster-admin rights.
    ClusterAdmin,
}

impl Role {
    pub fn describe(self) -> &'static str {
        match self {
            Role::Datastore => "database / cache",
            Role::SecretStore => "secret store",
            Role::ClusterAdmin => "CI runner / GitOps controller, cluster-admin-like",
        }
    }
}

/// One row of the classifier table.
pub struct RoleRule {
    pub role: Role,
    /// Whole-word keywords.
    pub keywords: &'static [&'static str],
    /// Responder ports that make a workload this role on their own.
    pub ports: &'static [u16],
    /// Whether the namespace name counts too.
    pub namespace: bool,
}

/// The classifier table.
pub const RULES: &[RoleRule] = &[
    RoleRule {
        role: Role::Datastore,
        keywords: &[
            "postgres",
            "postgresql",
            "cnpg",
            "mysql",
            "mariadb",
            "mongo",
            "mongodb",
            "redis",
            "dragonfly",
            "valkey",
            "keydb",
            "memcached",
            "etcd",
            "cockroachdb",
            "clickhouse",
            "cassandra",
            "scylla",
            "influxdb",
            "couchdb",
        ],
        ports: &[
            5432, 3306, 27017, 6379, 11211, 2379, 26257, 9042, 8086, 5984,
        ],
        namespace: false,
    },
    RoleRule {
        role: Role::SecretStore,
        keywords: &[
            "vault",
            "openbao",
            "onepassword",
            "onepassword-connect",
            "1password",
            "external-secrets",
            "sealed-secrets",
            "infisical",
            "bitwarden-sdk-server",
        ],
        ports: &[8200],
        namespace: false,
    },
    RoleRule {
        role: Role::ClusterAdmin,
        keywords: &[
            "actions-runner",
            "actions-runner-controller",
            "gha-rs",
            "gha-runner",
            "gha-rs-controller",
            "arc-runner",
            "gitlab-runner",
            "jenkins",
            "tekton",
            "tekton-pipelines",
            "argo-workflows",
            "argocd",
            "argo-cd",
            "flux",
            "kustomize-controller",
            "helm-controller",
            "buildkite",
            "woodpecker",
            "concourse",
            "system-upgrade",
        ],
        ports: &[],
        namespace: true,
    },
];

/// Words that make a matching workload a helper rather than the store.
pub const EXCLUDED: &[&str] = &[
    "operator", "exporter", "backup", "admin", "pgadmin", "ui", "metrics",
];

/// Labels that describe the namespace or cluster, not the workload.
fn workload_label(key: &str) -> bool {
    !(key.starts_with("io.cilium.k8s.namespace.labels.")
        || key == "io.kubernetes.pod.namespace"
        || key == "io.cilium.k8s.policy.cluster")
}

/// Whether `word` occurs in `text` as a whole word (ASCII case-insensitive):
/// not preceded by a letter or digit, not followed by a letter.
pub fn has_word(text: &str, word: &str) -> bool {
    let text = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let start = from + i;
        let end = start + word.len();
        let before_ok = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        let after_ok = end == bytes.len() || !bytes[end].is_ascii_alphabetic();
        if before_ok && after_ok {
            return true;
        }
        from = start + 1;
    }
    false
}

/// The texts a workload is known by: label keys and values (namespace
/// labels left out) and its service account.
fn names(w: &WorkloadKey) -> Vec<&str> {
    let mut v = Vec::new();
    for (k, val) in &w.labels {
        if workload_label(k) {
            v.push(k.as_str());
            v.push(val.as_str());
        }
    }
    v
}

/// The roles of a workload by its names, plus the roles its responder ports
/// imply (`ports`: the ports it was reached on).
pub fn roles(w: &WorkloadKey, ports: &[u16]) -> Vec<Role> {
    let names = names(w);
    let helper = names
        .iter()
        .any(|n| EXCLUDED.iter().any(|x| has_word(n, x)));
    let mut out = Vec::new();
    for rule in RULES {
        let by_name = rule
            .keywords
            .iter()
            .any(|k| names.iter().any(|n| has_word(n, k)))
            || (rule.namespace && rule.keywords.iter().any(|k| has_word(&w.namespace, k)));
        let by_port = ports.iter().any(|p| rule.ports.contains(p));
        let store = rule.role != Role::ClusterAdmin;
        if (by_name && !(store && helper)) || by_port {
            out.push(rule.role);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(ns: &str, labels: &[(&str, &str)]) -> WorkloadKey {
        WorkloadKey::from_pairs(ns, labels)
    }

    #[test]
    fn words_match_at_boundaries() {
        assert!(has_word("immich-postgres", "postgres"));
        assert!(has_word("postgres16", "postgres"));
        assert!(has_word("cnpg.io/cluster", "cnpg"));
        assert!(!has_word("vaultwarden", "vault"));
        assert!(!has_word("mypostgres", "postgres"));
        assert!(has_word("Redis", "redis"));
    }

    #[test]
    fn classifies_by_labels_ports_and_namespace() {
        let pg = w(
            "dbms",
            &[("cnpg.io/cluster", "pg"), ("cnpg.io/podRole", "instance")],
        );
        assert_eq!(roles(&pg, &[]), vec![Role::Datastore]);
        let op = w("dbms", &[("app.kubernetes.io/name", "dragonfly-operator")]);
        assert!(roles(&op, &[]).is_empty(), "operators are helpers");
        let anon = w("x", &[("app", "thing")]);
        assert_eq!(roles(&anon, &[6379]), vec![Role::Datastore]);
        let op1 = w(
            "external-secrets",
            &[("app.kubernetes.io/name", "onepassword-connect")],
        );
        assert_eq!(roles(&op1, &[]), vec![Role::SecretStore]);
        let runner = w(
            "actions-runner-system",
            &[("app.kubernetes.io/component", "runner")],
        );
        assert_eq!(roles(&runner, &[]), vec![Role::ClusterAdmin]);
        let flux = w("flux-system", &[("app", "source-controller")]);
        assert_eq!(roles(&flux, &[]), vec![Role::ClusterAdmin]);
        let ns_label = w(
            "dbms",
            &[
                ("app", "web"),
                (
                    "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name",
                    "redis",
                ),
            ],
        );
        assert!(
            roles(&ns_label, &[]).is_empty(),
            "namespace labels do not count"
        );
    }
}
