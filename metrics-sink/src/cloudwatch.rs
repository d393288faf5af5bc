//! A [`MetricsSink`] that aggregates in memory and sends to Amazon CloudWatch.

use crate::aggregate::{AggregatedDatum, Aggregation, Aggregator};
use crate::datum::{check_default_dimensions, check_namespace, Dimension, MetricDatum};
use crate::error::MetricsError;
use crate::names;
use crate::requests::{split_into_requests, RequestLimits};
use crate::retry::RetryPolicy;
use crate::sink::{FlushReport, MetricsSink};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How a [`CloudWatchSink`] aggregates, batches and sends. The defaults are the original's:
/// namespace `aws-samples/stream-2-neptune`, one-second (high) resolution.
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
    /// Time between automatic flushes.
    pub flush_interval: Duration,
    /// Data points the hand-off buffer holds between `record` and the aggregating task; when it
    /// is full, `record` drops the point and counts it instead of waiting.
    pub buffer_capacity: usize,
    /// Aggregated datums kept after failed flushes, for the next flush. The oldest are dropped
    /// (and counted) beyond this.
    pub max_retained: usize,
    /// Limits of one request.
    pub limits: RequestLimits,
    /// Retries of a request that failed with throttling, a server error or a timeout.
    pub retry: RetryPolicy,
    /// Time limit of one `PutMetricData` attempt.
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
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl CloudWatchConfig {
    /// The original's configuration for one cluster: its namespace, and the `clusterId`
    /// dimension on every datum.
    pub fn for_cluster(cluster_id: impl Into<String>) -> Self {
        Self {
            default_dimensions: vec![Dimension {
                name: names::CLUSTER_ID.to_owned(),
                value: cluster_id.into(),
            }],
            ..Self::default()
        }
    }

    /// Checks the configuration against CloudWatch's limits; the error names the field.
    pub fn validate(&self) -> Result<(), MetricsError> {
        let bad = |field, reason: String| Err(MetricsError::Config { field, reason });
        if let Err(reason) = check_namespace(&self.namespace) {
            return bad("namespace", reason);
        }
        if let Err(reason) = check_default_dimensions(&self.default_dimensions) {
            return bad("default_dimensions", reason);
        }
        let l = &self.limits;
        if !(1..=1_000).contains(&l.max_datums) {
            return bad(
                "limits.max_datums",
                format!("{} is outside 1..=1000", l.max_datums),
            );
        }
        if !(1..=150).contains(&l.max_values) {
            return bad(
                "limits.max_values",
                format!("{} is outside 1..=150", l.max_values),
            );
        }
        if !(200_000..=1_000_000).contains(&l.max_bytes) {
            return bad(
                "limits.max_bytes",
                format!(
                    "{} is outside 200000..=1000000 (a valid datum can take 150 kB)",
                    l.max_bytes
                ),
            );
        }
        if self.flush_interval.is_zero() {
            return bad("flush_interval", "must be longer than zero".into());
        }
        if self.buffer_capacity == 0 {
            return bad("buffer_capacity", "must be at least 1".into());
        }
        if self.request_timeout.is_zero() {
            return bad("request_timeout", "must be longer than zero".into());
        }
        self.retry
            .validate()
            .map_err(|reason| MetricsError::Config {
                field: "retry",
                reason,
            })
    }
}

/// Where requests go: CloudWatch itself, or a stand-in in tests.
#[async_trait]
pub trait PutMetricData: Send + Sync + 'static {
    /// Sends one request (already within the service's limits).
    async fn put_metric_data(
        &self,
        namespace: &str,
        data: &[AggregatedDatum],
    ) -> Result<(), MetricsError>;
}

/// Counts of what a [`CloudWatchSink`] did since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloudWatchStats {
    /// Data points taken by `record`.
    pub recorded: u64,
    /// Data points dropped by `record` because the buffer was full.
    pub dropped_buffer_full: u64,
    /// Data points dropped by `record` because CloudWatch would refuse them.
    pub dropped_invalid: u64,
    /// Data points recorded after [`CloudWatchSink::close`], which nothing will send.
    pub dropped_after_close: u64,
    /// Datums (after aggregation) sent successfully.
    pub sent_datums: u64,
    /// Successful requests.
    pub requests: u64,
    /// Request retries.
    pub retries: u64,
    /// Requests that failed after their retries (their datums were retained).
    pub failed_requests: u64,
    /// Datums dropped because a request was refused as invalid (not retriable).
    pub dropped_rejected: u64,
    /// Retained datums dropped because more than `max_retained` were waiting.
    pub dropped_retained: u64,
    /// Datums waiting for the next flush after a failure.
    pub retained: u64,
}

impl CloudWatchStats {
    /// Every data point or datum dropped, for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_buffer_full
            + self.dropped_invalid
            + self.dropped_after_close
            + self.dropped_rejected
            + self.dropped_retained
    }
}

