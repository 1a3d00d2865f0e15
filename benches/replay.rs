//! Replay benchmark (issue #10): generates a deterministic jsonpb dump whose
//! lines look like real agents' output ([`lines`]), writes it plain, zstd and
//! gzip, and measures the whole `recommend` pipeline on each — read +
//! decompress + decode + validate + interpret + aggregate, then synthesize +
//! render — in a fresh child process, printing MB/s (of uncompressed jsonpb),
//! flows/s and peak RSS.
//!
//! `cargo bench --bench replay`. Environment:
//! - `FLOWPOLICY_BENCH_FLOWS` (default 500000): flows per dump;
//! - `FLOWPOLICY_BENCH_RUNS` (default 1): runs of each input, back to back;
//! - `FLOWPOLICY_BENCH_INPUTS` (default `plain,zstd,gzip,live`): which to
//!   run; also `decode-full` and `decode-fast`: decoding and checking alone,
//!   on one thread, from memory (the full decoder; the fast path); and
//!   `read-plain`, `read-zstd`, `read-gzip`: reading and decompressing alone;
//!   and `plain-full`, `zstd-full`, `gzip-full`: the pipeline with the fast
//!   path off (`FLOWPOLICY_FULL_DECODE=1`, every line through pbjson);
//! - `e2e-plain` and `load-plain` (issue #19): `recommend` end to end on the
//!   plain dump — its real command code: read, graph, synthesize, render,
//!   the schema self-check and the atomic write of a policy tree beside
//!   the dump (removed when the benchmark ends, see [`E2E_OUT`]) — against
//!   loading the same file into the graph
//!   alone (the read it cannot go below), each with its CPU seconds and
//!   peak RSS; the e2e row's `synth s` is everything after its own read
//!   (synthesis, self-check, rendering, the durable write), so the two
//!   rows' difference can be read within one run, whatever the noise;
//!   With `FLOWPOLICY_BENCH_RUNS`, a last line gives the medians over the
//!   runs: the time after the read, its share of the same process's read,
//!   and the largest peak RSS;
//! - `e2e-baseline`: `recommend --out` from the baseline of the plain dump
//!   (made once, as `merge` makes it, beside the dumps): the user's usual
//!   path (`observe` for days, then `recommend main.baseline`); a last line
//!   gives its medians (the read, the work after it, peak RSS);
//! - `stages-plain`: after reading the plain dump, synthesis and the
//!   documents' stamping, checking and rendering, each repeated 25 times,
//!   their medians on stderr ([`stages`]): where the time after the read
//!   goes, without a profiler;
//! - `FLOWPOLICY_BENCH_DIR`: write (and keep) the dumps there, to profile;
//! - `FLOWPOLICY_BENCH_RSS_FLOWS` (e.g. 10000000): also stream that many
//!   flows through a pipe (`-`, nothing on disk) for the O(edges) peak-RSS
//!   figure; its rate is bounded by the generator.
//!
//! The live row streams the first 200000 flows (pre-encoded) from a local
//! Observer to `observe`'s client side ([`live`]); the
//! `fanout-1`, `fanout-4` and `fanout-8` rows split the same flows by node
//! over 1, 4 or 8 local Observers found through a peer service, as
//! `observe --peer-service` follows them ([`fanout`]; not in the default
//! set: `FLOWPOLICY_BENCH_INPUTS=live,fanout-1,fanout-4,fanout-8`). The
//! servers run in a process of their own ([`servers`]): these rows' CPU and
//! peak RSS are the client's.
//!
//! Targets (release build, the project's 2-core machine): ≥ 1.2 GB/s plain,
//! ≥ 1 GB/s zstd, gzip as fast as the inflate backend allows, ≥ 250k flows/s
//! live, ≤ 64 MiB peak RSS at 10M flows over 2000 edges.

