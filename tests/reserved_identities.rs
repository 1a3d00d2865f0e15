//! Reserved identities as Cilium's selector cache sees them: by label, with
//! the label union a reserved identity carries (the host of a control-plane
//! node is also `reserved:kube-apiserver`, identity 7 also
//! `reserved:remote-node`), for `verify`; and the entity `recommend` names
//! for each: the API server by entity wherever it runs, the host's probes as
//! `host`.

use crate::flowkit::*;
use crate::verifykit;

use flowpolicy::proto::flow::{Endpoint, Flow};

type Ep = (Endpoint, String);

fn cart() -> Ep {
    pod("shop", &[("app.kubernetes.io/name", "cart")], "10.1.0.5")
}

fn host() -> Ep {
    ident(1, &["reserved:host"], "10.1.0.1")
}

fn control_plane_host() -> Ep {
    ident(
        1,
        &["reserved:host", "reserved:kube-apiserver"],
        "192.168.1.10",
    )
}

fn remote_node() -> Ep {
    ident(6, &["reserved:remote-node"], "192.168.1.12")
}

fn remote_apiserver() -> Ep {
    ident(
        7,
        &["reserved:kube-apiserver", "reserved:remote-node"],
        "192.168.1.11",
    )
}

fn external_apiserver() -> Ep {
    ident(
        16777217,
        &["reserved:kube-apiserver", "reserved:world"],
        "203.0.113.20",
    )
}

fn egress_policy(entity: &str, port: u16) -> String {
    format!(
        r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: cart, namespace: shop}}
spec:
  endpointSelector: {{matchLabels: {{app.kubernetes.io/name: cart}}}}
  egress:
  - toEntities: [{entity}]
    toPorts: [{{ports: [{{port: "{port}", protocol: TCP}}]}}]
"#
    )
}

fn ingress_policy(entity: &str) -> String {
    format!(
        r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: cart, namespace: shop}}
spec:
  endpointSelector: {{matchLabels: {{app.kubernetes.io/name: cart}}}}
  ingress:
  - fromEntities: [{entity}]
    toPorts: [{{ports: [{{port: "8080", protocol: TCP}}]}}]
"#
    )
}

/// The verdict of `cart → dst` on 6443/TCP under `toEntities: [entity]`.
fn egress_verdict(dst: &Ep, shown: &str, entity: &str) -> &'static str {
    let flows = tcp_conn(&cart(), dst, 45000, 6443, 0);
    let r = verifykit::check(&egress_policy(entity, 6443), &flows);
    verifykit::verdict(&r, "shop/cart", shown, "6443/TCP")
}

#[test]
fn verify_selects_each_reserved_identity_by_its_labels() {
    let world4 = ident(2, &["reserved:world"], "198.51.100.7");
    let world_ipv4 = ident(9, &["reserved:world-ipv4"], "198.51.100.8");
    let world_ipv6 = ident(10, &["reserved:world-ipv6"], "2001:db8::7");
    let health = ident(4, &["reserved:health"], "10.1.0.9");
    let ingress = ident(8, &["reserved:ingress"], "10.1.0.10");
    // (peer, as shown, entities that select it); every other entity must not.
    let cases: Vec<(Ep, &str, &[&str])> = vec![
        (host(), "entity:host", &["host", "cluster", "all"]),
        (
            control_plane_host(),
            "entity:host+kube-apiserver",
            &["host", "kube-apiserver", "cluster", "all"],
        ),
        (
            remote_node(),
            "entity:remote-node",
            &["remote-node", "cluster", "all"],
        ),
        (
            remote_apiserver(),
            "entity:kube-apiserver",
            &["kube-apiserver", "remote-node", "cluster", "all"],
        ),
        (
            external_apiserver(),
            "entity:kube-apiserver+world",
            &["kube-apiserver", "world", "cluster", "all"],
        ),
        (health, "entity:health", &["health", "cluster", "all"]),
        (ingress, "entity:ingress", &["ingress", "cluster", "all"]),
        (
            ident(5, &["reserved:init"], "10.1.0.11"),
            "entity:init",
            &["init", "cluster", "all"],
        ),
        (
            ident(3, &["reserved:unmanaged"], "10.1.0.12"),
            "entity:unmanaged",
            &["unmanaged", "cluster", "all"],
        ),
        (
            world4,
            "cidr:198.51.100.7/32",
            &["world", "world-ipv4", "all"],
        ),
        (
            world_ipv4,
            "cidr:198.51.100.8/32",
            &["world", "world-ipv4", "all"],
        ),
        (
            world_ipv6,
            "cidr:2001:db8::7/128",
            &["world", "world-ipv6", "all"],
        ),
    ];
    let entities = [
        "host",
        "remote-node",
        "kube-apiserver",
        "health",
        "ingress",
        "world",
        "world-ipv4",
        "world-ipv6",
        "cluster",
        "all",
        "init",
        "unmanaged",
        "none",
    ];
    for (peer, shown, selected) in &cases {
        for entity in entities {
            let got = egress_verdict(peer, shown, entity);
            let want = if selected.contains(&entity) {
                "allowed"
            } else if entity.starts_with("world-") && *shown == "entity:kube-apiserver+world" {
                // An API server outside the cluster, seen without address family.
                "unknown"
            } else {
                "dropped"
            };
            assert_eq!(got, want, "toEntities: [{entity}] to {shown}");
        }
    }
}

