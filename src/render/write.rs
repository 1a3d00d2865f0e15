//! Writing a policy tree (`recommend --out`/`--root`): laying the policies
//! out in a new directory, or refreshing one that exists (only changed files
//! written, hand-added rules kept, foreign files never overwritten, new
//! gitops files listed in their kustomization, files no Flux Kustomization
//! would apply withheld and listed (`flux.rs`), stale files reported;
//! `--dry-run` gives the diff instead).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::kustomize::{self, KustomizationEdit};
use super::layout;
use super::output::{self, Layout, OutPolicy, GITOPS_FILE, GITOPS_FOUNDATION_DIR};
use super::plan::{self, PlanOptions, PlanPolicies};
use super::refresh::{self, TextFile};
use super::yaml::Document;
use super::{diff, flux, guard, stage, tree};
use crate::graph::TrafficGraph;

/// Where and how to write a policy tree.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub root: PathBuf,
    pub layout: Layout,
    /// Replace an existing directory instead of refreshing it.
    pub force: bool,
    /// Work out the changes and their diff, write nothing.
    pub dry_run: bool,
    /// The namespaces policies were generated for (empty: all); stale
    /// files of other namespaces are not reported.
    pub namespaces: BTreeSet<String>,
    /// Gitops: the rollout steps that enforce (`--stage`); the other
    /// namespaces' policies are written with default-deny off.
    pub stage: usize,
}

/// What writing did, for the caller to show.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// Files not overwritten (foreign, or edited in a way that cannot be kept).
    pub refused: Vec<String>,
    /// Things the user should know (stale files, hand edits kept, …).
    pub notes: Vec<String>,
    /// Workload files no Flux Kustomization would apply where they would
    /// go: not written (why, best guess).
    pub homeless: Vec<String>,
    /// App directories without a kustomization file.
    pub missing_kustomizations: Vec<PathBuf>,
    /// `--dry-run`: the unified diff of every change, for stdout.
    pub diff: Option<String>,
    /// The allowed peers/ports added and removed, after a refresh.
    pub summary: Option<String>,
    /// One line saying what was done.
    pub account: String,
}

