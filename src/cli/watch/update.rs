//! `watch --update`: when the watch ends, the tree gets the rules the new
//! traffic needs. The watch's graph (the `--baseline` continued, plus every
//! connection watched) goes through the same synthesis and the same tree
//! refresh as `recommend GRAPH --out DIR`: hand edits kept, files that did
//! not change untouched, the diff listed. What synthesis never learns from
//! stays out here too: replies (the interpreter orients every flow),
//! flows whose direction nothing decided (parked, not in the graph) and
//! flows Cilium dropped (unless `--include-dropped`).

use anyhow::{bail, Result};

use super::args::WatchArgs;
use crate::baseline::load::LoadReport;
use crate::cli::inputs::InputArgs;
use crate::cli::recommend::{self, LayoutArg, PolicyFormat, RecommendArgs};
use crate::render::write::WriteOptions;
use crate::watch::WatchSink;

/// The recommend run `--update` will make, checked before the watch starts.
pub struct Prepared {
    args: RecommendArgs,
    target: WriteOptions,
}

/// `recommend`'s flags for this watch, writing into `--policies`.
fn recommend_args(args: &WatchArgs) -> RecommendArgs {
    let tree = args.policies[0].clone();
    let gitops = args.layout == LayoutArg::Gitops;
    RecommendArgs {
        input: InputArgs {
            inputs: Vec::new(),
            strict: false,
            cidr_groups: args.cidr_groups.clone(),
            conn_window: args.conn_window,
            guess_direction: args.guess_direction,
        },
        out: (!gitops).then(|| tree.clone()),
        force: false,
        format: PolicyFormat::Cilium,
        layout: args.layout,
        root: gitops.then(|| args.root.clone().unwrap_or(tree)),
        app_template: args.app_template.clone(),
        dry_run: args.dry_run,
        include_dropped: args.include_dropped,
        fqdn_collapse: None,
        no_foundation: args.no_foundation,
        apiserver_cluster_wide: false,
        same_namespace: false,
        per_instance: args.per_instance,
        namespaces: Vec::new(),
        l7: args.l7.clone(),
        l7_collapse: crate::synth::l7::http::DEFAULT_COLLAPSE,
        order: Vec::new(),
        allow_empty: false,
        stage: None,
        unplaced_into: None,
    }
}

/// Refuses what `--update` could not do before anything is followed.
pub fn prepare(args: &WatchArgs) -> Result<Prepared> {
    let [tree] = &args.policies[..] else {
        bail!("--update writes into one policy tree: give one --policies directory (the one `recommend --out` wrote)");
    };
    if !tree.is_dir() {
        bail!(
            "--update: --policies {} is not a directory; --update refreshes the tree `recommend --out DIR` wrote",
            tree.display()
        );
    }
    let args = recommend_args(args);
    let Some(target) = args.write_options()? else {
        bail!("--update: no tree to write into");
    };
    Ok(Prepared { args, target })
}

/// Writes the rules for what the watch saw into the tree.
pub fn write(watch: &WatchArgs, p: Prepared, sink: &WatchSink) -> Result<()> {
    eprintln!(
        "watch --update: refreshing {} from {} and the {} flows watched",
        p.target.root.display(),
        watch
            .baseline
            .as_ref()
            .map(|b| b.display().to_string())
            .unwrap_or_default(),
        sink.totals.flows
    );
    let report = LoadReport {
        interpret: sink.builder.interpreter.stats.clone(),
        baselines: usize::from(watch.baseline.is_some()),
        ..LoadReport::default()
    };
    recommend::from_graph(&p.args, Some(p.target), sink.graph(), &report)
}
