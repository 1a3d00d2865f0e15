//! The follow loop: drain the relays' buffers, follow live flows, and on any
//! stream error or end reconnect with backoff, resuming from the last flow
//! time so nothing is missed and nothing is delivered twice.

use std::future::Future;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::proto::observer::get_flows_response::ResponseTypes;

use super::backoff::Backoff;
use super::config::RelayConfig;
use super::connect::connect;
use super::endpoints::Received;
use super::endpoints::Recycler;
use super::error::RelayError;
use super::request::flows_request;
use super::resume::{FlowTime, ResumeState};
use super::wire;

/// What the follow loop hands to its sink.
// Nearly every event is a `Response`; boxing it would add an allocation per
// flow to save space only in the rare small variants.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum RelayEvent {
    /// A stream is open (sent on the first connection and every reconnect).
    Connected,
    /// A response as the relay sent it, with its fingerprint: a flow (never
    /// one already delivered), a `lost_events` or a `node_status`.
    Response(Received),
    /// The stream failed; the loop waits `delay` and then makes retry number
    /// `attempt` (consecutive failures without a new flow in between).
    Reconnecting {
        attempt: u32,
        delay: Duration,
        error: String,
    },
}

/// How long and how persistently to follow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FollowOptions {
    /// Reconnect delays.
    pub backoff: Backoff,
    /// Stop after this long (wall time from the call).
    pub deadline: Option<Duration>,
    /// Give up (returning the last error) after this many consecutive
    /// failures; None retries forever.
    pub max_attempts: Option<u32>,
    /// Deliver flows without the fields nothing after the door reads
    /// (`uuid`, `ethernet`, `node_labels`, `Summary`): faster, for a sink
    /// that does not write responses out.
    pub slim: bool,
    /// Where the sink gives flows' endpoints back for reuse (see
    /// [`Received::endpoint_ids`]).
    pub recycler: Option<Recycler>,
    /// Set by the sink to stop reading until it is cleared (the fan-out's
    /// merge holding enough of this stream): the loop yields after the
    /// response that set it, so its owner can stop polling it.
    pub pause: Option<Pause>,
}

/// A flag a sink raises to pause the stream that feeds it (see
/// [`FollowOptions::pause`]).
#[derive(Debug, Clone, Default)]
pub struct Pause(Arc<AtomicBool>);

impl Pause {
    pub fn set(&self, paused: bool) {
        self.0.store(paused, Ordering::Relaxed);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl PartialEq for Pause {
    /// The same flag, shared.
    fn eq(&self, other: &Pause) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Why the loop stopped without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowEnd {
    /// The sink returned `ControlFlow::Break`.
    SinkStopped,
    /// The shutdown future completed.
    Shutdown,
    /// `FollowOptions::deadline` passed.
    Deadline,
    /// A flow newer than `--until` arrived, or the relay ended the stream
    /// after `--until` passed.
    UntilReached,
}

/// The outcome of [`follow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowSummary {
    pub end: FollowEnd,
    /// Streams reopened after a failure (successful reconnections).
    pub reconnects: u32,
    /// Failed attempts that were retried (each a `Reconnecting` event).
    pub retries: u32,
    /// Responses handed to the sink (flows, lost events, node status).
    pub delivered: u64,
}

/// How one connection ended.
enum Session {
    Stopped,
    UntilReached,
    Broken { error: RelayError, progressed: bool },
}

/// Follows the relay until the sink breaks, `shutdown` completes, the
/// deadline or `--until` passes, or a non-retryable error (bad settings,
/// certificate problem, refused call) occurs.
///
/// `resume` is read for the first request and updated with every flow, so
/// it is current even when this returns an error; persist it to continue
/// later. Shutdown and deadline are honoured promptly, also mid-stream and
/// during a backoff wait.
pub async fn follow<F, S>(
    cfg: &RelayConfig,
    opts: &FollowOptions,
    resume: &mut ResumeState,
    mut sink: F,
    shutdown: S,
) -> Result<FollowSummary, RelayError>
where
    F: FnMut(RelayEvent) -> ControlFlow<()>,
    S: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    let deadline = opts.deadline.map(|d| Instant::now() + d);
    let expired = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expired);

