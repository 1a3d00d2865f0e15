//! Stage timestamps for whoever measures: with `FLOWPOLICY_TIMINGS` set in
//! the environment, each [`mark`] prints one line on stderr — milliseconds
//! since the first mark, the thread, the stage just done — so the time a
//! command spends in each stage can be read off a real run (see
//! docs/performance.md). Unset, a mark costs one atomic load.

use std::sync::OnceLock;
use std::time::Instant;

/// When the first mark was made, if timings are on.
fn start() -> Option<Instant> {
    static START: OnceLock<Option<Instant>> = OnceLock::new();
    *START.get_or_init(|| std::env::var_os("FLOWPOLICY_TIMINGS").map(|_| Instant::now()))
}

/// Notes that `stage` is done (nothing unless `FLOWPOLICY_TIMINGS` is set).
pub fn mark(stage: &str) {
    if let Some(start) = start() {
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let thread = std::thread::current();
        eprintln!(
            "timings: {ms:9.2} ms [{}] {stage}",
            thread.name().unwrap_or("-")
        );
    }
}
