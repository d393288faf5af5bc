//! How a [`CloudWatchSink`](super::CloudWatchSink) aggregates, batches and sends.

use crate::aggregate::Aggregation;
use crate::datum::Dimension;
use crate::names;
use crate::naming::{check_naming, naming_setters};
use crate::requests::RequestLimits;
use crate::ConfigError;
use std::time::Duration;
use stream2neptune_common::Backoff;

/// Most retries of one request a configuration may ask for.
const MAX_RETRIES: u32 = 20;

/// How a [`CloudWatchSink`](super::CloudWatchSink) aggregates, batches and sends. The defaults
/// are the original's: namespace `aws-samples/stream-2-neptune`, one-second (high)
/// resolution. Made by [`CloudWatchConfig::builder`] (or [`Default`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CloudWatchConfig {
    /// The CloudWatch namespace.
    pub namespace: String,
    /// Dimensions added to every datum that does not have them already (e.g. `clusterId`).
    pub default_dimensions: Vec<Dimension>,
    /// Store every datum at one-second resolution, as the original did.
    pub high_resolution: bool,
    /// Values/counts (keeps percentiles) or statistic sets (smallest).
    pub aggregation: Aggregation,
    /// Time between automatic flushes: default 10 s.
    pub flush_interval: Duration,
    /// Data points the hand-off buffer holds between `record` and the aggregating task; when it
    /// is full, `record` drops the point and counts it instead of waiting. Default 65 536.
    pub buffer_capacity: usize,
    /// Aggregated datums kept after failed flushes, for the next flush. The oldest are dropped
    /// (and counted) beyond this. Default 20 000.
    pub max_retained: usize,
    /// Limits of one request: default CloudWatch's.
    pub limits: RequestLimits,
    /// Retries of a request that failed with throttling, a server error or a timeout, and the
    /// delays before them: default 200 ms doubling to 5 s, 4 retries (at most 20).
    pub retry: Backoff,
    /// Time limit of one `PutMetricData` attempt: default 10 s.
    pub request_timeout: Duration,
}

impl Default for CloudWatchConfig {
    fn default() -> Self {
        Self {
            namespace: names::NAMESPACE.to_owned(),
            default_dimensions: Vec::new(),
            high_resolution: true,
            aggregation: Aggregation::Values,
            flush_interval: Duration::from_secs(10),
            buffer_capacity: 65_536,
            max_retained: 20_000,
            limits: RequestLimits::default(),
            retry: Backoff::new(Duration::from_millis(200), Duration::from_secs(5))
                .with_max_retries(4),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl CloudWatchConfig {
    /// A builder holding the defaults.
    ///
    /// ```
    /// use metrics_sink::CloudWatchConfig;
    ///
    /// // The original's configuration for one cluster: `clusterId` on every datum.
    /// let config = CloudWatchConfig::builder().cluster_id("my-cluster").build()?;
    /// assert_eq!(config.default_dimensions[0].value, "my-cluster");
    /// let refused = CloudWatchConfig::builder().namespace("AWS/Kinesis").build().unwrap_err();
    /// assert_eq!(refused.field, "namespace");
    /// # Ok::<(), metrics_sink::ConfigError>(())
    /// ```
    pub fn builder() -> CloudWatchConfigBuilder {
        CloudWatchConfigBuilder {
            config: Self::default(),
        }
    }

    /// Checks the configuration against CloudWatch's limits (what [`build`] does; the sink
    /// checks again when it starts); the error names the field.
    ///
    /// [`build`]: CloudWatchConfigBuilder::build
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_naming(&self.namespace, &self.default_dimensions)?;
        self.limits.validate()?;
        if self.flush_interval.is_zero() {
            return Err(ConfigError::new(
                "flush_interval",
                "must be longer than zero",
            ));
        }
        if self.buffer_capacity == 0 {
            return Err(ConfigError::new("buffer_capacity", "must be at least 1"));
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError::new(
                "request_timeout",
                "must be longer than zero",
            ));
        }
        if self.retry.max_retries().is_none() {
            return Err(ConfigError::new(
                "retry",
                format!("must bound its retries (at most {MAX_RETRIES})"),
            ));
        }
        self.retry
            .validate(MAX_RETRIES)
            .map_err(|e| ConfigError::new("retry", e.to_string()))
    }
}

/// Builds a [`CloudWatchConfig`]: each setter replaces one default (see the field of the same
/// name), and [`build`](Self::build) checks the result.
#[derive(Debug, Clone)]
#[must_use]
pub struct CloudWatchConfigBuilder {
    config: CloudWatchConfig,
}

impl CloudWatchConfigBuilder {
    naming_setters!(CloudWatchConfig);

    /// Sets [`CloudWatchConfig::aggregation`].
    pub fn aggregation(mut self, aggregation: Aggregation) -> Self {
        self.config.aggregation = aggregation;
        self
    }

    /// Sets [`CloudWatchConfig::flush_interval`].
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.config.flush_interval = interval;
        self
    }

    /// Sets [`CloudWatchConfig::buffer_capacity`].
    pub fn buffer_capacity(mut self, capacity: usize) -> Self {
        self.config.buffer_capacity = capacity;
        self
    }

    /// Sets [`CloudWatchConfig::max_retained`].
    pub fn max_retained(mut self, datums: usize) -> Self {
        self.config.max_retained = datums;
        self
    }

    /// Sets [`CloudWatchConfig::limits`].
    pub fn limits(mut self, limits: RequestLimits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Sets [`CloudWatchConfig::retry`].
    pub fn retry(mut self, retry: Backoff) -> Self {
        self.config.retry = retry;
        self
    }

    /// Sets [`CloudWatchConfig::request_timeout`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// The configuration, if it is within CloudWatch's limits; else the first field that is
    /// not.
    pub fn build(self) -> Result<CloudWatchConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_outside_the_limits_name_the_field() {
        let field = |b: CloudWatchConfigBuilder| b.build().unwrap_err().field;
        assert_eq!(
            field(CloudWatchConfig::builder().namespace("AWS/Kinesis")),
            "namespace"
        );
        let limits = |values| RequestLimits {
            max_values: values,
            ..RequestLimits::default()
        };
        assert_eq!(
            field(CloudWatchConfig::builder().limits(limits(151))),
            "limits.max_values"
        );
        assert_eq!(
            field(CloudWatchConfig::builder().cluster_id("")),
            "default_dimensions"
        );
        let many = Backoff::new(Duration::from_millis(1), Duration::from_secs(1));
        assert_eq!(
            field(CloudWatchConfig::builder().retry(many.with_max_retries(21))),
            "retry"
        );
        assert_eq!(field(CloudWatchConfig::builder().retry(many)), "retry");
        let config = CloudWatchConfig::builder()
            .cluster_id("c1")
            .build()
            .unwrap();
        assert_eq!(config.retry.max_retries(), Some(4));
        assert_eq!(config.default_dimensions.len(), 1);
    }
}
