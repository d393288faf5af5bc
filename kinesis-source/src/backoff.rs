//! Bounded exponential backoff with full jitter.
//!
//! The delays come from `stream2neptune-backoff`, shared by the workspace's crates (its
//! documentation says why no retry crate served); this type adds the bound on retries and this
//! crate's defaults.

use std::time::Duration;
use stream2neptune_common::Backoff as FullJitter;

/// How long to wait before each retry, and how many retries there may be.
///
/// The delay before retry `n` (0-based) is drawn uniformly from `[0, min(max, base × 2ⁿ)]`
/// ("full jitter"), which spreads competing clients out instead of letting them retry in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first delay.
    pub base: Duration,
    /// The largest ceiling any delay may have.
    pub max: Duration,
    /// How many retries are allowed after the first attempt.
    pub max_retries: u32,
}

impl Backoff {
    /// A policy of `max_retries` retries, delays capped by `base × 2ⁿ` and `max`.
    pub const fn new(base: Duration, max: Duration, max_retries: u32) -> Self {
        Self {
            base,
            max,
            max_retries,
        }
    }

    /// The ceiling of the delay before retry `retry` (0-based).
    pub fn ceiling(&self, retry: u32) -> Duration {
        self.jitter().ceiling(retry)
    }

    /// A jittered delay before retry `retry` (0-based), or `None` when the retries are used up.
    pub fn delay(&self, retry: u32) -> Option<Duration> {
        (retry < self.max_retries).then(|| self.jitter().delay(retry))
    }

    fn jitter(&self) -> FullJitter {
        FullJitter::new(self.base, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_a_doubling_ceiling_capped_by_max_and_stop_at_the_bound() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1), 6);
        let ceilings: Vec<_> = (0..6).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
        for n in 0..6 {
            for _ in 0..50 {
                assert!(b.delay(n).unwrap() <= b.ceiling(n));
            }
        }
        assert_eq!(b.delay(6), None);
        // A huge retry number saturates instead of overflowing.
        assert_eq!(
            Backoff::new(Duration::from_secs(1), Duration::from_secs(30), u32::MAX).ceiling(200),
            Duration::from_secs(30)
        );
    }
}
