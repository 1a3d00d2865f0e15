//! Memory of a long `watch` (issue #20): a day of flow time at a steady rate
//! through the watch sink, in process (interpreter, graph, one verdict per
//! connection against a policy tree, metrics), compressed in wall time.
//! Prints flows/s and the resident set every simulated hour, and the peak:
//! memory must stay flat once the connections have all been seen (it grows
//! with distinct connections, never with flows).
//!
//! The traffic: 40 workloads in 8 namespaces, each calling three others and
//! the resolver, 5 frontends called by a pool of world clients; each
//! connection is SYN, SYN-ACK (reply), ACK. The policy tree is what
//! `recommend` writes for the first flows, so the rest holds a few
//! connections it would drop.
//!
//! `cargo bench --bench watch`. Environment:
//! - `FLOWPOLICY_BENCH_RATE` (default 500): flows per second of flow time;
//! - `FLOWPOLICY_BENCH_HOURS` (default 24): hours of flow time;
//! - `FLOWPOLICY_BENCH_CLIENTS` (default 2000): world client addresses.

use std::ops::ControlFlow;
use std::time::Instant;

use flowpolicy::graph::builder::GraphBuilder;
use flowpolicy::interpret::InterpretConfig;
use flowpolicy::proto::flow::{self, layer4::Protocol, Endpoint, Flow, Layer4, Tcp, TcpFlags};
use flowpolicy::render::yaml;
use flowpolicy::source::event::{EndpointHint, SourceEvent};
use flowpolicy::source::sink::{At, FlowSink};
use flowpolicy::synth::{synthesize, SynthConfig};
use flowpolicy::watch::metrics::Metrics;
use flowpolicy::watch::{PolicyTree, WatchOptions, WatchSink};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

type Ep = (Endpoint, String);

fn pod(ns: &str, app: &str, i: usize) -> Ep {
    let labels = vec![
        format!("k8s:app={app}"),
        "k8s:io.cilium.k8s.policy.cluster=default".to_string(),
        format!("k8s:io.cilium.k8s.policy.serviceaccount={app}"),
        format!("k8s:io.kubernetes.pod.namespace={ns}"),
    ];
    (
        Endpoint {
            identity: 10_000 + i as u32,
            namespace: ns.into(),
            labels,
            pod_name: format!("{app}-7d9f8c6b5-x{i:04}"),
            ..Default::default()
        },
        format!("10.244.{}.{}", i / 200, 10 + i % 200),
    )
}

fn world(ip: String) -> Ep {
    (
        Endpoint {
            identity: 2,
            labels: vec!["reserved:world".into()],
            ..Default::default()
        },
        ip,
    )
}

fn packet(src: &Ep, dst: &Ep, ports: (u32, u32), flags: (bool, bool), reply: bool, t: i64) -> Flow {
    Flow {
        time: Some(pbjson_types::Timestamp {
            seconds: t / 1_000_000_000,
            nanos: (t % 1_000_000_000) as i32,
        }),
        verdict: flow::Verdict::Forwarded as i32,
        ip: Some(flow::Ip {
            source: src.1.clone(),
            destination: dst.1.clone(),
            ip_version: flow::IpVersion::IPv4 as i32,
            ..Default::default()
        }),
        l4: Some(Layer4 {
            protocol: Some(Protocol::Tcp(Tcp {
                source_port: ports.0,
                destination_port: ports.1,
                flags: Some(TcpFlags {
                    syn: flags.0,
                    ack: flags.1,
                    ..Default::default()
                }),
            })),
        }),
        source: Some(src.0.clone()),
        destination: Some(dst.0.clone()),
        is_reply: Some(pbjson_types::BoolValue { value: reply }),
        r#type: flow::FlowType::L3L4 as i32,
        node_name: format!("node-{}", ports.0 % 4),
        ..Default::default()
    }
}

/// The steady traffic: connection `n` as its three packets.
struct Traffic {
    pods: Vec<Ep>,
    clients: usize,
    calls: Vec<(usize, usize, u32)>,
    n: u64,
}

