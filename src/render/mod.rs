//! Rendering: policy sets to YAML documents and file layouts. Decides
//! nothing about policy content.

pub mod brief;
pub mod check;
pub mod graph_export;
pub mod layout;
pub mod plan;
pub mod yaml;
