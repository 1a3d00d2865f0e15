//! A generated week of a small cluster with the churn a real week has, for
//! the generalization test (`next_week.rs`): learn days 1–5, check days 6–7.
//!
//! Deterministic (splitmix64 with a fixed seed, BTreeMaps only). Every day
//! each pod is recreated with a new name and address and scheduled again,
//! control-plane nodes included (so the same workload reaches the API server
//! through its own host one day and at a remote control-plane node the
//! next); the CronJob runs again under a new `job-name`; sibling instances
//! rotate: the Ceph manager and the OSDs talk to other OSDs, two OSDs and a
//! Kafka broker appear only in the last days.
//!
//! Every connection has a ground-truth class, `(initiator role, responder
//! role, port)`, which [`class_of`] reads back from a graph edge: a class the
//! first five days showed is known traffic, which the policies must allow;
//! [`never_made`] lists connections of classes the whole week never showed,
//! which they must deny.

use std::collections::BTreeMap;

use flowpolicy::peer::l4::PortKey;
use flowpolicy::peer::Peer;
use flowpolicy::proto::flow::{Endpoint, Flow};

use super::flowkit::{dns_answer, tcp_conn, udp_exchange};
use crate::mutate::Rng;

const NODES: [&str; 6] = ["cp-1", "cp-2", "w-1", "w-2", "w-3", "w-4"];
const CONTROL_PLANE: usize = 2;
const DAY: i64 = 86_400;

/// One pod of one day.
#[derive(Clone)]
struct Pod {
    ep: (Endpoint, String),
    node: usize,
}

/// A role's instance: namespace, labels (role and instance), service account.
struct Spec {
    ns: &'static str,
    labels: Vec<(String, String)>,
    sa: &'static str,
    /// Pinned to a node (OSDs live where their disk is).
    node: Option<usize>,
}

fn spec(ns: &'static str, sa: &'static str, labels: &[(&str, &str)]) -> Spec {
    Spec {
        ns,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        sa,
        node: None,
    }
}

/// The generator's state for one day: identities by label set.
struct Cluster {
    rng: Rng,
    identities: BTreeMap<Vec<String>, u32>,
    pods_made: u32,
}

impl Cluster {
    fn pod(&mut self, s: &Spec, day: i64, extra: &[(String, String)]) -> Pod {
        let node = s.node.unwrap_or_else(|| self.rng.below(NODES.len()));
        let mut labels: Vec<String> = s
            .labels
            .iter()
            .chain(extra)
            .map(|(k, v)| format!("k8s:{k}={v}"))
            .collect();
        labels.push(format!("k8s:io.kubernetes.pod.namespace={}", s.ns));
        labels.push("k8s:io.cilium.k8s.policy.cluster=week".into());
        labels.push(format!("k8s:io.cilium.k8s.policy.serviceaccount={}", s.sa));
        labels.sort();
        let next = 20_000 + self.identities.len() as u32;
        let identity = *self.identities.entry(labels.clone()).or_insert(next);
        self.pods_made += 1;
        let n = self.pods_made;
        let ip = format!("10.244.{}.{}", node * 40 + (n / 250) as usize, n % 250 + 2);
        let name = s
            .labels
            .iter()
            .find(|(k, _)| k == "app" || k == "app.kubernetes.io/name" || k == "k8s-app")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        Pod {
            ep: (
                Endpoint {
                    identity,
                    namespace: s.ns.into(),
                    labels,
                    pod_name: format!("{name}-d{day}-{n:05x}"),
                    ..Default::default()
                },
                ip,
            ),
            node,
        }
    }
}

fn reserved(identity: u32, labels: &[&str], ip: String) -> (Endpoint, String) {
    (
        Endpoint {
            identity,
            labels: labels.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
        ip,
    )
}

fn node_ip(n: usize) -> String {
    format!("192.168.1.{}", 10 + n)
}

/// The local host of `node`, as the agent on it labels it.
fn host(node: usize) -> (Endpoint, String) {
    if node < CONTROL_PLANE {
        reserved(
            1,
            &["reserved:host", "reserved:kube-apiserver"],
            node_ip(node),
        )
    } else {
        reserved(1, &["reserved:host"], node_ip(node))
    }
}

/// The API server as a pod on `node` reaches it: its own host on a
/// control-plane node, a remote control-plane node (identity 7) elsewhere.
fn apiserver(node: usize, rng: &mut Rng) -> (Endpoint, String) {
    if node < CONTROL_PLANE {
        host(node)
    } else {
        reserved(
            7,
            &["reserved:kube-apiserver", "reserved:remote-node"],
            node_ip(rng.below(CONTROL_PLANE)),
        )
    }
}

fn world(ip: &str) -> (Endpoint, String) {
    reserved(2, &["reserved:world"], ip.to_string())
}

/// A week of flows, one list per day.
pub struct Week {
    pub days: Vec<Vec<Flow>>,
}

/// Emits flows, setting the observing node and the time.
struct Out<'a> {
    flows: &'a mut Vec<Flow>,
    day: i64,
    sport: u32,
    second: i64,
}

