//! The consumer: records from a [`RecordSource`], decoded into `follows` edges, written through a
//! [`GraphSink`], then acknowledged, so that a shard's checkpoint only covers records whose edge
//! is in the graph or whose dead letter is on disk.
//!
//! Per batch (one shard, in shard order): decode every record (a record that is not a follow
//! request becomes a dead letter), write the edges in sub-batches of `batch_write_size` (one
//! request, one transaction each, as the original did), retry the items whose failure is
//! transient (bounded, with jittered backoff), dead-letter the rest with their reason, and only
//! then acknowledge. Shards are processed concurrently; batches of one shard one after another.

use crate::dead_letter::{DeadLetter, DeadLetterSink};
use crate::stats::PipelineStats;
use futures::StreamExt;
use kinesis_source::{Record, RecordBatch, RecordSource, SourceError};
use metrics_sink::{names, MetricDatum, MetricsSink, Unit};
use neptune_batch::{FollowsSchema, GraphSink, ItemFailure, ItemOutcome};
use rand::Rng;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch};
use workload_gen::FollowsEdge;

/// Longest id or date accepted from a record. Longer fields are refused up front (a dead letter)
/// rather than sent to the graph, where they would be stored or rejected per server.
pub const MAX_FIELD_BYTES: usize = 512;

/// Settings of the consumer, named and defaulted as the original's Lambda parameters.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Edges per write request (`batch_write_size`, default 100).
    pub batch_write_size: usize,
    /// Sub-batches of one record batch written at once (default 1, the original's order: one
    /// after another). The sink never runs two writes that share a vertex at once, so more
    /// helps where a batch's edges fall into unrelated parts of the graph.
    pub write_concurrency: usize,
    /// Attempts for an item whose failure is transient before it is dead-lettered (default 5).
    pub max_item_attempts: u32,
    /// Percentage of sub-batches failed on purpose before they are sent (`percent_error`,
    /// default 0): they are written again by the retry path, showing that nothing is lost.
    pub percent_error: u8,
    /// Edge label and property names.
    pub schema: FollowsSchema,
    /// How often acknowledged progress is written to the checkpoint store.
    pub checkpoint_interval: Duration,
    /// Batches queued per shard worker (back-pressure on the reader).
    pub shard_queue: usize,
    /// The `clusterId` dimension of the published metrics.
    pub cluster_id: String,
    /// How long `run` waits for in-flight batches on shutdown.
    pub drain_timeout: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            batch_write_size: 100,
            write_concurrency: 1,
            max_item_attempts: 5,
            percent_error: 0,
            schema: FollowsSchema::default(),
            checkpoint_interval: Duration::from_secs(1),
            shard_queue: 2,
            cluster_id: "local".into(),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// A configuration value out of range.
#[derive(Debug, thiserror::Error)]
#[error("invalid pipeline configuration: {field}: {reason}")]
pub struct ConfigError {
    /// The field.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

impl PipelineConfig {
    /// Checks every field against what the services accept.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=10_000).contains(&self.batch_write_size) {
            return Err(ConfigError {
                field: "batch_write_size",
                reason: format!("{} is outside 1..=10000", self.batch_write_size),
            });
        }
        if !(1..=64).contains(&self.write_concurrency) {
            return Err(ConfigError {
                field: "write_concurrency",
                reason: format!("{} is outside 1..=64", self.write_concurrency),
            });
        }
        if self.percent_error > 99 {
            return Err(ConfigError {
                field: "percent_error",
                reason: format!("{} is outside 0..=99", self.percent_error),
            });
        }
        if self.max_item_attempts == 0 {
            return Err(ConfigError {
                field: "max_item_attempts",
                reason: "at least one attempt is needed".into(),
            });
        }
        Ok(())
    }
}

