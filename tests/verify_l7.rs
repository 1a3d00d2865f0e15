//! `verify` at L7: observed HTTP requests (graph evidence from Hubble L7
//! records) checked against hand-written HTTP rules — a request no rule
//! matches is reported as an HTTP 403 with the section and nearest rule it
//! missed and fails the run; L4-only sections wildcard L7; connections L4
//! already drops are not checked at L7. Also the real HTTP dumps of the
//! corpus against a hand-written policy and the corpus' HTTP policies.

use crate::common;

use std::path::Path;

use crate::flowkit::*;
use crate::verifykit::*;
use assert_cmd::Command;
use flowpolicy::proto::flow::{Endpoint, Flow};
use flowpolicy::verify::report::Report;
use serde_json::Value;

type Ep = (Endpoint, String);

fn frontend() -> Ep {
    pod("shop", &[("app", "frontend")], "10.1.0.10")
}
fn api() -> Ep {
    pod("shop", &[("app", "api")], "10.1.0.11")
}
fn admin() -> Ep {
    pod("ops", &[("app", "admin")], "10.1.0.12")
}

const API_POLICY: &str = r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: frontend}}]
    toPorts:
    - ports: [{port: "8080", protocol: TCP}]
      rules:
        http:
        - {method: "GET", path: "/api/v1/users/[0-9]+"}
        - {method: "POST", path: "/api/v1/orders(\\?.*)?", host: "api\\.shop(:8080)?"}
  - fromEndpoints: [{matchLabels: {app: admin, io.kubernetes.pod.namespace: ops}}]
    toPorts:
    - ports: [{port: "8080", protocol: TCP}]
"#;

fn traffic() -> Vec<Flow> {
    let (fe, api, adm) = (frontend(), api(), admin());
    let mut flows = tcp_conn(&fe, &api, 40000, 8080, 0);
    flows.extend(tcp_conn(&adm, &api, 40001, 8080, 1));
    for (method, url) in [
        ("GET", "http://api.shop:8080/api/v1/users/42"),
        ("GET", "http://api.shop:8080/api/v1/users/7"),
        ("POST", "http://api.shop:8080/api/v1/orders?dry=1"),
        // unobserved by the policy: a path, a method, a host
        ("GET", "http://api.shop:8080/api/v1/users/42/orders"),
        ("DELETE", "http://api.shop:8080/api/v1/users/42"),
        ("POST", "http://evil.example:8080/api/v1/orders"),
    ] {
        flows.push(http(&fe, &api, 40000, 8080, method, url));
    }
    // the admin's section is L4-only: every request passes
    flows.push(http(
        &adm,
        &api,
        40001,
        8080,
        "DELETE",
        "http://api.shop:8080/api/v1/users/42",
    ));
    flows
}

fn denied(r: &Report) -> Vec<String> {
    r.requests_denied
        .iter()
        .map(|q| format!("{} {} {}", q.client, q.method, q.target))
        .collect()
}

#[test]
fn unobserved_paths_methods_and_hosts_get_403_with_the_rule_they_missed() {
    let r = check(API_POLICY, &traffic());
    assert_eq!(
        verdict(&r, "shop/frontend", "shop/api", "8080/TCP"),
        "allowed"
    );
    assert_eq!(verdict(&r, "ops/admin", "shop/api", "8080/TCP"), "allowed");
    assert_eq!(
        denied(&r),
        [
            "shop/frontend DELETE /api/v1/users/42",
            "shop/frontend GET /api/v1/users/42/orders",
            "shop/frontend POST /api/v1/orders",
        ],
        "{:#?}",
        r.requests_denied
    );
    let del = &r.requests_denied[0];
    assert_eq!(del.direction, Some("ingress"));
    assert_eq!(del.server, "shop/api");
    assert_eq!(del.port, "8080/TCP");
    assert!(
        del.message
            .contains("no http rule of CiliumNetworkPolicy shop/api spec.ingress[0] matches")
            && del
                .message
                .contains("nearest: GET /api/v1/users/[0-9]+ (missed method)"),
        "{}",
        del.message
    );
    let ingress = del
        .directions
        .iter()
        .find(|d| d.direction == "ingress")
        .unwrap();
    assert_eq!(ingress.sections.len(), 1);
    assert_eq!(ingress.sections[0].rule, "spec.ingress[0]");
    assert_eq!(ingress.sections[0].http_rules.len(), 2);
    let host = &r.requests_denied[2];
    assert_eq!(host.host.as_deref(), Some("evil.example:8080"));
    assert!(host.message.contains("(missed host)"), "{}", host.message);
    // counts: frontend 6 requests in 5 classes (users/{int} holds 2)
    let q = &r.summary.requests;
    assert_eq!(q.denied.requests, 3, "{q:?}");
    assert_eq!(q.allowed.requests, 4, "{q:?}");
    assert_eq!(q.unknown.requests, 0, "{q:?}");
    assert_eq!(q.evaluated.requests, 7, "{q:?}");
    assert!(r.has_failures() && !r.has_drops());
}

