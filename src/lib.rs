//! flowpolicy: turn what a Cilium cluster really does (Hubble flows) into
//! least-privilege CiliumNetworkPolicy, and prove it against the flows.
//!
//! The pipeline runs one way (see docs/architecture.md):
//! `source` → `interpret` → `graph` → `synth` → `render`, with `policy` (the
//! typed Cilium policy language) and `verify` beside them.

pub mod baseline;
pub mod brief;
pub mod cli;
pub mod graph;
pub mod interpret;
pub mod peer;
pub mod policy;
pub mod proto;
pub mod render;
pub mod report;
pub mod source;
pub mod synth;
pub mod timings;
pub mod verify;
pub mod watch;