#[path = "replay/fanout.rs"]
mod fanout;
#[path = "replay/lines.rs"]
mod lines;
#[path = "replay/live.rs"]
mod live;
#[path = "replay/servers.rs"]
mod servers;
#[path = "replay/stages.rs"]
mod stages;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use flowpolicy::cli::inputs::{load, InputArgs};
use flowpolicy::render::yaml;
use flowpolicy::source::dump;
use flowpolicy::synth::{synthesize, SynthConfig};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes `flows` flows to each writer; returns (flows, uncompressed bytes).
fn generate(flows: u64, out: &mut [&mut dyn Write]) -> (u64, u64) {
    let mut g = lines::Generator::new();
    let (mut n, mut bytes) = (0u64, 0u64);
    while n < flows {
        n += g.connection(&mut |line| {
            bytes += line.len() as u64;
            for w in out.iter_mut() {
                w.write_all(line).unwrap();
            }
        }) as u64;
    }
    (n, bytes)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// CPU seconds (user + system) of the process (`self`) or of the calling
/// thread (`thread-self`), from /proc: they show where the work goes even
/// when other jobs share the cores and wall times wander.
fn cpu_seconds(which: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{which}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// One row of the table.
pub struct Row {
    pub flows: u64,
    pub seconds: f64,
    /// CPU seconds of the whole process and of the consuming thread.
    pub cpu: f64,
    pub main_cpu: f64,
    pub edges: usize,
    pub policies: usize,
    pub synth: f64,
}

fn print_header() {
    println!(
        "{:<11} {:>9} {:>8} {:>7} {:>6} {:>8} {:>6} {:>7} {:>6} {:>8} {:>7} {:>8}",
        "input",
        "flows",
        "raw MB",
        "load s",
        "MB/s",
        "flows/s",
        "cpu s",
        "main s",
        "edges",
        "policies",
        "synth s",
        "RSS MiB"
    );
}

fn print_row(input: &str, raw: u64, r: &Row) {
    println!(
        "{:<11} {:>9} {:>8.1} {:>7.2} {:>6.0} {:>8.0} {:>6.2} {:>7.2} {:>6} {:>8} {:>7.3} {:>8.1}",
        input,
        r.flows,
        raw as f64 / 1e6,
        r.seconds,
        raw as f64 / 1e6 / r.seconds,
        r.flows as f64 / r.seconds,
        r.cpu,
        r.main_cpu,
        r.edges,
        r.policies,
        r.synth,
        peak_rss_mib()
    );
}

/// `recommend`'s input options (the defaults) for one dump.
fn input_args(path: &Path) -> InputArgs {
    InputArgs {
        inputs: vec![path.to_path_buf()],
        strict: true,
        cidr_groups: vec![],
        conn_window: 120,
        guess_direction: false,
    }
}

/// `recommend` on one input: load the graph, synthesize, render.
fn run(path: &Path) -> Row {
    let args = input_args(path);
    let start = Instant::now();
    let (cpu0, main0) = (cpu_seconds("self"), cpu_seconds("thread-self"));
    let (graph, report) = load(&args).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let (cpu, main_cpu) = (
        cpu_seconds("self") - cpu0,
        cpu_seconds("thread-self") - main0,
    );
    let start = Instant::now();
    let set = synthesize(
        &graph,
        &SynthConfig {
            foundation: true,
            ..SynthConfig::default()
        },
    );
    std::hint::black_box(yaml::stream(&yaml::documents(&set)));
    Row {
        flows: report.interpret.flows,
        seconds,
        cpu,
        main_cpu,
        edges: graph.edge_count(),
        policies: set.len(),
        synth: start.elapsed().as_secs_f64(),
    }
}

/// Decoding alone, on one thread, from memory: the full decoder or the
/// fast path (with its fallback), each line decoded and checked.
fn decode_only(kind: &str, path: &Path) -> Row {
    let text = std::fs::read(path).unwrap();
    let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
    let start = Instant::now();
    let cpu0 = cpu_seconds("self");
    let (mut flows, mut fast) = (0u64, 0u64);
    for line in lines {
        let ok = if kind == "decode-full" {
            matches!(dump::decode_line_checked_full(line), Ok(Some(_)))
        } else {
            let d = dump::decode_line_checked(line);
            fast += u64::from(d.fast);
            let ok = matches!(d.outcome, Ok(Some(_)));
            dump::recycle(d);
            ok
        };
        flows += u64::from(ok);
    }
    if kind == "decode-fast" {
        eprintln!("(fast path: {fast} lines)");
    }
    let cpu = cpu_seconds("self") - cpu0;
    Row {
        flows,
        seconds: start.elapsed().as_secs_f64(),
        cpu,
        main_cpu: cpu,
        edges: 0,
        policies: 0,
        synth: 0.0,
    }
}

/// Reading and decompressing alone (the ceiling the pipeline can reach).
fn read_only(path: &Path) -> Row {
    use std::io::BufRead;
    let start = Instant::now();
    let cpu0 = cpu_seconds("self");
    let mut input = dump::open_input(path).unwrap();
    let mut lines = 0u64;
    loop {
        let buf = input.fill_buf().unwrap();
        if buf.is_empty() {
            break;
        }
        lines += buf.iter().filter(|b| **b == b'\n').count() as u64;
        let n = buf.len();
        input.consume(n);
    }
    let cpu = cpu_seconds("self") - cpu0;
    Row {
        flows: lines,
        seconds: start.elapsed().as_secs_f64(),
        cpu,
        main_cpu: cpu,
        edges: 0,
        policies: 0,
        synth: 0.0,
    }
}

/// Loading the dump into the graph alone: what `recommend` cannot go below.
fn load_only(path: &Path) -> Row {
    let args = input_args(path);
    let start = Instant::now();
    let (cpu0, main0) = (cpu_seconds("self"), cpu_seconds("thread-self"));
    let (graph, report) = load(&args).unwrap();
    Row {
        flows: report.interpret.flows,
        seconds: start.elapsed().as_secs_f64(),
        cpu: cpu_seconds("self") - cpu0,
        main_cpu: cpu_seconds("thread-self") - main0,
        edges: graph.edge_count(),
        policies: 0,
        synth: 0.0,
    }
}

/// `flowpolicy recommend DUMP --out DIR` through the command's own code
/// (argument parsing, self-check, atomic write included).
fn recommend_e2e(path: &Path) -> Row {
    recommend_timed(path, false)
}

/// The same, into the tree a first (untimed) run wrote: the refresh a
/// user's repository gets when the command is run again.
fn recommend_refresh(path: &Path) -> Row {
    recommend_timed(path, true)
}

fn recommend_timed(path: &Path, refresh: bool) -> Row {
    use clap::Parser;
    use flowpolicy::cli::{Cli, Command as Sub};
    // Beside the dump, as a user writes into their repository; left for
    // the parent to remove when the benchmark is done (see [`E2E_OUT`]).
    let outs = path.parent().unwrap_or(Path::new(".")).join(E2E_OUT);
    std::fs::create_dir_all(&outs).unwrap();
    let tree = tempfile::tempdir_in(&outs).unwrap().keep().join("policies");
    let cli = Cli::try_parse_from([
        "flowpolicy".as_ref(),
        "recommend".as_ref(),
        path.as_os_str(),
        "--out".as_ref(),
        tree.as_os_str(),
    ])
    .unwrap();
    let Sub::Recommend(args) = cli.command else {
        unreachable!()
    };
    // `recommend::run` in its two parts, to time what follows the read.
    let start = Instant::now();
    let (cpu0, main0) = (cpu_seconds("self"), cpu_seconds("thread-self"));
    let target = args.write_options().unwrap();
    flowpolicy::timings::mark("start");
    let (graph, report) = load(&args.input).unwrap();
    flowpolicy::timings::mark("read");
    let read_done = Instant::now();
    let mut after_read = read_done;
    if refresh {
        flowpolicy::cli::recommend::from_graph(&args, target.clone(), &graph, &report).unwrap();
        flowpolicy::timings::mark("first tree written");
        // A refresh comes in a later process: let this one's frees on
        // other threads (`render::write`) end before timing it.
        std::thread::sleep(std::time::Duration::from_millis(200));
        after_read = Instant::now();
    }
    flowpolicy::cli::recommend::from_graph(&args, target, &graph, &report).unwrap();
    let (seconds, cpu, main_cpu) = (
        start.elapsed().as_secs_f64(),
        cpu_seconds("self") - cpu0,
        cpu_seconds("thread-self") - main0,
    );
    let after = after_read.elapsed().as_secs_f64();
    // The row's wall time: the read, then one recommend (not both).
    let seconds = seconds - (after_read - read_done).as_secs_f64();
    let policies = walk_yaml(&tree);
    Row {
        flows: report.interpret.flows,
        seconds,
        cpu,
        main_cpu,
        edges: graph.edge_count(),
        policies,
        synth: after,
    }
}

/// Writes the baseline of the dump at `dump` to `to`, as `flowpolicy merge
/// DUMP -o TO` writes it, and syncs it.
fn write_baseline(dump: &Path, to: &Path) {
    let opts = flowpolicy::baseline::load::LoadOptions {
        keep_state: true,
        ..input_args(dump).load_options()
    };
    let (graph, report) = flowpolicy::baseline::load::load_graph(&opts).unwrap();
    let bytes = flowpolicy::baseline::encode(&graph, &report.interpret, &report.meta);
    let mut file = std::fs::File::create(to).unwrap();
    file.write_all(&bytes).unwrap();
    file.sync_all().unwrap();
}

/// Where the `e2e-plain` rows write their trees, beside the dump. They are
/// removed only when the whole benchmark is done: on a file system without
/// a journal, ext4 skips every inode freed in the last minutes when it
/// picks one for a new file (`recently_deleted`), so a run creating its 302
/// files just after the previous run deleted its own pays for that scan
/// (2 ms → 20–40 ms here) — a cost of the benchmark, not of `recommend`.
const E2E_OUT: &str = "e2e-out";

/// The issue #19 figure over every run of the `e2e-plain` and `load-plain`
/// rows: what `recommend` costs after its read, against the read in the
/// same process (the wall time of different processes varies more than the
/// difference on a shared machine), as medians.
#[derive(Default)]
struct E2eRuns {
    /// Per e2e run: (seconds after the read, seconds of its read, peak RSS MiB).
    e2e: Vec<(f64, f64, f64)>,
    /// The same per refresh-plain run (into an existing tree).
    refresh: Vec<(f64, f64, f64)>,
    /// Per load-plain run: wall seconds.
    load: Vec<f64>,
    /// Per e2e-baseline run: (seconds after the read, seconds of its read,
    /// peak RSS MiB).
    baseline: Vec<(f64, f64, f64)>,
}

impl E2eRuns {
    /// Takes the row a child printed (see [`print_row`] for the columns).
    fn add(&mut self, kind: &str, output: &str) {
        let Some(row) = output.lines().rev().find(|l| l.starts_with(kind)) else {
            return;
        };
        let cols: Vec<f64> = row
            .split_whitespace()
            .skip(1)
            .filter_map(|c| c.parse().ok())
            .collect();
        let &[_flows, _raw, wall, _mbs, _fps, _cpu, _main, _edges, _policies, after, rss] =
            cols.as_slice()
        else {
            return;
        };
        match kind {
            "e2e-plain" => self.e2e.push((after, wall - after, rss)),
            "refresh-plain" => self.refresh.push((after, wall - after, rss)),
            "load-plain" => self.load.push(wall),
            "e2e-baseline" => self.baseline.push((after, wall - after, rss)),
            _ => {}
        }
    }

    fn print(&self) {
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        for (runs, what) in [
            (&self.e2e, "recommend"),
            (&self.refresh, "recommend into an existing tree"),
        ] {
            if runs.is_empty() {
                continue;
            }
            let after = median(runs.iter().map(|r| r.0).collect());
            let share = median(runs.iter().map(|r| r.0 / r.1).collect());
            let rss = runs.iter().map(|r| r.2).fold(0.0, f64::max);
            print!(
                "{what} after its read: median {:.0} ms over {} runs, {:.1} % of its own read (median of the runs' ratios); peak RSS at most {rss:.1} MiB",
                after * 1e3,
                runs.len(),
                share * 100.0
            );
            if !self.load.is_empty() {
                print!(
                    "; median load-plain wall {:.2} s over {} runs",
                    median(self.load.clone()),
                    self.load.len()
                );
            }
            println!();
        }
        if !self.baseline.is_empty() {
            let runs = &self.baseline;
            println!(
                "recommend from the dump's baseline: median read {:.0} ms, median after it {:.0} ms over {} runs; peak RSS at most {:.1} MiB",
                median(runs.iter().map(|r| r.1).collect()) * 1e3,
                median(runs.iter().map(|r| r.0).collect()) * 1e3,
                runs.len(),
                runs.iter().map(|r| r.2).fold(0.0, f64::max)
            );
        }
    }
}

/// YAML files below `dir`.
fn walk_yaml(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                let p = e.path();
                if p.is_dir() {
                    walk_yaml(&p)
                } else {
                    usize::from(p.extension().is_some_and(|x| x == "yaml"))
                }
            })
            .sum()
    })
}

