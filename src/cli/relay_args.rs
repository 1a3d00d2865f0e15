//! The relay flags `observe` and `watch` share (`--server`, `--peer-service`, `--tls*`,
//! `--timeout`, `--namespace`, `--not-namespace`), turned once into a
//! [`RelayConfig`] with the command's own time window.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;

use super::duration::parse_duration;
use crate::source::relay::{RelayConfig, ServerRole, DEFAULT_SERVER};

/// Which relay, how to reach it, which flows.
#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    /// Hubble Relay address (host:port, http://…, https://…), or a node's own Hubble server
    /// (host:4244, or the agent's socket: unix:///var/run/cilium/hubble.sock).
    #[arg(long, env = "HUBBLE_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
    /// Follow every node's Hubble server instead of the relay: the peer service that lists them
    /// (in the cluster hubble-peer.kube-system.svc:443; on a node the agent's socket
    /// unix:///var/run/cilium/hubble.sock). One stream per node (port 4244 unless announced); the
    /// TLS flags apply to the peer service (not to a socket) and to every node announced with TLS,
    /// checked against the server name the announcement gives (--tls-server-name names the peer
    /// service's). Each node resumes from its own point; all are merged in time order into one
    /// stream. --server is then unused.
    #[arg(long, value_name = "ADDR")]
    pub peer_service: Option<String>,
    /// With --peer-service: how long flows wait for a silent node before the other nodes' go on.
    #[arg(long, value_parser = parse_duration, default_value = "1s", hide = true)]
    pub node_wait: Duration,
    /// Use TLS to reach the relay.
    #[arg(long)]
    pub tls: bool,
    /// Do not verify the relay's certificate (debugging only).
    #[arg(long)]
    pub tls_allow_insecure: bool,
    /// PEM CA bundles to trust for the relay (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "FILES")]
    pub tls_ca_cert_files: Vec<PathBuf>,
    /// PEM client certificate for mTLS.
    #[arg(long, value_name = "FILE")]
    pub tls_client_cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(long, value_name = "FILE")]
    pub tls_client_key_file: Option<PathBuf>,
    /// Name to verify the relay's certificate against (e.g. instance.hubble-relay.cilium.io).
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Timeout for connecting and for each call.
    #[arg(long, value_parser = parse_duration, default_value = "5s", value_name = "DURATION")]
    pub timeout: Duration,
    /// Only flows from or to pods in this namespace (repeatable).
    #[arg(long = "namespace", short = 'n', value_name = "NAMESPACE")]
    pub namespace: Vec<String>,
    /// Leave out flows from or to pods in this namespace (repeatable).
    #[arg(long = "not-namespace", value_name = "NAMESPACE")]
    pub not_namespace: Vec<String>,
}

impl RelayArgs {
    /// The relay settings, with the time window of the command.
    pub fn relay_config(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> RelayConfig {
        RelayConfig {
            server: self.server.clone(),
            tls: self.tls,
            tls_allow_insecure: self.tls_allow_insecure,
            tls_ca_cert_files: self.tls_ca_cert_files.clone(),
            tls_client_cert_file: self.tls_client_cert_file.clone(),
            tls_client_key_file: self.tls_client_key_file.clone(),
            tls_server_name: self.tls_server_name.clone(),
            timeout: self.timeout,
            namespace: self.namespace.clone(),
            not_namespace: self.not_namespace.clone(),
            since,
            until,
            stream_window: None,
            role: ServerRole::Relay,
        }
    }
}
