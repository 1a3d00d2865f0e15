//! `flowpolicy watch`: follow Hubble Relay and check every flow against a
//! policy tree ([`crate::watch`]): what the tree would drop, what Cilium
//! dropped, connections no rule allows, rules unused for `--unused-after`.
//! A live view on a terminal, one log line per event otherwise (JSON with
//! `--log-format json`), a summary at exit, Prometheus metrics with
//! `--metrics`, and with `--update` the rules the new traffic needs written
//! into the tree as `recommend --out` refreshes it.
//!
//! Wiring only: the flags, the runtime, signals (SIGINT/SIGTERM stop,
//! SIGHUP reloads the tree), the follow loop into the watch's sink through
//! the stream's door (reconnect and resume as `observe`), the ticker.

mod args;
mod show;
mod update;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use tokio::sync::watch as channel;

pub use args::{LogFormat, Until, WatchArgs};
use show::Show;

use crate::graph::builder::GraphBuilder;
use crate::proto::observer::GetFlowsResponse;
use crate::source::event::{EndpointHint, SourceEvent};
use crate::source::relay::{
    follow_into, Backoff, Fanout, FanoutOptions, FollowEnd, FollowOptions, ResumeState, StreamDoor,
};
use crate::source::sink::{At, FlowSink, NodeState, StreamStatus};
use crate::source::validate::Rejection;
use crate::watch::metrics::Metrics;
use crate::watch::{PolicyTree, WatchOptions, WatchSink};

/// The watch's sink and what shows its events, shared by the follow loop
/// and the ticker (one at a time, on one task).
struct Watcher {
    sink: WatchSink,
    show: Show,
}

impl Watcher {
    fn drain(&mut self) {
        for e in std::mem::take(&mut self.sink.pending) {
            self.show.event(&e);
        }
    }
}

/// The sink the follow loop feeds: the watch's, then its events shown.
struct Shared<'a>(&'a RefCell<Watcher>);

impl Shared<'_> {
    fn with(&mut self, f: impl FnOnce(&mut WatchSink) -> ControlFlow<()>) -> ControlFlow<()> {
        let mut w = self.0.borrow_mut();
        let r = f(&mut w.sink);
        w.drain();
        r
    }
}

impl FlowSink for Shared<'_> {
    fn event(&mut self, event: &SourceEvent, at: At<'_>, hint: EndpointHint) -> ControlFlow<()> {
        self.with(|s| s.event(event, at, hint))
    }
    fn rejected(&mut self, at: At<'_>, r: &Rejection) -> ControlFlow<()> {
        self.with(|s| s.rejected(at, r))
    }
    fn response(&mut self, r: &GetFlowsResponse) -> ControlFlow<()> {
        self.with(|s| s.response(r))
    }
    fn node_state(&mut self, node: &str, state: &NodeState) -> ControlFlow<()> {
        self.with(|s| s.node_state(node, state))
    }
    fn status(&mut self, st: &StreamStatus) -> ControlFlow<()> {
        self.with(|s| s.status(st))
    }
}