#[derive(Default)]
struct Counters {
    recorded: AtomicU64,
    dropped_buffer_full: AtomicU64,
    dropped_invalid: AtomicU64,
    dropped_after_close: AtomicU64,
    sent_datums: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    failed_requests: AtomicU64,
    dropped_rejected: AtomicU64,
    dropped_retained: AtomicU64,
    retained: AtomicU64,
}

enum Command {
    Flush(oneshot::Sender<Result<FlushReport, MetricsError>>),
    Close(oneshot::Sender<Result<FlushReport, MetricsError>>),
}

/// Aggregates data points in memory and sends them to CloudWatch from a background task.
///
/// * `record` never blocks: it hands the point to a bounded buffer and counts it as dropped if
///   the buffer is full ([`CloudWatchStats::dropped_buffer_full`]).
/// * Points are aggregated per metric, dimension set, unit, resolution and period (1 s or
///   60 s) into value/count lists or statistic sets, and sent in requests within every limit.
/// * Flushes happen every [`CloudWatchConfig::flush_interval`], on [`MetricsSink::flush`], on
///   [`CloudWatchSink::close`] and when the sink is dropped.
/// * Throttling, server errors and timeouts are retried with bounded exponential back-off and
///   full jitter; what still fails is kept (up to [`CloudWatchConfig::max_retained`]) and sent
///   with the next flush, so a failed flush loses nothing.
pub struct CloudWatchSink {
    data: mpsc::Sender<MetricDatum>,
    commands: mpsc::Sender<Command>,
    counters: Arc<Counters>,
    defaults: Vec<Dimension>,
    high_resolution: bool,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for CloudWatchSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudWatchSink")
            .field("stats", &self.stats())
            .finish()
    }
}

impl CloudWatchSink {
    /// Starts the sink's background task on the current Tokio runtime, sending through
    /// `client` (an `aws_sdk_cloudwatch::Client`, or any [`PutMetricData`]).
    pub fn start(
        client: impl PutMetricData,
        config: CloudWatchConfig,
    ) -> Result<Self, MetricsError> {
        config.validate()?;
        names::describe();
        let (data_tx, data_rx) = mpsc::channel(config.buffer_capacity);
        let (cmd_tx, cmd_rx) = mpsc::channel(16);
        let counters = Arc::new(Counters::default());
        let worker = Worker {
            client,
            aggregator: Aggregator::new(config.aggregation),
            retained: VecDeque::new(),
            counters: counters.clone(),
            config: config.clone(),
        };
        let task = tokio::spawn(worker.run(data_rx, cmd_rx));
        Ok(Self {
            data: data_tx,
            commands: cmd_tx,
            counters,
            defaults: config.default_dimensions,
            high_resolution: config.high_resolution,
            task: Mutex::new(Some(task)),
        })
    }

    /// What the sink has done so far.
    pub fn stats(&self) -> CloudWatchStats {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CloudWatchStats {
            recorded: l(&c.recorded),
            dropped_buffer_full: l(&c.dropped_buffer_full),
            dropped_invalid: l(&c.dropped_invalid),
            dropped_after_close: l(&c.dropped_after_close),
            sent_datums: l(&c.sent_datums),
            requests: l(&c.requests),
            retries: l(&c.retries),
            failed_requests: l(&c.failed_requests),
            dropped_rejected: l(&c.dropped_rejected),
            dropped_retained: l(&c.dropped_retained),
            retained: l(&c.retained),
        }
    }

    /// Flushes everything and stops the background task.
    pub async fn close(&self) -> Result<FlushReport, MetricsError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Close(tx))
            .await
            .map_err(|_| MetricsError::Closed)?;
        let report = rx.await.map_err(|_| MetricsError::Closed)?;
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        report
    }
}

#[async_trait]
impl MetricsSink for CloudWatchSink {
    fn record(&self, mut datum: MetricDatum) {
        for d in &self.defaults {
            if datum.dimensions.iter().all(|x| x.name != d.name) {
                datum = datum.dimension(&d.name, &d.value);
            }
        }
        datum.high_resolution |= self.high_resolution;
        if let Err(e) = datum.validate() {
            self.counters
                .dropped_invalid
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, metric = %datum.name, "metric datum dropped");
            return;
        }
        match self.data.try_send(datum) {
            Ok(()) => {
                self.counters.recorded.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.counters
                    .dropped_buffer_full
                    .fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.counters
                    .dropped_after_close
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    async fn flush(&self) -> Result<FlushReport, MetricsError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Flush(tx))
            .await
            .map_err(|_| MetricsError::Closed)?;
        rx.await.map_err(|_| MetricsError::Closed)?
    }
}

struct Worker<C> {
    client: C,
    aggregator: Aggregator,
    retained: VecDeque<AggregatedDatum>,
    counters: Arc<Counters>,
    config: CloudWatchConfig,
}

