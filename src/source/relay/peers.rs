//! The peer service client (`--peer-service`): follows `peer.Peer/Notify`,
//! which lists every node's Hubble server and then reports each one added,
//! deleted or updated — how Hubble Relay itself finds the nodes.
//!
//! [`watch_peers`] runs on its own task and sends [`PeerEvent`]s: the
//! changes (addresses already normalized to `host:port`, port 4244 when
//! none is given), the state of its own stream, and after every reconnect a
//! [`PeerEvent::Synced`] with the nodes announced again, so the fan-out can
//! drop those that went away while the stream was down. The first
//! connection failing is an error (bad address, nothing there); later cuts
//! are retried with the follow loop's backoff, forever.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::config::RelayConfig;
use super::connect::connect;
use super::error::RelayError;
use crate::proto::peer::peer_client::PeerClient;
use crate::proto::peer::{ChangeNotification, ChangeNotificationType, NotifyRequest};

/// The port of a node's Hubble server when an address gives none.
pub const NODE_PORT: u16 = 4244;

/// How long after a reconnect the announcements of the known nodes are
/// awaited before the node set is reconciled.
const SETTLE: Duration = Duration::from_millis(500);

/// A node's Hubble server as the peer service announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddr {
    /// The node's name (`cluster/node` outside the default cluster).
    pub name: String,
    /// `host:port` (or `unix:path`), as `--server` takes it.
    pub server: String,
    /// The name the node's certificate carries; `None`: plaintext.
    pub tls_server_name: Option<String>,
}

/// One change to the node set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeChange {
    Added(NodeAddr),
    Deleted(String),
    Updated(NodeAddr),
}

/// What the peer watcher reports.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    /// The `Notify` stream is open (first time or again).
    Connected,
    Change(NodeChange),
    /// A notification that could not be used (named in the text).
    Ignored(String),
    /// The stream broke; retry `attempt` follows after `delay`.
    Reconnecting {
        attempt: u32,
        delay: Duration,
        error: String,
    },
    /// After a reconnect: the nodes announced again. Nodes not among them
    /// were deleted while the stream was down.
    Synced(BTreeSet<String>),
}

/// `address` of a notification as `host:port`: a bare host or IPv4 gets
/// port 4244, a bare IPv6 literal brackets and port 4244; `[v6]:port`,
/// `host:port` and `unix:` addresses are kept.
pub fn node_server(address: &str) -> Result<String, String> {
    let a = address.trim();
    if a.is_empty() {
        return Err("the address is empty".into());
    }
    if a.starts_with("unix:") {
        return Ok(a.to_string());
    }
    if let Ok(v6) = a.parse::<std::net::Ipv6Addr>() {
        return Ok(format!("[{v6}]:{NODE_PORT}"));
    }
    if a.starts_with('[') {
        return Ok(if a.ends_with(']') {
            format!("{a}:{NODE_PORT}")
        } else {
            a.to_string()
        });
    }
    if a.contains(':') {
        return Ok(a.to_string());
    }
    Ok(format!("{a}:{NODE_PORT}"))
}

