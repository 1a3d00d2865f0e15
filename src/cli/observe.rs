//! `flowpolicy observe`: follow Hubble Relay and aggregate every flow into a
//! baseline file that survives relay restarts, port-forward drops and
//! laptop sleeps, and that a later run continues.
//!
//! At start the relay's `ServerStatus` is shown (nodes, buffer fill), then
//! everything still in the nodes' ring buffers is read and new flows are
//! followed. Flows go through the same interpreter and graph as a replayed
//! dump (the one [`crate::graph::builder::GraphBuilder`], behind the stream's
//! [`crate::source::relay::StreamDoor`]), so memory grows with distinct edges, not
//! with flows. A broken stream reconnects with backoff and jitter and
//! resumes at the last flow time; the resume point and the interpreter's
//! state are saved in the baseline, so a later run continues as if it had
//! never stopped. The baseline is written atomically every
//! `--checkpoint-every` and on exit. Ctrl-C (or SIGTERM) saves and exits 0,
//! also while connecting; a second one exits at once (130), leaving the last
//! checkpoint intact.
//!
//! One writer per baseline: the baseline's lock ([`WriterLock`]) is taken
//! before it is read, so a second `observe` (or `merge -o`) on the same file
//! stops at once, naming the first. A damaged baseline is never continued.
//!
//! The tokio runtime lives here; `main` stays synchronous.

mod fanout;
mod live;
mod progress;
mod record;

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};
use clap::Args;
use ipnet::IpNet;
use tokio::sync::watch;

use super::duration::{human, parse_duration, parse_time};
use super::inputs;
use super::relay_args::RelayArgs;
use crate::baseline::file::{
    self as baseline_file, remove_stale_temp_files, LockError, WriterLock,
};
use crate::baseline::load::LoadReport;
use crate::baseline::{Baseline, BaselineError, Keep, Settings};
use crate::interpret::InterpretConfig;
use crate::source::dump;
use crate::source::relay::{
    follow, server_status, Backoff, FollowEnd, FollowOptions, RelayConfig, ServerStatus,
};
use live::Live;
use record::Recorder;

/// Default `--conn-window` (seconds), as for dumps.
const DEFAULT_CONN_WINDOW: u64 = 120;

/// Follow Hubble Relay and build (or continue) a baseline file.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    cilium hubble port-forward &\n  \
    flowpolicy observe --baseline main.baseline --duration 7d     # Ctrl-C any time; run again to continue\n  \
    flowpolicy recommend main.baseline --out policies/\n  \
    flowpolicy observe --baseline shop.baseline --namespace shop --record shop.jsonpb.zst\n  \
    flowpolicy observe --baseline node.baseline --server unix:///var/run/cilium/hubble.sock   # on a node\n  \
    kubectl -n kube-system port-forward svc/hubble-peer 4244:443 &   # every node, no relay:\n  \
    flowpolicy observe --baseline main.baseline --peer-service localhost:4244 --tls \\\n      \
    --tls-ca-cert-files ca.crt --tls-server-name hubble-peer.kube-system.svc.cluster.local\n\n\
The baseline is saved atomically every --checkpoint-every and on exit. Ctrl-C saves and exits;\n\
a second Ctrl-C quits at once (the last checkpoint stays intact). Running again continues the\n\
baseline as one run would. One observe per baseline: FILE.lock beside it names the running one.")]
pub struct ObserveArgs {
    /// The baseline file to create or continue.
    #[arg(long, value_name = "FILE")]
    pub baseline: PathBuf,
    /// Stop when the baseline has been observed this long in total, over
    /// all runs (e.g. 30m, 36h, 7d). Without it, run until Ctrl-C.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Option<Duration>,
    /// Save the baseline this often.
    #[arg(long, value_parser = parse_duration, default_value = "60s", value_name = "DURATION")]
    pub checkpoint_every: Duration,
    /// Also write the raw flows (jsonpb lines, zstd) to this file, appending. If writing it
    /// fails (disk full), recording stops with a warning and the baseline goes on.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Which relay, how to reach it, which flows.
    #[command(flatten)]
    pub relay: RelayArgs,
    /// Oldest flow to ask for: RFC 3339 time or a duration ago (1h).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub since: Option<DateTime<Utc>>,
    /// Stop at flows newer than this: RFC 3339 time or a duration ago.
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub until: Option<DateTime<Utc>>,

