//! What interpretation hands on: one flow normalized to the connection it
//! belongs to ([`Observation`], with its L7 facts typed), the verdict class,
//! why a flow taught nothing ([`SkipReason`]), the tunables and the counters.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::direction::Basis;
use super::undecided::Undecided;
use super::{dns, http, sample};
use crate::peer::l4::PortKey;
use crate::peer::Peer;
use crate::proto::flow;

/// Tunables of interpretation.
#[derive(Debug, Clone)]
pub struct InterpretConfig {
    /// World *clients* (initiators) inside one of these prefixes become that
    /// prefix (e.g. LAN clients `10.0.0.0/8`) instead of one `/32` each.
    /// Destinations are never grouped.
    pub cidr_groups: Vec<IpNet>,
    /// Flows of one 5-tuple within this window are one connection.
    pub conn_window_ns: i64,
    /// Learn flows whose direction no evidence decides by taking the lower
    /// port as the server (off by default: such flows are only reported).
    pub guess_direction: bool,
}

impl Default for InterpretConfig {
    fn default() -> Self {
        InterpretConfig {
            cidr_groups: Vec::new(),
            conn_window_ns: 120 * 1_000_000_000,
            guess_direction: false,
        }
    }
}

/// How the policy engine treated the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictClass {
    /// FORWARDED, REDIRECTED (to a proxy), TRACED.
    Allowed,
    /// AUDIT: would have been dropped, allowed because of audit mode.
    Audit,
    /// DROPPED.
    Dropped,
}

/// Why a flow produced no observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// No TCP/UDP/SCTP/ICMP layer (e.g. field-masked, or other protocols).
    NoL4,
    /// Socket-LB translation or other non-packet events.
    NotAPacket,
    /// Verdict ERROR (or unknown future verdicts).
    ErrorVerdict,
    /// ICMP errors belong to another connection.
    IcmpRelated,
    /// Source or destination carries no identity at all.
    UnknownPeer,
    /// A pod the L7 proxy reported as `reserved:world` (identity not yet
    /// known to it) whose address was never seen with its real identity.
    UnresolvedPod,
    /// Neither end is a workload (node-to-node, host-to-world…): no pod policy applies.
    NoWorkload,
    /// The responder's port is absent or 0: there is no port to allow, and
    /// `port: "0"` would mean every port.
    NoPort,
    /// Nothing decided which end initiated (listed in the summary).
    Undecided,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::NoL4 => "no L4 layer",
            SkipReason::NotAPacket => "socket-LB/translation events",
            SkipReason::ErrorVerdict => "error verdict",
            SkipReason::IcmpRelated => "ICMP errors (related to other connections)",
            SkipReason::UnknownPeer => "peer without identity",
            SkipReason::UnresolvedPod => {
                "pods reported as world by the proxy, never seen with their identity"
            }
            SkipReason::NoWorkload => "no workload on either side",
            SkipReason::NoPort => "no destination port (absent or 0)",
            SkipReason::Undecided => "direction undecided",
        }
    }
}

/// One flow, normalized to the connection it belongs to.
#[derive(Debug, Clone)]
pub struct Observation<'f> {
    pub flow: &'f flow::Flow,
    /// Flow time in ns since the epoch (0 when unknown).
    pub time_ns: i64,
    pub initiator: Arc<Peer>,
    pub responder: Arc<Peer>,
    pub initiator_ip: Option<IpAddr>,
    pub responder_ip: Option<IpAddr>,
    pub port: PortKey,
    pub verdict: VerdictClass,
    /// True for the first flow of a connection (within the window).
    pub new_connection: bool,
    /// The evidence that decided which end initiated.
    pub basis: Basis,
}

/// What Cilium's L7 proxy recorded on an observed flow, as the graph keeps
/// it: the HTTP request class material, or the name a DNS query asked for
/// (requests and answers carry it alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L7Fact<'f> {
    Http(http::HttpRequest<'f>),
    DnsName(String),
}

impl<'f> Observation<'f> {
    /// The flow's L7 record, if it carries one the graph keeps.
    pub fn l7(&self) -> Option<L7Fact<'f>> {
        use crate::proto::flow::layer7::Record;
        match self.flow.l7.as_ref()?.record.as_ref()? {
            Record::Http(_) => http::HttpRequest::of(self.flow).map(L7Fact::Http),
            Record::Dns(dns) => {
                let name = dns::normalize(&dns.query);
                (!name.is_empty()).then_some(L7Fact::DnsName(name))
            }
        }
    }

    /// A DROPPED flow whose drop reason is a policy decision (what
    /// `verify --against-recorded` compares with).
    pub fn policy_denied(&self) -> bool {
        self.verdict == VerdictClass::Dropped && super::direction::is_policy_drop(self.flow)
    }

    /// The flow as one readable line (the evidence sample).
    pub fn sample(&self) -> String {
        sample::describe(self.flow)
    }
}

/// Counters for the summary.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InterpretStats {
    pub flows: u64,
    pub observations: u64,
    pub replies_inverted: u64,
    pub dropped: u64,
    pub audit: u64,
    pub basis: BTreeMap<String, u64>,
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Peer pairs whose direction nothing decided (not learned unless
    /// `--guess-direction`).
    #[serde(default, skip_serializing_if = "Undecided::is_empty")]
    pub undecided: Undecided,
    /// Undecided flows later found to belong to a decided connection (a
    /// reply seen before its opener).
    #[serde(default)]
    pub undecided_resolved: u64,
}

/// Maps Hubble's verdict to what learning does with it.
pub fn verdict_class(f: &flow::Flow) -> Result<VerdictClass, SkipReason> {
    use flow::Verdict;
    if f.r#type() == flow::FlowType::Sock {
        return Err(SkipReason::NotAPacket);
    }
    match Verdict::try_from(f.verdict) {
        Ok(Verdict::Forwarded | Verdict::Redirected | Verdict::Traced) => Ok(VerdictClass::Allowed),
        // Field-masked exporters may drop the verdict: such a flow was delivered.
        Ok(Verdict::Unknown) => Ok(VerdictClass::Allowed),
        Ok(Verdict::Audit) => Ok(VerdictClass::Audit),
        Ok(Verdict::Dropped) => Ok(VerdictClass::Dropped),
        Ok(Verdict::Translated) => Err(SkipReason::NotAPacket),
        Ok(Verdict::Error) | Err(_) => Err(SkipReason::ErrorVerdict),
    }
}

/// Flow time in ns since the epoch, 0 when absent.
pub fn time_ns(f: &flow::Flow) -> i64 {
    f.time
        .as_ref()
        .map(|t| {
            t.seconds
                .saturating_mul(1_000_000_000)
                .saturating_add(i64::from(t.nanos))
        })
        .unwrap_or(0)
}
