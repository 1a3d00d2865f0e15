//! `observe --peer-service`: the baseline fed by every node's Hubble
//! server instead of the relay ([`Fanout`]): the same [`Live`] state and
//! checkpoints, with each node's resume point saved in the baseline
//! (`node_resume`), and what is shown per node — state, lag, lost events —
//! on the progress line and in the summary.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::watch;

use super::live::Live;
use super::{finish, handle_signals, open_live, ObserveArgs};
use crate::baseline::Baseline;
use crate::cli::duration::human;
use crate::interpret::InterpretConfig;
use crate::proto::observer::GetFlowsResponse;
use crate::source::event::{EndpointHint, SourceEvent};
use crate::source::relay::{Backoff, Fanout, FanoutOptions, NodeView, ResumeState};
use crate::source::sink::{At, FlowSink, NodeState, StreamStatus};
use crate::source::validate::Rejection;

/// The fan-out for these flags, continuing `base` (each node from its
/// saved point; see `fallback` for nodes without one).
pub(super) fn fanout(
    args: &ObserveArgs,
    base: &Baseline,
    deadline: Option<Duration>,
) -> Result<Fanout> {
    let peer_service = args.relay.peer_service.as_deref().unwrap_or_default();
    // A node without a saved point delivered nothing yet (every stream
    // keeps each node's point): all its buffered flows are new. Only a
    // baseline without node points (written before they were kept) starts
    // such nodes at its relay point.
    let fallback = if base.meta.node_resume.is_empty() {
        base.meta.resume.clone()
    } else {
        ResumeState::default()
    };
    let opts = FanoutOptions {
        backoff: Backoff {
            initial: args.reconnect_delay,
            ..Backoff::default()
        },
        // `--record` writes each response whole.
        slim: args.record.is_none(),
        deadline,
        max_wait: args.relay.node_wait,
        per_node: crate::source::relay::PER_NODE,
        tick: args.checkpoint_every.min(Duration::from_secs(1)),
    };
    let starts = base.meta.node_resume.clone();
    Ok(Fanout::new(
        args.relay_config(),
        peer_service,
        opts,
        starts,
        fallback,
    )?)
}

