//! HTTP with L7 visibility on a few existing `talks_to` edges (no new peers or ports, so the
//! L4 policies stay the same): the ports where the proxy logs requests, with numeric IDs,
//! UUIDs, hex UIDs, opaque tokens, query strings and one gRPC client — and, on the same server
//! ports, peers that stay plain L4 (recyclarr and prowlarr to Sonarr, kromgo and KEDA to
//! Prometheus, the gateway to Grafana). Runs last, so every flow before it is unchanged.

use super::super::clock::spread;
use super::super::http::Request;
use super::super::peers::Peer;
use super::super::rng::{fnv1a, SplitMix64};
use super::super::sim::{Conn, Proto, Sim};
use super::super::topology::Topology;
use super::targets::resolve_target;

/// One client app calling one server on an edge of the topology.
struct Scenario {
    client: &'static str,
    target: &'static str,
    /// Connections over the capture window.
    connections: u64,
    /// Requests per connection.
    requests: u64,
    make: fn(&mut SplitMix64, &str) -> Request,
}

fn get(url: String) -> Request {
    Request {
        method: "GET",
        url,
        grpc: false,
    }
}

fn uuid(rng: &mut SplitMix64) -> String {
    let h = |rng: &mut SplitMix64, n: usize| -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[rng.below(16) as usize]))
            .collect()
    };
    format!(
        "{}-{}-{}-{}-{}",
        h(rng, 8),
        h(rng, 4),
        h(rng, 4),
        h(rng, 4),
        h(rng, 12)
    )
}

const WORDS: [&str; 8] = [
    "severance",
    "andor",
    "dune",
    "shogun",
    "fallout",
    "silo",
    "foundation",
    "the bear",
];

/// Seerr: series by numeric ID, lookups with a query string, commands.
fn seerr_to_sonarr(rng: &mut SplitMix64, base: &str) -> Request {
    match rng.below(5) {
        0 | 1 => get(format!("{base}/api/v3/series/{}", rng.range(1, 400))),
        2 => get(format!(
            "{base}/api/v3/series/lookup?term={}",
            WORDS[rng.below(8) as usize].replace(' ', "%20")
        )),
        3 => get(format!(
            "{base}/api/v3/episode?seriesId={}",
            rng.range(1, 400)
        )),
        _ => Request {
            method: "POST",
            url: format!("{base}/api/v3/command"),
            grpc: false,
        },
    }
}

/// Bazarr: episodes and episode files by ID.
fn bazarr_to_sonarr(rng: &mut SplitMix64, base: &str) -> Request {
    match rng.below(3) {
        0 => get(format!("{base}/api/v3/series")),
        1 => get(format!("{base}/api/v3/episode/{}", rng.range(1, 20000))),
        _ => get(format!(
            "{base}/api/v3/episodefile/{}?includeSeries=true",
            rng.range(1, 20000)
        )),
    }
}

const LABELS: [&str; 12] = [
    "job",
    "instance",
    "namespace",
    "pod",
    "container",
    "node",
    "service",
    "endpoint",
    "alertname",
    "severity",
    "le",
    "__name__",
];

/// Grafana: range queries with long query strings, label values (a dozen siblings).
fn grafana_to_prometheus(rng: &mut SplitMix64, base: &str) -> Request {
    match rng.below(4) {
        0 | 1 => get(format!(
            "{base}/api/v1/query_range?query=sum%28rate%28container_cpu_usage_seconds_total%5B5m%5D%29%29&start={}&end={}&step=30",
            1_795_132_800 + rng.below(20000),
            1_795_154_400 + rng.below(20000)
        )),
        2 => get(format!(
            "{base}/api/v1/label/{}/values",
            LABELS[rng.below(12) as usize]
        )),
        _ => Request {
            method: "POST",
            url: format!("{base}/api/v1/query"),
            grpc: false,
        },
    }
}

/// External Secrets: 1Password Connect vaults (26-character IDs) and items (UUIDs).
fn eso_to_onepassword(rng: &mut SplitMix64, base: &str) -> Request {
    const VAULT: &str = "xuxuuv4wnwrc6ubrhf2iqcwlie";
    match rng.below(4) {
        0 => get(format!("{base}/heartbeat")),
        1 => get(format!(
            "{base}/v1/vaults/{VAULT}/items?filter=title%20eq%20%22{}%22",
            ["cloudflare", "postgres", "grafana", "sonarr"][rng.below(4) as usize]
        )),
        _ => get(format!("{base}/v1/vaults/{VAULT}/items/{}", uuid(rng))),
    }
}