impl<C: PutMetricData> Worker<C> {
    async fn run(
        mut self,
        mut data: mpsc::Receiver<MetricDatum>,
        mut commands: mpsc::Receiver<Command>,
    ) {
        let mut ticker = tokio::time::interval(self.config.flush_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                biased;
                command = commands.recv() => {
                    // Everything recorded before the command is already in the buffer.
                    while let Ok(d) = data.try_recv() {
                        self.aggregator.add(&d);
                    }
                    match command {
                        Some(Command::Flush(reply)) => {
                            let _ = reply.send(self.flush().await);
                        }
                        Some(Command::Close(reply)) => {
                            let _ = reply.send(self.flush().await);
                            return;
                        }
                        None => {
                            if let Err(e) = self.flush().await {
                                tracing::warn!(error = %e, "final metrics flush failed");
                            }
                            return;
                        }
                    }
                }
                datum = data.recv() => match datum {
                    Some(d) => self.aggregator.add(&d),
                    None => {
                        if let Err(e) = self.flush().await {
                            tracing::warn!(error = %e, "final metrics flush failed");
                        }
                        return;
                    }
                },
                _ = ticker.tick() => {
                    if let Err(e) = self.flush().await {
                        tracing::warn!(error = %e, "metrics flush failed; data kept for the next one");
                    }
                }
            }
        }
    }

    async fn flush(&mut self) -> Result<FlushReport, MetricsError> {
        let mut data: Vec<AggregatedDatum> = self.retained.drain(..).collect();
        data.extend(self.aggregator.drain());
        let requests = split_into_requests(&self.config.namespace, data, &self.config.limits);
        let mut report = FlushReport::default();
        let mut first_error = None;
        for request in requests {
            match self.send_with_retries(&request).await {
                Ok(()) => {
                    report.sent += request.len() as u64;
                    report.requests += 1;
                    self.counters
                        .sent_datums
                        .fetch_add(request.len() as u64, Ordering::Relaxed);
                    self.counters.requests.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if e.is_retriable() => {
                    self.counters
                        .failed_requests
                        .fetch_add(1, Ordering::Relaxed);
                    self.retained.extend(request);
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    self.counters
                        .dropped_rejected
                        .fetch_add(request.len() as u64, Ordering::Relaxed);
                    ::metrics::counter!(names::METRICS_DROPPED).increment(request.len() as u64);
                    tracing::error!(error = %e, datums = request.len(), "CloudWatch refused metric data");
                    first_error.get_or_insert(e);
                }
            }
        }
        let excess = self.retained.len().saturating_sub(self.config.max_retained);
        if excess > 0 {
            self.retained.drain(..excess);
            self.counters
                .dropped_retained
                .fetch_add(excess as u64, Ordering::Relaxed);
            ::metrics::counter!(names::METRICS_DROPPED).increment(excess as u64);
        }
        self.counters
            .retained
            .store(self.retained.len() as u64, Ordering::Relaxed);
        let c = &self.counters;
        report.dropped_total = c.dropped_buffer_full.load(Ordering::Relaxed)
            + c.dropped_invalid.load(Ordering::Relaxed)
            + c.dropped_rejected.load(Ordering::Relaxed)
            + c.dropped_retained.load(Ordering::Relaxed);
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    async fn send_with_retries(&self, request: &[AggregatedDatum]) -> Result<(), MetricsError> {
        let mut retry = 0;
        loop {
            let attempt = tokio::time::timeout(
                self.config.request_timeout,
                self.client.put_metric_data(&self.config.namespace, request),
            )
            .await
            .unwrap_or_else(|_| {
                Err(MetricsError::Service {
                    operation: "PutMetricData",
                    message: format!("timed out after {:?}", self.config.request_timeout),
                    retriable: true,
                })
            });
            match attempt {
                Err(e) if e.is_retriable() && retry < self.config.retry.max_retries => {
                    retry += 1;
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    ::metrics::counter!(names::METRICS_RETRIES).increment(1);
                    tracing::debug!(error = %e, retry, "retrying PutMetricData");
                    tokio::time::sleep(self.config.retry.delay(retry)).await;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_outside_the_limits_name_the_field() {
        let field = |c: CloudWatchConfig| match c.validate() {
            Err(MetricsError::Config { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(CloudWatchConfig {
                namespace: "AWS/Kinesis".into(),
                ..Default::default()
            }),
            "namespace"
        );
        let mut c = CloudWatchConfig::default();
        c.limits.max_values = 151;
        assert_eq!(field(c), "limits.max_values");
        let mut c = CloudWatchConfig::default();
        c.limits.max_datums = 1_001;
        assert_eq!(field(c), "limits.max_datums");
        assert!(CloudWatchConfig::for_cluster("c1").validate().is_ok());
    }
}
