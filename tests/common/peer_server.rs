//! An in-process Hubble peer service for the fan-out tests: `Notify`
//! first sends every node it knows as PEER_ADDED, then each change as the
//! test makes it ([`PeerService::add`], [`PeerService::delete`],
//! [`PeerService::update`]); [`PeerService::cut`] ends every open stream
//! (the client reconnects and is told the whole set again).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use flowpolicy::proto::peer::peer_server::{Peer, PeerServer};
use flowpolicy::proto::peer::{ChangeNotification, ChangeNotificationType, NotifyRequest, Tls};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::{TcpListenerStream, UnboundedReceiverStream};
use tokio_stream::Stream;
use tonic::transport::Server;
use tonic::{Request, Response, Status};

type Sender = mpsc::UnboundedSender<Result<ChangeNotification, Status>>;

#[derive(Default)]
struct State {
    nodes: BTreeMap<String, ChangeNotification>,
    streams: Vec<Sender>,
}

#[derive(Clone, Default)]
struct Shared {
    state: Arc<Mutex<State>>,
    calls: Arc<AtomicUsize>,
}

/// A running peer service; stops when dropped.
pub struct PeerService {
    pub addr: SocketAddr,
    shared: Shared,
    stop: Option<oneshot::Sender<()>>,
}

fn note(
    name: &str,
    address: &str,
    tls: Option<&str>,
    kind: ChangeNotificationType,
) -> ChangeNotification {
    ChangeNotification {
        name: name.into(),
        address: address.into(),
        r#type: kind as i32,
        tls: tls.map(|n| Tls {
            server_name: n.into(),
        }),
    }
}

impl PeerService {
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    fn publish(&self, n: ChangeNotification) {
        let mut st = self.shared.state.lock().unwrap();
        st.streams.retain(|s| s.send(Ok(n.clone())).is_ok());
    }

    /// A node joins (PEER_ADDED).
    pub fn add(&self, name: &str, address: &str, tls: Option<&str>) {
        let n = note(name, address, tls, ChangeNotificationType::PeerAdded);
        self.shared
            .state
            .lock()
            .unwrap()
            .nodes
            .insert(name.into(), n.clone());
        self.publish(n);
    }

    /// A node's server moved (PEER_UPDATED).
    pub fn update(&self, name: &str, address: &str, tls: Option<&str>) {
        let added = note(name, address, tls, ChangeNotificationType::PeerAdded);
        self.shared
            .state
            .lock()
            .unwrap()
            .nodes
            .insert(name.into(), added);
        self.publish(note(
            name,
            address,
            tls,
            ChangeNotificationType::PeerUpdated,
        ));
    }

    /// A node leaves (PEER_DELETED).
    pub fn delete(&self, name: &str) {
        self.shared.state.lock().unwrap().nodes.remove(name);
        self.publish(note(name, "", None, ChangeNotificationType::PeerDeleted));
    }

    /// Ends every open `Notify` stream.
    pub fn cut(&self) {
        self.shared.state.lock().unwrap().streams.clear();
    }

    /// `Notify` calls received.
    pub fn calls(&self) -> usize {
        self.shared.calls.load(Ordering::SeqCst)
    }
}

impl Drop for PeerService {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the peer service on 127.0.0.1 with a free port.
pub async fn start() -> PeerService {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shared = Shared::default();
    let service = PeerServer::new(shared.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = Server::builder()
            .serve_with_incoming_shutdown(service, TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            })
            .await;
    });
    PeerService {
        addr,
        shared,
        stop: Some(stop),
    }
}

type Notes = Pin<Box<dyn Stream<Item = Result<ChangeNotification, Status>> + Send>>;

#[tonic::async_trait]
impl Peer for Shared {
    type NotifyStream = Notes;

    async fn notify(&self, _: Request<NotifyRequest>) -> Result<Response<Notes>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = mpsc::unbounded_channel();
        let mut st = self.state.lock().unwrap();
        for n in st.nodes.values() {
            let _ = tx.send(Ok(n.clone()));
        }
        st.streams.push(tx);
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }
}
