//! Reading a GitOps repository as Flux does, to know which files it applies:
//! the Flux `Kustomization` objects (by apiVersion/kind, whatever the file is
//! called) anywhere in the source the apps root belongs to, their
//! `spec.path` and `targetNamespace`, and the kustomize tree below each — a
//! directory with a kustomization file applies its `resources` (files, and
//! directories walked the same way); one without is applied whole by the
//! kustomization Flux generates, except sub-directories with their own
//! kustomization file, which are taken as such. Each applied directory keeps
//! the namespace Flux gives objects there (`targetNamespace`, else the
//! outermost kustomization `namespace:`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

use crate::render::kustomize::KUSTOMIZATION_FILES;

/// One Flux `Kustomization` object found in the repository.
#[derive(Debug, Clone, PartialEq)]
pub struct FluxKustomization {
    /// The file it is in.
    pub file: PathBuf,
    pub name: String,
    pub namespace: Option<String>,
    /// `spec.path`, resolved to a directory.
    pub path: PathBuf,
    pub target_namespace: Option<String>,
    /// `spec.sourceRef`, as written.
    pub source_ref: Value,
    pub interval: Option<String>,
}

/// A directory Flux applies manifests in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedDir {
    /// It has a kustomization file (a new manifest must be listed there);
    /// otherwise Flux takes every manifest in it.
    pub kustomized: bool,
    /// The namespace Flux and kustomize set on namespaced objects there.
    pub namespace: Option<String>,
    /// The Flux Kustomization (index into [`FluxTree::kustomizations`]).
    pub flux: usize,
}

/// Where the Flux Kustomizations of a repository reach.
#[derive(Debug, Clone, Default)]
pub struct FluxTree {
    /// The directory `spec.path`s are relative to (the source's root).
    pub source_root: PathBuf,
    /// Every Flux Kustomization found, sorted by file and name.
    pub kustomizations: Vec<FluxKustomization>,
    /// The `spec.path` of every Flux Kustomization found, resolved.
    pub paths: Vec<PathBuf>,
    dirs: BTreeMap<PathBuf, AppliedDir>,
    /// Applied manifest files and the directory that applies them.
    files: BTreeMap<PathBuf, PathBuf>,
}

