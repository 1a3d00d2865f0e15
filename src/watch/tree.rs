//! The policy tree `watch` checks traffic against: loaded from
//! `--policies`, compiled once into verify's [`Model`], and reloaded on
//! request. A tree that does not load cleanly (missing path, unreadable
//! file, a document that is not a valid policy, no policy at all) is an
//! error naming the path and the remedy, so a reload never replaces a good
//! tree with a half-read one.

use std::path::PathBuf;

use crate::policy::load_paths;
use crate::verify::model::{Direction, Model};

/// A loaded, compiled policy tree.
pub struct PolicyTree {
    pub paths: Vec<PathBuf>,
    pub model: Model,
    /// Bumped on every successful load: cached verdicts of an older
    /// generation are decided again.
    pub generation: u64,
}

/// Why a tree did not load.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("--policies {path}: {cause}")]
    Read { path: String, cause: String },
    #[error("--policies {paths}: {count} invalid policy document(s), first: {first}; fix them (or move them out of the tree) so the whole tree is checked")]
    Invalid {
        paths: String,
        count: usize,
        first: String,
    },
    #[error("--policies {paths}: no CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy or NetworkPolicy found; point it at the tree `recommend --out` wrote")]
    Empty { paths: String },
}

fn shown(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl PolicyTree {
    /// Loads and compiles the tree under `paths`.
    pub fn load(paths: &[PathBuf], generation: u64) -> Result<PolicyTree, TreeError> {
        for p in paths {
            if !p.exists() {
                return Err(TreeError::Read {
                    path: p.display().to_string(),
                    cause: "no such file or directory".into(),
                });
            }
        }
        let loaded = load_paths(paths).map_err(|e| TreeError::Read {
            path: shown(paths),
            cause: e.to_string(),
        })?;
        if let Some(first) = loaded.invalid.first() {
            return Err(TreeError::Invalid {
                paths: shown(paths),
                count: loaded.invalid.len(),
                first: first.to_string(),
            });
        }
        if loaded.policies.is_empty() {
            return Err(TreeError::Empty {
                paths: shown(paths),
            });
        }
        Ok(PolicyTree {
            paths: paths.to_vec(),
            model: Model::compile(&loaded),
            generation,
        })
    }

    /// Loads the same paths again as the next generation.
    pub fn reload(&self) -> Result<PolicyTree, TreeError> {
        PolicyTree::load(&self.paths, self.generation + 1)
    }

    /// Every allow section that can allow something: `(rule, direction,
    /// section)`, in model order (what rule usage is tracked for).
    pub fn allow_sections(&self) -> Vec<(usize, Direction, usize)> {
        let mut out = Vec::new();
        for (ri, rule) in self.model.rules.iter().enumerate() {
            if rule.subject.is_none() {
                continue;
            }
            for dir in [Direction::Ingress, Direction::Egress] {
                for (si, s) in rule.sections(dir, false).iter().enumerate() {
                    if !s.peers.is_empty() {
                        out.push((ri, dir, si));
                    }
                }
            }
        }
        out
    }
}
