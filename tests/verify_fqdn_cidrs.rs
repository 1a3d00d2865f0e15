//! A DNS-named peer stands for connections to each of its addresses: a rule
//! listing one CIDR per address (as NetworkPolicy output must) allows them
//! all, and a rule missing one of them does not decide it.

use crate::verifykit;

use crate::flowkit::*;

fn flows() -> Vec<flowpolicy::proto::flow::Flow> {
    let cart = pod("shop", &[("app.kubernetes.io/name", "cart")], "10.1.0.5");
    let coredns = pod("kube-system", &[("k8s-app", "kube-dns")], "10.1.9.9");
    let a = ident(2, &["reserved:world"], "203.0.113.7");
    let b = ident(2, &["reserved:world"], "203.0.113.8");
    let mut f = vec![dns_answer(
        &cart,
        &coredns,
        "api.example.com",
        &["203.0.113.7", "203.0.113.8"],
        0,
    )];
    f.extend(tcp_conn(&cart, &a, 45000, 443, 1));
    f.extend(tcp_conn(&cart, &b, 45001, 443, 2));
    f
}

fn policy(cidrs: &str) -> String {
    format!(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: cart, namespace: shop}}
spec:
  podSelector: {{matchLabels: {{app.kubernetes.io/name: cart}}}}
  policyTypes: [Egress]
  egress:
  - to: [{cidrs}]
    ports: [{{port: 443, protocol: TCP}}]
"#
    )
}

#[test]
fn one_ip_block_per_address_allows_the_named_peer() {
    let r = verifykit::check(
        &policy("{ipBlock: {cidr: 203.0.113.7/32}}, {ipBlock: {cidr: 203.0.113.8/32}}"),
        &flows(),
    );
    assert_eq!(
        verifykit::verdict(&r, "shop/cart", "fqdn:api.example.com", "443/TCP"),
        "allowed"
    );
}

#[test]
fn a_missing_address_is_not_allowed() {
    let r = verifykit::check(&policy("{ipBlock: {cidr: 203.0.113.7/32}}"), &flows());
    assert_ne!(
        verifykit::verdict(&r, "shop/cart", "fqdn:api.example.com", "443/TCP"),
        "allowed"
    );
}
