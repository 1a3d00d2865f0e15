//! Never wider than observed: each class of input that used to open more
//! than was seen, built from small hand-written flows, for both `recommend`
//! (graph + synthesis) and `verify`.
//!
//! 1. Replies whose `is_reply` is absent (exporter masks, old agents).
//! 2. Minimal flows with only `destination_port` (a zero port is no port).
//! 3. The local host on a control-plane node, which also carries
//!    `reserved:kube-apiserver`: its probes stay `host`.

use crate::verifykit;

use crate::flowkit::*;
use flowpolicy::graph::TrafficGraph;
use flowpolicy::interpret::direction::Basis;
use flowpolicy::interpret::{InterpretConfig, Interpreter, SkipReason};
use flowpolicy::proto::flow::{self, Endpoint, Flow};
use flowpolicy::render::yaml;
use flowpolicy::synth::{self, SynthConfig};

type Ep = (Endpoint, String);

fn client() -> Ep {
    pod("shop", &[("app.kubernetes.io/name", "cart")], "10.1.0.5")
}

fn server() -> Ep {
    pod("shop", &[("app.kubernetes.io/name", "redis")], "10.1.0.9")
}

fn world(ip: &str) -> Ep {
    ident(2, &["reserved:world"], ip)
}

fn host() -> Ep {
    ident(
        1,
        &["reserved:host", "reserved:kube-apiserver"],
        "192.168.1.10",
    )
}

fn masked(mut flows: Vec<Flow>) -> Vec<Flow> {
    for f in &mut flows {
        f.is_reply = None;
    }
    flows
}

/// A TCP packet with only ACK set and no `is_reply`.
fn ack_only(src: &Ep, dst: &Ep, sport: u32, dport: u32) -> Flow {
    let mut f = tcp_conn(src, dst, sport, dport, 0).remove(2);
    f.is_reply = None;
    f
}

/// Runs flows and returns the graph and the interpreter's stats.
fn run(flows: &[Flow], guess: bool) -> (TrafficGraph, flowpolicy::interpret::InterpretStats) {
    let mut g = TrafficGraph::new();
    let mut i = Interpreter::new(InterpretConfig {
        guess_direction: guess,
        ..InterpretConfig::default()
    });
    for f in flows {
        if let Some(o) = i.interpret(f) {
            g.record(&o);
        }
    }
    (g, i.stats)
}

/// Every learned (initiator → responder, port) as `"a -> b port"`.
fn edges(g: &TrafficGraph) -> Vec<String> {
    let mut v = Vec::new();
    for (from, to, e) in g.edges_sorted() {
        for p in e.ports.keys() {
            v.push(format!("{from} -> {to} {p}"));
        }
    }
    v
}

fn policy_yaml(g: &TrafficGraph) -> String {
    let set = synth::synthesize(
        g,
        &SynthConfig {
            foundation: true,
            include_dropped: true,
            ..SynthConfig::default()
        },
    );
    yaml::stream(&yaml::documents(&set))
}

/// `recommend | verify` on the same flows: nothing observed is dropped.
fn round_trip_allows_everything(flows: &[Flow]) {
    let (g, _) = run(flows, false);
    let r = verifykit::check(&policy_yaml(&g), flows);
    assert!(
        r.dropped.is_empty() && r.unknown.is_empty(),
        "dropped {:?} unknown {:?}",
        r.dropped,
        r.unknown
    );
}

// ---- 1. replies without is_reply -------------------------------------------

#[test]
fn udp_reply_without_is_reply_follows_its_request_between_ephemeral_ports() {
    // Both ports in the ephemeral range: only the connection table can tell.
    let flows = udp_exchange(&client(), &world("203.0.113.7"), 40000, 50000, 0);
    let mut flows = flows;
    flows[1].is_reply = None;
    let (g, stats) = run(&flows, false);
    assert_eq!(
        edges(&g),
        ["shop/cart -> cidr:203.0.113.7/32 50000/UDP"],
        "the reply must not become ingress from the world"
    );
    assert_eq!(stats.basis.get("connection-table"), Some(&1));
    assert!(stats.undecided.is_empty());
    round_trip_allows_everything(&flows);
}

#[test]
fn udp_reply_without_is_reply_between_two_low_ports_is_not_a_rule() {
    // Client port 1024 (below the ephemeral range) to 5000: the old
    // lower-port guess called 1024 the server.
    let mut flows = udp_exchange(&client(), &world("203.0.113.7"), 1024, 5000, 0);
    flows[1].is_reply = None;
    let (g, _) = run(&flows, false);
    assert_eq!(edges(&g), ["shop/cart -> cidr:203.0.113.7/32 5000/UDP"]);
    let yaml = policy_yaml(&g);
    assert!(!yaml.contains("fromCIDR"), "{yaml}");
}

