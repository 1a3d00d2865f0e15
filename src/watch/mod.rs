//! `flowpolicy watch`: the policy tree checked against live traffic after
//! rollout. Flows from any source go through a [`sink::WatchSink`] (a
//! [`crate::source::sink::FlowSink`], so the relay's follow loop, a fan-out
//! of node streams or a dump feed it alike): interpreted by the one graph
//! builder, each distinct connection decided by verify's engine against the
//! tree once per tree generation, and reported as typed [`events`]: traffic
//! the tree would drop (with the deciding rule), what Cilium dropped for a
//! policy reason, connections no rule allows, rules idle for
//! `--unused-after`. Memory is per distinct connection, capped
//! ([`edges`]); [`metrics`] and [`serve`] expose the counts to Prometheus.
//! The graph it keeps is what `watch --update` writes rules for.

pub mod edges;
pub mod events;
pub mod metrics;
pub mod retain;
pub mod serve;
pub mod sink;
pub mod tree;
pub mod usage;

pub use sink::{WatchOptions, WatchSink};
pub use tree::{PolicyTree, TreeError};
