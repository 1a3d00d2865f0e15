//! Which app of a Flux repository deploys a workload seen in the flows: the
//! manifests Flux applies (`tree.rs`) read as deployers — HelmReleases (their
//! `spec.releaseName` or name against the pods' `app.kubernetes.io/instance`,
//! which also brings a chart's sub-components and app-template controllers
//! home), plain Deployments/StatefulSets/DaemonSets/Jobs/CronJobs (their pod
//! template labels or name), and other named objects (operator resources
//! such as a database cluster, whose name the pods carry in a label) — each
//! with the directory that applies it and the namespace its pods run in.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

use super::tree::FluxTree;
use crate::graph::filter::edits;
use crate::peer::WorkloadKey;

const INSTANCE: &str = "app.kubernetes.io/instance";
/// Pod labels whose values name no app.
const NOT_NAMES: [&str; 5] = [
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/component",
    "app.kubernetes.io/controller",
    "app.kubernetes.io/version",
    "io.kubernetes.pod.namespace",
];
const WORKLOAD_KINDS: [&str; 5] = ["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"];

/// What deploys pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeployerKind {
    HelmRelease,
    Workload,
    Object,
}

/// A manifest Flux applies that deploys (or names) pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployer {
    pub kind: DeployerKind,
    /// The object's kind as written (`HelmRelease`, `Deployment`, `Cluster`…).
    pub object_kind: String,
    /// The release name (HelmRelease) or `metadata.name`.
    pub name: String,
    /// The namespace its pods run in.
    pub namespace: String,
    /// The manifest file.
    pub file: PathBuf,
    /// The directory that applies it: where the app's policy goes.
    pub dir: PathBuf,
    /// Whether Flux forces the namespace of that directory (a policy there
    /// must be in the same one).
    pub forced_namespace: Option<String>,
    /// Pod template labels (workloads).
    pub pod_labels: BTreeMap<String, String>,
}

/// How a workload was matched to its deployer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home<'a> {
    pub deployer: &'a Deployer,
    pub how: String,
}

/// Why a workload has no home, and the closest app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoHome {
    pub why: String,
    /// The deployer whose name is closest, as `ns/name (dir)`.
    pub guess: Option<String>,
}

/// Every deployer of a repository.
#[derive(Debug, Clone, Default)]
pub struct Apps {
    pub deployers: Vec<Deployer>,
}

impl Apps {
    /// Reads every manifest the tree applies.
    pub fn read(tree: &FluxTree) -> Apps {
        let mut deployers = Vec::new();
        for (file, dir) in tree.applied_files() {
            let Ok(text) = fs::read_to_string(file) else {
                continue;
            };
            let forced = tree.dir(dir).and_then(|d| d.namespace.clone());
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let Ok(v) = Value::deserialize(doc) else {
                    break; // an app's config file with custom tags
                };
                if let Some(d) = deployer(&v, file, dir, forced.as_deref()) {
                    deployers.push(d);
                }
            }
        }
        deployers.sort_by(|a, b| {
            (a.kind, &a.namespace, &a.name, &a.file).cmp(&(b.kind, &b.namespace, &b.name, &b.file))
        });
        Apps { deployers }
    }

    /// The app that deploys `w`, or why none does.
    pub fn home(&self, w: &WorkloadKey) -> Result<Home<'_>, NoHome> {
        let here: Vec<&Deployer> = self
            .deployers
            .iter()
            .filter(|d| d.namespace == w.namespace)
            .collect();
        let found = by_instance(&here, w)
            .or_else(|| by_template(&here, w))
            .or_else(|| by_label_value(&here, w))
            .or_else(|| by_release_prefix(&here, w));
        if let Some(home) = found {
            return match &home.deployer.forced_namespace {
                Some(ns) if *ns != w.namespace => Err(NoHome {
                    why: format!(
                        "{} applies it into namespace {ns}, a policy there would move too",
                        home.deployer.dir.display()
                    ),
                    guess: None,
                }),
                _ => Ok(home),
            };
        }
        let why = if here.is_empty() {
            format!(
                "no Flux Kustomization applies anything deployed in namespace {}",
                w.namespace
            )
        } else {
            format!(
                "no HelmRelease, workload or object that Flux applies in namespace {} matches its labels (app.kubernetes.io/instance, template labels, names): its app may be gone from the repository, or an operator creates it from a resource the repository does not hold",
                w.namespace
            )
        };
        Err(NoHome {
            why,
            guess: self.guess(w),
        })
    }

    /// The deployer whose name is closest to the workload's (same namespace
    /// first), if any is close enough to be a guess.
    fn guess(&self, w: &WorkloadKey) -> Option<String> {
        let name = w
            .labels
            .get(INSTANCE)
            .cloned()
            .unwrap_or_else(|| w.display_name());
        let score = |d: &Deployer| {
            let prefix = common_prefix(&name, &d.name);
            let dist = edits(&name, &d.name);
            (prefix >= 3 || dist <= 2).then_some((
                d.namespace != w.namespace,
                std::cmp::Reverse(prefix),
                dist,
            ))
        };
        self.deployers
            .iter()
            .filter_map(|d| score(d).map(|s| (s, d)))
            .min_by_key(|(s, _)| *s)
            .map(|(_, d)| d)
            .map(|d| {
                format!(
                    "{} {}/{} in {}",
                    d.object_kind,
                    d.namespace,
                    d.name,
                    d.dir.display()
                )
            })
    }
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

