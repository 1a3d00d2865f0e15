//! `flowpolicy recommend`: flows → graph → least-privilege policies, written
//! to stdout or an output directory, with a summary on stderr.

mod args;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;

pub use args::{L7Kind, LayoutArg, PolicyFormat, RecommendArgs};

use super::inputs;
use crate::brief;
use crate::graph::stability::NextWeek;
use crate::graph::TrafficGraph;
use crate::peer::WorkloadKey;
use crate::render::output::{self, GenPolicy, Layout, OutPolicy};
use crate::render::prepare::Preparer;
use crate::render::write::{self, Written};
use crate::render::{check, parallel, plan};
use crate::synth::roles::{Family, Roles};
use crate::synth::{self, SynthConfig, Warning, WarningKind};

/// The generated policies in a format-neutral form, with what the plan and
/// the summary need. Nothing is rendered yet: stdout renders the documents,
/// `--out` its files (stamped), each checked before anything is written.
struct Generated {
    policies: Vec<OutPolicy>,
    plan: plan::PlanPolicies,
    notes: Vec<String>,
    counts: String,
    /// Measured by synthesis on the graph as it read it, when it did.
    next_week: Option<NextWeek>,
    /// The families written as one policy per role, when synthesis gave them.
    families: Option<Vec<Family>>,
}

/// The generated policies; with `prepare` (a policy tree is written), each
/// CiliumNetworkPolicy is stamped, checked and rendered for its file on
/// another core as soon as synthesis makes it ([`Preparer`]).
fn generate(
    args: &RecommendArgs,
    graph: &TrafficGraph,
    prepare: bool,
) -> (Generated, Vec<Warning>) {
    let cfg = args.synth_config();
    match args.format {
        PolicyFormat::Cilium => cilium(graph, &cfg, prepare),
        PolicyFormat::K8s => {
            let workload = |workloads: &BTreeMap<(String, String), WorkloadKey>,
                            ns: Option<&String>,
                            name: &str| {
                ns.and_then(|ns| workloads.get(&(ns.clone(), name.to_string())))
                    .cloned()
            };
            let set = synth::k8s::synthesize_k8s(graph, &cfg);
            let workloads = synth::policy_workloads(graph, &cfg);
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
            let plan = plan::PlanPolicies {
                namespaces: set
                    .policies
                    .iter()
                    .map(|p| p.metadata.namespace.clone().unwrap_or_default())
                    .collect(),
                foundation: false,
                foundation_note: set.notes.first().cloned(),
                not_expressible: missing.clone(),
            };
            let counts = format!(
                "{} NetworkPolicy ({} observed peer/port sets not expressible)",
                set.policies.len(),
                missing.len()
            );
            let policies = set
                .policies
                .into_iter()
                .map(|p| {
                    let w = workload(&workloads, p.metadata.namespace.as_ref(), &p.metadata.name);
                    OutPolicy::new(GenPolicy::K8s(p), w)
                })
                .collect();
            let generated = Generated {
                policies,
                plan,
                notes,
                counts,
                next_week: None,
                families: None,
            };
            (generated, Vec::new())
        }
    }
}

/// Cilium policies: the foundation first, then each workload's, by
/// namespace and name; with `preparing`, each made ready for its file by a
/// [`Preparer`] as synthesis goes.
fn cilium(graph: &TrafficGraph, cfg: &SynthConfig, preparing: bool) -> (Generated, Vec<Warning>) {
    let preparer = preparing.then(Preparer::start);
    let mut namespaced: Vec<OutPolicy> = Vec::new();
    let set = synth::synthesize_into(graph, cfg, &mut |cnp| match &preparer {
        Some(p) => p.send(OutPolicy::new(GenPolicy::Cnp(cnp), None)),
        None => namespaced.push(OutPolicy::new(GenPolicy::Cnp(cnp), None)),
    });
    // The foundation first, in its order: its few policies are
    // prepared here while the worker prepares what is queued.
    let mut policies: Vec<OutPolicy> = set
        .clusterwide
        .into_iter()
        .map(|p| match preparer {
            Some(_) => OutPolicy::prepared(GenPolicy::Ccnp(p), None),
            None => OutPolicy::new(GenPolicy::Ccnp(p), None),
        })
        .collect();
    let clusterwide = policies.len();
    if let Some(p) = preparer {
        namespaced = p.finish();
        crate::timings::mark("documents prepared");
    }
    // By namespace and name, as synthesis sorts them (a preparer
    // gives them in its cores' order).
    namespaced.sort_by(|a, b| {
        (a.policy.namespace(), a.policy.name()).cmp(&(b.policy.namespace(), b.policy.name()))
    });
    let mut workloads = set.workloads;
    for p in &mut namespaced {
        let key = (
            p.policy.namespace().unwrap_or_default().to_string(),
            p.policy.name().to_string(),
        );
        p.workload = workloads.remove(&key);
    }
    policies.extend(namespaced);
    let cnps: Vec<&crate::policy::CiliumNetworkPolicy> = policies
        .iter()
        .filter_map(|p| match &p.policy {
            GenPolicy::Cnp(c) => Some(c),
            _ => None,
        })
        .collect();
    let mut notes = Vec::new();
    if !set.resolvers.is_empty() {
        notes.push(format!(
            "  DNS resolver: {}",
            brief::list(set.resolvers.iter().map(|r| &r.peer))
        ));
    }
    notes.extend(synth::l7::Written::of(cnps.iter().copied()).describe(&cfg.l7));
    let plan = plan::PlanPolicies::of(cnps.iter().copied(), clusterwide > 0);
    let counts = format!(
        "{} policies ({} CiliumNetworkPolicy, {} CiliumClusterwideNetworkPolicy)",
        policies.len(),
        cnps.len(),
        clusterwide
    );
    let generated = Generated {
        policies,
        plan,
        notes,
        counts,
        next_week: Some(set.next_week),
        families: (!cfg.per_instance).then_some(set.families),
    };
    (generated, set.warnings)
}

