//! The report in a pull request (issue #18): the `--summary` Markdown fits a
//! comment on the demo and on a huge generated graph (100 namespaces, 2000
//! edges) without cutting a table; the HTML namespace matrix of a generated
//! 25-namespace/120-edge graph fits a 1280 px page with labels of at least
//! 11 px, measured in headless Chromium (skipped with a note without it); and
//! findings name the policy files that select their workload, changed ones
//! marked.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::flowkit::{graph_of, pod, tcp_conn};
use clap::Parser;
use flowpolicy::cli::{Cli, Command as Sub};
use flowpolicy::graph::TrafficGraph;
use flowpolicy::proto::flow::Flow;
use flowpolicy::report::{self, html, markdown, summary, ChangedFiles};

fn demo() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/demo.jsonpb.zst")
        .display()
        .to_string()
}

fn report_text(args: &[&str]) -> String {
    let cli = Cli::try_parse_from(["flowpolicy", "report"].iter().chain(args)).unwrap();
    let Sub::Report(a) = cli.command else {
        panic!("not the report command")
    };
    flowpolicy::cli::report::render(&a).unwrap()
}

/// `namespaces` namespaces of three apps each, and `edges` distinct
/// cross-namespace (client, server, port) edges, one connection each,
/// chosen by a fixed LCG.
fn generated(namespaces: usize, edges: usize) -> TrafficGraph {
    let pods: Vec<_> = (0..namespaces * 3)
        .map(|i| {
            let ns = format!("team-{:03}-services", i / 3);
            let app = ["frontend", "api", "postgres"][i % 3];
            pod(
                &ns,
                &[("app", app)],
                &format!("10.{}.{}.{}", 40 + i / 65025, (i / 255) % 255, 1 + i % 255),
            )
        })
        .collect();
    let mut flows: Vec<Flow> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut x: u64 = 12345;
    let mut next = |m: usize| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) as usize) % m
    };
    while seen.len() < edges {
        let (a, b) = (next(pods.len()), next(pods.len()));
        let port = [443, 8080, 5432, 9090, 6379][next(5)];
        if a / 3 == b / 3 || !seen.insert((a, b, port)) {
            continue;
        }
        let t = seen.len() as i64;
        flows.extend(tcp_conn(
            &pods[a],
            &pods[b],
            30000 + (t as u32 % 30000),
            port,
            t,
        ));
    }
    graph_of(&flows)
}

/// Every table is whole: a header line, a separator line, then rows with
/// as many cells as the header.
fn assert_tables_whole(md: &str) {
    let lines: Vec<&str> = md.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].starts_with('|') {
            let cells = |l: &str| l.replace("\\|", "").matches('|').count();
            let width = cells(lines[i]);
            assert!(
                lines[i + 1].starts_with("|-") || lines[i + 1].starts_with("|--"),
                "no separator after {}",
                lines[i]
            );
            while i < lines.len() && lines[i].starts_with('|') {
                assert_eq!(cells(lines[i]), width, "a cut row: {}", lines[i]);
                i += 1;
            }
        } else {
            i += 1;
        }
    }
}

#[test]
fn the_demo_summary_fits_a_pull_request_comment() {
    let full = report_text(&[&demo(), "--cidr-group", "10.0.0.0/8"]);
    let text = report_text(&[&demo(), "--cidr-group", "10.0.0.0/8", "--summary"]);
    let n = text.chars().count();
    assert!(n <= summary::LIMIT, "{n} characters");
    assert!(text.starts_with("# flowpolicy report (summary)"));
    assert!(text.contains("## Findings"));
    assert_tables_whole(&text);
    assert!(full.chars().count() > n, "the full report has more");
}

