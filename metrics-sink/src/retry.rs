//! Bounded exponential back-off with full jitter. The delays come from
//! `stream2neptune-backoff`, shared by the workspace's crates.

use std::time::Duration;
use stream2neptune_common::Backoff as FullJitter;

/// How often and how patiently a failed request is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Ceiling of the first retry's delay.
    pub base_delay: Duration,
    /// Ceiling of any delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1 for the first): uniform in
    /// `[0, min(max_delay, base_delay * 2^(retry-1))]` ("full jitter", so many clients that
    /// failed together do not retry together).
    pub fn delay(&self, retry: u32) -> Duration {
        FullJitter::new(self.base_delay, self.max_delay).delay(retry.saturating_sub(1))
    }

    /// Checks that the delays make sense and the retries are bounded sensibly.
    pub fn validate(&self) -> Result<(), String> {
        if self.base_delay > self.max_delay {
            return Err("base_delay must not exceed max_delay".into());
        }
        if self.max_retries > 20 {
            return Err(format!("max_retries {} exceeds 20", self.max_retries));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_up_to_the_ceiling_and_are_jittered() {
        let p = RetryPolicy {
            max_retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1_000),
        };
        for retry in 1..=10 {
            let ceiling = Duration::from_millis((100u64 << (retry - 1)).min(1_000));
            let delays: Vec<_> = (0..200).map(|_| p.delay(retry)).collect();
            assert!(delays.iter().all(|d| *d <= ceiling), "retry {retry}");
            assert!(delays.iter().any(|d| *d < ceiling / 2), "jittered");
            assert!(
                delays.iter().any(|d| *d > ceiling / 2),
                "spread to the ceiling"
            );
        }
    }
}
