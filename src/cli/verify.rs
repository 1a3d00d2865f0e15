//! `flowpolicy verify`: policies + observed flows → which observed
//! connections the policies would allow, drop or leave undecided, which
//! rule decided, and what the policies allow that was never observed.
//! Exit code 0: nothing observed is dropped; 1: something is; 2: bad input.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use super::inputs::{self, InputArgs};
use crate::policy::{load_paths, LoadedPolicies};
use crate::verify::{self, VerifyOptions};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Check policies against observed flows, offline.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    flowpolicy verify --policies policies/ flows.jsonpb\n  \
    flowpolicy verify --policies kubernetes/main/apps/ day1.jsonpb.zst day2.jsonpb.zst --explain\n  \
    flowpolicy recommend flows.jsonpb | flowpolicy verify --policies - flows.jsonpb\n\n\
Exit code: 0 when no observed connection would be dropped, 1 when some would, 2 on bad input.\n\
Semantics (Cilium's, offline): see docs/verify.md.")]
pub struct VerifyArgs {
    /// Policy files or directories (recursive; multi-document YAML/JSON), or `-` for stdin; repeat `-p` for several.
    #[arg(long = "policies", short = 'p', required = true, value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    #[command(flatten)]
    pub input: InputArgs,
    /// Also list allowed connections with the policy and rule that allowed them.
    #[arg(long)]
    pub explain: bool,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Also require traffic that Hubble saw DROPPED to be allowed.
    #[arg(long)]
    pub include_dropped: bool,
    /// The flows were captured while these policies were in force: compare the simulation
    /// with what Cilium recorded (policy drops it would allow, forwarded connections it would
    /// drop, audited ones it would allow). Exit 0 when all agree, 1 otherwise.
    #[arg(long, conflicts_with_all = ["explain", "include_dropped"])]
    pub against_recorded: bool,
}

/// Loads `--policies`, printing notes and warnings (shared with `explain`).
pub fn load_policies(policies: &[PathBuf], input: &InputArgs) -> Result<LoadedPolicies> {
    let stdin_policies = policies.iter().any(|p| p.as_os_str() == "-");
    if stdin_policies && input.inputs.iter().any(|p| p.as_os_str() == "-") {
        bail!("`--policies -` and flows from `-` cannot both read stdin");
    }
    let mut loaded = load_paths(policies)?;
    flux_namespaces(policies, &mut loaded);
    for i in loaded.invalid.iter().take(crate::brief::CAP) {
        eprintln!("warning: {i}");
    }
    if loaded.invalid.len() > crate::brief::CAP {
        eprintln!(
            "warning: … and {} more invalid documents",
            loaded.invalid.len() - crate::brief::CAP
        );
    }
    for p in &loaded.policies {
        for n in &p.notes {
            eprintln!(
                "note: {}: {} {}: {n}",
                p.source,
                p.policy.kind(),
                p.policy.name()
            );
        }
    }
    if loaded.policies.is_empty() {
        eprintln!(
            "warning: no policy documents in {} ({} invalid, {} other documents): no policy enforces anything",
            policies
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            loaded.invalid.len(),
            loaded.skipped.len()
        );
    }
    Ok(loaded)
}

/// Namespaced policies without `metadata.namespace` get the one Flux gives
/// them in a GitOps tree (its Kustomization's `targetNamespace`, or the
/// kustomization's `namespace:`), not `default`.
fn flux_namespaces(paths: &[PathBuf], loaded: &mut LoadedPolicies) {
    let mut known = std::collections::BTreeMap::new();
    for p in paths.iter().filter(|p| p.as_os_str() != "-") {
        known.extend(crate::render::flux::namespaces::for_files(p));
    }
    for p in &mut loaded.policies {
        if p.policy.kind() == crate::policy::PolicyKind::Ccnp || p.policy.namespace().is_some() {
            continue;
        }
        let file = crate::render::flux::tree::normal(&p.source.path);
        if let Some(ns) = known.get(&file) {
            p.policy.metadata_mut().namespace = Some(ns.clone());
            p.notes.push(format!(
                "no metadata.namespace: in namespace {ns}, which Flux/kustomize give it"
            ));
        }
    }
}

pub fn run(args: &VerifyArgs) -> Result<ExitCode> {
    let loaded = load_policies(&args.policies, &args.input)?;
    let (graph, load_report) = inputs::load(&args.input)?;
    inputs::print_load_report(&load_report, &graph, args.include_dropped);
    if args.against_recorded {
        return against_recorded(args, &graph, &loaded);
    }
    let report = verify::verify(
        &graph,
        &loaded,
        &VerifyOptions {
            include_dropped: args.include_dropped,
        },
    );
    let mut out = std::io::stdout().lock();
    match args.output {
        Format::Json => {
            let mut doc = serde_json::to_value(&report)?;
            if !args.explain {
                if let Some(o) = doc.as_object_mut() {
                    o.remove("allowed");
                    o.remove("requests_allowed");
                }
            }
            if let Some(o) = doc.as_object_mut() {
                o.insert(
                    "invalid_documents".into(),
                    loaded.invalid.iter().map(|i| i.to_string()).collect(),
                );
                o.insert(
                    "undecided".into(),
                    serde_json::to_value(&load_report.interpret.undecided)?,
                );
            }
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        Format::Text => {
            out.write_all(verify::text::render(&report, args.explain).as_bytes())?;
            let undecided = &load_report.interpret.undecided;
            if !undecided.is_empty() {
                writeln!(
                    out,
                    "\n{} flows in {} peer pairs were not verified: nothing decided which end initiated (listed in the warnings; see docs/interpretation.md)",
                    undecided.flows(),
                    undecided.edges.len()
                )?;
            }
            if !loaded.invalid.is_empty() {
                writeln!(
                    out,
                    "\n{} invalid policy documents were skipped (see warnings)",
                    loaded.invalid.len()
                )?;
            }
        }
    }
    out.flush()?;
    Ok(if report.has_failures() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `--against-recorded`: the simulation against Cilium's recorded verdicts.
fn against_recorded(
    args: &VerifyArgs,
    graph: &crate::graph::TrafficGraph,
    loaded: &LoadedPolicies,
) -> Result<ExitCode> {
    let model = verify::Model::compile(loaded);
    let report = verify::recorded::compare(&model, graph);
    let mut out = std::io::stdout().lock();
    match args.output {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        Format::Text => out.write_all(verify::recorded::render(&report).as_bytes())?,
    }
    out.flush()?;
    Ok(if report.agrees() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
