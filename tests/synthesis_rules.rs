//! One test per interpretation and synthesis rule, with hand-made flows.

use crate::flowkit::*;
use flowpolicy::interpret::InterpretConfig;
use flowpolicy::peer::l4::{PortKey, Proto};
use flowpolicy::peer::{Entity, Peer};
use flowpolicy::policy::Entity as PolicyEntity;

fn web() -> (flowpolicy::proto::flow::Endpoint, String) {
    pod("shop", &[("app.kubernetes.io/name", "web")], "10.1.0.10")
}
fn db() -> (flowpolicy::proto::flow::Endpoint, String) {
    pod(
        "data",
        &[("app.kubernetes.io/name", "postgres")],
        "10.1.0.20",
    )
}
fn api() -> (flowpolicy::proto::flow::Endpoint, String) {
    pod("shop", &[("app.kubernetes.io/name", "api")], "10.1.0.11")
}
fn coredns() -> (flowpolicy::proto::flow::Endpoint, String) {
    pod("kube-system", &[("k8s-app", "kube-dns")], "10.1.0.2")
}

#[test]
fn a_reply_never_yields_an_ephemeral_port_rule() {
    let flows = tcp_conn(&web(), &db(), 45678, 5432, 0);
    let set = policies(&flows);
    let all = yaml(&set.namespaced);
    assert!(all.contains("'5432'"), "{all}");
    assert!(
        !all.contains("45678"),
        "reply port leaked into a rule:\n{all}"
    );
    // Replies alone (no SYN seen) are still inverted.
    let replies_only: Vec<_> = flows
        .into_iter()
        .filter(|f| f.is_reply.as_ref().is_some_and(|r| r.value))
        .collect();
    let set = policies(&replies_only);
    let text = yaml(&set.namespaced);
    assert!(text.contains("'5432'") && !text.contains("45678"), "{text}");
}

#[test]
fn one_connection_seen_on_both_nodes_counts_once() {
    let mut flows = tcp_conn(&web(), &db(), 45678, 5432, 0);
    // The server's node reports the same packets at INGRESS; the
    // connection is counted at the client's (EGRESS) only.
    let mut copy = flows.clone();
    for f in &mut copy {
        f.node_name = "node-2".into();
        f.traffic_direction = flowpolicy::proto::flow::TrafficDirection::Ingress as i32;
    }
    flows.extend(copy);
    let g = graph_of(&flows);
    let edges = g.edges_sorted();
    assert_eq!(edges.len(), 1);
    let stats = &edges[0].2.ports[&PortKey {
        proto: Proto::Tcp,
        port: 5432,
    }];
    assert_eq!(stats.allowed.as_ref().unwrap().connections, 1);
    assert_eq!(stats.allowed.as_ref().unwrap().flows, 6);
}

#[test]
fn dual_stack_world_flows_are_world() {
    let v4 = ident(
        16777217,
        &["cidr:140.82.112.0/20", "reserved:world-ipv4"],
        "140.82.112.3",
    );
    let v6 = ident(10, &["reserved:world-ipv6"], "2606:50c0:8000::154");
    let mut flows = tcp_conn(&web(), &v4, 40000, 443, 0);
    flows.extend(tcp_conn(&web(), &v6, 40001, 443, 1));
    let g = graph_of(&flows);
    let peers: Vec<&Peer> = g.edges_sorted().iter().map(|e| e.1).collect();
    assert_eq!(
        peers,
        vec![
            &Peer::Cidr("140.82.112.3/32".parse().unwrap()),
            &Peer::Cidr("2606:50c0:8000::154/128".parse().unwrap())
        ]
    );
    let p = cnp(&policies(&flows), "shop", "web").clone();
    let text = yaml(&p);
    assert!(
        text.contains("140.82.112.3/32") && text.contains("2606:50c0:8000::154/128"),
        "{text}"
    );
}

#[test]
fn apiserver_flows_become_kube_apiserver() {
    let apiserver = ident(
        7,
        &["reserved:kube-apiserver", "reserved:remote-node"],
        "10.11.0.15",
    );
    let flows = tcp_conn(&web(), &apiserver, 40000, 6443, 0);
    let set = policies(&flows);
    let spec = cnp(&set, "shop", "web").spec.clone().unwrap();
    assert_eq!(
        spec.egress[0].to_entities,
        vec![PolicyEntity::KubeApiserver]
    );
    let foundation = set
        .clusterwide
        .iter()
        .find(|p| p.metadata.name.contains("kube-apiserver"))
        .unwrap();
    let f = &foundation.specs[0];
    assert_eq!(f.enable_default_deny.unwrap().egress, Some(false));
    assert_eq!(f.egress[0].to_entities, vec![PolicyEntity::KubeApiserver]);
}

