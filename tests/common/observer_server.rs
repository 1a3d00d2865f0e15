//! An in-process Hubble Observer (relay) server for tests, on 127.0.0.1:0
//! ([`start`]) or on a Unix socket ([`start_unix`], the agent's form).
//!
//! It holds a time-ordered buffer of `GetFlowsResponse`s (built in the test
//! or read from a jsonpb dump with [`load_dump`]) and answers
//! `GetFlows` the way Hubble does:
//! - `since` set: every buffered response with time >= since (inclusive),
//!   regardless of `number`;
//! - else `first`: the oldest `number`; else `number > 0`: the newest
//!   `number` (`u64::MAX` = all); else (`number == 0`) the newest 20, or
//!   nothing when following;
//! - `until`: the first response after it ends the stream (Hubble's EOF);
//! - `follow`: after the buffer, responses [`RunningServer::push`]ed later
//!   are streamed too, and the stream stays open.
//!
//! Faults: `cut_every = Some(n)` ends each stream after n responses, with an
//! `UNAVAILABLE` status ([`Cut::Error`]) or a clean end of stream
//! ([`Cut::End`]). Every request is recorded for assertions.

use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use flowpolicy::proto::observer::get_flows_response::ResponseTypes;
use flowpolicy::proto::observer::observer_server::{Observer, ObserverServer};
use flowpolicy::proto::observer::{
    GetFlowsRequest, GetFlowsResponse, ServerStatusRequest, ServerStatusResponse,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::transport::{Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

/// How a stream is cut after `cut_every` responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Send an `UNAVAILABLE` status.
    Error,
    /// End the stream cleanly (a follow stream should never end).
    End,
}

/// What the server serves and how it misbehaves.
pub struct ServerOptions {
    pub responses: Vec<GetFlowsResponse>,
    pub cut_every: Option<usize>,
    pub cut: Cut,
    pub status: ServerStatusResponse,
    pub tls: Option<ServerTlsConfig>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            responses: Vec::new(),
            cut_every: None,
            cut: Cut::Error,
            status: ServerStatusResponse::default(),
            tls: None,
        }
    }
}

struct Shared {
    buffer: watch::Sender<Vec<GetFlowsResponse>>,
    cut_every: Option<usize>,
    cut: Cut,
    status: ServerStatusResponse,
    requests: Mutex<Vec<GetFlowsRequest>>,
    streams: AtomicUsize,
}

#[derive(Clone)]
struct FakeObserver(Arc<Shared>);

/// A running server; stops when dropped.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// The socket path, for a server started with [`start_unix`].
    pub unix: Option<std::path::PathBuf>,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// `127.0.0.1:port` (`unix:///path` for a socket), for
    /// `RelayConfig::server`.
    pub fn address(&self) -> String {
        match &self.unix {
            Some(path) => format!("unix://{}", path.display()),
            None => self.addr.to_string(),
        }
    }

    /// Appends a response to the buffer (and to every following stream).
    pub fn push(&self, resp: GetFlowsResponse) {
        self.shared.buffer.send_modify(|buf| buf.push(resp));
    }

    /// Every `GetFlows` request received so far.
    pub fn requests(&self) -> Vec<GetFlowsRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Number of `GetFlows` streams opened.
    pub fn streams(&self) -> usize {
        self.shared.streams.load(Ordering::SeqCst)
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts a server on 127.0.0.1 with a free port.
pub async fn start(opts: ServerOptions) -> RunningServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (conn_tx, conn_rx) = mpsc::channel(8);
    let accept = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let _ = socket.set_nodelay(true);
            if conn_tx.send(Ok::<_, std::io::Error>(socket)).await.is_err() {
                break;
            }
        }
    });
    let mut server = serve(opts, ReceiverStream::new(conn_rx));
    server.addr = addr;
    server.tasks.push(accept);
    server
}

/// Starts a (plaintext) server on a Unix socket at `path`, as the Cilium
/// agent serves Hubble on `/var/run/cilium/hubble.sock`.
pub async fn start_unix(opts: ServerOptions, path: &Path) -> RunningServer {
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
    let mut server = serve(opts, incoming);
    server.unix = Some(path.to_path_buf());
    server
}

