//! `flowpolicy report`: the Markdown golden file on the demo, determinism,
//! one hand-made capture per finding kind, escaping, and the HTML page —
//! with the graph rendered by a real Graphviz `dot` and the page opened in
//! headless Chromium when those are installed (one skip line otherwise).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::flowkit::{graph_of, ident, pod, tcp_conn, udp_exchange};
use clap::Parser;
use flowpolicy::cli::{Cli, Command as Sub};
use flowpolicy::graph::{PortStats, Tally, TrafficGraph};
use flowpolicy::interpret::{InterpretConfig, Interpreter};
use flowpolicy::peer::l4::{PortKey, Proto};
use flowpolicy::peer::Peer;
use flowpolicy::proto::flow;
use flowpolicy::report::{self, html, markdown, svg, FindingKind, Report, Severity};

fn demo() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/demo.jsonpb.zst")
        .display()
        .to_string()
}

/// Runs `flowpolicy report ARGS…` through the real argument parser.
fn report_text(args: &[&str]) -> String {
    let cli = Cli::try_parse_from(["flowpolicy", "report"].iter().chain(args)).unwrap();
    let Sub::Report(a) = cli.command else {
        panic!("not the report command")
    };
    flowpolicy::cli::report::render(&a).unwrap()
}

fn on_path(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(prog))
            .find(|p| p.is_file())
    })
}

fn skip(what: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "skipping {what}: {why}");
}

#[test]
fn demo_markdown_matches_the_golden_file() {
    let md = report_text(&[&demo(), "--cidr-group", "10.0.0.0/8"]);
    insta::assert_snapshot!("demo_report", md);
}

#[test]
fn demo_report_is_byte_identical_across_runs_and_has_every_section() {
    let a = report_text(&[&demo(), "--cidr-group", "10.0.0.0/8"]);
    let b = report_text(&[&demo(), "--cidr-group", "10.0.0.0/8"]);
    assert_eq!(a, b);
    for s in [
        "# flowpolicy report",
        "## Findings",
        "```mermaid\nflowchart LR\n",
        "## Namespaces",
        "### dbms",
        "`world-to-datastore`",
    ] {
        assert!(a.contains(s), "missing {s:?}");
    }
}

fn count(r: &Report, kind: FindingKind) -> usize {
    r.findings.iter().filter(|f| f.kind == kind).count()
}

fn build(g: &TrafficGraph) -> Report {
    report::build(g, report::Inputs::default())
}

#[test]
fn world_ingress_to_databases_and_secret_stores() {
    let lan = ident(2, &["reserved:world"], "10.1.2.3");
    let public = ident(2, &["reserved:world"], "203.0.113.9");
    let pg = pod("dbms", &[("cnpg.io/cluster", "pg")], "10.42.0.10");
    let op = pod(
        "external-secrets",
        &[("app.kubernetes.io/name", "onepassword-connect")],
        "10.42.0.11",
    );
    let web = pod("shop", &[("app", "web")], "10.42.0.12");
    let mut flows = Vec::new();
    flows.extend(tcp_conn(&lan, &pg, 40000, 5432, 0));
    flows.extend(tcp_conn(&public, &op, 40001, 8080, 1));
    flows.extend(tcp_conn(&public, &web, 40002, 443, 2));
    let mut g = graph_of(&flows);
    // Grouped LAN clients, as --cidr-group 10.0.0.0/8 makes them.
    g = g.regrouped(&["10.0.0.0/8".parse().unwrap()]);
    let r = build(&g);
    let db: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::WorldToDatastore)
        .collect();
    assert_eq!(db.len(), 1, "{:#?}", r.findings);
    assert_eq!(db[0].severity, Severity::Critical, "10.0.0.0/8 is wide");
    assert_eq!(db[0].subject, "dbms/pg");
    assert_eq!(db[0].peer.as_deref(), Some("cidr:10.0.0.0/8"));
    assert_eq!(db[0].ports, vec!["5432/TCP"]);
    let ev = db[0].evidence.as_ref().unwrap();
    assert_eq!((ev.connections, ev.flows), (1, 3));
    assert_eq!(ev.first_seen, "2023-11-14T22:13:20Z");
    let sec: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::WorldToSecretStore)
        .collect();
    assert_eq!(sec.len(), 1);
    assert_eq!(sec[0].severity, Severity::Critical);
    assert_eq!(sec[0].subject, "external-secrets/onepassword-connect");
    assert_eq!(sec[0].peer.as_deref(), Some("cidr:203.0.113.9/32"));
    // A web app reached from the world is not a finding of these kinds.
    assert!(r
        .findings
        .iter()
        .all(|f| f.subject != "shop/web" || f.kind == FindingKind::SeenOnce));
}

