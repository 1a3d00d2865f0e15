//! L7 synthesis (`recommend --l7 http,dns`): goldens of the L7 policies of the demo, proof
//! that every observed request matches the rule written for it the way Envoy matches
//! (`safe_regex` = full match of `:method`, `:path` with its query string, `:authority`),
//! that unobserved paths and methods are denied, that L4-only peers of an L7 port keep
//! working, and that without `--l7` nothing changes. Review golden changes with
//! `cargo insta review`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use flowpolicy::cli::inputs::{load, InputArgs};
use flowpolicy::graph::{HttpSeen, TrafficGraph};
use flowpolicy::interpret::http::HttpRequest;
use flowpolicy::policy::{CiliumNetworkPolicy, HttpRule};
use flowpolicy::render::yaml;
use flowpolicy::synth::l7::{http, L7Config};
use flowpolicy::synth::{synthesize, PolicySet, SynthConfig};
use proptest::prelude::*;
use regex::Regex;

fn demo() -> &'static TrafficGraph {
    static GRAPH: OnceLock<TrafficGraph> = OnceLock::new();
    GRAPH.get_or_init(|| {
        let args = InputArgs {
            inputs: vec![
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst")
            ],
            strict: true,
            cidr_groups: vec!["10.0.0.0/8".parse().unwrap()],
            conn_window: 120,
            guess_direction: false,
        };
        load(&args).unwrap().0
    })
}

fn cfg(http: bool, dns: bool) -> SynthConfig {
    SynthConfig {
        foundation: true,
        l7: L7Config {
            http,
            dns,
            ..L7Config::default()
        },
        ..SynthConfig::default()
    }
}

/// The documents whose text contains `needle`, as one YAML stream.
fn documents_with(set: &PolicySet, needle: &str) -> String {
    let docs: Vec<_> = yaml::documents(set)
        .into_iter()
        .filter(|d| d.text.contains(needle))
        .collect();
    yaml::stream(&docs)
}

/// Envoy's `safe_regex` header match: the whole value.
fn full(re: &str) -> Regex {
    Regex::new(&format!("^(?:{re})$")).unwrap_or_else(|e| panic!("{re}: {e}"))
}

/// One HTTP rule compiled as Envoy matches it; an absent field matches anything.
struct Matcher {
    method: Option<Regex>,
    path: Option<Regex>,
    host: Option<Regex>,
}

impl Matcher {
    fn new(rule: &HttpRule) -> Matcher {
        Matcher {
            method: rule.method.as_deref().map(full),
            path: rule.path.as_deref().map(full),
            host: rule.host.as_deref().map(full),
        }
    }

    fn allows(&self, method: &str, target: &str, host: Option<&str>) -> bool {
        self.method.as_ref().is_none_or(|m| m.is_match(method))
            && self.path.as_ref().is_none_or(|p| p.is_match(target))
            && self
                .host
                .as_ref()
                .is_none_or(|h| host.is_some_and(|v| h.is_match(v)))
    }
}

fn matchers(rules: &[HttpRule]) -> Vec<Matcher> {
    rules.iter().map(Matcher::new).collect()
}

fn matched(m: &[Matcher], method: &str, target: &str, host: Option<&str>) -> bool {
    m.iter().any(|r| r.allows(method, target, host))
}

fn any_allows(rules: &[HttpRule], method: &str, target: &str, host: Option<&str>) -> bool {
    matched(&matchers(rules), method, target, host)
}

fn policy<'s>(set: &'s PolicySet, ns: &str, name: &str) -> &'s CiliumNetworkPolicy {
    set.namespaced
        .iter()
        .find(|p| p.metadata.namespace.as_deref() == Some(ns) && p.metadata.name == name)
        .unwrap_or_else(|| panic!("no policy {ns}/{name}"))
}

