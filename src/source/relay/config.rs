//! [`RelayConfig`]: the connection and selector settings of the relay client,
//! mirroring the `hubble observe` flags, and the parsing of `--server` into
//! the URI tonic dials (or the Unix socket it connects to: the agent's own
//! Hubble server, `unix:///var/run/cilium/hubble.sock`).

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::error::RelayError;
use super::role::ServerRole;

/// `hubble --server` default: where `cilium hubble port-forward` listens.
pub const DEFAULT_SERVER: &str = "localhost:4245";

/// `hubble --timeout` default: dialing (and, here, per-request) timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How to reach Hubble Relay and which flows to ask for.
///
/// TLS is on when `tls` is set or `server` starts with `https://` (or
/// `tls://`); every other `tls_*` field requires it, as in the hubble CLI.
#[derive(Debug, Clone, PartialEq)]
pub struct RelayConfig {
    /// `--server`: `host:port`, `http://host:port`, `https://host:port`,
    /// or a Unix socket as the hubble CLI writes it: `unix:///abs/path` or
    /// `unix:path` (relative or absolute). A missing port means 4245 (443
    /// for `https://`, 80 for `http://`).
    pub server: String,
    /// `--tls`: speak TLS to the relay.
    pub tls: bool,
    /// `--tls-allow-insecure`: skip verification of the server certificate
    /// chain and name (the handshake signature is still checked). For
    /// debugging only.
    pub tls_allow_insecure: bool,
    /// `--tls-ca-cert-files`: PEM CA bundles to trust instead of the system
    /// roots.
    pub tls_ca_cert_files: Vec<PathBuf>,
    /// `--tls-client-cert-file`: PEM client certificate (mTLS).
    pub tls_client_cert_file: Option<PathBuf>,
    /// `--tls-client-key-file`: PEM private key of the client certificate.
    pub tls_client_key_file: Option<PathBuf>,
    /// `--tls-server-name`: the name the server certificate must carry (and
    /// the SNI sent), e.g. `instance.hubble-relay.cilium.io`. Defaults to the
    /// host of `server`.
    pub tls_server_name: Option<String>,
    /// `--timeout`: bound on connecting (TCP + TLS) and on each unary call or
    /// stream opening. A followed stream itself is not bounded by it.
    pub timeout: Duration,
    /// `--namespace`: only flows from or to pods in these namespaces.
    pub namespace: Vec<String>,
    /// `--not-namespace`: drop flows from or to pods in these namespaces.
    pub not_namespace: Vec<String>,
    /// `--since`: oldest flow time to ask for.
    pub since: Option<DateTime<Utc>>,
    /// `--until`: newest flow time to ask for.
    pub until: Option<DateTime<Utc>>,
    /// The HTTP/2 receive window of the stream, in bytes (the connection's
    /// is twice that); `None`: the HTTP/2 library's (2 MiB, 5 MiB). The
    /// fan-out bounds it for its node streams (see `fanout::NODE_WINDOW`).
    pub stream_window: Option<u32>,
    /// Which server this is (the relay, a node's, the peer service): picks
    /// the remedies error messages name.
    pub role: ServerRole,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            server: DEFAULT_SERVER.to_string(),
            tls: false,
            tls_allow_insecure: false,
            tls_ca_cert_files: Vec::new(),
            tls_client_cert_file: None,
            tls_client_key_file: None,
            tls_server_name: None,
            timeout: DEFAULT_TIMEOUT,
            namespace: Vec::new(),
            not_namespace: Vec::new(),
            since: None,
            until: None,
            stream_window: None,
            role: ServerRole::Relay,
        }
    }
}

/// `server` resolved: the URI tonic dials and the `host:port` shown in
/// messages (`unix:PATH` for a socket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub uri: String,
    pub authority: String,
    pub tls: bool,
    /// The Unix socket to connect to instead of TCP (`uri` is then a
    /// placeholder tonic needs for the HTTP/2 requests).
    pub unix: Option<PathBuf>,
}