#[test]
fn same_namespace_peer_has_no_namespace_label_and_cross_namespace_has_it() {
    let mut flows = tcp_conn(&web(), &api(), 40000, 8080, 0);
    flows.extend(tcp_conn(&web(), &db(), 40001, 5432, 1));
    let set = policies(&flows);
    let spec = cnp(&set, "shop", "web").spec.clone().unwrap();
    let to_api = &spec
        .egress
        .iter()
        .find(|r| {
            r.to_endpoints
                .iter()
                .any(|s| s.match_labels.values().any(|v| v == "api"))
        })
        .unwrap();
    assert!(!to_api.to_endpoints[0]
        .match_labels
        .contains_key("k8s:io.kubernetes.pod.namespace"));
    let to_db = &spec
        .egress
        .iter()
        .find(|r| {
            r.to_endpoints
                .iter()
                .any(|s| s.match_labels.values().any(|v| v == "postgres"))
        })
        .unwrap();
    assert_eq!(
        to_db.to_endpoints[0].match_labels["k8s:io.kubernetes.pod.namespace"],
        "data"
    );
    let db_spec = cnp(&set, "data", "postgres").spec.clone().unwrap();
    assert_eq!(
        db_spec.ingress[0].from_endpoints[0].match_labels["k8s:io.kubernetes.pod.namespace"],
        "shop"
    );
}

#[test]
fn to_fqdns_always_comes_with_its_dns_rule() {
    let github = ident(2, &["reserved:world"], "140.82.112.3");
    let mut flows = udp_exchange(&web(), &coredns(), 50000, 53, 0);
    flows.push(dns_answer(
        &web(),
        &coredns(),
        "api.github.com",
        &["140.82.112.3"],
        0,
    ));
    flows.extend(tcp_conn(&web(), &github, 40000, 443, 1));
    // A second workload whose own DNS queries were not captured.
    let mut other = tcp_conn(&api(), &github, 40001, 443, 2);
    other[0].destination_names = vec!["api.github.com.".into()];
    flows.extend(other);
    let set = policies(&flows);
    for name in ["web", "api"] {
        let spec = cnp(&set, "shop", name).spec.clone().unwrap();
        let fqdn = spec
            .egress
            .iter()
            .find(|r| !r.to_fqdns.is_empty())
            .unwrap_or_else(|| panic!("{name}: no toFQDNs"));
        assert_eq!(
            fqdn.to_fqdns[0].match_name.as_deref(),
            Some("api.github.com")
        );
        let dns = spec
            .egress
            .iter()
            .find(|r| {
                r.to_ports
                    .iter()
                    .any(|p| p.rules.as_ref().is_some_and(|l7| !l7.dns.is_empty()))
            })
            .unwrap_or_else(|| panic!("{name}: toFQDNs without a DNS rule:\n{}", yaml(&spec)));
        assert_eq!(dns.to_endpoints[0].match_labels["k8s-app"], "kube-dns");
        assert_eq!(
            dns.to_endpoints[0].match_labels["k8s:io.kubernetes.pod.namespace"],
            "kube-system"
        );
    }
}

#[test]
fn resolver_is_detected_from_flows_not_assumed() {
    let nodelocal = ident(1, &["reserved:host"], "169.254.20.10");
    let flows = udp_exchange(&web(), &nodelocal, 50000, 53, 0);
    let set = policies(&flows);
    assert_eq!(set.resolvers[0].peer, Peer::Entity(Entity::Host));
    let dns = &set.clusterwide[0];
    assert_eq!(dns.specs[0].egress[0].to_entities, vec![PolicyEntity::Host]);
    assert!(yaml(dns).contains("matchPattern: '*'"));
}

#[test]
fn host_probes_become_host_entity_ingress() {
    let host = ident(1, &["reserved:host"], "10.0.0.5");
    let flows = tcp_conn(&host, &web(), 50000, 8080, 0);
    let spec = cnp(&policies(&flows), "shop", "web").spec.clone().unwrap();
    assert_eq!(spec.ingress[0].from_entities, vec![PolicyEntity::Host]);
}

#[test]
fn lan_clients_aggregate_to_a_prefix_on_request() {
    let c1 = ident(2, &["reserved:world"], "10.0.4.2");
    let c2 = ident(2, &["reserved:world"], "10.0.7.9");
    let mut flows = tcp_conn(&c1, &web(), 50000, 8080, 0);
    flows.extend(tcp_conn(&c2, &web(), 50001, 8080, 1));
    let spec = cnp(&policies(&flows), "shop", "web").spec.clone().unwrap();
    assert_eq!(
        spec.ingress[0].from_cidr,
        vec!["10.0.4.2/32", "10.0.7.9/32"]
    );
    let cfg = InterpretConfig {
        cidr_groups: vec!["10.0.0.0/8".parse().unwrap()],
        ..InterpretConfig::default()
    };
    let set = flowpolicy::synth::synthesize(&graph_with(&flows, cfg), &Default::default());
    assert_eq!(
        cnp(&set, "shop", "web").spec.as_ref().unwrap().ingress[0].from_cidr,
        vec!["10.0.0.0/8"]
    );
}

