//! The rules of [`super`], each with the exact message a user reads.

use super::*;
use crate::proto::flow::{Dns, Endpoint, IcmPv4, Ip, Layer4, Layer7, Tcp, Udp, Workload};

fn pod(namespace: &str, labels: &[&str]) -> Endpoint {
    Endpoint {
        identity: 4242,
        namespace: namespace.into(),
        labels: labels.iter().map(|s| s.to_string()).collect(),
        pod_name: "web-7d9c-x2x9z".into(),
        workloads: vec![Workload {
            name: "web".into(),
            kind: "Deployment".into(),
        }],
        ..Endpoint::default()
    }
}

fn good() -> flow::Flow {
    flow::Flow {
        time: Some(pbjson_types::Timestamp {
            seconds: 1_795_000_000,
            nanos: 5,
        }),
        source: Some(pod(
            "shop",
            &[
                "k8s:app.kubernetes.io/name=web",
                "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=shop",
                "k8s:io.cilium.k8s.policy.serviceaccount=web",
                "k8s:io.kubernetes.pod.namespace=shop",
            ],
        )),
        destination: Some(Endpoint {
            identity: 16_777_217,
            labels: vec!["cidr:1.1.1.1/32".into(), "reserved:world-ipv4".into()],
            ..Endpoint::default()
        }),
        ip: Some(Ip {
            source: "10.0.0.1".into(),
            destination: "1.1.1.1".into(),
            ..Ip::default()
        }),
        l4: Some(Layer4 {
            protocol: Some(Protocol::Tcp(Tcp {
                source_port: 40000,
                destination_port: 443,
                ..Tcp::default()
            })),
        }),
        destination_names: vec!["one.one.one.one".into()],
        ..flow::Flow::default()
    }
}

/// The message a user reads for a flow changed by `damage`.
fn message(damage: impl FnOnce(&mut flow::Flow)) -> String {
    let mut f = good();
    damage(&mut f);
    check_flow(&f).unwrap_err().to_string()
}

fn src(f: &mut flow::Flow) -> &mut Endpoint {
    f.source.as_mut().unwrap()
}

#[test]
fn valid_identities_pass() {
    assert_eq!(check_flow(&good()), Ok(()));
    assert_eq!(check_flow(&flow::Flow::default()), Ok(()));
    for label in [
        "reserved:host",
        "reserved:kube-apiserver",
        "cidr:10.0.0.0/8",
        "cidr:2001:db8::/32",
        "cidr:2001-db8--/32",
        "fqdn:*.example.com",
        "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=shop",
        "k8s:io.cilium.k8s.namespace.labels.pod-security.kubernetes.io/enforce=baseline",
        "k8s:app=",
        "app=web",
        "k8s:rook_cluster=rook-ceph",
        "k8s:security.istio.io/tlsMode=istio",
    ] {
        assert_eq!(check_label(label), Ok(()), "{label}");
    }
}

#[test]
fn namespace() {
    assert_eq!(
        message(|f| src(f).namespace = "Shop".into()),
        r#"source.namespace = "Shop": not a namespace name: an RFC 1123 label is at most 63 lower-case letters, digits or '-', starting and ending with a letter or digit"#
    );
    assert_eq!(
        message(|f| src(f).labels[3] = "k8s:io.kubernetes.pod.namespace=sh op".into()),
        r#"source.labels[3] = "k8s:io.kubernetes.pod.namespace=sh op": not a label value: empty, or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"#
    );
    assert_eq!(
        message(|f| src(f).labels[3] = "k8s:io.kubernetes.pod.namespace=Shop".into()),
        r#"source.labels[3] = "k8s:io.kubernetes.pod.namespace=Shop": not a namespace name: an RFC 1123 label is at most 63 lower-case letters, digits or '-', starting and ending with a letter or digit"#
    );
    assert_eq!(
        message(|f| src(f).labels[3] = "k8s:io.kubernetes.pod.namespace=shoq".into()),
        r#"source.labels[3] = "k8s:io.kubernetes.pod.namespace=shoq": disagrees with the endpoint's namespace: a pod's namespace, its io.kubernetes.pod.namespace label and its namespace's kubernetes.io/metadata.name label are one name"#
    );
}

#[test]
fn pod_and_workload_names() {
    assert_eq!(
        message(|f| src(f).pod_name = "web 7d9c".into()),
        r#"source.pod_name = "web 7d9c": not a pod name: an RFC 1123 subdomain is at most 253 characters of dot-separated RFC 1123 labels (lower-case letters, digits, '-')"#
    );
    assert_eq!(
        message(|f| src(f).workloads[0].name = "we\u{0}b".into()),
        r#"source.workloads[0].name = "we\0b": not a workload name or kind: names are RFC 1123 subdomains, kinds are letters and digits"#
    );
    assert_eq!(
        message(|f| src(f).workloads[0].kind = "Deploy ment".into()),
        r#"source.workloads[0].kind = "Deploy ment": not a workload name or kind: names are RFC 1123 subdomains, kinds are letters and digits"#
    );
}