impl RelayConfig {
    /// The first TLS option given besides `--tls` itself (each needs TLS).
    fn tls_option_set(&self) -> Option<&'static str> {
        [
            (self.tls_allow_insecure, "--tls-allow-insecure"),
            (!self.tls_ca_cert_files.is_empty(), "--tls-ca-cert-files"),
            (
                self.tls_client_cert_file.is_some(),
                "--tls-client-cert-file",
            ),
            (self.tls_client_key_file.is_some(), "--tls-client-key-file"),
            (self.tls_server_name.is_some(), "--tls-server-name"),
        ]
        .into_iter()
        .find_map(|(set, flag)| set.then_some(flag))
    }

    /// Checks the settings before anything is dialled: the server address
    /// (scheme, host syntax, port 1–65535) and the TLS options.
    pub fn validate(&self) -> Result<(), RelayError> {
        self.target().map(|_| ())
    }

    /// Parses `server` and checks the TLS options are consistent.
    pub(crate) fn target(&self) -> Result<Target, RelayError> {
        let raw = self.server.trim();
        let (rest, scheme_tls, default_port) = if let Some(r) = raw.strip_prefix("https://") {
            (r, true, 443)
        } else if let Some(r) = raw.strip_prefix("tls://") {
            (r, true, 4245)
        } else if let Some(r) = raw.strip_prefix("http://") {
            (r, false, 80)
        } else if let Some(path) = raw.strip_prefix("unix:") {
            return self.unix_target(raw, path);
        } else if raw.contains("://") {
            return Err(RelayError::Config(format!(
                "--server {raw}: unknown scheme; use host:port, http://host:port or https://host:port"
            )));
        } else {
            (raw, false, 4245)
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') {
            return Err(RelayError::Config(format!(
                "--server {raw:?}: expected host:port (no path)"
            )));
        }
        let (host, port) = split_host_port(rest)
            .map_err(|why| RelayError::Config(format!("--server {raw:?}: {why}")))?;
        let authority = format!("{host}:{}", port.unwrap_or(default_port));
        let tls = self.tls || scheme_tls;
        if !tls {
            if let Some(flag) = self.tls_option_set() {
                return Err(RelayError::Config(format!(
                    "{flag} needs TLS: pass --tls or use an https:// server address"
                )));
            }
        }
        let uri = format!("{}://{authority}", if tls { "https" } else { "http" });
        uri.parse::<tonic::transport::Uri>()
            .map_err(|e| RelayError::Config(format!("--server {raw:?}: {e}")))?;
        Ok(Target {
            uri,
            authority,
            tls,
            unix: None,
        })
    }

    /// `unix:` + `path`: `unix:///abs` (the path after `unix://` must be
    /// absolute, as in gRPC's naming) or `unix:path`. The agent's socket
    /// is plaintext, so every TLS option is refused.
    fn unix_target(&self, raw: &str, path: &str) -> Result<Target, RelayError> {
        let path = match path.strip_prefix("//") {
            Some(abs) if abs.starts_with('/') => abs,
            Some(other) => {
                return Err(RelayError::Config(format!(
                    "--server {raw:?}: the path after unix:// must be absolute, e.g. \
                     unix:///var/run/cilium/hubble.sock; for a relative path write unix:{other}"
                )))
            }
            None => path,
        };
        if path.is_empty() {
            return Err(RelayError::Config(format!(
                "--server {raw:?}: the socket path is missing, e.g. unix:///var/run/cilium/hubble.sock"
            )));
        }
        let tls_flag = if self.tls {
            Some("--tls")
        } else {
            self.tls_option_set()
        };
        if let Some(flag) = tls_flag {
            return Err(RelayError::Config(format!(
                "{flag} cannot be used with --server {raw}: the agent's Unix socket speaks \
                 plaintext (access is guarded by the socket's file permissions); drop the TLS \
                 flags, or use the node's TLS port (host:4244) instead of the socket"
            )));
        }
        Ok(Target {
            uri: "http://localhost".into(),
            authority: format!("unix:{path}"),
            tls: false,
            unix: Some(PathBuf::from(path)),
        })
    }
}

/// Splits and checks `host[:port]` (`[v6][:port]`): the host is an IPv4
/// address, a bracketed IPv6 address or a DNS name; the port, when given,
/// 1–65535. The error names the bad part.
fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(inner) = s.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err("an IPv6 address opened with '[' has no closing ']'".into());
        };
        let (addr, after) = (&inner[..close], &inner[close + 1..]);
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("[{addr}] is not an IPv6 address"));
        }
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => return Err(format!("unexpected {p:?} after [{addr}]; expected :port")),
            },
        };
        (format!("[{addr}]"), port)
    } else {
        match s.matches(':').count() {
            0 => (s.to_string(), None),
            1 => {
                let (h, p) = s.split_once(':').expect("one colon");
                (h.to_string(), Some(p))
            }
            _ => return Err("an IPv6 address needs brackets, e.g. [::1]:4245".into()),
        }
    };
    if !host.starts_with('[') {
        check_host(&host)?;
    }
    let port = port.map(parse_port).transpose()?;
    Ok((host, port))
}

fn parse_port(p: &str) -> Result<u16, String> {
    if p.is_empty() {
        return Err("the port is missing after ':' (expected 1–65535)".into());
    }
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("the port {p:?} is not a number (expected 1–65535)"));
    }
    match p.parse::<u32>() {
        Ok(n @ 1..=65535) => Ok(n as u16),
        _ => Err(format!("the port {p} is out of range (1–65535)")),
    }
}

