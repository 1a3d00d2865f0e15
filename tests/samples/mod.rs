//! Deterministic generator of the in-repo flow files in `tests/data/flows`
//! (described in the README there): small `hubble observe -o jsonpb` dumps
//! of a two-node cluster that let every test run without the external corpus.
//! `tests/sample_flows.rs` regenerates them and compares them with the
//! committed files (`FLOWPOLICY_BLESS=1` rewrites them).

mod packets;

use flowpolicy::proto::observer::GetFlowsResponse;
use packets::{Conn, Gen, Peer, Pod};

/// A pod from `[namespace, app, version label, pod name, IP]` and
/// `(node index, endpoint ID, identity)`.
const fn pod(text: [&'static str; 5], numbers: (usize, u32, u32)) -> Pod {
    let [ns, app, version, name, ip] = text;
    let (node, id, identity) = numbers;
    Pod {
        ns,
        app,
        version,
        name,
        ip,
        node,
        id,
        identity,
    }
}

static GATEWAY: Pod = pod(
    [
        "ingress",
        "gateway",
        "",
        "gateway-7d9f8c6b5-x2k4p",
        "10.244.0.10",
    ],
    (0, 101, 24_001),
);
static PRODUCTPAGE: Pod = pod(
    [
        "bookinfo",
        "productpage",
        "v1",
        "productpage-v1-6b746f74dc-9rcxx",
        "10.244.0.21",
    ],
    (0, 881, 3418),
);
static REVIEWS: Pod = pod(
    [
        "bookinfo",
        "reviews",
        "v2",
        "reviews-v2-7bf8c9648f-r7bs2",
        "10.244.0.22",
    ],
    (0, 3879, 11_615),
);
static DETAILS: Pod = pod(
    [
        "bookinfo",
        "details",
        "v1",
        "details-v1-79f774bdb9-wpxkz",
        "10.244.1.31",
    ],
    (1, 1209, 5127),
);
static RATINGS: Pod = pod(
    [
        "bookinfo",
        "ratings",
        "v1",
        "ratings-v1-b6994bb9-gl6hn",
        "10.244.1.32",
    ],
    (1, 2210, 7734),
);
static FRONTEND: Pod = pod(
    [
        "shop",
        "frontend",
        "",
        "frontend-5c8d7f9b6d-h8r2m",
        "10.244.0.41",
    ],
    (0, 412, 30_512),
);
static CART: Pod = pod(
    ["shop", "cart", "", "cart-6f4b9d8c7-q9w3e", "10.244.1.42"],
    (1, 977, 30_877),
);
static REDIS: Pod = pod(
    ["shop", "redis", "", "redis-0", "10.244.1.43"],
    (1, 1533, 31_090),
);
static COREDNS: Pod = pod(
    [
        "kube-system",
        "coredns",
        "",
        "coredns-5d78c9869d-4tq7n",
        "10.244.1.2",
    ],
    (1, 64, 9_021),
);

/// Every sample file: name and content, in the order of the README.
pub fn files() -> Vec<(&'static str, Vec<GetFlowsResponse>)> {
    vec![
        ("ten.jsonpb", ten()),
        ("tcp-400.jsonpb", tcp_400()),
        ("dns.jsonpb", dns()),
        ("http.jsonpb", http()),
    ]
}

/// A dump as `hubble observe -o jsonpb` writes it: one response a line,
/// UTC times with a `Z` suffix (pbjson writes `+00:00`).
pub fn render(responses: &[GetFlowsResponse]) -> String {
    let mut text = String::new();
    for r in responses {
        let line = serde_json::to_string(r).expect("a response serializes");
        text.push_str(&line.replace("+00:00\"", "Z\""));
        text.push('\n');
    }
    text
}

fn conn<'p>(g: &mut Gen, client: Peer<'p>, server: Peer<'p>, dport: u32) -> Conn<'p> {
    Conn {
        client,
        server,
        sport: g.sport(),
        dport,
        udp: false,
        names: Vec::new(),
    }
}

/// The first ten packets (five, seen at both nodes) of one cross-node
/// connection: shop/frontend → shop/cart:8080, request and response.
fn ten() -> Vec<GetFlowsResponse> {
    let mut g = Gen::new(10);
    let c = conn(&mut g, Peer::Pod(&FRONTEND), Peer::Pod(&CART), 8080);
    g.tcp_session(&c, (3, 9));
    g.finish(10)
}

/// Exactly 400 TCP packets of bookinfo: gateway → productpage → details,
/// reviews → ratings (all :9080), kubelet probes of productpage; same-node
/// packets reported once, cross-node ones by both nodes.
fn tcp_400() -> Vec<GetFlowsResponse> {
    let mut g = Gen::new(400);
    let mut round = 0;
    while g.len() < 420 {
        let hops = [
            (Peer::Pod(&GATEWAY), Peer::Pod(&PRODUCTPAGE)),
            (Peer::Pod(&PRODUCTPAGE), Peer::Pod(&DETAILS)),
            (Peer::Pod(&PRODUCTPAGE), Peer::Pod(&REVIEWS)),
            (Peer::Pod(&REVIEWS), Peer::Pod(&RATINGS)),
        ];
        for (client, server) in hops {
            let c = conn(&mut g, client, server, 9080);
            g.tcp_session(&c, (1, 15));
        }
        if round % 3 == 0 {
            let c = conn(&mut g, Peer::Host(0), Peer::Pod(&PRODUCTPAGE), 9080);
            g.tcp_session(&c, (0, 2));
        }
        round += 1;
        g.wait_ms(1500, 4000);
    }
    g.finish(400)
}

/// Name lookups through the DNS proxy to kube-system/coredns (UDP/53),
/// search-list NXDOMAIN answers, and the HTTPS connections to the answered
/// world addresses (with `destination_names`).
fn dns() -> Vec<GetFlowsResponse> {
    let mut g = Gen::new(53);
    let names: [(&Pod, &str, &[&str]); 4] = [
        (&FRONTEND, "api.example.com", &["192.0.2.10"]),
        (
            &FRONTEND,
            "cdn.example.net",
            &["198.51.100.20", "198.51.100.21"],
        ),
        (&CART, "payments.example.org", &["203.0.113.5"]),
        (&PRODUCTPAGE, "api.example.com", &["192.0.2.10"]),
    ];
    for round in 0..6 {
        for (i, (client, name, ips)) in names.iter().enumerate() {
            if (round + i) % 2 == 1 {
                continue;
            }
            let search = format!("{name}.{}.svc.cluster.local", client.ns);
            g.dns_lookup(client, &COREDNS, &search, &[]);
            g.dns_lookup(client, &COREDNS, name, ips);
            let ip = ips[round % ips.len()];
            let mut c = conn(&mut g, Peer::Pod(client), Peer::World(ip), 443);
            c.names = vec![name.to_string()];
            g.tcp_session(&c, (20, 80));
            g.wait_ms(200, 900);
        }
        g.dns_lookup(
            &FRONTEND,
            &COREDNS,
            "cart.shop.svc.cluster.local",
            &["10.96.0.50"],
        );
        g.wait_ms(2000, 5000);
    }
    g.finish(usize::MAX)
}

/// HTTP through the ingress L7 proxy: gateway → shop/frontend:8080 and
/// frontend → cart:8080 (GET and POST), and cart → redis:6379 (TCP only).
fn http() -> Vec<GetFlowsResponse> {
    let mut g = Gen::new(80);
    for round in 0..6u32 {
        let c = conn(&mut g, Peer::Pod(&GATEWAY), Peer::Pod(&FRONTEND), 8080);
        g.http(&c, "GET", "http://shop.example.com/", 200);
        let c = conn(&mut g, Peer::Pod(&FRONTEND), Peer::Pod(&CART), 8080);
        let url = format!("http://cart.shop:8080/api/cart/{}", 1000 + round);
        if round % 2 == 0 {
            g.http(&c, "GET", &url, 200);
        } else {
            g.http(&c, "POST", &url, 201);
        }
        let c = conn(&mut g, Peer::Pod(&CART), Peer::Pod(&REDIS), 6379);
        g.tcp_session(&c, (0, 2));
        g.wait_ms(1000, 3000);
    }
    g.finish(usize::MAX)
}