#[test]
fn a_single_outside_address_reaching_a_database_by_port_is_high() {
    let client = ident(2, &["reserved:world"], "203.0.113.7");
    let cache = pod("apps", &[("app", "thing")], "10.42.0.20");
    let r = build(&graph_of(&tcp_conn(&client, &cache, 40000, 6379, 0)));
    let f = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::WorldToDatastore)
        .expect("port 6379 makes it a datastore");
    assert_eq!(f.severity, Severity::High);
}

#[test]
fn ci_runner_egress_to_the_world() {
    let runner = pod(
        "actions-runner-system",
        &[("app.kubernetes.io/component", "runner")],
        "10.42.0.30",
    );
    let gh = ident(2, &["reserved:world"], "140.82.112.3");
    let app = pod("shop", &[("app", "web")], "10.42.0.31");
    let mut flows = tcp_conn(&runner, &gh, 40000, 443, 0);
    flows.extend(tcp_conn(&app, &gh, 40001, 443, 1));
    let r = build(&graph_of(&flows));
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::AdminEgressToWorld)
        .collect();
    assert_eq!(f.len(), 1, "only the runner: {:#?}", r.findings);
    assert_eq!(f[0].subject, "actions-runner-system/runner");
    assert_eq!(f[0].peer.as_deref(), Some("cidr:140.82.112.3/32"));
    assert_eq!(f[0].ports, vec!["443/TCP"]);
    assert_eq!(f[0].severity, Severity::High);
}

#[test]
fn edges_seen_once_and_dropped_flows() {
    let a = pod("shop", &[("app", "web")], "10.42.0.40");
    let b = pod("shop", &[("app", "api")], "10.42.0.41");
    let mut flows = tcp_conn(&a, &b, 40000, 8080, 0);
    flows.extend(tcp_conn(&a, &b, 40001, 9090, 1));
    flows.extend(tcp_conn(&a, &b, 40002, 9090, 2));
    let mut dropped = tcp_conn(&a, &b, 40003, 6000, 3);
    for f in &mut dropped {
        f.verdict = flow::Verdict::Dropped as i32;
    }
    flows.extend(dropped);
    let r = build(&graph_of(&flows));
    let once: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::SeenOnce)
        .collect();
    assert_eq!(once.len(), 1, "9090 was seen twice: {once:#?}");
    assert_eq!(once[0].ports, vec!["8080/TCP"]);
    assert_eq!(once[0].subject, "shop/api");
    let d: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::DroppedFlows)
        .collect();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].ports, vec!["6000/TCP"]);
    assert!(d[0].evidence.as_ref().unwrap().flows >= 1);
    assert!(r.overview.dropped_flows >= 1);
}

#[test]
fn lost_events_and_unavailable_nodes() {
    let a = pod("shop", &[("app", "web")], "10.42.0.50");
    let b = pod("shop", &[("app", "api")], "10.42.0.51");
    let mut g = graph_of(&tcp_conn(&a, &b, 40000, 80, 0));
    g.coverage.lost_events.insert("node-2".into(), 1342);
    g.coverage.unavailable_nodes.insert("node-4".into());
    let r = build(&g);
    assert_eq!(count(&r, FindingKind::LostEvents), 1);
    assert_eq!(count(&r, FindingKind::NodeUnavailable), 1);
    assert_eq!(r.overview.lost_events, 1342);
    let lost = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::LostEvents)
        .unwrap();
    assert_eq!(lost.subject, "node-2");
    assert!(lost.detail.contains("1342"));
}

