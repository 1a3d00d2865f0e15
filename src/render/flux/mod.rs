//! A GitOps tree as Flux applies it: which directories and files its
//! Kustomizations reach (`tree.rs`), which app deploys each workload
//! (`apps.rs`), where each policy goes (`place.rs`), new Flux Kustomizations
//! for directories none reaches (`wire.rs`), and the namespace Flux gives
//! manifests that set none (`namespaces.rs`, for loading a tree's policies).

pub mod apps;
pub mod namespaces;
pub mod place;
pub mod tree;
pub mod wire;

pub use place::{place, Placement};
pub use tree::{subdirs, FluxTree};
