//! `--format k8s` rule by rule on hand-made flows: names become their
//! observed addresses, ICMP and cluster entities are listed as not
//! expressible (never widened), ports keep ranges, cross-namespace peers get
//! a namespaceSelector.

use crate::flowkit::*;
use flowpolicy::policy::k8s::{K8sProtocol, NetworkPolicyPeer};
use flowpolicy::policy::{IntOrString, NetworkPolicy};
use flowpolicy::synth::k8s::synthesize_k8s;
use flowpolicy::synth::SynthConfig;

fn web() -> (flowpolicy::proto::flow::Endpoint, String) {
    pod("shop", &[("app.kubernetes.io/name", "web")], "10.1.0.10")
}
fn db() -> (flowpolicy::proto::flow::Endpoint, String) {
    pod("data", &[("app.kubernetes.io/name", "db")], "10.1.0.20")
}
fn coredns() -> (flowpolicy::proto::flow::Endpoint, String) {
    pod("kube-system", &[("k8s-app", "kube-dns")], "10.1.0.2")
}

fn policy<'a>(set: &'a [NetworkPolicy], ns: &str, name: &str) -> &'a NetworkPolicy {
    set.iter()
        .find(|p| p.metadata.namespace.as_deref() == Some(ns) && p.metadata.name == name)
        .unwrap_or_else(|| panic!("no {ns}/{name}"))
}

#[test]
fn names_become_addresses_entities_and_icmp_are_listed() {
    let github = ident(2, &["reserved:world"], "140.82.112.3");
    let host = ident(1, &["reserved:host"], "192.168.1.10");
    let mut flows = udp_exchange(&web(), &coredns(), 50000, 53, 0);
    flows.push(dns_answer(
        &web(),
        &coredns(),
        "api.github.com",
        &["140.82.112.3"],
        0,
    ));
    flows.extend(tcp_conn(&web(), &github, 40000, 443, 1));
    flows.extend(tcp_conn(&web(), &db(), 40001, 5432, 2));
    flows.extend(tcp_conn(&web(), &db(), 40002, 5433, 3));
    flows.push(ping(&web(), &db(), 4));
    flows.extend(tcp_conn(&host, &web(), 40003, 8080, 5));
    let set = synthesize_k8s(
        &graph_of(&flows),
        &SynthConfig {
            foundation: true,
            ..SynthConfig::default()
        },
    );
    let web_np = policy(&set.policies, "shop", "web");
    let egress = &web_np.spec.egress;
    // The name, by the address it was seen at.
    let github_rule = egress
        .iter()
        .find(|r| r.to.iter().any(|p| p.ip_block.is_some()))
        .expect("an ipBlock rule");
    assert_eq!(
        github_rule.to[0].ip_block.as_ref().unwrap().cidr,
        "140.82.112.3/32"
    );
    assert_eq!(github_rule.ports[0].port, Some(IntOrString::Int(443)));
    // The cross-namespace pods, with the consecutive ports as a range.
    let db_rule = egress
        .iter()
        .find(|r| {
            r.to.iter().any(|p: &NetworkPolicyPeer| {
                p.namespace_selector.as_ref().is_some_and(|n| {
                    n.match_labels
                        .get("kubernetes.io/metadata.name")
                        .map(String::as_str)
                        == Some("data")
                })
            })
        })
        .expect("a rule to data/db");
    assert_eq!(db_rule.ports.len(), 1);
    assert_eq!(db_rule.ports[0].protocol, Some(K8sProtocol::TCP));
    assert_eq!(db_rule.ports[0].port, Some(IntOrString::Int(5432)));
    assert_eq!(db_rule.ports[0].end_port, Some(5433));
    // DNS to the resolver pods, on UDP.
    assert!(egress.iter().any(|r| r
        .ports
        .iter()
        .any(|p| p.protocol == Some(K8sProtocol::UDP) && p.port == Some(IntOrString::Int(53)))));
    // Nothing allows everything.
    for r in egress.iter() {
        assert!(!r.to.is_empty() && !r.ports.is_empty(), "{r:?}");
    }
    // ICMP and the host are listed, not widened.
    let listed: Vec<String> = set.not_expressible.iter().map(|n| n.to_string()).collect();
    assert!(
        listed
            .iter()
            .any(|l| l
                .starts_with("shop/web egress data/db (ICMPv4/type 8): NetworkPolicy has no ICMP")),
        "{listed:?}"
    );
    assert!(
        listed
            .iter()
            .any(|l| l.starts_with("shop/web ingress entity:host (8080/TCP): the host entity")),
        "{listed:?}"
    );
    assert!(
        web_np.spec.ingress.is_empty(),
        "the host's ingress is not written"
    );
    assert!(set.notes.iter().any(|n| n.starts_with("no foundation")));
}

#[test]
fn a_name_at_the_address_cap_is_listed_as_partly_expressible() {
    let ips: Vec<String> = (0..70).map(|i| format!("198.51.100.{i}")).collect();
    let refs: Vec<&str> = ips.iter().map(String::as_str).collect();
    let mut flows = udp_exchange(&web(), &coredns(), 50000, 53, 0);
    flows.push(dns_answer(&web(), &coredns(), "cdn.example.com", &refs, 0));
    for (i, ip) in ips.iter().enumerate() {
        let dst = ident(2, &["reserved:world"], ip);
        flows.extend(tcp_conn(&web(), &dst, 41000 + i as u32, 443, 1 + i as i64));
    }
    let set = synthesize_k8s(&graph_of(&flows), &SynthConfig::default());
    let web_np = policy(&set.policies, "shop", "web");
    let blocks: usize = web_np
        .spec
        .egress
        .iter()
        .flat_map(|r| &r.to)
        .filter(|p| p.ip_block.is_some())
        .count();
    assert_eq!(blocks, flowpolicy::graph::MAX_ADDRESSES);
    assert!(
        set.not_expressible
            .iter()
            .any(|n| n.peer == "fqdn:cdn.example.com"
                && n.reason.contains("only the first 64 addresses")),
        "{:?}",
        set.not_expressible
    );
}