#[test]
fn workloads_without_a_stable_selector() {
    let a = pod("shop", &[("app", "web")], "10.42.0.60");
    let b = pod("shop", &[("app", "web"), ("tier", "canary")], "10.42.0.61");
    let c = pod("shop", &[("app", "api")], "10.42.0.62");
    let mut flows = tcp_conn(&a, &c, 40000, 80, 0);
    flows.extend(tcp_conn(&b, &c, 40001, 80, 1));
    let r = build(&graph_of(&flows));
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::NoStableSelector)
        .collect();
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert!(f[0].subject.starts_with("shop/web"), "{}", f[0].subject);
}

#[test]
fn undecided_peer_pairs() {
    let a = pod("shop", &[("app", "web")], "10.42.0.70");
    let b = pod("shop", &[("app", "api")], "10.42.0.71");
    let mut flows = udp_exchange(&a, &b, 45000, 46000, 0);
    for f in &mut flows {
        f.is_reply = None;
    }
    let mut g = TrafficGraph::new();
    let mut i = Interpreter::new(InterpretConfig::default());
    for f in &flows {
        if let Some(o) = i.interpret(f) {
            g.record(&o);
        }
    }
    assert!(!i.stats.undecided.is_empty(), "the flows are undecided");
    let r = report::build(
        &g,
        report::Inputs {
            interpret: Some(&i.stats),
            ..report::Inputs::default()
        },
    );
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::UndecidedDirection)
        .collect();
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert_eq!(f[0].evidence.as_ref().unwrap().flows, 2);
    assert!(f[0].ports[0].contains("45000"), "{:?}", f[0].ports);
    assert_eq!(r.overview.undecided_pairs, 1);
}

/// A graph whose names carry markup.
fn hostile() -> TrafficGraph {
    let t = PortStats {
        allowed: Some(Tally {
            connections: 3,
            flows: 9,
            ..Tally::default()
        }),
        ..PortStats::default()
    };
    let mut g = TrafficGraph::new();
    let w = pod("shop", &[("app", "web")], "10.42.0.80");
    let g0 = graph_of(&tcp_conn(
        &w,
        &pod("shop", &[("app", "api")], "10.42.0.81"),
        1,
        80,
        0,
    ));
    g.merge(&g0);
    let web = g.workloads()[1].clone();
    g.insert_port(
        &Peer::Workload(web),
        &Peer::Fqdn("x<script>alert(1)</script>|`#\"".into()),
        PortKey {
            proto: Proto::Tcp,
            port: 443,
        },
        &t,
    );
    g
}

#[test]
fn markup_in_names_is_escaped() {
    let r = build(&hostile());
    let page = html::render(&r, &Err("no dot in this test".into()));
    assert!(!page.contains("<script>"), "raw markup in the page");
    assert!(page.contains("&lt;script&gt;"));
    assert!(page.contains("no dot in this test"));
    assert!(
        page.contains("<pre>flowchart LR"),
        "Mermaid source as fallback"
    );
    let md = markdown::render(&r);
    assert!(md.contains("script"));
    // Every table keeps its column count: the `|` in the name is escaped.
    let unescaped = |l: &str| {
        let b = l.as_bytes();
        (0..b.len())
            .filter(|&i| b[i] == b'|' && (i == 0 || b[i - 1] != b'\\'))
            .count()
    };
    let mut width = None;
    for line in md.lines() {
        if !line.starts_with('|') {
            width = None;
            continue;
        }
        let w = unescaped(line);
        assert_eq!(*width.get_or_insert(w), w, "{line}");
    }
    assert!(!r.diagram.mermaid.contains("<script>"));
}

