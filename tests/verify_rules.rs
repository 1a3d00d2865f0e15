//! The verification semantics, one table row per Cilium rule: a policy
//! written by hand, hand-made flows, and the expected verdict for each
//! observed connection (see docs/verify.md).

use crate::flowkit::*;
use crate::verifykit::*;
use flowpolicy::proto::flow::{Endpoint, Flow};

type Ep = (Endpoint, String);

fn web() -> Ep {
    pod("shop", &[("app", "web")], "10.1.0.10")
}
fn api() -> Ep {
    pod("shop", &[("app", "api"), ("tier", "backend")], "10.1.0.11")
}
fn db() -> Ep {
    pod("data", &[("app", "db")], "10.1.0.20")
}
fn coredns() -> Ep {
    pod("kube-system", &[("k8s-app", "kube-dns")], "10.1.0.2")
}
fn host() -> Ep {
    ident(1, &["reserved:host"], "10.0.0.1")
}
fn remote_node() -> Ep {
    ident(6, &["reserved:remote-node"], "10.0.0.2")
}
fn apiserver() -> Ep {
    ident(
        7,
        &["reserved:kube-apiserver", "reserved:remote-node"],
        "10.0.0.3",
    )
}
fn internet() -> Ep {
    ident(2, &["reserved:world"], "192.0.2.50")
}
fn internet6() -> Ep {
    ident(10, &["reserved:world-ipv6"], "2001:db8::50")
}
fn lan() -> Ep {
    ident(2, &["reserved:world"], "10.9.1.7")
}
fn team_pod() -> Ep {
    pod(
        "team-a",
        &[
            ("app", "client"),
            ("io.cilium.k8s.namespace.labels.team", "a"),
        ],
        "10.1.0.30",
    )
}

/// Traffic used by most rows.
fn traffic() -> Vec<Flow> {
    let mut f = Vec::new();
    f.extend(tcp_conn(&web(), &db(), 40001, 5432, 0));
    f.extend(tcp_conn(&api(), &db(), 40002, 5432, 1));
    f.extend(tcp_conn(&web(), &api(), 40003, 8080, 2));
    f.extend(tcp_conn(&host(), &db(), 40004, 5432, 3));
    f.extend(tcp_conn(&lan(), &db(), 40005, 5432, 4));
    f.extend(tcp_conn(&web(), &internet(), 40006, 443, 5));
    f.extend(tcp_conn(&web(), &apiserver(), 40007, 6443, 6));
    f.extend(tcp_conn(&web(), &remote_node(), 40008, 10250, 7));
    f.extend(tcp_conn(&team_pod(), &db(), 40009, 5432, 8));
    f.extend(tcp_conn(&web(), &internet6(), 40010, 443, 9));
    f.extend(tcp_conn(&web(), &host(), 40011, 9100, 10));
    f.push(ping(&web(), &db(), 11));
    f
}

/// FQDN traffic: web resolves api.example.com and connects to it; it also
/// connects to an address it never resolved.
fn fqdn_traffic() -> Vec<Flow> {
    let mut f = udp_exchange(&web(), &coredns(), 41000, 53, 0);
    f.push(dns_answer(
        &web(),
        &coredns(),
        "api.example.com",
        &["192.0.2.80"],
        1,
    ));
    f.extend(tcp_conn(
        &web(),
        &ident(2, &["reserved:world"], "192.0.2.80"),
        41001,
        443,
        2,
    ));
    f.extend(tcp_conn(
        &web(),
        &ident(2, &["reserved:world"], "192.0.2.81"),
        41002,
        443,
        3,
    ));
    f
}