/// A DNS name or an IPv4 address.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the host is missing before ':'".into());
    }
    let bad = || format!("{host:?} is not a host name or IP address");
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host
            .parse::<std::net::Ipv4Addr>()
            .map(|_| ())
            .map_err(|_| format!("{host:?} is not an IPv4 address"));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.len() > 253 {
        return Err(bad());
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(server: &str, tls: bool) -> Result<Target, RelayError> {
        RelayConfig {
            server: server.into(),
            tls,
            ..RelayConfig::default()
        }
        .target()
    }

    #[test]
    fn server_forms() {
        let t = target("localhost:4245", false).unwrap();
        assert_eq!((t.uri.as_str(), t.tls), ("http://localhost:4245", false));
        let t = target("relay.example", false).unwrap();
        assert_eq!(t.authority, "relay.example:4245");
        let t = target("https://relay.example", false).unwrap();
        assert_eq!((t.uri.as_str(), t.tls), ("https://relay.example:443", true));
        let t = target("http://10.0.0.1:80/", false).unwrap();
        assert_eq!(t.uri, "http://10.0.0.1:80");
        let t = target("http://10.0.0.1:4245", true).unwrap();
        assert_eq!(t.uri, "https://10.0.0.1:4245");
        let t = target("[::1]", false).unwrap();
        assert_eq!(t.authority, "[::1]:4245");
        let t = target("[::1]:9", false).unwrap();
        assert_eq!(t.authority, "[::1]:9");
    }

    #[test]
    fn bad_servers_are_config_errors() {
        for bad in [
            "",
            "unix://",
            "unix:",
            "unix://var/run/hubble.sock",
            "ftp://x:1",
            "host:1/path",
        ] {
            let err = target(bad, false).unwrap_err();
            assert!(matches!(err, RelayError::Config(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_ports_and_hosts_are_refused_naming_the_bad_part() {
        for (bad, why) in [
            ("127.0.0.1:abc", r#"the port "abc" is not a number"#),
            (
                "127.0.0.1:99999",
                "the port 99999 is out of range (1–65535)",
            ),
            ("127.0.0.1:65536", "the port 65536 is out of range"),
            ("127.0.0.1:0", "the port 0 is out of range"),
            ("127.0.0.1:-1", r#"the port "-1" is not a number"#),
            ("127.0.0.1:", "the port is missing after ':'"),
            ("http://localhost:", "the port is missing after ':'"),
            ("https://relay:4245x", r#"the port "4245x" is not a number"#),
            (":4245", "the host is missing"),
            ("::1:4245", "needs brackets"),
            ("[::1", "no closing ']'"),
            ("[::g]:1", "[::g] is not an IPv6 address"),
            ("[::1]x", "expected :port"),
            ("[::1]:", "the port is missing"),
            ("300.1.1.1:4245", r#""300.1.1.1" is not an IPv4 address"#),
            ("re lay:4245", "is not a host name or IP address"),
            ("user@relay:4245", "is not a host name or IP address"),
            ("-relay:4245", "is not a host name or IP address"),
            ("relay..x:1", "is not a host name or IP address"),
        ] {
            let err = target(bad, false).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, RelayError::Config(_)), "{bad}: {msg}");
            assert!(
                msg.contains(why) && msg.contains(&format!("{bad:?}")),
                "{bad}: {msg}"
            );
        }
        for good in [
            "relay.example.:1",
            "hubble-relay.kube-system.svc.cluster.local:443",
            "my_host:65535",
            "10.0.0.1:1",
        ] {
            assert!(target(good, false).is_ok(), "{good}");
        }
    }

    #[test]
    fn unix_socket_forms() {
        let t = target("unix:///var/run/cilium/hubble.sock", false).unwrap();
        assert_eq!(
            t.unix.as_deref(),
            Some(std::path::Path::new("/var/run/cilium/hubble.sock"))
        );
        assert_eq!(t.authority, "unix:/var/run/cilium/hubble.sock");
        let t = target("unix:hubble.sock", false).unwrap();
        assert_eq!(t.unix.as_deref(), Some(std::path::Path::new("hubble.sock")));
        let t = target("unix:/run/h.sock", false).unwrap();
        assert_eq!(t.unix.as_deref(), Some(std::path::Path::new("/run/h.sock")));
        let msg = target("unix://run/h.sock", false).unwrap_err().to_string();
        assert!(
            msg.contains("must be absolute") && msg.contains("unix:run/h.sock"),
            "{msg}"
        );
        let msg = target("unix:///run/h.sock", true).unwrap_err().to_string();
        assert!(msg.contains("--tls cannot be used"), "{msg}");
        let cfg = RelayConfig {
            server: "unix:///run/h.sock".into(),
            tls_ca_cert_files: vec!["ca.pem".into()],
            ..RelayConfig::default()
        };
        let msg = cfg.target().unwrap_err().to_string();
        assert!(msg.contains("--tls-ca-cert-files cannot be used"), "{msg}");
    }

    #[test]
    fn tls_options_need_tls() {
        let cfg = RelayConfig {
            tls_server_name: Some("x".into()),
            ..RelayConfig::default()
        };
        let msg = cfg.target().unwrap_err().to_string();
        assert!(msg.contains("--tls-server-name needs TLS"), "{msg}");
    }
}
