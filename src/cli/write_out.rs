//! `recommend --out`/`--root`: laying the policies out in a directory, and
//! refreshing one that exists (only changed files written, hand-added rules
//! kept, foreign files never overwritten; `--dry-run` shows the diff).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::recommend::{LayoutArg, RecommendArgs};
use crate::graph::TrafficGraph;
use crate::render::kustomize::{self, KustomizationEdit};
use crate::render::layout;
use crate::render::output::{self, Layout, OutPolicy, GITOPS_FILE, GITOPS_FOUNDATION_DIR};
use crate::render::plan::{self, PlanOptions, PlanPolicies};
use crate::render::refresh::{self, TextFile};
use crate::render::yaml::Document;
use crate::render::{diff, tree};

/// Where and how to write.
#[derive(Debug, Clone)]
pub struct Target {
    pub root: PathBuf,
    pub layout: Layout,
}

/// The output directory and layout from the flags (checked before any
/// input is read); `None` for stdout.
pub fn target(args: &RecommendArgs) -> Result<Option<Target>> {
    let layout = match args.layout {
        LayoutArg::Namespace => Layout::Namespace,
        LayoutArg::Flat => Layout::Flat,
        LayoutArg::Gitops => {
            if let Err(e) = output::check_app_template(&args.app_template) {
                bail!(e);
            }
            Layout::Gitops {
                app_template: args.app_template.clone(),
            }
        }
    };
    let root = match (&layout, &args.out, &args.root) {
        (Layout::Gitops { .. }, _, Some(root)) => root.clone(),
        (Layout::Gitops { .. }, _, None) => {
            bail!(
                "--layout gitops needs --root DIR (the apps directory, e.g. kubernetes/main/apps)"
            )
        }
        (_, _, Some(_)) => {
            bail!("--root is for --layout gitops; use --out DIR for the other layouts")
        }
        (_, Some(out), None) => out.clone(),
        (_, None, None) => {
            if args.dry_run || args.force {
                bail!("--dry-run and --force need --out DIR or --root DIR");
            }
            return Ok(None);
        }
    };
    if args.force && matches!(layout, Layout::Gitops { .. }) {
        bail!("--force would replace the whole --root tree; a gitops tree is always refreshed in place");
    }
    Ok(Some(Target { root, layout }))
}

/// Writes (or, with `--dry-run`, prints the diff of) the policies and the
/// plan; returns a one-line account of what was done.
pub fn write(
    t: &Target,
    args: &RecommendArgs,
    graph: &TrafficGraph,
    policies: Vec<OutPolicy>,
    plan_policies: &PlanPolicies,
    mut opts: PlanOptions,
) -> Result<String> {
    let files = output::files(policies, &t.layout);
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
    if !gitops && t.root.exists() && !args.force && !is_flowpolicy_output(&t.root) {
        bail!(
            "{} exists and is not a flowpolicy output directory (no ROLLOUT.md written by flowpolicy); refusing to overwrite it (pass --force to replace it, or choose another --out)",
            t.root.display()
        );
    }
    let fresh = !t.root.exists() && !gitops;
    if (fresh || args.force) && !args.dry_run {
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
        layout::write_dir(&t.root, &docs, args.force)?;
        return Ok(format!(
            "{} files written to {}",
            docs.len(),
            t.root.display()
        ));
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
    let namespaces: BTreeSet<String> = args.namespaces.iter().cloned().collect();
    for s in tree::stale_files(&t.root, &targets, &namespaces) {
        r.notes.push(format!(
            "{}: written by flowpolicy but not generated this time (its workloads were not observed, or another --format/--layout wrote it); left in place, delete it if it is obsolete",
            t.root.join(s).display()
        ));
    }
    for x in &r.refused {
        eprintln!("warning: {x}");
    }
    for n in &r.notes {
        eprintln!("note: {n}");
    }
    if !missing_kustomizations.is_empty() {
        eprintln!(
            "note: {} app directories have no kustomization.yaml (none was created; Flux applies every manifest of such a directory): {}",
            missing_kustomizations.len(),
            list(&missing_kustomizations)
        );
    }
    let kustomizations = r
        .changes
        .iter()
        .filter(|c| is_kustomization(&c.path))
        .count();
    if args.dry_run {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(diff::dry_run_text(&t.root, &r).as_bytes())?;
        out.flush()?;
        return Ok(format!(
            "dry run: {} files would change ({} kustomizations), {} unchanged, {} not overwritten; nothing written",
            r.changes.len(),
            kustomizations,
            r.unchanged,
            r.refused.len()
        ));
    }
    tree::apply(&t.root, &r.changes)?;
    eprint!("{}", diff::summary_text(&r));
    Ok(format!(
        "{} files written under {} ({} kustomizations edited), {} unchanged, {} not overwritten",
        r.changes.len(),
        t.root.display(),
        kustomizations,
        r.unchanged,
        r.refused.len()
    ))
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

fn list(paths: &[PathBuf]) -> String {
    const SHOWN: usize = 5;
    let mut parts: Vec<String> = paths
        .iter()
        .take(SHOWN)
        .map(|p| p.display().to_string())
        .collect();
    if paths.len() > SHOWN {
        parts.push(format!("… {} more", paths.len() - SHOWN));
    }
    parts.join(", ")
}
