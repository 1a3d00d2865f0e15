//! [`RelayError`]: every way talking to Hubble Relay can fail, each with a
//! message that names the problem and the remedy, and the classification of
//! tonic/hyper/rustls/io error chains into it.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use rustls::{AlertDescription, CertificateError};
use tonic::Code;

use super::role::ServerRole;

/// A failure to talk to Hubble Relay, a node's Hubble server or the peer
/// service (`role` says which, and picks the remedies). `Display` is the
/// message for the user.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// Bad settings (server address, unreadable or invalid PEM files, …).
    #[error("{0}")]
    Config(String),
    /// Nothing answers at the address (refused, no route, DNS, …).
    #[error("cannot reach {role} at {server}: {detail} — {}", .role.unreachable_remedy())]
    Unreachable {
        role: ServerRole,
        server: String,
        detail: String,
    },
    /// The TLS handshake failed: certificate problem or plaintext peer.
    #[error("TLS with {role} at {server} failed: {problem} — {remedy}")]
    Tls {
        role: ServerRole,
        server: String,
        problem: String,
        remedy: String,
    },
    /// No answer within `--timeout`.
    #[error("{role} at {server} did not answer within {timeout:?} — {}", .role.timeout_remedy())]
    Timeout {
        role: ServerRole,
        server: String,
        timeout: Duration,
    },
    /// The server answered the call with a gRPC error status.
    #[error("{role} at {server} refused the call ({code:?}): {message}{hint}")]
    Rpc {
        role: ServerRole,
        server: String,
        code: Code,
        message: String,
        hint: String,
    },
    /// The connection or an open flow stream broke, or the stream ended.
    #[error("the connection to {role} at {server} broke: {detail}")]
    Stream {
        role: ServerRole,
        server: String,
        detail: String,
    },
    /// The Unix socket of `--server unix:…` is missing or nobody listens.
    #[error(
        "cannot connect to the Hubble socket {path}: {detail} — the Cilium agent serves it on \
         each node: run flowpolicy on the node (in a pod, mount the host's /var/run/cilium \
         read-only), or reach the node over the network with --server host:4244, the relay, \
         or --peer-service"
    )]
    Socket { path: String, detail: String },
    /// The peer service (`--peer-service`) cannot be reached or refused
    /// `Notify`.
    #[error("cannot follow the Hubble peer service at {server}: {detail} — {}", ServerRole::PeerService.unreachable_remedy())]
    PeerService { server: String, detail: String },
    /// Something else answers at the address (a plain HTTP server).
    #[error("{server} is not {}: {detail} — {}", .role.bare_name(), .role.wrong_service_remedy())]
    NotRelay {
        role: ServerRole,
        server: String,
        detail: String,
    },
}

impl RelayError {
    /// Whether reconnecting may help (network trouble, relay restarts);
    /// false for settings, certificates and calls the relay refuses.
    pub fn is_retryable(&self) -> bool {
        match self {
            RelayError::Unreachable { .. }
            | RelayError::Timeout { .. }
            | RelayError::Stream { .. }
            | RelayError::Socket { .. }
            | RelayError::PeerService { .. } => true,
            RelayError::Rpc { code, .. } => matches!(
                code,
                Code::Unavailable
                    | Code::Unknown
                    | Code::Internal
                    | Code::Aborted
                    | Code::ResourceExhausted
                    | Code::DeadlineExceeded
                    | Code::Cancelled
            ),
            RelayError::Config(_) | RelayError::Tls { .. } | RelayError::NotRelay { .. } => false,
        }
    }
}

/// Alerts a server sends when it does not accept our client certificate.
const CLIENT_CERT_ALERTS: [AlertDescription; 7] = [
    AlertDescription::CertificateRequired,
    AlertDescription::BadCertificate,
    AlertDescription::UnknownCA,
    AlertDescription::CertificateUnknown,
    AlertDescription::CertificateExpired,
    AlertDescription::UnsupportedCertificate,
    AlertDescription::AccessDenied,
];

/// What the classifier needs to know about the connection.
pub(crate) struct ErrorContext<'a> {
    pub role: ServerRole,
    pub server: &'a str,
    pub server_name: &'a str,
    pub timeout: Duration,
}

