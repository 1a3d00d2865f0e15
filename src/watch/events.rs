//! What `watch` reports as it happens: one typed [`WatchEvent`] per
//! finding or change of the stream, serialized as one JSON object a line
//! (`--log-format json`) or shown as one text line ([`WatchEvent::text`]).

use serde::Serialize;

use crate::verify::model::RuleRef;
use crate::verify::report::DirReport;

/// One connection (initiator → responder on a port), as events name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeRef {
    pub source: String,
    pub destination: String,
    /// `8080/TCP`.
    pub port: String,
}

impl std::fmt::Display for EdgeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {} {}", self.source, self.destination, self.port)
    }
}

/// Traffic the policy tree would drop, with the deciding rule per direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WouldDrop {
    /// Flow time (RFC 3339) of the flow that showed it.
    pub time: String,
    #[serde(flatten)]
    pub edge: EdgeRef,
    /// The directions that were evaluated (egress at the initiator,
    /// ingress at the responder), with verdict, reason and rule.
    pub directions: Vec<DirReport>,
    pub sample: String,
}

/// A flow Cilium DROPPED for a policy reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dropped {
    pub time: String,
    #[serde(flatten)]
    pub edge: EdgeRef,
    /// Cilium's drop reason (`POLICY_DENIED`, `POLICY_DENY`).
    pub reason: String,
    /// The policies Cilium named as denying it (`kind namespace/name`), when
    /// the flow carries them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub denied_by: Vec<String>,
    /// What the watched policy tree decides for the same connection:
    /// `dropped` agrees with Cilium, `allowed` does not (the tree is not the
    /// one in force, or verify is wrong), `unknown` cannot be decided.
    pub simulated: &'static str,
    pub directions: Vec<DirReport>,
    pub sample: String,
}

/// A connection not seen before that the policy tree has no rule for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewEdge {
    pub time: String,
    #[serde(flatten)]
    pub edge: EdgeRef,
    /// `dropped` or `unknown`: what the tree decides for it.
    pub simulated: &'static str,
    pub sample: String,
}

/// An allow rule no flow has used for `--unused-after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnusedRule {
    /// Flow time (RFC 3339) when it was found idle.
    pub time: String,
    #[serde(flatten)]
    pub rule: RuleRef,
    pub direction: &'static str,
    /// Last flow time it allowed a flow (RFC 3339); none in this watch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
    /// Seconds of flow time without use.
    pub idle_seconds: i64,
}

/// The state of the stream and of the watch itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum StreamNote {
    Connected,
    Reconnecting {
        attempt: u32,
        delay_ms: u64,
        error: String,
    },
    /// Hubble lost events on a node: the watch has a gap.
    Lost {
        node: String,
        count: u64,
    },
    /// The relay reported nodes unavailable (or available again).
    Nodes {
        state: String,
        nodes: Vec<String>,
    },
    /// The policy tree was reloaded.
    Reloaded {
        policies: usize,
        rules: usize,
    },
    /// Reloading failed; the previous tree stays in force.
    ReloadFailed {
        error: String,
    },
    /// The distinct-edge cap was reached: the oldest edges (by last flow
    /// seen) were forgotten.
    Evicted {
        edges: u64,
        cap: usize,
    },
}

/// One event of the watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum WatchEvent {
    WouldDrop(WouldDrop),
    Dropped(Dropped),
    NewEdge(NewEdge),
    UnusedRule(UnusedRule),
    Stream(StreamNote),
}

impl WatchEvent {
    /// The event's name, as logged.
    pub fn kind(&self) -> &'static str {
        match self {
            WatchEvent::WouldDrop(_) => "would-drop",
            WatchEvent::Dropped(_) => "dropped",
            WatchEvent::NewEdge(_) => "new-edge",
            WatchEvent::UnusedRule(_) => "unused-rule",
            WatchEvent::Stream(_) => "stream",
        }
    }

    /// One JSON object (one log line, without the newline).
    pub fn json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"event\":\"error\",\"error\":{:?}}}", e.to_string()))
    }

    /// One readable line.
    pub fn text(&self) -> String {
        let dirs = |d: &[DirReport]| {
            d.iter()
                .filter(|d| d.verdict != "allowed")
                .map(|d| format!("{} at {}: {}", d.direction, d.endpoint, d.reason))
                .collect::<Vec<_>>()
                .join("; ")
        };
        match self {
            WatchEvent::WouldDrop(e) => {
                format!("{} would-drop {}: {}", e.time, e.edge, dirs(&e.directions))
            }
            WatchEvent::Dropped(e) => {
                let by = if e.denied_by.is_empty() {
                    String::new()
                } else {
                    format!(" by {}", e.denied_by.join(", "))
                };
                format!(
                    "{} dropped {}: Cilium {}{by}; the watched policies: {}",
                    e.time, e.edge, e.reason, e.simulated
                )
            }
            WatchEvent::NewEdge(e) => format!(
                "{} new-edge {} (no rule allows it: {})",
                e.time, e.edge, e.simulated
            ),
            WatchEvent::UnusedRule(e) => format!(
                "{} unused-rule {} {} ({}): no flow for {}s{}",
                e.time,
                e.rule.policy,
                e.rule.rule,
                e.direction,
                e.idle_seconds,
                e.last_used
                    .as_ref()
                    .map(|t| format!(", last used {t}"))
                    .unwrap_or_else(|| ", not used in this watch".into())
            ),
            WatchEvent::Stream(s) => match s {
                StreamNote::Connected => "stream connected".into(),
                StreamNote::Reconnecting {
                    attempt,
                    delay_ms,
                    error,
                } => format!(
                    "stream interrupted: {error}; reconnecting in {delay_ms}ms (attempt {attempt})"
                ),
                StreamNote::Lost { node, count } => {
                    format!("stream lost {count} events on {node}: the watch has a gap")
                }
                StreamNote::Nodes { state, nodes } => {
                    format!("stream nodes {state}: {}", crate::brief::list(nodes))
                }
                StreamNote::Reloaded { policies, rules } => {
                    format!("policies reloaded: {policies} policies, {rules} rules")
                }
                StreamNote::ReloadFailed { error } => {
                    format!("policies NOT reloaded (the previous tree stays in force): {error}")
                }
                StreamNote::Evicted { edges, cap } => {
                    format!("forgot the {edges} least recently seen edges (--max-edges {cap})")
                }
            },
        }
    }
}

/// Nanoseconds since the epoch as RFC 3339 (UTC, seconds).
pub fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp(ns.div_euclid(1_000_000_000), 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "unknown".into())
}