#[test]
fn tcp_replies_from_the_host_to_a_pods_own_connection_are_not_ingress() {
    // pod:45000 → host:50000; no is_reply anywhere; the SYN is the line before.
    let flows = masked(tcp_conn(&client(), &host(), 45000, 50000, 0));
    let (g, _) = run(&flows, false);
    assert_eq!(
        edges(&g),
        ["shop/cart -> entity:host+kube-apiserver 50000/TCP"]
    );
    // Without the SYN in the capture, only ACKs: undecided, not a rule.
    let acks = vec![
        ack_only(&host(), &client(), 50000, 45000),
        ack_only(&client(), &host(), 45000, 50000),
    ];
    let (g, stats) = run(&acks, false);
    assert!(edges(&g).is_empty(), "{:?}", edges(&g));
    assert_eq!(stats.undecided.flows(), 2);
    assert_eq!(stats.undecided.edges.len(), 1, "both directions, one pair");
    assert_eq!(stats.skipped.get(&SkipReason::Undecided), Some(&2));
}

#[test]
fn a_reply_seen_before_its_syn_is_taken_back_when_the_syn_arrives() {
    let mut flows = masked(tcp_conn(&client(), &server(), 45000, 50000, 0));
    // Order: ACK from the server first, then SYN, SYN-ACK, ACK.
    flows.insert(0, ack_only(&server(), &client(), 50000, 45000));
    let (g, stats) = run(&flows, false);
    assert_eq!(edges(&g), ["shop/cart -> shop/redis 50000/TCP"]);
    assert!(stats.undecided.is_empty(), "{:?}", stats.undecided);
    assert_eq!(stats.undecided_resolved, 1);
    assert_eq!(stats.skipped.get(&SkipReason::Undecided), None);
    round_trip_allows_everything(&flows);
}

#[test]
fn undecided_flows_are_learned_only_when_the_user_opts_in() {
    let acks = vec![
        ack_only(&client(), &server(), 45000, 50000),
        ack_only(&server(), &client(), 50000, 45000),
    ];
    let (g, stats) = run(&acks, false);
    assert!(edges(&g).is_empty());
    let (e, t) = stats.undecided.ranked()[0];
    let line = flowpolicy::interpret::undecided::describe(e, t);
    assert!(line.contains("shop/cart ↔ shop/redis TCP"), "{line}");
    assert!(
        line.contains("both ports are in the ephemeral range"),
        "{line}"
    );
    // The guess (lower port = server) is wrong here: that is why it is opt-in.
    let (g, stats) = run(&acks, true);
    assert_eq!(edges(&g), ["shop/redis -> shop/cart 45000/TCP"]);
    // The first flow is guessed; the second follows it through the table.
    assert_eq!(stats.basis.get("port-guess"), Some(&1));
    assert_eq!(stats.basis.get("connection-table"), Some(&1));
    let tally = g.edges_sorted()[0].2.ports.values().next().unwrap();
    assert_eq!(
        tally.allowed.as_ref().unwrap().direction.get(&Basis::Guess),
        Some(&1)
    );
}

#[test]
fn traffic_direction_decides_when_the_local_endpoint_is_known() {
    // As an older agent writes it: traffic_direction, no is_reply, the
    // local endpoint carries its endpoint ID.
    let mut reply = ack_only(&server(), &client(), 50000, 45000);
    reply.destination.as_mut().unwrap().id = 321; // the client is local
    reply.traffic_direction = flow::TrafficDirection::Egress as i32;
    let (g, stats) = run(std::slice::from_ref(&reply), false);
    assert!(
        edges(&g) == ["shop/cart -> shop/redis 50000/TCP"],
        "{:?}",
        edges(&g)
    );
    assert_eq!(stats.basis.get("traffic-direction"), Some(&1));
    // The same flow with neither end known to be local stays undecided.
    reply.destination.as_mut().unwrap().id = 0;
    let (g, stats) = run(&[reply], false);
    assert!(edges(&g).is_empty());
    let why = stats.undecided.ranked()[0]
        .1
        .why
        .iter()
        .next()
        .copied()
        .unwrap();
    assert!(why.direction_without_local_side);
}

