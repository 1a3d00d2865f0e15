//! [`ServerRole`]: which Hubble server a connection talks to — the relay
//! named by `--server`, a node's own server announced by the peer service,
//! or the peer service itself — and the wording of failures that differs
//! between them. The remedies of one do not apply to another: a node the
//! peer service announced cannot be reached with `cilium hubble
//! port-forward`, and its certificate is not the relay's.

use std::fmt;

/// The Hubble server at the other end of a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServerRole {
    /// Hubble Relay (or whatever `--server` names).
    #[default]
    Relay,
    /// A node's Hubble server, at the address the peer service announced.
    Node,
    /// The peer service of `--peer-service` (`peer.Peer/Notify`).
    PeerService,
}

impl fmt::Display for ServerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerRole::Relay => "Hubble Relay",
            ServerRole::Node => "the node's Hubble server",
            ServerRole::PeerService => "the Hubble peer service",
        })
    }
}

/// How the peer service is reached, for the remedies that name it.
const PEER_SERVICE_WAYS: &str = "in the cluster it is hubble-peer.kube-system.svc:443 (TLS); from \
     a workstation, port-forward it first: `kubectl -n kube-system port-forward svc/hubble-peer \
     4244:443` (and pass the TLS flags); on a node, --peer-service \
     unix:///var/run/cilium/hubble.sock";

