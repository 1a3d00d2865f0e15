//! The file side of a refresh: writing a set of changes (every temporary
//! file first, then the renames, so a failure leaves no file half-written
//! and, before the renames, nothing changed), and finding generated files
//! that a run no longer produces.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use super::durable;
use super::fingerprint::{self as fp, ALLOWED_HASH};
use super::refresh::FileChange;
use crate::policy::documents::split_documents;

/// Files under `root` that hold flowpolicy-generated policies but are not
/// among `targets` (paths relative to `root`): their workloads were not
/// observed this time. Only reported, never deleted. With `namespaces`
/// non-empty, only files with a policy in one of them count.
pub fn stale_files(
    root: &Path,
    targets: &BTreeSet<PathBuf>,
    namespaces: &BTreeSet<String>,
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(ft) = e.file_type() else { continue };
            if name.starts_with('.') || ft.is_symlink() {
                continue;
            }
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            if targets.contains(&rel) || !holds_generated(&path, namespaces) {
                continue;
            }
            out.push(rel);
        }
    }
    out.sort();
    out
}

fn holds_generated(path: &Path, namespaces: &BTreeSet<String>) -> bool {
    let Ok(text) = fs::read_to_string(path) else {
        return false;
    };
    if !text.contains(fp::MANAGED_BY.1) {
        return false;
    }
    split_documents(&text).iter().any(|d| {
        serde_yaml::from_str::<Value>(&d.padded()).is_ok_and(|v| {
            fp::is_generated(&v)
                && fp::annotation(&v, ALLOWED_HASH).is_some()
                && (namespaces.is_empty()
                    || v.pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .is_some_and(|ns| namespaces.contains(ns)))
        })
    })
}

/// Writes every change: all temporary files first, then the renames. On a
/// failure nothing partial is left: temporary files and directories it
/// created are removed, and files already renamed get their old text back.
pub fn apply(root: &Path, changes: &[FileChange]) -> Result<()> {
    let mut staged: Vec<(PathBuf, PathBuf, Option<&str>)> = Vec::new();
    let mut created: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<()> {
        let mut files: Vec<(PathBuf, &[u8])> = Vec::with_capacity(changes.len());
        for c in changes {
            let target = root.join(&c.path);
            let dir = target.parent().unwrap_or(root).to_path_buf();
            create_dirs(&dir, &mut created)?;
            let name = target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = dir.join(format!(".{name}.flowpolicy-tmp-{}", std::process::id()));
            staged.push((tmp.clone(), target, c.old.as_deref()));
            files.push((tmp, c.new.as_bytes()));
        }
        // Every temporary file on disk before the first rename.
        durable::write_synced(&files).map_err(durable::failed)
    })();
    let undo = |renamed: usize, staged: &[(PathBuf, PathBuf, Option<&str>)]| {
        for (_, target, old) in &staged[..renamed] {
            match old {
                Some(old) => fs::write(target, old).ok(),
                None => fs::remove_file(target).ok(),
            };
        }
        for (tmp, _, _) in &staged[renamed..] {
            fs::remove_file(tmp).ok();
        }
        for d in created.iter().rev() {
            fs::remove_dir(d).ok();
        }
    };
    if let Err(e) = result {
        undo(0, &staged);
        return Err(e);
    }
    for (i, (tmp, target, _)) in staged.iter().enumerate() {
        if let Err(e) = fs::rename(tmp, target) {
            undo(i, &staged);
            return Err(e).with_context(|| {
                format!(
                    "renaming {} to {} (nothing was changed)",
                    tmp.display(),
                    target.display()
                )
            });
        }
    }
    Ok(())
}

/// `create_dir_all`, remembering the directories it created (outermost first).
fn create_dirs(dir: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    let mut missing = Vec::new();
    let mut d = dir;
    while !d.exists() {
        missing.push(d.to_path_buf());
        match d.parent() {
            Some(p) if !p.as_os_str().is_empty() => d = p,
            _ => break,
        }
    }
    for m in missing.into_iter().rev() {
        fs::create_dir(&m).with_context(|| format!("creating {}", m.display()))?;
        created.push(m);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_rename_restores_every_file_and_removes_new_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::write(root.join("a.yaml"), "old\n").unwrap();
        // `c.yaml` is a directory: renaming a file onto it fails.
        fs::create_dir_all(root.join("c.yaml/x")).unwrap();
        let change = |p: &str, old: Option<&str>| FileChange {
            path: PathBuf::from(p),
            old: old.map(str::to_owned),
            new: "new\n".into(),
        };
        let changes = [
            change("a.yaml", Some("old\n")),
            change("new/dir/b.yaml", None),
            change("c.yaml", None),
        ];
        let err = apply(root, &changes).unwrap_err();
        assert!(
            format!("{err:#}").contains("nothing was changed"),
            "{err:#}"
        );
        assert_eq!(fs::read_to_string(root.join("a.yaml")).unwrap(), "old\n");
        assert!(!root.join("new").exists());
        let mut left: Vec<String> = fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["a.yaml", "c.yaml"]);
    }
}
