//! The `stages-plain` row: what follows the read, stage by stage, on the
//! graph of the plain dump — synthesis, then stamping, checking and
//! rendering the files — each repeated, as medians on stderr. For finding
//! where the time after the read goes without a profiler; the row itself
//! is the read.

use std::path::Path;
use std::time::Instant;

use flowpolicy::cli::recommend::RecommendArgs;
use flowpolicy::render::output::{self, GenPolicy, Layout, OutPolicy};
use flowpolicy::synth::synthesize;

use super::Row;

/// Repetitions of each stage.
const REPEAT: usize = 25;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

pub fn run(path: &Path) -> Row {
    use clap::Parser;
    use flowpolicy::cli::{Cli, Command as Sub};
    let cli = Cli::try_parse_from([
        "flowpolicy".as_ref(),
        "recommend".as_ref(),
        path.as_os_str(),
    ])
    .unwrap();
    let Sub::Recommend(args) = cli.command else {
        unreachable!()
    };
    let args: RecommendArgs = args;
    let start = Instant::now();
    let (graph, report) = flowpolicy::cli::inputs::load(&args.input).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let cfg = args.synth_config();
    let (mut synth, mut files) = (Vec::new(), Vec::new());
    let mut policies = 0;
    for _ in 0..REPEAT {
        let t = Instant::now();
        let set = std::hint::black_box(synthesize(&graph, &cfg));
        synth.push(t.elapsed().as_secs_f64() * 1e3);
        let out: Vec<OutPolicy> = set
            .clusterwide
            .into_iter()
            .map(GenPolicy::Ccnp)
            .chain(set.namespaced.into_iter().map(GenPolicy::Cnp))
            .map(|policy| OutPolicy::new(policy, None))
            .collect();
        let t = Instant::now();
        let made = std::hint::black_box(output::files(out, &Layout::Namespace));
        files.push(t.elapsed().as_secs_f64() * 1e3);
        policies = made.len();
    }
    eprintln!(
        "stages over {REPEAT} runs (median ms): synthesis {:.2}, stamp+check+render {:.2} (first {:.2}, with the schema compile)",
        median(synth),
        median(files.clone()),
        files[0]
    );
    Row {
        flows: report.interpret.flows,
        seconds,
        cpu: 0.0,
        main_cpu: 0.0,
        edges: graph.edge_count(),
        policies,
        synth: 0.0,
    }
}
