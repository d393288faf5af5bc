//! A sink that keeps nothing.

use crate::datum::MetricDatum;
use crate::error::MetricsError;
use crate::sink::{FlushReport, MetricsSink};
use async_trait::async_trait;

/// Drops every datum: for components that take a [`MetricsSink`] when no metrics are wanted.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiscardMetrics;

#[async_trait]
impl MetricsSink for DiscardMetrics {
    fn record(&self, _datum: MetricDatum) {}

    async fn flush(&self) -> Result<FlushReport, MetricsError> {
        Ok(FlushReport::default())
    }
}