#[test]
fn a_huge_graph_summary_still_fits_and_points_at_the_full_report() {
    let g = generated(100, 2000);
    let r = report::build(&g, report::Inputs::default());
    assert_eq!(r.overview.namespaces, 100);
    let full = markdown::render(&r);
    assert!(
        full.chars().count() > summary::LIMIT,
        "the full report would not fit"
    );
    let text = summary::render(&r, "`report.md`");
    assert!(
        text.chars().count() <= summary::LIMIT,
        "{}",
        text.chars().count()
    );
    assert!(
        text.contains("more in the full report `report.md`"),
        "{text}"
    );
    assert!(
        text.contains("busiest pairs"),
        "the graph is a table of pairs"
    );
    assert_tables_whole(&text);
    // Deterministic.
    assert_eq!(text, summary::render(&r, "`report.md`"));
}

#[test]
fn summary_and_full_are_written_by_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let (out, full) = (dir.path().join("comment.md"), dir.path().join("report.md"));
    let cli = Cli::try_parse_from([
        "flowpolicy",
        "report",
        &demo(),
        "--summary",
        "-o",
        out.to_str().unwrap(),
        "--full",
        full.to_str().unwrap(),
    ])
    .unwrap();
    let Sub::Report(a) = cli.command else {
        panic!()
    };
    flowpolicy::cli::report::run(&a).unwrap();
    let summary = std::fs::read_to_string(&out).unwrap();
    assert!(
        summary.contains("the full report is `report.md`"),
        "{summary}"
    );
    let whole = std::fs::read_to_string(&full).unwrap();
    assert_eq!(whole, report_text(&[&demo()]));
    // --full needs --summary; --changed-files needs --policies.
    assert!(Cli::try_parse_from(["flowpolicy", "report", "x", "--full", "y"]).is_err());
    assert!(Cli::try_parse_from(["flowpolicy", "report", "x", "--changed-files", "y"]).is_err());
    assert!(Cli::try_parse_from(["flowpolicy", "report", "x", "--summary", "--html"]).is_err());
}

const API_POLICY: &str = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  endpointSelector:\n    matchLabels:\n      app: api\n  ingress:\n  - fromEndpoints:\n    - matchLabels:\n        k8s:io.kubernetes.pod.namespace: web\n";

#[test]
fn findings_name_the_policy_files_a_pull_request_changes() {
    let web = pod("web", &[("app", "web")], "10.42.0.90");
    let api = pod("shop", &[("app", "api")], "10.42.0.91");
    let db = pod("shop", &[("app", "cache")], "10.42.0.92");
    let mut flows = tcp_conn(&web, &api, 40000, 8080, 0);
    flows.extend(tcp_conn(&web, &db, 40001, 6379, 1));
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(policies.join("shop")).unwrap();
    std::fs::write(policies.join("shop/api.yaml"), API_POLICY).unwrap();
    std::fs::write(
        policies.join("shop/cache.yaml"),
        API_POLICY
            .replace("name: api", "name: cache")
            .replace("app: api", "app: cache"),
    )
    .unwrap();
    let dump = dir.path().join("flows.jsonpb");
    crate::flowkit::write_dump(&dump, &flows);
    let changed = dir.path().join("changed.txt");
    std::fs::write(&changed, "policies/shop/api.yaml\nREADME.md\n").unwrap();
    let p = policies.to_str().unwrap();
    let md = report_text(&[
        dump.to_str().unwrap(),
        "-p",
        p,
        "--changed-files",
        changed.to_str().unwrap(),
    ]);
    assert!(md.contains("| Policy files |"), "{md}");
    let api_file = format!(
        "`{}` (**changed**)",
        policies.join("shop/api.yaml").display()
    );
    let cache_file = format!("`{}`", policies.join("shop/cache.yaml").display());
    let api_row = md
        .lines()
        .find(|l| l.contains("| `shop/api` |"))
        .expect("a finding on shop/api");
    assert!(api_row.ends_with(&format!("| {api_file} |")), "{api_row}");
    let cache_row = md
        .lines()
        .find(|l| l.contains("| `shop/cache` |"))
        .expect("a finding on shop/cache");
    assert!(
        cache_row.ends_with(&format!("| {cache_file} |")),
        "{cache_row}"
    );
    assert!(md.contains("findings concern policy files this pull request adds or changes"));
    let s = report_text(&[
        dump.to_str().unwrap(),
        "-p",
        p,
        "--changed-files",
        changed.to_str().unwrap(),
        "--summary",
    ]);
    assert!(
        s.contains("## Findings on policy files this pull request changes ("),
        "{s}"
    );
    // Without a list, files are named but none is marked.
    let plain = report_text(&[dump.to_str().unwrap(), "-p", p]);
    assert!(plain.contains("| Policy files |") && !plain.contains("(**changed**)"));
    assert!(ChangedFiles::parse("a/b.yaml").contains(Path::new("x/a/b.yaml")));
}