/// The policies as one multi-document YAML stream for stdout (the order
/// they were generated in: foundation first), checked first.
fn stdout_stream(policies: &[OutPolicy]) -> Result<String, check::CheckError> {
    let paths: Vec<PathBuf> = policies
        .iter()
        .map(|p| output::path_for(p, &Layout::Namespace))
        .collect();
    let items: Vec<(&std::path::Path, &GenPolicy)> = paths
        .iter()
        .zip(policies)
        .map(|(path, p)| (path.as_path(), &p.policy))
        .collect();
    output::check_policies(&items)?;
    let texts = parallel::map(policies, |p| p.policy.to_yaml());
    let mut out = String::with_capacity(texts.iter().map(|t| t.len() + 4).sum());
    for t in texts {
        out.push_str("---\n");
        out.push_str(&t);
    }
    Ok(out)
}

/// Not-expressible lines printed on stderr before pointing at ROLLOUT.md.
const MAX_LISTED: usize = 20;

pub fn run(args: &RecommendArgs) -> Result<()> {
    let target = args.write_options()?;
    crate::timings::mark("start");
    let (graph, report) = inputs::load(&args.input)?;
    crate::timings::mark("read");
    let done = from_graph(args, target, &graph, &report);
    // The graph of a large capture takes milliseconds to free.
    crate::render::write::free_later((graph, report));
    done
}

/// Recommends for a graph already built (by the inputs, or by `watch`):
/// synthesis, the self-check, then stdout or the tree at `target`.
pub fn from_graph(
    args: &RecommendArgs,
    target: Option<crate::render::write::WriteOptions>,
    graph: &TrafficGraph,
    report: &crate::baseline::load::LoadReport,
) -> Result<()> {
    if let Err(e) = crate::baseline::load::require_flows(graph, report, args.allow_empty) {
        inputs::print_load_report(report, graph, args.include_dropped);
        return Err(e);
    }
    if let Err(e) = crate::graph::filter::check_namespace_filter(graph, &args.namespaces) {
        anyhow::bail!(e);
    }
    let (generated, warnings) = generate(args, graph, target.is_some());
    // Nothing is written (or printed) unless every document is valid: the
    // tree's writer checks its files (stamped) before writing any.
    let refused = |e: anyhow::Error| {
        if e.downcast_ref::<check::CheckError>().is_some() {
            inputs::print_load_report(report, graph, args.include_dropped);
        }
        e
    };
    let written = match &target {
        Some(t) => {
            let done = write::write(
                t,
                graph,
                generated.policies,
                &generated.plan,
                args.plan_options(),
            )
            .map_err(refused)?;
            Some(print_written(done)?)
        }
        None => {
            use std::io::Write;
            let stream = stdout_stream(&generated.policies).map_err(|e| refused(e.into()))?;
            let mut out = std::io::stdout().lock();
            out.write_all(stream.as_bytes())?;
            out.flush()?;
            None
        }
    };
    inputs::print_load_report(report, graph, args.include_dropped);
    print_warnings(&warnings);
    let unknown = plan::unknown_priorities(&generated.plan, graph, &args.order);
    if !unknown.is_empty() {
        eprintln!(
            "warning: --order names namespaces without policies (not in the plan): {}",
            unknown.join(", ")
        );
    }
    let cfg = args.synth_config();
    super::stability::print_measured(graph, || {
        generated
            .next_week
            .unwrap_or_else(|| NextWeek::of(&synth::policy_view(graph, &cfg)))
    });
    let families = generated
        .families
        .unwrap_or_else(|| Roles::detect(graph.workloads()).families().to_vec());
    super::stability::print_families(
        &families,
        if cfg.per_instance {
            "found, written one policy per instance (--per-instance)"
        } else {
            "written as one policy per role, whose selector matches every instance (--per-instance: one per instance)"
        },
    );
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
    crate::timings::mark("summary");
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

/// Shows what writing the tree did; returns its one-line account.
fn print_written(w: Written) -> Result<String> {
    for x in &w.refused {
        eprintln!("warning: {x}");
    }
    for x in &w.homeless {
        eprintln!("warning: {x}");
    }
    for n in &w.notes {
        eprintln!("note: {n}");
    }
    if !w.missing_kustomizations.is_empty() {
        eprintln!(
            "note: {} app directories have no kustomization.yaml (none was created; Flux applies every manifest of such a directory): {}",
            w.missing_kustomizations.len(),
            list(&w.missing_kustomizations)
        );
    }
    if let Some(diff) = &w.diff {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(diff.as_bytes())?;
        out.flush()?;
    }
    if let Some(summary) = &w.summary {
        eprint!("{summary}");
    }
    Ok(w.account)
}

fn list(paths: &[PathBuf]) -> String {
    const SHOWN: usize = 5;
    let mut parts: Vec<String> = paths
        .iter()
        .take(SHOWN)
        .map(|p| p.display().to_string())
        .collect();
    if paths.len() > SHOWN {
        parts.push(format!("… {} more", paths.len() - SHOWN));
    }
    parts.join(", ")
}