impl FluxTree {
    /// Reads the Flux Kustomizations of the source `root` belongs to: the
    /// ancestor of `root` against which their paths resolve (found from the
    /// ones under `root`), searched whole. Empty when there are none: the
    /// tree is not a Flux repository.
    pub fn read(root: &Path) -> FluxTree {
        let root = normal(root);
        let mut local = find_kustomizations(&root);
        if local.is_empty() {
            // The Flux Kustomizations may all live elsewhere in the
            // repository (`clusters/<name>/apps.yaml` pointing at `apps/…`).
            if let Some(repo) = root.ancestors().find(|a| a.join(".git").exists()) {
                local = find_kustomizations(repo);
                local.retain(|(_, v)| {
                    spec_path(v).is_some_and(|p| {
                        let dir = normal(&repo.join(p.trim_start_matches("./")));
                        dir.starts_with(&root) || root.starts_with(&dir)
                    })
                });
            }
        }
        let source_root = local
            .iter()
            .find_map(|(_, v)| source_base(&root, spec_path(v)?))
            .unwrap_or_else(|| root.clone());
        let found = if source_root == root {
            local
        } else {
            find_kustomizations(&source_root)
        };
        let mut tree = FluxTree {
            source_root: source_root.clone(),
            ..FluxTree::default()
        };
        for (file, v) in found {
            let Some(spec) = spec_path(&v) else { continue };
            let rel = spec.trim_start_matches("./");
            let dir = normal(&source_root.join(rel));
            if !dir.is_dir() {
                continue;
            }
            let s = |p: &str| {
                v.pointer_str(p)
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned)
            };
            tree.kustomizations.push(FluxKustomization {
                file,
                name: s("/metadata/name").unwrap_or_default(),
                namespace: s("/metadata/namespace"),
                path: dir,
                target_namespace: s("/spec/targetNamespace"),
                source_ref: v
                    .get("spec")
                    .and_then(|x| x.get("sourceRef"))
                    .cloned()
                    .unwrap_or(Value::Null),
                interval: s("/spec/interval"),
            });
        }
        // The most specific paths first: an app's own Kustomization sets the
        // namespace of its directory, not a cluster-wide one reaching it too.
        let mut order: Vec<usize> = (0..tree.kustomizations.len()).collect();
        order.sort_by_key(|i| std::cmp::Reverse(tree.kustomizations[*i].path.components().count()));
        for i in order {
            let k = &tree.kustomizations[i];
            let (dir, ns) = (k.path.clone(), k.target_namespace.clone());
            if !tree.paths.contains(&dir) {
                tree.paths.push(dir.clone());
            }
            tree.visit(&dir, i, ns);
        }
        tree
    }

    /// Whether any Flux Kustomization was found.
    pub fn is_flux(&self) -> bool {
        !self.kustomizations.is_empty()
    }

    /// Whether Flux applies a manifest written into the existing `dir`
    /// (listed in its kustomization when it has one).
    pub fn applies_in(&self, dir: &Path) -> bool {
        self.dirs.contains_key(&normal(dir))
    }

    /// Whether Flux would apply a manifest written into `dir`, which may not
    /// exist yet: it is applied, or it would be a new directory inside one
    /// applied whole (a generated kustomization takes it).
    pub fn would_apply(&self, dir: &Path) -> bool {
        let dir = normal(dir);
        dir.ancestors()
            .find_map(|a| self.dirs.get(a).map(|d| (a == dir, d)))
            .is_some_and(|(itself, d)| itself || !d.kustomized)
    }

    /// The applied directory `dir`, if Flux applies manifests there.
    pub fn dir(&self, dir: &Path) -> Option<&AppliedDir> {
        self.dirs.get(&normal(dir))
    }

    /// The directories Flux applies manifests in, sorted.
    pub fn applied_dirs(&self) -> impl Iterator<Item = &PathBuf> {
        self.dirs.keys()
    }

    /// Every manifest file Flux applies, with the directory applying it
    /// (the one whose kustomization lists it, or the one applied whole).
    pub fn applied_files(&self) -> impl Iterator<Item = (&PathBuf, &PathBuf)> {
        self.files.iter()
    }

    /// The directory applying `file`, if Flux applies it.
    pub fn applier_of(&self, file: &Path) -> Option<&PathBuf> {
        self.files.get(&normal(file))
    }

    /// The namespace Flux gives the namespaced objects of `file` that do
    /// not set one: the applying directory's, if any.
    pub fn namespace_of(&self, file: &Path) -> Option<&str> {
        let dir = self.files.get(&normal(file))?;
        self.dirs.get(dir)?.namespace.as_deref()
    }

    fn visit(&mut self, dir: &Path, flux: usize, namespace: Option<String>) {
        let dir = normal(dir);
        if self.dirs.contains_key(&dir) {
            return;
        }
        match read_kustomization(&dir) {
            Some(k) => {
                // The outer namespace (Flux's, a parent kustomization's) wins.
                let namespace = namespace.or(k.namespace);
                self.dirs.insert(
                    dir.clone(),
                    AppliedDir {
                        kustomized: true,
                        namespace: namespace.clone(),
                        flux,
                    },
                );
                for r in k.resources {
                    if r.contains("://") {
                        continue;
                    }
                    let p = normal(&dir.join(&r));
                    if p.is_dir() {
                        self.visit(&p, flux, namespace.clone());
                    } else if p.is_file() {
                        self.files.entry(p).or_insert_with(|| dir.clone());
                    }
                }
            }
            None => {
                self.dirs.insert(
                    dir.clone(),
                    AppliedDir {
                        kustomized: false,
                        namespace: namespace.clone(),
                        flux,
                    },
                );
                for f in yaml_files_in(&dir) {
                    self.files.entry(f).or_insert_with(|| dir.clone());
                }
                for sub in subdirs(&dir) {
                    self.visit(&sub, flux, namespace.clone());
                }
            }
        }
    }
}

/// The nearest directory, from `file`'s own up to `top`, whose
/// kustomization file lists `file` in its resources (reached by Flux or not).
pub fn listed_by(file: &Path, top: &Path) -> Option<PathBuf> {
    let file = normal(file);
    file.ancestors()
        .skip(1)
        .take_while(|d| d.starts_with(top))
        .find(|d| {
            read_kustomization(d)
                .is_some_and(|k| k.resources.iter().any(|r| normal(&d.join(r)) == file))
        })
        .map(Path::to_path_buf)
}

/// The parts of a kustomization file the tree needs.
struct Kustomization {
    resources: Vec<String>,
    namespace: Option<String>,
}

/// `dir`'s kustomization file, if it has one (unreadable: no resources).
fn read_kustomization(dir: &Path) -> Option<Kustomization> {
    let file = KUSTOMIZATION_FILES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())?;
    let v: Value = fs::read_to_string(&file)
        .ok()
        .and_then(|t| serde_yaml::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let resources = v
        .get("resources")
        .and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let namespace = v
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Some(Kustomization {
        resources,
        namespace,
    })
}

/// A path lookup on a YAML value (`/a/b`).
trait PointerStr {
    fn pointer_str(&self, p: &str) -> Option<&str>;
}

impl PointerStr for Value {
    fn pointer_str(&self, p: &str) -> Option<&str> {
        let mut v = self;
        for part in p.split('/').filter(|s| !s.is_empty()) {
            v = v.get(part)?;
        }
        v.as_str()
    }
}