impl Out<'_> {
    fn push(&mut self, mut flows: Vec<Flow>, node: usize) {
        for f in &mut flows {
            f.node_name = NODES[node].to_string();
        }
        self.flows.extend(flows);
    }
    fn at(&mut self) -> i64 {
        self.second = (self.second + 37) % (DAY - 60);
        self.day * DAY + self.second
    }
    fn tcp(&mut self, from: &Pod, to: &(Endpoint, String), port: u32) {
        self.sport = 32768 + (self.sport - 32768 + 7) % 28000;
        let t = self.at();
        let flows = tcp_conn(&from.ep, to, self.sport, port, t);
        self.push(flows, from.node);
    }
    fn tcp_from(&mut self, from: &(Endpoint, String), node: usize, to: &Pod, port: u32) {
        self.sport = 32768 + (self.sport - 32768 + 7) % 28000;
        let t = self.at();
        let flows = tcp_conn(from, &to.ep, self.sport, port, t);
        self.push(flows, node);
    }
    fn dns(&mut self, from: &Pod, resolver: &Pod) {
        self.sport = 32768 + (self.sport - 32768 + 7) % 28000;
        let t = self.at();
        let flows = udp_exchange(&from.ep, &resolver.ep, self.sport, 53, t);
        self.push(flows, from.node);
    }
}