#[test]
fn observed_requests_pass_once_the_rules_cover_them() {
    let policy = API_POLICY.replace(
        "        - {method: \"GET\", path: \"/api/v1/users/[0-9]+\"}",
        "        - {method: \"GET|DELETE\", path: \"/api/v1/users/[0-9]+(/orders)?\"}\n        - {host: \"evil\\\\.example:8080\"}",
    );
    let r = check(&policy, &traffic());
    assert!(r.requests_denied.is_empty(), "{:#?}", r.requests_denied);
    assert_eq!(r.summary.requests.allowed.requests, 7);
    assert!(!r.has_failures());
}

#[test]
fn requests_need_headers_the_flows_do_not_show_are_unknown() {
    let policy = API_POLICY.replace(
        "{method: \"GET\", path: \"/api/v1/users/[0-9]+\"}",
        "{method: \"GET\", path: \"/api/v1/users/[0-9]+\", headers: [\"X-Token\"]}",
    );
    let r = check(&policy, &traffic());
    let unknown: Vec<&str> = r
        .requests_unknown
        .iter()
        .map(|q| q.target.as_str())
        .collect();
    assert_eq!(unknown, ["/api/v1/users/42", "/api/v1/users/7"]);
    assert!(
        r.requests_unknown[0].message.contains("X-Token"),
        "{}",
        r.requests_unknown[0].message
    );
    assert_eq!(r.summary.requests.unknown.classes, 1);
}

#[test]
fn connections_dropped_at_l4_are_not_checked_at_l7() {
    let policy = API_POLICY.replace("port: \"8080\"", "port: \"9090\"");
    let r = check(&policy, &traffic());
    assert_eq!(
        verdict(&r, "shop/frontend", "shop/api", "8080/TCP"),
        "dropped"
    );
    assert!(r.requests_denied.is_empty());
    assert_eq!(r.summary.requests.evaluated.requests, 0);
    assert_eq!(r.summary.requests.not_evaluated.requests, 7);
}

#[test]
fn egress_rules_filter_at_the_client() {
    let policy = r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: frontend, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: frontend}}
  egress:
  - toEndpoints: [{matchLabels: {app: api}}]
    toPorts:
    - ports: [{port: "8080", protocol: TCP}]
      rules:
        http: [{method: "GET"}]
"#;
    let r = check(policy, &traffic());
    let d = denied(&r);
    assert_eq!(d.len(), 3, "{d:?}");
    assert!(r
        .requests_denied
        .iter()
        .all(|q| q.direction == Some("egress") && q.method != "GET"));
}

