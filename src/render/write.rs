//! Writing a policy tree (`recommend --out`/`--root`): laying the policies
//! out in a new directory, or refreshing one that exists (only changed files
//! written, hand-added rules kept, foreign files never overwritten, new
//! gitops files listed in their kustomization; in a Flux repository each
//! workload's policy placed with the app deploying it, homeless ones listed,
//! new Flux Kustomizations wired (`flux/`); a `--format` switch over hand
//! edits refused; stale files reported; `--dry-run` gives the diff instead).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::kustomize::{self, KustomizationEdit};
use super::layout;
use super::output::{self, Layout, OutPolicy, GITOPS_FILE, GITOPS_FOUNDATION_DIR};
use super::plan::{self, PlanOptions, PlanPolicies};
use super::refresh::{self, FileChange, TextFile};
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
    /// namespaces' policies are written with default-deny off. `None`: the
    /// stage the tree is at (1 for a fresh tree).
    pub stage: Option<usize>,
    /// Gitops in a Flux repository: the directory (relative to the root)
    /// that takes the policies of workloads no app deploys, with a new Flux
    /// Kustomization (`--unplaced-into`); `None`: they are listed, not written.
    pub unplaced_into: Option<PathBuf>,
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
        let stage = t.stage.unwrap_or_else(|| {
            let kept = stage::in_force(&t.root, &order);
            if let Some(n) = kept.filter(|&n| n > 1) {
                stage_notes.push(format!(
                    "the tree enforces up to stage {n}: kept (pass --stage to change it)"
                ));
            }
            kept.unwrap_or(1)
        });
        let enforced: BTreeSet<String> = order.iter().take(stage).cloned().collect();
        let (_, unstageable) = stage::stage(&mut policies, &enforced);
        if !unstageable.is_empty() {
            stage_notes.push(format!(
                "NetworkPolicy has no enableDefaultDeny switch: the policies of {} enforce as soon as Flux applies them, whatever --stage says",
                unstageable.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        opts.stage = Some(stage);
    }
    let mut homeless = Vec::new();
    let mut flux_notes = Vec::new();
    let mut wiring = Vec::new();
    let files = match &t.layout {
        Layout::Gitops { .. } => {
            let tree = flux::FluxTree::read(&t.root);
            if tree.is_flux() {
                let workload_policies = policies.iter().filter(|p| p.workload.is_some()).count();
                let placed = flux::place(
                    &tree,
                    &t.root,
                    policies,
                    &t.layout,
                    t.unplaced_into.as_deref(),
                );
                if placed.homes == 0 && workload_policies > 0 && t.unplaced_into.is_none() {
                    bail!(
                        "none of the {workload_policies} workloads matches an app that the Flux Kustomizations of {} apply (HelmRelease names against app.kubernetes.io/instance, workload manifests, object names), e.g. {}; check --root, or pass --unplaced-into DIR to write them into one new directory Flux applies",
                        t.root.display(),
                        placed.homeless.first().map(String::as_str).unwrap_or("")
                    );
                }
                homeless = placed.homeless;
                flux_notes = placed.notes;
                wiring = placed.wiring;
                placed.files
            } else {
                if let Some(dir) = &t.unplaced_into {
                    bail!(
                        "--unplaced-into {}: {} holds no Flux Kustomization (kustomize.toolkit.fluxcd.io), so there is nothing to place workloads by; drop the flag",
                        dir.display(),
                        t.root.display()
                    );
                }
                let files = output::files(policies, &t.layout);
                guard::check_apps_match(&t.root, &files)?;
                files
            }
        }
        _ => output::files(policies, &t.layout),
    };
    // The self-check of everything generated, as it will be written (each
    // document was checked as its file was made): nothing is written if it
    // fails.
    crate::timings::mark("files made");
    output::check_files(&files)?;
    crate::timings::mark("files checked");
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
    let gitops = matches!(t.layout, Layout::Gitops { .. });
    if !gitops && t.root.exists() && !t.force && !is_flowpolicy_output(&t.root) {
        bail!(
            "{} exists and is not a flowpolicy output directory (no ROLLOUT.md written by flowpolicy); refusing to overwrite it (pass --force to replace it, or choose another --out)",
            t.root.display()
        );
    }
    let fresh = !t.root.exists() && !gitops;
    if (fresh || t.force) && !t.dry_run {
        let docs: Vec<(&Path, &str)> = files.iter().map(|f| (f.path.as_path(), f.text())).collect();
        // The plan is worked out on another core while the policy files are
        // created, and written last, before the tree is made durable.
        std::thread::scope(|s| {
            let plan = s.spawn(|| {
                let text = plan::rollout_plan_with(plan_policies, graph, &opts);
                crate::timings::mark("plan");
                text
            });
            layout::write_dir(&t.root, &docs, t.force, || {
                let text = plan.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                (plan_path, text)
            })
        })?;
        let account = format!("{} files written to {}", docs.len() + 1, t.root.display());
        drop(docs);
        free_later(files);
        return Ok(Written {
            account,
            ..Written::default()
        });
    }
    let rollout = TextFile {
        path: plan_path,
        text: plan::rollout_plan_with(plan_policies, graph, &opts),
    };
    let mut r = refresh::plan(&t.root, &files, std::slice::from_ref(&rollout))?;
    if !r.blocked.is_empty() {
        bail!(
            "{} generated policies edited by hand would be replaced by another kind (another --format): {}; carry the hand-added rules over to the new format by hand (or delete them from those documents), or re-run with the --format that wrote them",
            r.blocked.len(),
            r.blocked.join("; ")
        );
    }
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
            if let Some(d) = list_resource(&t.root, dir, GITOPS_FILE, &mut r)? {
                missing_kustomizations.push(d);
            }
        }
        for w in wiring {
            let flux::wire::Wiring::New {
                file,
                text,
                list_in,
                entry,
            } = w
            else {
                continue;
            };
            if !t.root.join(&file).exists() {
                r.notes.push(format!(
                    "{}: a new Flux Kustomization, listed in {}, so that Flux applies {}",
                    t.root.join(&file).display(),
                    t.root.join(&list_in).display(),
                    text.lines()
                        .find_map(|l| l.trim().strip_prefix("path: "))
                        .unwrap_or("its directory")
                ));
                r.changes.push(FileChange {
                    path: file,
                    old: None,
                    new: text,
                });
            }
            if let Some(d) = list_resource(&t.root, &list_in, &entry, &mut r)? {
                r.notes.push(format!(
                    "{}: no kustomization file to list {entry} in; add it where Flux reads it",
                    d.display()
                ));
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
    free_later(files);
    written.summary = Some(diff::summary_text(&r));
    written.account = format!(
        "{} files written under {} ({} kustomizations edited), {} unchanged, {} not overwritten",
        r.changes.len(),
        t.root.display(),
        kustomizations,
        r.unchanged,
        r.refused.len()
    );
    free_later(r);
    Ok(written)
}

/// Frees `t` on another thread: hundreds of policy documents, or a graph
/// read from a large capture, take milliseconds to free, and nothing needs
/// to wait for it (at the end of a command, the process exits meanwhile).
pub fn free_later<T: Send + 'static>(t: T) {
    // If no thread can be started, the closure (and `t`) is dropped here.
    let _ = std::thread::Builder::new().spawn(move || drop(t));
}

/// An `--out` directory flowpolicy may refresh: empty, or with its ROLLOUT.md.
fn is_flowpolicy_output(dir: &Path) -> bool {
    let empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
    empty
        || std::fs::read_to_string(dir.join("ROLLOUT.md"))
            .is_ok_and(|t| t.contains(refresh::TEXT_MARKER))
}

/// Lists `file` in the kustomization of `dir` (relative to `root`), on top
/// of an edit already planned for it; the directory when it has none.
fn list_resource(
    root: &Path,
    dir: &Path,
    file: &str,
    r: &mut refresh::Refresh,
) -> Result<Option<PathBuf>> {
    let planned = r
        .changes
        .iter()
        .position(|c| c.path.parent() == Some(dir) && is_kustomization(&c.path));
    if let Some(i) = planned {
        match kustomize::with_resource(&r.changes[i].new, file) {
            Some(new) => r.changes[i].new = new,
            None => r.notes.push(format!(
                "{}: add {file} to its resources by hand",
                root.join(&r.changes[i].path).display()
            )),
        }
        return Ok(None);
    }
    match kustomize::add_resource(root, dir, file)? {
        KustomizationEdit::Change(c) => r.changes.push(c),
        KustomizationEdit::Listed => {}
        KustomizationEdit::Missing(d) => return Ok(Some(d)),
        KustomizationEdit::Unusable(why) => r.notes.push(why),
    }
    Ok(None)
}

fn is_kustomization(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| kustomize::KUSTOMIZATION_FILES.contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::CiliumNetworkPolicy;

    fn options(root: PathBuf, force: bool) -> WriteOptions {
        WriteOptions {
            root,
            layout: Layout::Namespace,
            force,
            dry_run: false,
            namespaces: BTreeSet::new(),
            stage: None,
            unplaced_into: None,
        }
    }

    fn policies(names: &[&str]) -> Vec<OutPolicy> {
        names
            .iter()
            .map(|n| {
                OutPolicy::new(
                    output::GenPolicy::Cnp(CiliumNetworkPolicy::new(*n, "shop")),
                    None,
                )
            })
            .collect()
    }

    fn write_names(t: &WriteOptions, names: &[&str]) -> Result<Written> {
        write(
            t,
            &TrafficGraph::new(),
            policies(names),
            &PlanPolicies::default(),
            PlanOptions::default(),
        )
    }

    /// A document the self-check refuses stops the write before anything is
    /// written: no fresh tree, no change to an existing one.
    #[test]
    fn a_refused_document_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("policies");
        let refused = |r: Result<Written>| {
            let e = r.unwrap_err();
            let e = e.downcast_ref::<super::super::check::CheckError>().unwrap();
            assert_eq!(e.object, "shop/Web_1");
        };
        refused(write_names(
            &options(root.clone(), false),
            &["web", "Web_1"],
        ));
        assert!(!root.exists());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
        write_names(&options(root.clone(), false), &["web"]).unwrap();
        let before = std::fs::read_to_string(root.join("shop/web.yaml")).unwrap();
        for force in [false, true] {
            refused(write_names(
                &options(root.clone(), force),
                &["web", "db", "Web_1"],
            ));
            assert!(!root.join("shop/db.yaml").exists());
            assert_eq!(
                std::fs::read_to_string(root.join("shop/web.yaml")).unwrap(),
                before
            );
        }
    }
}