    /// Group world clients (connection initiators) inside this prefix into one peer (repeatable);
    /// recorded in the baseline and reused when continuing.
    #[arg(long = "cidr-group", value_name = "CIDR")]
    pub cidr_groups: Vec<IpNet>,
    /// Flows of one 5-tuple within this many seconds are one connection [default: 120].
    #[arg(long, value_name = "SECONDS")]
    pub conn_window: Option<u64>,
    /// Learn flows whose direction no evidence decides (no is_reply, SYN, earlier packet,
    /// traffic_direction with a known local side, or one clear service port) by taking the
    /// lower port as the server. Off by default: such flows are listed, not learned.
    #[arg(long)]
    pub guess_direction: bool,
    /// First reconnect delay (doubles up to 30s, with jitter).
    #[arg(long, value_parser = parse_duration, default_value = "500ms", hide = true)]
    pub reconnect_delay: Duration,
}

impl ObserveArgs {
    pub fn relay_config(&self) -> RelayConfig {
        self.relay.relay_config(self.since, self.until)
    }

    /// The interpretation settings: the flags, or those recorded in the
    /// baseline being continued; conflicting ones are an error.
    fn settings(&self, stored: Option<&Settings>) -> Result<Settings> {
        let given = Settings {
            cidr_groups: self.cidr_groups.iter().copied().collect(),
            conn_window_seconds: [self.conn_window.unwrap_or(DEFAULT_CONN_WINDOW)].into(),
        };
        let Some(stored) = stored.filter(|s| **s != Settings::default()) else {
            return Ok(given);
        };
        let mut effective = stored.clone();
        if !self.cidr_groups.is_empty() && given.cidr_groups != stored.cidr_groups {
            bail!(
                "{}: the baseline was recorded with --cidr-group {}; pass the same groups, or none to reuse them",
                self.baseline.display(),
                list(&stored.cidr_groups)
            );
        }
        if let Some(w) = self.conn_window {
            if !stored.conn_window_seconds.is_empty() && !stored.conn_window_seconds.contains(&w) {
                bail!(
                    "{}: the baseline was recorded with --conn-window {}; pass the same, or none to reuse it",
                    self.baseline.display(),
                    list(&stored.conn_window_seconds)
                );
            }
            effective.conn_window_seconds = [w].into();
        }
        if effective.conn_window_seconds.is_empty() {
            effective.conn_window_seconds = [DEFAULT_CONN_WINDOW].into();
        }
        Ok(effective)
    }
}

fn list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|t| t.to_string()).collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(",")
    }
}

/// Loads the baseline to continue, if the file exists. A file that exists
/// but does not load is an error (and is never overwritten).
fn load_existing(path: &std::path::Path) -> Result<Option<Baseline>> {
    if !path.exists() {
        return Ok(None);
    }
    let name = dump::display_name(path);
    let reader = dump::open_input(path)?;
    let size = dump::decompressed_size(path);
    match Baseline::read(&name, reader, Keep::Everything, size) {
        Ok(b) => {
            if b.unchecked {
                eprintln!("{}", inputs::unchecked_note(&name));
            }
            Ok(Some(b))
        }
        Err(BaselineError::Damaged { file, detail }) => bail!(
            "{file}: the baseline is damaged ({detail}); observe will not continue it, and left it unchanged — restore it from a copy, or start a new baseline with another --baseline path"
        ),
        Err(e) => Err(e.into()),
    }
}

