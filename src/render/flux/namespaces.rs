//! The namespace of manifests that set none, as Flux and kustomize give it
//! (`report -p`/`verify -p` on a GitOps tree): the applying Flux
//! Kustomization's `targetNamespace`, else the kustomization's `namespace:`
//! — not `default`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::tree::{normal, FluxTree};
use crate::render::kustomize::KUSTOMIZATION_FILES;

/// The namespace Flux (or, outside any Flux Kustomization, the nearest
/// kustomization listing it) gives each file below `path` that gets one;
/// keys are the files as found below `path`. The repository is read from
/// its root (the nearest ancestor with `.git`, else `path`).
pub fn for_files(path: &Path) -> BTreeMap<PathBuf, String> {
    let start = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let abs = std::fs::canonicalize(&start).unwrap_or_else(|_| start.clone());
    let repo = abs
        .ancestors()
        .find(|a| a.join(".git").exists())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| abs.clone());
    let tree = FluxTree::read(&repo);
    let mut out = BTreeMap::new();
    for file in files_below(path) {
        let full = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        let ns = tree
            .namespace_of(&full)
            .map(str::to_owned)
            .or_else(|| kustomization_namespace(&full));
        if let Some(ns) = ns {
            out.insert(normal(&file), ns);
        }
    }
    out
}

/// The `namespace:` of the nearest kustomization (in the file's directory
/// or above) that lists the file or its directory.
fn kustomization_namespace(file: &Path) -> Option<String> {
    let mut listed = file.to_path_buf();
    for dir in file.ancestors().skip(1) {
        let k = KUSTOMIZATION_FILES
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file());
        if let Some(k) = k {
            let v: serde_yaml::Value = std::fs::read_to_string(&k)
                .ok()
                .and_then(|t| serde_yaml::from_str(&t).ok())?;
            let lists = v
                .get("resources")
                .and_then(|r| r.as_sequence())
                .is_some_and(|r| {
                    r.iter()
                        .filter_map(|x| x.as_str())
                        .any(|x| normal(&dir.join(x)) == listed)
                });
            if !lists {
                return None;
            }
            if let Some(ns) = v.get("namespace").and_then(|n| n.as_str()) {
                return Some(ns.to_string());
            }
            listed = dir.to_path_buf();
        }
    }
    None
}

fn files_below(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(d) = stack.pop() {
        stack.extend(super::subdirs(&d));
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}
