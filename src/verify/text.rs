//! Human-readable rendering of a [`Report`]: a summary, the dropped (and
//! undecidable) edges with the direction and rule behind each verdict, the
//! over-permissive findings, and with `explain` every allowed edge and the
//! rule that allowed it.

use std::fmt::Write as _;

use super::report::{Counts, EdgeReport, Report};
use super::requests::{RequestCounts, RequestReport};

fn counts(c: &Counts) -> String {
    format!(
        "{} connections ({} flows, {} edge ports)",
        c.connections, c.flows, c.edge_ports
    )
}

fn edges(out: &mut String, title: &str, list: &[EdgeReport], sample: bool) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}:");
    for e in list {
        for p in &e.ports {
            let _ = writeln!(
                out,
                "  {} → {} {}  {} connections, {} flows",
                e.source, e.destination, p.port, p.connections, p.flows
            );
            for d in &p.directions {
                let _ = writeln!(
                    out,
                    "      {} at {}: {} — {}",
                    d.direction, d.endpoint, d.verdict, d.reason
                );
                for h in &d.hints {
                    let _ = writeln!(out, "        hint: {h}");
                }
                for u in &d.unknown {
                    let _ = writeln!(out, "        unknown: {u}");
                }
            }
            if sample && !p.sample.is_empty() {
                let _ = writeln!(out, "      sample: {}", p.sample);
            }
        }
    }
}

fn request_counts(c: &RequestCounts) -> String {
    format!(
        "{} requests ({} classes, {} samples)",
        c.requests, c.classes, c.samples
    )
}

fn requests(out: &mut String, title: &str, code: &str, list: &[RequestReport]) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}:");
    for r in list {
        let host = r
            .host
            .as_deref()
            .map(|h| format!(" host {h}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {code}  {} {}{host} ({} → {} {}): {}",
            r.method, r.target, r.client, r.server, r.port, r.message
        );
    }
}

/// Renders the report; `explain` adds allowed edges.
pub fn render(r: &Report, explain: bool) -> String {
    let mut out = String::new();
    let s = &r.summary;
    let _ = writeln!(
        out,
        "flowpolicy verify: {} policies ({} rules) against {}",
        s.policies,
        s.rules,
        counts(&s.observed)
    );
    let _ = writeln!(out, "  allowed: {}", counts(&s.allowed));
    let _ = writeln!(out, "  dropped: {}", counts(&s.dropped));
    if s.unknown.edge_ports > 0 {
        let _ = writeln!(
            out,
            "  unknown: {} (cannot be decided offline)",
            counts(&s.unknown)
        );
    }
    let q = &s.requests;
    if q.evaluated.samples + q.not_evaluated.requests > 0 {
        let _ = writeln!(
            out,
            "  http requests: {} evaluated; allowed {}, denied (403) {}, unknown {}",
            request_counts(&q.evaluated),
            q.allowed.requests,
            q.denied.requests,
            q.unknown.requests
        );
        if q.not_evaluated.requests > 0 {
            let _ = writeln!(
                out,
                "    not evaluated: {} (connection not allowed at L4, or not classified)",
                request_counts(&q.not_evaluated)
            );
        }
    }
    if s.observed_dropped.edge_ports > 0 {
        let _ = writeln!(
            out,
            "  seen DROPPED by Hubble: {}; these policies would allow {} of them",
            counts(&s.observed_dropped),
            s.observed_dropped_now_allowed.connections
        );
    }
    edges(
        &mut out,
        "DROPPED (observed traffic these policies would drop)",
        &r.dropped,
        true,
    );
    edges(
        &mut out,
        "UNKNOWN (depends on what the flows do not show)",
        &r.unknown,
        true,
    );
    requests(
        &mut out,
        "HTTP 403 (observed requests these policies would reject)",
        "403",
        &r.requests_denied,
    );
    requests(
        &mut out,
        "HTTP UNKNOWN (requests whose L7 verdict depends on what the flows do not show)",
        "???",
        &r.requests_unknown,
    );
    if explain {
        edges(&mut out, "ALLOWED", &r.allowed, false);
        requests(&mut out, "HTTP ALLOWED", "ok ", &r.requests_allowed);
        edges(
            &mut out,
            "SEEN DROPPED BY HUBBLE",
            &r.observed_dropped,
            false,
        );
    }
    if !r.over_permissive.is_empty() {
        let _ = writeln!(out, "\nOVER-PERMISSIVE (allowed but never observed):");
        for f in &r.over_permissive {
            let _ = writeln!(out, "  [{}] {} {}: {}", f.kind, f.policy, f.rule, f.message);
        }
    }
    if !r.notes.is_empty() {
        let _ = writeln!(out, "\nNOT EVALUATED:");
        for n in &r.notes {
            let _ = writeln!(out, "  {n}");
        }
    }
    out
}