/// Takes the baseline's writer lock (before anything is read), and removes
/// temp files that writers killed mid-save left beside it.
fn lock_baseline(path: &std::path::Path) -> Result<WriterLock> {
    let lock = WriterLock::acquire(path, "observe").map_err(|e| match e {
        LockError::Held { .. } => anyhow::anyhow!(
            "{e}. One observe per baseline: stop the other run first, or pass another --baseline path"
        ),
        e => e.into(),
    })?;
    for stale in remove_stale_temp_files(path) {
        eprintln!(
            "observe: removed {}, left by an interrupted save",
            stale.display()
        );
    }
    Ok(lock)
}

pub fn run(args: &ObserveArgs) -> Result<ExitCode> {
    // A bad address is refused before anything is read, locked or dialled.
    match &args.relay.peer_service {
        Some(_) => drop(fanout::fanout(args, &Baseline::default(), None)?),
        None => args.relay_config().validate()?,
    }
    // Held until this returns; the kernel drops it if the process dies.
    let _lock = lock_baseline(&args.baseline)?;
    let existing = load_existing(&args.baseline)?;
    let settings = args.settings(existing.as_ref().map(|b| &b.meta.settings))?;
    let mut base = existing.unwrap_or_default();
    let continuing = base.meta.observation.runs > 0 || base.graph.coverage.flows > 0;
    base.meta.settings = settings.clone();
    let already = Duration::from_secs(base.meta.observation.observed_seconds);
    let remaining = match args.duration {
        Some(total) if already >= total => {
            eprintln!(
                "observe: {} has already been observed for {} (--duration {}); nothing to do. Raise --duration to continue.",
                args.baseline.display(),
                human(already),
                human(total)
            );
            return Ok(ExitCode::SUCCESS);
        }
        Some(total) => Some(total - already),
        None => None,
    };
    if continuing {
        let resume = base
            .meta
            .resume
            .last_time
            .map(|t| match base.meta.node_resume.len() {
                0 => format!("; resuming at {t}"),
                n => format!(
                    "; resuming at {t}, {n} node{} each from its own point",
                    if n == 1 { "" } else { "s" }
                ),
            })
            .unwrap_or_default();
        let state = &base.meta.state;
        let remembered = if state.is_empty() {
            String::new()
        } else {
            format!(
                " with {} DNS answers and {} open connections remembered",
                state.dns_entries(),
                state.connection_entries()
            )
        };
        eprintln!(
            "observe: continuing {}: {} flows, {} workloads, {} edges, observed {} over {} run{}{resume}{remembered}",
            args.baseline.display(),
            base.graph.coverage.flows,
            base.graph.workloads().len(),
            base.graph.edge_count(),
            human(already),
            base.meta.observation.runs,
            if base.meta.observation.runs == 1 { "" } else { "s" },
        );
    }
    let interpret = InterpretConfig {
        cidr_groups: settings.cidr_groups.iter().copied().collect(),
        conn_window_ns: i64::try_from(
            *settings
                .conn_window_seconds
                .iter()
                .next()
                .unwrap_or(&DEFAULT_CONN_WINDOW),
        )
        .unwrap_or(i64::MAX / 1_000_000_000)
        .saturating_mul(1_000_000_000),
        guess_direction: args.guess_direction,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match &args.relay.peer_service {
        Some(_) => runtime.block_on(fanout::observe(args, base, interpret, remaining)),
        None => runtime.block_on(observe(args, base, interpret, remaining)),
    }
}

async fn observe(
    args: &ObserveArgs,
    mut base: Baseline,
    interpret: InterpretConfig,
    remaining: Option<Duration>,
) -> Result<ExitCode> {
    let cfg = args.relay_config();
    let (stop_tx, mut stop_rx) = watch::channel(false);
    handle_signals(stop_tx)?;

    // Connecting can take up to --timeout; a signal meanwhile ends the run
    // at once (nothing was observed, the baseline is untouched).
    if cfg.server.starts_with("unix:") {
        eprintln!(
            "observe: connecting to the agent's Hubble socket {}",
            cfg.server
        );
    } else {
        eprintln!("observe: connecting to Hubble Relay at {}", cfg.server);
    }
    let status = tokio::select! {
        status = server_status(&cfg) => status?,
        _ = stop_rx.wait_for(|stop| *stop) => {
            eprintln!(
                "observe: interrupted while connecting to {}; nothing was observed, {} is unchanged",
                cfg.server,
                args.baseline.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
    };
    print_status(&cfg.server, &status);
    base.graph
        .coverage
        .unavailable_nodes
        .extend(status.unavailable_nodes.iter().cloned());

    let mut live = open_live(args, base, interpret, remaining);
    live.checkpoint()?;
    let live = RefCell::new(live);
    let opts = FollowOptions {
        backoff: Backoff {
            initial: args.reconnect_delay,
            ..Backoff::default()
        },
        deadline: remaining,
        max_attempts: None,
        // `--record` writes each response whole.
        slim: args.record.is_none(),
        recycler: Some(live.borrow().door.recycler()),
        pause: None,
    };
    let mut resume = live.borrow().door.resume.clone();
    let sink = |event| live.borrow_mut().deliver(event);
    let shutdown = async {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    };
    let tick = args.checkpoint_every.min(Duration::from_secs(1));
    let ticker = async {
        let mut every = tokio::time::interval(tick);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        every.tick().await;
        loop {
            every.tick().await;
            live.borrow_mut().tick();
        }
    };
    let outcome = tokio::select! {
        r = follow(&cfg, &opts, &mut resume, sink, shutdown) => r,
        never = ticker => never,
    };
    let mut live = live.into_inner();
    debug_assert_eq!(live.door.resume, resume);
    live.door.resume = resume;
    finish(
        args,
        live,
        outcome.map(|s| s.end).map_err(Into::into),
        |_| {},
    )
}

/// The live baseline of this run, recording to `--record` when it opens.
fn open_live(
    args: &ObserveArgs,
    base: Baseline,
    interpret: InterpretConfig,
    remaining: Option<Duration>,
) -> Live {
    let (recorder, record_failed) = open_recorder(args);
    let mut live = Live::new(
        args.baseline.clone(),
        base,
        interpret,
        args.checkpoint_every,
        remaining,
        recorder,
    );
    live.sink.record_failed = record_failed;
    live
}

/// Opens `--record`; one that cannot be opened is a warning (the baseline
/// goes on), returned as why recording failed.
fn open_recorder(args: &ObserveArgs) -> (Option<Recorder>, Option<String>) {
    let recorder = args
        .record
        .as_deref()
        .and_then(|path| match Recorder::open(path) {
            Ok(rec) => Some(rec),
            Err(e) => {
                eprintln!(
                    "warning: --record {}: {e:#}; not recording (the baseline goes on)",
                    path.display()
                );
                None
            }
        });
    let record_failed = match (&args.record, &recorder) {
        (Some(path), None) => Some(format!("{}: cannot open it", path.display())),
        _ => None,
    };
    (recorder, record_failed)
}

/// After the stream: the final save, the recording closed, the summary
/// (`more` prints the source's own lines after the counts), the exit.
fn finish(
    args: &ObserveArgs,
    mut live: Live,
    outcome: Result<FollowEnd>,
    more: impl FnOnce(&Live),
) -> Result<ExitCode> {
    live.sink.progress.finish();
    let saved = live.checkpoint();
    let recorded = match live.sink.recorder.take() {
        Some(rec) => {
            let (lines, kept) = (rec.lines, rec.complete_lines);
            let path = rec.path().display().to_string();
            match rec.finish() {
                Ok(()) => Some(lines),
                Err(e) => {
                    live.sink.progress.println(&format!(
                        "warning: --record {path}: {e:#}; {path} keeps the {kept} responses recorded up to the last checkpoint"
                    ));
                    live.sink.record_failed = Some(format!("{path}: {e:#}"));
                    None
                }
            }
        }
        None => None,
    };
    live.log_now();

    let why = match &outcome {
        Ok(end) => match end {
            FollowEnd::Shutdown => "interrupted",
            FollowEnd::Deadline => "--duration reached",
            FollowEnd::UntilReached => "--until reached",
            FollowEnd::SinkStopped => "stopped",
        },
        Err(_) => "stopped by an error",
    };
    let report = LoadReport {
        interpret: live.total_stats(),
        ..LoadReport::default()
    };
    inputs::print_load_report(&report, live.graph(), false);
    inputs::print_rejections(&live.sink.rejections);
    super::stability::print(live.graph(), &crate::synth::SynthConfig::default());
    eprintln!(
        "flowpolicy: observe {why} after {}: {} flows this run ({} in the baseline), {} workloads, {} edges, {} lost events, {} reconnects; baseline {}{}",
        human(live.elapsed()),
        live.sink.flows,
        live.graph().coverage.flows,
        live.graph().workloads().len(),
        live.graph().edge_count(),
        live.graph().coverage.total_lost(),
        live.sink.reconnects,
        if saved.is_ok() { "saved to " } else { "NOT saved to " },
        args.baseline.display(),
    );
    more(&live);
    if let Some(lines) = recorded {
        eprintln!(
            "  recorded {lines} responses to {}",
            args.record
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    if let Some(why) = &live.sink.record_failed {
        eprintln!(
            "warning: recording failed ({why}); the baseline is complete, the recording is not"
        );
    }
    if let Err(e) = saved {
        let kept = match live.saved_flows {
            Some(n) => format!(
                "{} keeps the last checkpoint ({n} flows); the flows after it were lost",
                args.baseline.display()
            ),
            None => format!("{} was not written", args.baseline.display()),
        };
        return Err(anyhow::anyhow!("{e:#}; {kept}"));
    }
    outcome?;
    Ok(ExitCode::SUCCESS)
}

/// First SIGINT/SIGTERM: ask the loop to stop (it saves and exits 0).
/// Second: exit at once with 130; the last checkpoint is a complete file
/// because every write is a rename of a fully written temp file.
fn handle_signals(stop: watch::Sender<bool>) -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            let _ = stop.send(true);
            eprintln!("\nobserve: interrupted: saving the baseline (Ctrl-C again quits at once; the last checkpoint stays intact)");
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            eprintln!("observe: interrupted again: exiting without a final save");
            baseline_file::abandon();
            std::process::exit(130);
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop.send(true);
        let _ = tokio::signal::ctrl_c().await;
        baseline_file::abandon();
        std::process::exit(130);
    });
    Ok(())
}

fn print_status(server: &str, s: &ServerStatus) {
    let nodes = match (s.num_connected_nodes, s.num_unavailable_nodes) {
        (Some(c), Some(u)) => format!("{c} nodes connected, {u} unavailable"),
        _ => "a single Hubble server".to_string(),
    };
    let fill = s
        .buffer_fill()
        .map(|f| {
            format!(
                "; buffers hold {} of {} flows ({:.0}%)",
                s.num_flows,
                s.max_flows,
                f * 100.0
            )
        })
        .unwrap_or_default();
    let version = if s.version.is_empty() {
        String::new()
    } else {
        format!(" ({})", s.version)
    };
    eprintln!("observe: relay {server}{version}: {nodes}{fill}");
    let unavailable = s.num_unavailable_nodes.unwrap_or(0);
    if unavailable > 0 {
        let names = if s.unavailable_nodes.is_empty() {
            String::new()
        } else {
            format!(": {}", crate::brief::list(&s.unavailable_nodes))
        };
        eprintln!(
            "warning: {unavailable} node{} unavailable to the relay{names}; their flows are missing until they return (recorded as a coverage gap)",
            if unavailable == 1 { " is" } else { "s are" }
        );
    }
}
