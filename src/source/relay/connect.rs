//! Dialing Hubble Relay: builds the tonic endpoint (timeouts, HTTP/2
//! keep-alive, TLS/mTLS from PEM files checked up front) and connects
//! eagerly, so connection and certificate problems surface as one
//! [`RelayError`] before any call. A `unix:` server is dialled through a
//! connector that opens the socket (the agent's plaintext Hubble server;
//! [`super::socket`]).

use std::path::Path;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::config::{RelayConfig, Target};
use super::error::{ErrorContext, RelayError};
use super::insecure::SkipServerVerification;
use super::role::ServerRole;
use crate::proto::observer::observer_client::ObserverClient;

/// HTTP/2 ping interval on an open stream. Longer than grpc-go's default
/// server keep-alive enforcement minimum (5 min), so a Go relay never
/// answers our pings with GOAWAY `too_many_pings`.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(310);

/// A connected Observer client plus what error messages need to know.
pub(crate) struct Connection {
    pub client: ObserverClient<Channel>,
    /// The same connection, for calls made with their own codec.
    pub channel: Channel,
    pub target: Target,
    role: ServerRole,
    server_name: String,
    timeout: Duration,
}

impl Connection {
    pub fn errors(&self) -> ErrorContext<'_> {
        ErrorContext {
            role: self.role,
            server: &self.target.authority,
            server_name: &self.server_name,
            timeout: self.timeout,
        }
    }
}

/// Connects to the relay named by `cfg` (TCP, TLS and HTTP/2 handshakes),
/// each bounded by `cfg.timeout`.
pub(crate) async fn connect(cfg: &RelayConfig) -> Result<Connection, RelayError> {
    let target = cfg.target()?;
    let server_name = cfg.tls_server_name.clone().unwrap_or_else(|| {
        let host = match target.authority.rfind(':') {
            Some(colon) => &target.authority[..colon],
            None => &target.authority,
        };
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string()
    });
    let ctx = ErrorContext {
        role: cfg.role,
        server: &target.authority,
        server_name: &server_name,
        timeout: cfg.timeout,
    };
    let mut endpoint = Endpoint::from_shared(target.uri.clone())
        .map_err(|e| RelayError::Config(format!("--server {:?}: {e}", cfg.server)))?
        .connect_timeout(cfg.timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(cfg.timeout.max(Duration::from_secs(10)));
    if let Some(window) = cfg.stream_window {
        endpoint = endpoint
            .initial_stream_window_size(Some(window))
            .initial_connection_window_size(Some(window.saturating_mul(2)))
            .http2_adaptive_window(false);
    }
    if target.tls {
        endpoint = with_tls(endpoint, cfg)?;
    }
    let channel = match &target.unix {
        Some(path) => super::socket::connect(&endpoint, path, cfg.timeout).await?,
        // The inner timeouts normally fire first and say which step hung.
        None => tokio::time::timeout(cfg.timeout * 2, endpoint.connect())
            .await
            .map_err(|_| ctx.timeout())?
            .map_err(|e| ctx.connect_error(&e))?,
    };
    Ok(Connection {
        client: ObserverClient::new(channel.clone()),
        channel,
        target,
        role: cfg.role,
        server_name,
        timeout: cfg.timeout,
    })
}

fn with_tls(endpoint: Endpoint, cfg: &RelayConfig) -> Result<Endpoint, RelayError> {
    let mut tls = ClientTlsConfig::new().timeout(cfg.timeout);
    if let Some(name) = &cfg.tls_server_name {
        tls = tls.domain_name(name.clone());
    }
    match (&cfg.tls_client_cert_file, &cfg.tls_client_key_file) {
        (Some(cert), Some(key)) => tls = tls.identity(client_identity(cert, key)?),
        (None, None) => {}
        _ => {
            return Err(RelayError::Config(
                "mTLS needs both --tls-client-cert-file and --tls-client-key-file".into(),
            ))
        }
    }
    let tls_error = |e: tonic::transport::Error| {
        let text = super::error::chain_text(&e);
        if text.contains("no native certs found") {
            RelayError::Config(
                "TLS: no system CA certificates found; pass --tls-ca-cert-files".into(),
            )
        } else {
            RelayError::Config(format!("cannot set up TLS: {text}"))
        }
    };
    if cfg.tls_allow_insecure {
        return endpoint
            .tls_config_with_verifier(tls, SkipServerVerification::new())
            .map_err(tls_error);
    }
    if cfg.tls_ca_cert_files.is_empty() {
        tls = tls.with_native_roots();
    }
    for path in &cfg.tls_ca_cert_files {
        tls = tls.ca_certificate(Certificate::from_pem(read_certs(
            path,
            "--tls-ca-cert-files",
        )?));
    }
    endpoint.tls_config(tls).map_err(tls_error)
}

fn read(path: &Path, flag: &str) -> Result<Vec<u8>, RelayError> {
    std::fs::read(path)
        .map_err(|e| RelayError::Config(format!("cannot read {flag} {}: {e}", path.display())))
}

/// Reads a PEM file that must hold at least one valid certificate (tonic
/// would silently skip unparsable ones and fail later as "unknown issuer").
fn read_certs(path: &Path, flag: &str) -> Result<Vec<u8>, RelayError> {
    let pem = read(path, flag)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| RelayError::Config(format!("{flag} {}: bad PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(RelayError::Config(format!(
            "{flag} {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
            path.display()
        )));
    }
    Ok(pem)
}