#[test]
fn verify_does_not_report_replies_without_is_reply_as_drops() {
    let mut flows = udp_exchange(&client(), &world("203.0.113.7"), 40000, 50000, 0);
    flows[1].is_reply = None;
    let policy = r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: cart, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app.kubernetes.io/name: cart}}
  ingress: [{}]
  egress:
  - toCIDR: [203.0.113.7/32]
    toPorts: [{ports: [{port: "50000", protocol: UDP}]}]
"#;
    let r = verifykit::check(policy, &flows);
    assert!(r.dropped.is_empty(), "{:?}", r.dropped);
    assert_eq!(
        verifykit::verdict(&r, "shop/cart", "cidr:203.0.113.7/32", "50000/UDP"),
        "allowed"
    );
}

// ---- 2. minimal flows: a missing port is never every port ------------------

const MINIMAL: &str = r#"{"flow":{"time":"2026-03-02T09:00:00Z","verdict":"DROPPED","traffic_direction":"INGRESS","source":{"namespace":"shop","labels":["k8s:app.kubernetes.io/name=frontend","k8s:io.kubernetes.pod.namespace=shop"]},"destination":{"namespace":"shop","labels":["k8s:app.kubernetes.io/name=cart","k8s:io.kubernetes.pod.namespace=shop"]},"l4":{"TCP":{"destination_port":7070}}}}
{"flow":{"time":"2026-03-02T09:00:01Z","verdict":"FORWARDED","traffic_direction":"EGRESS","source":{"namespace":"shop","labels":["k8s:app.kubernetes.io/name=cart","k8s:io.kubernetes.pod.namespace=shop"]},"destination":{"namespace":"shop","labels":["k8s:app.kubernetes.io/name=redis","k8s:io.kubernetes.pod.namespace=shop"]},"l4":{"TCP":{"destination_port":6379}}}}
{"flow":{"time":"2026-03-02T09:00:02Z","verdict":"AUDIT","traffic_direction":"EGRESS","source":{"namespace":"shop","labels":["k8s:app.kubernetes.io/name=checkout","k8s:io.kubernetes.pod.namespace=shop"]},"destination":{"identity":2,"labels":["reserved:world"]},"IP":{"destination":"9.9.9.9"},"l4":{"UDP":{"destination_port":53}}}}
{"flow":{"time":"2026-03-02T09:00:03Z","verdict":"FORWARDED","traffic_direction":"INGRESS","source":{"namespace":"payments","labels":["k8s:app.kubernetes.io/name=gateway","k8s:io.kubernetes.pod.namespace=payments"]},"destination":{"namespace":"shop","labels":["k8s:app.kubernetes.io/name=checkout","k8s:io.kubernetes.pod.namespace=shop"]},"l4":{"TCP":{"source_port":0,"destination_port":8443}}}}
{"flow":{"time":"2026-03-02T09:00:04Z","verdict":"FORWARDED","source":{"namespace":"shop","labels":["k8s:app.kubernetes.io/name=cart","k8s:io.kubernetes.pod.namespace=shop"]},"destination":{"namespace":"shop","labels":["k8s:app.kubernetes.io/name=redis","k8s:io.kubernetes.pod.namespace=shop"]},"l4":{"TCP":{}}}}
"#;

