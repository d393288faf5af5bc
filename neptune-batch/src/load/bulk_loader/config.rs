//! Where the loader is and how patiently to talk to it.

use crate::error::{check_backoff, ConfigError};
use std::time::Duration;
use stream2neptune_common::Backoff;

/// How often the original system polled a load's status.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Where the loader is and how patiently to talk to it. Built with
/// [`BulkLoaderConfig::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkLoaderConfig {
    /// The cluster's HTTP(S) endpoint with its port, e.g.
    /// `https://my-cluster.cluster-xyz.us-east-1.neptune.amazonaws.com:8182`.
    pub endpoint: String,
    /// Time allowed for one HTTP call, from sending to the last byte of the answer. Default 30 s.
    pub request_timeout: Duration,
    /// Time allowed to open a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Wait between two status polls. Default 2 s, as in the original system.
    pub poll_interval: Duration,
    /// Time allowed for a whole load, from its start to its end. Default 2 h.
    pub deadline: Duration,
    /// Retries per HTTP call: default 4 (5 attempts), at most
    /// [`MAX_RETRIES`](Self::MAX_RETRIES) and bounded, waits from 200 ms doubling up to 10 s,
    /// full jitter.
    pub retry: Backoff,
    /// Ask for `details=true&errors=true` when polling, so failed feeds and the first error
    /// records come with the status. Default true.
    pub status_details: bool,
}

impl Default for BulkLoaderConfig {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            poll_interval: DEFAULT_POLL_INTERVAL,
            deadline: Duration::from_secs(2 * 60 * 60),
            retry: Backoff::new(Duration::from_millis(200), Duration::from_secs(10))
                .with_max_retries(4),
            status_details: true,
        }
    }
}

impl BulkLoaderConfig {
    /// The most retries of one HTTP call.
    pub const MAX_RETRIES: u32 = 19;

    /// The defaults, at `endpoint` (checked when the client is made).
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            ..Default::default()
        }
    }

    /// A builder from the defaults, at `endpoint`; [`build`](BulkLoaderConfigBuilder::build)
    /// checks every field.
    ///
    /// ```
    /// use std::time::Duration;
    /// use neptune_batch::load::bulk_loader::BulkLoaderConfig;
    ///
    /// let config = BulkLoaderConfig::builder("https://my-cluster.example.com:8182")
    ///     .poll_interval(Duration::from_secs(5))
    ///     .build()?;
    /// assert_eq!(config.poll_interval, Duration::from_secs(5));
    /// # Ok::<(), neptune_batch::ConfigError>(())
    /// ```
    pub fn builder(endpoint: impl Into<String>) -> BulkLoaderConfigBuilder {
        BulkLoaderConfigBuilder {
            config: Self::new(endpoint),
        }
    }

    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match reqwest::Url::parse(&self.endpoint) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            Ok(url) => {
                return Err(ConfigError::new(
                    "endpoint",
                    format!("{url} is not an http(s) URL with a host"),
                ))
            }
            Err(e) => {
                return Err(ConfigError::new(
                    "endpoint",
                    format!("{:?}: {e}", self.endpoint),
                ))
            }
        }
        for (field, value) in [
            ("request_timeout", self.request_timeout),
            ("connect_timeout", self.connect_timeout),
            ("poll_interval", self.poll_interval),
            ("deadline", self.deadline),
        ] {
            if value.is_zero() {
                return Err(ConfigError::new(field, "must be above zero"));
            }
        }
        check_backoff("retry", &self.retry, Self::MAX_RETRIES)
    }
}

/// Builds a [`BulkLoaderConfig`] from its defaults (see [`BulkLoaderConfig::builder`]); each
/// setter documents its field.
#[derive(Debug, Clone)]
#[must_use]
pub struct BulkLoaderConfigBuilder {
    config: BulkLoaderConfig,
}

impl BulkLoaderConfigBuilder {
    /// [`BulkLoaderConfig::request_timeout`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// [`BulkLoaderConfig::connect_timeout`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// [`BulkLoaderConfig::poll_interval`].
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval;
        self
    }

    /// [`BulkLoaderConfig::deadline`].
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.config.deadline = deadline;
        self
    }

    /// [`BulkLoaderConfig::retry`].
    pub fn retry(mut self, retry: Backoff) -> Self {
        self.config.retry = retry;
        self
    }

    /// [`BulkLoaderConfig::status_details`].
    pub fn status_details(mut self, details: bool) -> Self {
        self.config.status_details = details;
        self
    }

    /// The configuration, if every field can work.
    pub fn build(self) -> Result<BulkLoaderConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_configuration_names_the_field() {
        let field = |c: BulkLoaderConfig| c.validate().unwrap_err().field().to_owned();
        assert_eq!(field(BulkLoaderConfig::default()), "endpoint");
        assert_eq!(field(BulkLoaderConfig::new("ftp://host:8182")), "endpoint");
        let builder = || BulkLoaderConfig::builder("https://host:8182");
        let error = builder().poll_interval(Duration::ZERO).build().unwrap_err();
        assert_eq!(error.field(), "poll_interval");
        let too_many =
            Backoff::new(Duration::from_millis(1), Duration::from_millis(2)).with_max_retries(20);
        assert_eq!(
            builder().retry(too_many).build().unwrap_err().field(),
            "retry"
        );
        assert!(builder().build().is_ok());
        assert_eq!(
            BulkLoaderConfig::default().poll_interval,
            Duration::from_secs(2)
        );
    }
}
