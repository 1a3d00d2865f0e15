//! What `watch` shows: on a terminal (and without `--log-format`) a live
//! view redrawn in place — the totals, counts per namespace, the newest
//! events; otherwise one log line per event on stdout (text, or JSON with
//! `--log-format json`). The summary at exit goes to stderr either way.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::args::{LogFormat, WatchArgs};
use crate::verify::tri::Tri;
use crate::watch::events::WatchEvent;
use crate::watch::WatchSink;

/// Edges listed per kind in the summary.
const LISTED: usize = 20;

/// The live view or the log.
pub enum Show {
    Log(LogFormat),
    Live {
        bar: ProgressBar,
        recent: VecDeque<String>,
        keep: usize,
        server: String,
    },
}

impl Show {
    pub fn new(args: &WatchArgs) -> Show {
        match args.log_format {
            Some(f) => Show::Log(f),
            None if std::io::stderr().is_terminal() => {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template("{msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                Show::Live {
                    bar,
                    recent: VecDeque::new(),
                    keep: args.recent.max(1),
                    server: args.relay.server.clone(),
                }
            }
            None => Show::Log(LogFormat::Text),
        }
    }

    /// Shows one event.
    pub fn event(&mut self, e: &WatchEvent) {
        match self {
            Show::Log(f) => {
                let line = match f {
                    LogFormat::Json => e.json(),
                    LogFormat::Text => e.text(),
                };
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            Show::Live { recent, keep, .. } => {
                recent.push_back(e.text());
                while recent.len() > *keep {
                    recent.pop_front();
                }
            }
        }
    }

    /// Redraws the live view (nothing for the log).
    pub fn refresh(&mut self, sink: &WatchSink) {
        let Show::Live {
            bar,
            recent,
            server,
            ..
        } = self
        else {
            return;
        };
        let mut text = format!("watch {server}: {}\n", totals(sink));
        text.push_str(&table(sink));
        text.push_str("newest events:\n");
        for r in recent.iter() {
            text.push_str(&format!("  {r}\n"));
        }
        bar.set_message(text.trim_end().to_string());
    }

    pub fn finish(&mut self) {
        if let Show::Live { bar, .. } = self {
            bar.finish_and_clear();
        }
    }
}

fn totals(s: &WatchSink) -> String {
    let t = &s.totals;
    format!(
        "{} flows, {} would be dropped, {} dropped by Cilium (policy), {} new edges, {} undecided, {} lost events, {} reconnects, {} edges remembered",
        t.flows,
        t.would_drop,
        t.dropped,
        t.new_edges,
        t.undecided,
        t.lost,
        t.reconnects,
        s.edges.len()
    )
}

fn table(s: &WatchSink) -> String {
    let rows = s.namespaces.sorted();
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(9);
    let mut out = format!(
        "  {:width$}  {:>10}  {:>10}  {:>10}  {:>9}\n",
        "namespace", "flows", "would-drop", "dropped", "new-edges"
    );
    for (ns, c) in rows {
        let ns = if ns.is_empty() { "(none)" } else { ns };
        out.push_str(&format!(
            "  {ns:width$}  {:>10}  {:>10}  {:>10}  {:>9}\n",
            c.flows, c.would_drop, c.dropped, c.new_edges
        ));
    }
    out
}

/// The summary at exit (stderr).
pub fn summary(s: &WatchSink, why: &str) {
    eprintln!("flowpolicy: watch {why}: {}", totals(s));
    if !s.namespaces.rows.is_empty() {
        eprint!("{}", table(s));
    }
    let mut drops: Vec<(String, u64)> = Vec::new();
    let mut denied: Vec<(String, u64)> = Vec::new();
    for (k, e) in &s.edges.map {
        let name = || format!("{} -> {} {}", k.0, k.1, k.2);
        if e.verdict == Tri::No && e.would_drop > 0 {
            drops.push((name(), e.would_drop));
        }
        if e.cilium_dropped > 0 {
            denied.push((name(), e.cilium_dropped));
        }
    }
    for (title, mut list) in [
        ("would be dropped by the policies", drops),
        ("dropped by Cilium (policy)", denied),
    ] {
        if list.is_empty() {
            continue;
        }
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        eprintln!("{title}: {} connections", list.len());
        for (name, n) in list.iter().take(LISTED) {
            eprintln!("  {name}: {n} flows");
        }
        if list.len() > LISTED {
            eprintln!("  … {} more", list.len() - LISTED);
        }
    }
    let (sections, used) = s.usage.counts();
    eprintln!(
        "rules: {used} of {sections} allow rules used in this watch; {} reported unused; {} reloads ({} failed)",
        s.totals.unused_rules, s.totals.reloads, s.totals.reload_errors
    );
    if s.edges.evicted > 0 {
        eprintln!(
            "note: {} connections were forgotten at --max-edges {} (least recently seen first); --update has no rules for them unless the baseline has",
            s.edges.evicted, s.edges.cap
        );
    }
    crate::cli::inputs::print_rejections(&s.rejections);
}
