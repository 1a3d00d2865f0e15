//! Replay benchmark: generates a large, deterministic jsonpb dump (zstd) of a
//! synthetic cluster, then measures the whole `recommend` pipeline on it —
//! read + decode + interpret + aggregate, then synthesize + render — and the
//! peak memory, at two dump sizes with the same set of edges, to show that
//! memory follows distinct edges, not flow count.
//!
//! `cargo bench --bench replay` (env `FLOWPOLICY_BENCH_FLOWS`, default 600000).
//! Targets (release build, this 2-core machine): ≥ 100k flows/s
//! end to end, and peak RSS growing < 25 % when the flow count is 4× with
//! the same edges.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use flowpolicy::cli::inputs::{load_graph, InputArgs};
use flowpolicy::proto::flow::{self, layer4::Protocol, Endpoint, Flow, Layer4, Tcp, TcpFlags};
use flowpolicy::proto::observer::{get_flows_response::ResponseTypes, GetFlowsResponse};
use flowpolicy::render::yaml;
use flowpolicy::synth::{synthesize, SynthConfig};

const NAMESPACES: usize = 20;
const APPS_PER_NS: usize = 15;
const EDGES: usize = 2_000;

/// splitmix64: a tiny deterministic PRNG.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn endpoint(app: usize) -> (Endpoint, String) {
    let ns = format!("ns-{}", app / APPS_PER_NS);
    let name = format!("app-{app}");
    let labels = vec![
        format!("k8s:app.kubernetes.io/name={name}"),
        "k8s:io.cilium.k8s.policy.cluster=bench".to_string(),
        format!("k8s:io.cilium.k8s.policy.serviceaccount={name}"),
        format!("k8s:io.kubernetes.pod.namespace={ns}"),
    ];
    let ip = format!("10.{}.{}.{}", 1 + app / 65536, (app / 256) % 256, app % 256);
    (
        Endpoint {
            identity: 1000 + app as u32,
            namespace: ns,
            labels,
            pod_name: format!("{name}-0"),
            ..Default::default()
        },
        ip,
    )
}

#[allow(clippy::too_many_arguments)] // one TCP packet: both ends, ports, flags, direction, time
fn packet(
    src: &(Endpoint, String),
    dst: &(Endpoint, String),
    sp: u32,
    dp: u32,
    syn: bool,
    ack: bool,
    reply: bool,
    t: i64,
) -> GetFlowsResponse {
    let f = Flow {
        time: Some(pbjson_types::Timestamp {
            seconds: 1_800_000_000 + t / 1000,
            nanos: ((t % 1000) * 1_000_000) as i32,
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
                source_port: sp,
                destination_port: dp,
                flags: Some(TcpFlags {
                    syn,
                    ack,
                    ..Default::default()
                }),
            })),
        }),
        source: Some(src.0.clone()),
        destination: Some(dst.0.clone()),
        r#type: flow::FlowType::L3L4 as i32,
        node_name: "bench-node".into(),
        is_reply: Some(pbjson_types::BoolValue { value: reply }),
        traffic_direction: flow::TrafficDirection::Egress as i32,
        ..Default::default()
    };
    GetFlowsResponse {
        node_name: "bench-node".into(),
        time: f.time,
        response_types: Some(ResponseTypes::Flow(f)),
    }
}

/// Writes `flows` flows (connections of 3 packets over a fixed edge set).
fn generate(path: &Path, flows: usize) -> u64 {
    let apps = NAMESPACES * APPS_PER_NS;
    let eps: Vec<_> = (0..apps).map(endpoint).collect();
    let mut rng = Rng(42);
    let edges: Vec<(usize, usize, u32)> = (0..EDGES)
        .map(|_| {
            (
                rng.below(apps),
                rng.below(apps),
                [80, 443, 5432, 6379, 8080, 9090][rng.below(6)],
            )
        })
        .collect();
    let file = std::fs::File::create(path).unwrap();
    let mut z = zstd::stream::write::Encoder::new(std::io::BufWriter::new(file), 1).unwrap();
    let mut bytes = 0u64;
    let mut t = 0i64;
    for c in 0..flows / 3 {
        let (a, b, port) = edges[rng.below(EDGES)];
        let sport = 32768 + (c % 28000) as u32;
        t += 7;
        for resp in [
            packet(&eps[a], &eps[b], sport, port, true, false, false, t),
            packet(&eps[b], &eps[a], port, sport, true, true, true, t),
            packet(&eps[a], &eps[b], sport, port, false, true, false, t),
        ] {
            let line = serde_json::to_string(&resp).unwrap();
            bytes += line.len() as u64 + 1;
            z.write_all(line.as_bytes()).unwrap();
            z.write_all(b"\n").unwrap();
        }
    }
    z.finish().unwrap().flush().unwrap();
    bytes
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn run(path: &Path) -> (f64, u64, usize, usize, f64) {
    let args = InputArgs {
        inputs: vec![path.to_path_buf()],
        strict: true,
        cidr_groups: vec![],
        conn_window: 120,
        guess_direction: false,
    };
    let start = Instant::now();
    let (graph, report) = load_graph(&args).unwrap();
    let load = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let set = synthesize(
        &graph,
        &SynthConfig {
            foundation: true,
            ..SynthConfig::default()
        },
    );
    let docs = yaml::documents(&set);
    let synth = start.elapsed().as_secs_f64();
    std::hint::black_box(yaml::stream(&docs));
    (
        load,
        report.interpret.flows,
        graph.edge_count(),
        set.len(),
        synth,
    )
}

fn main() {
    // Each measurement runs in a fresh child process so its peak RSS is its own.
    if let Ok(path) = std::env::var("FLOWPOLICY_BENCH_CHILD") {
        let (load, read, edges, policies, synth) = run(Path::new(&path));
        let raw: f64 = std::env::var("FLOWPOLICY_BENCH_RAW")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        println!(
            "{:>10} {:>10.1} {:>9.2} {:>12.0} {:>7} {:>9} {:>10.3} {:>12.1}",
            read,
            raw / 1e6,
            load,
            read as f64 / load,
            edges,
            policies,
            synth,
            peak_rss_kib() as f64 / 1024.0
        );
        return;
    }
    let flows: usize = std::env::var("FLOWPOLICY_BENCH_FLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600_000);
    let dir = tempfile::tempdir().unwrap();
    println!(
        "flowpolicy replay benchmark ({EDGES} edges among {} workloads)",
        NAMESPACES * APPS_PER_NS
    );
    println!(
        "{:>10} {:>10} {:>9} {:>12} {:>7} {:>9} {:>10} {:>12}",
        "flows", "MB (raw)", "load s", "flows/s", "edges", "policies", "synth s", "peak RSS MiB"
    );
    for n in [flows / 4, flows] {
        let path = dir.path().join(format!("bench-{n}.jsonpb.zst"));
        let raw = generate(&path, n);
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .env("FLOWPOLICY_BENCH_CHILD", &path)
            .env("FLOWPOLICY_BENCH_RAW", raw.to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}