impl ErrorContext<'_> {
    pub fn timeout(&self) -> RelayError {
        RelayError::Timeout {
            role: self.role,
            server: self.server.to_string(),
            timeout: self.timeout,
        }
    }

    /// A failure to connect (TCP, TLS, HTTP/2 handshake).
    pub fn connect_error(&self, err: &(dyn StdError + 'static)) -> RelayError {
        self.specific(err)
            .unwrap_or_else(|| RelayError::Unreachable {
                role: self.role,
                server: self.server.to_string(),
                detail: chain_text(err),
            })
    }

    /// A gRPC status, from the relay or made up by the client for a broken
    /// connection (those carry a source error). For a call being opened,
    /// [`super::connect::Connection::opening_error`] says more.
    pub fn status_error(&self, status: &tonic::Status) -> RelayError {
        if let Some(e) = self.specific(status) {
            return e;
        }
        if let Some(source) = status.source() {
            let mut detail = chain_text(source);
            if !detail.contains(status.message()) {
                detail = format!("{}: {detail}", status.message());
            }
            return RelayError::Stream {
                role: self.role,
                server: self.server.to_string(),
                detail,
            };
        }
        let hint = match status.code() {
            Code::Unimplemented => format!(" — {}", self.role.wrong_service_remedy()),
            Code::Unauthenticated | Code::PermissionDenied => {
                " — check --tls-client-cert-file / --tls-client-key-file".to_string()
            }
            _ => String::new(),
        };
        RelayError::Rpc {
            role: self.role,
            server: self.server.to_string(),
            code: status.code(),
            message: status.message().to_string(),
            hint,
        }
    }

    /// The first error in the chain we know how to explain.
    fn specific(&self, err: &(dyn StdError + 'static)) -> Option<RelayError> {
        for e in chain(err) {
            if let Some(tls) = e.downcast_ref::<rustls::Error>() {
                return Some(self.tls_error(tls));
            }
            if e.is::<tokio::time::error::Elapsed>() {
                return Some(self.timeout());
            }
            if let Some(io) = e.downcast_ref::<io::Error>() {
                match io.kind() {
                    io::ErrorKind::ConnectionRefused => {
                        return Some(RelayError::Unreachable {
                            role: self.role,
                            server: self.server.to_string(),
                            detail: "connection refused".into(),
                        })
                    }
                    io::ErrorKind::TimedOut => return Some(self.timeout()),
                    _ => {}
                }
            }
        }
        // Some layers keep only the text of a rustls error.
        let text = chain_text(err);
        if let Some(rest) = text.split("received fatal alert: ").nth(1) {
            let name = rest.split(|c: char| !c.is_ascii_alphanumeric()).next();
            if let Some(alert) = CLIENT_CERT_ALERTS
                .iter()
                .find(|a| Some(format!("{a:?}").as_str()) == name)
            {
                return Some(self.tls_error(&rustls::Error::AlertReceived(*alert)));
            }
            return Some(RelayError::Tls {
                role: self.role,
                server: self.server.to_string(),
                problem: format!(
                    "{} aborted the handshake (TLS alert {})",
                    self.role.short(),
                    name.unwrap_or("?")
                ),
                remedy: self.role.tls_remedy().to_string(),
            });
        }
        if text.contains("TLS handshake timeout") || text.contains("timed out") {
            return Some(self.timeout());
        }
        None
    }

    fn tls_error(&self, err: &rustls::Error) -> RelayError {
        let generic = self.role.tls_remedy();
        let who = self.role.short();
        let (problem, remedy) = match err {
            rustls::Error::InvalidCertificate(cert) => match cert {
                CertificateError::UnknownIssuer | CertificateError::BadSignature => (
                    format!(
                        "the certificate of {who} is not signed by a trusted CA (CA mismatch: \
                         {cert:?})"
                    ),
                    self.role.ca_remedy().to_string(),
                ),
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => (
                    format!(
                        "the certificate of {who} is not valid for the server name {:?}",
                        self.server_name
                    ),
                    self.role.name_remedy().to_string(),
                ),
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => (
                    format!("the certificate of {who} is expired or not yet valid ({cert:?})"),
                    "check this machine's clock, or rotate the Hubble certificates".to_string(),
                ),
                other => (
                    format!("the certificate of {who} was rejected ({other:?})"),
                    generic.to_string(),
                ),
            },
            rustls::Error::AlertReceived(alert) => match alert {
                a if CLIENT_CERT_ALERTS.contains(a) => (
                    format!("{who} rejected our client certificate (TLS alert {alert:?})"),
                    format!(
                        "{who} requires mTLS: pass --tls-client-cert-file and \
                         --tls-client-key-file with a certificate signed by a CA it trusts"
                    ),
                ),
                other => (
                    format!("{who} aborted the handshake (TLS alert {other:?})"),
                    generic.to_string(),
                ),
            },
            rustls::Error::InvalidMessage(_)
            | rustls::Error::InappropriateMessage { .. }
            | rustls::Error::InappropriateHandshakeMessage { .. } => (
                format!("the server did not answer with TLS ({err})"),
                self.role.plaintext_remedy().to_string(),
            ),
            other => (other.to_string(), generic.to_string()),
        };
        RelayError::Tls {
            role: self.role,
            server: self.server.to_string(),
            problem,
            remedy,
        }
    }
}

/// The error and its sources, looking inside `io::Error` wrappers (whose
/// `source()` skips the wrapped error itself).
fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| next_error(e))
}