/// A notification as a typed change.
pub fn change_of(n: &ChangeNotification) -> Result<NodeChange, String> {
    if n.name.is_empty() {
        return Err(format!(
            "a notification without a node name (address {:?})",
            n.address
        ));
    }
    let kind =
        ChangeNotificationType::try_from(n.r#type).unwrap_or(ChangeNotificationType::Unknown);
    let addr = || -> Result<NodeAddr, String> {
        let server = node_server(&n.address)
            .map_err(|why| format!("node {}: address {:?}: {why}", n.name, n.address))?;
        Ok(NodeAddr {
            name: n.name.clone(),
            server,
            tls_server_name: n
                .tls
                .as_ref()
                .map(|t| t.server_name.clone())
                .filter(|s| !s.is_empty()),
        })
    };
    match kind {
        ChangeNotificationType::PeerAdded => Ok(NodeChange::Added(addr()?)),
        ChangeNotificationType::PeerUpdated => Ok(NodeChange::Updated(addr()?)),
        ChangeNotificationType::PeerDeleted => Ok(NodeChange::Deleted(n.name.clone())),
        ChangeNotificationType::Unknown => Err(format!(
            "node {}: notification of unknown type {}",
            n.name, n.r#type
        )),
    }
}

/// Opens `Notify` on the peer service named by `cfg.server`.
async fn open(cfg: &RelayConfig) -> Result<tonic::Streaming<ChangeNotification>, RelayError> {
    let conn = connect(cfg).await?;
    let mut client = PeerClient::new(conn.channel.clone());
    match tokio::time::timeout(cfg.timeout, client.notify(NotifyRequest {})).await {
        Err(_) => Err(conn.errors().timeout()),
        Ok(Err(status)) => Err(conn.opening_error(&status).await),
        Ok(Ok(response)) => Ok(response.into_inner()),
    }
}

/// Opens `Notify` once and drops it: whether the peer service answers,
/// before anything is written.
pub async fn probe(cfg: &RelayConfig) -> Result<(), RelayError> {
    open(cfg).await.map(drop)
}

/// Follows the peer service on a task of its own until `events` is
/// dropped. An `Err` is sent (and the task ends) only when the first
/// connection fails.
pub fn watch_peers(
    cfg: RelayConfig,
    backoff: Backoff,
    events: mpsc::UnboundedSender<Result<PeerEvent, RelayError>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let send = |e| events.send(e).is_ok();
        let mut opened = 0u32;
        let mut attempt = 0u32;
        loop {
            let error = match open(&cfg).await {
                Err(e) if opened == 0 => {
                    let _ = events.send(Err(e));
                    return;
                }
                Err(e) => e.to_string(),
                Ok(mut stream) => {
                    opened += 1;
                    if !send(Ok(PeerEvent::Connected)) {
                        return;
                    }
                    // After a reconnect the service announces every node again.
                    let mut announced = (opened > 1).then(BTreeSet::new);
                    let mut settle_at = Instant::now() + SETTLE;
                    let error = loop {
                        let settle = async {
                            match announced {
                                Some(_) => tokio::time::sleep_until(settle_at).await,
                                None => std::future::pending().await,
                            }
                        };
                        let message = tokio::select! {
                            m = stream.message() => m,
                            _ = settle => {
                                let names = announced.take().unwrap_or_default();
                                if !send(Ok(PeerEvent::Synced(names))) {
                                    return;
                                }
                                continue;
                            }
                            _ = events.closed() => return,
                        };
                        let n = match message {
                            Ok(Some(n)) => n,
                            Ok(None) => break "the peer service ended the stream".to_string(),
                            Err(status) => {
                                break format!("{}: {}", status.code(), status.message())
                            }
                        };
                        attempt = 0;
                        if let Some(names) = &mut announced {
                            names.insert(n.name.clone());
                            settle_at = Instant::now() + SETTLE;
                        }
                        let event = match change_of(&n) {
                            Ok(change) => PeerEvent::Change(change),
                            Err(why) => PeerEvent::Ignored(why),
                        };
                        if !send(Ok(event)) {
                            return;
                        }
                    };
                    format!("peer service {}: {error}", cfg.server)
                }
            };
            // The connection failed or ended: wait, then open it again.
            attempt += 1;
            let delay = backoff.delay(attempt);
            if !send(Ok(PeerEvent::Reconnecting {
                attempt,
                delay,
                error,
            })) {
                return;
            }
            tokio::time::sleep(delay).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::peer::Tls;

    #[test]
    fn addresses_get_the_node_port() {
        for (given, want) in [
            ("10.0.0.7", "10.0.0.7:4244"),
            ("10.0.0.7:4244", "10.0.0.7:4244"),
            ("node-1.example:9", "node-1.example:9"),
            ("fd00::7", "[fd00::7]:4244"),
            ("[fd00::7]", "[fd00::7]:4244"),
            ("[fd00::7]:4000", "[fd00::7]:4000"),
            (
                "unix:///var/run/cilium/hubble.sock",
                "unix:///var/run/cilium/hubble.sock",
            ),
        ] {
            assert_eq!(node_server(given).unwrap(), want, "{given}");
        }
        assert!(node_server(" ").is_err());
    }

    #[test]
    fn notifications_become_changes() {
        let n = ChangeNotification {
            name: "kind/worker".into(),
            address: "172.18.0.3".into(),
            r#type: ChangeNotificationType::PeerAdded as i32,
            tls: Some(Tls {
                server_name: "worker.kind.hubble-grpc.cilium.io".into(),
            }),
        };
        assert_eq!(
            change_of(&n).unwrap(),
            NodeChange::Added(NodeAddr {
                name: "kind/worker".into(),
                server: "172.18.0.3:4244".into(),
                tls_server_name: Some("worker.kind.hubble-grpc.cilium.io".into()),
            })
        );
        let gone = ChangeNotification {
            r#type: ChangeNotificationType::PeerDeleted as i32,
            address: String::new(),
            tls: None,
            ..n.clone()
        };
        assert_eq!(
            change_of(&gone).unwrap(),
            NodeChange::Deleted("kind/worker".into())
        );
        let odd = ChangeNotification {
            r#type: 9,
            ..n.clone()
        };
        assert!(change_of(&odd).unwrap_err().contains("unknown type 9"));
        let nameless = ChangeNotification {
            name: String::new(),
            ..n
        };
        assert!(change_of(&nameless).is_err());
    }
}
