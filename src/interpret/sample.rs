//! The readable sample line of a flow (time, node, addresses, L4, verdict,
//! direction) that the graph keeps as the evidence of each tally, and the
//! time format every report uses.

use crate::proto::flow::{self, layer4::Protocol};

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
