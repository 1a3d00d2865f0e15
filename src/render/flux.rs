//! Reading a GitOps tree as Flux does, to know which files it applies: the
//! Flux `Kustomization` objects under the apps root (by apiVersion/kind,
//! whatever the file is called), their `spec.path`, and the kustomize tree
//! below each — a directory with a kustomization file applies its
//! `resources` (files, and directories walked the same way); one without is
//! applied whole by the kustomization Flux generates, except sub-directories
//! with their own kustomization file, which are taken as such.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

use super::kustomize::KUSTOMIZATION_FILES;
use super::output::{OutFile, GITOPS_FOUNDATION_DIR};

/// Where Flux's Kustomizations under an apps root reach.
#[derive(Debug, Clone, Default)]
pub struct FluxTree {
    /// The `spec.path` of every Flux Kustomization found, resolved.
    pub paths: Vec<PathBuf>,
    /// Directories with a kustomization file that some path reaches.
    kustomized: BTreeSet<PathBuf>,
    /// Directories without one whose manifests a generated kustomization takes.
    whole: BTreeSet<PathBuf>,
}

impl FluxTree {
    /// Reads the Flux Kustomizations under `root` (paths resolved against
    /// the nearest ancestor of `root` in which they exist). Empty when
    /// there are none: the tree is not a Flux repository.
    pub fn read(root: &Path) -> FluxTree {
        let mut tree = FluxTree::default();
        let mut specs: Vec<String> = Vec::new();
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
                let api = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                if api.starts_with("kustomize.toolkit.fluxcd.io/")
                    && v.get("kind").and_then(Value::as_str) == Some("Kustomization")
                {
                    if let Some(p) = v
                        .get("spec")
                        .and_then(|s| s.get("path"))
                        .and_then(Value::as_str)
                    {
                        specs.push(p.to_string());
                    }
                }
            }
        }
        specs.sort();
        specs.dedup();
        for s in specs {
            let Some(dir) = resolve(root, &s) else {
                continue;
            };
            tree.visit(&dir);
            tree.paths.push(dir);
        }
        tree
    }

    /// Whether any Flux Kustomization was found.
    pub fn is_flux(&self) -> bool {
        !self.paths.is_empty()
    }

    /// Whether Flux applies a manifest written into `dir` (listed in its
    /// kustomization when it has one).
    pub fn applies_in(&self, dir: &Path) -> bool {
        let dir = normal(dir);
        self.kustomized.contains(&dir) || self.whole.contains(&dir)
    }

    /// The directories Flux applies manifests in, sorted.
    pub fn applied_dirs(&self) -> impl Iterator<Item = &PathBuf> {
        self.kustomized.union(&self.whole)
    }

    /// Splits the gitops files into those Flux applies where they would be
    /// written and those it would silently ignore (not written; each with
    /// why and the likeliest app directory). Foundation files are kept.
    pub fn place(&self, root: &Path, files: Vec<OutFile>) -> (Vec<OutFile>, Vec<String>) {
        let mut kept = Vec::new();
        let mut homeless = Vec::new();
        for f in files {
            let dir = f.path.parent().unwrap_or(Path::new(""));
            if f.path.starts_with(GITOPS_FOUNDATION_DIR) || self.applies_in(&root.join(dir)) {
                kept.push(f);
                continue;
            }
            let ids: Vec<String> = f.policies.iter().map(|p| p.id()).collect();
            let guess = self
                .guess(root, dir)
                .map(|g| format!("; best guess: its app is in {} (add the policies there by hand, or pass --app-template)", g.display()))
                .unwrap_or_default();
            homeless.push(format!(
                "{} ({}): not written, no Flux Kustomization applies {}/ (no spec.path reaches it: the app may have another directory name, be deployed by another app's release, or be gone from the repository){guess}",
                f.path.display(),
                ids.join(", "),
                dir.display()
            ));
        }
        (kept, homeless)
    }

    /// An applied directory of the same namespace whose app directory name
    /// starts the app's name or is started by it (the longest).
    fn guess(&self, root: &Path, dir: &Path) -> Option<PathBuf> {
        let mut parts = dir.components();
        let ns = parts.next()?.as_os_str().to_string_lossy().into_owned();
        let app = parts.next()?.as_os_str().to_string_lossy().into_owned();
        let root = normal(root);
        self.applied_dirs()
            .filter_map(|d| d.strip_prefix(&root).ok())
            .filter(|d| d.starts_with(&ns))
            .filter_map(|d| {
                let x = d
                    .components()
                    .nth(1)?
                    .as_os_str()
                    .to_string_lossy()
                    .into_owned();
                (x != app && (app.starts_with(&x) || x.starts_with(&app)))
                    .then(|| (x.len(), d.to_path_buf()))
            })
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, d)| d)
    }

    fn visit(&mut self, dir: &Path) {
        let dir = normal(dir);
        if self.kustomized.contains(&dir) || self.whole.contains(&dir) {
            return;
        }
        match kustomization(&dir) {
            Some(resources) => {
                self.kustomized.insert(dir.clone());
                for r in resources {
                    let p = dir.join(&r);
                    if p.is_dir() {
                        self.visit(&p);
                    }
                }
            }
            None => {
                self.whole.insert(dir.clone());
                for sub in subdirs(&dir) {
                    self.visit(&sub);
                }
            }
        }
    }
}

/// The `resources` of `dir`'s kustomization file, if it has one.
fn kustomization(dir: &Path) -> Option<Vec<String>> {
    let file = KUSTOMIZATION_FILES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())?;
    let v: Value = fs::read_to_string(&file)
        .ok()
        .and_then(|t| serde_yaml::from_str(&t).ok())
        .unwrap_or(Value::Null);
    Some(
        v.get("resources")
            .and_then(Value::as_sequence)
            .map(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// `spec.path` against `root` and each of its ancestors: the first that exists.
fn resolve(root: &Path, spec: &str) -> Option<PathBuf> {
    let rel = spec.trim_start_matches("./");
    let mut base = Some(root);
    while let Some(b) = base {
        let p = b.join(rel);
        if p.is_dir() {
            return Some(normal(&p));
        }
        base = b.parent().filter(|p| !p.as_os_str().is_empty());
    }
    None
}

/// A path without `.` parts and with `..` applied.
fn normal(p: &Path) -> PathBuf {
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
pub(super) fn subdirs(d: &Path) -> Vec<PathBuf> {
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

/// Every `.yaml`/`.yml` file under `root`, sorted.
fn yaml_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for sub in subdirs(&d) {
            stack.push(sub);
        }
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let yaml = p.extension().is_some_and(|x| x == "yaml" || x == "yml");
            if yaml && e.file_type().is_ok_and(|t| t.is_file()) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