const WEB_DB: (&str, &str, &str) = ("shop/web", "data/db", "5432/TCP");
const API_DB: (&str, &str, &str) = ("shop/api", "data/db", "5432/TCP");
const WEB_API: (&str, &str, &str) = ("shop/web", "shop/api", "8080/TCP");
const HOST_DB: (&str, &str, &str) = ("entity:host", "data/db", "5432/TCP");
const LAN_DB: (&str, &str, &str) = ("cidr:10.9.1.7/32", "data/db", "5432/TCP");
const WEB_NET: (&str, &str, &str) = ("shop/web", "cidr:192.0.2.50/32", "443/TCP");
const WEB_NET6: (&str, &str, &str) = ("shop/web", "cidr:2001:db8::50/128", "443/TCP");
const WEB_API_SRV: (&str, &str, &str) = ("shop/web", "entity:kube-apiserver", "6443/TCP");
const WEB_NODE: (&str, &str, &str) = ("shop/web", "entity:remote-node", "10250/TCP");
const WEB_HOST: (&str, &str, &str) = ("shop/web", "entity:host", "9100/TCP");
const TEAM_DB: (&str, &str, &str) = ("team-a/client", "data/db", "5432/TCP");
const PING_DB: (&str, &str, &str) = ("shop/web", "data/db", "ICMPv4/type 8");
const WEB_FQDN: (&str, &str, &str) = ("shop/web", "fqdn:api.example.com", "443/TCP");
const WEB_NONAME: (&str, &str, &str) = ("shop/web", "cidr:192.0.2.81/32", "443/TCP");

struct Case {
    name: &'static str,
    yaml: &'static str,
    fqdn: bool,
    expect: &'static [((&'static str, &'static str, &'static str), &'static str)],
}

const DB_INGRESS_FROM_WEB_NS: &str = "
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db, namespace: data}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: web}}]
";

const CASES: &[Case] = &[
    Case {
        name: "no selecting policy: everything allowed",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: other, namespace: data}
spec:
  endpointSelector: {matchLabels: {app: nothing-here}}
  ingress: [{}]
",
        fqdn: false,
        expect: &[(WEB_DB, "allowed"), (WEB_NET, "allowed"), (LAN_DB, "allowed")],
    },
    Case {
        name: "ingress section: ingress default-deny only; CNP peer without namespace is the policy's namespace",
        yaml: DB_INGRESS_FROM_WEB_NS,
        fqdn: false,
        expect: &[(WEB_DB, "dropped"), (API_DB, "dropped"), (WEB_API, "allowed"), (LAN_DB, "dropped"), (PING_DB, "dropped")],
    },
    Case {
        name: "cross-namespace peer needs the namespace label, with any prefix",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db, namespace: data}
spec:
  endpointSelector: {matchLabels: {k8s:app: db}}
  ingress:
  - fromEndpoints: [{matchLabels: {any:app: web, k8s:io.kubernetes.pod.namespace: shop}}]
    toPorts: [{ports: [{port: '5432', protocol: TCP}]}]
",
        fqdn: false,
        expect: &[(WEB_DB, "allowed"), (API_DB, "dropped"), (PING_DB, "dropped")],
    },
    Case {
        name: "CNP endpointSelector selects only its own namespace",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress: [{}]
",
        fqdn: false,
        expect: &[(WEB_DB, "allowed")],
    },
    Case {
        name: "ingress: [{}] denies all ingress (host still allowed)",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db, namespace: data}
spec:
  endpointSelector: {}
  ingress: [{}]
",
        fqdn: false,
        expect: &[(WEB_DB, "dropped"), (LAN_DB, "dropped"), (HOST_DB, "allowed"), (WEB_API, "allowed")],
    },
    Case {
        name: "enableDefaultDeny false only adds allows",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: dns}
spec:
  endpointSelector: {}
  enableDefaultDeny: {egress: false, ingress: false}
  egress:
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns}}]
  ingress:
  - fromEntities: [cluster]
",
        fqdn: false,
        expect: &[(WEB_DB, "allowed"), (WEB_NET, "allowed"), (LAN_DB, "allowed")],
    },
    Case {
        name: "CCNP peers are cluster-wide; CCNP {} is every pod, not the world",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: db}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
  - fromEndpoints: [{}]
