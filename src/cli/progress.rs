//! Progress while reading inputs, on a terminal only: a bar of the bytes read
//! of the total input size (the compressed position for .gz/.zst, counted
//! before the decoder), with rate and ETA; a byte-counting spinner when an
//! input is stdin (no total). The readers only bump an atomic counter; a
//! timer thread moves the bar, so the per-line path never touches it. Off a
//! terminal (tests, CI logs) nothing is drawn.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// How often the bar is moved to the counter.
const TICK: Duration = Duration::from_millis(150);

/// A running progress display (or nothing, off a terminal).
pub struct ReadProgress {
    consumed: Arc<AtomicU64>,
    bar: Option<ProgressBar>,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

/// The total size of the inputs; `None` when one is stdin or has no size.
pub fn total_size(inputs: &[PathBuf]) -> Option<u64> {
    inputs.iter().try_fold(0u64, |sum, p| {
        if p.as_os_str() == "-" {
            return None;
        }
        let meta = std::fs::metadata(p).ok()?;
        meta.is_file().then(|| sum + meta.len())
    })
}

impl ReadProgress {
    /// Starts a bar (or spinner) for reading `inputs`, when stderr is a terminal.
    pub fn start(inputs: &[PathBuf]) -> ReadProgress {
        let show = std::io::stderr().is_terminal();
        Self::new(inputs, show)
    }

    fn new(inputs: &[PathBuf], show: bool) -> ReadProgress {
        let consumed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        if !show {
            return ReadProgress {
                consumed,
                bar: None,
                stop,
                ticker: None,
            };
        }
        let bar = match total_size(inputs) {
            Some(total) => {
                let b = ProgressBar::new(total);
                b.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                b
            }
            None => {
                let b = ProgressBar::new_spinner();
                b.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {bytes} read {binary_bytes_per_sec} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b
            }
        };
        bar.set_message("reading flows");
        let ticker = {
            let (bar, consumed, stop) = (bar.clone(), consumed.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    bar.set_position(consumed.load(Ordering::Relaxed));
                    std::thread::sleep(TICK);
                }
            })
        };
        ReadProgress {
            consumed,
            bar: Some(bar),
            stop,
            ticker: Some(ticker),
        }
    }

    /// The counter the input readers add their raw bytes to.
    pub fn counter(&self) -> Arc<AtomicU64> {
        self.consumed.clone()
    }

    /// Raw bytes read so far.
    pub fn consumed(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    /// Whether anything is drawn (cheap check before formatting a message).
    pub fn is_shown(&self) -> bool {
        self.bar.is_some()
    }

    /// Sets the text after the bar (flows and edges so far).
    pub fn message(&self, text: String) {
        if let Some(b) = &self.bar {
            b.set_message(text);
        }
    }

    /// Stops the ticker and clears the bar.
    pub fn finish(mut self) {
        self.stop_ticker();
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    fn stop_ticker(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ReadProgress {
    fn drop(&mut self) {
        self.stop_ticker();
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_is_the_sum_of_file_sizes_and_unknown_for_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, [0u8; 10]).unwrap();
        std::fs::write(&b, [0u8; 32]).unwrap();
        assert_eq!(total_size(&[a.clone(), b]), Some(42));
        assert_eq!(total_size(&[a, PathBuf::from("-")]), None);
    }

    #[test]
    fn compressed_bytes_are_counted_before_the_decoder() {
        let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.jsonpb.zst");
        let size = std::fs::metadata(&demo).unwrap().len();
        let p = ReadProgress::new(std::slice::from_ref(&demo), true);
        let mut r = crate::source::dump::open_input_counted(&demo, Some(p.counter())).unwrap();
        let mut decompressed = 0u64;
        loop {
            let n = {
                let buf = std::io::BufRead::fill_buf(&mut r).unwrap();
                buf.len()
            };
            if n == 0 {
                break;
            }
            std::io::BufRead::consume(&mut r, n);
            decompressed += n as u64;
        }
        assert_eq!(p.consumed(), size, "position ends at the compressed size");
        assert!(decompressed > size * 3);
        p.finish();
    }
}