fn next_error<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
        Some(inner) => Some(inner as &(dyn StdError + 'static)),
        None => e.source(),
    }
}

/// The kind of the first I/O error in the chain, if any.
pub(crate) fn io_kind(err: &(dyn StdError + 'static)) -> Option<io::ErrorKind> {
    chain(err).find_map(|e| e.downcast_ref::<io::Error>().map(io::Error::kind))
}

/// The chain's messages joined by ": ", skipping a message already
/// contained in the text so far (wrappers often repeat their source).
pub(crate) fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut text = String::new();
    for e in chain(err) {
        let msg = e.to_string();
        // tonic's wrapper says nothing its source does not say better.
        if msg.is_empty() || msg == "transport error" || text.contains(&msg) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&msg);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ErrorContext<'static> {
        ErrorContext {
            role: ServerRole::Relay,
            server: "localhost:4245",
            server_name: "localhost",
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn refused_names_the_remedy() {
        let io = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let msg = ctx().connect_error(&io).to_string();
        assert!(
            msg.starts_with("cannot reach Hubble Relay at localhost:4245: connection refused"),
            "{msg}"
        );
        assert!(msg.contains("cilium hubble port-forward") && msg.contains("--server"));
    }

    #[test]
    fn wrapped_rustls_error_is_found() {
        let tls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = io::Error::other(tls);
        let err = ctx().connect_error(&io);
        assert!(!err.is_retryable());
        let msg = err.to_string();
        assert!(
            msg.contains("CA mismatch") && msg.contains("--tls-ca-cert-files"),
            "{msg}"
        );
    }

    /// A node's server or the peer service failing is worded for it: no
    /// message sends the user to the relay's port-forward or certificate.
    #[test]
    fn nodes_and_the_peer_service_get_their_own_remedies() {
        let at = |role| ErrorContext {
            role,
            server: "10.0.0.5:4244",
            server_name: "node-1.default.hubble-grpc.cilium.io",
            timeout: Duration::from_secs(5),
        };
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let unknown_ca = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let wrong_name = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        for (role, name) in [
            (ServerRole::Node, "the node's Hubble server"),
            (ServerRole::PeerService, "the Hubble peer service"),
        ] {
            let messages = [
                at(role).connect_error(&refused).to_string(),
                at(role)
                    .connect_error(&io::Error::other(unknown_ca.clone()))
                    .to_string(),
                at(role)
                    .connect_error(&io::Error::other(wrong_name.clone()))
                    .to_string(),
                at(role).timeout().to_string(),
                at(role)
                    .status_error(&tonic::Status::unimplemented("nope"))
                    .to_string(),
            ];
            for msg in &messages {
                assert!(msg.contains(&format!("{name} at 10.0.0.5:4244")), "{msg}");
                assert!(
                    !msg.contains("port-forward`") && !msg.contains("hubble-relay"),
                    "{role:?}: {msg}"
                );
            }
            assert!(
                messages[1].contains("hubble-server-certs"),
                "{}",
                messages[1]
            );
        }
        // A node's server name comes from the peer service: --tls-server-name
        // does not reach it.
        let revoked = rustls::Error::InvalidCertificate(CertificateError::Revoked);
        let node_revoked = at(ServerRole::Node)
            .connect_error(&io::Error::other(revoked))
            .to_string();
        assert!(
            node_revoked.contains("--tls-ca-cert-files")
                && !node_revoked.contains("--tls-server-name"),
            "{node_revoked}"
        );
        let node_refused = at(ServerRole::Node).connect_error(&refused).to_string();
        assert!(node_refused.contains("port 4244"), "{node_refused}");
        let peer_refused = at(ServerRole::PeerService)
            .connect_error(&refused)
            .to_string();
        assert!(
            peer_refused.contains("port-forward svc/hubble-peer"),
            "{peer_refused}"
        );
    }

    #[test]
    fn server_status_codes() {
        let err = ctx().status_error(&tonic::Status::unimplemented("nope"));
        assert!(!err.is_retryable());
        assert!(err
            .to_string()
            .contains("check --server (Hubble Relay listens on port 4245"));
        assert!(ctx()
            .status_error(&tonic::Status::unavailable("restarting"))
            .is_retryable());
    }
}