/// Whether the first certificate of a PEM text is X.509 version 1 (its
/// `TBSCertificate` has no `[0] version` field), which rustls cannot use
/// as a client certificate.
fn is_x509_v1(pem: &[u8]) -> bool {
    let Some(Ok(cert)) = CertificateDer::pem_slice_iter(pem).next() else {
        return false;
    };
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, … } … }
    let inner = |der: &[u8]| -> Option<usize> {
        // Offset of the content of the SEQUENCE at the start of `der`.
        if der.first() != Some(&0x30) {
            return None;
        }
        let len = *der.get(1)?;
        Some(if len < 0x80 {
            2
        } else {
            2 + usize::from(len & 0x7f)
        })
    };
    let Some(tbs) = inner(&cert).map(|o| &cert[o..]) else {
        return false;
    };
    let Some(fields) = inner(tbs).and_then(|o| tbs.get(o..)) else {
        return false;
    };
    fields.first() != Some(&0xa0)
}

fn client_identity(cert: &Path, key: &Path) -> Result<Identity, RelayError> {
    let cert_pem = read_certs(cert, "--tls-client-cert-file")?;
    // Refused by the TLS library as "invalid peer certificate", which reads
    // as if the relay's certificate were at fault: say what it is.
    if is_x509_v1(&cert_pem) {
        return Err(RelayError::Config(format!(
            "--tls-client-cert-file {}: the certificate is X.509 version 1, which TLS clients \
             such as this one cannot present; reissue it as version 3 (for example `openssl \
             x509 -req … -extfile` with extendedKeyUsage=clientAuth), signed by a CA the relay \
             trusts",
            cert.display()
        )));
    }
    let key_pem = read(key, "--tls-client-key-file")?;
    PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        RelayError::Config(format!(
            "--tls-client-key-file {}: no usable PEM private key: {e}",
            key.display()
        ))
    })?;
    Ok(Identity::from_pem(cert_pem, key_pem))
}

impl Connection {
    /// The error of a call that failed before the relay answered it. Over
    /// plaintext, a connection that breaks at once means the server does
    /// not speak gRPC without TLS: a short probe (an HTTP/1.1 request on a
    /// new connection) tells a TLS server (it answers with a TLS alert)
    /// from a plain HTTP server (it answers `HTTP/1.1 …`), so the message
    /// names the right remedy.
    pub async fn opening_error(&self, status: &tonic::Status) -> RelayError {
        let err = self.errors().status_error(status);
        let plain_tcp = !self.target.tls && self.target.unix.is_none();
        if !plain_tcp || !matches!(err, RelayError::Stream { .. }) {
            return err;
        }
        let server = self.target.authority.clone();
        match probe(&server, self.timeout).await {
            Speaker::Tls => RelayError::Tls {
                role: self.role,
                server,
                problem: "the server answered with TLS, and the connection was plaintext".into(),
                remedy: self.role.tls_expected_remedy().into(),
            },
            Speaker::Http1(line) => RelayError::NotRelay {
                role: self.role,
                server,
                detail: format!("it answers plain HTTP ({line:?}), not gRPC"),
            },
            Speaker::Unknown => match err {
                RelayError::Stream {
                    role,
                    server,
                    detail,
                } => RelayError::Stream {
                    role,
                    server,
                    detail: format!(
                        "{detail} (the server closed the connection without a gRPC answer: {})",
                        role.closed_remedy()
                    ),
                },
                other => other,
            },
        }
    }
}

/// What answers at an address that does not speak plaintext gRPC.
enum Speaker {
    Tls,
    /// A plain HTTP server, with its status line.
    Http1(String),
    Unknown,
}

/// Sends an HTTP/1.1 request on a new connection and reads the first bytes
/// of the answer (bounded by `timeout`).
async fn probe(authority: &str, timeout: Duration) -> Speaker {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(authority).await.ok()?;
        let request = format!("GET / HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).await.ok()?;
        let mut buf = vec![0u8; 256];
        let mut n = 0;
        while n < buf.len() {
            match s.read(&mut buf[n..]).await {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
            if buf[..n].contains(&b'\n') || buf[0] == 0x15 {
                break;
            }
        }
        buf.truncate(n);
        Some(buf)
    };
    let Ok(Some(answer)) = tokio::time::timeout(timeout, exchange).await else {
        return Speaker::Unknown;
    };
    classify(&answer)
}

fn classify(answer: &[u8]) -> Speaker {
    // A TLS record of type alert (21), version 3.x.
    if answer.len() >= 3 && answer[0] == 0x15 && answer[1] == 0x03 {
        return Speaker::Tls;
    }
    let text = String::from_utf8_lossy(answer);
    // Go's TLS servers answer an HTTP request with this.
    if text.contains("HTTP request to an HTTPS server") {
        return Speaker::Tls;
    }
    if text.starts_with("HTTP/") {
        let line = text.lines().next().unwrap_or_default().trim();
        return Speaker::Http1(line.chars().take(80).collect());
    }
    Speaker::Unknown
}
