//! The command line: clap definitions and one file per subcommand wiring the
//! pipeline stages together. No domain logic lives here.

pub mod completions;
pub mod duration;
pub mod explain;
pub mod graph;
pub mod inputs;
pub mod merge;
pub mod observe;
pub mod progress;
pub mod recommend;
pub mod relay_args;
pub mod report;
pub mod stability;
pub mod verify;
pub mod watch;

use clap::{Parser, Subcommand};

/// Turn what a Cilium cluster really does into least-privilege network policy.
///
/// flowpolicy reads Hubble flows (saved `hubble observe -o jsonpb` dumps or exporter files),
/// builds a workload traffic graph, and writes CiliumNetworkPolicies that allow exactly the
/// observed connections, plus foundation CiliumClusterwideNetworkPolicies for DNS and the
/// kube-apiserver.
#[derive(Debug, Parser)]
#[command(
    name = "flowpolicy",
    version,
    propagate_version = true,
    after_help = "Start here:\n  \
    cilium hubble port-forward &\n  \
    hubble observe --all -o jsonpb > flows.jsonpb\n  \
    flowpolicy recommend flows.jsonpb --out policies/\n\n\
For a week-long baseline that survives restarts:\n  \
    flowpolicy observe --baseline main.baseline --duration 7d\n  \
    flowpolicy recommend main.baseline --out policies/\n\n\
Before applying anything:\n  \
    flowpolicy verify --policies policies/ main.baseline\n\n\
Try it on the bundled demo:\n  flowpolicy recommend fixtures/demo.jsonpb.zst --cidr-group 10.0.0.0/8"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate least-privilege CiliumNetworkPolicies from observed flows.
    Recommend(recommend::RecommendArgs),
    /// Check policies against observed flows: what would be dropped, what is allowed but unused.
    Verify(verify::VerifyArgs),
    /// Show, for every rule of a policy set, the observed connections that justify it.
    Explain(explain::ExplainArgs),
    /// Follow Hubble Relay and build or continue a baseline file.
    Observe(Box<observe::ObserveArgs>),
    /// Combine baselines (and dumps) into one baseline.
    Merge(merge::MergeArgs),
    /// Export the traffic graph as DOT, Mermaid or JSON.
    Graph(graph::GraphArgs),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff).
    Man(completions::ManArgs),
    /// Write a review report (Markdown or HTML): graph, peers per namespace, risk findings.
    Report(report::ReportArgs),
    /// Follow Hubble Relay and check live traffic against a policy tree: would-be drops,
    /// Cilium's drops, new connections, unused rules; metrics; --update refreshes the tree.
    Watch(Box<watch::WatchArgs>),
}

/// Runs the parsed command; the result's error is printed by main.
pub fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Recommend(a) => recommend::run(&a).map(|_| std::process::ExitCode::SUCCESS),
        Command::Verify(a) => verify::run(&a),
        Command::Explain(a) => explain::run(&a),
        Command::Observe(a) => observe::run(&a),
        Command::Merge(a) => merge::run(&a).map(|_| std::process::ExitCode::SUCCESS),
        Command::Graph(a) => graph::run(&a).map(|_| std::process::ExitCode::SUCCESS),
        Command::Completions(a) => {
            completions::run_completions(&a).map(|_| std::process::ExitCode::SUCCESS)
        }
        Command::Man(a) => completions::run_man(&a).map(|_| std::process::ExitCode::SUCCESS),
        Command::Report(a) => report::run(&a).map(|_| std::process::ExitCode::SUCCESS),
        Command::Watch(a) => watch::run(&a),
    }
}
