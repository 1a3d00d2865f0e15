//! Deterministic generator of the bundled demo Hubble dump `fixtures/demo.jsonpb.zst`.
//!
//! It reads the seed cluster's topology (`cluster-topology.json`: apps, workloads and their
//! pod labels, services, routes, who talks to whom, internet egress, LAN load balancers,
//! CIDRs, nodes) **at generation time**, places one or more pods per workload on the
//! cluster's nodes, and simulates six hours of traffic as `hubble observe -o jsonpb` would
//! print it through Hubble Relay: one `GetFlowsResponse` per line, zstd-compressed.
//!
//! The simulation follows Hubble's semantics (see the reference facts, sections 1, 2, 6, 7):
//! identity labels after Cilium's default label filter, TCP connections as SYN / SYN-ACK /
//! data / FIN packets with `is_reply`, a connection seen twice (source node EGRESS, destination
//! node INGRESS) when both ends are pods on different nodes, DNS to CoreDNS (plain L3/L4 and,
//! for pods with internet egress, via the DNS proxy with L7 records and search-list
//! NXDOMAINs), world egress in the single-stack, CIDR-identity and IPv6 forms, kubelet probes
//! from `reserved:host`, kube-apiserver watches, LAN clients through LoadBalancers, Prometheus
//! scrapes, CronJob runs with per-run labels, cilium-health ICMP, and noise (node status,
//! lost events, policy drops, socket-LB translation events, AUDIT verdicts).
//!
//! Determinism: a hand-written splitmix64 PRNG, FNV-1a hashes for per-name choices, BTreeMaps
//! only, a fixed start time and no wall clock, so the same topology gives byte-identical output.
//!
//! Run: `cargo run --release --example gen_demo -- --topology
//! ../shared/data/seed-cluster/cluster-topology.json --out fixtures/demo.jsonpb.zst`
//!
//! Layout: `rng` (PRNG, hashes), `clock` (simulated time), `topology` (the JSON model),
//! `workloads` / `pods` / `cluster` (the simulated cluster), `peers` (endpoints and identities),
//! `sim` / `packets` / `dns` / `http` (connections into observed flows), `internet` (world names and
//! addresses), `traffic` (one module per traffic class, run in a fixed order) and `output`
//! (jsonpb lines, zstd).

mod clock;
mod cluster;
mod dns;
mod http;
mod internet;
mod output;
mod packets;
mod peers;
mod pods;
mod rng;
mod sim;
mod topology;
mod traffic;
mod workloads;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

use cluster::Cluster;
use sim::Sim;
use topology::Topology;

pub use output::DumpStats;

/// Command line of the generator.
#[derive(Parser, Debug)]
#[command(about = "Generate the deterministic demo Hubble dump from the seed cluster topology")]
struct Args {
    /// Path to cluster-topology.json.
    #[arg(long)]
    topology: PathBuf,
    /// Output file (zstd-compressed jsonpb lines).
    #[arg(long)]
    out: PathBuf,
}

#[allow(dead_code)]
fn main() -> Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.topology)
        .with_context(|| format!("reading {}", args.topology.display()))?;
    let (bytes, stats) = generate(&text)?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "wrote {} ({} bytes): {} lines, {} flows, {} node_status, {} lost_events",
        args.out.display(),
        bytes.len(),
        stats.lines,
        stats.flows,
        stats.node_status,
        stats.lost_events
    );
    Ok(())
}

/// Generate the compressed dump from the topology JSON text.
pub fn generate(topology_json: &str) -> Result<(Vec<u8>, DumpStats)> {
    let topo: Topology = serde_json::from_str(topology_json).context("parsing topology")?;
    let cluster = Cluster::build(&topo)?;
    let mut sim = Sim::new(&cluster);
    traffic::simulate(&mut sim, &topo);
    let (jsonl, stats) = sim.render()?;
    let compressed = output::compress(&jsonl)?;
    Ok((compressed, stats))
}