/// The week.
pub fn generate() -> Week {
    let mut c = Cluster {
        rng: Rng::new(0x5eed_0017),
        identities: BTreeMap::new(),
        pods_made: 0,
    };
    let frontend = spec("shop", "frontend", &[("app", "frontend")]);
    let api = spec("shop", "api", &[("app", "api")]);
    let redis = spec("shop", "redis", &[("app", "redis")]);
    let backup = spec("shop", "backup", &[("app", "backup")]);
    let coredns = spec("kube-system", "coredns", &[("k8s-app", "kube-dns")]);
    let certmgr = spec(
        "cert-manager",
        "cert-manager",
        &[("app.kubernetes.io/name", "cert-manager")],
    );
    let operator = spec(
        "rook-ceph",
        "rook-ceph-system",
        &[("app", "rook-ceph-operator")],
    );
    let mgr = spec(
        "rook-ceph",
        "rook-ceph-mgr",
        &[("app", "rook-ceph-mgr"), ("ceph_daemon_type", "mgr")],
    );
    let mons: Vec<Spec> = ["a", "b", "c"]
        .iter()
        .map(|id| {
            spec(
                "rook-ceph",
                "rook-ceph-default",
                &[
                    ("app", "rook-ceph-mon"),
                    ("ceph_daemon_type", "mon"),
                    ("mon", id),
                    ("ceph_daemon_id", id),
                    ("mon_cluster", "rook-ceph"),
                ],
            )
        })
        .collect();
    let osds: Vec<Spec> = (0..6)
        .map(|i| {
            let node = CONTROL_PLANE + i % (NODES.len() - CONTROL_PLANE);
            let id = i.to_string();
            let mut s = spec(
                "rook-ceph",
                "rook-ceph-osd",
                &[
                    ("app", "rook-ceph-osd"),
                    ("ceph_daemon_type", "osd"),
                    ("osd", &id),
                    ("ceph-osd-id", &id),
                    ("ceph_daemon_id", &id),
                    ("failure-domain", NODES[node]),
                    ("topology-location-host", NODES[node]),
                    ("topology-location-root", "default"),
                ],
            );
            s.node = Some(node);
            s
        })
        .collect();
    let brokers: Vec<Spec> = (0..3)
        .map(|i| {
            spec(
                "kafka",
                "kafka",
                &[
                    ("app.kubernetes.io/name", "kafka"),
                    ("strimzi.io/cluster", "main"),
                    ("strimzi.io/pod-name", &format!("main-kafka-{i}")),
                ],
            )
        })
        .collect();
    let producer = spec("kafka", "producer", &[("app", "producer")]);

    let mut days = Vec::new();
    for day in 0..7i64 {
        let mut flows = Vec::new();
        let mut out = Out {
            flows: &mut flows,
            day,
            sport: 32768 + day as u32,
            second: 0,
        };
        let none: Vec<(String, String)> = Vec::new();
        // Recreated every day: new names, addresses and nodes.
        let dns: Vec<Pod> = (0..2).map(|_| c.pod(&coredns, day, &none)).collect();
        let fe: Vec<Pod> = (0..2).map(|_| c.pod(&frontend, day, &none)).collect();
        let ap = c.pod(&api, day, &none);
        let rd: Vec<Pod> = (0..3)
            .map(|i| {
                let extra = vec![
                    (
                        "statefulset.kubernetes.io/pod-name".to_string(),
                        format!("redis-{i}"),
                    ),
                    ("apps.kubernetes.io/pod-index".to_string(), i.to_string()),
                ];
                c.pod(&redis, day, &extra)
            })
            .collect();
        let job = vec![
            ("job-name".to_string(), format!("backup-2920{day}000")),
            (
                "controller-uid".to_string(),
                format!("{:08x}", c.rng.next_u64() as u32),
            ),
        ];
        let bk = c.pod(&backup, day, &job);
        let cm = c.pod(&certmgr, day, &none);
        let op = c.pod(&operator, day, &none);
        let mg = c.pod(&mgr, day, &none);
        let mn: Vec<Pod> = mons.iter().map(|s| c.pod(s, day, &none)).collect();
        // OSDs 4 and 5 are added on day 6.
        let live_osds = if day < 5 { 4 } else { 6 };
        let od: Vec<Pod> = osds[..live_osds]
            .iter()
            .map(|s| c.pod(s, day, &none))
            .collect();
        // Broker 2 joins on day 6.
        let live_brokers = if day < 5 { 2 } else { 3 };
        let bs: Vec<Pod> = brokers[..live_brokers]
            .iter()
            .map(|s| c.pod(s, day, &none))
            .collect();
        let pr = c.pod(&producer, day, &none);

        let everyone: Vec<&Pod> = fe
            .iter()
            .chain([&ap, &bk, &cm, &op, &mg, &pr])
            .chain(&rd)
            .chain(&mn)
            .chain(&od)
            .chain(&bs)
            .collect();
        for p in &everyone {
            let r = &dns[c.rng.below(dns.len())];
            out.dns(p, r);
        }
        // Kubelet probes from each pod's own host.
        for (pods, port) in [
            (fe.iter().collect::<Vec<_>>(), 8080),
            (vec![&ap], 8080),
            (rd.iter().collect(), 6379),
            (vec![&mg], 9283),
            (od.iter().collect(), 9000),
            (bs.iter().collect(), 9404),
            (dns.iter().collect(), 8181),
        ] {
            for p in pods {
                out.tcp_from(&host(p.node), p.node, p, port);
            }
        }
        for _ in 0..6 {
            let f = &fe[c.rng.below(fe.len())];
            out.tcp(f, &ap.ep, 8080);
            let r = &rd[c.rng.below(rd.len())];
            out.tcp(&ap, &r.ep, 6379);
        }
        out.tcp(&ap, &world("203.0.113.10"), 443);
        out.push(
            vec![dns_answer(
                &ap.ep,
                &dns[0].ep,
                "api.stripe.com",
                &["203.0.113.10"],
                out.day * DAY,
            )],
            ap.node,
        );
        out.tcp(&bk, &rd[0].ep, 6379);
        out.tcp(&bk, &world("198.51.100.20"), 443);
        for p in [&cm, &op, &mg] {
            let a = apiserver(p.node, &mut c.rng);
            out.tcp(p, &a, 6443);
        }
        // Ceph: the manager talks to some OSDs, OSDs to mons and to each other.
        for _ in 0..3 {
            let o = &od[c.rng.below(od.len())];
            out.tcp(&mg, &o.ep, 6800);
        }
        if day >= 5 {
            // The new OSDs are reached too: known role, new instances.
            out.tcp(&mg, &od[4].ep, 6800);
            out.tcp(&od[5], &od[4].ep, 6800);
        }
        for o in &od {
            let m = &mn[c.rng.below(mn.len())];
            out.tcp(o, &m.ep, 3300);
            let peer = &od[c.rng.below(od.len())];
            if !std::ptr::eq(peer, o) {
                out.tcp(o, &peer.ep, 6800);
            }
        }
        out.tcp(&mn[0], &mn[1].ep, 3300);
        out.tcp(
            &mn[(day as usize) % 3],
            &mn[(day as usize + 2) % 3].ep,
            3300,
        );
        out.tcp(&op, &mn[c.rng.below(3)].ep, 3300);
        // Kafka: the producer and the brokers, the new one last.
        for b in &bs {
            out.tcp(&pr, &b.ep, 9092);
        }
        out.tcp(&bs[0], &bs[1].ep, 9091);
        if day >= 5 {
            out.tcp(&bs[2], &bs[0].ep, 9091);
        }
        days.push(flows);
    }
    Week { days }
}

