//! Capped exponential backoff with full jitter, bounded or not.
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
//! left is the type below, which every crate uses as it is, with its own defaults.

use rand::Rng;
use std::time::Duration;

/// Exponential backoff from a base delay, capped, with full jitter, and an optional bound on
/// the number of retries.
///
/// ```
/// use std::time::Duration;
/// use stream2neptune_common::Backoff;
///
/// let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(8)).with_max_retries(5);
/// assert_eq!(backoff.ceiling(0), Duration::from_millis(500));
/// assert_eq!(backoff.ceiling(4), Duration::from_secs(8)); // capped
/// assert!(backoff.next_delay(4).is_some());
/// assert_eq!(backoff.next_delay(5), None); // the five retries are used up
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    max_retries: Option<u32>,
}

/// Why a [`Backoff`] is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackoffError {
    /// The base is longer than the cap, so the delays never grow.
    #[error("the base delay {base:?} exceeds the cap {cap:?}")]
    BaseOverCap {
        /// The base delay.
        base: Duration,
        /// The cap.
        cap: Duration,
    },
    /// More retries than the caller allows.
    #[error("{retries} retries exceed the limit of {limit}")]
    TooManyRetries {
        /// The retries asked for.
        retries: u32,
        /// The most the caller allows.
        limit: u32,
    },
}

impl Backoff {
    /// Backoff whose first ceiling is `base`, doubling at each retry up to `cap`, retrying
    /// without a bound.
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            max_retries: None,
        }
    }

    /// The same backoff, giving up after `max_retries` retries.
    pub const fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = Some(max_retries);
        self
    }

    /// The same backoff, without a bound on the retries.
    pub const fn unbounded(mut self) -> Self {
        self.max_retries = None;
        self
    }

    /// The ceiling of the first delay.
    pub const fn base(&self) -> Duration {
        self.base
    }

    /// The largest ceiling any delay may have.
    pub const fn cap(&self) -> Duration {
        self.cap
    }

    /// Retries allowed after the first attempt (`None`: no bound).
    pub const fn max_retries(&self) -> Option<u32> {
        self.max_retries
    }

    /// Checks that the base is at most the cap and that the retries are at most `limit`.
    pub fn validate(&self, limit: u32) -> Result<(), BackoffError> {
        if self.base > self.cap {
            return Err(BackoffError::BaseOverCap {
                base: self.base,
                cap: self.cap,
            });
        }
        match self.max_retries {
            Some(retries) if retries > limit => {
                Err(BackoffError::TooManyRetries { retries, limit })
            }
            _ => Ok(()),
        }
    }

    /// The ceiling of the delay before retry `retry` (from 0): `min(cap, base × 2^retry)`,
    /// saturating instead of overflowing for any `retry`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A delay before retry `retry` (from 0), drawn uniformly from `[0, ceiling(retry)]`,
    /// whatever the bound on retries.
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

    /// The delay before retry `retry` (from 0), or `None` when the retries are used up.
    pub fn next_delay(&self, retry: u32) -> Option<Duration> {
        self.allows(retry).then(|| self.delay(retry))
    }

    /// Whether retry `retry` (from 0) is within the bound.
    pub fn allows(&self, retry: u32) -> bool {
        self.max_retries.is_none_or(|max| retry < max)
    }

    /// The ceiling of a wait that doubles from the base with each `step` (from 0) without
    /// jitter: for pacing that should not be random, such as the gap between empty polls.
    pub fn pace(&self, step: u32) -> Duration {
        self.ceiling(step).max(self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_ceiling_doubles_from_the_base_and_stops_at_the_cap() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let ceilings: Vec<_> = (0..6).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn huge_retry_numbers_and_long_bases_saturate_at_the_cap() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        assert_eq!(b.ceiling(200), Duration::from_secs(30));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(30));
        let huge = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(huge.ceiling(40), Duration::MAX);
        assert!(huge.delay(40) <= Duration::MAX);
    }

    #[test]
    fn delays_spread_over_the_whole_range_under_the_ceiling() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1_000));
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
        let b = Backoff::new(Duration::ZERO, Duration::from_secs(1));
        assert_eq!(b.delay(5), Duration::ZERO);
    }

    #[test]
    fn a_bound_stops_the_retries_and_no_bound_never_does() {
        let bounded =
            Backoff::new(Duration::from_millis(1), Duration::from_millis(8)).with_max_retries(3);
        assert!((0..3).all(|n| bounded.next_delay(n).is_some()));
        assert_eq!(bounded.next_delay(3), None);
        assert_eq!(bounded.max_retries(), Some(3));
        let unbounded = bounded.unbounded();
        assert!(unbounded.next_delay(u32::MAX - 1).is_some());
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let b = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        assert!(matches!(
            b.validate(10),
            Err(BackoffError::BaseOverCap { .. })
        ));
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(2)).with_max_retries(30);
        assert_eq!(
            b.validate(20),
            Err(BackoffError::TooManyRetries {
                retries: 30,
                limit: 20
            })
        );
        assert!(b.validate(30).is_ok());
    }

    #[test]
    fn pacing_doubles_without_jitter_and_never_drops_below_the_base() {
        let b = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
        let paces: Vec<_> = (0..6).map(|n| b.pace(n).as_millis()).collect();
        assert_eq!(paces, vec![200, 400, 800, 1600, 2000, 2000]);
    }
}
