//! The live path of the replay benchmark: `observe`'s client side against
//! a local Observer that streams responses encoded once, up front
//! (its codec writes their bytes as they are), so the numbers measure
//! flowpolicy — tonic client, prost decoding, the follow loop's resume
//! bookkeeping, the door check, interpretation and the graph — not the
//! test server. The server runs in a process of its own
//! ([`super::servers`]): the row's peak RSS and CPU are the client's.

use std::convert::Infallible;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use flowpolicy::graph::builder::GraphBuilder;
use flowpolicy::interpret::InterpretConfig;
use flowpolicy::proto::observer::{GetFlowsRequest, GetFlowsResponse};
use flowpolicy::source::event::{EndpointHint, SourceEvent};
use flowpolicy::source::relay::{
    self, FollowOptions, NodePoints, RelayConfig, ResumeState, StreamDoor,
};
use flowpolicy::source::sink::{At, FlowSink};
use flowpolicy::source::validate::Rejection;
use prost::bytes::{Buf, BufMut};
use prost::Message;
use tonic::codegen::{http, BoxFuture, Service};

/// At most this many responses are streamed (they are held encoded in memory).
const MAX_FLOWS: usize = 200_000;

/// A response already encoded: written out verbatim.
#[derive(Debug, Default, Clone)]
pub struct PreEncoded(pub Arc<[u8]>);

impl Message for PreEncoded {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }
    fn encoded_len(&self) -> usize {
        self.0.len()
    }
    fn clear(&mut self) {}
}

type Stream = tokio_stream::Iter<std::vec::IntoIter<Result<PreEncoded, tonic::Status>>>;

/// `GetFlows` streams every response, whatever the request.
#[derive(Clone)]
pub struct Flows(pub Arc<Vec<PreEncoded>>);

impl tonic::server::ServerStreamingService<GetFlowsRequest> for Flows {
    type Response = PreEncoded;
    type ResponseStream = Stream;
    type Future = BoxFuture<tonic::Response<Stream>, tonic::Status>;
    fn call(&mut self, _: tonic::Request<GetFlowsRequest>) -> Self::Future {
        let all: Vec<_> = self.0.iter().cloned().map(Ok).collect();
        Box::pin(async move { Ok(tonic::Response::new(tokio_stream::iter(all))) })
    }
}

impl<B> Service<http::Request<B>> for Flows
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let me = self.clone();
        Box::pin(async move {
            let codec = tonic_prost::ProstCodec::<PreEncoded, GetFlowsRequest>::default();
            Ok(tonic::server::Grpc::new(codec)
                .server_streaming(me, req)
                .await)
        })
    }
}

impl tonic::server::NamedService for Flows {
    const NAME: &'static str = "observer.Observer";
}

/// The dump's flow lines as encoded responses (at most [`MAX_FLOWS`]).
fn responses(dump: &Path) -> Vec<PreEncoded> {
    decoded(dump)
        .map(|resp| PreEncoded(resp.encode_to_vec().into()))
        .collect()
}

/// The dump's first [`MAX_FLOWS`] responses.
pub fn decoded(dump: &Path) -> impl Iterator<Item = GetFlowsResponse> {
    use std::io::BufRead;
    let file = std::io::BufReader::new(std::fs::File::open(dump).unwrap());
    file.split(b'\n')
        .map(Result::unwrap)
        .filter(|l| !l.is_empty())
        .take(MAX_FLOWS)
        .map(|line| serde_json::from_slice(&line).unwrap())
}

/// Serves `all` on 127.0.0.1 (a free port) in `rt`; returns the address.
pub fn serve(rt: &tokio::runtime::Runtime, all: Vec<PreEncoded>) -> std::net::SocketAddr {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (conn_tx, conn_rx) = tokio::sync::mpsc::channel(8);
    rt.spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let _ = socket.set_nodelay(true);
            if conn_tx.send(Ok::<_, std::io::Error>(socket)).await.is_err() {
                break;
            }
        }
    });
    let server = tonic::transport::Server::builder().serve_with_incoming(
        Flows(Arc::new(all)),
        tokio_stream::wrappers::ReceiverStream::new(conn_rx),
    );
    rt.spawn(server);
    addr
}

/// The server side of the live row: one Observer streaming the dump's
/// first responses. Gives its address, the flows it streams, and no time.
pub fn serve_all(rt: &tokio::runtime::Runtime, dump: &Path) -> (String, u64, (i64, i32)) {
    let all = responses(dump);
    let wanted = all.len() as u64;
    (serve(rt, all).to_string(), wanted, (0, 0))
}

pub fn run(dump: &Path) -> super::Row {
    let servers = super::servers::start("live", dump);
    let wanted = servers.wanted;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cfg = RelayConfig {
        server: servers.addr.clone(),
        ..RelayConfig::default()
    };
    // What `observe` does with each response: the stream's door, then the
    // graph builder (src/cli/observe/live.rs), stopping after `wanted` flows.
    struct Counted {
        builder: GraphBuilder,
        flows: u64,
        rejected: u64,
        wanted: u64,
    }
    impl FlowSink for Counted {
        fn event(&mut self, e: &SourceEvent, at: At<'_>, hint: EndpointHint) -> ControlFlow<()> {
            if matches!(e, SourceEvent::Flow(_)) {
                self.flows += 1;
            }
            let _ = self.builder.event(e, at, hint);
            self.done()
        }
        fn rejected(&mut self, _: At<'_>, _: &Rejection) -> ControlFlow<()> {
            self.flows += 1;
            self.rejected += 1;
            self.done()
        }
    }
    impl Counted {
        fn done(&self) -> ControlFlow<()> {
            if self.flows >= self.wanted {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    }
    let mut sink = Counted {
        builder: GraphBuilder::new(InterpretConfig::default()),
        flows: 0,
        rejected: 0,
        wanted,
    };
    let start = Instant::now();
    let cpu0 = super::cpu_seconds("self");
    rt.block_on(async {
        let opts = FollowOptions {
            deadline: Some(Duration::from_secs(600)),
            slim: true,
            ..FollowOptions::default()
        };
        // As `observe` through a relay: each node's point kept.
        let mut door = StreamDoor::through_relay(ResumeState::default(), NodePoints::default());
        relay::follow_into(&cfg, &opts, &mut door, &mut sink, std::future::pending())
            .await
            .unwrap();
    });
    let seconds = start.elapsed().as_secs_f64();
    let cpu = super::cpu_seconds("self") - cpu0;
    assert_eq!(sink.rejected, 0);
    super::Row {
        flows: sink.flows,
        seconds,
        cpu,
        main_cpu: 0.0,
        edges: sink.builder.graph.edge_count(),
        policies: 0,
        synth: 0.0,
    }
}