/// The HelmRelease whose release name is the pods' instance label.
fn by_instance<'a>(here: &[&'a Deployer], w: &WorkloadKey) -> Option<Home<'a>> {
    let instance = w.labels.get(INSTANCE)?;
    here.iter()
        .find(|d| d.kind == DeployerKind::HelmRelease && d.name == *instance)
        .map(|d| Home {
            deployer: d,
            how: format!("HelmRelease {} ({INSTANCE}={instance})", d.name),
        })
}

/// The workload manifest whose pod template labels the pods carry (all
/// that the identity has agree, at least one), or whose name is theirs.
fn by_template<'a>(here: &[&'a Deployer], w: &WorkloadKey) -> Option<Home<'a>> {
    here.iter()
        .filter(|d| d.kind == DeployerKind::Workload)
        .find(|d| {
            let mut agree = 0;
            for (k, v) in &d.pod_labels {
                match w.labels.get(k) {
                    Some(x) if x == v => agree += 1,
                    Some(_) => return false,
                    None => {}
                }
            }
            agree > 0
        })
        .map(|d| Home {
            deployer: d,
            how: format!("{} {} (pod template labels)", d.object_kind, d.name),
        })
        .or_else(|| {
            let names = names(w);
            here.iter()
                .filter(|d| d.kind == DeployerKind::Workload)
                .find(|d| names.iter().any(|(_, v)| *v == d.name))
                .map(|d| Home {
                    deployer: d,
                    how: format!("{} {} (its name)", d.object_kind, d.name),
                })
        })
}

/// A deployer named like one of the pods' label values (a release the
/// pods say they are part of, an operator's resource named in a label).
fn by_label_value<'a>(here: &[&'a Deployer], w: &WorkloadKey) -> Option<Home<'a>> {
    let names = names(w);
    for kind in [DeployerKind::HelmRelease, DeployerKind::Object] {
        for (k, v) in &names {
            if let Some(d) = here.iter().find(|d| d.kind == kind && d.name == **v) {
                return Some(Home {
                    deployer: d,
                    how: format!("{} {} ({k}={v})", d.object_kind, d.name),
                });
            }
        }
    }
    None
}

/// The release whose name, followed by `-`, starts the pods' name (a
/// chart's sub-component without the instance label: `keda` for
/// `keda-admission-webhooks`); the longest such name.
fn by_release_prefix<'a>(here: &[&'a Deployer], w: &WorkloadKey) -> Option<Home<'a>> {
    let names = names(w);
    here.iter()
        .filter(|d| d.kind == DeployerKind::HelmRelease)
        .filter_map(|d| {
            let (k, v) = names
                .iter()
                .find(|(_, v)| v.starts_with(&format!("{}-", d.name)))?;
            Some((d, *k, *v))
        })
        .max_by_key(|(d, _, _)| d.name.len())
        .map(|(d, k, v)| Home {
            deployer: d,
            how: format!("HelmRelease {} (release name starts {k}={v})", d.name),
        })
}

/// The pods' label values that may name an app, the usual name keys first.
fn names(w: &WorkloadKey) -> Vec<(&str, &str)> {
    const FIRST: [&str; 5] = [
        INSTANCE,
        "app.kubernetes.io/name",
        "app",
        "k8s-app",
        "app.kubernetes.io/part-of",
    ];
    let mut out: Vec<(&str, &str)> = FIRST
        .iter()
        .filter_map(|k| w.labels.get_key_value(*k))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (k, v) in &w.labels {
        let skip = FIRST.contains(&k.as_str())
            || NOT_NAMES.contains(&k.as_str())
            || k.starts_with("io.cilium.")
            || k.starts_with("io.kubernetes.");
        if !skip {
            out.push((k, v));
        }
    }
    out
}

