//! `flowpolicy watch`, end to end: the real binary following the in-process
//! Observer server (`tests/common/observer_server.rs`).
//!
//! The main test is the drift story of issue 20 on the generated week
//! (`week/`): the first five days become a baseline and a policy tree
//! (`merge`, `recommend --out`); days 6–7, with a few connections the five
//! days never made, are streamed to `watch --update --metrics`; while it
//! runs, `/metrics` counts would-be drops; when the server ends the stream
//! (`--until` = the last flow, then a sentinel flow after it), the tree is
//! refreshed, `verify` on the whole week exits 0, and the tree opens no port
//! the week did not use. Every wait is bounded; nothing asserts on time.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::observer_server::{self, ServerOptions};
use crate::flowkit::{graph_of, tcp_conn, write_dump};
use crate::observe::{until_and_sentinel, BIN, BOUND};
use crate::week::generate;

use flowpolicy::proto::flow::{self, Endpoint, Flow};
use flowpolicy::proto::observer::get_flows_response::ResponseTypes;
use flowpolicy::proto::observer::GetFlowsResponse;
use serde_json::Value;

fn response(f: &Flow) -> GetFlowsResponse {
    GetFlowsResponse {
        node_name: f.node_name.clone(),
        time: f.time,
        response_types: Some(ResponseTypes::Flow(f.clone())),
    }
}

/// The endpoint and address of the first pod of `app` in `flows`.
fn pod_of(flows: &[Flow], app: &str) -> (Endpoint, String) {
    let label = format!("k8s:app={app}");
    for f in flows {
        if let (Some(src), Some(ip)) = (&f.source, &f.ip) {
            if src.labels.contains(&label) {
                return (src.clone(), ip.source.clone());
            }
        }
        if let (Some(dst), Some(ip)) = (&f.destination, &f.ip) {
            if dst.labels.contains(&label) {
                return (dst.clone(), ip.destination.clone());
            }
        }
    }
    panic!("no {app} pod in the flows");
}

/// Connections the first five days never made, on day 6: the frontend
/// straight to redis, and the backup job to the API on a new port.
pub(crate) fn new_connections(day6: &[Flow]) -> Vec<Flow> {
    let t = day6
        .iter()
        .filter_map(|f| f.time)
        .map(|t| t.seconds)
        .min()
        .unwrap()
        - 1_700_000_000
        + 600;
    let (frontend, redis, api) = (
        pod_of(day6, "frontend"),
        pod_of(day6, "redis"),
        pod_of(day6, "api"),
    );
    let mut out = Vec::new();
    for i in 0..3 {
        out.extend(tcp_conn(
            &frontend,
            &redis,
            40_000 + i,
            6379,
            t + i64::from(i),
        ));
        out.extend(tcp_conn(
            &frontend,
            &api,
            41_000 + i,
            9999,
            t + 10 + i64::from(i),
        ));
    }
    for f in &mut out {
        f.node_name = "w-1".into();
    }
    out
}

/// A running `flowpolicy` with its stderr lines on a channel.
struct Running {
    child: Child,
    stderr: mpsc::Receiver<String>,
    stdout: std::thread::JoinHandle<String>,
}

fn spawn(args: &[String]) -> Running {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("HUBBLE_SERVER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut out = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    Running {
        child,
        stderr: rx,
        stdout,
    }
}

impl Running {
    /// Waits for a stderr line containing `what`; returns the lines so far.
    fn wait_for(&mut self, what: &str, seen: &mut Vec<String>) -> String {
        let end = Instant::now() + BOUND;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    seen.push(line.clone());
                    if line.contains(what) {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no line with {what:?} in time; stderr so far:\n{}",
                        seen.join("\n")
                    );
                }
            }
        }
    }

    /// Waits for the exit; returns the status, stdout and the rest of stderr.
    fn finish(mut self, seen: &mut Vec<String>) -> (std::process::ExitStatus, String) {
        let end = Instant::now() + BOUND;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("watch did not end in time:\n{}", seen.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        seen.extend(self.stderr.try_iter());
        (status, self.stdout.join().unwrap())
    }
}

/// `GET /metrics` with a bare HTTP/1.0 request.
fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(
        text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
        "{text}"
    );
    text
}

/// The sum of a metric's samples (all label sets).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn s(items: &[&str]) -> Vec<String> {
    items.iter().map(|x| x.to_string()).collect()
}

fn run_ok(args: &[String]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("HUBBLE_SERVER")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {:?}\n{err}", out.status);
    err
}

