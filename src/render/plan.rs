//! The rollout plan written beside the policies (`ROLLOUT.md` in `--out`):
//! the seed's phases made concrete for this graph — foundation first, then
//! namespaces in order of how many other namespaces depend on them (fewest
//! first, so an early mistake breaks the least), each with its evidence and
//! the commands to verify, apply, watch and roll back. The user's own
//! priorities (`--order NS,NS,…`) go first, the rest keep that order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::graph::evidence::format_time;
use crate::graph::TrafficGraph;
use crate::peer::Peer;
use crate::policy::CiliumNetworkPolicy;

/// One namespace's place in the plan.
#[derive(Debug, Default)]
struct Namespace {
    policies: usize,
    workloads: BTreeSet<String>,
    /// Namespaces with workloads that connect into this one.
    dependents: BTreeSet<String>,
    external_clients: bool,
    connections: u64,
}

/// What the plan needs from a policy set of either format.
#[derive(Debug, Clone, Default)]
pub struct PlanPolicies {
    /// The namespace of every namespaced policy.
    pub namespaces: Vec<String>,
    /// Whether foundation (clusterwide) policies were generated.
    pub foundation: bool,
    /// Why there is no foundation, when there is none.
    pub foundation_note: Option<String>,
    /// Observed traffic the policies cannot allow (`--format k8s`).
    pub not_expressible: Vec<String>,
}

impl PlanPolicies {
    /// The plan of these namespaced policies, with or without foundation
    /// policies.
    pub fn of<'a>(
        namespaced: impl IntoIterator<Item = &'a CiliumNetworkPolicy>,
        foundation: bool,
    ) -> Self {
        Self {
            namespaces: namespaced
                .into_iter()
                .map(|p| p.metadata.namespace.clone().unwrap_or_default())
                .collect(),
            foundation,
            ..Self::default()
        }
    }
}

fn namespaces(set: &PlanPolicies, graph: &TrafficGraph) -> BTreeMap<String, Namespace> {
    let mut out: BTreeMap<String, Namespace> = BTreeMap::new();
    for p in &set.namespaces {
        out.entry(p.clone()).or_default().policies += 1;
    }
    // Counts and sorted sets: in the graph's own order.
    for (from, to, edge) in graph.edges() {
        let Some(dst) = to.as_workload() else {
            continue;
        };
        let Some(ns) = out.get_mut(&dst.namespace) else {
            continue;
        };
        ns.workloads.insert(dst.display_name());
        ns.connections += edge
            .ports
            .values()
            .filter_map(|s| s.allowed.as_ref())
            .map(|t| t.connections)
            .sum::<u64>();
        match from {
            Peer::Workload(src) if src.namespace != dst.namespace => {
                ns.dependents.insert(src.namespace.clone());
            }
            p if p.is_world() => ns.external_clients = true,
            _ => {}
        }
    }
    out
}

/// Where the plan's commands find things, and the user's priorities.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Namespaces to roll out first, in this order (`--order`).
    pub order: Vec<String>,
    /// How the verify commands name the capture (shell words, already quoted).
    pub flows: Vec<String>,
    /// The foundation's files or directories, relative to where the commands run.
    pub foundation_paths: Vec<String>,
    /// Each namespace's files or directories (default: `<namespace>/`).
    pub namespace_paths: BTreeMap<String, Vec<String>>,
    /// Where the commands run (shown once at the top).
    pub workdir: String,
    /// GitOps: the steps up to this one enforce (`--stage`); steps are
    /// pull requests, rollbacks are reverts.
    pub stage: Option<usize>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            order: Vec::new(),
            flows: vec!["\"$FLOWS\"".into()],
            foundation_paths: vec!["cluster/".into()],
            namespace_paths: BTreeMap::new(),
            workdir: "the directory of this file".into(),
            stage: None,
        }
    }
}

impl PlanOptions {
    fn ns_paths(&self, ns: &str) -> Vec<String> {
        self.namespace_paths
            .get(ns)
            .cloned()
            .unwrap_or_else(|| vec![format!("{ns}/")])
    }
}

/// The namespaces in rollout order: the user's `--order` first (those that
/// have policies), then fewest dependents first. Also returns the ordered
/// namespaces that have no policies (so the caller can say so).
fn ordered(
    set: &PlanPolicies,
    graph: &TrafficGraph,
    priorities: &[String],
) -> (Vec<(String, Namespace, bool)>, Vec<String>) {
    let mut all = namespaces(set, graph);
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for ns in priorities {
        match all.remove(ns) {
            Some(n) => out.push((ns.clone(), n, true)),
            None if !out.iter().any(|(o, _, _)| o == ns) => missing.push(ns.clone()),
            None => {}
        }
    }
    let mut rest: Vec<(String, Namespace)> = all.into_iter().collect();
    rest.sort_by(|a, b| {
        (a.1.dependents.len(), a.1.external_clients, &a.0).cmp(&(
            b.1.dependents.len(),
            b.1.external_clients,
            &b.0,
        ))
    });
    out.extend(rest.into_iter().map(|(k, v)| (k, v, false)));
    (out, missing)
}