#[test]
fn unobserved_directions_are_default_deny() {
    let flows = tcp_conn(&web(), &db(), 40000, 5432, 0);
    let set = policies(&flows);
    let web_spec = cnp(&set, "shop", "web").spec.clone().unwrap();
    assert_eq!(web_spec.ingress.len(), 1);
    assert_eq!(
        web_spec.ingress[0],
        Default::default(),
        "ingress: [{{}}] denies all ingress"
    );
    let dd = web_spec.enable_default_deny.unwrap();
    assert_eq!((dd.ingress, dd.egress), (Some(true), Some(true)));
}

#[test]
fn dropped_flows_are_learned_only_on_request() {
    let mut flows = tcp_conn(&web(), &db(), 40000, 5432, 0);
    for f in &mut flows {
        f.verdict = flowpolicy::proto::flow::Verdict::Dropped as i32;
        f.is_reply = None;
    }
    flows.truncate(1);
    let g = graph_of(&flows);
    assert!(flowpolicy::synth::synthesize(&g, &Default::default())
        .namespaced
        .is_empty());
    let cfg = flowpolicy::synth::SynthConfig {
        include_dropped: true,
        ..Default::default()
    };
    assert_eq!(flowpolicy::synth::synthesize(&g, &cfg).namespaced.len(), 2);
}

#[test]
fn output_is_deterministic() {
    let mut flows = tcp_conn(&web(), &db(), 40000, 5432, 0);
    flows.extend(tcp_conn(&api(), &db(), 40001, 5432, 1));
    flows.extend(udp_exchange(&web(), &coredns(), 50000, 53, 2));
    let a = yaml(&policies(&flows).namespaced);
    flows.reverse();
    let b = yaml(&policies(&flows).namespaced);
    assert_eq!(a, b);
}

#[test]
fn proxy_flows_naming_a_pod_as_world_use_its_known_identity() {
    let mut flows = tcp_conn(&web(), &db(), 40000, 5432, 0);
    // The L7 proxy reports the remote pod as reserved:world but names it.
    let mut proxied = db();
    proxied.0 = flowpolicy::proto::flow::Endpoint {
        identity: 2,
        namespace: "data".into(),
        labels: vec!["reserved:world".into()],
        pod_name: "postgres-0".into(),
        ..Default::default()
    };
    flows.extend(tcp_conn(&web(), &proxied, 40001, 5432, 1));
    let mut unknown = proxied.clone();
    unknown.1 = "10.1.9.9".into();
    flows.extend(tcp_conn(&web(), &unknown, 40002, 5432, 2));
    let g = graph_of(&flows);
    assert_eq!(g.edges_sorted().len(), 1, "no CIDR peer for a pod address");
    let text = yaml(&policies(&flows).namespaced);
    assert!(!text.contains("toCIDR"), "{text}");
}

#[test]
fn icmp_and_ports_never_share_a_rule_even_to_names() {
    use flowpolicy::proto::flow::{layer4::Protocol, IcmPv4, Layer4};
    let github = ident(2, &["reserved:world"], "140.82.112.3");
    let mut flows = udp_exchange(&web(), &coredns(), 50000, 53, 0);
    flows.extend(tcp_conn(&web(), &github, 40000, 443, 0));
    let mut ping = flows[2].clone();
    ping.l4 = Some(Layer4 {
        protocol: Some(Protocol::IcmPv4(IcmPv4 { r#type: 8, code: 0 })),
    });
    flows.push(ping);
    for f in &mut flows[2..] {
        f.destination_names = vec!["github.com".into()];
    }
    let spec = cnp(&policies(&flows), "shop", "web").spec.clone().unwrap();
    let named: Vec<_> = spec
        .egress
        .iter()
        .filter(|r| !r.to_fqdns.is_empty())
        .collect();
    assert_eq!(named.len(), 2, "{}", yaml(&spec));
    assert!(named
        .iter()
        .all(|r| r.icmps.is_empty() || r.to_ports.is_empty()));
    assert!(named.iter().any(|r| !r.icmps.is_empty()));
}

#[test]
fn names_without_any_observed_resolver_fall_back_to_addresses() {
    let github = ident(2, &["reserved:world"], "140.82.112.3");
    let mut flows = tcp_conn(&web(), &github, 40000, 443, 0);
    flows[0].destination_names = vec!["github.com.".into()];
    let set = policies(&flows);
    let spec = cnp(&set, "shop", "web").spec.clone().unwrap();
    assert!(
        spec.egress.iter().all(|r| r.to_fqdns.is_empty()),
        "{}",
        yaml(&spec)
    );
    assert_eq!(spec.egress[0].to_cidr, vec!["140.82.112.3/32"]);
    assert!(set.warnings.iter().any(|w| w.contains("no DNS resolver")));
}
