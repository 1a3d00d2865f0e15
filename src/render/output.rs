//! Output files of a directory layout: which policy goes in which file
//! (`namespace`, `flat` or `gitops` layout), the fingerprint annotations that
//! let a later refresh recognise its own files, and the files' text.
//!
//! Layouts:
//! - `namespace` (the default, as before): `cluster/<name>.yaml` and
//!   `<namespace>/<name>.yaml`.
//! - `flat`: every file in one directory, `cluster_<name>.yaml` and
//!   `<namespace>_<name>.yaml`.
//! - `gitops`: `<namespace>/<app>/app/networkpolicy.yaml` beside the app's
//!   other manifests (the directory from a template); workloads that map to
//!   the same app share that file as one document each, sorted by name. The
//!   foundation goes to `flowpolicy-foundation/`, with ROLLOUT.md, and
//!   namespace-wide policies (`--same-namespace`), which belong to no app, to
//!   `flowpolicy-foundation/<namespace>/`. The plan names gitops files one
//!   by one: an app directory holds the app's other manifests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::check::{self, CheckError};
use super::fingerprint::{self, ALLOWED_HASH, GENERATED_RULES};
use super::parallel;
use crate::peer::WorkloadKey;
use crate::policy::{CiliumClusterwideNetworkPolicy, CiliumNetworkPolicy, NetworkPolicy};

/// The directory the gitops layout writes the foundation (and ROLLOUT.md) to.
pub const GITOPS_FOUNDATION_DIR: &str = "flowpolicy-foundation";
/// The file name of a workload's policies in the gitops layout.
pub const GITOPS_FILE: &str = "networkpolicy.yaml";
/// The default gitops app directory template.
pub const DEFAULT_APP_TEMPLATE: &str = "{namespace}/{app}/app";

/// A generated policy of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum GenPolicy {
    Cnp(CiliumNetworkPolicy),
    Ccnp(CiliumClusterwideNetworkPolicy),
    K8s(NetworkPolicy),
}

impl GenPolicy {
    pub fn namespace(&self) -> Option<&str> {
        match self {
            GenPolicy::Cnp(p) => p.metadata.namespace.as_deref(),
            GenPolicy::Ccnp(_) => None,
            GenPolicy::K8s(p) => p.metadata.namespace.as_deref(),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            GenPolicy::Cnp(p) => &p.metadata.name,
            GenPolicy::Ccnp(p) => &p.metadata.name,
            GenPolicy::K8s(p) => &p.metadata.name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            GenPolicy::Cnp(_) => "CiliumNetworkPolicy",
            GenPolicy::Ccnp(_) => "CiliumClusterwideNetworkPolicy",
            GenPolicy::K8s(_) => "NetworkPolicy",
        }
    }

    /// `namespace/name` (or the name of a clusterwide policy).
    pub fn id(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{ns}/{}", self.name()),
            None => self.name().to_string(),
        }
    }

    fn annotations_mut(&mut self) -> &mut BTreeMap<String, String> {
        match self {
            GenPolicy::Cnp(p) => &mut p.metadata.annotations,
            GenPolicy::Ccnp(p) => &mut p.metadata.annotations,
            GenPolicy::K8s(p) => &mut p.metadata.annotations,
        }
    }

    pub fn to_value(&self) -> Value {
        match self {
            GenPolicy::Cnp(p) => to_value(p),
            GenPolicy::Ccnp(p) => to_value(p),
            GenPolicy::K8s(p) => to_value(p),
        }
    }

    /// The YAML text of the document.
    pub fn to_yaml(&self) -> String {
        match self {
            GenPolicy::Cnp(p) => yaml(p),
            GenPolicy::Ccnp(p) => yaml(p),
            GenPolicy::K8s(p) => yaml(p),
        }
    }

    /// The same kind of policy from a JSON value (after merging rules into it).
    pub fn with_value(&self, v: Value) -> Option<GenPolicy> {
        Some(match self {
            GenPolicy::Cnp(_) => GenPolicy::Cnp(serde_json::from_value(v).ok()?),
            GenPolicy::Ccnp(_) => GenPolicy::Ccnp(serde_json::from_value(v).ok()?),
            GenPolicy::K8s(_) => GenPolicy::K8s(serde_json::from_value(v).ok()?),
        })
    }

    /// Adds the fingerprint annotations: the hash of the allowed set and the
    /// hashes of the generated rules. Gives the stamped document's JSON
    /// value (the one it was hashed from, with the annotations put in).
    pub fn stamp(&mut self) -> Value {
        let mut v = self.to_value();
        let (allowed, rules) = fingerprint::fingerprints(&v);
        let stamps = [(ALLOWED_HASH, allowed), (GENERATED_RULES, rules.join(" "))];
        let ann = self.annotations_mut();
        for (key, value) in &stamps {
            ann.insert((*key).into(), value.clone());
        }
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            let ann = meta
                .entry("annotations")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(ann) = ann.as_object_mut() {
                for (key, value) in stamps {
                    ann.insert(key.into(), Value::String(value));
                }
            }
        }
        debug_assert_eq!(v, self.to_value(), "the stamped value is the document's");
        v
    }
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("policy types always serialize")
}

