//! YAML documents from typed policies (serde, never string templates), in a
//! stable order: foundation first, then namespaced policies by namespace and
//! name. Same policy set → byte-identical text.

use std::path::PathBuf;

use serde::Serialize;

use crate::synth::k8s::K8sSet;
use crate::synth::PolicySet;

/// One rendered file (a policy document, or the rollout plan) and where it
/// goes in an output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Relative path: `cluster/<name>.yaml` or `<namespace>/<name>.yaml`.
    pub path: PathBuf,
    pub text: String,
}

fn to_yaml<T: Serialize>(v: &T) -> String {
    crate::policy::to_yaml(v).expect("policy types always serialize")
}

/// Every policy of the set as its own document.
pub fn documents(set: &PolicySet) -> Vec<Document> {
    let mut docs = Vec::with_capacity(set.len());
    for p in &set.clusterwide {
        docs.push(Document {
            path: PathBuf::from("cluster").join(format!("{}.yaml", p.metadata.name)),
            text: to_yaml(p),
        });
    }
    for p in &set.namespaced {
        let ns = p.metadata.namespace.clone().unwrap_or_default();
        docs.push(Document {
            path: PathBuf::from(ns).join(format!("{}.yaml", p.metadata.name)),
            text: to_yaml(p),
        });
    }
    docs
}

/// Every NetworkPolicy of a `--format k8s` set as its own document
/// (`<namespace>/<name>.yaml`).
pub fn k8s_documents(set: &K8sSet) -> Vec<Document> {
    set.policies
        .iter()
        .map(|p| Document {
            path: PathBuf::from(p.metadata.namespace.clone().unwrap_or_default())
                .join(format!("{}.yaml", p.metadata.name)),
            text: to_yaml(p),
        })
        .collect()
}

/// All documents as one multi-document YAML stream.
pub fn stream(docs: &[Document]) -> String {
    let mut out = String::new();
    for d in docs {
        out.push_str("---\n");
        out.push_str(&d.text);
    }
    out
}
