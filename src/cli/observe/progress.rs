//! What `observe` shows while it runs: an indicatif line on a terminal
//! (elapsed / remaining, flows/s, flows, workloads, edges, lost events,
//! reconnects), plain log lines at every checkpoint otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::duration::human;

/// Numbers shown in a progress update.
#[derive(Debug, Clone, Copy, Default)]
pub struct Numbers {
    pub elapsed: Duration,
    pub remaining: Option<Duration>,
    /// Flows received in this run.
    pub flows: u64,
    pub workloads: usize,
    pub edges: usize,
    pub lost: u64,
    pub reconnects: u64,
}

/// The display: a bar on a terminal, log lines otherwise.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Flows and time at the previous rate sample.
    last: (u64, Instant),
    /// Appended to the line (the fan-out's nodes).
    pub extra: String,
}

impl Progress {
    pub fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            last: (0, Instant::now()),
            extra: String::new(),
        }
    }

    /// Prints a line above the bar (or plainly).
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Refreshes the bar (terminal only).
    pub fn refresh(&mut self, n: Numbers) {
        if self.bar.is_some() {
            let line = self.line(n);
            if let Some(bar) = &self.bar {
                bar.set_message(line);
            }
        }
    }

    /// A log line (not on a terminal, where the bar shows the same).
    pub fn log(&mut self, n: Numbers) {
        if self.bar.is_none() {
            let line = self.line(n);
            eprintln!("{line}");
        }
    }

    fn line(&mut self, n: Numbers) -> String {
        let now = Instant::now();
        let dt = now.duration_since(self.last.1).as_secs_f64();
        let rate = if dt > 0.0 {
            n.flows.saturating_sub(self.last.0) as f64 / dt
        } else {
            0.0
        };
        self.last = (n.flows, now);
        let remaining = n
            .remaining
            .map(|r| format!(", {} remaining", human(r)))
            .unwrap_or_default();
        format!(
            "observe: {} elapsed{remaining} | {rate:.1} flows/s | {} flows, {} workloads, {} edges | {} lost events | {} reconnects{}",
            human(n.elapsed),
            n.flows,
            n.workloads,
            n.edges,
            n.lost,
            n.reconnects,
            self.extra
        )
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