/// The HTTP rules of the ingress section of `cnp` from the peer whose selector has
/// `app.kubernetes.io/name` (or `app`) `= peer`, on `port` (`None`: no `rules.http` there).
fn ingress_http(cnp: &CiliumNetworkPolicy, peer: &str, port: u16) -> Option<Vec<HttpRule>> {
    let spec = cnp.spec.as_ref().unwrap();
    let rule = spec
        .ingress
        .iter()
        .find(|r| {
            r.from_endpoints.iter().any(|s| {
                ["app.kubernetes.io/name", "app"]
                    .iter()
                    .any(|k| s.match_labels.get(*k).map(String::as_str) == Some(peer))
            })
        })
        .unwrap_or_else(|| panic!("no ingress from {peer}"));
    let pr = rule
        .to_ports
        .iter()
        .find(|pr| pr.ports.iter().any(|p| p.number() == Some(port)))
        .unwrap_or_else(|| panic!("no port {port} from {peer}"));
    pr.rules
        .as_ref()
        .map(|r| r.http.clone())
        .filter(|h| !h.is_empty())
}

#[test]
fn demo_l7_http_policies_match_the_golden_file() {
    let set = synthesize(demo(), &cfg(true, false));
    insta::assert_snapshot!("demo_l7_http", documents_with(&set, "http:"));
}

#[test]
fn demo_l7_dns_policies_match_the_golden_file() {
    let set = synthesize(demo(), &cfg(false, true));
    let mut text = documents_with(&set, "flowpolicy.io/foundation: dns");
    text.push_str(&documents_with(&set, "matchName"));
    insta::assert_snapshot!("demo_l7_dns", text);
}

#[test]
fn without_l7_http_the_other_documents_are_unchanged() {
    let plain = yaml::documents(&synthesize(demo(), &cfg(false, false)));
    let l7 = yaml::documents(&synthesize(demo(), &cfg(true, false)));
    assert_eq!(plain.len(), l7.len());
    let mut changed = 0;
    for (a, b) in plain.iter().zip(&l7) {
        assert_eq!(a.path, b.path);
        if b.text.contains("http:") {
            changed += 1;
            assert!(!a.text.contains("http:"));
        } else {
            assert_eq!(a.text, b.text, "{}", a.path.display());
        }
    }
    // sonarr, seerr, bazarr, prometheus, grafana, loki, alloy, onepassword-connect,
    // external-secrets, homepage
    assert_eq!(changed, 10);
}

