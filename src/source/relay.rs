//! Live Hubble Relay client: `ServerStatus` and a resumable `GetFlows`
//! follow loop over tonic, with TLS/mTLS mirroring the `hubble` CLI flags.
//!
//! - [`RelayConfig`] holds the connection and selector settings
//!   (`--server`, `--tls*`, `--timeout`, `--namespace`, `--not-namespace`,
//!   `--since`, `--until`).
//! - [`server_status`] asks the relay how many nodes it sees and how full
//!   their flow buffers are.
//! - [`follow`] first drains everything still in the relays' ring buffers,
//!   then follows live flows; on any stream error it reconnects with
//!   exponential backoff and resumes from the time of the last flow, using a
//!   [`ResumeState`] that can be persisted so a later run continues where
//!   this one stopped.
//!
//! - [`Fanout`] (`--peer-service`) follows every node's Hubble server as
//!   the peer service announces them, each with its own resume point, and
//!   merges their flows in time order into one sink.
//!
//! `--server` also takes the agent's Unix socket (`unix:///…`).
//!
//! Every failure is a [`RelayError`] whose message names the problem and the
//! remedy (port-forward, `--server`, CA file, server name, client cert).

mod backoff;
mod config;
mod connect;
mod door;
mod endpoints;
mod error;
mod fanout;
mod fanout_loop;
mod fanout_types;
mod fingerprint;
mod follow;
mod insecure;
pub mod node_points;
mod peers;
mod reorder;
mod request;
mod resume;
mod role;
mod socket;
mod status;
mod wire;

pub use backoff::Backoff;
pub use config::{RelayConfig, DEFAULT_SERVER, DEFAULT_TIMEOUT};
pub use door::{follow_into, StreamDoor};
pub use endpoints::{EndpointCache, EndpointChecks, EndpointId, Received, Recycler};
pub use error::RelayError;
pub use fanout::Fanout;
pub use fanout_types::{FanoutOptions, NodeView, PER_NODE};
pub use fingerprint::{Fingerprint, FingerprintKind};
pub use follow::{follow, FollowEnd, FollowOptions, FollowSummary, RelayEvent};
pub use node_points::NodePoints;
pub use peers::{change_of, node_server, NodeAddr, NodeChange, NODE_PORT};
pub use request::{flows_request, namespace_filters};
pub use resume::{FlowTime, ResumeState};
pub use role::ServerRole;
pub use status::{server_status, ServerStatus};