pub(super) async fn observe(
    args: &ObserveArgs,
    base: Baseline,
    interpret: InterpretConfig,
    remaining: Option<Duration>,
) -> Result<ExitCode> {
    let mut fan = fanout(args, &base, remaining)?;
    let (stop_tx, mut stop_rx) = watch::channel(false);
    handle_signals(stop_tx)?;
    eprintln!(
        "observe: following the Hubble peer service at {}: one stream per node",
        fan.peer_service()
    );
    tokio::select! {
        answer = fan.probe() => answer?,
        _ = stop_rx.wait_for(|stop| *stop) => {
            eprintln!(
                "observe: interrupted while connecting to {}; nothing was observed, {} is unchanged",
                fan.peer_service(),
                args.baseline.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut live = open_live(args, base, interpret, remaining);
    live.node_resume = Some(fan.resume_points());
    live.checkpoint()?;
    let live = RefCell::new(live);
    let mut sink = NodesSink {
        live: &live,
        peer_connects: 0,
    };
    let shutdown = async {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    };
    let outcome = fan
        .run(&mut sink, shutdown, |_, fan| {
            let mut live = live.borrow_mut();
            sync(&mut live, fan);
            live.tick();
        })
        .await;
    let mut live = live.into_inner();
    sync(&mut live, &fan);
    let nodes: Vec<NodeView> = fan.nodes().cloned().collect();
    let ignored = fan.ignored.clone();
    let outcome = outcome.context("observe --peer-service");
    finish(args, live, outcome, |_| print_nodes(&nodes, &ignored))
}

/// The fan-out's numbers into the live state: resume points (saved at the
/// next checkpoint), reconnects, the nodes on the progress line.
fn sync(live: &mut Live, fan: &Fanout) {
    live.node_resume = Some(fan.resume_points());
    live.sink.reconnects =
        fan.nodes().map(|n| u64::from(n.reconnects)).sum::<u64>() + u64::from(fan.peer_reconnects);
    live.sink.progress.extra = progress(fan);
}

/// ` | nodes: 3 streaming, 1 reconnecting | lag 2s (worker-2)`.
fn progress(fan: &Fanout) -> String {
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for n in fan.nodes() {
        let state = match &n.state {
            NodeState::Reconnecting { .. } => "reconnecting".to_string(),
            s => s.to_string(),
        };
        *states.entry(state).or_default() += 1;
    }
    if states.is_empty() {
        return " | no nodes announced yet".into();
    }
    let states: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let worst = fan
        .nodes()
        .filter(|n| n.state.is_active())
        .filter_map(|n| lag(n).map(|l| (l, &n.name)))
        .max();
    let lag = worst
        .map(|(l, name)| format!(" | max lag {} ({name})", human(l)))
        .unwrap_or_default();
    format!(" | nodes: {}{lag}", states.join(", "))
}

/// Wall time since the node's newest flow.
fn lag(n: &NodeView) -> Option<Duration> {
    let newest = n.newest?.to_datetime()?;
    (chrono::Utc::now() - newest).to_std().ok()
}

fn print_nodes(nodes: &[NodeView], ignored: &[String]) {
    for n in nodes {
        let lag = lag(n)
            .map(|l| format!(", lag {}", human(l)))
            .unwrap_or_default();
        let why = match &n.state {
            NodeState::Failed(e) => format!(": {e}"),
            NodeState::Reconnecting { error, .. } => format!(": {error}"),
            _ => String::new(),
        };
        eprintln!(
            "  node {} ({}): {}{why}; {} flows, {} lost events, {} reconnects, {} out of time order{lag}",
            n.name, n.server, n.state, n.flows, n.lost, n.reconnects, n.late
        );
    }
    for why in ignored {
        eprintln!("warning: peer service notification ignored: {why}");
    }
}

/// The live sink behind the fan-out, with lines for the peer service's
/// stream and each node's.
struct NodesSink<'a> {
    live: &'a RefCell<Live>,
    peer_connects: u32,
}

impl NodesSink<'_> {
    fn say(&self, line: &str) {
        self.live.borrow().sink.progress.println(line);
    }
}

impl FlowSink for NodesSink<'_> {
    fn event(&mut self, event: &SourceEvent, at: At<'_>, hint: EndpointHint) -> ControlFlow<()> {
        self.live.borrow_mut().sink.event(event, at, hint)
    }

    fn rejected(&mut self, at: At<'_>, rejection: &Rejection) -> ControlFlow<()> {
        self.live.borrow_mut().sink.rejected(at, rejection)
    }

    fn response(&mut self, response: &GetFlowsResponse) -> ControlFlow<()> {
        self.live.borrow_mut().sink.response(response)
    }

    fn status(&mut self, status: &StreamStatus) -> ControlFlow<()> {
        match status {
            StreamStatus::Connected => {
                self.peer_connects += 1;
                if self.peer_connects > 1 {
                    self.say("observe: peer service stream reopened; reconciling the nodes");
                }
            }
            StreamStatus::Reconnecting {
                attempt,
                delay,
                error,
            } => self.say(&format!(
                "observe: peer service stream interrupted: {error}; reconnecting in {:.1}s (attempt {attempt}); the nodes' streams go on",
                delay.as_secs_f64()
            )),
        }
        ControlFlow::Continue(())
    }

    fn node_state(&mut self, node: &str, state: &NodeState) -> ControlFlow<()> {
        let line = match state {
            NodeState::Connecting => format!("observe: node {node}: connecting"),
            NodeState::Streaming => format!("observe: node {node}: streaming"),
            NodeState::Reconnecting {
                attempt,
                delay,
                error,
            } => format!(
                "observe: node {node}: stream interrupted: {error}; reconnecting in {:.1}s (attempt {attempt})",
                delay.as_secs_f64()
            ),
            NodeState::Removed => format!(
                "observe: node {node} removed by the peer service; its flows so far stay in the baseline"
            ),
            NodeState::Ended => format!("observe: node {node}: --until reached"),
            NodeState::Failed(e) => format!(
                "warning: node {node}: {e}; its flows are missing until the peer service updates it"
            ),
        };
        self.say(&line);
        ControlFlow::Continue(())
    }
}
