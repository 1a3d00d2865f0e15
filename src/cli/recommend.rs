//! `flowpolicy recommend`: flows → graph → least-privilege policies, written
//! to stdout or an output directory, with a summary on stderr.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::inputs::{self, InputArgs};
use super::write_out;
use crate::graph::TrafficGraph;
use crate::render::output::{GenPolicy, OutPolicy, DEFAULT_APP_TEMPLATE};
use crate::render::yaml::Document;
use crate::render::{brief, check, plan, yaml};
use crate::synth::{self, SynthConfig, Warning, WarningKind};

/// Output format of `recommend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyFormat {
    /// CiliumNetworkPolicy per workload + foundation CiliumClusterwideNetworkPolicies.
    Cilium,
    /// Kubernetes NetworkPolicy per workload, for what NetworkPolicy can express.
    K8s,
}

/// L7 rule families `--l7` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum L7Kind {
    /// HTTP/gRPC rules (method, templated path, host) on ports where L7 request records were seen.
    Http,
    /// DNS rules listing the names each workload queried instead of `matchPattern: "*"`.
    Dns,
}

/// How `--out`/`--root` is organised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    /// `cluster/<name>.yaml`, `<namespace>/<name>.yaml`.
    Namespace,
    /// Every file in one directory: `cluster_<name>.yaml`, `<namespace>_<name>.yaml`.
    Flat,
    /// Beside each app in a GitOps tree: `<root>/<namespace>/<app>/app/networkpolicy.yaml`.
    Gitops,
}

/// Generate least-privilege Cilium policies from observed flows.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    hubble observe --all -o jsonpb > flows.jsonpb\n  \
    flowpolicy recommend flows.jsonpb --out policies/\n  \
    flowpolicy recommend day1.jsonpb.gz day2.jsonpb.zst --cidr-group 10.0.0.0/8 > policies.yaml\n  \
    flowpolicy recommend week.baseline --layout gitops --root kubernetes/main/apps --dry-run\n  \
    flowpolicy recommend flows.jsonpb --format k8s --out netpol/\n\n\
Every observed workload gets a CiliumNetworkPolicy that allows exactly what it did and denies\n\
everything else; foundation CiliumClusterwideNetworkPolicies (DNS to the detected resolver,\n\
kube-apiserver) only add allows and never switch pods into default-deny.\n\n\
Re-running into an existing directory refreshes it: only policies whose allowed set changed\n\
are rewritten, rules added by hand are kept and reported, files flowpolicy did not write are\n\
never overwritten.")]
pub struct RecommendArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Write one file per policy under this directory, plus a ROLLOUT.md plan, instead of
    /// stdout. An existing directory is refreshed (see --dry-run), or replaced with --force.
    #[arg(long, short, value_name = "DIR", conflicts_with = "root")]
    pub out: Option<PathBuf>,
    /// Replace an existing --out directory instead of refreshing it.
    #[arg(long)]
    pub force: bool,
    /// Policy format: Cilium policies, or Kubernetes NetworkPolicy (what it cannot express is
    /// listed, never widened).
    #[arg(long, value_enum, default_value_t = PolicyFormat::Cilium)]
    pub format: PolicyFormat,
    /// Directory layout of --out (namespace, flat) or of a GitOps tree (gitops, with --root).
    #[arg(long, value_enum, default_value_t = LayoutArg::Namespace)]
    pub layout: LayoutArg,
    /// The GitOps apps directory to write into (`--layout gitops`), e.g. kubernetes/main/apps:
    /// each workload's policies go beside its app; the foundation and ROLLOUT.md go to
    /// flowpolicy-foundation/.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Where an app's policies go under --root: `{namespace}`, `{app}` (app.kubernetes.io/name,
    /// else app.kubernetes.io/instance, else the workload name) and `{name}` (the policy's).
    #[arg(long, value_name = "TEMPLATE", default_value = DEFAULT_APP_TEMPLATE)]
    pub app_template: String,
    /// Print a unified diff per file and the allowed peers/ports added and removed per policy,
    /// and write nothing.
    #[arg(long)]
    pub dry_run: bool,
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
    /// Write L7 rules from L7 records (comma-separated or repeated): `http` (requests, with
    /// IDs/UUIDs/hashes templated, on the ports and from the peers where they were seen) and
    /// `dns` (the names each workload queried). Without it the policies are L4 only.
    #[arg(long, value_enum, value_name = "http,dns", value_delimiter = ',')]
    pub l7: Vec<L7Kind>,
    /// With `--l7 http`: N or more sibling path segments (same method, host and other segments)
    /// collapse into one single-segment pattern; 0 never collapses.
    #[arg(long, value_name = "N", default_value_t = synth::l7::http::DEFAULT_COLLAPSE)]
    pub l7_collapse: usize,
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
            l7: synth::l7::L7Config {
                http: self.l7.contains(&L7Kind::Http),
                dns: self.l7.contains(&L7Kind::Dns),
                collapse: (self.l7_collapse > 0).then_some(self.l7_collapse),
            },
        }
    }
}

fn plan_options(args: &RecommendArgs) -> plan::PlanOptions {
    plan::PlanOptions {
        order: args.order.clone(),
        ..plan::PlanOptions::default()
    }
}