/// The child: measures one input and prints its row.
fn child(kind: &str, path: &str) {
    let mut raw: u64 = env_or("FLOWPOLICY_BENCH_RAW", 0);
    let row = match kind {
        "live" => live::run(Path::new(path)),
        "fanout-1" => fanout::run(Path::new(path), 1),
        "fanout-4" => fanout::run(Path::new(path), 4),
        "fanout-8" => fanout::run(Path::new(path), 8),
        "decode-full" | "decode-fast" => decode_only(kind, Path::new(path)),
        "read-plain" | "read-zstd" | "read-gzip" => read_only(Path::new(path)),
        "load-plain" => load_only(Path::new(path)),
        "e2e-plain" => recommend_e2e(Path::new(path)),
        "refresh-plain" => recommend_refresh(Path::new(path)),
        "e2e-baseline" => recommend_e2e(Path::new(path)),
        "stages-plain" => stages::run(Path::new(path)),
        _ => run(Path::new(path)),
    };
    if kind == "live" || kind.starts_with("fanout-") {
        // Only the first flows are streamed: their share of the jsonpb.
        raw = (raw as f64 * row.flows as f64 / env_or("FLOWPOLICY_BENCH_N", 1.0)) as u64;
    }
    print_row(kind, raw, &row);
}

thread_local! {
    /// Flows in the generated dumps (for the live row's share of them).
    static N: std::cell::Cell<u64> = const { std::cell::Cell::new(1) };
}