impl ServerRole {
    /// The server in a sentence's middle: "the relay", "the node's server".
    pub fn short(self) -> &'static str {
        match self {
            ServerRole::Relay => "the relay",
            ServerRole::Node => "the node's server",
            ServerRole::PeerService => "the peer service",
        }
    }

    /// The server as the object of "X is not …".
    pub fn bare_name(self) -> &'static str {
        match self {
            ServerRole::Relay => "Hubble Relay",
            ServerRole::Node => "a Hubble server",
            ServerRole::PeerService => "the Hubble peer service",
        }
    }

    /// What to do when nothing answers at the address.
    pub fn unreachable_remedy(self) -> &'static str {
        match self {
            ServerRole::Relay => {
                "start `cilium hubble port-forward` (it listens on localhost:4245) or pass --server"
            }
            ServerRole::Node => {
                "the peer service announced this address: the node's Hubble server must listen \
                 there (Cilium's hubble.listenAddress, port 4244) and this machine must reach the \
                 node (run flowpolicy in the cluster, or follow the relay with --server instead)"
            }
            ServerRole::PeerService => PEER_SERVICE_WAYS,
        }
    }

    /// What to check when the server does not answer in time.
    pub fn timeout_remedy(self) -> &'static str {
        match self {
            ServerRole::Relay => "check that --server points at Hubble Relay, or raise --timeout",
            ServerRole::Node => {
                "check that this machine reaches the node's Hubble server (port 4244), or raise \
                 --timeout"
            }
            ServerRole::PeerService => {
                "check that --peer-service points at the Hubble peer service, or raise --timeout"
            }
        }
    }

    /// What to check when the address serves something else.
    pub fn wrong_service_remedy(self) -> &'static str {
        match self {
            ServerRole::Relay => {
                "check --server (Hubble Relay listens on port 4245; `cilium hubble port-forward` \
                 forwards it to localhost:4245)"
            }
            ServerRole::Node => {
                "the peer service announced an address that does not serve Hubble (a node's \
                 Hubble server listens on port 4244)"
            }
            ServerRole::PeerService => {
                "check --peer-service (the agent's Hubble server serves it on port 4244, the \
                 hubble-peer service on 443)"
            }
        }
    }

    /// What to check when the server closes a plaintext connection without
    /// a gRPC answer.
    pub fn closed_remedy(self) -> &'static str {
        match self {
            ServerRole::Relay => {
                "if the relay serves TLS, pass --tls and --tls-ca-cert-files; otherwise check \
                 that --server points at Hubble Relay"
            }
            ServerRole::Node => {
                "if the node's server serves TLS, the peer service announces it with a TLS \
                 server name; otherwise the address does not serve Hubble"
            }
            ServerRole::PeerService => {
                "if the peer service serves TLS, pass --tls and --tls-ca-cert-files; otherwise \
                 check that --peer-service points at the Hubble peer service"
            }
        }
    }

    /// Where the CA that signed the server's certificate is kept.
    pub fn ca_remedy(self) -> &'static str {
        match self {
            ServerRole::Relay => {
                "pass the CA that signed the relay certificate with --tls-ca-cert-files (Cilium \
                 keeps it as ca.crt in the hubble-relay-client-certs secret)"
            }
            ServerRole::Node | ServerRole::PeerService => {
                "pass the Hubble CA with --tls-ca-cert-files (Cilium keeps it as ca.crt in the \
                 hubble-server-certs secret)"
            }
        }
    }

    /// What to check for any other TLS failure.
    pub fn tls_remedy(self) -> &'static str {
        match self {
            ServerRole::Relay | ServerRole::PeerService => {
                "check --tls-ca-cert-files and --tls-server-name (or, for debugging only, \
                 --tls-allow-insecure)"
            }
            ServerRole::Node => {
                "check --tls-ca-cert-files (the node's server name is the one the peer service \
                 gave), or, for debugging only, --tls-allow-insecure"
            }
        }
    }

    /// What to do when the certificate does not carry the server name.
    pub fn name_remedy(self) -> &'static str {
        match self {
            ServerRole::Relay => {
                "pass --tls-server-name with a name the certificate carries (Cilium's relay \
                 certificate is for *.hubble-relay.cilium.io, e.g. \
                 instance.hubble-relay.cilium.io)"
            }
            ServerRole::Node => {
                "the peer service gave this name for the node: the node's certificate (the \
                 hubble-server-certs secret) must carry it, as Cilium issues it \
                 (<node>.<cluster>.hubble-grpc.cilium.io)"
            }
            ServerRole::PeerService => {
                "pass --tls-server-name with a name the certificate carries (Hubble's server \
                 certificates are for <node>.<cluster>.hubble-grpc.cilium.io, e.g. \
                 *.default.hubble-grpc.cilium.io)"
            }
        }
    }

    /// What to do when the server answers a TLS connection in plaintext.
    pub fn plaintext_remedy(self) -> &'static str {
        match self {
            ServerRole::Relay => {
                "if the relay serves plaintext, drop --tls and use host:port or http://"
            }
            ServerRole::Node => {
                "the peer service announced TLS for this node, and it serves plaintext: check \
                 the agents' hubble.tls settings"
            }
            ServerRole::PeerService => {
                "if the peer service serves plaintext, drop --tls and use host:port or http://"
            }
        }
    }

    /// What to do when the server answers TLS to a plaintext connection.
    pub fn tls_expected_remedy(self) -> &'static str {
        match self {
            ServerRole::Relay => {
                "pass --tls (with --tls-ca-cert-files and --tls-server-name for the relay's \
                 certificate), or use an https:// address"
            }
            ServerRole::Node => {
                "the peer service announced this node without TLS; check the agents' \
                 hubble.tls settings"
            }
            ServerRole::PeerService => {
                "pass --tls (with --tls-ca-cert-files and --tls-server-name), or use an https:// \
                 address"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No remedy sends a node's or the peer service's user to the relay's
    /// port-forward, or to the relay's certificate.
    #[test]
    fn remedies_fit_the_server() {
        for role in [ServerRole::Node, ServerRole::PeerService] {
            let all = [
                role.unreachable_remedy(),
                role.timeout_remedy(),
                role.wrong_service_remedy(),
                role.ca_remedy(),
                role.name_remedy(),
                role.tls_expected_remedy(),
                role.plaintext_remedy(),
                role.closed_remedy(),
                role.tls_remedy(),
            ];
            for text in all {
                assert!(
                    !text.contains("cilium hubble port-forward") && !text.contains("hubble-relay"),
                    "{role:?}: {text}"
                );
            }
        }
        assert!(ServerRole::Relay
            .unreachable_remedy()
            .contains("cilium hubble port-forward"));
    }
}
