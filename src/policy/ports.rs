//! Layer-4 parts of a Cilium rule: `toPorts` (ports, protocols, TLS,
//! listeners, L7 rules) and `icmps`.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::l7::L7Rules;
use super::scalar::{string_or_int, IntOrString};

/// One `toPorts` entry: the ports it opens and, optionally, L7 rules that
/// apply to them. Deny rules may only use `ports`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortProtocol>,
    /// TLS termination context (kept opaque).
    #[serde(
        default,
        rename = "terminatingTLS",
        skip_serializing_if = "Option::is_none"
    )]
    pub terminating_tls: Option<Value>,
    /// TLS origination context (kept opaque).
    #[serde(
        default,
        rename = "originatingTLS",
        skip_serializing_if = "Option::is_none"
    )]
    pub originating_tls: Option<Value>,
    /// TLS SNI names this rule applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_names: Vec<String>,
    /// Envoy listener redirection (kept opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<L7Rules>,
}

/// `{port, endPort, protocol}`. `port` is a number or a named port, always
/// written as a string; integers are accepted on input.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortProtocol {
    #[serde(deserialize_with = "string_or_int")]
    pub port: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
}

impl PortProtocol {
    /// A numeric port with a protocol.
    pub fn new(port: u16, protocol: Protocol) -> Self {
        Self {
            port: port.to_string(),
            end_port: None,
            protocol: Some(protocol),
        }
    }

    /// The port as a number, or `None` for a named port.
    pub fn number(&self) -> Option<u16> {
        self.port.parse().ok()
    }
}

/// `TCP | UDP | SCTP | ANY`. Input is matched case-insensitively (Cilium
/// itself does); output is canonical upper case. Absent means `ANY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum Protocol {
    TCP,
    UDP,
    SCTP,
    ANY,
}

impl Protocol {
    pub const ALL: [Protocol; 4] = [Protocol::TCP, Protocol::UDP, Protocol::SCTP, Protocol::ANY];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::TCP => "TCP",
            Protocol::UDP => "UDP",
            Protocol::SCTP => "SCTP",
            Protocol::ANY => "ANY",
        }
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Protocol::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(&s))
            .ok_or_else(|| serde::de::Error::unknown_variant(&s, &["TCP", "UDP", "SCTP", "ANY"]))
    }
}

/// One `icmps` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IcmpRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<IcmpField>,
}

/// `{family, type}`: `type` is a number or a name such as `EchoRequest`;
/// `family` is `IPv4` (the default) or `IPv6`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IcmpField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(rename = "type")]
    pub icmp_type: IntOrString,
}
