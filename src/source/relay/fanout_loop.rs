//! The fan-out's driver ([`Fanout::run`]): follows the peer service (on a
//! task of its own) and polls every node's follow loop together on the
//! caller's task, each loop pushing its responses straight into the merge;
//! a timer lets the merge pass over silent nodes and calls the caller's
//! tick (progress, checkpoints). Stops on shutdown, the deadline, the
//! sink's `Break` or, with `--until`, when every node reached it; what the
//! merge still holds is handed on before it returns.

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::error::RelayError;
use super::fanout::{node_loop, Core, Fanout, Release};
use super::follow::FollowEnd;
use super::peers::watch_peers;
use crate::source::sink::FlowSink;

impl Fanout {
    /// Follows the peer service and every node it announces into `sink`
    /// until `shutdown` completes, the deadline passes, the sink stops, or
    /// (with `--until`) every node reached it. Only the first connection
    /// to the peer service failing is an error; everything held in the
    /// merge is handed on before this returns.
    pub async fn run<S: FlowSink>(
        &mut self,
        sink: &mut S,
        shutdown: impl Future<Output = ()>,
        mut on_tick: impl FnMut(&mut S, &Fanout),
    ) -> Result<FollowEnd, RelayError> {
        let (tx, mut peer_rx) = mpsc::unbounded_channel();
        let watcher = watch_peers(self.peer_cfg.clone(), self.opts.backoff, tx);
        let deadline = self.opts.deadline.map(|d| Instant::now() + d);
        let tick = self.opts.tick;
        let core = RefCell::new(Core { fan: self, sink });
        let mut running = FuturesUnordered::new();
        tokio::pin!(shutdown);
        let expired = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expired);
        let mut every = tokio::time::interval(tick.min(Duration::from_millis(100)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_tick = Instant::now();
        let outcome = loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break Ok(FollowEnd::Shutdown),
                _ = &mut expired => break Ok(FollowEnd::Deadline),
                event = peer_rx.recv() => {
                    let event = match event {
                        Some(Ok(event)) => event,
                        Some(Err(e)) => break Err(e),
                        None => break Err(RelayError::PeerService {
                            server: core.borrow().fan.peer_cfg.server.clone(),
                            detail: "the peer service client stopped".into(),
                        }),
                    };
                    for start in core.borrow_mut().on_peer(event) {
                        running.push(node_loop(&core, start));
                    }
                }
                Some((idx, generation, result)) = running.next(), if !running.is_empty() => {
                    core.borrow_mut().on_end(idx, generation, result);
                }
                _ = every.tick() => {
                    let mut c = core.borrow_mut();
                    let Core { fan, sink } = &mut *c;
                    let _ = fan.release(*sink, Release::PastSilent);
                    if last_tick.elapsed() >= tick {
                        last_tick = Instant::now();
                        on_tick(sink, fan);
                    }
                }
            }
            let c = core.borrow();
            if c.fan.sink_stopped {
                break Ok(FollowEnd::SinkStopped);
            }
            if c.fan.until_reached() {
                break Ok(FollowEnd::UntilReached);
            }
        };
        drop(running);
        watcher.abort();
        let Core { fan, sink } = core.into_inner();
        fan.forget_loops();
        let _ = fan.release(sink, Release::All);
        outcome
    }
}