/// Serves the fake Observer on the connections of `incoming`.
fn serve<IO, IE>(
    opts: ServerOptions,
    incoming: impl Stream<Item = Result<IO, IE>> + Send + 'static,
) -> RunningServer
where
    IO: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + tonic::transport::server::Connected
        + Unpin
        + Send
        + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut responses = opts.responses;
    responses.sort_by_key(time_of);
    let shared = Arc::new(Shared {
        buffer: watch::Sender::new(responses),
        cut_every: opts.cut_every,
        cut: opts.cut,
        status: opts.status,
        requests: Mutex::new(Vec::new()),
        streams: AtomicUsize::new(0),
    });

    let mut builder = Server::builder();
    if let Some(tls) = opts.tls {
        builder = builder.tls_config(tls).unwrap();
    }
    let service = ObserverServer::new(FakeObserver(shared.clone()));
    let (stop, stopped) = oneshot::channel::<()>();
    let serve = tokio::spawn(async move {
        let _ = builder
            .serve_with_incoming_shutdown(service, incoming, async {
                let _ = stopped.await;
            })
            .await;
    });
    RunningServer {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        unix: None,
        shared,
        stop: Some(stop),
        tasks: vec![serve],
    }
}

/// Reads a `hubble observe -o jsonpb` dump (one `GetFlowsResponse` a line).
pub fn load_dump(path: &Path) -> Vec<GetFlowsResponse> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Response time as (seconds, nanos): the envelope time, else the flow's.
pub fn time_of(resp: &GetFlowsResponse) -> (i64, i32) {
    let flow_time = match &resp.response_types {
        Some(ResponseTypes::Flow(f)) => f.time.as_ref(),
        _ => None,
    };
    resp.time
        .as_ref()
        .or(flow_time)
        .map_or((0, 0), |t| (t.seconds, t.nanos))
}

fn ts_key(ts: &Option<pbjson_types::Timestamp>) -> Option<(i64, i32)> {
    ts.as_ref().map(|t| (t.seconds, t.nanos))
}

type FlowStream = Pin<Box<dyn Stream<Item = Result<GetFlowsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Observer for FakeObserver {
    type GetFlowsStream = FlowStream;

    async fn get_flows(
        &self,
        request: Request<GetFlowsRequest>,
    ) -> Result<Response<FlowStream>, Status> {
        let req = request.into_inner();
        let shared = self.0.clone();
        shared.requests.lock().unwrap().push(req.clone());
        shared.streams.fetch_add(1, Ordering::SeqCst);

        let since = ts_key(&req.since);
        let until = ts_key(&req.until);
        let mut buffer = shared.buffer.subscribe();
        let len = buffer.borrow_and_update().len();
        let (start, limit) = if let Some(since) = since {
            let start = buffer
                .borrow()
                .iter()
                .take_while(|r| time_of(r) < since)
                .count();
            (start, None)
        } else if req.first {
            (0, Some(req.number))
        } else if req.number > 0 {
            (
                len - len.min(usize::try_from(req.number).unwrap_or(usize::MAX)),
                None,
            )
        } else if req.follow {
            (len, None)
        } else {
            (len - len.min(20), None)
        };

        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut next = start;
            let mut sent = 0u64;
            loop {
                let pending: Vec<GetFlowsResponse> = buffer.borrow_and_update()[next..].to_vec();
                next += pending.len();
                for resp in pending {
                    // Like Hubble: the first event after `until` ends the
                    // stream (lost events are exempt from time ranges).
                    let lost = matches!(resp.response_types, Some(ResponseTypes::LostEvents(_)));
                    if !lost && until.is_some_and(|u| time_of(&resp) > u) {
                        return;
                    }
                    if tx.send(Ok(resp)).await.is_err() {
                        return;
                    }
                    sent += 1;
                    if limit == Some(sent) {
                        return;
                    }
                    if shared
                        .cut_every
                        .is_some_and(|n| sent.is_multiple_of(n as u64))
                    {
                        if shared.cut == Cut::Error {
                            let _ = tx.send(Err(Status::unavailable("test server cut"))).await;
                        }
                        return;
                    }
                }
                if !req.follow {
                    return;
                }
                tokio::select! {
                    changed = buffer.changed() => if changed.is_err() { return },
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn server_status(
        &self,
        _request: Request<ServerStatusRequest>,
    ) -> Result<Response<ServerStatusResponse>, Status> {
        Ok(Response::new(self.0.status.clone()))
    }
}
