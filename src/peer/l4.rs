//! The responder side of a connection as a policy sees it: protocol plus
//! destination port, or ICMP family plus the *request* type.

use serde::{Deserialize, Serialize};

/// Transport protocols a rule can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
    /// ICMP over IPv4: `port` holds the ICMP type.
    #[serde(rename = "ICMPv4")]
    Icmp4,
    /// ICMP over IPv6: `port` holds the ICMP type.
    #[serde(rename = "ICMPv6")]
    Icmp6,
}

impl Proto {
    pub fn is_icmp(self) -> bool {
        matches!(self, Proto::Icmp4 | Proto::Icmp6)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
            Proto::Sctp => "SCTP",
            Proto::Icmp4 => "ICMPv4",
            Proto::Icmp6 => "ICMPv6",
        }
    }
}

/// What the responder accepted: `TCP/5432`, `UDP/53`, `ICMPv4/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PortKey {
    pub proto: Proto,
    /// Destination port, or ICMP type for ICMP.
    pub port: u16,
}

impl std::fmt::Display for PortKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.proto.is_icmp() {
            write!(f, "{}/type {}", self.proto.as_str(), self.port)
        } else {
            write!(f, "{}/{}", self.port, self.proto.as_str())
        }
    }
}
