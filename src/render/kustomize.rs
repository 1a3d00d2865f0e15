//! Listing generated policy files in an app's existing `kustomization.yaml`
//! (gitops layout). The file is edited through the YAML library, keeping
//! its other keys and entries in their order; one is never created (Flux
//! builds one from the directory when there is none) — its absence is
//! reported instead. YAML comments in an edited file are not kept.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_yaml::Value;

use super::refresh::FileChange;

/// The file names kustomize looks for, in its order.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// What adding `file` to the kustomization of `dir` (under `root`) needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KustomizationEdit {
    /// Add the entry: the new text of the kustomization.
    Change(FileChange),
    /// Already listed.
    Listed,
    /// There is no kustomization in the directory.
    Missing(PathBuf),
    /// It could not be read as a kustomization (why).
    Unusable(String),
}

/// Works out the edit that lists `file` (a name in `dir`) in `dir`'s
/// kustomization; reads only.
pub fn add_resource(root: &Path, dir: &Path, file: &str) -> Result<KustomizationEdit> {
    let Some(name) = KUSTOMIZATION_FILES
        .iter()
        .find(|n| root.join(dir).join(n).is_file())
    else {
        return Ok(KustomizationEdit::Missing(root.join(dir)));
    };
    let rel = dir.join(name);
    let full = root.join(&rel);
    let old = fs::read_to_string(&full).with_context(|| format!("reading {}", full.display()))?;
    let mut doc: Value = match serde_yaml::from_str(&old) {
        Ok(v) => v,
        Err(e) => {
            return Ok(KustomizationEdit::Unusable(format!(
                "{}: not valid YAML ({e}); add {file} to its resources by hand",
                full.display()
            )))
        }
    };
    let Value::Mapping(map) = &mut doc else {
        return Ok(KustomizationEdit::Unusable(format!(
            "{}: not a mapping; add {file} to its resources by hand",
            full.display()
        )));
    };
    let key = Value::String("resources".into());
    let resources = map
        .entry(key)
        .or_insert_with(|| Value::Sequence(Vec::new()));
    let Value::Sequence(list) = resources else {
        return Ok(KustomizationEdit::Unusable(format!(
            "{}: `resources` is not a list; add {file} by hand",
            full.display()
        )));
    };
    let listed = list.iter().any(|v| {
        v.as_str()
            .is_some_and(|s| s.trim_start_matches("./").trim_end_matches('/') == file)
    });
    if listed {
        return Ok(KustomizationEdit::Listed);
    }
    list.push(Value::String(file.to_string()));
    let new =
        serde_yaml::to_string(&doc).with_context(|| format!("writing {} back", full.display()))?;
    Ok(KustomizationEdit::Change(FileChange {
        path: rel,
        old: Some(old),
        new,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_the_file_keeping_other_entries_and_order() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Path::new("media/immich/app");
        fs::create_dir_all(tmp.path().join(dir)).unwrap();
        let k = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ./helmrelease.yaml\n  - ./pvc.yaml\nconfigMapGenerator:\n  - name: x\n";
        fs::write(tmp.path().join(dir).join("kustomization.yaml"), k).unwrap();
        let KustomizationEdit::Change(c) =
            add_resource(tmp.path(), dir, "networkpolicy.yaml").unwrap()
        else {
            panic!("expected a change")
        };
        let v: Value = serde_yaml::from_str(&c.new).unwrap();
        let res: Vec<&str> = v["resources"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        assert_eq!(
            res,
            ["./helmrelease.yaml", "./pvc.yaml", "networkpolicy.yaml"]
        );
        assert!(c.new.find("resources").unwrap() < c.new.find("configMapGenerator").unwrap());
        assert_eq!(v["kind"].as_str(), Some("Kustomization"));
        fs::write(tmp.path().join(dir).join("kustomization.yaml"), &c.new).unwrap();
        assert_eq!(
            add_resource(tmp.path(), dir, "networkpolicy.yaml").unwrap(),
            KustomizationEdit::Listed
        );
        assert!(matches!(
            add_resource(tmp.path(), Path::new("none"), "networkpolicy.yaml").unwrap(),
            KustomizationEdit::Missing(_)
        ));
    }
}