fn yaml<T: Serialize>(v: &T) -> String {
    crate::policy::to_yaml(v).expect("policy types always serialize")
}

/// A generated policy and, for workload policies, the workload it is for.
#[derive(Debug, Clone)]
pub struct OutPolicy {
    pub policy: GenPolicy,
    pub workload: Option<WorkloadKey>,
    /// Set when `policy` was already stamped, checked and rendered
    /// ([`OutPolicy::prepared`]), so its file reuses that work. Whoever
    /// changes `policy` afterwards clears it (staging does).
    pub ready: Option<Ready>,
}

impl OutPolicy {
    /// A policy to be stamped, checked and rendered when its file is made.
    pub fn new(policy: GenPolicy, workload: Option<WorkloadKey>) -> OutPolicy {
        OutPolicy {
            policy,
            workload,
            ready: None,
        }
    }

    /// A policy stamped, checked and rendered now, before its file is known
    /// (e.g. on another core while synthesis makes the next ones).
    pub fn prepared(policy: GenPolicy, workload: Option<WorkloadKey>) -> OutPolicy {
        let (policy, ready) = prepare(policy);
        OutPolicy {
            policy,
            workload,
            ready: Some(ready),
        }
    }
}

/// What making a policy's file needs of it, done ahead: what the self-check
/// said of its stamped value (the file's path is filled in when the file is
/// made) and its YAML text.
#[derive(Debug, Clone)]
pub struct Ready {
    checked: check::Checked,
    yaml: String,
}

/// Stamps the policy, checks its stamped value and renders it.
fn prepare(mut policy: GenPolicy) -> (GenPolicy, Ready) {
    let value = policy.stamp();
    let checked = check::check_value("", &value);
    drop(value);
    let yaml = policy.to_yaml();
    (policy, Ready { checked, yaml })
}

/// How an output directory is organised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    Namespace,
    Flat,
    Gitops { app_template: String },
}

/// One output file: its path relative to the output root, its policies,
/// their text (rendered once, when the file is made) and what the
/// self-check said of each (checked then, from the value it was stamped
/// from: [`check_files`]).
#[derive(Debug, Clone)]
pub struct OutFile {
    pub path: PathBuf,
    pub policies: Vec<GenPolicy>,
    text: String,
    checked: Vec<check::Checked>,
}

impl OutFile {
    /// The file of these policies, in this order, rendered and checked.
    pub fn new(path: PathBuf, policies: Vec<GenPolicy>) -> OutFile {
        let shown = path.display().to_string();
        let checked = policies
            .iter()
            .map(|p| check::check_value(&shown, &p.to_value()))
            .collect();
        let text = join_documents(policies.iter().map(GenPolicy::to_yaml));
        OutFile {
            path,
            policies,
            text,
            checked,
        }
    }

    /// The file of these prepared policies, in this order.
    fn of_ready(path: PathBuf, policies: Vec<(GenPolicy, Ready)>) -> OutFile {
        let shown = path.display().to_string();
        let (policies, ready): (Vec<GenPolicy>, Vec<Ready>) = policies.into_iter().unzip();
        let mut checked = Vec::with_capacity(ready.len());
        let mut texts = Vec::with_capacity(ready.len());
        for r in ready {
            checked.push(r.checked.map_err(|e| e.in_file(&shown)));
            texts.push(r.yaml);
        }
        OutFile {
            path,
            policies,
            text: join_documents(texts),
            checked,
        }
    }

