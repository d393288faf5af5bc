//! How big each request is and how many run at once: fixed by the user, or adapted to the
//! server while writing.
//!
//! The controller follows the additive-increase / multiplicative-decrease scheme of TCP and of
//! Vector's adaptive request concurrency, on two knobs:
//!
//! * **batch size** (items per request, one transaction): grows by
//!   [`AdaptiveSizing::batch_step`] after every request answered within
//!   [`AdaptiveSizing::latency_target`] without a back-off signal, shrinks by a quarter when a
//!   request took longer than the target, and halves on a back-off signal (a write conflict,
//!   throttling, a timeout). Larger requests cost the server less per item (one transaction,
//!   one traversal, each touched vertex updated once), up to the point where a request holds
//!   its vertices too long or risks the server's time and memory limits.
//! * **requests in flight**: once per decision window (the recent mean request time), the
//!   window's mean time per item is compared with its long-run average (an exponentially
//!   weighted mean and deviation); above `mean + 2.5 deviations`, or after a back-off signal,
//!   the limit is multiplied by 0.9 (down to [`AdaptiveSizing::min_in_flight`], 4 by
//!   default); otherwise, if the limit was reached during the window and its time per item
//!   was not above the mean, it grows by one (at most [`AdaptiveSizing::max_in_flight`]). More
//!   requests than the server has cores to run them only queue on the server: time per item
//!   then rises, and the limit comes back down.
//!
//! An explicit [`GremlinSinkConfig::batch_size`](crate::GremlinSinkConfig::batch_size) or
//! [`GremlinSinkConfig::in_flight`](crate::GremlinSinkConfig::in_flight) pins that knob; the other
//! still adapts. Every decision is kept (the last [`HISTORY_LIMIT`]) for charts and reports
//! ([`GremlinSink::sizing_history`](crate::GremlinSink::sizing_history)), and the current values
//! are `metrics` gauges ([`crate::metrics::BATCH_SIZE`], [`crate::metrics::IN_FLIGHT_LIMIT`]).

use crate::error::ConfigError;
use crate::GremlinSinkConfig;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Samples kept by [`GremlinSink::sizing_history`](crate::GremlinSink::sizing_history).
pub const HISTORY_LIMIT: usize = 20_000;

/// Bounds and steps of the adaptive controller: start at 1000 items per request and four
/// requests in flight, grow while the server answers quickly, shrink when it does not.
/// Neptune's upsert guide suggests starting from about 200 "records" per request (a follows
/// edge is three: its label and two properties); on Neptune set
/// [`initial_batch_size`](Self::initial_batch_size) near 100 if its first requests are slow.
///
/// ```
/// use neptune_batch::sizing::AdaptiveSizing;
///
/// let sizing = AdaptiveSizing::builder().initial_batch_size(100).max_in_flight(4).build()?;
/// assert_eq!((sizing.initial_batch_size, sizing.min_in_flight), (100, 4));
/// # Ok::<(), neptune_batch::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct AdaptiveSizing {
    /// The first batch size. Default 1000: started at 100, the controller spent the first
    /// seconds of a run growing it while requests were too small to keep the server busy;
    /// the first slow request shrinks it and the first conflict halves it.
    pub initial_batch_size: usize,
    /// The smallest batch size the controller goes down to. Default 10.
    pub min_batch_size: usize,
    /// The largest batch size it goes up to. Default 2000: beyond it a request gains nothing
    /// measurable and holds its vertices longer.
    pub max_batch_size: usize,
    /// Items added to the batch size after each quick request. Default 50.
    pub batch_step: usize,
    /// The fewest requests in flight it goes down to, and where it starts. Default 4: with
    /// fewer, the server waits for the client between requests (on the project's 2-core
    /// Gremlin Server, 4 in flight wrote power-law follows up to twice as fast as 2, at less
    /// server CPU per edge); requests in flight never touch the same vertex, so they cannot
    /// fail each other with write conflicts.
    pub min_in_flight: usize,
    /// The most requests in flight it goes up to. Default 8.
    pub max_in_flight: usize,
    /// A request slower than this shrinks the batch size. Default 1 s, well below Neptune's
    /// default query timeout (120 s) and short enough that a conflict costs little.
    pub latency_target: Duration,
}