#[test]
fn labels() {
    assert_eq!(
        message(|f| src(f).labels[0] = "k9s:app=web".into()),
        r#"source.labels[0] = "k9s:app=web": unknown label source: Cilium writes k8s, reserved, cidr, fqdn, any, container, unspec, cidrgroup, node, kvstore or cilium-generated"#
    );
    let key_rule = "not a label key for its source: k8s keys are [prefix/]name (an RFC 1123 subdomain prefix; a name of at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit), reserved keys RFC 1123 labels, cidr keys address prefixes, fqdn keys DNS patterns";
    assert_eq!(
        message(|f| src(f).labels[0] = "k8s:app.Kubernetes.io/name=web".into()),
        format!(r#"source.labels[0] = "k8s:app.Kubernetes.io/name=web": {key_rule}"#)
    );
    for bad in [
        "reserved:Host",
        "cidr:10.0.0.300/8",
        "fqdn:a b.com",
        "k8s:=x",
        "k8s:-app=x",
    ] {
        assert_eq!(check_label(bad), Err(Reason::LabelKey), "{bad}");
    }
    assert_eq!(
        message(|f| src(f).labels[0] = "k8s:app=we/b".into()),
        r#"source.labels[0] = "k8s:app=we/b": not a label value: empty, or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"#
    );
    assert_eq!(
        check_label("k8s:io.cilium.k8s.policy.serviceaccount=Web"),
        Err(Reason::LabelValue)
    );
}

#[test]
fn numbers() {
    assert_eq!(
        message(|f| src(f).identity = 3 << 24),
        "source.identity = 50331648: not a security identity: identities are below 50331648 (3 << 24)"
    );
    assert_eq!(
        message(|f| f.l4 = Some(Layer4 {
            protocol: Some(Protocol::Udp(Udp {
                source_port: 53,
                destination_port: 70000,
            }))
        })),
        "l4.UDP.destination_port = 70000: not a port: ports are at most 65535"
    );
    assert_eq!(
        message(|f| f.l4 = Some(Layer4 {
            protocol: Some(Protocol::IcmPv4(IcmPv4 {
                r#type: 256,
                code: 0
            }))
        })),
        "l4.ICMPv4.type = 256: not an ICMP type or code: both are at most 255"
    );
    let time_rule = "not a flow time: times lie between 2000-01-01 and 2100-01-01, nanoseconds below 1000000000";
    assert_eq!(
        message(|f| f.time.as_mut().unwrap().seconds = 4_102_444_800),
        format!("time.seconds = 4102444800: {time_rule}")
    );
    assert_eq!(
        message(|f| f.time.as_mut().unwrap().nanos = -1),
        format!("time.nanos = -1: {time_rule}")
    );
}

#[test]
fn node_names() {
    for name in [
        "k8s-1",
        "kind-kind/kind-worker",
        "ip-192-168-85-176.ap-northeast-2.compute.internal",
        "10.10.21.166",
    ] {
        let mut f = good();
        f.node_name = name.into();
        assert_eq!(check_flow(&f), Ok(()), "{name}");
    }
    assert_eq!(
        message(|f| f.node_name = "k8s 1".into()),
        r#"node_name = "k8s 1": not a node name: an RFC 1123 subdomain, after the relay's optional cluster-name/ prefix"#
    );
}

#[test]
fn zero_ports_are_not_rejected() {
    let mut f = good();
    f.l4 = Some(Layer4 {
        protocol: Some(Protocol::Tcp(Tcp::default())),
    });
    assert_eq!(check_flow(&f), Ok(()));
}

#[test]
fn addresses_and_dns_names() {
    assert_eq!(
        message(|f| f.ip.as_mut().unwrap().destination = "1.1.1.x".into()),
        r#"IP.destination = "1.1.1.x": not an IP address"#
    );
    let dns_rule = "not a DNS name: dot-separated labels of 1 to 63 letters, digits, '-' or '_', at most 253 characters";
    assert_eq!(
        message(|f| f.destination_names = vec!["one..one".into()]),
        format!(r#"destination_names[0] = "one..one": {dns_rule}"#)
    );
    assert_eq!(
        message(|f| {
            f.l7 = Some(Layer7 {
                record: Some(Record::Dns(Dns {
                    query: "git hub.com.".into(),
                    ..Dns::default()
                })),
                ..Layer7::default()
            })
        }),
        format!(r#"l7.dns.query = "git hub.com.": {dns_rule}"#)
    );
}

#[test]
fn long_values_are_cut_and_escaped() {
    let long = format!("{}\u{1b}[31m", "a".repeat(70));
    let m = message(|f| src(f).pod_name = long);
    assert!(
        m.starts_with(&format!("source.pod_name = \"{}…\": ", "a".repeat(64))),
        "{m}"
    );
    let m = message(|f| src(f).pod_name = "x\u{1b}[31m".into());
    assert!(m.starts_with(r#"source.pod_name = "x\u{1b}[31m": "#), "{m}");
}

#[test]
fn rejections_count_every_flow_and_keep_a_few_positions() {
    let mut r = Rejections::default();
    let bad = check_flow(&{
        let mut f = good();
        src(&mut f).namespace = "X".into();
        f
    })
    .unwrap_err();
    for i in 1..=10 {
        r.add(|| format!("f:{i}"), bad.clone());
    }
    assert_eq!(r.total(), 10);
    let kept: Vec<&str> = r.first[&Reason::Namespace]
        .iter()
        .map(|(at, _)| at.as_str())
        .collect();
    assert_eq!(kept, ["f:1", "f:2", "f:3"]);
    let mut all = Rejections::default();
    all.merge(&r);
    all.merge(&r);
    assert_eq!((all.total(), all.first[&Reason::Namespace].len()), (20, 3));
}