impl Traffic {
    fn new(clients: usize) -> Traffic {
        let mut pods = Vec::new();
        for ns in 0..8 {
            for app in 0..5 {
                pods.push(pod(&format!("ns{ns}"), &format!("app{app}"), pods.len()));
            }
        }
        let mut calls = Vec::new();
        for (i, _) in pods.iter().enumerate() {
            for k in 1..=3 {
                let j = (i * 7 + k * 13) % pods.len();
                if j != i {
                    calls.push((i, j, 8000 + (j % 5) as u32));
                }
            }
        }
        Traffic {
            pods,
            clients,
            calls,
            n: 0,
        }
    }

    fn connection(&mut self, t: i64) -> [Flow; 3] {
        self.n += 1;
        let n = self.n;
        let sport = 32768 + (n % 28000) as u32;
        let (client, server, port) = if n.is_multiple_of(5) {
            let ip = (n / 5) as usize % self.clients;
            let c = world(format!("203.0.{}.{}", ip / 250, 1 + ip % 250));
            (c, self.pods[(n as usize / 5) % 5].clone(), 443)
        } else {
            let (i, j, p) = self.calls[n as usize % self.calls.len()];
            (self.pods[i].clone(), self.pods[j].clone(), p)
        };
        [
            packet(&client, &server, (sport, port), (true, false), false, t),
            packet(&server, &client, (port, sport), (true, true), true, t),
            packet(&client, &server, (sport, port), (false, true), false, t),
        ]
    }
}

fn main() {
    let rate: i64 = env_or("FLOWPOLICY_BENCH_RATE", 500);
    let hours: i64 = env_or("FLOWPOLICY_BENCH_HOURS", 24);
    let clients: usize = env_or("FLOWPOLICY_BENCH_CLIENTS", 2000);
    let start: i64 = 1_700_000_000 * 1_000_000_000;
    let step = 3 * 1_000_000_000 / rate.max(1);
    let total = rate * 3600 * hours;

    // The tree: what recommend writes for the first 20000 flows.
    let mut learn = Traffic::new(clients);
    let mut g = GraphBuilder::new(InterpretConfig::default());
    for c in 0..20_000 / 3 {
        for f in learn.connection(start + c * step) {
            let _ = g.event(
                &SourceEvent::Flow(Box::new(f)),
                At::Node(""),
                EndpointHint::default(),
            );
        }
    }
    let set = synthesize(&g.graph, &SynthConfig::default());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policies.yaml"),
        yaml::stream(&yaml::documents(&set)),
    )
    .unwrap();
    let tree = PolicyTree::load(&[dir.path().to_path_buf()], 0).unwrap();
    drop(g);

    let (metrics, _registry) = Metrics::registered();
    let mut sink = WatchSink::new(
        GraphBuilder::new(InterpretConfig::default()),
        tree,
        metrics,
        WatchOptions {
            unused_after_ns: Some(3600 * 1_000_000_000),
            max_edges: 200_000,
            stream: "bench".into(),
        },
    );
    let mut traffic = Traffic::new(clients);
    println!(
        "watch bench: {rate} flows/s of flow time for {hours} h = {total} flows, {clients} world clients, {} policies",
        set.len()
    );
    println!(
        "{:>5} {:>12} {:>10} {:>8} {:>8} {:>10}",
        "hour", "flows", "flows/s", "edges", "events", "RSS MiB"
    );
    let began = Instant::now();
    let (mut flows, mut events) = (0i64, 0usize);
    let mut t = start;
    for hour in 1..=hours {
        while flows < rate * 3600 * hour {
            for f in traffic.connection(t) {
                let ev = SourceEvent::Flow(Box::new(f));
                if let ControlFlow::Break(()) =
                    sink.event(&ev, At::Node(""), EndpointHint::default())
                {
                    unreachable!();
                }
            }
            flows += 3;
            t += step;
            if flows % 30_000 == 0 {
                sink.tick();
            }
            events += sink.pending.len();
            sink.pending.clear();
        }
        let secs = began.elapsed().as_secs_f64();
        println!(
            "{hour:>5} {flows:>12} {:>10.0} {:>8} {events:>8} {:>10.1}",
            flows as f64 / secs,
            sink.edges.len(),
            status_mib("VmRSS:")
        );
    }
    let secs = began.elapsed().as_secs_f64();
    println!(
        "done: {flows} flows in {secs:.1} s = {:.0} flows/s; {} would-drop flows, {} edges remembered, {} evicted; peak RSS {:.1} MiB",
        flows as f64 / secs,
        sink.totals.would_drop,
        sink.edges.len(),
        sink.edges.evicted,
        status_mib("VmHWM:")
    );
}