/// The namespaces in rollout order (step 1 first).
pub fn rollout_order(set: &PlanPolicies, graph: &TrafficGraph, order: &[String]) -> Vec<String> {
    ordered(set, graph, order)
        .0
        .into_iter()
        .map(|(ns, _, _)| ns)
        .collect()
}

/// `--order` namespaces that have no policy in the set (nothing to roll out).
pub fn unknown_priorities(
    set: &PlanPolicies,
    graph: &TrafficGraph,
    order: &[String],
) -> Vec<String> {
    if order.is_empty() {
        return Vec::new();
    }
    ordered(set, graph, order).1
}

/// The `flowpolicy verify` command proving a step: the foundation plus the
/// step's policies, against the capture.
fn verify_command(opts: &PlanOptions, dirs: &[String]) -> String {
    let mut cmd = String::from("flowpolicy verify");
    for d in dirs {
        cmd.push_str(" -p ");
        cmd.push_str(d);
    }
    for f in &opts.flows {
        cmd.push(' ');
        cmd.push_str(f);
    }
    cmd
}

/// `-f a -f b`.
fn kubectl_files(paths: &[String]) -> String {
    paths
        .iter()
        .map(|p| format!("-f {p}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The plan as Markdown.
pub fn rollout_plan_with(set: &PlanPolicies, graph: &TrafficGraph, opts: &PlanOptions) -> String {
    let (order, missing) = ordered(set, graph, &opts.order);
    let c = &graph.coverage;
    let mut md = String::new();
    let _ = writeln!(md, "# Rollout plan\n");
    let _ = writeln!(
        md,
        "Generated by flowpolicy from {} flows observed {} to {}{}. Run the commands from {}, with `FLOWS` \
         set to the capture or baseline these policies were generated from, or a newer one \
         (`export FLOWS=/data/main.baseline`). Before each step, its `flowpolicy verify` command must exit 0: with the foundation and that step's \
         policies, no observed connection is dropped. Each namespace's policies select only its own pods, so \
         steps that verify on their own also verify together.\n",
        c.flows,
        format_time(c.first_flow),
        format_time(c.last_flow),
        if c.total_lost() > 0 { format!(" ({} events lost: capture longer before enforcing)", c.total_lost()) } else { String::new() },
        opts.workdir,
    );
    let mut applied: Vec<String> = Vec::new();
    let _ = writeln!(md, "## 1. Foundation (changes nothing for any pod)\n");
    if !set.foundation {
        let _ = writeln!(
            md,
            "No foundation policies were generated{}.\n",
            set.foundation_note
                .as_ref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        );
    } else {
        applied.extend(opts.foundation_paths.iter().cloned());
        if opts.stage.is_some() {
            let _ = writeln!(
                md,
                "```sh\n{}\n```\n\nFlux applies these with the first pull request, together with every namespace's policies \
                 (only the stages enforced below switch pods to default-deny). They set `enableDefaultDeny: false`: they only add allows.\n",
                verify_command(opts, &applied),
            );
        }
    }
    if set.foundation && opts.stage.is_none() {
        let _ = writeln!(
            md,
            "```sh\n{}\nkubectl apply {}\n```\n\nThese set `enableDefaultDeny: false`: they only add allows. The DNS rule sends DNS through \
             Cilium's proxy, so names become visible in Hubble for the next capture.\n",
            verify_command(opts, &applied),
            kubectl_files(&opts.foundation_paths),
        );
    }
    let heading = if opts.order.is_empty() {
        "## 2. Namespaces, fewest dependents first\n".to_string()
    } else {
        format!(
            "## 2. Namespaces: {} first (--order), then fewest dependents first\n",
            opts.order
                .iter()
                .filter(|o| !missing.contains(o))
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let _ = writeln!(md, "{heading}");
    if !missing.is_empty() {
        let _ = writeln!(
            md,
            "Not in the plan although ordered first (no policies generated for them): {}.\n",
            missing.join(", ")
        );
    }
    let _ = writeln!(md, "| step | namespace | policies | workloads receiving traffic | namespaces depending on it | external clients | connections in |");
    let _ = writeln!(md, "|---:|---|---:|---:|---|---|---:|");
    for (i, (name, ns, prio)) in order.iter().enumerate() {
        let deps: Vec<&str> = ns.dependents.iter().map(String::as_str).collect();
        let _ = writeln!(
            md,
            "| {} | {name}{} | {} | {} | {} | {} | {} |",
            i + 1,
            if *prio { " (ordered)" } else { "" },
            ns.policies,
            ns.workloads.len(),
            if deps.is_empty() {
                "—".to_string()
            } else {
                deps.join(", ")
            },
            if ns.external_clients { "yes" } else { "no" },
            ns.connections
        );
    }
    if let Some(stage) = opts.stage {
        gitops_steps(&mut md, opts, &applied, &order, stage);
    } else {
        kubectl_steps(&mut md, opts, &applied, &order);
    }
    if !set.not_expressible.is_empty() {
        let _ = writeln!(
            md,
            "## Not expressible\n\nObserved traffic these policies cannot allow; once they are applied it is dropped \
             unless another policy allows it (a CiliumNetworkPolicy from `recommend --format cilium` can):\n"
        );
        for n in &set.not_expressible {
            let _ = writeln!(md, "- {n}");
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(
        md,
        "To stage a namespace first, put its endpoints in policy audit mode (`cilium-dbg endpoint config <id> PolicyAuditMode=Enabled` \
         on each node; Cilium has no per-namespace audit) and watch `--verdict AUDIT` instead."
    );
    md
}

type Steps<'a> = [(String, Namespace, bool)];

/// Each step applied and rolled back with kubectl.
fn kubectl_steps(md: &mut String, opts: &PlanOptions, applied: &[String], order: &Steps<'_>) {
    let _ = writeln!(
        md,
        "\nFor each step: verify (exit code 0, or read what it would drop), apply, watch for drops \
         (anything there is traffic the baseline missed), and roll back by deleting the same files \
         (no policy selects the pods any more).\n"
    );
    for (i, (name, _, _)) in order.iter().enumerate() {
        let paths = opts.ns_paths(name);
        let files = kubectl_files(&paths);
        let mut dirs = applied.to_vec();
        dirs.extend(paths);
        let _ = writeln!(
            md,
            "### Step {}: {name}\n\n```sh\n{}\nkubectl apply {files}\nhubble observe --verdict DROPPED --namespace {name} --follow\nkubectl delete {files}   # rollback\n```\n",
            i + 1,
            verify_command(opts, &dirs),
        );
    }
}

/// Each step a pull request: enforcement turned on by `--stage`, rolled
/// back by reverting that commit (Flux undoes a `kubectl` change on its
/// next reconcile, so the cluster is only changed through git).
fn gitops_steps(
    md: &mut String,
    opts: &PlanOptions,
    applied: &[String],
    order: &Steps<'_>,
    stage: usize,
) {
    let _ = writeln!(
        md,
        "\nEvery namespace's policies are in the tree and applied by Flux from the first pull request; steps 1 to {stage} \
         enforce (this tree was written with `--stage {stage}`), the others carry `enableDefaultDeny: {{ingress: false, egress: false}}`, \
         so their allow rules change nothing yet (L7 rules, `--l7`, still filter their own port). For each next step: re-run \
         the same `flowpolicy recommend` with `--stage <step>` (it turns `enableDefaultDeny` on for that namespace's policies \
         only), verify (exit code 0, or read what it would drop), commit, open a pull request and merge it; watch for drops \
         once Flux has reconciled (anything there is traffic the baseline missed). Roll back in git: `git revert` the step's \
         commit and merge (Flux re-applies the policies with default-deny off). Do not delete or apply policies Flux manages by hand: \
         Flux reverts that on its next reconcile.\n"
    );
    for (i, (name, _, _)) in order.iter().enumerate() {
        let step = i + 1;
        let paths = opts.ns_paths(name);
        let mut dirs = applied.to_vec();
        dirs.extend(paths);
        let state = if step <= stage {
            "enforcing in this tree"
        } else {
            "applied, not enforcing yet"
        };
        let _ = writeln!(
            md,
            "### Step {step}: {name} ({state})\n\n```sh\nflowpolicy recommend … --stage {step}   # the same command as before; only {name}'s enableDefaultDeny lines change\n{}\ngit commit -am \"network policy: enforce {name} (stage {step})\"   # then a pull request\nhubble observe --verdict DROPPED --namespace {name} --follow\ngit revert <that commit>   # rollback, through a pull request\n```\n",
            verify_command(opts, &dirs),
        );
    }
}
