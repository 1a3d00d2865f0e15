//! Placing a gitops tree's policies where Flux applies them: each workload's
//! policy in the directory that applies the app deploying it (`apps.rs`),
//! the foundation where a Flux Kustomization reaches it (a new one wired in
//! when none does: `wire.rs`), and workloads with no home listed (why, best
//! guess) and not written — or, with `--unplaced-into DIR`, written into that
//! one directory with its own new Flux Kustomization.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::apps::Apps;
use super::tree::{normal, FluxTree};
use super::wire::{wire, Wiring};
use crate::render::output::{
    self, app_name, Layout, OutFile, OutPolicy, GITOPS_FILE, GITOPS_FOUNDATION_DIR,
};

/// The name of the Flux Kustomization created for the foundation.
pub const FOUNDATION_KUSTOMIZATION: &str = "flowpolicy-foundation";

/// Where a gitops tree's policies go in a Flux repository.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    pub files: Vec<OutFile>,
    /// Workload policies not written: where they would have gone, why, best guess.
    pub homeless: Vec<String>,
    /// New Flux Kustomizations to write and list.
    pub wiring: Vec<Wiring>,
    pub notes: Vec<String>,
    /// Workload policies placed in an app's directory.
    pub homes: usize,
}

/// Places `policies` under `root` as Flux applies them; `unplaced_into`
/// (relative to `root`) takes the workloads without a home.
pub fn place(
    tree: &FluxTree,
    root: &Path,
    policies: Vec<OutPolicy>,
    layout: &Layout,
    unplaced_into: Option<&Path>,
) -> Placement {
    let root = normal(root);
    let apps = Apps::read(tree);
    let mut out = Placement::default();
    let mut placed: Vec<(PathBuf, OutPolicy)> = Vec::new();
    let mut unplaced: Vec<(PathBuf, OutPolicy, String)> = Vec::new();
    let mut how: BTreeMap<String, usize> = BTreeMap::new();
    let mut elsewhere: Vec<String> = Vec::new();
    for p in policies {
        let Some(w) = p
            .workload
            .clone()
            .filter(|_| p.policy.namespace().is_some())
        else {
            placed.push((output::path_for(&p, layout), p));
            continue;
        };
        let (why, guess) = match apps.home(&w) {
            Ok(home) => match home.deployer.dir.strip_prefix(&root) {
                Ok(rel) => {
                    out.homes += 1;
                    let app = app_name(&w);
                    if !rel.to_string_lossy().contains(&app) {
                        elsewhere.push(format!(
                            "{}/{} in {} ({})",
                            w.namespace,
                            w.display_name(),
                            rel.display(),
                            home.how
                        ));
                    }
                    let kind = home.how.split(" (").nth(1).unwrap_or("").to_string();
                    *how.entry(kind_of(&kind)).or_default() += 1;
                    placed.push((rel.join(GITOPS_FILE), p));
                    continue;
                }
                Err(_) => (
                    format!(
                        "its app ({}) is applied from {}, outside --root {}",
                        home.how,
                        home.deployer.dir.display(),
                        root.display()
                    ),
                    None,
                ),
            },
            Err(no) => (no.why, no.guess),
        };
        let guess = guess
            .map(|g| format!("; best guess: {g}"))
            .unwrap_or_default();
        let message = format!(
            "{}/{} ({}): not written: {why}{guess}",
            w.namespace,
            w.display_name(),
            p.policy.id()
        );
        match unplaced_into {
            Some(dir) => {
                let file = dir
                    .join(&w.namespace)
                    .join(format!("{}.yaml", app_name(&w)));
                unplaced.push((file, p, message));
            }
            None => out.homeless.push(message),
        }
    }
    if !how.is_empty() {
        out.notes.push(format!(
            "placement: {} workload policies in the directories of the apps that deploy them ({}); {} without a home",
            out.homes,
            how.iter()
                .map(|(k, n)| format!("{n} by {k}"))
                .collect::<Vec<_>>()
                .join(", "),
            out.homeless.len() + unplaced.len()
        ));
    }
    if !elsewhere.is_empty() {
        out.notes.push(format!(
            "placed in an app directory of another name: {}",
            elsewhere.join("; ")
        ));
    }
    if placed
        .iter()
        .any(|(p, _)| p.starts_with(GITOPS_FOUNDATION_DIR))
    {
        match wire(
            tree,
            &root,
            Path::new(GITOPS_FOUNDATION_DIR),
            FOUNDATION_KUSTOMIZATION,
        ) {
            Wiring::Unwired(why) => out.notes.push(format!(
                "{}: no Flux Kustomization applies it, and {why}: the foundation (DNS and kube-apiserver for every pod) must be applied before any namespace enforces",
                root.join(GITOPS_FOUNDATION_DIR).display()
            )),
            w => out.wiring.push(w),
        }
    }
    if let Some(dir) = unplaced_into.filter(|_| !unplaced.is_empty()) {
        let name = dir
            .file_name()
            .map(|n| crate::synth::workload::dns1123(&n.to_string_lossy()))
            .unwrap_or_else(|| "flowpolicy-unplaced".into());
        match wire(tree, &root, dir, &name) {
            Wiring::Unwired(why) => {
                out.notes.push(format!(
                    "--unplaced-into {}: {why}; its policies were not written",
                    dir.display()
                ));
                out.homeless.extend(unplaced.into_iter().map(|(_, _, m)| m));
            }
            w => {
                out.notes.push(format!(
                    "{} workload policies without a home written into {} (--unplaced-into), which a Flux Kustomization applies: move each to its app when you know it",
                    unplaced.len(),
                    root.join(dir).display()
                ));
                placed.extend(unplaced.into_iter().map(|(f, p, _)| (f, p)));
                out.wiring.push(w);
            }
        }
    }
    out.files = output::group(placed);
    out
}

/// The kind of match, from a home's description (`HelmRelease x (key=v)`).
fn kind_of(detail: &str) -> String {
    if detail.starts_with("app.kubernetes.io/instance=") {
        "HelmRelease instance".into()
    } else if detail.starts_with("pod template labels") {
        "pod template labels".into()
    } else if detail.starts_with("release name starts") {
        "release name prefix".into()
    } else if detail.starts_with("its name") {
        "manifest name".into()
    } else {
        "a label naming the app".into()
    }
}
