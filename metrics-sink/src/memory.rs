//! A sink that keeps everything in memory, for tests.

use crate::datum::MetricDatum;
use crate::error::MetricsError;
use crate::sink::{FlushReport, MetricsSink};
use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use stream2neptune_common::lock;

/// Keeps every recorded datum. Cloning gives another handle to the same store.
#[derive(Debug, Clone, Default)]
pub struct MemoryMetrics {
    data: Arc<Mutex<Vec<MetricDatum>>>,
    flushes: Arc<Mutex<u64>>,
}

impl MemoryMetrics {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every datum recorded, in order.
    pub fn all(&self) -> Vec<MetricDatum> {
        lock(&self.data).clone()
    }

    /// The values recorded under `name`, in order.
    pub fn values(&self, name: &str) -> Vec<f64> {
        lock(&self.data)
            .iter()
            .filter(|d| d.name == name)
            .map(|d| d.value)
            .collect()
    }

    /// The sum of the values recorded under `name`.
    pub fn sum(&self, name: &str) -> f64 {
        self.values(name).iter().sum()
    }

    /// How many times `flush` was called.
    pub fn flush_count(&self) -> u64 {
        *lock(&self.flushes)
    }
}

#[async_trait]
impl MetricsSink for MemoryMetrics {
    fn record(&self, datum: MetricDatum) {
        lock(&self.data).push(datum);
    }

    async fn flush(&self) -> Result<FlushReport, MetricsError> {
        *lock(&self.flushes) += 1;
        Ok(FlushReport {
            sent: 0,
            requests: 0,
            dropped_total: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Unit;

    #[test]
    fn dimensions_are_kept_sorted_and_replaced() {
        let d = MetricDatum::new("m", Unit::Count, 1.0)
            .dimension("b", "1")
            .dimension("a", "2")
            .dimension("b", "3");
        let names: Vec<_> = d
            .dimensions
            .iter()
            .map(|d| (d.name.as_str(), d.value.as_str()))
            .collect();
        assert_eq!(names, vec![("a", "2"), ("b", "3")]);
    }
}
