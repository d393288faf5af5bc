//! Settings of the pipeline, with the original's defaults, checked against what the services
//! accept.

use std::time::Duration;
use stream2neptune_common::{Backoff, ConfigError};

/// How a shard is held while its writes fail for transient reasons (the graph unreachable,
/// timing out, throttling, read-only during a failover, in conflict).
///
/// A held shard is not acknowledged past the failing records, so its checkpoint does not move
/// and nothing after them is written (per-shard order is kept); other shards go on as far as
/// the graph lets them. The records are tried again after a capped exponential back-off with
/// full jitter, **without a limit** (as an event source mapping with
/// `MaximumRetryAttempts = -1`): a transient failure never turns a good record into a dead
/// letter. While held, the sink is [probed](neptune_batch::GraphSink::probe) every
/// `probe_interval`, and a probe that succeeds after failing ones ends the wait at once, so
/// the shard resumes within about a second of the graph answering again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HoldPolicy {
    /// The back-off between attempts of a held write. Default 200 ms doubling to 5 s, without
    /// a bound on attempts (a bound set here is not used: a hold ends only when the write goes
    /// through, the record expires, or the pipeline stops).
    pub backoff: Backoff,
    /// How often the sink is probed while held. Default 500 ms.
    pub probe_interval: Duration,
    /// Like an event source mapping's `MaximumRecordAgeInSeconds`: a record older than this
    /// (from its arrival in the stream) whose write fails for a transient reason becomes a
    /// dead letter with the reason `expired after N s of transient failures: <last error>`.
    /// A record whose write may have been committed (an answer was lost:
    /// [`ItemFailure::Unconfirmed`](neptune_batch::ItemFailure::Unconfirmed)) is not expired:
    /// it is held until the graph answers and the write says whether it is there, so no record
    /// ends both in the graph and in the dead letters. Default `None`: records are held as
    /// long as it takes. At most 7 days (604 800 s).
    pub max_record_age: Option<Duration>,
}

impl Default for HoldPolicy {
    fn default() -> Self {
        Self {
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(5)),
            probe_interval: Duration::from_millis(500),
            max_record_age: None,
        }
    }
}

impl HoldPolicy {
    /// The largest `max_record_age` (an event source mapping's limit, 7 days).
    pub const MAX_RECORD_AGE: Duration = Duration::from_secs(604_800);

    /// Checks every field; the error names it (under `hold.`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.backoff.base().is_zero() || self.backoff.base() > self.backoff.cap() {
            return Err(ConfigError::new(
                "hold.backoff",
                "the base delay must be positive and at most the cap",
            ));
        }
        if self.probe_interval.is_zero() {
            return Err(ConfigError::new("hold.probe_interval", "must be positive"));
        }
        if let Some(age) = self.max_record_age {
            if age < Duration::from_secs(1) || age > Self::MAX_RECORD_AGE {
                return Err(ConfigError::new(
                    "hold.max_record_age",
                    format!("{age:?} is outside 1 s..=604800 s"),
                ));
            }
        }
        Ok(())
    }
}

/// Settings of a [`Pipeline`](crate::Pipeline); built with [`PipelineConfig::builder`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PipelineConfig {
    /// Batches of one shard processed at once, like an event source mapping's
    /// `ParallelizationFactor` (1 to 10). Default 1. Records are dealt to that many lanes by
    /// partition key, each lane in shard order, so records of one key are never written out of
    /// order; checkpoints still cover only the acknowledged prefix of the shard.
    ///
    /// The default is 1 because more lanes wrote no faster where it was measured (the
    /// `neptune_write` bench's headline data, a local Gremlin Server, 2 shards: 16 444, 16 468
    /// and 16 284 edges/s with 1, 2 and 4 lanes, medians of 3 rounds) while sending 27 to 61 %
    /// more, smaller requests: a shard's reader already runs ahead of its writes, and the
    /// [`GremlinSink`](neptune_batch::GremlinSink) keeps several requests in flight across
    /// shards. Raise it when one shard's records take longer to write than to read and the
    /// graph has room, for example a distant endpoint with a long time per request.
    pub parallelization_factor: usize,
    /// Percentage of write calls failed on purpose before they are sent (the original's
    /// `percent_error`, default 0): they are held and written again, showing that nothing is
    /// lost.
    pub percent_error: u8,
    /// How transient failures hold a shard.
    pub hold: HoldPolicy,
    /// How often acknowledged progress is written to the checkpoint store. Default 1 s.
    pub checkpoint_interval: Duration,
    /// The `clusterId` dimension of the published metrics. Default `local`.
    pub cluster_id: String,
    /// How long [`Pipeline::run`](crate::Pipeline::run) waits for in-flight batches on the
    /// way out. Default 30 s; what is not done by then is read again on the next start.
    pub drain_timeout: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            parallelization_factor: 1,
            percent_error: 0,
            hold: HoldPolicy::default(),
            checkpoint_interval: Duration::from_secs(1),
            cluster_id: "local".into(),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