fn spawn(kind: &str, path: &Path, raw: u64) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .env("FLOWPOLICY_BENCH_CHILD", kind)
        .env("FLOWPOLICY_BENCH_PATH", path)
        .env("FLOWPOLICY_BENCH_RAW", raw.to_string())
        .env("FLOWPOLICY_BENCH_N", N.with(|n| n.get()).to_string())
        .env(
            "FLOWPOLICY_FULL_DECODE",
            if kind.ends_with("-full") { "1" } else { "" },
        )
        // recommend's own summary would bury the table.
        .stderr(if kind.starts_with("e2e-") || kind == "refresh-plain" {
            Stdio::null()
        } else {
            Stdio::inherit()
        })
        .stdout(Stdio::piped())
        .stdin(if path.as_os_str() == "-" {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap()
}

fn main() {
    // Each measurement runs in a fresh child process so its peak RSS is its own.
    if let Ok(kind) = std::env::var("FLOWPOLICY_BENCH_CHILD") {
        if let Some(row) = kind.strip_prefix("serve-") {
            servers::serve(
                row,
                Path::new(&std::env::var("FLOWPOLICY_BENCH_PATH").unwrap()),
            );
            return;
        }
        child(&kind, &std::env::var("FLOWPOLICY_BENCH_PATH").unwrap());
        return;
    }
    let flows: u64 = env_or("FLOWPOLICY_BENCH_FLOWS", 500_000);
    let runs: usize = env_or("FLOWPOLICY_BENCH_RUNS", 1);
    let inputs: String = env_or(
        "FLOWPOLICY_BENCH_INPUTS",
        "plain,zstd,gzip,live".to_string(),
    );
    let rss_flows: u64 = env_or("FLOWPOLICY_BENCH_RSS_FLOWS", 0);
    // FLOWPOLICY_BENCH_DIR keeps the dumps (for profiling); else a temporary directory.
    let tmp = tempfile::tempdir().unwrap();
    let dir =
        std::env::var_os("FLOWPOLICY_BENCH_DIR").map_or(tmp.path().to_path_buf(), PathBuf::from);
    let path = |ext: &str| -> PathBuf { dir.join(format!("bench.jsonpb{ext}")) };

    let start = Instant::now();
    let mut plain = std::io::BufWriter::new(std::fs::File::create(path("")).unwrap());
    let mut zst = zstd::stream::write::Encoder::new(
        std::io::BufWriter::new(std::fs::File::create(path(".zst")).unwrap()),
        3,
    )
    .unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(std::fs::File::create(path(".gz")).unwrap()),
        flate2::Compression::new(6),
    );
    let (n, raw) = generate(flows, &mut [&mut plain, &mut zst, &mut gz]);
    N.with(|c| c.set(n));
    // On disk before anything is measured, as a dump is long before it is
    // read: else the first durable write of a policy tree waits for it.
    for file in [
        plain.into_inner().unwrap(),
        zst.finish().unwrap().into_inner().unwrap(),
        gz.finish().unwrap().into_inner().unwrap(),
    ] {
        file.sync_all().unwrap();
    }
    // Nor anything else left dirty (the build's own files): the first
    // durable write of a tree would wait for it.
    #[cfg(target_os = "linux")]
    rustix::fs::sync();
    println!(
        "flowpolicy replay benchmark: {n} flows, {:.1} MB jsonpb ({:.0} B/line), {} edges among {} workloads on {} nodes; generated in {:.1} s",
        raw as f64 / 1e6,
        raw as f64 / n as f64,
        lines::EDGES,
        lines::NAMESPACES * lines::APPS_PER_NS,
        lines::NODES,
        start.elapsed().as_secs_f64()
    );
    if inputs.split(',').any(|k| k == "e2e-baseline") {
        // Made from this run's dump, never left over from another.
        write_baseline(&path(""), &path(".baseline"));
    }
    print_header();
    let mut measured = E2eRuns::default();
    for _ in 0..runs {
        for kind in inputs.split(',') {
            let file = match kind {
                "plain" | "plain-full" | "read-plain" | "load-plain" | "e2e-plain"
                | "refresh-plain" => path(""),
                "zstd" | "zstd-full" | "read-zstd" => path(".zst"),
                "gzip" | "gzip-full" | "read-gzip" => path(".gz"),
                "live" | "decode-full" | "decode-fast" => path(""),
                "fanout-1" | "fanout-4" | "fanout-8" => path(""),
                "e2e-baseline" => path(".baseline"),
                other => panic!("unknown input kind {other}"),
            };
            // A baseline's row is not a rate of the jsonpb.
            let raw = if kind == "e2e-baseline" { 0 } else { raw };
            let output = spawn(kind, &file, raw).wait_with_output().unwrap();
            assert!(output.status.success());
            let text = String::from_utf8_lossy(&output.stdout);
            print!("{text}");
            measured.add(kind, &text);
        }
    }
    measured.print();
    let _ = std::fs::remove_dir_all(dir.join(E2E_OUT));
    if rss_flows > 0 {
        // Streamed through a pipe: nothing on disk, the rate is the generator's.
        let mut child = spawn("pipe", Path::new("-"), 0);
        let mut stdin = std::io::BufWriter::with_capacity(1 << 20, child.stdin.take().unwrap());
        let (_, raw) = generate(rss_flows, &mut [&mut stdin]);
        drop(stdin);
        assert!(child.wait().unwrap().success());
        println!(
            "(pipe: {:.1} MB of jsonpb, rate bounded by the generator)",
            raw as f64 / 1e6
        );
    }
}