/// The deployer a document is, if it is one.
fn deployer(v: &Value, file: &Path, dir: &Path, forced: Option<&str>) -> Option<Deployer> {
    let s = |x: &Value, p: &[&str]| -> Option<String> {
        let mut x = x;
        for k in p {
            x = x.get(*k)?;
        }
        x.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
    };
    let kind = s(v, &["kind"])?;
    let api = s(v, &["apiVersion"])?;
    let name = s(v, &["metadata", "name"])?;
    let own_ns = s(v, &["metadata", "namespace"]);
    let ns = forced.map(str::to_owned).or(own_ns);
    let (dkind, name, namespace, labels) =
        if kind == "HelmRelease" && api.starts_with("helm.toolkit.fluxcd.io/") {
            let release = s(v, &["spec", "releaseName"]).unwrap_or(name);
            let ns = s(v, &["spec", "targetNamespace"]).or(ns)?;
            (DeployerKind::HelmRelease, release, ns, BTreeMap::new())
        } else if WORKLOAD_KINDS.contains(&kind.as_str()) {
            let template = if kind == "CronJob" {
                v.get("spec")?
                    .get("jobTemplate")?
                    .get("spec")?
                    .get("template")
            } else {
                v.get("spec")?.get("template")
            };
            let labels = template
                .and_then(|t| t.get("metadata"))
                .and_then(|m| m.get("labels"))
                .and_then(Value::as_mapping)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), scalar(v)?)))
                        .collect()
                })
                .unwrap_or_default();
            (DeployerKind::Workload, name, ns?, labels)
        } else if is_config_kind(&api, &kind) {
            return None;
        } else {
            (DeployerKind::Object, name, ns?, BTreeMap::new())
        };
    Some(Deployer {
        kind: dkind,
        object_kind: kind,
        name,
        namespace,
        file: file.to_path_buf(),
        dir: dir.to_path_buf(),
        forced_namespace: forced.map(str::to_owned),
        pod_labels: labels,
    })
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Objects that name no pods: configuration, access, storage, Flux itself.
fn is_config_kind(api: &str, kind: &str) -> bool {
    const KINDS: [&str; 16] = [
        "ConfigMap",
        "Secret",
        "Service",
        "ServiceAccount",
        "PersistentVolumeClaim",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "Namespace",
        "Ingress",
        "HTTPRoute",
        "ExternalSecret",
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
    ];
    KINDS.contains(&kind)
        || api.contains("toolkit.fluxcd.io")
        || api.starts_with("kustomize.config.k8s.io")
        || api.starts_with("cilium.io")
        || api.starts_with("networking.k8s.io")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(kind: DeployerKind, name: &str, labels: &[(&str, &str)]) -> Deployer {
        Deployer {
            kind,
            object_kind: format!("{kind:?}"),
            name: name.into(),
            namespace: "ns".into(),
            file: PathBuf::from(format!("{name}/hr.yaml")),
            dir: PathBuf::from(name),
            forced_namespace: Some("ns".into()),
            pod_labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn home(apps: &Apps, labels: &[(&str, &str)]) -> Result<String, NoHome> {
        apps.home(&WorkloadKey::from_pairs("ns", labels))
            .map(|h| h.deployer.name.clone())
    }

    #[test]
    fn releases_workloads_and_objects_are_homes() {
        let apps = Apps {
            deployers: vec![
                d(DeployerKind::HelmRelease, "cert-manager", &[]),
                d(DeployerKind::HelmRelease, "cilium", &[]),
                d(
                    DeployerKind::Workload,
                    "frontend",
                    &[("app", "web"), ("tier", "x")],
                ),
                d(DeployerKind::Object, "postgres-18", &[]),
                d(DeployerKind::HelmRelease, "keda", &[]),
            ],
        };
        assert_eq!(
            home(
                &apps,
                &[("app.kubernetes.io/name", "keda-admission-webhooks")]
            )
            .unwrap(),
            "keda"
        );
        let sub = [
            ("app.kubernetes.io/instance", "cert-manager"),
            ("app.kubernetes.io/name", "cainjector"),
            ("app.kubernetes.io/component", "cainjector"),
        ];
        assert_eq!(home(&apps, &sub).unwrap(), "cert-manager");
        assert_eq!(home(&apps, &[("app", "web")]).unwrap(), "frontend");
        assert!(home(&apps, &[("app", "web"), ("tier", "y")]).is_err());
        assert_eq!(
            home(
                &apps,
                &[
                    ("k8s-app", "hubble-relay"),
                    ("app.kubernetes.io/part-of", "cilium")
                ]
            )
            .unwrap(),
            "cilium"
        );
        assert_eq!(
            home(&apps, &[("cnpg.io/cluster", "postgres-18")]).unwrap(),
            "postgres-18"
        );
        let gone = home(&apps, &[("app.kubernetes.io/instance", "cert-managr")]).unwrap_err();
        assert!(gone.why.contains("gone from the repository"), "{gone:?}");
        assert!(gone.guess.unwrap().contains("ns/cert-manager"));
        assert!(home(&apps, &[("app", "zzz")]).unwrap_err().guess.is_none());
    }
}
