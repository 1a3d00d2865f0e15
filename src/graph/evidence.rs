//! Evidence kept on the graph: per responder port, how many connections and
//! flows, first and last seen, and one sample flow in a readable line.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::interpret::direction::Basis;
use crate::proto::flow::{self, layer4::Protocol};

/// Counts for one verdict class of one (edge, port).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub connections: u64,
    pub flows: u64,
    /// ns since the epoch (0: unknown).
    pub first_seen: i64,
    pub last_seen: i64,
    /// The earliest flow seen, as one readable line.
    pub sample: String,
    /// Flows per evidence that decided their direction (why this is the
    /// initiator's side).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub direction: BTreeMap<Basis, u64>,
}

impl Tally {
    pub fn record(&mut self, time_ns: i64, new_connection: bool, f: &flow::Flow, basis: Basis) {
        self.flows += 1;
        match self.direction.get_mut(&basis) {
            Some(n) => *n += 1,
            None => {
                self.direction.insert(basis, 1);
            }
        }
        if new_connection {
            self.connections += 1;
        }
        if self.sample.is_empty()
            || (time_ns != 0 && (self.first_seen == 0 || time_ns < self.first_seen))
        {
            self.sample = describe(f);
        }
        if time_ns != 0 {
            self.first_seen = if self.first_seen == 0 {
                time_ns
            } else {
                self.first_seen.min(time_ns)
            };
            self.last_seen = self.last_seen.max(time_ns);
        }
    }

    /// Combines two tallies; commutative and associative.
    pub fn merge(&mut self, other: &Tally) {
        for (b, n) in &other.direction {
            *self.direction.entry(*b).or_default() += n;
        }
        self.connections += other.connections;
        self.flows += other.flows;
        let take_other = match (self.first_seen, other.first_seen) {
            (_, 0) => {
                self.sample.is_empty() || (self.first_seen == 0 && other.sample < self.sample)
            }
            (0, _) => true,
            (a, b) => b < a || (a == b && other.sample < self.sample),
        };
        if take_other && !other.sample.is_empty() {
            self.sample = other.sample.clone();
        }
        self.first_seen = match (self.first_seen, other.first_seen) {
            (0, b) => b,
            (a, 0) => a,
            (a, b) => a.min(b),
        };
        self.last_seen = self.last_seen.max(other.last_seen);
    }
}

/// Formats a time in ns since the epoch as RFC 3339 (UTC, ms).
pub fn format_time(ns: i64) -> String {
    if ns == 0 {
        return "unknown".to_string();
    }
    chrono::DateTime::from_timestamp(
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    )
    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    .unwrap_or_else(|| ns.to_string())
}

/// One readable line for a flow: time, node, addresses, L4, verdict, direction.
pub fn describe(f: &flow::Flow) -> String {
    let time = f
        .time
        .as_ref()
        .map(|t| format_time(t.seconds * 1_000_000_000 + i64::from(t.nanos)))
        .unwrap_or_else(|| "unknown-time".into());
    let (src, dst) =
        f.ip.as_ref()
            .map(|ip| (ip.source.as_str(), ip.destination.as_str()))
            .unwrap_or(("?", "?"));
    let l4 = match f.l4.as_ref().and_then(|l| l.protocol.as_ref()) {
        Some(Protocol::Tcp(t)) => {
            let fl = t.flags.unwrap_or_default();
            let flags: Vec<&str> = [
                (fl.syn, "SYN"),
                (fl.ack, "ACK"),
                (fl.fin, "FIN"),
                (fl.rst, "RST"),
                (fl.psh, "PSH"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
            format!(
                "{src}:{} -> {dst}:{} TCP {}",
                t.source_port,
                t.destination_port,
                flags.join(",")
            )
        }
        Some(Protocol::Udp(u)) => format!(
            "{src}:{} -> {dst}:{} UDP",
            u.source_port, u.destination_port
        ),
        Some(Protocol::Sctp(s)) => format!(
            "{src}:{} -> {dst}:{} SCTP",
            s.source_port, s.destination_port
        ),
        Some(Protocol::IcmPv4(i)) => format!("{src} -> {dst} ICMPv4 type {}", i.r#type),
        Some(Protocol::IcmPv6(i)) => format!("{src} -> {dst} ICMPv6 type {}", i.r#type),
        None => format!("{src} -> {dst}"),
    };
    let reply = match &f.is_reply {
        Some(r) if r.value => " reply",
        _ => "",
    };
    let node = if f.node_name.is_empty() {
        "?"
    } else {
        f.node_name.as_str()
    };
    format!(
        "{time} {node} {l4} {}{} {}",
        f.verdict().as_str_name(),
        reply,
        f.traffic_direction().as_str_name()
    )
}
