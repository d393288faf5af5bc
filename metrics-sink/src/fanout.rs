//! One sink that records into several, e.g. the console and CloudWatch at once.

use crate::datum::MetricDatum;
use crate::error::MetricsError;
use crate::sink::{FlushReport, MetricsSink};
use async_trait::async_trait;
use std::sync::Arc;

/// Records every datum into each of its sinks; `flush` flushes them all, adds up their reports
/// and returns the first error after trying every sink.
#[derive(Clone, Default)]
pub struct FanoutSink {
    sinks: Vec<Arc<dyn MetricsSink>>,
}

impl std::fmt::Debug for FanoutSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanoutSink")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

impl FanoutSink {
    /// A fan-out to `sinks`.
    pub fn new(sinks: Vec<Arc<dyn MetricsSink>>) -> Self {
        Self { sinks }
    }

    /// Adds a sink.
    pub fn with(mut self, sink: Arc<dyn MetricsSink>) -> Self {
        self.sinks.push(sink);
        self
    }
}

#[async_trait]
impl MetricsSink for FanoutSink {
    fn record(&self, datum: MetricDatum) {
        if let Some((last, rest)) = self.sinks.split_last() {
            for sink in rest {
                sink.record(datum.clone());
            }
            last.record(datum);
        }
    }

    async fn flush(&self) -> Result<FlushReport, MetricsError> {
        let mut total = FlushReport::default();
        let mut first_error = None;
        for sink in &self.sinks {
            match sink.flush().await {
                Ok(r) => {
                    total.sent += r.sent;
                    total.requests += r.requests;
                    total.dropped_total += r.dropped_total;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryMetrics, Unit};

    #[tokio::test]
    async fn every_sink_gets_every_datum_and_every_flush() {
        let (a, b) = (MemoryMetrics::new(), MemoryMetrics::new());
        let fan = FanoutSink::new(vec![Arc::new(a.clone())]).with(Arc::new(b.clone()));
        fan.record(MetricDatum::new("m", Unit::Count, 2.0));
        fan.flush().await.unwrap();
        assert_eq!((a.sum("m"), b.sum("m")), (2.0, 2.0));
        assert_eq!((a.flush_count(), b.flush_count()), (1, 1));
    }
}