impl Default for AdaptiveSizing {
    fn default() -> Self {
        Self {
            initial_batch_size: 1000,
            min_batch_size: 10,
            max_batch_size: 2000,
            batch_step: 50,
            min_in_flight: 4,
            max_in_flight: 8,
            latency_target: Duration::from_secs(1),
        }
    }
}

impl AdaptiveSizing {
    /// A builder from the defaults; [`build`](AdaptiveSizingBuilder::build) checks the bounds.
    pub fn builder() -> AdaptiveSizingBuilder {
        AdaptiveSizingBuilder {
            sizing: Self::default(),
        }
    }

    /// Checks the bounds; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let max = GremlinSinkConfig::MAX_BATCH_SIZE;
        let max_in_flight = GremlinSinkConfig::MAX_IN_FLIGHT;
        let bad = |field: &str, reason: String| Err(ConfigError::new(field, reason));
        if self.min_batch_size == 0 || self.min_batch_size > self.max_batch_size {
            return bad(
                "min_batch_size",
                "must be at least 1 and at most max_batch_size".into(),
            );
        }
        if self.max_batch_size > max {
            return bad("max_batch_size", format!("must be at most {max}"));
        }
        if !(self.min_batch_size..=self.max_batch_size).contains(&self.initial_batch_size) {
            return bad(
                "initial_batch_size",
                "must be between min_batch_size and max_batch_size".into(),
            );
        }
        if self.batch_step == 0 {
            return bad("batch_step", "must be at least 1".into());
        }
        if self.max_in_flight == 0 || self.max_in_flight > max_in_flight {
            return bad(
                "max_in_flight",
                format!("must be between 1 and {max_in_flight}"),
            );
        }
        if self.latency_target.is_zero() {
            return bad("latency_target", "must be positive".into());
        }
        Ok(())
    }
}

/// Builds an [`AdaptiveSizing`] from its defaults (see [`AdaptiveSizing::builder`]); each
/// setter documents its field.
#[derive(Debug, Clone)]
#[must_use]
pub struct AdaptiveSizingBuilder {
    sizing: AdaptiveSizing,
}

/// A builder that starts from `sizing`.
impl From<AdaptiveSizing> for AdaptiveSizingBuilder {
    fn from(sizing: AdaptiveSizing) -> Self {
        Self { sizing }
    }
}

impl AdaptiveSizingBuilder {
    /// [`AdaptiveSizing::initial_batch_size`].
    pub fn initial_batch_size(mut self, n: usize) -> Self {
        self.sizing.initial_batch_size = n;
        self
    }

    /// [`AdaptiveSizing::min_batch_size`].
    pub fn min_batch_size(mut self, n: usize) -> Self {
        self.sizing.min_batch_size = n;
        self
    }

    /// [`AdaptiveSizing::max_batch_size`].
    pub fn max_batch_size(mut self, n: usize) -> Self {
        self.sizing.max_batch_size = n;
        self
    }

    /// [`AdaptiveSizing::batch_step`].
    pub fn batch_step(mut self, n: usize) -> Self {
        self.sizing.batch_step = n;
        self
    }

    /// [`AdaptiveSizing::min_in_flight`].
    pub fn min_in_flight(mut self, n: usize) -> Self {
        self.sizing.min_in_flight = n;
        self
    }

    /// [`AdaptiveSizing::max_in_flight`].
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.sizing.max_in_flight = n;
        self
    }

    /// [`AdaptiveSizing::latency_target`].
    pub fn latency_target(mut self, target: Duration) -> Self {
        self.sizing.latency_target = target;
        self
    }

    /// The bounds, if they can work.
    pub fn build(self) -> Result<AdaptiveSizing, ConfigError> {
        self.sizing.validate()?;
        Ok(self.sizing)
    }

    /// The bounds as set, checked later by whoever embeds them.
    pub(crate) fn into_unchecked(self) -> AdaptiveSizing {
        self.sizing
    }
}

