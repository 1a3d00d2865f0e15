//! The fan-out rows of the replay benchmark (`fanout-1`, `fanout-4`,
//! `fanout-8`): the live row's flows split by node over K local
//! Observers (pre-encoded, as in [`super::live`]), announced by a
//! peer service stand-in, followed with `observe --peer-service`'s
//! [`Fanout`] — K follow loops, the time-ordered merge, a door per node —
//! into the same graph builder. Compared with the live row (one relay-like
//! server) they show what the merge and the extra streams cost on the same
//! machine. Each node's stream ends with a flow past `--until`, so a node
//! that is done is not waited for; the clock starts at the first flow (the
//! peer service's settling time before the merge releases is left out).
//! The servers run in a process of their own ([`super::servers`]): the
//! row's peak RSS and CPU are the client's.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowpolicy::graph::builder::GraphBuilder;
use flowpolicy::interpret::InterpretConfig;
use flowpolicy::proto::flow::Flow;
use flowpolicy::proto::observer::get_flows_response::ResponseTypes;
use flowpolicy::proto::observer::GetFlowsResponse;
use flowpolicy::proto::peer::peer_server::{Peer, PeerServer};
use flowpolicy::proto::peer::{ChangeNotification, ChangeNotificationType, NotifyRequest};
use flowpolicy::source::event::{EndpointHint, SourceEvent};
use flowpolicy::source::relay::{Fanout, FanoutOptions, RelayConfig, ResumeState};
use flowpolicy::source::sink::{At, FlowSink};
use flowpolicy::source::validate::Rejection;
use prost::Message;
use tokio_stream::Stream;

use super::live::{decoded, serve, PreEncoded};

/// A peer service announcing a fixed set of nodes (then staying quiet).
#[derive(Clone)]
struct Announce(Arc<Vec<ChangeNotification>>);

type Notes = Pin<Box<dyn Stream<Item = Result<ChangeNotification, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl Peer for Announce {
    type NotifyStream = Notes;
    async fn notify(
        &self,
        _: tonic::Request<NotifyRequest>,
    ) -> Result<tonic::Response<Notes>, tonic::Status> {
        let all: Vec<_> = self.0.iter().cloned().map(Ok).collect();
        let stream =
            tokio_stream::StreamExt::chain(tokio_stream::iter(all), tokio_stream::pending());
        Ok(tonic::Response::new(Box::pin(stream)))
    }
}

fn time_of(r: &GetFlowsResponse) -> (i64, i32) {
    r.time.as_ref().map_or((0, 0), |t| (t.seconds, t.nanos))
}

/// An encoded response with its time.
type Timed = ((i64, i32), PreEncoded);

/// The server side of a fan-out row: `nodes` Observers, each streaming its
/// share of the generated nodes' flows, and the peer service announcing
/// them. Gives the peer service's address, the flows in all, and the
/// newest flow's time.
pub fn serve_nodes(
    rt: &tokio::runtime::Runtime,
    dump: &Path,
    nodes: usize,
) -> (String, u64, (i64, i32)) {
    // The responses by node, each node's stream in its own order, each
    // ending with a flow past `until`.
    let mut by_node: BTreeMap<String, Vec<Timed>> = BTreeMap::new();
    let mut last = (0, 0);
    let mut wanted = 0u64;
    for r in decoded(dump) {
        let t = time_of(&r);
        last = last.max(t);
        wanted += 1;
        let encoded = PreEncoded(r.encode_to_vec().into());
        by_node.entry(r.node_name).or_default().push((t, encoded));
    }
    // K servers, each serving several of the generated nodes, in time order.
    let mut groups: Vec<Vec<Timed>> = vec![Vec::new(); nodes];
    for (i, (_, rs)) in by_node.into_iter().enumerate() {
        groups[i % nodes].extend(rs);
    }
    let groups: Vec<Vec<PreEncoded>> = groups
        .into_iter()
        .map(|mut g| {
            g.sort_by_key(|(t, _)| *t);
            g.into_iter().map(|(_, r)| r).collect()
        })
        .collect();
    let past = pbjson_types::Timestamp {
        seconds: last.0 + 1,
        nanos: last.1,
    };
    let sentinel = GetFlowsResponse {
        response_types: Some(ResponseTypes::Flow(Flow {
            time: Some(past),
            ..Flow::default()
        })),
        node_name: String::new(),
        time: Some(past),
    };
    let mut notes = Vec::new();
    for (i, mut group) in groups.into_iter().enumerate() {
        group.push(PreEncoded(sentinel.encode_to_vec().into()));
        let addr = serve(rt, group);
        notes.push(ChangeNotification {
            name: format!("bench-node-{i}"),
            address: addr.to_string(),
            r#type: ChangeNotificationType::PeerAdded as i32,
            tls: None,
        });
    }
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let peer = listener.local_addr().unwrap().to_string();
    rt.spawn(tonic::transport::Server::builder().serve_with_incoming(
        PeerServer::new(Announce(Arc::new(notes))),
        tokio_stream::wrappers::TcpListenerStream::new(listener),
    ));
    (peer, wanted, last)
}

pub fn run(dump: &Path, nodes: usize) -> super::Row {
    let servers = super::servers::start(&format!("fanout-{nodes}"), dump);
    let (peer, wanted, last) = (servers.addr.clone(), servers.wanted, servers.last);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    struct Counted {
        builder: GraphBuilder,
        flows: u64,
        rejected: u64,
        first: Option<Instant>,
    }
    impl FlowSink for Counted {
        fn event(&mut self, e: &SourceEvent, at: At<'_>, hint: EndpointHint) -> ControlFlow<()> {
            if matches!(e, SourceEvent::Flow(_)) {
                self.flows += 1;
                self.first.get_or_insert_with(Instant::now);
            }
            self.builder.event(e, at, hint)
        }
        fn rejected(&mut self, _: At<'_>, _: &Rejection) -> ControlFlow<()> {
            self.flows += 1;
            self.rejected += 1;
            ControlFlow::Continue(())
        }
    }
    let mut sink = Counted {
        builder: GraphBuilder::new(InterpretConfig::default()),
        flows: 0,
        rejected: 0,
        first: None,
    };
    let until = chrono::DateTime::from_timestamp(last.0, last.1 as u32).unwrap();
    let cfg = RelayConfig {
        until: Some(until),
        ..RelayConfig::default()
    };
    let opts = FanoutOptions {
        deadline: Some(Duration::from_secs(600)),
        ..FanoutOptions::default()
    };
    let mut fan = Fanout::new(cfg, &peer, opts, BTreeMap::new(), ResumeState::default()).unwrap();
    let cpu0 = super::cpu_seconds("self");
    let end = rt
        .block_on(fan.run(&mut sink, std::future::pending(), |_, _| {}))
        .unwrap();
    let seconds = sink.first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let cpu = super::cpu_seconds("self") - cpu0;
    assert_eq!(sink.rejected, 0);
    assert_eq!(sink.flows, wanted, "{end:?}");
    // Flows a node sent after newer ones had passed (it was silent for
    // longer than the merge waits: a starved stream on a busy machine).
    let late: u64 = fan.nodes().map(|n| n.late).sum();
    if late > 0 {
        eprintln!("fanout-{nodes}: {late} flows out of time order");
    }
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