    let mut summary = FollowSummary {
        end: FollowEnd::SinkStopped,
        reconnects: 0,
        retries: 0,
        delivered: 0,
    };
    let mut attempt = 0u32;
    let mut opened = 0u32;
    loop {
        let session = tokio::select! {
            biased;
            _ = &mut shutdown => return Ok(FollowSummary { end: FollowEnd::Shutdown, ..summary }),
            _ = &mut expired => return Ok(FollowSummary { end: FollowEnd::Deadline, ..summary }),
            s = run_session(cfg, opts, resume, &mut sink, &mut summary, &mut opened) => s,
        };
        let (error, progressed) = match session {
            Session::Stopped => return Ok(summary),
            Session::UntilReached => {
                return Ok(FollowSummary {
                    end: FollowEnd::UntilReached,
                    ..summary
                })
            }
            Session::Broken { error, progressed } => (error, progressed),
        };
        if !error.is_retryable() {
            return Err(error);
        }
        attempt = if progressed { 1 } else { attempt + 1 };
        if opts.max_attempts.is_some_and(|max| attempt > max) {
            return Err(error);
        }
        let delay = opts.backoff.delay(attempt);
        summary.retries += 1;
        let event = RelayEvent::Reconnecting {
            attempt,
            delay,
            error: error.to_string(),
        };
        if sink(event).is_break() {
            return Ok(summary);
        }
        tokio::select! {
            biased;
            _ = &mut shutdown => return Ok(FollowSummary { end: FollowEnd::Shutdown, ..summary }),
            _ = &mut expired => return Ok(FollowSummary { end: FollowEnd::Deadline, ..summary }),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// One connection: connect, open the stream, pass responses through the
/// resume filter to the sink until something ends it.
async fn run_session<F>(
    cfg: &RelayConfig,
    opts: &FollowOptions,
    resume: &mut ResumeState,
    sink: &mut F,
    summary: &mut FollowSummary,
    streams_opened: &mut u32,
) -> Session
where
    F: FnMut(RelayEvent) -> ControlFlow<()>,
{
    let broken = |error, progressed| Session::Broken { error, progressed };
    let conn = match connect(cfg).await {
        Ok(conn) => conn,
        Err(error) => return broken(error, false),
    };
    let request = flows_request(cfg, resume);
    let call = wire::get_flows(
        conn.channel.clone(),
        request,
        opts.slim,
        opts.recycler.clone(),
    );
    let opened = tokio::time::timeout(cfg.timeout, call).await;
    let mut stream = match opened {
        Err(_) => return broken(conn.errors().timeout(), false),
        Ok(Err(status)) => return broken(conn.opening_error(&status).await, false),
        Ok(Ok(response)) => response.into_inner(),
    };
    *streams_opened += 1;
    if *streams_opened > 1 {
        summary.reconnects += 1;
    }
    if sink(RelayEvent::Connected).is_break() {
        return Session::Stopped;
    }
    let until = cfg.until.map(FlowTime::from);
    let mut progressed = false;
    loop {
        let received = match stream.message().await {
            Ok(Some(received)) => received,
            Ok(None) => {
                if cfg.until.is_some_and(|u| chrono::Utc::now() > u) {
                    return Session::UntilReached;
                }
                let error = RelayError::Stream {
                    role: cfg.role,
                    server: conn.target.authority.clone(),
                    detail: format!("{} ended the stream", cfg.role.short()),
                };
                return broken(error, progressed);
            }
            Err(status) => return broken(conn.errors().status_error(&status), progressed),
        };
        let resp = &received.response;
        let is_flow = matches!(resp.response_types, Some(ResponseTypes::Flow(_)));
        // Only flow times count: a relay's node status carries its own clock.
        if is_flow && until.is_some() && FlowTime::of(resp) > until {
            return Session::UntilReached;
        }
        if !resume.admit(&received) {
            continue;
        }
        progressed |= is_flow;
        summary.delivered += 1;
        if sink(RelayEvent::Response(received)).is_break() {
            return Session::Stopped;
        }
        // While responses keep arriving, reading the next never waits: give
        // the caller the turn so a paused stream stops here.
        if opts.pause.as_ref().is_some_and(Pause::is_set) {
            tokio::task::yield_now().await;
        }
    }
}