",
        fqdn: false,
        expect: &[(WEB_DB, "allowed"), (TEAM_DB, "allowed"), (LAN_DB, "dropped"), (HOST_DB, "allowed")],
    },
    Case {
        name: "CCNP specs list: every rule applies",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: two}
specs:
- endpointSelector: {matchLabels: {app: db}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: web}}]
- endpointSelector: {matchLabels: {app: db}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: api}}]
    toPorts: [{ports: [{port: '5000', endPort: 5500, protocol: TCP}]}]
",
        fqdn: false,
        expect: &[(WEB_DB, "allowed"), (API_DB, "allowed"), (TEAM_DB, "dropped")],
    },
    Case {
        name: "matchExpressions In / NotIn / Exists / DoesNotExist",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: exprs}
spec:
  endpointSelector: {matchExpressions: [{key: app, operator: In, values: [db, cache]}]}
  ingress:
  - fromEndpoints:
    - matchExpressions:
      - {key: app, operator: NotIn, values: [client]}
      - {key: tier, operator: DoesNotExist}
      - {key: k8s:io.kubernetes.pod.namespace, operator: Exists}
",
        fqdn: false,
        expect: &[(WEB_DB, "allowed"), (API_DB, "dropped"), (TEAM_DB, "dropped")],
    },
    Case {
        name: "entities: world, kube-apiserver, remote-node, host; egress default-deny",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
  - toEntities: [world-ipv4, kube-apiserver]
  - toEntities: [remote-node]
    toPorts: [{ports: [{port: '10250'}]}]
",
        fqdn: false,
        expect: &[
            (WEB_NET, "allowed"),
            (WEB_NET6, "dropped"),
            (WEB_API_SRV, "allowed"),
            (WEB_NODE, "allowed"),
            (WEB_HOST, "dropped"),
            (WEB_DB, "dropped"),
        ],
    },
    Case {
        name: "entities: cluster is every non-world peer; all is everything",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
  - toEntities: [cluster]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db, namespace: data}
spec:
  endpointSelector: {}
  ingress:
  - fromEntities: [all]
",
        fqdn: false,
        expect: &[
            (WEB_DB, "allowed"),
            (WEB_HOST, "allowed"),
            (WEB_API_SRV, "allowed"),
            (WEB_NET, "dropped"),
            (LAN_DB, "allowed"),
        ],
    },
    Case {
        name: "CIDR and CIDRSet with except against world peers",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db, namespace: data}
spec:
  endpointSelector: {}
  ingress:
  - fromCIDRSet: [{cidr: 10.0.0.0/8, except: [10.9.0.0/16]}]
  - fromCIDR: [192.168.0.0/16]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
  - toCIDR: [192.0.2.0/24]
",
        fqdn: false,
        expect: &[(LAN_DB, "dropped"), (WEB_DB, "dropped"), (WEB_NET, "allowed"), (WEB_NET6, "dropped")],
    },
    Case {
        name: "toPorts: port, protocol ANY, ranges; ICMP needs icmps",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db, namespace: data}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
  - fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: shop}}]
    toPorts: [{ports: [{port: '5400', endPort: 5500}]}]
    icmps: [{fields: [{type: EchoRequest, family: IPv4}]}]
",
        fqdn: false,
        expect: &[(WEB_DB, "allowed"), (API_DB, "allowed"), (PING_DB, "allowed"), (TEAM_DB, "dropped")],
    },
    Case {
        name: "an L4 rule alone blocks ICMP; a wrong protocol blocks TCP",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db, namespace: data}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
  - toPorts: [{ports: [{port: '5432', protocol: UDP}]}]
  - fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: shop, app: api}}]
    toPorts: [{ports: [{port: '5432', protocol: TCP}]}]
