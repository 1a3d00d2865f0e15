//! [`Backoff`]: reconnect delays for the follow loop, doubling from
//! `initial` up to `max`, each drawn uniformly from the upper half of the
//! step ("equal jitter") so many clients do not reconnect in lockstep.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with jitter. Default: 0.5 s doubling to 30 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Step of the first retry.
    pub initial: Duration,
    /// Largest step.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The undithered step before retry number `attempt` (1-based):
    /// `initial * 2^(attempt-1)`, capped at `max`.
    pub fn step(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// The delay before retry `attempt`: uniform in `[step/2, step]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let step = self.step(attempt);
        step.mul_f64(rand::rng().random_range(0.5..=1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_with_jitter_in_range() {
        let b = Backoff::default();
        assert_eq!(b.step(1), Duration::from_millis(500));
        assert_eq!(b.step(2), Duration::from_secs(1));
        assert_eq!(b.step(7), Duration::from_secs(30));
        assert_eq!(b.step(u32::MAX), Duration::from_secs(30));
        for attempt in 1..10 {
            let d = b.delay(attempt);
            assert!(d >= b.step(attempt) / 2 && d <= b.step(attempt), "{d:?}");
        }
    }
}