/// Alloy pushes logs with Loki's gRPC push API.
fn alloy_to_loki(rng: &mut SplitMix64, base: &str) -> Request {
    if rng.chance(90) {
        Request {
            method: "POST",
            url: format!("{base}/logproto.Pusher/Push"),
            grpc: true,
        }
    } else {
        get(format!("{base}/ready"))
    }
}

/// Homepage's Grafana widget: stats, alerts, dashboards by hex UID.
fn homepage_to_grafana(rng: &mut SplitMix64, base: &str) -> Request {
    match rng.below(3) {
        0 => get(format!("{base}/api/admin/stats")),
        1 => get(format!(
            "{base}/api/alertmanager/grafana/api/v2/alerts?active=true"
        )),
        _ => get(format!(
            "{base}/api/dashboards/uid/{:012x}",
            0x1a2b_0000_0000 + rng.below(6) * 0x1_0001_0203
        )),
    }
}

const SCENARIOS: [Scenario; 6] = [
    Scenario {
        client: "downloads/seerr",
        target: "downloads/sonarr",
        connections: 10,
        requests: 6,
        make: seerr_to_sonarr,
    },
    Scenario {
        client: "downloads/bazarr",
        target: "downloads/sonarr",
        connections: 6,
        requests: 5,
        make: bazarr_to_sonarr,
    },
    Scenario {
        client: "observability/grafana",
        target: "observability/kube-prometheus-stack",
        connections: 16,
        requests: 8,
        make: grafana_to_prometheus,
    },
    Scenario {
        client: "external-secrets/external-secrets",
        target: "external-secrets/onepassword-connect",
        connections: 8,
        requests: 5,
        make: eso_to_onepassword,
    },
    Scenario {
        client: "observability/alloy",
        target: "observability/loki",
        connections: 8,
        requests: 6,
        make: alloy_to_loki,
    },
    Scenario {
        client: "self-hosted/homepage",
        target: "observability/grafana",
        connections: 6,
        requests: 4,
        make: homepage_to_grafana,
    },
];

/// The L7 HTTP traffic of [`SCENARIOS`], each on its `talks_to` edge.
pub(crate) fn http_requests(sim: &mut Sim, topo: &Topology) {
    let c = sim.cluster;
    for s in &SCENARIOS {
        let Some(app) = topo.apps.iter().find(|a| a.key() == s.client) else {
            continue;
        };
        // The talks_to entry to the target (Grafana: the Prometheus datasource, not Alertmanager).
        let Some(talk) = app.talks_to.iter().find(|t| {
            t.target == s.target
                && !t
                    .service
                    .as_deref()
                    .is_some_and(|x| x.contains("alertmanager"))
        }) else {
            continue;
        };
        let Some(target) =
            resolve_target(c, topo, &talk.target, talk.service.as_deref(), talk.port)
        else {
            continue;
        };
        let clients: Vec<usize> = c
            .client_pods(s.client)
            .into_iter()
            .filter(|p| !target.pods.contains(p))
            .collect();
        if clients.is_empty() {
            continue;
        }
        let base = format!(
            "http://{}:{}",
            target.dns_name,
            talk.port.unwrap_or(target.port)
        );
        let mut rng = SplitMix64(fnv1a(s.client) ^ fnv1a(s.target));
        for t in spread(&mut sim.rng, s.connections) {
            let src = *sim.rng.pick(&clients);
            let dst = *sim.rng.pick(&target.pods);
            let conn = Conn {
                src: Peer::Pod(src),
                dst: Peer::Pod(dst),
                proto: Proto::Tcp,
                sport: sim.rng.ephemeral_port(),
                dport: u32::from(target.port),
                v6: false,
                names: vec![],
            };
            let requests: Vec<Request> =
                (0..s.requests).map(|_| (s.make)(&mut rng, &base)).collect();
            sim.http_session(&conn, &requests, t);
        }
    }
}