/// The values in force and whether each adapts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    /// Items per request.
    pub batch_size: usize,
    /// Requests in flight at once on the sink.
    pub in_flight: usize,
    /// Whether the batch size adapts (no explicit value was given).
    pub adaptive_batch_size: bool,
    /// Whether the number of requests in flight adapts.
    pub adaptive_in_flight: bool,
}

/// One decision of the controller, after a request was answered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizingSample {
    /// Time since the sink was created.
    pub at: Duration,
    /// The batch size decided.
    pub batch_size: usize,
    /// The limit of requests in flight decided.
    pub in_flight: usize,
    /// Items in the request that prompted the decision.
    pub items: usize,
    /// How long that request took (retries included).
    pub latency: Duration,
    /// Whether it met a back-off signal (conflict, throttling, timeout).
    pub backoff: bool,
}

/// What one finished request tells the controller.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Observation {
    pub items: usize,
    /// The batch size in force when the request was built.
    pub batch_size: usize,
    pub latency: Duration,
    /// Conflicts, throttling or timeouts met (then retried).
    pub backoff: bool,
}

/// The adaptive controller (or the fixed values).
#[derive(Debug)]
pub(crate) struct Controller {
    bounds: AdaptiveSizing,
    fixed_batch: Option<usize>,
    fixed_in_flight: Option<usize>,
    batch: f64,
    in_flight: f64,
    started: Instant,
    /// Long-run mean and mean deviation of seconds per item.
    mean: Option<f64>,
    deviation: f64,
    /// The current decision window.
    window_start: Instant,
    window_sum: f64,
    window_count: u32,
    window_backoff: bool,
    window_saturated: bool,
    /// Mean seconds per request, to size the window.
    request_mean: f64,
    history: VecDeque<SizingSample>,
}

/// A request with at least 4/5 of the batch size in force when it was built.
fn full(o: Observation) -> bool {
    o.items * 5 >= o.batch_size * 4
}

/// Weight of a new window in the long-run mean (Vector's default `ewma_alpha`).
const ALPHA: f64 = 0.4;
/// Deviations above the mean that count as the server queueing (Vector's default).
const DEVIATION_SCALE: f64 = 2.5;
/// Multiplier of the concurrency limit on a bad window (Vector's default).
const DECREASE_RATIO: f64 = 0.9;

impl Controller {
    pub(crate) fn new(
        bounds: AdaptiveSizing,
        fixed_batch: Option<usize>,
        fixed_in_flight: Option<usize>,
    ) -> Self {
        let now = Instant::now();
        let c = Self {
            bounds,
            fixed_batch,
            fixed_in_flight,
            batch: fixed_batch.unwrap_or(bounds.initial_batch_size) as f64,
            in_flight: fixed_in_flight.unwrap_or(bounds.min_in_flight) as f64,
            started: now,
            mean: None,
            deviation: 0.0,
            window_start: now,
            window_sum: 0.0,
            window_count: 0,
            window_backoff: false,
            window_saturated: false,
            request_mean: 0.0,
            history: VecDeque::new(),
        };
        c.publish();
        c
    }

    /// The values in force.
    pub(crate) fn sizing(&self) -> Sizing {
        Sizing {
            batch_size: self.batch_size(),
            in_flight: self.in_flight(),
            adaptive_batch_size: self.fixed_batch.is_none(),
            adaptive_in_flight: self.fixed_in_flight.is_none(),
        }
    }

    pub(crate) fn batch_size(&self) -> usize {
        self.fixed_batch.unwrap_or(self.batch.round() as usize)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.fixed_in_flight
            .unwrap_or(self.in_flight.floor() as usize)
    }

    /// Called when a request starts with `running` requests (itself included) in flight.
    pub(crate) fn started(&mut self, running: usize) {
        if running >= self.in_flight() {
            self.window_saturated = true;
        }
    }

