//! The flags of `watch`, and what they turn into: the relay settings, the
//! interpreter (fresh, or continuing `--baseline`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use ipnet::IpNet;

use crate::cli::duration::{parse_duration, parse_time};
use crate::cli::recommend::{L7Kind, LayoutArg};
use crate::cli::relay_args::RelayArgs;
use crate::graph::builder::GraphBuilder;
use crate::interpret::InterpretConfig;
use crate::render::output::DEFAULT_APP_TEMPLATE;
use crate::source::relay::RelayConfig;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per event.
    Json,
}

/// When to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// After this long (wall time).
    After(Duration),
    /// At flows newer than this time.
    At(DateTime<Utc>),
}

fn parse_until(text: &str) -> Result<Until, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(Until::At(t.with_timezone(&Utc)));
    }
    parse_duration(text)
        .map(Until::After)
        .map_err(|e| format!("{e}; give a duration (30m, 8h, 7d) or an RFC 3339 time"))
}

/// Default `--max-edges`.
const MAX_EDGES: usize = 200_000;

/// Check live traffic against a policy tree.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    cilium hubble port-forward &\n  \
    flowpolicy watch --policies policies/ --metrics 0.0.0.0:9464\n  \
    flowpolicy watch --policies policies/ --log-format json --unused-after 7d\n  \
    flowpolicy watch --policies policies/ --baseline main.baseline --until 24h --update\n\n\
Reports traffic the policies would drop (with the deciding rule), flows Cilium dropped for a\n\
policy reason, connections no rule allows, and rules unused for --unused-after. SIGHUP reloads\n\
the policies (a tree that does not load is refused; the previous one stays); Ctrl-C or SIGTERM\n\
stops, prints the summary and, with --update, refreshes the tree as `recommend --out` does.\n\
Metrics and a PrometheusRule example: docs/watch.md.")]
pub struct WatchArgs {
    /// The policy tree (files or directories, as `verify --policies` reads them). With
    /// --update, one directory: the tree `recommend --out` (or `--root`) wrote.
    #[arg(long = "policies", short = 'p', required = true, value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    #[command(flatten)]
    pub relay: RelayArgs,
    /// Oldest flow to ask for: RFC 3339 time or a duration ago (1h). Default: what the relay
    /// still buffers, then new flows.
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub since: Option<DateTime<Utc>>,
    /// Stop after this long (30m, 24h, 7d) or at flows newer than this RFC 3339 time.
    #[arg(long, value_parser = parse_until, value_name = "DURATION|TIME")]
    pub until: Option<Until>,
    /// One log line per event on stdout, text or JSON, instead of the live view (the
    /// default off a terminal is text).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Report allow rules no flow has used for this long (in flow time), e.g. 7d.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub unused_after: Option<Duration>,
    /// Remember at most this many distinct connections; past it the least recently seen are
    /// forgotten (reported). Bounds memory over days.
    #[arg(long, value_name = "N", default_value_t = MAX_EDGES)]
    pub max_edges: usize,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 0.0.0.0:9464).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Events listed in the live view.
    #[arg(long, value_name = "N", default_value_t = 12)]
    pub recent: usize,

    /// When the watch ends, write the rules the new traffic needs into the tree, as
    /// `recommend --out` refreshes it (hand edits kept, unchanged files untouched, the diff
    /// listed). Needs --baseline: the tree is regenerated from it and what was watched.
    #[arg(long, requires = "baseline")]
    pub update: bool,
    /// The baseline the tree was generated from: continued (its connections are never
    /// "new"), and merged into what --update writes.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// --update: also allow traffic Cilium DROPPED while watching.
    #[arg(long)]
    pub include_dropped: bool,
    /// --update: the layout of the tree (as recommend --layout).
    #[arg(long, value_enum, default_value_t = LayoutArg::Namespace)]
    pub layout: LayoutArg,
    /// --update with --layout gitops: the apps directory (as recommend --root); default: --policies.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// --update with --layout gitops: where an app's policies go (as recommend).
    #[arg(long, value_name = "TEMPLATE", default_value = DEFAULT_APP_TEMPLATE)]
    pub app_template: String,
    /// --update: L7 rules as recommend --l7 writes them.
    #[arg(long, value_enum, value_name = "http,dns", value_delimiter = ',')]
    pub l7: Vec<L7Kind>,
    /// --update: one policy per workload instance (as recommend --per-instance).
    #[arg(long)]
    pub per_instance: bool,
    /// --update: no foundation CiliumClusterwideNetworkPolicies (as recommend).
    #[arg(long)]
    pub no_foundation: bool,
    /// --update: print the diff and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Group world clients inside this prefix into one peer (repeatable); with --baseline,
    /// its groups are used.
    #[arg(long = "cidr-group", value_name = "CIDR")]
    pub cidr_groups: Vec<IpNet>,
    /// Flows of one 5-tuple within this many seconds are one connection.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub conn_window: u64,
    /// Learn flows whose direction no evidence decides by taking the lower port as the server.
    #[arg(long)]
    pub guess_direction: bool,
    /// First reconnect delay (doubles up to 30s, with jitter).
    #[arg(long, value_parser = parse_duration, default_value = "500ms", hide = true)]
    pub reconnect_delay: Duration,
}

impl WatchArgs {
    pub fn relay_config(&self) -> RelayConfig {
        let until = match self.until {
            Some(Until::At(t)) => Some(t),
            _ => None,
        };
        self.relay.relay_config(self.since, until)
    }

    fn interpret(&self, cidr_groups: Vec<IpNet>) -> InterpretConfig {
        InterpretConfig {
            cidr_groups,
            conn_window_ns: i64::try_from(self.conn_window)
                .unwrap_or(i64::MAX / 1_000_000_000)
                .saturating_mul(1_000_000_000),
            guess_direction: self.guess_direction,
        }
    }
}

/// The graph builder the watch feeds: fresh, or continuing `--baseline`
/// (its graph, interpreter state and `--cidr-group`s); with a line saying so.
pub fn builder(args: &WatchArgs) -> Result<(GraphBuilder, Option<String>)> {
    let Some(path) = &args.baseline else {
        return Ok((
            GraphBuilder::new(args.interpret(args.cidr_groups.clone())),
            None,
        ));
    };
    let name = crate::source::dump::display_name(path);
    let reader = crate::source::dump::open_input(path)?;
    let size = crate::source::dump::decompressed_size(path);
    let base =
        crate::baseline::Baseline::read(&name, reader, crate::baseline::Keep::Everything, size)?;
    let stored: Vec<IpNet> = base.meta.settings.cidr_groups.iter().copied().collect();
    if !args.cidr_groups.is_empty() && !stored.is_empty() && args.cidr_groups != stored {
        bail!(
            "{name}: the baseline was recorded with other --cidr-group prefixes; pass the same ones, or none to reuse them"
        );
    }
    let groups = if stored.is_empty() {
        args.cidr_groups.clone()
    } else {
        stored
    };
    let note = format!(
        "watch: continuing {name}: {} flows, {} edges (its connections are known, never new)",
        base.graph.coverage.flows,
        base.graph.edge_count()
    );
    let builder = GraphBuilder::resume(
        base.graph,
        args.interpret(groups),
        &base.meta.state,
        base.interpret,
    );
    Ok((builder, Some(note)))
}
