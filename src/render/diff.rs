//! `--dry-run` output: a unified diff per file (the `similar` crate), then
//! per policy the peers and ports its allowed set gains (`+`) and loses (`-`).

use std::collections::BTreeMap;
use std::path::Path;

use super::refresh::{PolicyChange, Refresh};

/// `--dry-run` output: a unified diff per file, then the allowed-set changes
/// per policy.
pub fn dry_run_text(root: &Path, r: &Refresh) -> String {
    let mut out = String::new();
    for c in &r.changes {
        let path = root.join(&c.path).display().to_string();
        let old = c.old.as_deref().unwrap_or("");
        let (a, b) = match c.old {
            Some(_) => (path.clone(), path.clone()),
            None => ("/dev/null".to_string(), path.clone()),
        };
        let diff = similar::TextDiff::from_lines(old, c.new.as_str());
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&a, &b)
                .to_string(),
        );
    }
    out.push_str(&summary_text(r));
    out
}

/// The allowed-set changes per policy (`+`/`-` lines), for stderr or a diff.
pub fn summary_text(r: &Refresh) -> String {
    let mut out = String::new();
    let mut by: BTreeMap<&str, &PolicyChange> = BTreeMap::new();
    for c in &r.policy_changes {
        by.insert(&c.policy, c);
    }
    for (p, c) in by {
        out.push_str(&format!(
            "# {p}: {} added, {} removed\n",
            c.added.len(),
            c.removed.len()
        ));
        for a in &c.added {
            out.push_str(&format!("#   + {a}\n"));
        }
        for a in &c.removed {
            out.push_str(&format!("#   - {a}\n"));
        }
    }
    out
}