/// Writes flows as a jsonpb dump.
fn write_dump(path: &Path, flows: &[Flow]) {
    let lines: Vec<String> = flows
        .iter()
        .map(|f| {
            serde_json::to_string(&flowpolicy::proto::observer::GetFlowsResponse {
                response_types: Some(
                    flowpolicy::proto::observer::get_flows_response::ResponseTypes::Flow(f.clone()),
                ),
                ..Default::default()
            })
            .unwrap()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn the_cli_prints_403s_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows.jsonpb");
    write_dump(&flows, &traffic());
    let policy = dir.path().join("api.yaml");
    std::fs::write(&policy, API_POLICY).unwrap();
    let run = |extra: &[&str]| {
        Command::cargo_bin("flowpolicy")
            .unwrap()
            .args(["verify", "--policies"])
            .arg(&policy)
            .arg(&flows)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("denied (403) 3")
            && text.contains(
                "403  DELETE /api/v1/users/42 host api.shop:8080 (shop/frontend → shop/api 8080/TCP): ingress at shop/api: no http rule of CiliumNetworkPolicy shop/api spec.ingress[0] matches — nearest: GET /api/v1/users/[0-9]+ (missed method)"
            ),
        "{text}"
    );
    let json: Value = serde_json::from_slice(&run(&["-o", "json"]).stdout).unwrap();
    assert_eq!(json["summary"]["requests"]["denied"]["requests"], 3);
    let first = &json["requests_denied"][0];
    assert_eq!(first["method"], "DELETE");
    assert_eq!(first["target"], "/api/v1/users/42");
    assert_eq!(first["client"], "shop/frontend");
    assert_eq!(first["server"], "shop/api");
    assert_eq!(first["direction"], "ingress");
    let ingress = first["directions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["direction"] == "ingress")
        .unwrap();
    assert_eq!(ingress["verdict"], "denied");
    let section = &ingress["sections"][0];
    assert_eq!(section["rule"], "spec.ingress[0]");
    assert_eq!(section["policy"]["name"], "api");
    assert_eq!(section["http_rules"][0]["missed"][0], "method");
    assert!(json.get("requests_allowed").is_none());
    let explained: Value =
        serde_json::from_slice(&run(&["-o", "json", "--explain"]).stdout).unwrap();
    let allowed = explained["requests_allowed"].as_array().unwrap();
    assert_eq!(allowed.len(), 4);
    assert!(
        allowed.iter().any(|a| a["client"] == "ops/admin"
            && a["message"]
                .as_str()
                .unwrap()
                .contains("no http rule applies to this connection")),
        "{allowed:#?}"
    );
}

const PROMETHEUS: &str = r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: prometheus-scrape, namespace: istio-system}
spec:
  endpointSelector: {matchLabels: {app: prometheus}}
  egress:
  - toEntities: [world, cluster]
    toPorts:
    - ports: [{port: "9990"}, {port: "9253"}, {port: "8888"}, {port: "14269"}, {port: "6942"}]
      rules:
        http:
        - {method: "GET|HEAD", path: "/metrics"}
    - ports: [{port: "10054"}]
      rules:
        http:
        - {method: "GET", path: "/healthz"}
"#;

fn verify_json(policy: &Path, dump: &Path) -> (Option<i32>, Value) {
    let out = Command::cargo_bin("flowpolicy")
        .unwrap()
        .args(["verify", "-o", "json", "--policies"])
        .arg(policy)
        .arg(dump)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    (out.status.code(), v)
}

#[test]
fn real_http_dumps_against_a_hand_written_scrape_policy() {
    let Some(dump) = common::real_dump(
        "verify L7 on real HTTP dumps",
        "cilium_hubble-otel__basic-sample-348-http-flows.json",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("prometheus.yaml");
    std::fs::write(&policy, PROMETHEUS).unwrap();
    let (code, r) = verify_json(&policy, &dump);
    let q = &r["summary"]["requests"];
    eprintln!("348-http: {}", serde_json::to_string(q).unwrap());
    assert_eq!(
        code,
        Some(1),
        "10054 serves /metrics, the rule says /healthz"
    );
    assert!(q["evaluated"]["requests"].as_u64().unwrap() > 0);
    assert!(q["allowed"]["requests"].as_u64().unwrap() > 0);
    assert_eq!(q["unknown"]["requests"], 0);
    let denied = r["requests_denied"].as_array().unwrap();
    assert!(!denied.is_empty());
    for d in denied {
        assert_eq!(d["port"], "10054/TCP", "{d}");
        assert_eq!(d["target"], "/metrics");
        assert_eq!(d["direction"], "egress");
        assert!(
            d["message"].as_str().unwrap().contains("(missed path)"),
            "{d}"
        );
    }
    for name in [
        "cilium_hubble-otel__basic-sample-5-http-flows.json",
        "cilium_hubble-otel__basic-sample-400-l7-redirected-flows.json",
    ] {
        let Some(dump) = common::real_dump("verify L7 on real HTTP dumps", name) else {
            return;
        };
        let (code, r) = verify_json(&policy, &dump);
        eprintln!(
            "{name}: exit {code:?} {}",
            serde_json::to_string(&r["summary"]["requests"]).unwrap()
        );
        assert!(code == Some(0) || code == Some(1), "{name}: {code:?}");
    }
}

#[test]
fn the_corpus_http_policies_compile_and_verify_without_panic() {
    let Some(dir) = common::corpus("verify L7 with the policy corpus", "policies") else {
        return;
    };
    let Some(dump) = common::real_dump(
        "verify L7 with the policy corpus",
        "cilium_hubble-otel__basic-sample-348-http-flows.json",
    ) else {
        return;
    };
    let loaded = flowpolicy::policy::load_paths(std::slice::from_ref(&dir)).unwrap();
    let model = flowpolicy::verify::Model::compile(&loaded);
    let http_rules: usize = model
        .rules
        .iter()
        .flat_map(|r| r.ingress.iter().chain(&r.egress))
        .flat_map(|s| &s.port_l7)
        .map(|p| match &p.filter {
            flowpolicy::verify::port_l7::L7Filter::Http(rules) => rules.len(),
            _ => 0,
        })
        .sum();
    eprintln!(
        "policy corpus: {} rules, {http_rules} http rules",
        model.rules.len()
    );
    assert!(http_rules > 0, "the corpus has policies with rules.http");
    let (code, r) = verify_json(&dir, &dump);
    assert!(code == Some(0) || code == Some(1), "{code:?}");
    eprintln!(
        "corpus policies × 348-http: {}",
        serde_json::to_string(&r["summary"]["requests"]).unwrap()
    );
}

#[test]
fn http_rules_no_observed_request_matched_are_over_permissive() {
    let policy = API_POLICY.replace(
        "        - {method: \"GET\", path: \"/api/v1/users/[0-9]+\"}",
        "        - {method: \"GET\", path: \"/api/v1/users/[0-9]+\"}\n        - {method: \"PUT\", path: \"/api/v1/carts\"}",
    );
    let r = check(&policy, &traffic());
    let unused: Vec<(&str, &str)> = r
        .over_permissive
        .iter()
        .filter(|f| f.kind == "unused-http-rule")
        .map(|f| (f.rule.as_str(), f.message.as_str()))
        .collect();
    assert_eq!(unused.len(), 1, "{unused:?}");
    assert_eq!(unused[0].0, "spec.ingress[0]");
    assert!(
        unused[0]
            .1
            .starts_with("http rule PUT /api/v1/carts (toPorts[0].rules.http[1]) matched none of the 6 observed requests"),
        "{}",
        unused[0].1
    );
    // without L7 records nothing is reported: the rules were never checked
    let l4_only: Vec<Flow> = traffic().into_iter().filter(|f| f.l7.is_none()).collect();
    let r = check(&policy, &l4_only);
    assert!(!r
        .over_permissive
        .iter()
        .any(|f| f.kind == "unused-http-rule"));
}

/// `recommend --l7 http FILE | verify --policies - FILE`: verify's JSON.
fn l7_round_trip(file: &Path) -> Value {
    let (code, r) = common::recommend_then_verify(file, &["--l7", "http"], &[]);
    assert_eq!(
        code,
        Some(0),
        "{}: {}",
        file.display(),
        serde_json::to_string_pretty(&r["requests_denied"]).unwrap()
    );
    assert_eq!(r["summary"]["requests"]["denied"]["requests"], 0);
    assert_eq!(r["summary"]["requests"]["unknown"]["requests"], 0);
    r
}

#[test]
fn recommend_l7_http_round_trips_with_zero_403s_on_generated_flows() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows.jsonpb");
    write_dump(&flows, &traffic());
    let r = l7_round_trip(&flows);
    let q = &r["summary"]["requests"];
    assert_eq!(q["evaluated"]["requests"], 7, "{q}");
    assert_eq!(q["allowed"]["requests"], 7, "{q}");
}

#[test]
fn recommend_l7_http_round_trips_on_the_real_http_dumps() {
    for name in [
        "cilium_hubble-otel__basic-sample-348-http-flows.json",
        "cilium_hubble-otel__basic-sample-5-http-flows.json",
    ] {
        let Some(dump) = common::real_dump("L7 round trip of real HTTP dumps", name) else {
            return;
        };
        let r = l7_round_trip(&dump);
        let q = &r["summary"]["requests"];
        eprintln!("{name}: {q}");
        assert!(
            q["evaluated"]["requests"].as_u64().unwrap() > 0,
            "{name}: {q}"
        );
    }
}

#[test]
fn recommend_l7_http_round_trips_on_the_demo_fixture() {
    let demo = common::repo().join("fixtures/demo.jsonpb.zst");
    let r = l7_round_trip(&demo);
    let q = &r["summary"]["requests"];
    eprintln!("demo: {q}");
    assert_eq!(r["summary"]["dropped"]["edge_ports"], 0);
    let evaluated = q["evaluated"]["requests"].as_u64().unwrap();
    assert!(evaluated > 0, "the demo carries HTTP records: {q}");
    assert_eq!(q["allowed"]["requests"].as_u64().unwrap(), evaluated, "{q}");
    assert_eq!(q["not_evaluated"]["requests"], 0, "{q}");
    let unused: Vec<&Value> = r["over_permissive"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "unused-http-rule")
        .collect();
    assert!(unused.is_empty(), "{unused:#?}");
}

#[test]
fn an_l4_only_rule_for_the_same_peer_in_another_policy_wildcards_l7() {
    for extra in [
        // L4-only on the same port
        "    toPorts:\n    - ports: [{port: \"8080\", protocol: TCP}]\n",
        // L3-only: an allow-all port-0 rule
        "",
    ] {
        let policy = format!(
            "{API_POLICY}---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: api-l4, namespace: shop}}\nspec:\n  endpointSelector: {{matchLabels: {{app: api}}}}\n  ingress:\n  - fromEndpoints: [{{matchLabels: {{app: frontend}}}}]\n{extra}"
        );
        let r = check(&policy, &traffic());
        assert!(
            r.requests_denied.is_empty(),
            "{extra:?}: {:#?}",
            r.requests_denied
        );
        assert_eq!(r.summary.requests.allowed.requests, 7);
    }
    // an L4-only rule on another port does not
    let other = format!(
        "{API_POLICY}---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: api-l4, namespace: shop}}\nspec:\n  endpointSelector: {{matchLabels: {{app: api}}}}\n  ingress:\n  - fromEndpoints: [{{matchLabels: {{app: frontend}}}}]\n    toPorts:\n    - ports: [{{port: \"9090\", protocol: TCP}}]\n"
    );
    assert_eq!(check(&other, &traffic()).requests_denied.len(), 3);
}

#[test]
fn the_demo_rules_without_their_query_allowance_reject_the_requests_with_a_query() {
    let demo = common::repo().join("fixtures/demo.jsonpb.zst");
    let rec = Command::cargo_bin("flowpolicy")
        .unwrap()
        .args(["recommend", "--l7", "http"])
        .arg(&demo)
        .output()
        .unwrap();
    assert!(rec.status.success());
    let policies = String::from_utf8(rec.stdout).unwrap();
    assert!(
        policies.contains(r"(\?.*)?'"),
        "recommend allows query strings"
    );
    let strict = policies.replace(r"(\?.*)?'", "'");
    let out = Command::cargo_bin("flowpolicy")
        .unwrap()
        .args(["verify", "--policies", "-", "-o", "json"])
        .arg(&demo)
        .write_stdin(strict)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a 403 fails the run");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["summary"]["dropped"]["edge_ports"], 0);
    let denied = r["requests_denied"].as_array().unwrap();
    assert!(!denied.is_empty());
    for d in denied {
        assert!(d["target"].as_str().unwrap().contains('?'), "{d}");
        assert!(
            d["message"].as_str().unwrap().contains("(missed path)"),
            "{d}"
        );
    }
    eprintln!("demo without query allowance: {}", r["summary"]["requests"]);
}
