//! [`CloudWatchSink`]: a [`MetricsSink`] that aggregates in memory and sends to Amazon
//! CloudWatch, with its configuration, its counts and the client it sends through.

mod config;
#[cfg(feature = "cloudwatch")]
mod sdk;

pub use config::{CloudWatchConfig, CloudWatchConfigBuilder};
#[cfg(feature = "cloudwatch")]
pub use sdk::to_sdk;

use crate::aggregate::{AggregatedDatum, Aggregator};
use crate::datum::{Dimension, MetricDatum};
use crate::error::MetricsError;
use crate::names;
use crate::requests::split_into_requests;
use crate::sink::{FlushReport, MetricsSink};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use stream2neptune_common::lock;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

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
        let task = lock(&self.task).take();
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
                Err(MetricsError::service(
                    "PutMetricData",
                    format!("timed out after {:?}", self.config.request_timeout),
                    true,
                ))
            });
            let e = match attempt {
                Err(e) if e.is_retriable() => e,
                other => return other,
            };
            let Some(delay) = self.config.retry.next_delay(retry) else {
                return Err(e);
            };
            retry += 1;
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            ::metrics::counter!(names::METRICS_RETRIES).increment(1);
            tracing::debug!(error = %e, retry, "retrying PutMetricData");
            tokio::time::sleep(delay).await;
        }
    }
}
