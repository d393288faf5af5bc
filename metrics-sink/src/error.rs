//! Errors of a metrics sink.

use crate::ConfigError;
use stream2neptune_common::{Classify, ErrorKind};

/// A flush that did not ship everything, or a sink that could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The metrics service refused or failed a request.
    #[error("metrics service call {operation} failed: {message}")]
    #[non_exhaustive]
    Service {
        /// The API operation, e.g. `PutMetricData`.
        operation: &'static str,
        /// The service's message.
        message: String,
        /// Whether the error is transient (throttling, 5xx, timeouts).
        retriable: bool,
        /// The client's error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The configuration is outside the service's limits.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Writing metrics out (e.g. embedded-metric-format lines to standard output) failed; what
    /// was not written is kept for the next flush.
    #[error("writing metrics to {target} failed: {source}")]
    Write {
        /// Where the metrics were going.
        target: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The sink was closed; nothing more can be flushed through it.
    #[error("the metrics sink is closed")]
    Closed,
    /// A global `metrics` recorder is already installed in this program.
    #[error("a global metrics recorder is already installed")]
    RecorderInstalled,
}

impl MetricsError {
    /// A failed call to the metrics service (for implementations of
    /// [`PutMetricData`](crate::cloudwatch::PutMetricData)).
    pub fn service(operation: &'static str, message: impl Into<String>, retriable: bool) -> Self {
        MetricsError::Service {
            operation,
            message: message.into(),
            retriable,
            source: None,
        }
    }

    /// The same error caused by `source` (the client's own error), if it is a service error.
    pub fn with_source(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        if let MetricsError::Service { source, .. } = &mut self {
            *source = Some(Box::new(cause));
        }
        self
    }

    /// Whether the failed operation may succeed if tried again (see [`Classify`]).
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }
}

/// A service that failed for the moment (throttling, a 5xx answer, a timeout) or a write that
/// failed (its documents are kept) may pass: [`Unreachable`](ErrorKind::Unreachable) and
/// [`Retriable`](ErrorKind::Retriable). A request the service refuses (a bad parameter, a
/// missing permission), a bad configuration, a closed sink or a second recorder are
/// [`Usage`](ErrorKind::Usage).
impl Classify for MetricsError {
    fn kind(&self) -> ErrorKind {
        match self {
            MetricsError::Service { retriable, .. } => {
                if *retriable {
                    ErrorKind::Unreachable
                } else {
                    ErrorKind::Usage
                }
            }
            MetricsError::Write { .. } => ErrorKind::Retriable,
            MetricsError::Config(e) => e.kind(),
            MetricsError::Closed | MetricsError::RecorderInstalled => ErrorKind::Usage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_request_may_pass_and_a_refused_one_is_usage() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let throttled =
            MetricsError::service("PutMetricData", "Throttling", true).with_source(refused);
        assert_eq!(throttled.kind(), ErrorKind::Unreachable);
        assert!(std::error::Error::source(&throttled).is_some());
        let refused = MetricsError::service("PutMetricData", "AccessDenied", false);
        assert_eq!(refused.kind(), ErrorKind::Usage);
        assert!(!MetricsError::from(ConfigError::new("namespace", "reserved")).is_retriable());
        let write = MetricsError::Write {
            target: "standard output".into(),
            source: std::io::Error::from(std::io::ErrorKind::BrokenPipe),
        };
        assert!(write.is_retriable());
    }
}