fn on_path(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(prog))
            .find(|p| p.is_file())
    })
}

/// Runs headless Chromium on `page` at 1280×2000 with `extra` arguments;
/// returns its stdout.
fn chromium(browser: &Path, dir: &Path, page: &Path, extra: &[String]) -> String {
    let out = dir.join("stdout.txt");
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
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("headless chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(out).unwrap_or_default()
}

/// Measures the laid-out page in the browser: the document's scroll width,
/// and every text element rendered under 11 px.
const PROBE: &str = "<script>(function(){var small=[];var all=document.querySelectorAll('body *');for(var i=0;i<all.length;i++){var e=all[i];var own=false;for(var j=0;j<e.childNodes.length;j++){var n=e.childNodes[j];if(n.nodeType===3&&n.textContent.trim()){own=true;}}if(!own)continue;var r=e.getBoundingClientRect();if(r.width===0)continue;var fs=parseFloat(getComputedStyle(e).fontSize);if(e.closest('svg')){var b=e.getBoundingClientRect();fs=b.height/1.2;}if(fs<11){small.push(e.tagName+' '+fs.toFixed(1)+' '+e.textContent.slice(0,30));}}var p=document.createElement('pre');p.id='probe';p.textContent='WIDTH='+document.documentElement.scrollWidth+';SMALL='+small.length+';'+small.slice(0,5).join('|');document.body.appendChild(p);})();</script>";

#[test]
fn the_namespace_matrix_reads_in_headless_chromium() {
    let g = generated(25, 120);
    let r = report::build(&g, report::Inputs::default());
    assert!(
        r.matrix.namespaces >= 25 && r.diagram.edges >= 100,
        "{} namespaces, {} edges",
        r.matrix.namespaces,
        r.diagram.edges
    );
    let page = html::render(&r, &Err("too large to draw legibly".into()));
    assert!(page.contains("<table class=\"matrix\">"));
    assert!(
        !page.contains("<figure>"),
        "no page-wide drawing of 100+ edges"
    );
    // No font under 11 px in the page's own styles.
    for px in page.split("font-size:").skip(1) {
        let n: String = px
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        if px[n.len()..].starts_with("px") {
            assert!(n.parse::<f64>().unwrap() >= 11.0, "font-size:{n}px");
        }
    }
    let Some(browser) = on_path("chromium").or_else(|| on_path("chromium-browser")) else {
        eprintln!("skipping the headless Chromium measurement: no `chromium` on PATH");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.html");
    std::fs::write(&file, &page).unwrap();
    let shot = dir.path().join("shot.png");
    chromium(
        &browser,
        dir.path(),
        &file,
        &[format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(&shot).expect("chromium wrote a screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // A blank 1280×2000 page compresses to a few kilobytes.
    assert!(
        png.len() > 30_000,
        "screenshot is {} bytes: blank?",
        png.len()
    );
    if let Some(to) = std::env::var_os("FLOWPOLICY_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, to).unwrap();
    }
    let probed = dir.path().join("probed.html");
    std::fs::write(&probed, page.replace("</body>", &format!("{PROBE}</body>"))).unwrap();
    let dom = chromium(&browser, dir.path(), &probed, &["--dump-dom".to_string()]);
    let line = dom
        .split("<pre id=\"probe\">WIDTH=")
        .nth(1)
        .expect("the probe ran");
    let width: u32 = line.split(';').next().unwrap().parse().unwrap();
    assert!(width <= 1280, "the page scrolls sideways: {width} px");
    let small = line.split("SMALL=").nth(1).unwrap();
    assert!(small.starts_with("0;"), "text under 11 px: {small}");
}