/// The role of a generated workload (its `app`-style label), or what an
/// entity or address is to a pod: the API server on 6443, the host on
/// other ports.
fn role(peer: &Peer, port: &PortKey) -> String {
    match peer {
        Peer::Workload(w) => ["app", "app.kubernetes.io/name", "k8s-app"]
            .iter()
            .find_map(|k| w.labels.get(*k))
            .map(|v| format!("{}/{v}", w.namespace))
            .unwrap_or_else(|| format!("{peer}")),
        Peer::Entity(e) if e.is_apiserver() && port.port == 6443 => "kube-apiserver".into(),
        Peer::Entity(e) if e.is_host() => "host".into(),
        other => other.to_string(),
    }
}

/// The ground-truth class of a graph edge port.
pub fn class_of(from: &Peer, to: &Peer, port: &PortKey) -> (String, String, String) {
    (role(from, port), role(to, port), port.to_string())
}

/// Connections of classes the week never made, one per class, each a
/// single connection of a pod of day 7.
pub fn never_made() -> Vec<Flow> {
    let mut c = Cluster {
        rng: Rng::new(0x0bad_0017),
        identities: BTreeMap::new(),
        pods_made: 0,
    };
    let none = Vec::new();
    let mut flows = Vec::new();
    let mut out = Out {
        flows: &mut flows,
        day: 6,
        sport: 40000,
        second: 0,
    };
    let p = |c: &mut Cluster, ns: &'static str, sa: &'static str, l: &[(&str, &str)]| {
        c.pod(&spec(ns, sa, l), 6, &none)
    };
    let fe = p(&mut c, "shop", "frontend", &[("app", "frontend")]);
    let ap = p(&mut c, "shop", "api", &[("app", "api")]);
    let rd = p(&mut c, "shop", "redis", &[("app", "redis")]);
    let bk = p(&mut c, "shop", "backup", &[("app", "backup")]);
    let pr = p(&mut c, "kafka", "producer", &[("app", "producer")]);
    let mg = p(
        &mut c,
        "rook-ceph",
        "rook-ceph-mgr",
        &[("app", "rook-ceph-mgr"), ("ceph_daemon_type", "mgr")],
    );
    let mut osd_spec = spec(
        "rook-ceph",
        "rook-ceph-osd",
        &[
            ("app", "rook-ceph-osd"),
            ("ceph_daemon_type", "osd"),
            ("osd", "9"),
            ("ceph-osd-id", "9"),
            ("ceph_daemon_id", "9"),
            ("failure-domain", "w-2"),
            ("topology-location-host", "w-2"),
            ("topology-location-root", "default"),
        ],
    );
    osd_spec.node = Some(3);
    let od = c.pod(&osd_spec, 6, &none);
    let broker = p(
        &mut c,
        "kafka",
        "kafka",
        &[
            ("app.kubernetes.io/name", "kafka"),
            ("strimzi.io/cluster", "main"),
            ("strimzi.io/pod-name", "main-kafka-7"),
        ],
    );
    out.tcp(&fe, &rd.ep, 6379);
    out.tcp(&ap, &od.ep, 6800);
    out.tcp(&pr, &ap.ep, 8080);
    let remote_api = reserved(
        7,
        &["reserved:kube-apiserver", "reserved:remote-node"],
        node_ip(0),
    );
    out.tcp(&fe, &remote_api, 6443);
    out.tcp(&fe, &host(0), 6443);
    out.tcp(&bk, &world("203.0.113.10"), 443);
    out.tcp(&mg, &od.ep, 22);
    out.tcp(&od, &broker.ep, 9092);
    out.tcp(&rd, &fe.ep, 8080);
    out.tcp(&broker, &world("203.0.113.10"), 443);
    out.tcp_from(&world("198.51.100.99"), 2, &fe, 8080);
    out.tcp(&mg, &remote_api, 10250);
    flows
}