/// Every request class of the demo, with each of its raw samples (query strings included),
/// is let through by the rules written for its (peer, port).
#[test]
fn every_observed_demo_request_matches_its_rule() {
    let mut checked = 0;
    for (_, _, edge) in demo().edges_sorted() {
        for stats in edge.ports.values() {
            let Some(seen) = http::usable(stats.http.as_ref()) else {
                continue;
            };
            for collapse in [None, Some(2), Some(http::DEFAULT_COLLAPSE)] {
                let rules = http::rules(seen, collapse);
                let m = matchers(&rules);
                for (class, cs) in &seen.classes {
                    for target in &cs.samples {
                        assert!(
                            matched(&m, &class.method, target, class.host.as_deref()),
                            "{} {target} ({:?}) denied by {rules:#?}",
                            class.method,
                            class.host
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn unobserved_paths_and_methods_are_denied_in_the_demo_policies() {
    let set = synthesize(demo(), &cfg(true, false));
    let sonarr = policy(&set, "downloads", "sonarr");
    let host = Some("sonarr.downloads.svc.cluster.local:8989");
    let seerr = ingress_http(sonarr, "seerr", 8989).unwrap();
    for target in [
        "/api/v3/series/42",
        "/api/v3/series/42?includeImages=true",
        "/api/v3/series/lookup?term=dune",
        "/api/v3/episode?seriesId=7",
    ] {
        assert!(any_allows(&seerr, "GET", target, host), "{target}");
    }
    assert!(any_allows(&seerr, "POST", "/api/v3/command", host));
    for (method, target) in [
        ("DELETE", "/api/v3/series/42"),   // method never used
        ("GET", "/api/v3/system/status"),  // sibling never observed
        ("GET", "/api/v3/series/abc"),     // not an ID
        ("GET", "/api/v3/series/42/file"), // deeper path
        ("GET", "/api/v3/episode/7"),      // bazarr's, not seerr's
        ("POST", "/api/v3/command/../../config"),
    ] {
        assert!(
            !any_allows(&seerr, method, target, host),
            "{method} {target}"
        );
    }
    assert!(!any_allows(
        &seerr,
        "GET",
        "/api/v3/series/42",
        Some("evil.example")
    ));
    let onepassword = policy(&set, "external-secrets", "onepassword-connect");
    let eso = ingress_http(onepassword, "external-secrets", 8438).unwrap();
    let host = Some("onepassword-connect.external-secrets.svc.cluster.local:8438");
    assert!(any_allows(
        &eso,
        "GET",
        "/v1/vaults/xuxuuv4wnwrc6ubrhf2iqcwlie/items/0f8b3c2a-1d4e-4f5a-9b6c-7d8e9f0a1b2c",
        host
    ));
    assert!(!any_allows(&eso, "GET", "/v1/vaults", host));
    assert!(!any_allows(&eso, "PUT", "/heartbeat", host));
    // gRPC stays exact: the '.' is escaped
    let loki = policy(&set, "observability", "loki");
    let alloy = ingress_http(loki, "alloy", 3100).unwrap();
    let host = alloy[0].host.clone().map(|h| h.replace('\\', ""));
    assert!(any_allows(
        &alloy,
        "POST",
        "/logproto.Pusher/Push",
        host.as_deref()
    ));
    assert!(!any_allows(
        &alloy,
        "POST",
        "/logprotoXPusher/Push",
        host.as_deref()
    ));
    assert!(!any_allows(
        &alloy,
        "POST",
        "/logproto.Pusher/Tail",
        host.as_deref()
    ));
}

/// A port with HTTP rules for some peers keeps every other peer of that port working: they get
/// the allow-all rule `{}` in their own section, as a selector without L7 rules would in
/// Cilium's merge.
#[test]
fn l4_only_peers_of_an_l7_port_are_allowed_every_request() {
    let set = synthesize(demo(), &cfg(true, false));
    let sonarr = policy(&set, "downloads", "sonarr");
    for peer in ["recyclarr", "prowlarr"] {
        assert_eq!(
            ingress_http(sonarr, peer, 8989),
            Some(vec![HttpRule::default()]),
            "{peer}"
        );
    }
    let prometheus = policy(&set, "observability", "prometheus");
    assert!(ingress_http(prometheus, "grafana", 9090).unwrap().len() > 1);
    // ports without any L7 evidence stay plain L4
    let plain = synthesize(demo(), &cfg(false, false));
    assert_eq!(
        ingress_http(policy(&plain, "downloads", "sonarr"), "seerr", 8989),
        None
    );
}

#[test]
fn grafana_label_values_collapse_and_can_be_kept_apart() {
    let set = synthesize(demo(), &cfg(true, false));
    let rules = ingress_http(policy(&set, "observability", "prometheus"), "grafana", 9090).unwrap();
    let paths: BTreeSet<&str> = rules.iter().filter_map(|r| r.path.as_deref()).collect();
    assert!(
        paths.contains(r"/api/v1/label/[^/?]+/values(\?.*)?"),
        "{paths:#?}"
    );
    let mut never = cfg(true, false);
    never.l7.collapse = None;
    let set = synthesize(demo(), &never);
    let rules = ingress_http(policy(&set, "observability", "prometheus"), "grafana", 9090).unwrap();
    let labels = rules
        .iter()
        .filter(|r| r.path.as_deref().is_some_and(|p| p.contains("/label/")))
        .count();
    assert!(labels >= http::DEFAULT_COLLAPSE, "{labels}");
}

#[test]
fn dns_lists_replace_the_wildcard_and_the_foundation_stops_adding_it() {
    let set = synthesize(demo(), &cfg(false, true));
    let foundation = set
        .clusterwide
        .iter()
        .find(|p| p.metadata.name == "flowpolicy-foundation-dns")
        .unwrap();
    assert!(foundation.specs.iter().all(|s| s.egress.is_empty()));
    let text = documents_with(&set, "matchName");
    assert!(text.contains("matchName: github.com"), "{text}");
    // search-list expansions the client really sent stay allowed
    assert!(text.contains(".svc.cluster.local"));
    let plain = synthesize(demo(), &cfg(false, false));
    assert!(plain
        .clusterwide
        .iter()
        .find(|p| p.metadata.name == "flowpolicy-foundation-dns")
        .unwrap()
        .specs
        .iter()
        .any(|s| !s.egress.is_empty()));
}

// ---- generated requests ----------------------------------------------------------------

/// One path segment of a generated request.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "api", "v1", "users", "orders", "items", "search", "a.b", "x+y"
        ])
        .prop_map(str::to_string),
        (0u64..10_000_000).prop_map(|n| n.to_string()),
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[0-9a-f]{7}[0-9][0-9a-f]{0,32}",
        "[A-Za-z0-9_-]{15}[0-9][A-Za-z0-9_-]{0,10}",
        "[a-z]{1,6}-[0-9]{1,3}",
        "[A-Za-z0-9._~%!$&'()*+,;=:@{}-]{1,12}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(segment(), 0..5).prop_map(|s| format!("/{}", s.join("/"))),
        1 => ("[a-z]{1,8}(\\.[a-z][a-z0-9]{0,6}){1,3}", "[A-Z][A-Za-z0-9_]{0,12}")
            .prop_map(|(svc, m)| format!("/{svc}/{m}")),
    ]
}

fn request() -> impl Strategy<Value = (String, String, Option<String>, Option<String>)> {
    (
        prop::sample::select(vec!["get", "GET", "POST", "put", "DELETE", "PATCH"]),
        path(),
        prop::option::of("[ -~&&[^#]]{0,30}"),
        prop::option::of(prop::sample::select(vec![
            "api.shop:8080",
            "api.shop.svc.cluster.local",
            "10.0.0.7:80",
        ])),
    )
        .prop_map(|(m, p, q, h)| (m.to_string(), p, q, h.map(str::to_string)))
}

fn seen_of(requests: &[(String, String, Option<String>, Option<String>)]) -> HttpSeen {
    let mut seen = HttpSeen::default();
    for (m, p, q, h) in requests {
        seen.record(&HttpRequest {
            method: m.to_ascii_uppercase(),
            path: p,
            query: q.as_deref(),
            host: h.as_deref(),
        });
    }
    seen
}

/// An L7 HTTP request flow as Hubble records it.
fn http_flow(method: &str, url: &str) -> flowpolicy::proto::flow::Flow {
    use flowpolicy::proto::flow::{layer7::Record, Flow, Http, L7FlowType, Layer7};
    Flow {
        l7: Some(Layer7 {
            r#type: L7FlowType::Request as i32,
            record: Some(Record::Http(Http {
                method: method.into(),
                url: url.into(),
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn target(p: &str, q: &Option<String>) -> String {
    match q {
        Some(q) => format!("{p}?{q}"),
        None => p.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever the IDs, UUIDs, hashes, tokens, query strings and gRPC names, every request
    /// is let through by the rules written from what was observed, whatever the collapse.
    #[test]
    fn every_generated_request_matches_the_rule_written_for_it(
        requests in prop::collection::vec(request(), 1..40),
        collapse in prop::option::of(2usize..12),
    ) {
        let seen = seen_of(&requests);
        prop_assume!(seen.overflow == 0);
        let rules = http::rules(&seen, collapse);
        let compiled = matchers(&rules);
        for (m, p, q, h) in &requests {
            let t = target(p, q);
            prop_assert!(
                matched(&compiled, &m.to_ascii_uppercase(), &t, h.as_deref()),
                "{} {} {:?} denied by {:#?}", m, t, h, rules
            );
        }
    }

    /// Any printable path (regex metacharacters, braces, backslashes, unicode) and query, read
    /// from a Hubble URL as verify reads it, is let through by its own rule: literal text is
    /// always escaped, and every rule is valid RE2.
    #[test]
    fn any_printable_url_matches_its_own_rule(
        urls in prop::collection::vec(
            ("(/[!-~\\p{L}&&[^/?#]]{0,10}){0,5}", prop::option::of("[ -~&&[^#]]{0,20}")),
            1..10,
        ),
        collapse in prop::option::of(2usize..5),
    ) {
        let flows: Vec<flowpolicy::proto::flow::Flow> = urls
            .iter()
            .map(|(p, q)| {
                let url = format!("http://api.shop:8080{}", target(p, q));
                http_flow("GET", &url)
            })
            .collect();
        let mut seen = HttpSeen::default();
        for f in &flows {
            seen.record(&HttpRequest::of(f).unwrap());
        }
        let rules = matchers(&http::rules(&seen, collapse));
        for f in &flows {
            let r = HttpRequest::of(f).unwrap();
            prop_assert!(
                matched(&rules, &r.method, &r.target(), r.host),
                "{} denied", r.target()
            );
        }
    }

    /// Without collapse, a method never used and a literal sibling never observed are denied.
    #[test]
    fn unobserved_methods_and_siblings_are_denied(
        requests in prop::collection::vec(request(), 1..20),
    ) {
        let seen = seen_of(&requests);
        let rules = matchers(&http::rules(&seen, None));
        for (_, p, q, h) in &requests {
            let t = target(p, q);
            prop_assert!(!matched(&rules, "OPTIONS", &t, h.as_deref()));
            let sibling = format!("{}/never.observed", p.trim_end_matches('/'));
            prop_assert!(!matched(&rules, "GET", &sibling, h.as_deref()), "{}", sibling);
        }
    }
}

#[test]
fn k8s_output_lists_l7_rules_as_not_expressible_and_keeps_l4() {
    let set = flowpolicy::synth::k8s::synthesize_k8s(demo(), &cfg(true, true));
    let l7: Vec<_> = set
        .not_expressible
        .iter()
        .filter(|n| n.reason.contains("HTTP request classes"))
        .collect();
    assert!(
        l7.iter().any(|n| n.policy == "downloads/sonarr"
            && n.direction == "ingress"
            && n.ports == "8989/TCP"),
        "{l7:#?}"
    );
    assert!(set
        .not_expressible
        .iter()
        .any(|n| n.reason.contains("queried DNS names")));
    let plain = flowpolicy::synth::k8s::synthesize_k8s(demo(), &cfg(false, false));
    assert_eq!(
        yaml::k8s_documents(&set).len(),
        yaml::k8s_documents(&plain).len()
    );
    assert_eq!(
        yaml::stream(&yaml::k8s_documents(&set)),
        yaml::stream(&yaml::k8s_documents(&plain))
    );
}

#[test]
fn cli_writes_schema_valid_l7_policies() {
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst");
    let out = assert_cmd::Command::cargo_bin("flowpolicy")
        .unwrap()
        .args([
            "recommend",
            "--cidr-group",
            "10.0.0.0/8",
            "--l7",
            "http,dns",
        ])
        .args(["--l7-collapse", "0", "-n", "observability"])
        .arg(&demo)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("path: '/api/v1/label/job/values(\\?.*)?'"),
        "no collapse with 0"
    );
    assert!(text.contains("matchName:"));
    assert_cmd::Command::cargo_bin("flowpolicy")
        .unwrap()
        .args(["recommend", "--l7", "ftp"])
        .arg(&demo)
        .assert()
        .failure();
}

/// The L7 output is deterministic, and a baseline carries everything it needs: the demo's
/// dump and its baseline give byte-identical L7 policies.
#[test]
fn l7_output_is_deterministic_and_survives_a_baseline_round_trip() {
    use flowpolicy::baseline::Baseline;
    let both = cfg(true, true);
    let from_dump = yaml::stream(&yaml::documents(&synthesize(demo(), &both)));
    assert_eq!(
        from_dump,
        yaml::stream(&yaml::documents(&synthesize(demo(), &both)))
    );
    let b = Baseline {
        graph: demo().clone(),
        ..Baseline::default()
    };
    let bytes = zstd::stream::decode_all(b.encode().as_slice()).unwrap();
    let back = Baseline::from_json("demo", &bytes).unwrap();
    let from_baseline = yaml::stream(&yaml::documents(&synthesize(&back.graph, &both)));
    assert_eq!(from_dump, from_baseline);
}