    /// The file's text: its documents, `---`-separated when more than one.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Documents as one file: a single document as is, several each after `---`.
pub fn join_documents(docs: impl IntoIterator<Item = String>) -> String {
    let docs: Vec<String> = docs.into_iter().collect();
    if docs.len() == 1 {
        return docs.into_iter().next().unwrap_or_default();
    }
    let mut out = String::new();
    for d in docs {
        out.push_str("---\n");
        out.push_str(&d);
    }
    out
}

/// The app name of a workload: `app.kubernetes.io/name`, else
/// `app.kubernetes.io/instance`, else its display name; made path-safe.
pub fn app_name(w: &WorkloadKey) -> String {
    let raw = w
        .labels
        .get("app.kubernetes.io/name")
        .or_else(|| w.labels.get("app.kubernetes.io/instance"))
        .cloned()
        .unwrap_or_else(|| w.display_name());
    crate::synth::workload::dns1123(&raw)
}

/// Checks an `--app-template`: only `{namespace}`, `{app}` and `{name}`, a
/// relative path that stays inside the root.
pub fn check_app_template(t: &str) -> Result<(), String> {
    let mut rest = t.to_string();
    for p in ["{namespace}", "{app}", "{name}"] {
        rest = rest.replace(p, "x");
    }
    if rest.contains('{') || rest.contains('}') {
        return Err(format!(
            "--app-template {t:?}: only {{namespace}}, {{app}} and {{name}} can be used"
        ));
    }
    if t.starts_with('/') || t.split('/').any(|c| c == ".." || c.is_empty()) {
        return Err(format!(
            "--app-template {t:?} must be a relative path inside --root without empty or `..` parts"
        ));
    }
    Ok(())
}

fn gitops_dir(template: &str, policy: &GenPolicy, workload: Option<&WorkloadKey>) -> PathBuf {
    let app = workload
        .map(app_name)
        .unwrap_or_else(|| policy.name().to_string());
    PathBuf::from(
        template
            .replace("{namespace}", policy.namespace().unwrap_or_default())
            .replace("{app}", &app)
            .replace("{name}", policy.name()),
    )
}

/// Where each policy goes; files sorted by path, documents by kind and name.
/// Every policy is stamped with its fingerprint annotations.
pub fn files(policies: Vec<OutPolicy>, layout: &Layout) -> Vec<OutFile> {
    group(policies.into_iter().map(|p| (path_for(&p, layout), p)))
}

/// The file a policy goes to in `layout`.
pub fn path_for(p: &OutPolicy, layout: &Layout) -> PathBuf {
    let policy = &p.policy;
    let ns = policy.namespace().map(str::to_owned);
    let file = format!("{}.yaml", policy.name());
    match (layout, ns) {
        (Layout::Namespace, None) => PathBuf::from("cluster").join(file),
        (Layout::Namespace, Some(ns)) => PathBuf::from(ns).join(file),
        (Layout::Flat, None) => PathBuf::from(format!("cluster_{file}")),
        (Layout::Flat, Some(ns)) => PathBuf::from(format!("{ns}_{file}")),
        (Layout::Gitops { .. }, None) => PathBuf::from(GITOPS_FOUNDATION_DIR).join(file),
        // Namespace-wide policies (--same-namespace) belong to no app.
        (Layout::Gitops { .. }, Some(ns)) if p.workload.is_none() => {
            PathBuf::from(GITOPS_FOUNDATION_DIR).join(ns).join(file)
        }
        (Layout::Gitops { app_template }, Some(_)) => {
            gitops_dir(app_template, policy, p.workload.as_ref()).join(GITOPS_FILE)
        }
    }
}

/// Policies with their files as output files: each stamped with its
/// fingerprint annotations, files sorted by path, documents by kind and name,
/// rendered (files spread over the cores, see [`parallel`]).
/// Policies prepared ahead ([`OutPolicy::prepared`]) keep that work.
pub fn group(placed: impl IntoIterator<Item = (PathBuf, OutPolicy)>) -> Vec<OutFile> {
    let mut by_path: BTreeMap<PathBuf, Vec<OutPolicy>> = BTreeMap::new();
    for (path, policy) in placed {
        by_path.entry(path).or_default().push(policy);
    }
    let make = |(path, policies): (PathBuf, Vec<OutPolicy>)| {
        let mut ready: Vec<(GenPolicy, Ready)> = policies
            .into_iter()
            .map(|p| match p.ready {
                Some(r) => {
                    debug_assert_eq!(r.yaml, p.policy.to_yaml(), "prepared, then changed");
                    (p.policy, r)
                }
                None => prepare(p.policy),
            })
            .collect();
        ready.sort_by(|(a, _), (b, _)| (a.kind(), a.id()).cmp(&(b.kind(), b.id())));
        OutFile::of_ready(path, ready)
    };
    let files: Vec<(PathBuf, Vec<OutPolicy>)> = by_path.into_iter().collect();
    // Prepared ahead, a file is only its documents put together: not worth
    // a thread (a new thread's first allocations even cost more).
    if files
        .iter()
        .flat_map(|(_, ps)| ps)
        .all(|p| p.ready.is_some())
    {
        files.into_iter().map(make).collect()
    } else {
        parallel::map_owned(files, make)
    }
}

/// Checks generated policies, each with the file it goes to (several may
/// share one), as the JSON values of their typed documents (on every core):
/// the first failure in their order, or an object given twice.
pub fn check_policies(items: &[(&Path, &GenPolicy)]) -> Result<(), CheckError> {
    let checked = parallel::map(items, |(path, policy)| {
        check::check_value(&path.display().to_string(), &policy.to_value())
    });
    check::first_failure(items.iter().map(|(path, _)| *path).zip(&checked))
}

/// The self-check of every policy of an output tree's files, as written
/// (stamped): each was checked when its file was made.
pub fn check_files(files: &[OutFile]) -> Result<(), CheckError> {
    check::first_failure(
        files
            .iter()
            .flat_map(|f| f.checked.iter().map(|c| (f.path.as_path(), c))),
    )
}

/// The paths the rollout plan's commands name, relative to the root: the
/// foundation's, and each namespace's.
pub fn plan_paths(
    files: &[OutFile],
    layout: &Layout,
) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
    let mut foundation = Vec::new();
    let mut namespaces: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in files {
        let path = f.path.to_string_lossy().into_owned();
        let ns = f.policies.iter().find_map(GenPolicy::namespace);
        match (layout, ns) {
            (Layout::Namespace, None) => foundation = vec!["cluster/".to_string()],
            (Layout::Namespace, Some(ns)) => {
                namespaces.insert(ns.to_string(), vec![format!("{ns}/")]);
            }
            (_, None) => foundation.push(path),
            (_, Some(ns)) => namespaces.entry(ns.to_string()).or_default().push(path),
        }
    }
    (foundation, namespaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wl(ns: &str, labels: &[(&str, &str)]) -> WorkloadKey {
        WorkloadKey::from_pairs(ns, labels)
    }

    #[test]
    fn app_names_prefer_name_then_instance_then_display_name() {
        assert_eq!(
            app_name(&wl(
                "a",
                &[
                    ("app.kubernetes.io/name", "Immich"),
                    ("app.kubernetes.io/instance", "x")
                ]
            )),
            "immich"
        );
        assert_eq!(
            app_name(&wl("a", &[("app.kubernetes.io/instance", "pg")])),
            "pg"
        );
        assert_eq!(app_name(&wl("a", &[("app", "web")])), "web");
    }

    #[test]
    fn workloads_of_one_app_share_a_file_and_templates_are_checked() {
        let p = |name: &str| {
            OutPolicy::new(
                GenPolicy::Cnp(CiliumNetworkPolicy::new(name, "media")),
                Some(wl("media", &[("app.kubernetes.io/name", "immich")])),
            )
        };
        let layout = Layout::Gitops {
            app_template: DEFAULT_APP_TEMPLATE.into(),
        };
        let f = files(vec![p("server"), p("ml")], &layout);
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].path,
            PathBuf::from("media/immich/app/networkpolicy.yaml")
        );
        assert_eq!(f[0].policies[0].name(), "ml");
        assert!(f[0].text().starts_with("---\n"));
        assert!(check_app_template("{namespace}/{app}/app").is_ok());
        assert!(check_app_template("../{app}").is_err());
        assert!(check_app_template("{ns}/{app}").is_err());
    }

    /// Generated policies are checked as their typed values, stamps included,
    /// the first failure in document order; several may share a file.
    #[test]
    fn typed_policies_and_output_files_are_checked_in_order() {
        use crate::policy::CiliumNetworkPolicy;
        let cnp = |name: &str| {
            let mut p = GenPolicy::Cnp(CiliumNetworkPolicy::new(name, "shop"));
            p.stamp();
            p
        };
        let (ok, bad, other_bad) = (cnp("web"), cnp("Web_1"), cnp("db_2"));
        let file = Path::new("shop/app/networkpolicy.yaml");
        assert_eq!(check_policies(&[(file, &ok), (file, &cnp("db"))]), Ok(()));
        let err = check_policies(&[(file, &ok), (file, &bad), (file, &other_bad)]).unwrap_err();
        assert_eq!(
            (err.path.as_str(), err.object.as_str(), err.pointer.as_str()),
            (
                "shop/app/networkpolicy.yaml",
                "shop/Web_1",
                "/metadata/name"
            )
        );
        let err = check_policies(&[(file, &ok), (Path::new("x.yaml"), &ok)]).unwrap_err();
        assert_eq!(
            (err.path.as_str(), err.object.as_str()),
            ("x.yaml", "shop/web")
        );
        assert!(
            err.message.contains("same kind, namespace and name"),
            "{err}"
        );
        let files = [
            OutFile::new(file.into(), vec![ok.clone()]),
            OutFile::new("shop/b.yaml".into(), vec![cnp("b"), bad]),
        ];
        assert_eq!(check_files(&files).unwrap_err().object, "shop/Web_1");
        assert_eq!(check_files(&files[..1]), Ok(()));
    }
}