/// Writes (or, with `--dry-run`, diffs) the policies and the plan into a
/// fresh, forced or existing tree: only changed files are written, hand-added
/// rules kept, files flowpolicy did not write never overwritten, new gitops
/// files listed in their app's kustomization.
pub fn write(
    t: &WriteOptions,
    graph: &TrafficGraph,
    policies: Vec<OutPolicy>,
    plan_policies: &PlanPolicies,
    mut opts: PlanOptions,
) -> Result<Written> {
    let mut policies = policies;
    let mut stage_notes = Vec::new();
    if matches!(t.layout, Layout::Gitops { .. }) {
        let order = plan::rollout_order(plan_policies, graph, &opts.order);
        let enforced: BTreeSet<String> = order.iter().take(t.stage).cloned().collect();
        let (_, unstageable) = stage::stage(&mut policies, &enforced);
        if !unstageable.is_empty() {
            stage_notes.push(format!(
                "NetworkPolicy has no enableDefaultDeny switch: the policies of {} enforce as soon as Flux applies them, whatever --stage says",
                unstageable.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        opts.stage = Some(t.stage);
    }
    let mut files = output::files(policies, &t.layout);
    let mut homeless = Vec::new();
    let mut flux_notes = Vec::new();
    if let Layout::Gitops { .. } = t.layout {
        guard::check_apps_match(&t.root, &files)?;
        let tree = flux::FluxTree::read(&t.root);
        if tree.is_flux() {
            (files, homeless) = tree.place(&t.root, files);
            if !tree.applies_in(&t.root.join(GITOPS_FOUNDATION_DIR)) {
                flux_notes.push(format!(
                    "{}: no Flux Kustomization applies it: the foundation (DNS and kube-apiserver for every pod) must be applied before any namespace enforces; add a Flux Kustomization with spec.path to it",
                    t.root.join(GITOPS_FOUNDATION_DIR).display()
                ));
            }
        }
    }
    let (foundation, namespaces) = output::plan_paths(&files, &t.layout);
    opts.foundation_paths = foundation;
    opts.namespace_paths = namespaces;
    let plan_path = match t.layout {
        Layout::Gitops { .. } => {
            opts.workdir = "the apps root (--root, the parent of this file's directory)".into();
            PathBuf::from(GITOPS_FOUNDATION_DIR).join("ROLLOUT.md")
        }
        _ => PathBuf::from("ROLLOUT.md"),
    };
    let rollout = TextFile {
        path: plan_path,
        text: plan::rollout_plan_with(plan_policies, graph, &opts),
    };
    let gitops = matches!(t.layout, Layout::Gitops { .. });
    if !gitops && t.root.exists() && !t.force && !is_flowpolicy_output(&t.root) {
        bail!(
            "{} exists and is not a flowpolicy output directory (no ROLLOUT.md written by flowpolicy); refusing to overwrite it (pass --force to replace it, or choose another --out)",
            t.root.display()
        );
    }
    let fresh = !t.root.exists() && !gitops;
    if (fresh || t.force) && !t.dry_run {
        let mut docs: Vec<Document> = files
            .iter()
            .map(|f| Document {
                path: f.path.clone(),
                text: f.text(),
            })
            .collect();
        docs.push(Document {
            path: rollout.path.clone(),
            text: rollout.text.clone(),
        });
        layout::write_dir(&t.root, &docs, t.force)?;
        return Ok(Written {
            account: format!("{} files written to {}", docs.len(), t.root.display()),
            ..Written::default()
        });
    }
    let mut r = refresh::plan(&t.root, &files, std::slice::from_ref(&rollout))?;
    let mut missing_kustomizations = Vec::new();
    if matches!(t.layout, Layout::Gitops { .. }) {
        for f in &files {
            let Some(dir) = f.path.parent().filter(|_| f.path.ends_with(GITOPS_FILE)) else {
                continue;
            };
            if r.refused
                .iter()
                .any(|x| x.starts_with(&t.root.join(&f.path).display().to_string()))
            {
                continue;
            }
            match kustomize::add_resource(&t.root, dir, GITOPS_FILE)? {
                KustomizationEdit::Change(c) => r.changes.push(c),
                KustomizationEdit::Listed => {}
                KustomizationEdit::Missing(d) => missing_kustomizations.push(d),
                KustomizationEdit::Unusable(why) => r.notes.push(why),
            }
        }
    }
    let targets: BTreeSet<PathBuf> = files
        .iter()
        .map(|f| f.path.clone())
        .chain(std::iter::once(rollout.path.clone()))
        .collect();
    for s in tree::stale_files(&t.root, &targets, &t.namespaces) {
        r.notes.push(format!(
            "{}: written by flowpolicy but not generated this time (its workloads were not observed, or another --format/--layout wrote it); left in place, delete it if it is obsolete",
            t.root.join(s).display()
        ));
    }
    let kustomizations = r
        .changes
        .iter()
        .filter(|c| is_kustomization(&c.path))
        .count();
    r.notes.extend(flux_notes);
    r.notes.extend(stage_notes);
    let mut written = Written {
        refused: r.refused.clone(),
        homeless,
        notes: std::mem::take(&mut r.notes),
        missing_kustomizations,
        ..Written::default()
    };
    if t.dry_run {
        written.diff = Some(diff::dry_run_text(&t.root, &r));
        written.account = format!(
            "dry run: {} files would change ({} kustomizations), {} unchanged, {} not overwritten; nothing written",
            r.changes.len(),
            kustomizations,
            r.unchanged,
            r.refused.len()
        );
        return Ok(written);
    }
    tree::apply(&t.root, &r.changes)?;
    written.summary = Some(diff::summary_text(&r));
    written.account = format!(
        "{} files written under {} ({} kustomizations edited), {} unchanged, {} not overwritten",
        r.changes.len(),
        t.root.display(),
        kustomizations,
        r.unchanged,
        r.refused.len()
    );
    Ok(written)
}

/// An `--out` directory flowpolicy may refresh: empty, or with its ROLLOUT.md.
fn is_flowpolicy_output(dir: &Path) -> bool {
    let empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
    empty
        || std::fs::read_to_string(dir.join("ROLLOUT.md"))
            .is_ok_and(|t| t.contains(refresh::TEXT_MARKER))
}

fn is_kustomization(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| kustomize::KUSTOMIZATION_FILES.contains(&n))
}
