//! Loads every real-world policy of the corpus (`<corpus>/policies`; every
//! test here is skipped, with one line, when the corpus is absent) and checks:
//! which documents load, which are skipped and which are invalid (exact
//! sets); that the loaded kinds match `INDEX.tsv`; that parsing is lossless
//! except for the known notes; and that every loaded policy re-serializes
//! (with `policy::to_yaml`) to YAML that validates against its JSON schema
//! and parses back to the same value.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use flowpolicy::policy::{load_paths, load_str, to_yaml, LoadedPolicies, SkipReason};

/// `<corpus>/policies`, whether or not it exists (for relative names).
fn corpus_dir() -> PathBuf {
    common::corpus_root().join("policies")
}

fn rel(path: &Path) -> String {
    path.strip_prefix(corpus_dir())
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// The loaded corpus, `None` (after the skip line) without it.
fn load_corpus(what: &str) -> Option<LoadedPolicies> {
    let dir = common::corpus(what, "policies")?;
    Some(load_paths(&[dir]).expect("corpus readable"))
}

const TEMPLATED: &str = "cilium-cli-connectivity/templated/";

#[test]
fn corpus_counts_and_exact_skips_and_failures() {
    let Some(loaded) = load_corpus("policy corpus counts") else {
        return;
    };

    // Go templates with unquoted `{{ … }}` are not YAML; nothing else fails.
    let invalid: BTreeSet<(String, usize)> = loaded
        .invalid
        .iter()
        .map(|i| (rel(&i.source.path), i.source.document))
        .collect();
    let expected_invalid: BTreeSet<(String, usize)> = [
        ("client-egress-l7-tls-other-sni.yaml", 0),
        ("client-egress-l7-tls-sni.yaml", 0),
        ("client-egress-node-local-dns.yaml", 0),
        ("client-egress-tls-sni-double-wildcard.yaml", 0),
        ("client-egress-tls-sni-other.yaml", 0),
        ("client-egress-tls-sni-random-wildcard.yaml", 0),
        ("client-egress-tls-sni-wildcard.yaml", 0),
        ("client-egress-tls-sni.yaml", 0),
        ("client-egress-to-cidr-cp-host-knp.yaml", 0),
        ("client-egress-to-cidr-k8s.yaml", 0),
        ("client-egress-to-cidr-node-knp.yaml", 0),
        ("client-egress-to-fqdns-and-ccec-listener.yaml", 1),
        ("deny-cidr.yaml", 0),
        ("echo-ingress-from-cidr.yaml", 0),
    ]
    .into_iter()
    .map(|(f, d)| (format!("{TEMPLATED}{f}"), d))
    .collect();
    assert_eq!(invalid, expected_invalid);
    for i in &loaded.invalid {
        assert!(i.error.contains("line"), "error without a line: {i}");
    }

    let skipped: BTreeSet<(String, String)> = loaded
        .skipped
        .iter()
        .map(|s| {
            let kind = match &s.reason {
                SkipReason::OtherKind { kind, .. } => kind.clone(),
                other => other.to_string(),
            };
            (rel(&s.source.path), kind)
        })
        .collect();
    let expected_skipped: BTreeSet<(String, String)> = [
        (
            "client-egress-to-cidrgroup-external-deny-label-v2alpha1.yaml",
            "CiliumCIDRGroup",
        ),
        (
            "client-egress-to-cidrgroup-external-deny-label.yaml",
            "CiliumCIDRGroup",
        ),
        (
            "client-egress-to-cidrgroup-external-deny-v2alpha1.yaml",
            "CiliumCIDRGroup",
        ),
        (
            "client-egress-to-cidrgroup-external-deny.yaml",
            "CiliumCIDRGroup",
        ),
        (
            "client-egress-to-fqdns-and-ccec-listener.yaml",
            "CiliumClusterwideEnvoyConfig",
        ),
        (
            "echo-ingress-from-client-tiered-wildcard-pass-l7.yaml",
            "ClusterNetworkPolicy",
        ),
    ]
    .into_iter()
    .map(|(f, k)| (format!("{TEMPLATED}{f}"), k.to_owned()))
    .collect();
    assert_eq!(skipped, expected_skipped);
    assert_eq!(loaded.skipped.len(), 6);

    let ignored: Vec<String> = loaded.ignored_files.iter().map(|p| rel(p)).collect();
    assert_eq!(
        ignored,
        [
            "INDEX.tsv",
            "Tsuguya_home-cluster/docs__network-policies.md"
        ]
    );

    assert_eq!(loaded.policies.len(), 152);
    let mut by_kind = BTreeMap::<&str, usize>::new();
    for p in &loaded.policies {
        *by_kind.entry(p.policy.kind().kind()).or_default() += 1;
    }
    println!(
        "loaded {:?}, skipped {}, invalid {}",
        by_kind,
        loaded.skipped.len(),
        loaded.invalid.len()
    );
}

/// Every non-templated file of INDEX.tsv loads with exactly its kinds.
#[test]
fn corpus_matches_index() {
    let Some(loaded) = load_corpus("policy corpus against INDEX.tsv") else {
        return;
    };
    let mut found = BTreeMap::<String, Vec<String>>::new();
    for p in &loaded.policies {
        found
            .entry(rel(&p.source.path))
            .or_default()
            .push(p.policy.kind().kind().to_owned());
    }
    let index = std::fs::read_to_string(corpus_dir().join("INDEX.tsv")).unwrap();
    let mut checked = 0;
    for line in index.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, kinds) = (cols[0].trim_start_matches("policies/"), cols[1]);
        if kinds == "templated" {
            continue;
        }
        let expected: Vec<String> = kinds.split(',').map(str::to_owned).collect();
        if let Some(seed) = file.strip_prefix("seed-repo/networkpolicies/") {
            // INDEX lists a seed-cluster file that lives outside policies/.
            let path = common::corpus_root()
                .join("seed-cluster/networkpolicies")
                .join(seed);
            let l = load_paths(&[path]).unwrap();
            let kinds: Vec<String> = l.iter().map(|p| p.kind().kind().to_owned()).collect();
            assert_eq!(kinds, expected, "{file}");
        } else {
            assert_eq!(found.get(file), Some(&expected), "{file}");
        }
        checked += 1;
    }
    assert_eq!(checked, 123);
}

