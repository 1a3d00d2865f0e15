//! Rendering: policy sets to YAML documents and file layouts. Decides
//! nothing about policy content.

pub mod check;
pub mod comments;
pub mod diff;
pub mod durable;
pub mod fingerprint;
pub mod flux;
pub mod graph_export;
pub mod guard;
pub mod kustomize;
pub mod layout;
pub mod output;
pub mod parallel;
pub mod plan;
pub mod prepare;
pub mod refresh;
#[cfg(test)]
mod schema_flat;
pub mod stage;
pub mod tree;
pub mod write;
pub mod yaml;
