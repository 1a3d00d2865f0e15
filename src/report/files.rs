//! Relates findings to policy files, for a reviewer reading them next to a
//! pull request: each finding about a workload names the files (of the
//! `--policies` sets) whose policies select that workload, and marks those
//! the pull request adds or changes (`--changed-files`, one path a line,
//! e.g. the output of `git diff --name-only origin/main...`).
//!
//! Only namespaced policies and clusterwide policies with a non-empty
//! selector count: a clusterwide default that selects every pod concerns
//! every finding and would name the same file everywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

use super::findings::{Finding, PolicyFile};
use super::names::Names;
use crate::graph::TrafficGraph;
use crate::peer::Peer;
use crate::policy::LoadedPolicies;
use crate::verify::selectors::{selects, Scope};
use crate::verify::tri::{Tri, Why};
use crate::verify::Model;

/// The files a pull request adds or changes, as path components.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangedFiles {
    paths: Vec<Vec<String>>,
}

fn components(p: &Path) -> Vec<String> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

impl ChangedFiles {
    /// One path a line; blank lines and `#` comments are skipped, and so is
    /// a `git diff --name-status` status column (`M\tpath`).
    pub fn parse(text: &str) -> ChangedFiles {
        let paths = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.rsplit('\t').next().unwrap_or(l))
            .map(|l| components(Path::new(l)))
            .filter(|c| !c.is_empty())
            .collect();
        ChangedFiles { paths }
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Whether `path` is one of the changed files: the same trailing path
    /// components (the list is relative to the repository root, the policy
    /// path to wherever `report` ran).
    pub fn contains(&self, path: &Path) -> bool {
        let p = components(path);
        self.paths.iter().any(|c| {
            let n = c.len().min(p.len());
            n > 0 && c[c.len() - n..] == p[p.len() - n..]
        })
    }
}

/// Workload name → files of the policies selecting it, over every set.
fn files_by_workload(
    graph: &TrafficGraph,
    names: &Names,
    sets: &[&LoadedPolicies],
    changed: &ChangedFiles,
) -> BTreeMap<String, BTreeSet<PolicyFile>> {
    let mut out: BTreeMap<String, BTreeSet<PolicyFile>> = BTreeMap::new();
    let workloads: Vec<Peer> = graph
        .workloads()
        .into_iter()
        .map(|w| Peer::Workload(w.clone()))
        .collect();
    for loaded in sets {
        let model = Model::compile(loaded);
        for rule in &model.rules {
            let Some((sel, scope)) = &rule.subject else {
                continue;
            };
            let everything = sel.match_labels.is_empty() && sel.match_expressions.is_empty();
            if *scope == Scope::Cluster && everything {
                continue;
            }
            let Some(source) = loaded.policies.get(rule.policy) else {
                continue;
            };
            let path = &source.source.path;
            let file = PolicyFile {
                path: path.display().to_string(),
                changed: changed.contains(path),
            };
            for w in &workloads {
                if selects(sel, scope, w, &mut Why::default()) == Tri::Yes {
                    out.entry(names.peer(w)).or_default().insert(file.clone());
                }
            }
        }
    }
    out
}

/// Fills each finding's `files`; returns how many findings concern a
/// changed file.
pub fn relate(
    findings: &mut [Finding],
    graph: &TrafficGraph,
    names: &Names,
    sets: &[&LoadedPolicies],
    changed: &ChangedFiles,
) -> usize {
    if sets.is_empty() {
        return 0;
    }
    let by_workload = files_by_workload(graph, names, sets, changed);
    let mut touching = 0;
    for f in findings.iter_mut() {
        if let Some(files) = by_workload.get(&f.subject) {
            // Changed files first, then by path.
            let mut v: Vec<PolicyFile> = files.iter().cloned().collect();
            v.sort_by(|a, b| (!a.changed, &a.path).cmp(&(!b.changed, &b.path)));
            f.files = v;
        }
        touching += usize::from(f.files.iter().any(|p| p.changed));
    }
    touching
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_paths_match_by_trailing_components() {
        let c =
            ChangedFiles::parse("# from git\nkubernetes/apps/shop/web.yaml\n\nM\tother/db.yaml\n");
        assert!(c.contains(Path::new("./kubernetes/apps/shop/web.yaml")));
        assert!(c.contains(Path::new("/repo/kubernetes/apps/shop/web.yaml")));
        assert!(c.contains(Path::new("web.yaml")));
        assert!(!c.contains(Path::new("policies/shop/web.yaml")));
        assert!(c.contains(Path::new("/tmp/x/other/db.yaml")));
        assert!(!c.contains(Path::new("policies/media/web.yaml")));
        assert!(!c.contains(Path::new("policies/shop/web.yml")));
        assert!(ChangedFiles::parse("\n# nothing\n").is_empty());
    }
}
