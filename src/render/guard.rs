//! Refusals before a policy tree is written, each naming the path and the
//! remedy: a gitops `--root` that does not exist or in which no app
//! directory matches, an output path that is (or, with `--force`, holds) an
//! input, and a `--force` that would delete files flowpolicy did not write.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde_json::Value;

use super::fingerprint as fp;
use super::flux::subdirs;
use super::output::{OutFile, GITOPS_FOUNDATION_DIR};
use super::refresh::TEXT_MARKER;
use crate::policy::documents::split_documents;

/// Most paths named in one refusal.
const LISTED: usize = 10;

/// A gitops `--root` must be an existing directory: a typo must not start
/// a new tree beside the real one.
pub fn check_root_exists(root: &Path) -> Result<()> {
    if root.is_dir() {
        return Ok(());
    }
    if root.exists() {
        bail!(
            "--root {} is not a directory; pass the apps directory of the GitOps repository (e.g. kubernetes/main/apps)",
            root.display()
        );
    }
    bail!(
        "--root {} does not exist; pass the apps directory of an existing GitOps repository (e.g. kubernetes/main/apps), flowpolicy does not start a new tree there",
        root.display()
    );
}

/// The output must not be an input, nor (with `force`, which replaces the
/// directory) hold one.
pub fn check_not_input(out: &Path, inputs: &[PathBuf], force: bool) -> Result<()> {
    let Ok(out_full) = fs::canonicalize(out) else {
        return Ok(()); // does not exist yet: cannot be an input
    };
    for input in inputs {
        if input.as_os_str() == "-" {
            continue;
        }
        let Ok(inp) = fs::canonicalize(input) else {
            continue;
        };
        if inp == out_full {
            bail!(
                "the output {} is the input {}; choose another --out",
                out.display(),
                input.display()
            );
        }
        if force && inp.starts_with(&out_full) {
            bail!(
                "--force would replace {}, which holds the input {}; move the input out of it or choose another --out",
                out.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// Files under an existing `dir` that flowpolicy did not write (`--force`
/// would delete them): anything but its ROLLOUT.md and YAML files whose
/// every document carries its `managed-by` label. Relative to `dir`, sorted.
pub fn foreign_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(path);
            } else if !written_by_flowpolicy(&path) {
                out.push(path.strip_prefix(dir).unwrap_or(&path).to_path_buf());
            }
        }
    }
    out.sort();
    out
}

fn written_by_flowpolicy(path: &Path) -> bool {
    let Ok(text) = fs::read_to_string(path) else {
        return false;
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == "ROLLOUT.md" {
        return text.contains(TEXT_MARKER);
    }
    if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
        return false;
    }
    let docs = split_documents(&text);
    !docs.is_empty()
        && docs
            .iter()
            .all(|d| serde_yaml::from_str::<Value>(&d.padded()).is_ok_and(|v| fp::is_generated(&v)))
}

/// `--force` replaces `dir`: refused, naming them, when it holds files
/// flowpolicy did not write.
pub fn check_force(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    let foreign = foreign_files(dir);
    if foreign.is_empty() {
        return Ok(());
    }
    bail!(
        "--force would delete {} files under {} that flowpolicy did not write: {}; move them out (or delete them yourself) and run again, or choose another --out",
        foreign.len(),
        dir.display(),
        listed(&foreign)
    );
}

fn listed(paths: &[PathBuf]) -> String {
    let mut parts: Vec<String> = paths
        .iter()
        .take(LISTED)
        .map(|p| p.display().to_string())
        .collect();
    if paths.len() > LISTED {
        parts.push(format!("… {} more", paths.len() - LISTED));
    }
    parts.join(", ")
}

/// In a gitops tree, at least one app's directory must already exist:
/// otherwise `--root` is wrong (a level too high or too low) and every
/// policy would land in a new directory nothing applies.
pub fn check_apps_match(root: &Path, files: &[OutFile]) -> Result<()> {
    let apps: BTreeSet<&Path> = files
        .iter()
        .filter(|f| !f.path.starts_with(GITOPS_FOUNDATION_DIR))
        .filter_map(|f| f.path.parent())
        .collect();
    if apps.is_empty() || apps.iter().any(|a| root.join(a).is_dir()) {
        return Ok(());
    }
    let namespaces: BTreeSet<&std::ffi::OsStr> = apps
        .iter()
        .filter_map(|a| a.components().next().map(|c| c.as_os_str()))
        .collect();
    let examples: Vec<String> = apps
        .iter()
        .take(3)
        .map(|a| a.display().to_string())
        .collect();
    let hint = better_root(root, &namespaces)
        .map(|r| format!(" (did you mean --root {}?)", r.display()))
        .unwrap_or_default();
    bail!(
        "no app directory under --root {} matches the observed workloads (looked for {}, …){hint}; pass the directory that holds one sub-directory per namespace (e.g. kubernetes/main/apps), or --app-template for another layout",
        root.display(),
        examples.join(", ")
    );
}

/// A directory up to two levels below `root` that holds the most of the
/// namespace directories, if any does.
fn better_root(root: &Path, namespaces: &BTreeSet<&std::ffi::OsStr>) -> Option<PathBuf> {
    let score = |d: &Path| namespaces.iter().filter(|n| d.join(n).is_dir()).count();
    let mut best: Option<(usize, PathBuf)> = None;
    let mut consider = |d: PathBuf| {
        let s = score(&d);
        if s > 0
            && best
                .as_ref()
                .is_none_or(|(b, p)| s > *b || (s == *b && d < *p))
        {
            best = Some((s, d));
        }
    };
    for child in subdirs(root) {
        for grandchild in subdirs(&child) {
            consider(grandchild);
        }
        consider(child);
    }
    if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
        consider(parent.to_path_buf());
    }
    best.map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_files_are_everything_flowpolicy_did_not_write() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs::create_dir_all(d.join("ns")).unwrap();
        fs::write(d.join("ROLLOUT.md"), format!("# x\n{TEXT_MARKER} y\n")).unwrap();
        fs::write(
            d.join("ns/a.yaml"),
            "kind: CiliumNetworkPolicy\nmetadata:\n  name: a\n  labels:\n    app.kubernetes.io/managed-by: flowpolicy\n",
        )
        .unwrap();
        fs::write(d.join("ns/notes.txt"), "mine").unwrap();
        fs::write(d.join("ns/b.yaml"), "kind: ConfigMap\n").unwrap();
        assert_eq!(
            foreign_files(d),
            [PathBuf::from("ns/b.yaml"), PathBuf::from("ns/notes.txt")]
        );
        let err = check_force(d).unwrap_err().to_string();
        assert!(err.contains("ns/b.yaml, ns/notes.txt"), "{err}");
    }
}