/// Parsing drops nothing and changes nothing except these known spots.
#[test]
fn corpus_parse_is_lossless_except_known_notes() {
    let Some(loaded) = load_corpus("lossless parsing of the policy corpus") else {
        return;
    };
    let notes: Vec<String> = loaded
        .policies
        .iter()
        .flat_map(|p| {
            p.notes
                .iter()
                .map(move |n| format!("{}: {n}", rel(&p.source.path)))
        })
        .collect();
    assert_eq!(
        notes,
        [
            // `description` at the top level instead of under `spec`.
            "cilium_cilium_examples/kubernetes__clusterwide__wildcard-from-endpoints.yaml: description: unknown field ignored",
            "cilium_cilium_examples/l3__match-expressions__or-statement.yaml: spec.ingress[0].fromEndpoints[0].matchExpressions[0].operator: \"in\" read as \"In\"",
            "cilium_cilium_examples/l3__match-expressions__or-statement.yaml: spec.ingress[0].fromEndpoints[1].matchExpressions[0].operator: \"in\" read as \"In\"",
        ]
    );
}

#[test]
fn corpus_round_trips_through_schema_valid_yaml() {
    let Some(loaded) = load_corpus("schema round trip of the policy corpus") else {
        return;
    };
    let mut schema_failures = BTreeSet::new();
    for p in &loaded.policies {
        let yaml = to_yaml(&p.policy).unwrap();
        let doc: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
        let file = rel(&p.source.path);
        // Templates keep `{{.Placeholders}}` that no schema accepts.
        if !file.starts_with(TEMPLATED) {
            if let Err(e) = common::validate_policy_yaml(&doc) {
                schema_failures.insert(format!("{file}: {}", e.join("; ")));
            }
        }
        let again = load_str(&yaml, Path::new("round-trip"));
        assert_eq!(again.policies.len(), 1, "{file}");
        assert_eq!(again.policies[0].policy, p.policy, "{file}");
        assert!(
            again.policies[0].notes.is_empty(),
            "{file}: {:?}",
            again.policies[0].notes
        );
    }
    // The seed document's placeholder label value is not a valid label.
    assert_eq!(
        schema_failures.into_iter().collect::<Vec<_>>(),
        ["seed-doc-proposed/staging__03__postgres-ingress.yaml: /spec/endpointSelector/matchLabels/cnpg.io~1cluster: \"<cluster-name>\" does not match \"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$\""]
    );
}

#[test]
fn markdown_file_is_handled_gracefully() {
    let Some(dir) = common::corpus("a markdown file in the policy corpus", "policies") else {
        return;
    };
    let md = dir.join("Tsuguya_home-cluster/docs__network-policies.md");
    let loaded = load_paths(&[md]).unwrap();
    assert!(loaded.policies.is_empty());
    // Its `---` rule splits it into two "documents", neither of them YAML.
    assert_eq!(loaded.invalid.len(), 2, "{loaded:?}");
    assert!(loaded.invalid.iter().all(|i| i.kind.is_none()));
}

/// The seed cluster's manifests: real policies among HelmReleases, Gateway
/// API objects, Cilium BGP/LB-IPAM objects and a JSON topology file.
#[test]
fn seed_cluster_directory_loads() {
    let Some(dir) = common::corpus("loading the seed cluster manifests", "seed-cluster") else {
        return;
    };
    let loaded = load_paths(&[dir]).unwrap();
    assert!(loaded.invalid.is_empty(), "{:?}", loaded.invalid);
    assert_eq!(loaded.policies.len(), 4);
    assert_eq!(loaded.skipped.len(), 25);
    for p in &loaded.policies {
        assert!(p.notes.is_empty(), "{}: {:?}", p.source, p.notes);
        let doc: serde_json::Value = serde_yaml::from_str(&to_yaml(&p.policy).unwrap()).unwrap();
        common::validate_policy_yaml(&doc).unwrap();
    }
    let ignored: Vec<String> = loaded
        .ignored_files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        ignored,
        [
            "talos_machineconfig_network_excerpt.yaml.j2",
            "staging-network-policy.md"
        ]
    );
}
