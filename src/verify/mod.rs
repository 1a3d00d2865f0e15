//! Verification: would these policies allow what the cluster was seen
//! doing? Policies (any mix of CiliumNetworkPolicy,
//! CiliumClusterwideNetworkPolicy and Kubernetes NetworkPolicy) are
//! compiled into a [`model::Model`] with Cilium's semantics; every observed
//! connection of a [`TrafficGraph`] — the same graph, built by the same
//! interpretation, that `recommend` learns from — is decided by the
//! [`engine::Engine`]; [`report`] groups the results and [`findings`]
//! lists what the policies allow that was never observed.
//!
//! Offline limits are explicit: what depends on data the flows do not
//! carry (named ports, namespace labels absent from the flows, Services,
//! CIDR groups) is `unknown`, never guessed. Semantics: docs/verify.md.

pub mod engine;
pub mod explain;
pub mod findings;
pub mod http;
pub mod http_findings;
pub mod l7;
pub mod model;
pub mod peers;
pub mod port_l7;
pub mod ports;
pub mod recorded;
pub mod report;
pub mod requests;
pub mod selectors;
pub mod text;
pub mod tri;

use crate::graph::TrafficGraph;
use crate::policy::LoadedPolicies;

pub use model::Model;
pub use report::{Report, VerifyOptions};

/// Compiles the policies and verifies the graph against them.
pub fn verify(graph: &TrafficGraph, policies: &LoadedPolicies, opts: &VerifyOptions) -> Report {
    let model = Model::compile(policies);
    report::build(&model, graph, opts)
}
