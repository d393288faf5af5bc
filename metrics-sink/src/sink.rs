//! The trait every metrics sink implements.

use crate::datum::MetricDatum;
use crate::error::MetricsError;
use async_trait::async_trait;

/// What a flush shipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Data points shipped by this flush.
    pub sent: u64,
    /// Requests made.
    pub requests: u64,
    /// Data points dropped since the sink was created because its buffer was full.
    pub dropped_total: u64,
}

/// A destination for metrics.
///
/// `record` is called on hot paths: it must be cheap, must never wait on I/O, and must never
/// fail. A sink with a bounded buffer drops what does not fit and counts it
/// ([`FlushReport::dropped_total`]) rather than blocking its caller.
#[async_trait]
pub trait MetricsSink: Send + Sync {
    /// Takes one measurement.
    fn record(&self, datum: MetricDatum);

    /// Ships what was recorded so far.
    async fn flush(&self) -> Result<FlushReport, MetricsError>;
}