/// Every `port` of every `toPorts[].ports[]` in the tree's YAML.
fn tree_ports(dir: &Path) -> BTreeSet<String> {
    fn walk(v: &Value, in_ports: bool, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if in_ports && k == "port" {
                        out.insert(x.as_str().map(str::to_string).unwrap_or(x.to_string()));
                    }
                    walk(x, k == "ports", out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, in_ports, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                let text = std::fs::read_to_string(&p).unwrap();
                for doc in text.split("\n---") {
                    if let Ok(v) = serde_yaml::from_str::<Value>(doc) {
                        walk(&v, false, &mut out);
                    }
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_days_after_a_five_day_baseline_drift_is_counted_then_the_tree_is_updated() {
    let dir = tempfile::tempdir().unwrap();
    let week = generate();
    let first: Vec<Flow> = week.days[..5].concat();
    let mut last: Vec<Flow> = week.days[5..].concat();
    let added = new_connections(&week.days[5]);
    last.extend(added.iter().cloned());
    last.sort_by_key(|f| f.time.map(|t| (t.seconds, t.nanos)));

    let (first_dump, base, tree) = (
        dir.path().join("days1-5.jsonpb"),
        dir.path().join("days1-5.baseline"),
        dir.path().join("policies"),
    );
    write_dump(&first_dump, &first);
    let p = |x: &Path| x.to_str().unwrap().to_string();
    run_ok(&[s(&["merge", "-o"]), vec![p(&base), p(&first_dump)]].concat());
    run_ok(
        &[
            s(&["recommend"]),
            vec![p(&base)],
            s(&["--out"]),
            vec![p(&tree)],
        ]
        .concat(),
    );
    let before = tree_ports(&tree);

    let responses: Vec<GetFlowsResponse> = last.iter().map(response).collect();
    let (until, sentinel) = until_and_sentinel(&responses);
    let server = observer_server::start(ServerOptions {
        responses,
        ..ServerOptions::default()
    })
    .await;
    let mut watch = spawn(
        &[
            s(&["watch", "--server", &server.address(), "--policies"]),
            vec![p(&tree)],
            s(&["--baseline"]),
            vec![p(&base)],
            s(&[
                "--update",
                "--until",
                &until,
                "--metrics",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--reconnect-delay",
                "5ms",
            ]),
        ]
        .concat(),
    );
    let mut seen = Vec::new();
    let line = tokio::task::block_in_place(|| watch.wait_for("/metrics", &mut seen));
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .trim_end_matches("/metrics")
        .to_string();

    // While it runs: every flow counted, the new connections counted as
    // would-be drops, the stream up.
    let end = Instant::now() + BOUND;
    let text = loop {
        let text = scrape(&addr);
        if metric(&text, "flowpolicy_flows_total") >= last.len() as f64 {
            break text;
        }
        assert!(Instant::now() < end, "flows not all counted:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(metric(&text, "flowpolicy_flows_total"), last.len() as f64);
    let would_drop = metric(&text, "flowpolicy_would_drop_flows_total");
    assert!(would_drop >= 12.0, "{text}");
    assert!(
        text.contains("flowpolicy_would_drop_flows_total{namespace=\"shop\",direction=\"egress\"}"),
        "{text}"
    );
    assert_eq!(metric(&text, "flowpolicy_new_edges_total"), 2.0, "{text}");
    assert_eq!(metric(&text, "flowpolicy_stream_up"), 1.0, "{text}");

    // The server ends the stream; watch updates the tree and exits.
    server.push(sentinel);
    let (status, stdout) = tokio::task::block_in_place(|| watch.finish(&mut seen));
    let stderr = seen.join("\n");
    println!("{stderr}\n{stdout}");
    assert!(status.success(), "{status:?}\n{stderr}");
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    let drops: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "would-drop")
        .collect();
    assert_eq!(drops.len(), 2, "{stdout}");
    for d in &drops {
        assert!(
            d["source"].as_str().unwrap().starts_with("shop/frontend"),
            "{d}"
        );
        let dirs = d["directions"].as_array().unwrap();
        assert!(dirs.iter().any(|x| x["verdict"] == "dropped"), "{d}");
        assert!(d["sample"].as_str().is_some_and(|x| !x.is_empty()), "{d}");
    }
    assert!(
        kinds.contains(&"new-edge") && kinds.contains(&"stream"),
        "{kinds:?}"
    );
    assert!(stderr.contains("watch --update"), "{stderr}");

    // The whole week passes the updated tree.
    let week_dump = dir.path().join("week.jsonpb");
    let mut all = first.clone();
    all.extend(last.iter().cloned());
    write_dump(&week_dump, &all);
    run_ok(&[s(&["verify", "--policies"]), vec![p(&tree), p(&week_dump)]].concat());

    // No port opens that the week did not use.
    let used: BTreeSet<String> = graph_of(&all)
        .edges_sorted()
        .iter()
        .flat_map(|(_, _, e)| e.ports.keys().map(|k| k.port.to_string()))
        .collect();
    let after = tree_ports(&tree);
    assert!(
        after.is_subset(&used),
        "opened: {:?}",
        after.difference(&used)
    );
    assert!(
        after.contains("6379") && after.contains("9999"),
        "{after:?}"
    );
    assert!(before.is_subset(&after));
}

/// A flow Cilium dropped for a policy reason.
#[cfg(unix)]
fn policy_drop(mut f: Flow) -> Flow {
    f.verdict = flow::Verdict::Dropped as i32;
    f.drop_reason_desc = flow::DropReason::PolicyDenied as i32;
    f
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_parse_and_sighup_reloads_or_keeps_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let week = generate();
    let day = &week.days[0];
    let (dump, tree) = (dir.path().join("day1.jsonpb"), dir.path().join("policies"));
    write_dump(&dump, day);
    let p = |x: &Path| x.to_str().unwrap().to_string();
    run_ok(
        &[
            s(&["recommend"]),
            vec![p(&dump)],
            s(&["--out"]),
            vec![p(&tree)],
        ]
        .concat(),
    );

    // The same day again, with one connection Cilium dropped.
    let mut flows = day.clone();
    let extra = new_connections(day);
    flows.extend(extra.into_iter().take(3).map(policy_drop));
    flows.sort_by_key(|f| f.time.map(|t| (t.seconds, t.nanos)));
    let server = observer_server::start(ServerOptions {
        responses: flows.iter().map(response).collect(),
        ..ServerOptions::default()
    })
    .await;
    let mut watch = spawn(
        &[
            s(&["watch", "--server", &server.address(), "--policies"]),
            vec![p(&tree)],
            s(&[
                "--log-format",
                "json",
                "--metrics",
                "127.0.0.1:0",
                "--unused-after",
                "1s",
            ]),
        ]
        .concat(),
    );
    let mut seen = Vec::new();
    let line = tokio::task::block_in_place(|| watch.wait_for("/metrics", &mut seen));
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .trim_end_matches("/metrics")
        .to_string();
    let pid = watch.child.id().to_string();
    let wait_metric = |name: &'static str, at_least: f64| {
        let end = Instant::now() + BOUND;
        loop {
            let text = scrape(&addr);
            if metric(&text, name) >= at_least {
                return text;
            }
            assert!(Instant::now() < end, "{name} < {at_least}:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    tokio::task::block_in_place(|| {
        wait_metric("flowpolicy_flows_total", flows.len() as f64);
        let text = wait_metric("flowpolicy_dropped_flows_total", 1.0);
        assert!(text.contains("direction=\"egress\""), "{text}");
        // A good tree reloads.
        Command::new("kill").args(["-HUP", &pid]).status().unwrap();
        wait_metric("flowpolicy_policy_reloads_total", 1.0);
        // A broken one is refused and counted; the old one stays.
        std::fs::write(
            tree.join("broken.yaml"),
            "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\nspec: [1]\n",
        )
        .unwrap();
        Command::new("kill").args(["-HUP", &pid]).status().unwrap();
        wait_metric("flowpolicy_policy_reload_errors_total", 1.0);
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    });
    let (status, stdout) = tokio::task::block_in_place(|| watch.finish(&mut seen));
    assert!(status.success(), "{status:?}\n{}", seen.join("\n"));
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let status_of = |st: &str| {
        events
            .iter()
            .filter(|e| e["event"] == "stream" && e["status"] == st)
            .count()
    };
    assert_eq!(status_of("reloaded"), 1, "{stdout}");
    assert_eq!(status_of("reload-failed"), 1, "{stdout}");
    let dropped: Vec<&Value> = events.iter().filter(|e| e["event"] == "dropped").collect();
    assert_eq!(dropped.len(), 1, "{stdout}");
    assert_eq!(dropped[0]["simulated"], "dropped", "{stdout}");
    assert!(
        events.iter().any(|e| e["event"] == "unused-rule"),
        "a day of flow time passes --unused-after 1s for some rule: {stdout}"
    );
}

#[test]
fn a_bad_policy_tree_is_refused_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = Command::new(BIN)
        .args(["watch", "--server", "127.0.0.1:1", "--policies"])
        .arg(&missing)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&missing.display().to_string()) && err.contains("no such"),
        "{err}"
    );

    std::fs::write(dir.path().join("x.yaml"), "kind: ConfigMap\n").unwrap();
    let out = Command::new(BIN)
        .args(["watch", "--server", "127.0.0.1:1", "--policies"])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no CiliumNetworkPolicy"), "{err}");
}
