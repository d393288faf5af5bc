//! Errors of a metrics sink.

/// A flush that did not ship everything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The metrics service refused or failed a request.
    #[error("metrics service call {operation} failed: {message}")]
    Service {
        /// The API operation, e.g. `PutMetricData`.
        operation: &'static str,
        /// The service's message.
        message: String,
        /// Whether the error is transient (throttling, 5xx, timeouts).
        retriable: bool,
    },
    /// The configuration is outside the service's limits.
    #[error("invalid configuration: {field}: {reason}")]
    Config {
        /// The configuration field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Writing metrics out (e.g. embedded-metric-format lines to standard output) failed; what
    /// was not written is kept for the next flush.
    #[error("writing metrics to {target} failed: {message}")]
    Write {
        /// Where the metrics were going.
        target: String,
        /// The I/O error.
        message: String,
    },
    /// The sink was closed; nothing more can be flushed through it.
    #[error("the metrics sink is closed")]
    Closed,
    /// A global `metrics` recorder is already installed in this program.
    #[error("a global metrics recorder is already installed")]
    RecorderInstalled,
}

impl MetricsError {
    /// Whether the failed operation may succeed if tried again.
    pub fn is_retriable(&self) -> bool {
        match self {
            MetricsError::Service { retriable, .. } => *retriable,
            MetricsError::Write { .. } => true,
            MetricsError::Config { .. }
            | MetricsError::Closed
            | MetricsError::RecorderInstalled => false,
        }
    }
}
