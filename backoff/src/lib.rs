//! Capped exponential backoff with full jitter.
//!
//! The delay before retry `n` (counted from 0) is drawn uniformly from
//! `[0, min(cap, base × 2ⁿ)]`. This is the "full jitter" of the AWS Architecture Blog's
//! *Exponential Backoff And Jitter*: of the usual schemes it spreads clients that failed together
//! the most, and with the cap no delay is ever longer than the caller allows.
//!
//! # Why it is written here
//!
//! The retry crates checked do not draw this delay: `backon` 1.6 adds a random part of
//! `[0, d)` to the delay `d` (so its delays lie between `d` and `2d`, up to twice over the
//! cap); `exponential-backoff` 2.1 moves `d` by ±30 %; `tokio-retry2` 0.9 multiplies it by
//! `[0.5, 1.5)`. Each also brings a retry loop of its own, while every retry loop of the
//! workspace's crates also classifies errors, counts metrics and watches for shutdown. What is
//! left is the two functions below, so they live in one small crate that the four libraries
//! share, instead of being written four times.
//!
//! ```
//! use std::time::Duration;
//! use stream2neptune_backoff::FullJitter;
//!
//! let backoff = FullJitter::new(Duration::from_millis(500), Duration::from_secs(8));
//! for retry in 0..5 {
//!     let delay = backoff.delay(retry);
//!     assert!(delay <= backoff.ceiling(retry));
//!     // tokio::time::sleep(delay).await; then try again
//! }
//! assert_eq!(backoff.ceiling(4), Duration::from_secs(8));
//! ```
#![warn(missing_docs)]

use rand::Rng;
use std::time::Duration;

/// Exponential backoff from `base`, capped at `cap`, with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FullJitter {
    base: Duration,
    cap: Duration,
}

impl FullJitter {
    /// Backoff whose first ceiling is `base`, doubling at each retry up to `cap`.
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap }
    }

    /// The ceiling of the first delay.
    pub const fn base(&self) -> Duration {
        self.base
    }

    /// The largest ceiling any delay may have.
    pub const fn cap(&self) -> Duration {
        self.cap
    }

    /// The ceiling of the delay before retry `retry` (from 0): `min(cap, base × 2^retry)`,
    /// saturating instead of overflowing for any `retry`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A delay before retry `retry` (from 0), drawn uniformly from `[0, ceiling(retry)]`.
    pub fn delay(&self, retry: u32) -> Duration {
        self.delay_with(retry, &mut rand::rng())
    }

    /// [`delay`](Self::delay) with the random numbers of `rng` (a seeded one for
    /// reproducible runs).
    pub fn delay_with<R: Rng + ?Sized>(&self, retry: u32, rng: &mut R) -> Duration {
        let ceiling = self.ceiling(retry);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_ceiling_doubles_from_the_base_and_stops_at_the_cap() {
        let b = FullJitter::new(Duration::from_millis(100), Duration::from_secs(1));
        let ceilings: Vec<_> = (0..6).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn huge_retry_numbers_and_long_bases_saturate_at_the_cap() {
        let b = FullJitter::new(Duration::from_secs(1), Duration::from_secs(30));
        assert_eq!(b.ceiling(200), Duration::from_secs(30));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(30));
        let huge = FullJitter::new(Duration::MAX, Duration::MAX);
        assert_eq!(huge.ceiling(40), Duration::MAX);
        assert!(huge.delay(40) <= Duration::MAX);
    }

    #[test]
    fn delays_spread_over_the_whole_range_under_the_ceiling() {
        let b = FullJitter::new(Duration::from_millis(100), Duration::from_millis(1_000));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for retry in 0..10 {
            let ceiling = b.ceiling(retry);
            let delays: Vec<_> = (0..200).map(|_| b.delay_with(retry, &mut rng)).collect();
            assert!(delays.iter().all(|d| *d <= ceiling), "retry {retry}");
            assert!(
                delays.iter().any(|d| *d < ceiling / 4),
                "retry {retry}: low"
            );
            assert!(
                delays.iter().any(|d| *d > ceiling * 3 / 4),
                "retry {retry}: high"
            );
        }
    }

    #[test]
    fn a_zero_base_never_waits() {
        let b = FullJitter::new(Duration::ZERO, Duration::from_secs(1));
        assert_eq!(b.delay(5), Duration::ZERO);
    }
}