",
        fqdn: false,
        expect: &[(WEB_DB, "dropped"), (API_DB, "allowed"), (PING_DB, "dropped")],
    },
    Case {
        name: "named ports cannot be resolved offline",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db, namespace: data}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
  - toPorts: [{ports: [{port: postgres, protocol: TCP}]}]
",
        fqdn: false,
        expect: &[(WEB_DB, "unknown"), (PING_DB, "dropped")],
    },
    Case {
        name: "deny wins over allow",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db, namespace: data}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
  - fromEntities: [all]
  ingressDeny:
  - fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: shop, app: web}}]
    toPorts: [{ports: [{port: '5432'}]}]
  - fromEntities: [host]
",
        fqdn: false,
        expect: &[(WEB_DB, "dropped"), (API_DB, "allowed"), (PING_DB, "allowed"), (HOST_DB, "dropped")],
    },
    Case {
        name: "host → local pod is allowed under ingress default-deny",
        yaml: DB_INGRESS_FROM_WEB_NS,
        fqdn: false,
        expect: &[(HOST_DB, "allowed")],
    },
    Case {
        name: "toFQDNs works with a DNS rule covering the name; an unnamed address never matches",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
  - toFQDNs: [{matchPattern: '*.example.com'}]
    toPorts: [{ports: [{port: '443', protocol: TCP}]}]
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: dns}
spec:
  endpointSelector: {}
  enableDefaultDeny: {egress: false}
  egress:
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns}}]
    toPorts:
    - ports: [{port: '53', protocol: ANY}]
      rules: {dns: [{matchName: API.example.com.}]}
",
        fqdn: true,
        expect: &[(WEB_FQDN, "allowed"), (WEB_NONAME, "dropped"), (("shop/web", "kube-system/kube-dns", "53/UDP"), "allowed")],
    },
    Case {
        name: "toFQDNs without a DNS rule is not effective",
        yaml: "
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
  - toFQDNs: [{matchName: api.example.com}]
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system}}]
    toPorts: [{ports: [{port: '53', protocol: UDP}]}]
",
        fqdn: true,
        expect: &[(WEB_FQDN, "dropped"), (("shop/web", "kube-system/kube-dns", "53/UDP"), "allowed")],
    },
    Case {
        name: "Kubernetes NetworkPolicy: policyTypes, namespaceSelector by name, empty podSelector, ipBlock",
        yaml: "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: data}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}
      podSelector: {matchLabels: {app: web}}
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.9.0.0/16]}
    ports: [{port: 5432}]
  - from:
    - namespaceSelector: {matchLabels: {team: a}}
",
        fqdn: false,
        // api matches no port-5432 peer; whether its namespace has `team: a`
        // is not in the flows, so the second rule leaves it unknown.
        expect: &[(WEB_DB, "allowed"), (API_DB, "unknown"), (LAN_DB, "dropped"), (TEAM_DB, "allowed"), (WEB_NET, "allowed")],
    },
    Case {
        name: "Kubernetes NetworkPolicy: namespace labels absent from the flows are unknown",
        yaml: "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: data}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: shop}}
",
        fqdn: false,
        expect: &[(WEB_DB, "unknown"), (TEAM_DB, "dropped"), (HOST_DB, "allowed")],
    },
    Case {
        name: "Kubernetes NetworkPolicy: egress with an empty rule allows everything",
        yaml: "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{}]
",
        fqdn: false,
        expect: &[(WEB_DB, "allowed"), (WEB_NET, "allowed")],
    },
];