    pub(crate) fn history(&self) -> Vec<SizingSample> {
        self.history.iter().copied().collect()
    }

    /// Adapts to one finished request.
    pub(crate) fn observe(&mut self, o: Observation) {
        let b = self.bounds;
        if self.fixed_batch.is_none() {
            if o.backoff {
                self.batch *= 0.5;
            } else if o.latency > b.latency_target {
                self.batch *= 0.75;
            } else if full(o) {
                // Only a request that was (nearly) full says the size could grow.
                self.batch += b.batch_step as f64;
            }
            self.batch = self
                .batch
                .clamp(b.min_batch_size as f64, b.max_batch_size as f64);
        }
        let secs = o.latency.as_secs_f64();
        self.request_mean = if self.request_mean == 0.0 {
            secs
        } else {
            self.request_mean * (1.0 - ALPHA) + secs * ALPHA
        };
        if o.items > 0 {
            self.window_sum += secs / o.items as f64;
            self.window_count += 1;
        }
        self.window_backoff |= o.backoff;
        let window_over = self.window_start.elapsed().as_secs_f64() >= self.request_mean;
        if self.fixed_in_flight.is_none() && (window_over || o.backoff) && self.window_count > 0 {
            let current = self.window_sum / f64::from(self.window_count);
            let queueing = match self.mean {
                Some(mean) => current > mean + DEVIATION_SCALE * self.deviation.max(mean * 0.05),
                None => false,
            };
            // Grow only while the time per item is not above its long-run mean: more
            // requests at once must not make each item slower.
            let steady = self.mean.is_none_or(|mean| current <= mean);
            if self.window_backoff || queueing {
                self.in_flight = (self.in_flight * DECREASE_RATIO).max(b.min_in_flight as f64);
            } else if self.window_saturated && steady {
                self.in_flight = (self.in_flight.floor() + 1.0).min(b.max_in_flight as f64);
            }
            let mean = self.mean.unwrap_or(current);
            self.deviation = self.deviation * (1.0 - ALPHA) + (current - mean).abs() * ALPHA;
            self.mean = Some(mean * (1.0 - ALPHA) + current * ALPHA);
            self.window_start = Instant::now();
            self.window_sum = 0.0;
            self.window_count = 0;
            self.window_backoff = false;
            self.window_saturated = false;
        }
        if self.history.len() == HISTORY_LIMIT {
            self.history.pop_front();
        }
        self.history.push_back(SizingSample {
            at: self.started.elapsed(),
            batch_size: self.batch_size(),
            in_flight: self.in_flight(),
            items: o.items,
            latency: o.latency,
            backoff: o.backoff,
        });
        self.publish();
    }

