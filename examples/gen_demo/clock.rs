//! Simulated time: the capture window, nanosecond units, typical round-trip times, Hubble
//! timestamps, and helpers that place events in the window.

use pbjson_types::Timestamp;

use super::rng::SplitMix64;

/// 2026-11-20T00:00:00Z, the fixed start of the simulated capture.
pub(crate) const START_UNIX_SECS: u64 = 1_795_132_800;
/// Six simulated hours.
pub(crate) const DURATION_NS: u64 = 6 * 3600 * NS_PER_SEC;
pub(crate) const NS_PER_SEC: u64 = 1_000_000_000;
pub(crate) const NS_PER_MS: u64 = 1_000_000;
pub(crate) const NS_PER_US: u64 = 1_000;

/// Round-trip times.
pub(crate) const RTT_CLUSTER: u64 = 400 * NS_PER_US;
pub(crate) const RTT_WORLD: u64 = 25 * NS_PER_MS;

pub(crate) fn timestamp(offset_ns: u64) -> Timestamp {
    Timestamp {
        seconds: (START_UNIX_SECS + offset_ns / NS_PER_SEC) as i64,
        nanos: (offset_ns % NS_PER_SEC) as i32,
    }
}

/// Spread `count` start times over the capture window with jitter.
pub(crate) fn spread(rng: &mut SplitMix64, count: u64) -> Vec<u64> {
    let slot = DURATION_NS / count.max(1);
    (0..count)
        .map(|i| i * slot + rng.below(slot.saturating_sub(2 * NS_PER_SEC)) + NS_PER_SEC)
        .collect()
}

/// Periodic times (e.g. probes, scrapes) with a per-target phase.
pub(crate) fn periodic(rng: &mut SplitMix64, period: u64) -> Vec<u64> {
    let phase = rng.below(period);
    (0..)
        .map(|i| phase + i * period)
        .take_while(|t| *t < DURATION_NS - NS_PER_SEC)
        .collect()
}