#[test]
fn every_rule_of_the_table() {
    let mut failures = Vec::new();
    for case in CASES {
        let flows = if case.fqdn { fqdn_traffic() } else { traffic() };
        let report = check(case.yaml, &flows);
        for ((src, dst, port), want) in case.expect {
            let got = verdict(&report, src, dst, port);
            if got != *want {
                let (_, p) = find(&report, src, dst, port);
                failures.push(format!(
                    "{}: {src} → {dst} {port}: got {got}, want {want}: {:#?}",
                    case.name, p.directions
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn reports_say_which_direction_and_rule() {
    let report = check(DB_INGRESS_FROM_WEB_NS, &traffic());
    let (_, p) = find(&report, WEB_DB.0, WEB_DB.1, WEB_DB.2);
    assert_eq!(p.directions.len(), 2);
    assert_eq!(
        (p.directions[0].direction, p.directions[0].verdict),
        ("egress", "allowed")
    );
    assert_eq!(
        (p.directions[1].direction, p.directions[1].verdict),
        ("ingress", "dropped")
    );
    assert!(
        p.directions[1]
            .reason
            .contains("CiliumNetworkPolicy data/db"),
        "{:?}",
        p.directions[1]
    );
    assert!(
        p.sample.contains("10.1.0.10") && p.connections == 1,
        "{p:?}"
    );

    let both = format!(
        "{DB_INGRESS_FROM_WEB_NS}---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: db-from-shop, namespace: data}}
spec:
  endpointSelector: {{matchLabels: {{app: db}}}}
  ingress:
  - fromEndpoints: [{{matchLabels: {{k8s:io.kubernetes.pod.namespace: shop}}}}]
    toPorts: [{{ports: [{{port: '80'}}]}}]
"
    );
    let report = check(&both, &traffic());
    let (_, p) = find(&report, WEB_DB.0, WEB_DB.1, WEB_DB.2);
    assert!(
        p.directions[1]
            .hints
            .iter()
            .any(|h| h.contains("only on 80/ANY")),
        "{:?}",
        p.directions[1]
    );
    let (v, p) = find(&report, API_DB.0, API_DB.1, API_DB.2);
    assert_eq!(v, "dropped");
    assert!(report.has_drops());
    assert!(p.directions[1].enforced_by.len() == 2, "{p:?}");
}

#[test]
fn fqdn_without_dns_rule_explains_itself() {
    let yaml = CASES
        .iter()
        .find(|c| c.name.starts_with("toFQDNs without"))
        .unwrap()
        .yaml;
    let report = check(yaml, &fqdn_traffic());
    let (_, p) = find(&report, WEB_FQDN.0, WEB_FQDN.1, WEB_FQDN.2);
    assert!(
        p.directions[0]
            .hints
            .iter()
            .any(|h| h.contains("no egress DNS rule")),
        "{:?}",
        p.directions[0]
    );
}

#[test]
fn explain_names_the_allowing_rule_and_findings_flag_broad_rules() {
    let yaml = "
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: wide}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress:
  - fromEndpoints: [{}]
  - fromCIDR: [0.0.0.0/0]
    toPorts: [{ports: [{port: '9999'}]}]
  - fromEntities: [world]
    toPorts: [{ports: [{port: '5432'}, {port: '6000'}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: ghost, namespace: data}
spec:
  endpointSelector: {matchLabels: {app: postgres}}
  ingress: [{fromEntities: [cluster]}]
";
    let report = check(yaml, &traffic());
    let (v, p) = find(&report, WEB_DB.0, WEB_DB.1, WEB_DB.2);
    assert_eq!(v, "allowed");
    let rule = p.directions[1].rule.as_ref().unwrap();
    assert_eq!(
        (rule.policy.name.as_str(), rule.rule.as_str()),
        ("wide", "spec.ingress[0]")
    );
    let kinds: Vec<(&str, &str)> = report
        .over_permissive
        .iter()
        .map(|f| (f.kind, f.rule.as_str()))
        .collect();
    for want in [
        ("broad-peer", "spec.ingress[0]"),
        ("unused-rule", "spec.ingress[1]"),
        ("broad-peer", "spec.ingress[1]"),
        ("unused-port", "spec.ingress[2]"),
        ("broad-peer", "spec.ingress[2]"),
        ("selects-nothing", "spec"),
    ] {
        assert!(kinds.contains(&want), "missing {want:?} in {kinds:?}");
    }
}