fn minimal_flows() -> Vec<Flow> {
    MINIMAL
        .lines()
        .map(|l| {
            let r: flowpolicy::proto::observer::GetFlowsResponse = serde_json::from_str(l).unwrap();
            match r.response_types {
                Some(flowpolicy::proto::observer::get_flows_response::ResponseTypes::Flow(f)) => f,
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

#[test]
fn a_flow_with_only_a_destination_port_is_read_forward() {
    let (g, stats) = run(&minimal_flows(), false);
    assert_eq!(
        edges(&g),
        [
            "payments/gateway -> shop/checkout 8443/TCP",
            "shop/cart -> shop/redis 6379/TCP",
            "shop/checkout -> cidr:9.9.9.9/32 53/UDP",
            "shop/frontend -> shop/cart 7070/TCP",
        ]
    );
    // The flow with no port at all is counted, not learned.
    assert_eq!(stats.skipped.get(&SkipReason::NoPort), Some(&1));
    // verify reads them the same way: the recommended policies allow them.
    round_trip_allows_everything(&minimal_flows());
    let yaml = policy_yaml(&g);
    assert!(!yaml.contains("port: '0'"), "{yaml}");
    for doc in yaml.split("\n---\n") {
        // Every learned rule names its ports.
        if doc.contains("toEndpoints") || doc.contains("fromEndpoints") {
            assert!(doc.contains("toPorts"), "{doc}");
        }
    }
}

#[test]
fn a_baseline_edge_without_a_port_never_becomes_every_port() {
    let mut g = TrafficGraph::new();
    let (a, b) = (client(), server());
    let from = flowpolicy::peer::Peer::Workload(workload_of(&a.0));
    let to = flowpolicy::peer::Peer::Workload(workload_of(&b.0));
    let stats = flowpolicy::graph::PortStats {
        allowed: Some(flowpolicy::graph::Tally {
            connections: 1,
            flows: 1,
            ..Default::default()
        }),
        ..Default::default()
    };
    let port = flowpolicy::peer::l4::PortKey {
        proto: flowpolicy::peer::l4::Proto::Tcp,
        port: 0,
    };
    g.insert_port(&from, &to, port, &stats);
    let set = synth::synthesize(&g, &SynthConfig::default());
    let yaml = yaml::stream(&yaml::documents(&set));
    assert!(!yaml.contains("port: '0'"), "{yaml}");
    assert!(!yaml.contains("toEndpoints"), "{yaml}");
    assert!(set.warnings.iter().any(|w| w.contains("have no port")));
}

fn workload_of(e: &Endpoint) -> flowpolicy::peer::WorkloadKey {
    match flowpolicy::interpret::peer::classify_endpoint(Some(e)) {
        flowpolicy::interpret::peer::EndpointKind::Workload(w) => w,
        other => panic!("{other:?}"),
    }
}

// ---- 3. reserved identities: by number first, with their label union -------

#[test]
fn the_local_host_is_host_and_keeps_the_kube_apiserver_label() {
    use flowpolicy::interpret::peer::{classify_endpoint, EndpointKind::Entity as E};
    use flowpolicy::peer::Entity;
    let cases: [(u32, &[&str], Entity); 5] = [
        (
            1,
            &["reserved:host", "reserved:kube-apiserver"],
            Entity::HostKubeApiserver,
        ),
        (
            0,
            &["reserved:kube-apiserver", "reserved:host"],
            Entity::HostKubeApiserver,
        ),
        (
            7,
            &["reserved:kube-apiserver", "reserved:remote-node"],
            Entity::KubeApiserver,
        ),
        (
            0,
            &["reserved:remote-node", "reserved:kube-apiserver"],
            Entity::KubeApiserver,
        ),
        (6, &["reserved:remote-node"], Entity::RemoteNode),
    ];
    for (id, labels, want) in cases {
        let (e, _) = ident(id, labels, "192.168.1.10");
        assert_eq!(classify_endpoint(Some(&e)), E(want), "{id} {labels:?}");
    }
    for id in [2, 9, 10] {
        let (e, _) = ident(id, &["reserved:host"], "1.2.3.4");
        assert_eq!(
            classify_endpoint(Some(&e)),
            flowpolicy::interpret::peer::EndpointKind::World
        );
    }
}

#[test]
fn kubelet_probes_from_a_control_plane_host_are_not_kube_apiserver() {
    let probes = tcp_conn(&host(), &server(), 41000, 6379, 0);
    let (g, _) = run(&probes, false);
    assert_eq!(
        edges(&g),
        ["entity:host+kube-apiserver -> shop/redis 6379/TCP"]
    );
    let yaml = policy_yaml(&g);
    assert!(!yaml.contains("kube-apiserver"), "{yaml}");
    assert!(yaml.contains("fromEntities:\n    - host"), "{yaml}");
    // verify: Cilium always lets the local host into its pods.
    let deny_all = r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: redis, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app.kubernetes.io/name: redis}}
  ingress: [{}]
"#;
    let r = verifykit::check(deny_all, &probes);
    assert_eq!(
        verifykit::verdict(&r, "entity:host+kube-apiserver", "shop/redis", "6379/TCP"),
        "allowed"
    );
    round_trip_allows_everything(&probes);
}

#[test]
fn a_remote_control_plane_node_is_the_kube_apiserver() {
    let apiserver = ident(
        7,
        &["reserved:kube-apiserver", "reserved:remote-node"],
        "192.168.1.11",
    );
    let flows = tcp_conn(&client(), &apiserver, 45000, 6443, 0);
    let (g, _) = run(&flows, false);
    assert_eq!(edges(&g), ["shop/cart -> entity:kube-apiserver 6443/TCP"]);
    round_trip_allows_everything(&flows);
}
