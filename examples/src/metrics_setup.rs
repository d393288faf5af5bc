//! Where a run's metrics go: always kept in memory for the summary, and, when asked, published to
//! CloudWatch under the original's namespace, names and `clusterId` dimension. The libraries'
//! own metrics (recorded through the `metrics` facade) are bridged to the same place.

use metrics_sink::{
    CloudWatchConfig, CloudWatchSink, FanoutSink, MemoryMetrics, MetricsBridge, MetricsSink,
};
use std::sync::Arc;

/// The sinks of one run.
pub struct RunMetrics {
    /// Record here: fans out to every configured destination.
    pub sink: Arc<dyn MetricsSink>,
    /// Everything recorded, for the summary and tests.
    pub memory: MemoryMetrics,
    cloudwatch: Option<Arc<CloudWatchSink>>,
}

impl RunMetrics {
    /// Memory only, or memory and CloudWatch at `cloudwatch_endpoint` (`Some(None)`: AWS itself).
    /// Installs the bridge from the `metrics` facade once per process.
    pub async fn new(
        cluster_id: &str,
        cloudwatch_endpoint: Option<Option<String>>,
    ) -> Result<Self, metrics_sink::MetricsError> {
        let memory = MemoryMetrics::new();
        let mut sinks: Vec<Arc<dyn MetricsSink>> = vec![Arc::new(memory.clone())];
        let cloudwatch = match cloudwatch_endpoint {
            Some(url) => {
                let client = local_services::cloudwatch_client(url.as_deref()).await;
                let config = CloudWatchConfig::builder().cluster_id(cluster_id).build()?;
                let sink = Arc::new(CloudWatchSink::start(client, config)?);
                sinks.push(sink.clone());
                Some(sink)
            }
            None => None,
        };
        let sink: Arc<dyn MetricsSink> = Arc::new(FanoutSink::new(sinks));
        // A second run in the same process keeps the first bridge: that is fine for binaries,
        // which make one run each.
        let _ = MetricsBridge::new(sink.clone())
            .with_dimension("clusterId", cluster_id)
            .install();
        Ok(Self {
            sink,
            memory,
            cloudwatch,
        })
    }

    /// Flushes and closes CloudWatch (if any); returns a line describing what was published.
    pub async fn close(&self) -> Option<String> {
        let cw = self.cloudwatch.as_ref()?;
        let _ = cw.close().await;
        let s = cw.stats();
        Some(format!(
            "{} data points recorded, {} datums sent in {} PutMetricData requests ({} retries, {} failed requests, {} dropped)",
            s.recorded,
            s.sent_datums,
            s.requests,
            s.retries,
            s.failed_requests,
            s.dropped_buffer_full + s.dropped_invalid + s.dropped_rejected + s.dropped_retained
        ))
    }
}
