//! flowpolicy: turn what a Cilium cluster really does (Hubble flows) into
//! least-privilege CiliumNetworkPolicy, and prove it against the flows.
//!
//! The pipeline runs one way (see docs/architecture.md):
//! `source` → `interpret` → `graph` → `synth` → `render`, with `policy` (the
//! typed Cilium policy language) and `verify` beside them.

pub mod proto;
pub mod source;