/// The generated policies in a format-neutral form, with what the plan and
/// the summary need.
struct Generated {
    policies: Vec<OutPolicy>,
    /// The documents as they would be printed, checked before anything is written.
    docs: Vec<Document>,
    stream: String,
    plan: plan::PlanPolicies,
    notes: Vec<String>,
    counts: String,
}

fn generate(args: &RecommendArgs, graph: &TrafficGraph) -> (Generated, Vec<Warning>) {
    let cfg = args.synth_config();
    let workloads = synth::policy_workloads(graph, &cfg);
    let workload = |ns: Option<&String>, name: &str| {
        ns.and_then(|ns| workloads.get(&(ns.clone(), name.to_string())))
            .cloned()
    };
    match args.format {
        PolicyFormat::Cilium => {
            let set = synth::synthesize(graph, &cfg);
            let mut policies: Vec<OutPolicy> = set
                .clusterwide
                .iter()
                .map(|p| OutPolicy {
                    policy: GenPolicy::Ccnp(p.clone()),
                    workload: None,
                })
                .collect();
            policies.extend(set.namespaced.iter().map(|p| OutPolicy {
                workload: workload(p.metadata.namespace.as_ref(), &p.metadata.name),
                policy: GenPolicy::Cnp(p.clone()),
            }));
            let mut notes = Vec::new();
            if !set.resolvers.is_empty() {
                notes.push(format!(
                    "  DNS resolver: {}",
                    brief::list(set.resolvers.iter().map(|r| &r.peer))
                ));
            }
            notes.extend(synth::l7::Written::of(&set).describe(&cfg.l7));
            let docs = yaml::documents(&set);
            let generated = Generated {
                policies,
                stream: yaml::stream(&docs),
                docs,
                plan: plan::PlanPolicies::from_set(&set),
                notes,
                counts: format!(
                    "{} policies ({} CiliumNetworkPolicy, {} CiliumClusterwideNetworkPolicy)",
                    set.len(),
                    set.namespaced.len(),
                    set.clusterwide.len()
                ),
            };
            (generated, set.warnings)
        }
        PolicyFormat::K8s => {
            let set = synth::k8s::synthesize_k8s(graph, &cfg);
            let policies = set
                .policies
                .iter()
                .map(|p| OutPolicy {
                    workload: workload(p.metadata.namespace.as_ref(), &p.metadata.name),
                    policy: GenPolicy::K8s(p.clone()),
                })
                .collect();
            let missing: Vec<String> = set.not_expressible.iter().map(|n| n.to_string()).collect();
            let mut notes: Vec<String> = set.notes.iter().map(|n| format!("  note: {n}")).collect();
            for m in missing.iter().take(MAX_LISTED) {
                notes.push(format!("  not expressible: {m}"));
            }
            if missing.len() > MAX_LISTED {
                notes.push(format!(
                    "  … {} more not expressible (all listed in ROLLOUT.md with --out)",
                    missing.len() - MAX_LISTED
                ));
            }
            let docs = yaml::k8s_documents(&set);
            let generated = Generated {
                stream: yaml::stream(&docs),
                docs,
                plan: plan::PlanPolicies {
                    namespaces: set
                        .policies
                        .iter()
                        .map(|p| p.metadata.namespace.clone().unwrap_or_default())
                        .collect(),
                    foundation: false,
                    foundation_note: set.notes.first().cloned(),
                    not_expressible: missing.clone(),
                },
                policies,
                notes,
                counts: format!(
                    "{} NetworkPolicy ({} observed peer/port sets not expressible)",
                    set.policies.len(),
                    missing.len()
                ),
            };
            (generated, Vec::new())
        }
    }
}

/// Not-expressible lines printed on stderr before pointing at ROLLOUT.md.
const MAX_LISTED: usize = 20;

pub fn run(args: &RecommendArgs) -> Result<()> {
    let target = write_out::target(args)?;
    let (graph, report) = inputs::load_graph(&args.input)?;
    let (generated, warnings) = generate(args, &graph);
    // Nothing is written (or printed) unless every document is valid.
    if let Err(refused) = check::check_documents(&generated.docs) {
        inputs::print_load_report(&report, &graph);
        return Err(refused.into());
    }
    let written = match &target {
        Some(t) => {
            let opts = plan_options(args);
            Some(write_out::write(
                t,
                args,
                &graph,
                generated.policies.clone(),
                &generated.plan,
                opts,
            )?)
        }
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(generated.stream.as_bytes())?;
            out.flush()?;
            None
        }
    };
    inputs::print_load_report(&report, &graph);
    print_warnings(&warnings);
    let unknown = plan::unknown_priorities(&generated.plan, &graph, &args.order);
    if !unknown.is_empty() {
        eprintln!(
            "warning: --order names namespaces without policies (not in the plan): {}",
            unknown.join(", ")
        );
    }
    super::stability::print(&graph);
    for n in &generated.notes {
        eprintln!("{n}");
    }
    eprintln!(
        "flowpolicy: {} flows read from {} input{} ({} malformed lines{}, {} flows skipped), {} workloads, {} edges, {}{}",
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
        generated.counts,
        written.map(|w| format!("; {w}")).unwrap_or_default(),
    );
    Ok(())
}

/// Warnings grouped by kind, a handful of each: a damaged or huge input
/// must not bury the summary.
fn print_warnings(warnings: &[Warning]) {
    let mut by_kind: std::collections::BTreeMap<WarningKind, Vec<&Warning>> =
        std::collections::BTreeMap::new();
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
