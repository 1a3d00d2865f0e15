//! `flowpolicy recommend`: flows → graph → least-privilege policies, written
//! to stdout or an output directory, with a summary on stderr.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::inputs::{self, InputArgs};
use crate::render::yaml::Document;
use crate::render::{layout, plan, yaml};
use crate::synth::{self, SynthConfig};

/// Generate least-privilege Cilium policies from observed flows.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    hubble observe --all -o jsonpb > flows.jsonpb\n  \
    flowpolicy recommend flows.jsonpb --out policies/\n  \
    flowpolicy recommend day1.jsonpb.gz day2.jsonpb.zst --cidr-group 10.0.0.0/8 > policies.yaml\n\n\
Every observed workload gets a CiliumNetworkPolicy that allows exactly what it did and denies\n\
everything else; foundation CiliumClusterwideNetworkPolicies (DNS to the detected resolver,\n\
kube-apiserver) only add allows and never switch pods into default-deny.")]
pub struct RecommendArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Write one file per policy under this directory (`cluster/…`, `<namespace>/…`), plus a
    /// ROLLOUT.md plan, instead of stdout.
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace an existing --out directory.
    #[arg(long)]
    pub force: bool,
    /// Also allow traffic that Cilium DROPPED while observing.
    #[arg(long)]
    pub include_dropped: bool,
    /// Collapse N or more sibling DNS names (a.example.com, b.example.com, …) into `*.example.com`.
    #[arg(long, value_name = "N")]
    pub fqdn_collapse: Option<usize>,
    /// Do not emit the foundation CiliumClusterwideNetworkPolicies.
    #[arg(long)]
    pub no_foundation: bool,
    /// Let every endpoint reach the kube-apiserver (default: only the workloads seen using it).
    #[arg(long)]
    pub apiserver_cluster_wide: bool,
    /// Also allow all traffic inside each namespace (one namespaced policy per namespace).
    #[arg(long)]
    pub same_namespace: bool,
    /// Only generate per-workload policies for this namespace (repeatable).
    #[arg(long = "namespace", short = 'n', value_name = "NAMESPACE")]
    pub namespaces: Vec<String>,
    /// Roll these namespaces out first, in this order, in ROLLOUT.md (comma-separated or
    /// repeated), e.g. `--order external-secrets,dbms,actions-runner-system,flux-system`;
    /// the rest follow, fewest dependents first.
    #[arg(long, value_name = "NS,NS,…", value_delimiter = ',')]
    pub order: Vec<String>,
}

impl RecommendArgs {
    pub fn synth_config(&self) -> SynthConfig {
        SynthConfig {
            include_dropped: self.include_dropped,
            fqdn_collapse: self.fqdn_collapse,
            foundation: !self.no_foundation,
            apiserver_cluster_wide: self.apiserver_cluster_wide,
            same_namespace: self.same_namespace,
            namespaces: self.namespaces.iter().cloned().collect::<BTreeSet<_>>(),
            cidr_groups: self.input.cidr_groups.clone(),
        }
    }
}

/// The capture as the plan's verify commands name it: absolute paths (the
/// commands run from the output directory), shell-quoted.
fn plan_flows(args: &RecommendArgs) -> Vec<String> {
    args.input
        .inputs
        .iter()
        .map(|p| {
            if p.as_os_str() == "-" {
                return "<your capture>".to_string();
            }
            let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            shell_quote(&abs.to_string_lossy())
        })
        .collect()
}

/// Single-quotes a word for sh unless it is plainly safe.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-:=@+,%".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn plan_options(args: &RecommendArgs) -> plan::PlanOptions {
    plan::PlanOptions {
        order: args.order.clone(),
        flows: plan_flows(args),
        ..plan::PlanOptions::default()
    }
}

pub fn run(args: &RecommendArgs) -> Result<()> {
    let (graph, report) = inputs::load_graph(&args.input)?;
    let set = synth::synthesize(&graph, &args.synth_config());
    let docs = yaml::documents(&set);
    match &args.out {
        Some(dir) => {
            let mut files = docs;
            files.push(Document {
                path: "ROLLOUT.md".into(),
                text: plan::rollout_plan_with(&set, &graph, &plan_options(args)),
            });
            layout::write_dir(dir, &files, args.force)?
        }
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(yaml::stream(&docs).as_bytes())?;
            out.flush()?;
        }
    }
    inputs::print_load_report(&report, &graph);
    for w in &set.warnings {
        eprintln!("warning: {w}");
    }
    let unknown = plan::unknown_priorities(&set, &graph, &args.order);
    if !unknown.is_empty() {
        eprintln!(
            "warning: --order names namespaces without policies (not in the plan): {}",
            unknown.join(", ")
        );
    }
    super::stability::print(&graph);
    let resolvers: Vec<String> = set.resolvers.iter().map(|r| r.peer.to_string()).collect();
    if !resolvers.is_empty() {
        eprintln!("  DNS resolver: {}", resolvers.join(", "));
    }
    eprintln!(
        "flowpolicy: {} flows read from {} input{} ({} malformed lines, {} flows skipped), {} workloads, {} edges, {} policies ({} CiliumNetworkPolicy, {} CiliumClusterwideNetworkPolicy){}",
        report.interpret.flows,
        report.files.len(),
        if report.files.len() == 1 { "" } else { "s" },
        report.malformed(),
        report.skipped(),
        graph.workloads().len(),
        graph.edge_count(),
        set.len(),
        set.namespaced.len(),
        set.clusterwide.len(),
        args.out.as_ref().map(|d| format!(" written to {}", d.display())).unwrap_or_default(),
    );
    Ok(())
}