impl PipelineConfig {
    /// The largest parallelization factor (an event source mapping's limit).
    pub const MAX_PARALLELIZATION_FACTOR: usize = 10;

    /// A builder starting from the defaults.
    pub fn builder() -> PipelineConfigBuilder {
        PipelineConfigBuilder::default()
    }

    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=Self::MAX_PARALLELIZATION_FACTOR).contains(&self.parallelization_factor) {
            return Err(ConfigError::new(
                "parallelization_factor",
                format!(
                    "{} is outside 1..={}",
                    self.parallelization_factor,
                    Self::MAX_PARALLELIZATION_FACTOR
                ),
            ));
        }
        if self.percent_error > 99 {
            return Err(ConfigError::new(
                "percent_error",
                format!("{} is outside 0..=99", self.percent_error),
            ));
        }
        self.hold.validate()?;
        if self.checkpoint_interval.is_zero() {
            return Err(ConfigError::new("checkpoint_interval", "must be positive"));
        }
        if self.cluster_id.is_empty() {
            return Err(ConfigError::new("cluster_id", "must not be empty"));
        }
        Ok(())
    }
}

/// Builds a [`PipelineConfig`]; [`build`](Self::build) validates it.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfigBuilder {
    config: PipelineConfig,
}

impl PipelineConfigBuilder {
    /// See [`PipelineConfig::parallelization_factor`].
    pub fn parallelization_factor(mut self, lanes: usize) -> Self {
        self.config.parallelization_factor = lanes;
        self
    }

    /// See [`PipelineConfig::percent_error`].
    pub fn percent_error(mut self, percent: u8) -> Self {
        self.config.percent_error = percent;
        self
    }

    /// See [`HoldPolicy::backoff`].
    pub fn hold_backoff(mut self, backoff: Backoff) -> Self {
        self.config.hold.backoff = backoff;
        self
    }

    /// See [`HoldPolicy::probe_interval`].
    pub fn hold_probe_interval(mut self, interval: Duration) -> Self {
        self.config.hold.probe_interval = interval;
        self
    }

    /// See [`HoldPolicy::max_record_age`].
    pub fn max_record_age(mut self, age: Option<Duration>) -> Self {
        self.config.hold.max_record_age = age;
        self
    }

    /// See [`PipelineConfig::checkpoint_interval`].
    pub fn checkpoint_interval(mut self, interval: Duration) -> Self {
        self.config.checkpoint_interval = interval;
        self
    }

    /// See [`PipelineConfig::cluster_id`].
    pub fn cluster_id(mut self, cluster_id: impl Into<String>) -> Self {
        self.config.cluster_id = cluster_id.into();
        self
    }

    /// See [`PipelineConfig::drain_timeout`].
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.config.drain_timeout = timeout;
        self
    }

    /// Checks every field and returns the configuration.
    pub fn build(self) -> Result<PipelineConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stream2neptune_common::{Classify, ErrorKind};

    #[test]
    fn the_defaults_are_valid_and_hold_without_limit() {
        let c = PipelineConfig::builder().build().unwrap();
        assert_eq!(c.hold.max_record_age, None);
        assert_eq!(c.hold.backoff.max_retries(), None);
        assert_eq!(c.parallelization_factor, 1);
        assert_eq!(c.hold.backoff.ceiling(0), Duration::from_millis(200));
        assert_eq!(c.hold.backoff.ceiling(30), Duration::from_secs(5));
    }

    #[test]
    fn out_of_range_fields_are_named() {
        let field = |b: PipelineConfigBuilder| b.build().unwrap_err().field;
        assert_eq!(
            field(PipelineConfig::builder().parallelization_factor(11)),
            "parallelization_factor"
        );
        assert_eq!(
            field(PipelineConfig::builder().max_record_age(Some(Duration::from_secs(700_000)))),
            "hold.max_record_age"
        );
        assert_eq!(
            field(PipelineConfig::builder().percent_error(100)),
            "percent_error"
        );
        assert_eq!(
            field(
                PipelineConfig::builder()
                    .hold_backoff(Backoff::new(Duration::from_secs(9), Duration::from_secs(1)))
            ),
            "hold.backoff"
        );
        let e = PipelineConfig::builder()
            .cluster_id("")
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Usage);
    }
}
