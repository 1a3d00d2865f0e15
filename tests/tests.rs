//! flowpolicy's integration tests, built as one test binary (`Cargo.toml`: `autotests = false`
//! and one `[[test]]`) so the suite links one executable instead of one per file.
//!
//! Layout: one module per subject, each in its own file beside this one (`cli.rs`, `observe.rs`,
//! `verify_l7.rs`, …); `cargo test --test tests verify_l7::` runs one subject. Shared helpers:
//! - `common`: repository and corpus paths, the in-repo samples, schema validation,
//!   `recommend | verify`; `common::certs` (a throw-away PKI) and `common::observer_server` (an
//!   in-process Hubble Observer) for the TLS, `observe` and relay tests;
//! - `flowkit`: hand-made flows and endpoints; `verifykit`: verifying them against policy YAML;
//! - `mutate`: damaging dump lines; `samples`: the generator of `tests/data/flows`; `lines`: the
//!   replay benchmark's generated lines (`benches/replay/lines.rs`).
//!
//! insta snapshots are in `snapshots/`, named `tests__<module>__<name>.snap`.

mod common;
mod flowkit;
mod mutate;
mod samples;
mod shardkit;
mod verifykit;
mod week;

/// The replay benchmark's line generator, for the decoder tests (`fast_decode`, `live_decode`).
#[path = "../benches/replay/lines.rs"]
#[allow(dead_code)]
mod lines;

// The shape of src/: floors and circles.
mod architecture;

// Input: dumps, the live stream, damaged input.
mod bad_input_props;
mod corrupt_input;
mod demo_fixture;
mod fast_decode;
mod live_decode;
mod real_dumps;
mod sample_flows;

// The binary end to end, `observe` and the relay client.
mod baselining;
mod cli;
mod cli_outputs;
mod deploy_manifests;
mod fanout;
mod observe;
mod relay;
mod shards;
mod watch;
mod watch_sink;

// Policies: synthesis, its outputs, the policy loader.
mod dropped_l7;
mod flux_layout;
mod flux_placement;
mod flux_seed;
mod format_switch;
mod generated_schema;
mod gitops_refresh;
mod golden_demo;
mod k8s_output;
mod k8s_rules;
mod l7_synthesis;
mod never_wider;
mod next_week;
mod policy_corpus;
mod refusals;
mod self_check;
mod stable_selectors;
mod synthesis_rules;

// `verify`, `explain` and `report`.
mod explain;
mod report;
mod report_pr;
mod reserved_identities;
mod verify_corpus;
mod verify_fqdn_cidrs;
mod verify_l7;
mod verify_properties;
mod verify_recorded;
mod verify_roundtrip;
mod verify_rules;
mod verify_seed;
