//! Property: for random small flow sets, the policies `recommend` writes
//! (rendered to YAML and loaded back) allow every learned connection, and
//! a mutated connection — another port, another peer, the same labels in
//! another namespace — is denied.

use std::path::Path;

use crate::flowkit::*;
use flowpolicy::policy::{load_str, LoadedPolicies};
use flowpolicy::proto::flow::{Endpoint, Flow};
use flowpolicy::render::yaml;
use flowpolicy::synth::{self, SynthConfig};
use flowpolicy::verify::{verify, Report, VerifyOptions};
use proptest::prelude::*;

const PORTS: [u32; 5] = [80, 443, 5432, 8080, 9090];

fn pods() -> Vec<(Endpoint, String)> {
    vec![
        pod("a", &[("app", "x")], "10.2.0.1"),
        pod("a", &[("app", "y")], "10.2.0.2"),
        pod("b", &[("app", "x")], "10.2.0.3"),
        pod("b", &[("app", "z")], "10.2.0.4"),
    ]
}

#[derive(Debug, Clone, Copy)]
struct Conn {
    src: usize,
    dst: usize,
    port: u32,
    udp: bool,
}

fn conn() -> impl Strategy<Value = Conn> {
    (0..4usize, 1..4usize, 0..PORTS.len(), any::<bool>()).prop_map(|(src, off, p, udp)| Conn {
        src,
        dst: (src + off) % 4,
        port: PORTS[p],
        udp,
    })
}

fn flows_of(conns: &[(Endpoint, String, Endpoint, String, u32, bool)]) -> Vec<Flow> {
    let mut out = Vec::new();
    for (i, (se, sip, de, dip, port, udp)) in conns.iter().enumerate() {
        let s = (se.clone(), sip.clone());
        let d = (de.clone(), dip.clone());
        let sport = 40000 + i as u32;
        if *udp {
            out.extend(udp_exchange(&s, &d, sport, *port, i as i64));
        } else {
            out.extend(tcp_conn(&s, &d, sport, *port, i as i64));
        }
    }
    out
}

fn recommended(flows: &[Flow]) -> LoadedPolicies {
    let set = synth::synthesize(
        &graph_of(flows),
        &SynthConfig {
            foundation: true,
            ..SynthConfig::default()
        },
    );
    let text = yaml::stream(&yaml::documents(&set));
    let loaded = load_str(&text, Path::new("recommended.yaml"));
    assert!(loaded.invalid.is_empty(), "{:?}", loaded.invalid);
    loaded
}

fn check(flows: &[Flow], policies: &LoadedPolicies) -> Report {
    verify(&graph_of(flows), policies, &VerifyOptions::default())
}

fn one(s: &(Endpoint, String), d: &(Endpoint, String), port: u32, udp: bool) -> Vec<Flow> {
    flows_of(&[(
        s.0.clone(),
        s.1.clone(),
        d.0.clone(),
        d.1.clone(),
        port,
        udp,
    )])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn recommended_policies_allow_learned_and_deny_mutated(conns in prop::collection::vec(conn(), 1..6), pick in any::<prop::sample::Index>()) {
        let p = pods();
        let learned: Vec<_> = conns
            .iter()
            .map(|c| (p[c.src].0.clone(), p[c.src].1.clone(), p[c.dst].0.clone(), p[c.dst].1.clone(), c.port, c.udp))
            .collect();
        let flows = flows_of(&learned);
        let policies = recommended(&flows);

        let r = check(&flows, &policies);
        prop_assert_eq!(r.summary.dropped.edge_ports, 0, "{:#?}", r.dropped);
        prop_assert_eq!(r.summary.unknown.edge_ports, 0);
        prop_assert!(r.summary.allowed.edge_ports > 0);

        let c = conns[pick.index(conns.len())];
        let (src, dst) = (&p[c.src], &p[c.dst]);
        let denied = |flows: Vec<Flow>, what: &str| -> Result<(), TestCaseError> {
            let r = check(&flows, &policies);
            prop_assert_eq!(r.summary.dropped.edge_ports, 1, "{} should be denied: {:#?}", what, r.allowed);
            Ok(())
        };
        // Another port on the same pair (and protocol), never learned.
        let used: Vec<u32> = conns
            .iter()
            .filter(|o| o.src == c.src && o.dst == c.dst && o.udp == c.udp)
            .map(|o| o.port)
            .collect();
        let other_port = (1000..).find(|x| !used.contains(x)).unwrap();
        denied(one(src, dst, other_port, c.udp), "other port")?;
        // Another peer: a workload that never talked to dst.
        let intruder = pod(dst.0.namespace.as_str(), &[("app", "intruder")], "10.2.0.9");
        denied(one(&intruder, dst, c.port, c.udp), "other initiator")?;
        // src talking to a new responder on the same port.
        let stranger = pod("a", &[("app", "stranger")], "10.2.0.8");
        denied(one(src, &stranger, c.port, c.udp), "other responder")?;
        // The same labels as src, in another namespace.
        let app = src.0.labels.iter().find_map(|l| l.strip_prefix("k8s:app=")).unwrap().to_string();
        let moved = pod("c", &[("app", app.as_str())], "10.2.0.7");
        denied(one(&moved, dst, c.port, c.udp), "other namespace")?;
    }
}