pub fn run(args: &WatchArgs) -> Result<ExitCode> {
    let cfg = args.relay_config();
    cfg.validate()?;
    // Everything that can be refused is refused before the stream opens.
    let update = if args.update {
        Some(update::prepare(args)?)
    } else {
        None
    };
    let tree = PolicyTree::load(&args.policies, 0)?;
    let (builder, note) = args::builder(args)?;
    if let Some(n) = note {
        eprintln!("{n}");
    }
    let listener = match &args.metrics {
        Some(addr) => Some(crate::watch::serve::bind(addr).map_err(|e| anyhow!(e))?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let sink = runtime.block_on(watch(args, tree, builder, listener))?;
    if let Some(u) = update {
        update::write(args, u, &sink)?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn watch(
    args: &WatchArgs,
    tree: PolicyTree,
    builder: GraphBuilder,
    listener: Option<std::net::TcpListener>,
) -> Result<WatchSink> {
    let cfg = args.relay_config();
    let (stop_tx, mut stop_rx) = channel::channel(false);
    let reload = Arc::new(AtomicBool::new(false));
    handle_signals(stop_tx, reload.clone())?;
    let (metrics, registry) = Metrics::registered();
    if let Some(l) = listener {
        let shown = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
        tokio::spawn(crate::watch::serve::serve(l, Arc::new(registry)));
        eprintln!("watch: metrics at http://{shown}/metrics");
    }

    eprintln!(
        "watch: {} policies ({} rules) from {}; following {}",
        tree.model.policies.len(),
        tree.model.rules.len(),
        args.policies
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        match &args.relay.peer_service {
            Some(p) => format!("every node's Hubble server listed by the peer service at {p}"),
            None => cfg.server.clone(),
        }
    );
    let opts = WatchOptions {
        unused_after_ns: args
            .unused_after
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        max_edges: args.max_edges,
        stream: cfg.server.clone(),
    };
    let cell = RefCell::new(Watcher {
        sink: WatchSink::new(builder, tree, metrics, opts),
        show: Show::new(args),
    });
    let follow = FollowOptions {
        backoff: Backoff {
            initial: args.reconnect_delay,
            ..Backoff::default()
        },
        deadline: match args.until {
            Some(Until::After(d)) => Some(d),
            _ => None,
        },
        max_attempts: None,
        slim: true,
        recycler: None,
        pause: None,
    };
    let mut door = StreamDoor::default();
    let mut shared = Shared(&cell);
    let shutdown = async {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    };
    let ticker = async {
        let mut every = tokio::time::interval(Duration::from_millis(250));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            let mut w = cell.borrow_mut();
            if reload.swap(false, Ordering::SeqCst) {
                match w.sink.tree.reload() {
                    Ok(t) => w.sink.replace_tree(t),
                    Err(e) => w.sink.reload_failed(e.to_string()),
                }
            }
            w.sink.tick();
            w.drain();
            let Watcher { sink, show } = &mut *w;
            show.refresh(sink);
        }
    };
    let outcome = match &args.relay.peer_service {
        // Every node's Hubble server, merged in time order into the same sink.
        Some(peer_service) => {
            let opts = FanoutOptions {
                backoff: follow.backoff,
                slim: true,
                deadline: follow.deadline,
                max_wait: args.relay.node_wait,
                ..FanoutOptions::default()
            };
            let mut fan = Fanout::new(
                cfg.clone(),
                peer_service,
                opts,
                BTreeMap::new(),
                ResumeState::default(),
            )?;
            tokio::select! {
                r = fan.run(&mut shared, shutdown, |_, _| {}) => r.map_err(|e| anyhow!(e)),
                never = ticker => never,
            }
        }
        None => tokio::select! {
            r = follow_into(&cfg, &follow, &mut door, &mut shared, shutdown) => {
                r.map(|s| s.end).map_err(|e| anyhow!(e))
            }
            never = ticker => never,
        },
    };
    let mut w = cell.into_inner();
    w.sink.tick();
    w.drain();
    w.show.finish();
    let why = match &outcome {
        Ok(end) => match end {
            FollowEnd::Shutdown => "interrupted",
            FollowEnd::Deadline | FollowEnd::UntilReached => "--until reached",
            FollowEnd::SinkStopped => "stopped",
        },
        Err(_) => "stopped by an error",
    };
    show::summary(&w.sink, why);
    outcome?;
    Ok(w.sink)
}

/// SIGINT/SIGTERM stop the watch (a second one exits at once, 130);
/// SIGHUP asks for the tree to be reloaded.
fn handle_signals(stop: channel::Sender<bool>, reload: Arc<AtomicBool>) -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                reload.store(true, Ordering::SeqCst);
            }
        });
        tokio::spawn(async move {
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            let _ = stop.send(true);
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            eprintln!("watch: interrupted again: exiting at once");
            std::process::exit(130);
        });
    }
    #[cfg(not(unix))]
    {
        let _ = reload;
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            let _ = stop.send(true);
            let _ = tokio::signal::ctrl_c().await;
            std::process::exit(130);
        });
    }
    Ok(())
}