#[test]
fn namespace_graph_renders_with_real_graphviz() {
    if on_path("dot").is_none() {
        skip("the Graphviz rendering test", "`dot` is not on PATH");
        return;
    }
    let md_model = {
        let cli = Cli::try_parse_from([
            "flowpolicy",
            "report",
            &demo(),
            "--cidr-group",
            "10.0.0.0/8",
        ])
        .unwrap();
        let Sub::Report(a) = cli.command else {
            panic!()
        };
        flowpolicy::cli::report::render(&a).unwrap()
    };
    assert!(md_model.contains("```mermaid"));
    let r = build(&hostile());
    let svg = svg::render(&r.diagram.dot, svg::TIMEOUT).expect("dot renders the namespace graph");
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.contains("shop"));
    // The workload-level export renders too.
    let full = flowpolicy::render::graph_export::to_dot(&hostile());
    let svg = svg::render(&full, svg::TIMEOUT).expect("dot renders the workload graph");
    assert!(svg.contains("&lt;script&gt;"), "dot escapes the label");
    // A small graph is drawn; the demo's is too large to read as a drawing
    // the width of the page, so it is a matrix and panels only.
    let small = build(&hostile());
    let drawn = html::render(&small, &svg::render(&small.diagram.dot, svg::TIMEOUT));
    assert!(drawn.contains("<figure>\n<svg"), "the page inlines the SVG");
    let page = report_text(&[&demo(), "--cidr-group", "10.0.0.0/8", "--html"]);
    assert!(!page.contains("<figure>"));
    assert!(page.contains("<table class=\"matrix\">"));
    // Self-contained: no script, stylesheet link, image or frame source.
    for bad in ["<script", "<link", " src=", "<iframe", "@import"] {
        assert!(!page.contains(bad), "the page has {bad}");
    }
    let again = report_text(&[&demo(), "--cidr-group", "10.0.0.0/8", "--html"]);
    assert_eq!(page, again, "the HTML page is deterministic too");
}

#[test]
fn the_model_serializes() {
    let r = build(&hostile());
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["finding_counts"]["seen-once"], 1);
    assert_eq!(v["finding_counts"]["world-to-datastore"], 0);
    assert!(v["findings"].is_array());
    assert_eq!(v["namespaces"][0]["name"], "shop");
}

#[test]
fn html_page_opens_in_headless_chromium() {
    let Some(browser) = on_path("chromium").or_else(|| on_path("chromium-browser")) else {
        skip("the headless Chromium test", "no `chromium` on PATH");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let text = report_text(&[&demo(), "--cidr-group", "10.0.0.0/8", "--html"]);
    std::fs::write(&page, &text).unwrap();
    let shot = dir.path().join("shot.png");
    let profile = dir.path().join("profile");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,2000")
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("headless chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let png = std::fs::read(&shot).expect("chromium wrote a screenshot");
    assert!(png.len() > 1000, "screenshot is {} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        text.contains("<table class=\"matrix\">"),
        "the screenshot shows the matrix"
    );
    let keep = std::env::var_os("FLOWPOLICY_KEEP_SCREENSHOT");
    if let Some(to) = keep {
        std::fs::copy(&shot, to).unwrap();
    }
}

#[test]
fn a_policy_set_section_lists_would_be_drops_and_over_permissive_rules() {
    let web = pod("shop", &[("app", "web")], "10.42.0.90");
    let api = pod("shop", &[("app", "api")], "10.42.0.91");
    let mut flows = tcp_conn(&web, &api, 40000, 8080, 0);
    flows.extend(tcp_conn(&web, &api, 40001, 9090, 1));
    let g = graph_of(&flows);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("api.yaml"),
        r#"apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: api
  namespace: shop
spec:
  endpointSelector:
    matchLabels:
      app: api
  ingress:
    - fromEndpoints:
        - matchLabels:
            app: web
      toPorts:
        - ports:
            - port: "8080"
              protocol: TCP
    - fromEntities:
        - world
"#,
    )
    .unwrap();
    let loaded = flowpolicy::policy::load::load_paths(&[dir.path().to_path_buf()]).unwrap();
    let section = report::policies::section("policies/", &loaded, &g);
    assert_eq!(section.summary.policies, 1);
    assert_eq!(section.would_drop.len(), 1, "{section:#?}");
    assert_eq!(section.would_drop[0].port, "9090/TCP");
    assert!(section
        .over_permissive
        .iter()
        .any(|o| o.kind == "broad-peer" && o.rule.contains("ingress[1]")));
    assert_eq!((section.rules, section.rules_justified), (2, 1));
    let r = report::build(
        &g,
        report::Inputs {
            policy_sets: vec![section],
            ..report::Inputs::default()
        },
    );
    let md = markdown::render(&r);
    assert!(md.contains("## Policy set `policies/`"), "{md}");
    assert!(md.contains("**1 would be dropped**"), "{md}");
    assert!(md.contains("**Over-permissive rules**"));
    let page = html::render(&r, &Err("no dot".into()));
    assert!(page.contains("Over-permissive rules"));
}
