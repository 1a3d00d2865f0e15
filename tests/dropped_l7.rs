//! L7 records that Cilium DROPPED (an L7 policy in audit, a too narrow L7
//! rule) are learned with `--include-dropped`: the HTTP requests give HTTP
//! rules, not only an L4 rule; without the flag nothing of them is learned;
//! and the summary says which of the two happened.

use crate::flowkit::*;
use crate::verifykit;

use assert_cmd::Command;
use flowpolicy::policy::load_str;
use flowpolicy::proto::flow::{self, Endpoint, Flow};
use flowpolicy::render::yaml;
use flowpolicy::synth::{self, l7::L7Config, SynthConfig};
use flowpolicy::verify::{verify, VerifyOptions};

type Ep = (Endpoint, String);

fn frontend() -> Ep {
    pod("shop", &[("app", "frontend")], "10.1.0.10")
}
fn api() -> Ep {
    pod("shop", &[("app", "api")], "10.1.0.11")
}

fn dropped(mut flows: Vec<Flow>) -> Vec<Flow> {
    for f in &mut flows {
        f.verdict = flow::Verdict::Dropped as i32;
    }
    flows
}

/// The connection and its HTTP requests, every record DROPPED.
fn traffic() -> Vec<Flow> {
    let (fe, api) = (frontend(), api());
    let mut flows = tcp_conn(&fe, &api, 40000, 8080, 0);
    for (method, url) in [
        ("GET", "http://api.shop:8080/api/v1/users/42"),
        ("POST", "http://api.shop:8080/api/v1/orders"),
    ] {
        flows.push(http(&fe, &api, 40000, 8080, method, url));
    }
    dropped(flows)
}

fn cfg(include_dropped: bool) -> SynthConfig {
    SynthConfig {
        include_dropped,
        l7: L7Config {
            http: true,
            ..L7Config::default()
        },
        ..SynthConfig::default()
    }
}

#[test]
fn dropped_http_requests_give_http_rules_with_include_dropped() {
    let set = synth::synthesize(&graph_of(&traffic()), &cfg(true));
    let spec = yaml(&cnp(&set, "shop", "api").spec);
    assert!(spec.contains("http:"), "{spec}");
    assert!(spec.contains("method: GET"), "{spec}");
    assert!(spec.contains("/api/v1/users/[0-9]+"), "{spec}");
    assert!(spec.contains("method: POST"), "{spec}");
    // recommend | verify, both with --include-dropped: every request passes.
    let text = yaml::stream(&yaml::documents(&set));
    let loaded = load_str(&text, std::path::Path::new("p.yaml"));
    let r = verify(
        &graph_of(&traffic()),
        &loaded,
        &VerifyOptions {
            include_dropped: true,
        },
    );
    assert!(r.dropped.is_empty(), "{:?}", r.dropped);
    assert!(r.requests_denied.is_empty(), "{:?}", r.requests_denied);
    assert_eq!(r.summary.requests.allowed.requests, 2, "{:?}", r.summary);
}

#[test]
fn without_include_dropped_nothing_dropped_is_learned() {
    let set = synth::synthesize(&graph_of(&traffic()), &cfg(false));
    assert!(set.namespaced.is_empty(), "{:?}", set.namespaced);
    // Allowed traffic elsewhere keeps its own L7 rules, untouched by the
    // dropped requests of the same port.
    let mut flows = traffic();
    let mut ok = tcp_conn(&frontend(), &api(), 40001, 8080, 5);
    let mut get = flows[3].clone();
    get.verdict = flow::Verdict::Forwarded as i32;
    ok.push(get);
    flows.extend(ok);
    let set = synth::synthesize(&graph_of(&flows), &cfg(false));
    let spec = yaml(&cnp(&set, "shop", "api").spec);
    assert!(spec.contains("method: GET"), "{spec}");
    assert!(!spec.contains("POST"), "{spec}");
    let r = verifykit::check(&yaml::stream(&yaml::documents(&set)), &flows);
    assert!(r.requests_denied.is_empty(), "{:?}", r.requests_denied);
}

#[test]
fn the_summary_says_what_was_done_with_dropped_flows() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("flows.jsonpb");
    write_dump(&dump, &traffic());
    let run = |extra: &[&str]| {
        let out = Command::cargo_bin("flowpolicy")
            .unwrap()
            .arg("recommend")
            .arg(&dump)
            .args(["--l7", "http"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (stdout, stderr) = run(&["--include-dropped"]);
    assert!(stdout.contains("/api/v1/orders"), "{stdout}");
    assert!(!stderr.contains("pass --include-dropped"), "{stderr}");
    assert!(
        stderr.contains("DROPPED flows are taken as traffic to allow (--include-dropped)"),
        "{stderr}"
    );
    let (stdout, stderr) = run(&[]);
    assert!(!stdout.contains("/api/v1/orders"), "{stdout}");
    assert!(stderr.contains("pass --include-dropped"), "{stderr}");
}