    fn publish(&self) {
        metrics::gauge!(crate::metrics::BATCH_SIZE).set(self.batch_size() as f64);
        metrics::gauge!(crate::metrics::IN_FLIGHT_LIMIT).set(self.in_flight() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(items: usize, ms: u64) -> Observation {
        Observation {
            items,
            batch_size: items,
            latency: Duration::from_millis(ms),
            backoff: false,
        }
    }

    /// Feeds `n` requests, each started with the limit reached, and waits out each window.
    fn feed(c: &mut Controller, n: usize, o: impl Fn(&Controller) -> Observation) {
        for _ in 0..n {
            let running = c.in_flight();
            c.started(running);
            let obs = o(c);
            c.window_start -= Duration::from_secs(10);
            c.observe(obs);
        }
    }

    #[test]
    fn quick_full_requests_grow_both_knobs_within_bounds() {
        let mut c = Controller::new(AdaptiveSizing::default(), None, None);
        assert_eq!((c.batch_size(), c.in_flight()), (1000, 4));
        feed(&mut c, 200, |c| ok(c.batch_size(), 20));
        let s = c.sizing();
        assert_eq!(s.batch_size, 2000, "up to max_batch_size");
        assert_eq!(s.in_flight, 8, "up to max_in_flight");
        assert!(s.adaptive_batch_size && s.adaptive_in_flight);
        assert_eq!(c.history().len(), 200);
    }

    #[test]
    fn a_conflict_halves_the_batch_and_cuts_the_concurrency() {
        let mut c = Controller::new(AdaptiveSizing::default(), None, None);
        feed(&mut c, 30, |c| ok(c.batch_size(), 20));
        let (batch, in_flight) = (c.batch_size(), c.in_flight());
        assert!(batch > 1000 && in_flight > 5, "{batch} {in_flight}");
        c.observe(Observation {
            items: batch,
            batch_size: batch,
            latency: Duration::from_millis(20),
            backoff: true,
        });
        assert_eq!(c.batch_size(), batch / 2);
        assert!(c.in_flight() < in_flight);
        assert!(c.history().last().unwrap().backoff);
    }

    #[test]
    fn slow_requests_shrink_the_batch_and_queueing_shrinks_the_concurrency() {
        let mut c = Controller::new(AdaptiveSizing::default(), None, None);
        feed(&mut c, 20, |c| ok(c.batch_size(), 20));
        let (batch, in_flight) = (c.batch_size(), c.in_flight());
        assert!(in_flight > 5);
        // Over the latency target: smaller requests (and, as the time per item rose, fewer).
        feed(&mut c, 1, |c| ok(c.batch_size(), 1500));
        assert!(c.batch_size() < batch);
        assert!(c.in_flight() < in_flight);
        // Within the target but the time per item far above the usual: the server queues.
        let mut c = Controller::new(AdaptiveSizing::default(), None, None);
        feed(&mut c, 20, |c| ok(c.batch_size(), 20));
        let before = c.in_flight();
        feed(&mut c, 2, |c| ok(c.batch_size(), 400));
        assert!(c.in_flight() < before, "{} < {before}", c.in_flight());
    }

    #[test]
    fn concurrency_grows_only_when_the_limit_was_reached() {
        let mut c = Controller::new(AdaptiveSizing::default(), None, None);
        for _ in 0..20 {
            c.started(0);
            c.window_start -= Duration::from_secs(10);
            c.observe(ok(c.batch_size(), 20));
        }
        assert_eq!(c.in_flight(), 4, "where it started");
    }

    #[test]
    fn a_request_that_was_not_full_does_not_grow_the_batch() {
        let mut c = Controller::new(AdaptiveSizing::default(), None, None);
        feed(&mut c, 5, |c| Observation {
            items: c.batch_size() / 5,
            batch_size: c.batch_size(),
            latency: Duration::from_millis(5),
            backoff: false,
        });
        assert_eq!(c.batch_size(), 1000);
    }

    #[test]
    fn explicit_values_win_over_adaptation() {
        let mut c = Controller::new(AdaptiveSizing::default(), Some(250), Some(3));
        feed(&mut c, 50, |c| ok(c.batch_size(), 5));
        c.observe(Observation {
            items: 250,
            batch_size: 250,
            latency: Duration::from_secs(5),
            backoff: true,
        });
        let s = c.sizing();
        assert_eq!((s.batch_size, s.in_flight), (250, 3));
        assert!(!s.adaptive_batch_size && !s.adaptive_in_flight);
        // One pinned, the other adapts.
        let mut c = Controller::new(AdaptiveSizing::default(), Some(500), None);
        feed(&mut c, 10, |c| ok(c.batch_size(), 5));
        assert_eq!(c.batch_size(), 500);
        assert!(c.in_flight() > 4);
    }

    #[test]
    fn bounds_are_validated_by_name() {
        let bad = AdaptiveSizing::builder().min_batch_size(0).build();
        assert_eq!(bad.unwrap_err().field(), "min_batch_size");
        let bad = AdaptiveSizing::builder().initial_batch_size(5000).build();
        assert_eq!(bad.unwrap_err().field(), "initial_batch_size");
        assert!(AdaptiveSizing::default().validate().is_ok());
    }
}