fn spec_path(v: &Value) -> Option<&str> {
    v.pointer_str("/spec/path")
}

/// Every Flux Kustomization object in the YAML files under `root`, with
/// its file, sorted by file then document.
pub(super) fn find_kustomizations(root: &Path) -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    for file in yaml_files(root) {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        if !text.contains("kustomize.toolkit.fluxcd.io") {
            continue;
        }
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let Ok(v) = Value::deserialize(doc) else {
                break; // custom tags and the like: not a Flux object
            };
            if is_flux_kustomization(&v) {
                out.push((normal(&file), v));
            }
        }
    }
    out
}

/// A `kustomize.toolkit.fluxcd.io` `Kustomization`.
pub(super) fn is_flux_kustomization(v: &Value) -> bool {
    v.pointer_str("/apiVersion")
        .is_some_and(|a| a.starts_with("kustomize.toolkit.fluxcd.io/"))
        && v.pointer_str("/kind") == Some("Kustomization")
}

/// The nearest ancestor of `root` (itself included) in which `spec` names
/// an existing directory.
fn source_base(root: &Path, spec: &str) -> Option<PathBuf> {
    let rel = spec.trim_start_matches("./");
    root.ancestors()
        .filter(|b| !b.as_os_str().is_empty())
        .find(|b| b.join(rel).is_dir())
        .map(Path::to_path_buf)
}

/// A path without `.` parts and with `..` applied.
pub fn normal(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The sub-directories of `d` that are not hidden, sorted.
pub fn subdirs(d: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(d)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// The `.yaml`/`.yml` files directly in `d`, sorted.
fn yaml_files_in(d: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(d)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .map(|p| normal(&p))
        .collect();
    out.sort();
    out
}

/// Every `.yaml`/`.yml` file under `root`, sorted.
fn yaml_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        stack.extend(subdirs(&d));
        out.extend(yaml_files_in(&d));
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    const KS: &str = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: a\nspec:\n  targetNamespace: media\n  path: ./repo/apps/media/a/app\n  sourceRef:\n    kind: GitRepository\n    name: home\n";

    #[test]
    fn reads_paths_namespaces_and_what_they_apply() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        write(t, "repo/apps/media/a/install.yaml", KS);
        write(
            t,
            "repo/apps/media/a/app/kustomization.yaml",
            "namespace: other\nresources:\n  - ./hr.yaml\n  - ./sub\n",
        );
        write(t, "repo/apps/media/a/app/hr.yaml", "kind: HelmRelease\n");
        write(t, "repo/apps/media/a/app/unlisted.yaml", "kind: X\n");
        write(t, "repo/apps/media/a/app/sub/x.yaml", "kind: X\n");
        // A cluster-wide Kustomization outside the apps root applies it whole.
        write(
            t,
            "repo/flux/apps.yaml",
            &KS.replace("  targetNamespace: media\n", "")
                .replace("./repo/apps/media/a/app", "./repo/apps"),
        );
        let apps = t.join("repo/apps");
        let tree = FluxTree::read(&apps);
        assert_eq!(tree.source_root, normal(t));
        assert_eq!(tree.kustomizations.len(), 2);
        let app = apps.join("media/a/app");
        assert!(tree.applies_in(&app) && tree.dir(&app).unwrap().kustomized);
        assert_eq!(
            tree.dir(&app).unwrap().namespace.as_deref(),
            Some("media"),
            "Flux's targetNamespace wins over the kustomization's"
        );
        assert_eq!(tree.namespace_of(&app.join("hr.yaml")), Some("media"));
        assert_eq!(
            tree.applier_of(&app.join("sub/x.yaml")),
            Some(&app.join("sub"))
        );
        assert_eq!(tree.applier_of(&app.join("unlisted.yaml")), None);
        assert_eq!(
            tree.applier_of(&apps.join("media/a/install.yaml")),
            Some(&apps.join("media/a"))
        );
        // New directories: inside one applied whole, yes; beside listed files, no.
        assert!(tree.would_apply(&apps.join("flowpolicy-foundation")));
        assert!(!tree.would_apply(&app.join("new")));
    }

    #[test]
    fn kustomizations_elsewhere_in_the_repository_are_found() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        fs::create_dir_all(t.join(".git")).unwrap();
        write(
            t,
            "clusters/prod/apps.yaml",
            &KS.replace("./repo/apps/media/a/app", "./apps/prod"),
        );
        write(
            t,
            "apps/prod/kustomization.yaml",
            "resources:\n  - ./a.yaml\n",
        );
        write(t, "apps/prod/a.yaml", "kind: X\n");
        let tree = FluxTree::read(&t.join("apps"));
        assert!(tree.is_flux());
        assert!(tree.applier_of(&t.join("apps/prod/a.yaml")).is_some());
        assert!(!FluxTree::read(&t.join("clusters")).applies_in(&t.join("nowhere")));
    }
}
