//! A generated multi-node capture: what each node's Hubble server of a
//! small cluster saw, for the fan-out tests. Deterministic (a fixed LCG).
//!
//! Twelve workloads on four nodes; node-2 leaves halfway, node-3 joins
//! halfway (their pods talk only while they are there). Every TCP
//! connection is reported by the client's node and, 20 µs later, by the
//! server's node (the double observation the interpreter counts once);
//! every tenth client first resolves an outside name (the answer seen on
//! its node) and a pod on another node then connects to the same address,
//! so naming it depends on flows of two nodes arriving in time order. One
//! lost-events notice on node-1. Every response time is distinct.

use flowpolicy::proto::flow::{self, Endpoint, Flow, LostEvent};
use flowpolicy::proto::observer::get_flows_response::ResponseTypes;
use flowpolicy::proto::observer::GetFlowsResponse;

use super::{dns_answer, pod, tcp_conn};

pub const NODES: [&str; 4] = ["node-0", "node-1", "node-2", "node-3"];
/// Seconds since the epoch of the first connection.
pub const START: i64 = 1_700_000_000;

const APPS: [(&str, &str); 12] = [
    ("shop", "frontend"),
    ("shop", "cart"),
    ("shop", "checkout"),
    ("db", "postgres"),
    ("db", "redis"),
    ("pay", "api"),
    ("pay", "worker"),
    ("mon", "prom"),
    ("kube-system", "coredns"),
    ("shop", "search"),
    ("pay", "ledger"),
    ("mon", "grafana"),
];

/// The capture: `conns` connections 10 ms apart, with the time at which
/// node-2 leaves and node-3 joins (`half`). Sorted by time.
pub struct Capture {
    pub responses: Vec<GetFlowsResponse>,
    pub half: (i64, i32),
}

impl Capture {
    /// The responses node `name` reported.
    pub fn of(&self, name: &str) -> Vec<GetFlowsResponse> {
        let r = self.responses.iter();
        r.filter(|r| r.node_name == name).cloned().collect()
    }

    /// The responses node `name` reported before (or from) `half`.
    pub fn split(&self, name: &str) -> (Vec<GetFlowsResponse>, Vec<GetFlowsResponse>) {
        self.of(name)
            .into_iter()
            .partition(|r| time_of(r) < self.half)
    }
}

pub fn time_of(r: &GetFlowsResponse) -> (i64, i32) {
    r.time.as_ref().map_or((0, 0), |t| (t.seconds, t.nanos))
}

fn node_of(app: usize) -> usize {
    app % NODES.len()
}

fn workload(app: usize) -> (Endpoint, String) {
    let (ns, name) = APPS[app];
    pod(
        ns,
        &[("app", name)],
        &format!("10.0.{}.{}", node_of(app), 10 + app),
    )
}

/// When workload `app` may talk: node-2's before half, node-3's after.
fn present(app: usize, k: usize, conns: usize) -> bool {
    match node_of(app) {
        2 => k < conns / 2,
        3 => k >= conns / 2,
        _ => true,
    }
}

fn at(nanos: i64) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp {
        seconds: START + nanos / 1_000_000_000,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}

fn response(
    mut f: Flow,
    node: usize,
    nanos: i64,
    direction: flow::TrafficDirection,
) -> GetFlowsResponse {
    let t = at(nanos);
    f.time = Some(t);
    f.node_name = NODES[node].into();
    f.traffic_direction = direction as i32;
    GetFlowsResponse {
        response_types: Some(ResponseTypes::Flow(f)),
        node_name: NODES[node].into(),
        time: Some(t),
    }
}

/// `conns` connections (about 6 flows each).
pub fn capture(conns: usize) -> Capture {
    use flow::TrafficDirection::{Egress, Ingress};
    let mut seed: u64 = 0x5eed_f10e;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n
    };
    let mut out = Vec::new();
    let dns = 8; // coredns
    for k in 0..conns {
        let t0 = k as i64 * 10_000_000;
        if k == conns / 3 {
            let t = at(t0 + 5_000_000);
            out.push(GetFlowsResponse {
                response_types: Some(ResponseTypes::LostEvents(LostEvent {
                    source: flow::LostEventSource::PerfEventRingBuffer as i32,
                    num_events_lost: 17,
                    cpu: None,
                    ..Default::default()
                })),
                node_name: NODES[1].into(),
                time: Some(t),
            });
        }
        let (c, s) = (next(APPS.len()), next(APPS.len()));
        if c == s || c == dns || !present(c, k, conns) || !present(s, k, conns) {
            continue;
        }
        let (client, server) = (workload(c), workload(s));
        let port = if s == dns { 53 } else { 8000 + s as u32 };
        let sport = 30_000 + (k % 20_000) as u32;
        for (j, f) in tcp_conn(&client, &server, sport, port, 0)
            .into_iter()
            .enumerate()
        {
            let reply = f.is_reply.as_ref().is_some_and(|r| r.value);
            let t = t0 + j as i64 * 100_000;
            let (at_client, at_server) = if reply {
                (Ingress, Egress)
            } else {
                (Egress, Ingress)
            };
            out.push(response(f.clone(), node_of(c), t, at_client));
            out.push(response(f, node_of(s), t + 20_000, at_server));
        }
        if k % 10 == 0 {
            // An outside name, resolved on the client's node, used from
            // another node.
            let m = 1 + k % 7;
            let ip = format!("203.0.113.{m}");
            let name = format!("api{m}.partner.example");
            let resolver = workload(dns);
            let answer = dns_answer(&client, &resolver, &name, &[&ip], 0);
            out.push(response(answer, node_of(c), t0 + 1_000_000, Ingress));
            let world = (
                Endpoint {
                    identity: 2,
                    labels: vec!["reserved:world".into()],
                    ..Default::default()
                },
                ip,
            );
            let other = (c + 1..c + APPS.len())
                .map(|a| a % APPS.len())
                .find(|&a| a != dns && node_of(a) != node_of(c) && present(a, k, conns));
            for (who, dt) in [(Some(c), 2_000_000), (other, 3_000_000)] {
                let Some(who) = who else { continue };
                let from = workload(who);
                let sport = 40_000 + (k % 20_000) as u32;
                for (j, f) in tcp_conn(&from, &world, sport, 443, 0)
                    .into_iter()
                    .enumerate()
                {
                    let reply = f.is_reply.as_ref().is_some_and(|r| r.value);
                    let dir = if reply { Ingress } else { Egress };
                    out.push(response(f, node_of(who), t0 + dt + j as i64 * 100_000, dir));
                }
            }
        }
    }
    out.sort_by_key(time_of);
    Capture {
        responses: out,
        half: {
            let t = at((conns / 2) as i64 * 10_000_000);
            (t.seconds, t.nanos)
        },
    }
}
