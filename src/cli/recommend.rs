//! `flowpolicy recommend`: flows → graph → least-privilege policies, written
//! to stdout or an output directory, with a summary on stderr.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::inputs::{self, InputArgs};
use crate::render::yaml::Document;
use crate::render::{brief, check, layout, plan, yaml};
use crate::synth::{self, SynthConfig, Warning, WarningKind};

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

pub fn run(args: &RecommendArgs) -> Result<()> {
    let (graph, report) = inputs::load_graph(&args.input)?;
    let set = synth::synthesize(&graph, &args.synth_config());
    let docs = yaml::documents(&set);
    // Nothing is written (or printed) unless every document is valid.
    if let Err(refused) = check::check_documents(&docs) {
        inputs::print_load_report(&report, &graph);
        return Err(refused.into());
    }
    match &args.out {
        Some(dir) => {
            let mut files = docs;
            files.push(Document {
                path: "ROLLOUT.md".into(),
                text: plan::rollout_plan(&set, &graph),
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
    print_warnings(&set.warnings);
    super::stability::print(&graph);
    if !set.resolvers.is_empty() {
        eprintln!(
            "  DNS resolver: {}",
            brief::list(set.resolvers.iter().map(|r| &r.peer))
        );
    }
    eprintln!(
        "flowpolicy: {} flows read from {} input{} ({} malformed lines{}, {} flows skipped), {} workloads, {} edges, {} policies ({} CiliumNetworkPolicy, {} CiliumClusterwideNetworkPolicy){}",
        report.interpret.flows,
        report.files.len(),
        if report.files.len() == 1 { "" } else { "s" },
        report.malformed(),
        match report.rejected().total() {
            0 => String::new(),
            n => format!(", {n} flows rejected"),
        },
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

/// Warnings grouped by kind, a handful of each: a damaged or huge input
/// must not bury the summary.
fn print_warnings(warnings: &[Warning]) {
    let mut by_kind: BTreeMap<WarningKind, Vec<&Warning>> = BTreeMap::new();
    for w in warnings {
        by_kind.entry(w.kind).or_default().push(w);
    }
    for (kind, list) in by_kind {
        for w in list.iter().take(brief::CAP) {
            eprintln!("warning: {w}");
        }
        if list.len() > brief::CAP {
            eprintln!(
                "warning: … and {} more {}",
                list.len() - brief::CAP,
                kind.describe()
            );
        }
    }
}