#[test]
fn identity_7_is_admitted_as_remote_node_and_as_kube_apiserver() {
    let flows = tcp_conn(&remote_apiserver(), &cart(), 45000, 8080, 0);
    for entity in ["remote-node", "kube-apiserver", "cluster"] {
        let r = verifykit::check(&ingress_policy(entity), &flows);
        assert_eq!(
            verifykit::verdict(&r, "entity:kube-apiserver", "shop/cart", "8080/TCP"),
            "allowed",
            "fromEntities: [{entity}]"
        );
    }
    let r = verifykit::check(&ingress_policy("host"), &flows);
    assert_eq!(
        verifykit::verdict(&r, "entity:kube-apiserver", "shop/cart", "8080/TCP"),
        "dropped"
    );
}

#[test]
fn reserved_label_selectors_follow_the_label_union() {
    let flows = tcp_conn(&cart(), &control_plane_host(), 45000, 6443, 0);
    for (key, want) in [
        ("reserved:kube-apiserver", "allowed"),
        ("reserved:host", "allowed"),
        ("reserved:remote-node", "dropped"),
    ] {
        let yaml = format!(
            r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: cart, namespace: shop}}
spec:
  endpointSelector: {{matchLabels: {{app.kubernetes.io/name: cart}}}}
  egress:
  - toEndpoints: [{{matchLabels: {{"{key}": ""}}}}]
    toPorts: [{{ports: [{{port: "6443", protocol: TCP}}]}}]
"#
        );
        let r = verifykit::check(&yaml, &flows);
        assert_eq!(
            verifykit::verdict(&r, "shop/cart", "entity:host+kube-apiserver", "6443/TCP"),
            want,
            "{key}"
        );
    }
}

#[test]
fn the_local_host_is_let_in_whatever_else_it_carries() {
    let flows = tcp_conn(&control_plane_host(), &cart(), 41000, 8080, 0);
    let deny_all = r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: cart, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app.kubernetes.io/name: cart}}
  ingress: [{}]
"#;
    let r = verifykit::check(deny_all, &flows);
    assert_eq!(
        verifykit::verdict(&r, "entity:host+kube-apiserver", "shop/cart", "8080/TCP"),
        "allowed"
    );
}

fn cart_policy(flows: &[Flow]) -> String {
    yaml(&cnp(&policies(flows), "shop", "cart").spec)
}

#[test]
fn the_api_server_is_written_by_entity_wherever_it_was_reached() {
    // Through the local host of a control-plane node, and at a remote one.
    for dst in [
        control_plane_host(),
        remote_apiserver(),
        external_apiserver(),
    ] {
        let flows = tcp_conn(&cart(), &dst, 45000, 6443, 0);
        let spec = cart_policy(&flows);
        assert!(
            spec.contains("toEntities:\n  - kube-apiserver"),
            "{:?}: {spec}",
            dst.0.labels
        );
        assert!(!spec.contains("- host"), "{spec}");
        assert!(!spec.contains("- remote-node"), "{spec}");
    }
    // Both at once: one rule.
    let mut flows = tcp_conn(&cart(), &control_plane_host(), 45000, 6443, 0);
    flows.extend(tcp_conn(&cart(), &remote_apiserver(), 45001, 6443, 10));
    let spec = cart_policy(&flows);
    assert_eq!(spec.matches("kube-apiserver").count(), 1, "{spec}");
    // The foundation lists the workload among the API server's users.
    let set = policies(&flows);
    let foundation = yaml(&set.clusterwide);
    assert!(
        foundation.contains("uses the kube-apiserver"),
        "{foundation}"
    );
}

#[test]
fn other_ports_of_a_control_plane_node_are_the_node() {
    let mut flows = tcp_conn(&cart(), &control_plane_host(), 45000, 10250, 0);
    flows.extend(tcp_conn(&cart(), &remote_apiserver(), 45001, 10250, 10));
    let spec = cart_policy(&flows);
    assert!(spec.contains("toEntities:\n  - host"), "{spec}");
    assert!(spec.contains("toEntities:\n  - remote-node"), "{spec}");
    assert!(!spec.contains("kube-apiserver"), "{spec}");
}

#[test]
fn probes_from_a_control_plane_host_stay_host() {
    let flows = tcp_conn(&control_plane_host(), &cart(), 41000, 8080, 0);
    let spec = cart_policy(&flows);
    assert!(spec.contains("fromEntities:\n  - host"), "{spec}");
    assert!(!spec.contains("kube-apiserver"), "{spec}");
}

#[test]
fn learned_on_a_control_plane_node_holds_on_a_worker() {
    // Monday the pod ran on a control-plane node and reached the API server
    // through its own host; Tuesday it runs on a worker and reaches it at a
    // remote control-plane node (and the other way round).
    for (learned, next) in [
        (control_plane_host(), remote_apiserver()),
        (remote_apiserver(), control_plane_host()),
    ] {
        let monday = tcp_conn(&cart(), &learned, 45000, 6443, 0);
        let tuesday = tcp_conn(&cart(), &next, 45001, 6443, 86_400);
        let set = policies(&monday);
        let yaml = flowpolicy::render::yaml::stream(&flowpolicy::render::yaml::documents(&set));
        let r = verifykit::check(&yaml, &tuesday);
        assert!(
            r.dropped.is_empty() && r.unknown.is_empty(),
            "{:?}",
            r.dropped
        );
    }
}