/// Why the consumer stopped before its source ended.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The source failed in a way it could not recover from.
    #[error("record source: {0}")]
    Source(#[from] SourceError),
    /// A dead letter could not be stored, so its record could not be acknowledged.
    #[error("{0}")]
    DeadLetter(#[from] crate::dead_letter::DeadLetterError),
    /// The configuration is invalid.
    #[error("{0}")]
    Config(#[from] ConfigError),
}

impl PipelineError {
    /// Whether running again may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            PipelineError::Source(e) => e.is_retriable(),
            PipelineError::DeadLetter(e) => e.is_retriable(),
            PipelineError::Config(_) => false,
        }
    }
}

/// What happened to the records of one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchResult {
    /// Edges created.
    pub written: u64,
    /// Edges already there.
    pub already_present: u64,
    /// Records set aside, with their sequence numbers.
    pub dead_lettered: Vec<String>,
}

/// The consumer's moving parts.
#[derive(Clone)]
pub struct Pipeline {
    sink: Arc<dyn GraphSink>,
    dead_letters: Arc<dyn DeadLetterSink>,
    metrics: Arc<dyn MetricsSink>,
    stats: Arc<PipelineStats>,
    config: Arc<PipelineConfig>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Records the original's metrics of one write request, at one-second resolution with the
/// `clusterId` dimension: `EdgesSubmitted`, `WriteDuration`, `RetryCount`, and `WriteErrors` when
/// some items of the request failed.
pub fn record_write_metrics(
    metrics: &dyn MetricsSink,
    cluster_id: &str,
    submitted: usize,
    took: Duration,
    retries: u32,
    errors: usize,
) {
    let datum = |name: &str, unit: Unit, value: f64| {
        MetricDatum::new(name, unit, value)
            .dimension(names::CLUSTER_ID, cluster_id)
            .high_resolution()
    };
    metrics.record(datum(names::EDGES_SUBMITTED, Unit::Count, submitted as f64));
    metrics.record(datum(
        names::WRITE_DURATION,
        Unit::Milliseconds,
        took.as_secs_f64() * 1000.0,
    ));
    metrics.record(datum(names::RETRY_COUNT, Unit::Count, f64::from(retries)));
    if errors > 0 {
        metrics.record(datum(names::WRITE_ERRORS, Unit::Count, errors as f64));
    }
}

/// Decodes one record into an edge, or says why it is not one.
pub fn decode(record: &Record) -> Result<FollowsEdge, String> {
    let edge = FollowsEdge::decode(&record.data).map_err(|e| e.to_string())?;
    for (name, value) in [
        ("from", &edge.from),
        ("to", &edge.to),
        ("creationDate", &edge.creation_date),
    ] {
        if value.len() > MAX_FIELD_BYTES {
            return Err(format!(
                "field {name} is {} bytes long (at most {MAX_FIELD_BYTES})",
                value.len()
            ));
        }
    }
    Ok(edge)
}

impl Pipeline {
    /// A pipeline writing into `sink`, setting records aside in `dead_letters`, and publishing
    /// the original's metrics into `metrics`.
    pub fn new(
        sink: Arc<dyn GraphSink>,
        dead_letters: Arc<dyn DeadLetterSink>,
        metrics: Arc<dyn MetricsSink>,
        config: PipelineConfig,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            sink,
            dead_letters,
            metrics,
            stats: Arc::new(PipelineStats::default()),
            config: Arc::new(config),
        })
    }

    /// The running totals.
    pub fn stats(&self) -> Arc<PipelineStats> {
        self.stats.clone()
    }

    /// Processes one batch to the end: every record ends written, already present, or
    /// dead-lettered, and is then acknowledged. Returns only after the acknowledgements.
    pub async fn process_batch(&self, batch: &RecordBatch) -> Result<BatchResult, PipelineError> {
        let stats = &self.stats;
        stats
            .records_read
            .fetch_add(batch.records.len() as u64, Ordering::Relaxed);
        if let Some(lag) = batch.millis_behind_latest {
            stats.lag_ms.store(lag, Ordering::Relaxed);
        }
        let mut result = BatchResult::default();
        let mut dead: Vec<(usize, String)> = Vec::new();
        let mut edges: Vec<(usize, neptune_batch::Edge)> = Vec::new();
        let insert_time = now_ms();
        for (i, record) in batch.records.iter().enumerate() {
            match decode(record) {
                Ok(e) => edges.push((
                    i,
                    self.config
                        .schema
                        .edge(&e.from, &e.to, &e.creation_date, insert_time),
                )),
                Err(reason) => dead.push((i, format!("undecodable: {reason}"))),
            }
        }
        // The futures are made first: a stream that makes them with a closure over `&self`
        // is not provably `Send` inside the spawned shard workers.
        let jobs: Vec<_> = edges
            .chunks(self.config.batch_write_size)
            .map(|chunk| Box::pin(self.write_sub_batch(chunk.to_vec())))
            .collect();
        let written: Vec<_> = futures::stream::iter(jobs)
            .buffered(self.config.write_concurrency)
            .collect()
            .await;
        for (done, failed) in written {
            for (i, outcome) in done {
                match outcome {
                    ItemOutcome::Written => result.written += 1,
                    _ => result.already_present += 1,
                }
                if let Some(arrival) = batch.records[i].approximate_arrival {
                    if let Ok(age) = SystemTime::now().duration_since(arrival) {
                        stats.record_end_to_end(age);
                    }
                }
            }
            dead.extend(failed);
        }
        if !dead.is_empty() {
            let letters: Vec<DeadLetter> = dead
                .iter()
                .map(|(i, reason)| DeadLetter::of_record(&batch.records[*i], reason.clone()))
                .collect();
            self.dead_letters.put(&letters).await?;
            stats
                .dead_letters
                .fetch_add(letters.len() as u64, Ordering::Relaxed);
            result.dead_lettered = letters.into_iter().map(|l| l.sequence_number).collect();
        }
        stats
            .edges_written
            .fetch_add(result.written, Ordering::Relaxed);
        stats
            .edges_already_present
            .fetch_add(result.already_present, Ordering::Relaxed);
        batch.ack_all();
        stats
            .acknowledged
            .fetch_add(batch.records.len() as u64, Ordering::Relaxed);
        Ok(result)
    }

    /// Writes one sub-batch, retrying transient item failures; returns the items now in the
    /// graph and the items to dead-letter with their reason.
    async fn write_sub_batch(
        &self,
        mut pending: Vec<(usize, neptune_batch::Edge)>,
    ) -> (Vec<(usize, ItemOutcome)>, Vec<(usize, String)>) {
        let mut done = Vec::new();
        let mut failed = Vec::new();
        let mut attempt = 0u32;
        while !pending.is_empty() {
            attempt += 1;
            let submitted = pending.len();
            let started = Instant::now();
            let injected = self.config.percent_error > 0
                && rand::rng().random_range(0..100u8) < self.config.percent_error;
            let report = if injected {
                self.stats.injected_faults.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            } else {
                let edges: Vec<_> = pending.iter().map(|(_, e)| e.clone()).collect();
                self.sink.write_edges(&edges).await.map(Some)
            };
            let took = started.elapsed();
            self.stats.record_write(took);
            let retries = report
                .as_ref()
                .ok()
                .and_then(|r| r.as_ref())
                .map_or(0, |r| r.retries);
            self.stats
                .sink_retries
                .fetch_add(u64::from(retries), Ordering::Relaxed);
            self.publish(submitted, took, retries);
            let mut retry = Vec::new();
            match report {
                Ok(Some(report)) => {
                    for ((i, edge), outcome) in pending.into_iter().zip(report.outcomes) {
                        match outcome {
                            ItemOutcome::Failed(f) => match f {
                                ItemFailure::RetriesExhausted { .. }
                                    if attempt < self.config.max_item_attempts =>
                                {
                                    retry.push((i, edge))
                                }
                                other => failed.push((i, format!("not written: {other}"))),
                            },
                            ok => done.push((i, ok)),
                        }
                    }
                }
                Ok(None) => {
                    // An injected fault fails the whole sub-batch, as a rolled-back transaction would.
                    if attempt < self.config.max_item_attempts {
                        retry = pending;
                    } else {
                        failed.extend(
                            pending
                                .into_iter()
                                .map(|(i, _)| (i, "injected fault on every attempt".to_owned())),
                        );
                    }
                }
                Err(e) => {
                    if attempt < self.config.max_item_attempts && e.is_retriable() {
                        retry = pending;
                    } else {
                        failed.extend(
                            pending
                                .into_iter()
                                .map(|(i, _)| (i, format!("sink error: {e}"))),
                        );
                    }
                }
            }
            if !retry.is_empty() {
                self.stats.pipeline_retries.fetch_add(1, Ordering::Relaxed);
                // Full jitter over an exponential ceiling: 100 ms, 200 ms, ... capped at 5 s.
                let ceiling = 100u64.saturating_mul(1 << attempt.min(6)).min(5_000);
                let wait = rand::rng().random_range(0..=ceiling);
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            pending = retry;
        }
        (done, failed)
    }

    fn publish(&self, submitted: usize, took: Duration, retries: u32) {
        record_write_metrics(
            self.metrics.as_ref(),
            &self.config.cluster_id,
            submitted,
            took,
            retries,
            0,
        );
    }

    /// Reads `source` until it ends, `stop` fires, or a fatal error; shards are processed
    /// concurrently, each in order. While `pause` holds `true`, nothing is read (the original's
    /// `wait` switch: shards are held, nothing is lost). On the way out, in-flight batches are
    /// finished (bounded by `drain_timeout`) and final checkpoints written.
    pub async fn run<S: RecordSource>(
        &self,
        source: &mut S,
        mut stop: watch::Receiver<bool>,
        mut pause: watch::Receiver<bool>,
    ) -> Result<(), PipelineError> {
        let mut workers: HashMap<String, mpsc::Sender<RecordBatch>> = HashMap::new();
        let mut handles = Vec::new();
        let (fail_tx, mut fail_rx) = mpsc::channel::<PipelineError>(1);
        let mut checkpoint_tick = tokio::time::interval(self.config.checkpoint_interval);
        checkpoint_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let outcome: Result<(), PipelineError> = loop {
            if *stop.borrow() {
                break Ok(());
            }
            if *pause.borrow() {
                tracing::info!("paused: waiting for the pause switch to be released");
                tokio::select! {
                    _ = pause.changed() => continue,
                    _ = stop.changed() => continue,
                    _ = checkpoint_tick.tick() => { source.checkpoint().await?; continue; }
                }
            }
            tokio::select! {
                biased;
                _ = stop.changed() => continue,
                Some(e) = fail_rx.recv() => break Err(e),
                _ = checkpoint_tick.tick() => {
                    if let Err(e) = source.checkpoint().await {
                        if !e.is_retriable() { break Err(e.into()); }
                        tracing::warn!(error = %e, "checkpoint write failed; will try again");
                    }
                }
                next = source.next_batch() => match next {
                    Ok(Some(batch)) => {
                        let shard = batch.shard_id.clone();
                        let tx = workers.entry(shard.clone()).or_insert_with(|| {
                            let (tx, mut rx) = mpsc::channel::<RecordBatch>(self.config.shard_queue);
                            let me = self.clone();
                            let fail = fail_tx.clone();
                            handles.push(tokio::spawn(async move {
                                while let Some(batch) = rx.recv().await {
                                    if let Err(e) = me.process_batch(&batch).await {
                                        let _ = fail.send(e).await;
                                        return;
                                    }
                                }
                            }));
                            tx
                        });
                        if tx.send(batch).await.is_err() {
                            tracing::warn!(shard, "shard worker is gone");
                        }
                    }
                    Ok(None) => break Ok(()),
                    Err(e) if e.is_retriable() => {
                        tracing::warn!(error = %e, "source error; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => break Err(e.into()),
                },
            }
        };
        // Drain: no more batches; let workers finish what they hold.
        drop(workers);
        let drain = async {
            for h in handles {
                let _ = h.await;
            }
        };
        if tokio::time::timeout(self.config.drain_timeout, drain)
            .await
            .is_err()
        {
            tracing::warn!("in-flight batches did not finish within the drain timeout; they will be redelivered");
        }
        let shutdown = source.shutdown().await;
        let _ = self.metrics.flush().await;
        outcome?;
        shutdown?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dead_letter::MemoryDeadLetters;
    use async_trait::async_trait;
    use kinesis_source::{MemoryCheckpointStore, MemorySource, MemoryStream};
    use neptune_batch::{Edge, MemoryGraph, SinkError, Vertex, WriteReport};
    use std::sync::atomic::AtomicUsize;

    /// A graph that remembers how many edge writes ran at once.
    #[derive(Default)]
    struct Observed {
        inner: MemoryGraph,
        now: AtomicUsize,
        most: AtomicUsize,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl GraphSink for Observed {
        async fn write_vertices(&self, vertices: &[Vertex]) -> Result<WriteReport, SinkError> {
            self.inner.write_vertices(vertices).await
        }
        async fn write_edges(&self, edges: &[Edge]) -> Result<WriteReport, SinkError> {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            let report = self.inner.write_edges(edges).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            report
        }
    }

    /// One batch of `n` follows records (`p<i>` follows `p<i+1>`) and a graph holding the people.
    async fn batch_of(n: usize) -> (RecordBatch, Arc<Observed>) {
        let graph = Arc::new(Observed::default());
        let people: Vec<Vertex> = (0..=n)
            .map(|i| Vertex::new(format!("p{i}"), "person"))
            .collect();
        graph.write_vertices(&people).await.unwrap();
        let stream = MemoryStream::new(1);
        for i in 0..n {
            stream.put(
                format!("p{i}"),
                format!("p{i},p{},2019-01-01", i + 1).into_bytes(),
            );
        }
        stream.close();
        let mut source = MemorySource::new(stream, Arc::new(MemoryCheckpointStore::default()), n);
        let batch = source.next_batch().await.unwrap().unwrap();
        assert_eq!(batch.records.len(), n);
        (batch, graph)
    }

    async fn run(write_concurrency: usize) -> (BatchResult, Arc<Observed>) {
        let (batch, graph) = batch_of(1000).await;
        let pipeline = Pipeline::new(
            graph.clone(),
            Arc::new(MemoryDeadLetters::default()),
            Arc::new(metrics_sink::MemoryMetrics::new()),
            PipelineConfig {
                write_concurrency,
                ..PipelineConfig::default()
            },
        )
        .unwrap();
        let result = pipeline.process_batch(&batch).await.unwrap();
        (result, graph)
    }

    #[tokio::test]
    async fn sub_batches_are_written_one_after_another_by_default() {
        let (result, graph) = run(1).await;
        assert_eq!(result.written, 1000);
        assert_eq!(graph.calls.load(Ordering::SeqCst), 10);
        assert_eq!(graph.most.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn with_write_concurrency_sub_batches_overlap_and_every_edge_is_written() {
        let (result, graph) = run(4).await;
        assert_eq!(result.written, 1000);
        assert_eq!(graph.inner.edge_count(), 1000);
        assert_eq!(graph.calls.load(Ordering::SeqCst), 10);
        assert_eq!(graph.most.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn write_concurrency_is_bounded() {
        for bad in [0, 65] {
            let config = PipelineConfig {
                write_concurrency: bad,
                ..PipelineConfig::default()
            };
            assert_eq!(config.validate().unwrap_err().field, "write_concurrency");
        }
    }
}
