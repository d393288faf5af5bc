//! How a [`KinesisProducer`](super::KinesisProducer) writes, within the service's limits.

use crate::config::{check_backoff, StreamRef};
use crate::limits::{MAX_BYTES_PER_CALL, MAX_RECORDS_PER_CALL, MAX_RECORD_BYTES};
use crate::ConfigError;
use std::time::Duration;
use stream2neptune_common::Backoff;

/// How a [`KinesisProducer`](super::KinesisProducer) writes. Made by
/// [`ProducerConfig::builder`], which checks every value against the service's limits.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// The stream.
    pub stream: StreamRef,
    /// Records per `PutRecords` call: default and maximum 500.
    pub max_records_per_call: usize,
    /// Bytes per call, payloads plus partition keys: default and maximum 5 MiB.
    pub max_bytes_per_call: usize,
    /// `PutRecords` calls in flight at once: default 4.
    pub max_in_flight_calls: usize,
    /// Backoff before resending failed entries: default 100 ms doubling to 5 s, 10 resends.
    pub retry_backoff: Backoff,
    /// Upper bound of each call: default 10 s.
    pub call_timeout: Duration,
}

impl ProducerConfig {
    /// A builder holding the defaults for `stream`.
    ///
    /// ```
    /// use kinesis_source::producer::ProducerConfig;
    /// use kinesis_source::StreamRef;
    ///
    /// let config = ProducerConfig::builder(StreamRef::parse("follows"))
    ///     .max_in_flight_calls(1) // records land in the order given
    ///     .build()?;
    /// assert_eq!(config.max_records_per_call, 500);
    /// # Ok::<(), kinesis_source::ConfigError>(())
    /// ```
    pub fn builder(stream: StreamRef) -> ProducerConfigBuilder {
        ProducerConfigBuilder {
            config: Self {
                stream,
                max_records_per_call: MAX_RECORDS_PER_CALL,
                max_bytes_per_call: MAX_BYTES_PER_CALL,
                max_in_flight_calls: 4,
                retry_backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
                    .with_max_retries(10),
                call_timeout: Duration::from_secs(10),
            },
        }
    }

    /// Checks every field against the service's limits (what [`build`] does; the producer
    /// checks again when it is made).
    ///
    /// [`build`]: ProducerConfigBuilder::build
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_RECORDS_PER_CALL).contains(&self.max_records_per_call) {
            return Err(ConfigError::new(
                "max_records_per_call",
                format!(
                    "must be 1..={MAX_RECORDS_PER_CALL}, got {}",
                    self.max_records_per_call
                ),
            ));
        }
        if !(MAX_RECORD_BYTES..=MAX_BYTES_PER_CALL).contains(&self.max_bytes_per_call) {
            return Err(ConfigError::new(
                "max_bytes_per_call",
                format!(
                    "must be {MAX_RECORD_BYTES}..={MAX_BYTES_PER_CALL}, got {}",
                    self.max_bytes_per_call
                ),
            ));
        }
        if self.max_in_flight_calls == 0 {
            return Err(ConfigError::new(
                "max_in_flight_calls",
                "must be at least 1",
            ));
        }
        check_backoff("retry_backoff", &self.retry_backoff)?;
        if self.call_timeout < Duration::from_millis(10) {
            return Err(ConfigError::new(
                "call_timeout",
                format!("must be at least 10 ms, got {:?}", self.call_timeout),
            ));
        }
        Ok(())
    }
}

/// Builds a [`ProducerConfig`]: each setter replaces one default (see the field of the same
/// name), and [`build`](Self::build) checks the result.
#[derive(Debug, Clone)]
#[must_use]
pub struct ProducerConfigBuilder {
    config: ProducerConfig,
}

impl ProducerConfigBuilder {
    /// Sets [`ProducerConfig::max_records_per_call`].
    pub fn max_records_per_call(mut self, records: usize) -> Self {
        self.config.max_records_per_call = records;
        self
    }

    /// Sets [`ProducerConfig::max_bytes_per_call`].
    pub fn max_bytes_per_call(mut self, bytes: usize) -> Self {
        self.config.max_bytes_per_call = bytes;
        self
    }

    /// Sets [`ProducerConfig::max_in_flight_calls`].
    pub fn max_in_flight_calls(mut self, calls: usize) -> Self {
        self.config.max_in_flight_calls = calls;
        self
    }

    /// Sets [`ProducerConfig::retry_backoff`].
    pub fn retry_backoff(mut self, backoff: Backoff) -> Self {
        self.config.retry_backoff = backoff;
        self
    }

    /// Sets [`ProducerConfig::call_timeout`].
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.config.call_timeout = timeout;
        self
    }

    /// The configuration, if every value is within the service's limits; else the first field
    /// that is not.
    pub fn build(self) -> Result<ProducerConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_config_limits_name_their_field() {
        let builder = || ProducerConfig::builder(StreamRef::parse("s"));
        builder().build().unwrap();
        let field = |b: ProducerConfigBuilder| b.build().unwrap_err().field;
        assert_eq!(
            field(builder().max_records_per_call(501)),
            "max_records_per_call"
        );
        assert_eq!(
            field(builder().max_bytes_per_call(MAX_BYTES_PER_CALL + 1)),
            "max_bytes_per_call"
        );
        assert_eq!(
            field(builder().max_in_flight_calls(0)),
            "max_in_flight_calls"
        );
        let backwards = Backoff::new(Duration::from_secs(9), Duration::from_secs(1));
        assert_eq!(field(builder().retry_backoff(backwards)), "retry_backoff");
    }
}
