//! Bounded retries with capped exponential back-off and full jitter: one policy type for the
//! sink's requests, the vertex loader's batches and the bulk-loader client's HTTP calls. The
//! delays come from `stream2neptune-backoff`, shared by the workspace's crates.

use std::time::Duration;
use stream2neptune_common::Backoff as FullJitter;

/// How transient errors are retried (each user documents its own defaults; these are the
/// sink's). The delay before retry `n` (from 0) is drawn uniformly
/// from `[0, min(max_delay, base_delay * 2^n)]` ("full jitter"), so that writers that failed
/// together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt. Default 5, the original's intended bound.
    pub max_retries: u32,
    /// The first back-off ceiling. Default 500 ms, the original's base delay.
    pub base_delay: Duration,
    /// The largest back-off ceiling. Default 8 s.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The ceiling of the delay before retry `retry` (0-based).
    pub fn ceiling(&self, retry: u32) -> Duration {
        self.jitter().ceiling(retry)
    }

    /// A random delay in `[0, ceiling(retry)]` (`retry` 0-based).
    pub fn delay(&self, retry: u32) -> Duration {
        self.jitter().delay(retry)
    }

    fn jitter(&self) -> FullJitter {
        FullJitter::new(self.base_delay, self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(0), Duration::from_millis(500));
        assert_eq!(p.ceiling(1), Duration::from_millis(1000));
        assert_eq!(p.ceiling(3), Duration::from_millis(4000));
        assert_eq!(p.ceiling(4), Duration::from_secs(8));
        assert_eq!(p.ceiling(40), Duration::from_secs(8));
    }

    #[test]
    fn every_delay_is_within_its_ceiling() {
        let p = RetryPolicy::default();
        for n in 0..8 {
            assert!(p.delay(n) <= p.ceiling(n));
        }
    }
}
