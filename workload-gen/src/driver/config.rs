//! How the driver runs: rate, calls, retries and limits.

use crate::edge::PayloadFormat;
use crate::error::ConfigError;
use std::time::Duration;
use stream2neptune_common::Backoff;

/// The most records one Kinesis `PutRecords` call accepts.
pub const MAX_RECORDS_PER_PUT: usize = 500;

/// How the driver runs. The defaults are the original's (`DriverPeriod` 100 ms,
/// `DriverBatchSize` 100: 1000 records/s, CSV payloads). Made by [`DriverConfig::builder`] (or
/// [`Default`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverConfig {
    /// Time between batches. Batches start on a fixed schedule (`start + n * period`), so a
    /// slow batch does not push later ones back.
    pub period: Duration,
    /// Records per period.
    pub batch_size: usize,
    /// Payload encoding.
    pub payload: PayloadFormat,
    /// Records per `put_batch` call; a batch is split into calls of at most this many.
    pub max_records_per_put: usize,
    /// `put_batch` calls that may be in flight at once. When all are busy the driver waits
    /// (back-pressure) instead of queueing without bound; missed periods are caught up later.
    pub max_in_flight: usize,
    /// Retries of records that failed retriably, and the delays before them: default 100 ms
    /// doubling to 5 s, 5 retries (the original's writer used 5).
    pub retry: Backoff,
    /// Time limit of one `put_batch` call; a call that exceeds it counts as a retriable failure.
    pub put_timeout: Duration,
    /// Stop after this many records (`None`: when the input ends).
    pub max_records: Option<u64>,
    /// Stop after this much time (`None`: when the input ends).
    pub max_duration: Option<Duration>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            period: Duration::from_millis(100),
            batch_size: 100,
            payload: PayloadFormat::Csv,
            max_records_per_put: MAX_RECORDS_PER_PUT,
            max_in_flight: 4,
            retry: Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
                .with_max_retries(5),
            put_timeout: Duration::from_secs(30),
            max_records: None,
            max_duration: None,
        }
    }
}

impl DriverConfig {
    /// A builder holding the defaults.
    ///
    /// ```
    /// use std::time::Duration;
    /// use workload_gen::driver::DriverConfig;
    ///
    /// let config = DriverConfig::builder()
    ///     .period(Duration::from_millis(10))
    ///     .max_records(5_000)
    ///     .build()?;
    /// assert_eq!(config.target_rate(), 10_000.0);
    /// assert_eq!(DriverConfig::builder().batch_size(0).build().unwrap_err().field, "batch_size");
    /// # Ok::<(), workload_gen::ConfigError>(())
    /// ```
    pub fn builder() -> DriverConfigBuilder {
        DriverConfigBuilder {
            config: Self::default(),
        }
    }

    /// The rate this configuration asks for, in records per second.
    pub fn target_rate(&self) -> f64 {
        self.batch_size as f64 / self.period.as_secs_f64()
    }

    /// Checks every field against its limits (the Kinesis limit of 500 records per call, and
    /// the original's ranges: period 1–1000 ms, batch size 1–3000, widened where harmless):
    /// what [`build`](DriverConfigBuilder::build) does, and the driver again when it starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.period.is_zero() {
            return Err(ConfigError::new("period", "must be longer than zero"));
        }
        if self.batch_size == 0 {
            return Err(ConfigError::new("batch_size", "must be at least 1"));
        }
        if !(1..=MAX_RECORDS_PER_PUT).contains(&self.max_records_per_put) {
            return Err(ConfigError::new(
                "max_records_per_put",
                format!(
                    "{} is outside 1..={MAX_RECORDS_PER_PUT}",
                    self.max_records_per_put
                ),
            ));
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError::new("max_in_flight", "must be at least 1"));
        }
        self.retry
            .validate(u32::MAX)
            .map_err(|e| ConfigError::new("retry", e.to_string()))?;
        if self.put_timeout.is_zero() {
            return Err(ConfigError::new("put_timeout", "must be longer than zero"));
        }
        Ok(())
    }
}

/// Builds a [`DriverConfig`]: each setter replaces one default (see the field of the same
/// name), and [`build`](Self::build) checks the result.
#[derive(Debug, Clone)]
#[must_use]
pub struct DriverConfigBuilder {
    config: DriverConfig,
}

impl DriverConfigBuilder {
    /// Sets [`DriverConfig::period`].
    pub fn period(mut self, period: Duration) -> Self {
        self.config.period = period;
        self
    }

    /// Sets [`DriverConfig::batch_size`].
    pub fn batch_size(mut self, records: usize) -> Self {
        self.config.batch_size = records;
        self
    }

    /// Sets [`DriverConfig::payload`].
    pub fn payload(mut self, payload: PayloadFormat) -> Self {
        self.config.payload = payload;
        self
    }

    /// Sets [`DriverConfig::max_records_per_put`].
    pub fn max_records_per_put(mut self, records: usize) -> Self {
        self.config.max_records_per_put = records;
        self
    }

    /// Sets [`DriverConfig::max_in_flight`].
    pub fn max_in_flight(mut self, calls: usize) -> Self {
        self.config.max_in_flight = calls;
        self
    }

    /// Sets [`DriverConfig::retry`].
    pub fn retry(mut self, retry: Backoff) -> Self {
        self.config.retry = retry;
        self
    }

    /// Sets [`DriverConfig::put_timeout`].
    pub fn put_timeout(mut self, timeout: Duration) -> Self {
        self.config.put_timeout = timeout;
        self
    }

    /// Sets [`DriverConfig::max_records`].
    pub fn max_records(mut self, records: impl Into<Option<u64>>) -> Self {
        self.config.max_records = records.into();
        self
    }

    /// Sets [`DriverConfig::max_duration`].
    pub fn max_duration(mut self, duration: impl Into<Option<Duration>>) -> Self {
        self.config.max_duration = duration.into();
        self
    }

    /// The configuration, if every value is within its limits; else the first field that is
    /// not.
    pub fn build(self) -> Result<DriverConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}
