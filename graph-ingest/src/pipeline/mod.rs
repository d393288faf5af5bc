//! The consumer loop: records from a [`RecordSource`], mapped to graph writes, written through
//! a [`GraphSink`], then acknowledged, so a shard's checkpoint only ever covers records that
//! are in the graph or whose dead letter is stored.

use crate::config::{ConfigError, PipelineConfig};
use crate::control::Control;
use crate::dead_letter::{DeadLetter, DeadLetterError, DeadLetterSink};
use crate::hold::{Hold, Waited};
use crate::mapper::{GraphWrites, RecordMapper};
use crate::publish;
use crate::stats::PipelineStats;
use crate::write::{write_records, Verdict};
use kinesis_source::{Acker, Record, RecordBatch, RecordSource, SourceError};
use metrics_sink::MetricsSink;
use neptune_batch::{GraphSink, SinkError};
use rand::Rng;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// Why a pipeline stopped before its source ended. Transient failures never end up here (they
/// hold their shard until they pass); these are the failures no waiting mends.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The source failed in a way it could not recover from.
    #[error("record source: {0}")]
    Source(#[from] SourceError),
    /// The graph sink refused a call for good (its configuration, or it was closed).
    #[error("graph sink: {0}")]
    Sink(SinkError),
    /// A dead letter could not be stored, and never will be where it is configured to go.
    #[error("{0}")]
    DeadLetter(#[from] DeadLetterError),
    /// The configuration is invalid.
    #[error("{0}")]
    Config(#[from] ConfigError),
}

impl PipelineError {
    /// Whether running again, unchanged, may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            PipelineError::Source(e) => e.is_retriable(),
            PipelineError::Sink(e) => e.is_retriable(),
            PipelineError::DeadLetter(e) => e.is_retriable(),
            PipelineError::Config(_) => false,
        }
    }
}

/// What happened to the records of one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchResult {
    /// Items created.
    pub written: u64,
    /// Items already there.
    pub already_present: u64,
    /// Records set aside, by sequence number.
    pub dead_lettered: Vec<String>,
    /// Records left unacknowledged because the pipeline stopped while they were held: they
    /// are read again on the next start.
    pub unfinished: usize,
}

struct Inner {
    mapper: Arc<dyn RecordMapper>,
    sink: Arc<dyn GraphSink>,
    dead_letters: Arc<dyn DeadLetterSink>,
    metrics: Arc<dyn MetricsSink>,
    config: PipelineConfig,
    stats: Arc<PipelineStats>,
    control: Control,
    put_time: Option<PutTime>,
}

/// When a record was put on the stream, if the caller knows it better than the stream's
/// `ApproximateArrivalTimestamp`; see [`PipelineBuilder::put_time`].
pub type PutTime = Arc<dyn Fn(&Record) -> Option<SystemTime> + Send + Sync>;

/// Reads a [`RecordSource`] shard by shard into a graph.
///
/// * Shards are processed concurrently, each in shard order (with a
///   [`parallelization_factor`](PipelineConfig::parallelization_factor) above 1, in that many
///   lanes by partition key, each in order).
/// * Each batch is mapped record by record ([`RecordMapper`]); a record the mapper rejects is a
///   dead letter. The rest is written through the [`GraphSink`] (vertices, then edges), which
///   answers per item.
/// * A record whose items are all in the graph (written or already there) is acknowledged at
///   once. A record with an item that is bad in itself is a dead letter, acknowledged once the
///   letter is stored. A record whose write failed for a transient reason **holds** its shard
///   (see [`HoldPolicy`](crate::HoldPolicy)): it is tried again until it goes through, and the
///   checkpoint, which only covers the acknowledged prefix of the shard, stays before it.
/// * Checkpoints are written every [`checkpoint_interval`](PipelineConfig::checkpoint_interval)
///   and at the end; the original's metrics go to the [`MetricsSink`], flushed at the end.
/// * [`Control`] stops (draining what is in flight) or pauses the pipeline.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Pipeline`]; see [`Pipeline::builder`].
#[derive(Default)]
pub struct PipelineBuilder {
    mapper: Option<Arc<dyn RecordMapper>>,
    sink: Option<Arc<dyn GraphSink>>,
    dead_letters: Option<Arc<dyn DeadLetterSink>>,
    metrics: Option<Arc<dyn MetricsSink>>,
    config: PipelineConfig,
    put_time: Option<PutTime>,
}

impl PipelineBuilder {
    /// How records become graph writes (required).
    pub fn mapper(mut self, mapper: impl RecordMapper + 'static) -> Self {
        self.mapper = Some(Arc::new(mapper));
        self
    }

    /// Where the writes go (required).
    pub fn sink(mut self, sink: Arc<dyn GraphSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Where records that are bad in themselves go (required: a pipeline never drops a record
    /// silently).
    pub fn dead_letters(mut self, dead_letters: Arc<dyn DeadLetterSink>) -> Self {
        self.dead_letters = Some(dead_letters);
        self
    }

    /// Where the original's metrics go (default: nowhere).
    pub fn metrics(mut self, metrics: Arc<dyn MetricsSink>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Where the put-to-graph latency of a record starts (default: the record's
    /// `ApproximateArrivalTimestamp`, or when it was received if the stream gave none).
    ///
    /// For payloads that carry their own event time, or for a producer that knows when it put
    /// each record: some Kinesis emulators stamp arrivals in whole seconds, which adds up to a
    /// second to every latency measured from them. `None` from the function falls back to the
    /// default. Iterator age (`IteratorAge`) stays measured from the stream's timestamp, as
    /// Lambda measures it. It is called once for every record acknowledged, dead letters
    /// included (their answer is not used), so it may forget each record it answers for.
    pub fn put_time(
        mut self,
        put_time: impl Fn(&Record) -> Option<SystemTime> + Send + Sync + 'static,
    ) -> Self {
        self.put_time = Some(Arc::new(put_time));
        self
    }

    /// The settings (default: [`PipelineConfig::default`]).
    pub fn config(mut self, config: PipelineConfig) -> Self {
        self.config = config;
        self
    }

    /// Checks the settings and builds the pipeline.
    pub fn build(self) -> Result<Pipeline, ConfigError> {
        self.config.validate()?;
        let missing = |field| ConfigError {
            field,
            reason: "must be set".into(),
        };
        Ok(Pipeline {
            inner: Arc::new(Inner {
                mapper: self.mapper.ok_or_else(|| missing("mapper"))?,
                sink: self.sink.ok_or_else(|| missing("sink"))?,
                dead_letters: self.dead_letters.ok_or_else(|| missing("dead_letters"))?,
                metrics: self
                    .metrics
                    .unwrap_or_else(|| Arc::new(metrics_sink::DiscardMetrics)),
                config: self.config,
                stats: Arc::new(PipelineStats::default()),
                control: Control::default(),
                put_time: self.put_time,
            }),
        })
    }
}

/// Wall-clock age of a record from its arrival in the stream (or from when it was received
/// here, if the stream did not say).
fn age(record: &Record, received: SystemTime) -> Duration {
    SystemTime::now()
        .duration_since(record.approximate_arrival.unwrap_or(received))
        .unwrap_or_default()
}

impl Pipeline {
    /// A builder; `mapper`, `sink` and `dead_letters` must be set.
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    /// The running totals.
    pub fn stats(&self) -> Arc<PipelineStats> {
        self.inner.stats.clone()
    }

    /// Stops or pauses this pipeline from anywhere.
    pub fn control(&self) -> Control {
        self.inner.control.clone()
    }

    /// The settings.
    pub fn config(&self) -> &PipelineConfig {
        &self.inner.config
    }

    /// Processes one batch to the end: every record ends in the graph (acknowledged at once),
    /// or as a stored dead letter (then acknowledged); a transient failure holds the batch
    /// until it passes. Returns early, leaving held records unacknowledged, only when the
    /// pipeline is asked to stop.
    pub async fn process_batch(&self, batch: &RecordBatch) -> Result<BatchResult, PipelineError> {
        let records: Vec<&Record> = batch.records.iter().collect();
        self.process(
            &batch.shard_id,
            &records,
            &batch.acker,
            batch.millis_behind_latest,
        )
        .await
    }

    async fn process(
        &self,
        lane: &str,
        records: &[&Record],
        acker: &Acker,
        millis_behind_latest: Option<u64>,
    ) -> Result<BatchResult, PipelineError> {
        let inner = &*self.inner;
        let config = &inner.config;
        let stats = &*inner.stats;
        let received = SystemTime::now();
        let mut stop = inner.control.stop_receiver();
        stats
            .records_read
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        if let Some(lag) = millis_behind_latest {
            stats.lag_ms.store(lag, Ordering::Relaxed);
        }
        let newest = records
            .iter()
            .filter_map(|r| r.approximate_arrival)
            .max()
            .and_then(|t| received.duration_since(t).ok());
        if let Some(age) = newest {
            let shard = records.first().map_or(lane, |r| r.shard_id.as_str());
            stats.record_iterator_age(shard, age);
        }
        publish::record_lag(
            inner.metrics.as_ref(),
            &config.cluster_id,
            newest,
            millis_behind_latest,
        );

        let mut result = BatchResult::default();
        let mut dead: Vec<(usize, String)> = Vec::new();
        // Each record waiting to be written, with whether an earlier attempt may have been
        // committed (an answer was lost): such a record is never expired before the graph says
        // whether it holds it.
        let mut pending: Vec<(usize, GraphWrites, bool)> = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate() {
            match inner.mapper.map(record) {
                Ok(writes) => pending.push((i, writes, false)),
                Err(rejection) => dead.push((i, rejection.reason().to_owned())),
            }
        }

        let mut hold = Hold::new(
            lane,
            &config.hold,
            stats,
            inner.metrics.as_ref(),
            &config.cluster_id,
        );
        let mut write_now = true;
        while !pending.is_empty() {
            if write_now {
                let injected = config.percent_error > 0
                    && rand::rng().random_range(0..100u8) < config.percent_error;
                let verdicts = if injected {
                    // The original failed the whole request (a rolled-back transaction) so that
                    // the batch came back; failing it before it is sent shows the same.
                    stats.injected_faults.fetch_add(1, Ordering::Relaxed);
                    let why = "injected fault (percent_error): the write was not sent";
                    let verdict = Verdict::Transient {
                        error: why.into(),
                        unconfirmed: false,
                    };
                    vec![verdict; pending.len()]
                } else {
                    let refs: Vec<&GraphWrites> = pending.iter().map(|(_, w, _)| w).collect();
                    let attempt = write_records(inner.sink.as_ref(), &refs)
                        .await
                        .map_err(PipelineError::Sink)?;
                    stats.record_write(attempt.took);
                    stats
                        .sink_retries
                        .fetch_add(u64::from(attempt.retries), Ordering::Relaxed);
                    stats
                        .permanent_failures
                        .fetch_add(attempt.permanent_items as u64, Ordering::Relaxed);
                    publish::record_write_metrics(
                        inner.metrics.as_ref(),
                        &config.cluster_id,
                        attempt.edges,
                        attempt.took,
                        attempt.retries,
                        attempt.permanent_items,
                    );
                    attempt.verdicts
                };
                let mut again = Vec::new();
                for ((i, writes, was_unconfirmed), verdict) in pending.into_iter().zip(verdicts) {
                    match verdict {
                        Verdict::Done { written, present } => {
                            result.written += written;
                            result.already_present += present;
                            stats.items_written.fetch_add(written, Ordering::Relaxed);
                            stats
                                .items_already_present
                                .fetch_add(present, Ordering::Relaxed);
                            let put = inner.put_time.as_ref().and_then(|f| f(records[i]));
                            stats.record_end_to_end(match put {
                                Some(t) => SystemTime::now().duration_since(t).unwrap_or_default(),
                                None => age(records[i], received),
                            });
                            // Acknowledged at once: the checkpoint only moves over the
                            // acknowledged prefix, so later records may go first.
                            let _ = acker.ack_record(records[i]);
                            stats.acknowledged.fetch_add(1, Ordering::Relaxed);
                        }
                        Verdict::Permanent(reason) => dead.push((i, reason)),
                        Verdict::Transient { error, unconfirmed } => {
                            hold.failed(&error);
                            again.push((i, writes, was_unconfirmed || unconfirmed));
                        }
                    }
                }
                pending = again;
            }
            if let Some(max_age) = config.hold.max_record_age {
                let held = hold.held_secs();
                let last_error = hold.last_error().to_owned();
                pending.retain(|(i, _, unconfirmed)| {
                    if *unconfirmed || age(records[*i], received) <= max_age {
                        return true;
                    }
                    stats.expired.fetch_add(1, Ordering::Relaxed);
                    dead.push((
                        *i,
                        format!("expired after {held} s of transient failures: {last_error}"),
                    ));
                    false
                });
            }
            if pending.is_empty() {
                break;
            }
            let expiry = config.hold.max_record_age.and_then(|max_age| {
                // Only records that may expire count; without any, the wait has no end but the
                // graph's return.
                let oldest = pending
                    .iter()
                    .filter(|(_, _, unconfirmed)| !unconfirmed)
                    .map(|(i, _, _)| age(records[*i], received))
                    .max()?;
                Some(tokio::time::Instant::now() + max_age.saturating_sub(oldest))
            });
            match hold.wait(inner.sink.as_ref(), &mut stop, expiry).await {
                Waited::Retry => write_now = true,
                Waited::Expiring => write_now = false,
                Waited::Stopped => {
                    result.unfinished = pending.len();
                    break;
                }
            }
        }
        if pending.is_empty() {
            hold.resumed();
        }
        drop(hold);

        if !dead.is_empty() {
            dead.sort_by_key(|(i, _)| *i);
            let letters: Vec<DeadLetter> = dead
                .iter()
                .map(|(i, reason)| DeadLetter::of_record(records[*i], reason.clone()))
                .collect();
            if !self.store_dead_letters(lane, &letters, &mut stop).await? {
                result.unfinished += letters.len();
                return Ok(result);
            }
            stats
                .dead_letters
                .fetch_add(letters.len() as u64, Ordering::Relaxed);
            for (i, _) in &dead {
                // Asked for every acknowledged record, so a function that forgets what it
                // answers (the main job's put times) is left holding nothing.
                if let Some(put_time) = &inner.put_time {
                    put_time(records[*i]);
                }
                let _ = acker.ack_record(records[*i]);
            }
            stats
                .acknowledged
                .fetch_add(dead.len() as u64, Ordering::Relaxed);
            result.dead_lettered = letters.into_iter().map(|l| l.sequence_number).collect();
        }
        Ok(result)
    }

    /// Stores dead letters, holding through transient failures of the store; `false` if the
    /// pipeline stopped first.
    async fn store_dead_letters(
        &self,
        lane: &str,
        letters: &[DeadLetter],
        stop: &mut watch::Receiver<bool>,
    ) -> Result<bool, PipelineError> {
        let inner = &*self.inner;
        let mut attempt = 0u32;
        loop {
            match inner.dead_letters.put(letters).await {
                Ok(()) => return Ok(true),
                Err(e) if e.is_retriable() => {
                    tracing::warn!(shard = lane, error = %e, "dead letters not stored yet; their records stay unacknowledged and are stored again");
                    inner.stats.pipeline_retries.fetch_add(1, Ordering::Relaxed);
                    let wait = inner.config.hold.delay(attempt);
                    attempt += 1;
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.wait_for(|s| *s) => return Ok(false),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reads `source` until it ends, the pipeline is stopped (see [`Control`]), or a failure no
    /// waiting mends. Shards are processed concurrently, each in order; while paused nothing
    /// is read. On the way out, batches in flight are finished (bounded by
    /// [`drain_timeout`](PipelineConfig::drain_timeout)), the source is shut down (final
    /// checkpoints) and the metrics are flushed, whatever the outcome.
    pub async fn run<S: RecordSource + ?Sized>(&self, source: &mut S) -> Result<(), PipelineError> {
        let config = &self.inner.config;
        let mut stop = self.inner.control.stop_receiver();
        let mut pause = self.inner.control.pause_receiver();
        let mut shards: HashMap<String, mpsc::UnboundedSender<RecordBatch>> = HashMap::new();
        let mut workers = JoinSet::new();
        let (fail_tx, mut fail_rx) = mpsc::channel::<PipelineError>(1);
        let mut checkpoint_tick = tokio::time::interval(config.checkpoint_interval);
        checkpoint_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let outcome: Result<(), PipelineError> = loop {
            if *stop.borrow() {
                break Ok(());
            }
            if *pause.borrow() {
                tracing::info!("paused: nothing is read until the pause is released");
                tokio::select! {
                    _ = pause.changed() => continue,
                    _ = stop.changed() => continue,
                    Some(e) = fail_rx.recv() => break Err(e),
                    _ = checkpoint_tick.tick() => {
                        if let Err(e) = source.checkpoint().await {
                            tracing::warn!(error = %e, "checkpoint write failed; will try again");
                        }
                        continue;
                    }
                }
            }
            tokio::select! {
                biased;
                _ = stop.changed() => continue,
                _ = pause.changed() => continue,
                Some(e) = fail_rx.recv() => break Err(e),
                _ = checkpoint_tick.tick() => {
                    if let Err(e) = source.checkpoint().await {
                        if !e.is_retriable() { break Err(e.into()); }
                        tracing::warn!(error = %e, "checkpoint write failed; will try again");
                    }
                }
                next = source.next_batch() => match next {
                    Ok(Some(batch)) => {
                        // Queues per shard do not block: a held shard never stops the others.
                        // The source bounds what a shard has delivered and not acknowledged.
                        let tx = shards.entry(batch.shard_id.clone()).or_insert_with(|| {
                            let (tx, rx) = mpsc::unbounded_channel();
                            let me = self.clone();
                            let fail = fail_tx.clone();
                            workers.spawn(async move {
                                if let Err(e) = me.shard_worker(rx).await {
                                    let _ = fail.send(e).await;
                                }
                            });
                            tx
                        });
                        let _ = tx.send(batch);
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
        // Drain: no more batches; workers finish what they hold (a stop also ends holds).
        drop(shards);
        let drained = tokio::time::timeout(config.drain_timeout, async {
            while let Some(done) = workers.join_next().await {
                if let Err(e) = done {
                    tracing::error!(error = %e, "a shard worker panicked");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                timeout = ?config.drain_timeout,
                "batches in flight did not finish within the drain timeout; they are read again on the next start"
            );
            workers.abort_all();
        }
        let failed = fail_rx.try_recv().ok();
        let shutdown = source.shutdown().await;
        if let Err(e) = self.inner.metrics.flush().await {
            tracing::warn!(error = %e, "metrics were not all published");
        }
        outcome?;
        if let Some(e) = failed {
            return Err(e);
        }
        shutdown?;
        Ok(())
    }

    /// Processes one shard's batches in order, in lanes by partition key when the
    /// parallelization factor is above 1.
    async fn shard_worker(
        &self,
        mut rx: mpsc::UnboundedReceiver<RecordBatch>,
    ) -> Result<(), PipelineError> {
        let lanes = self.inner.config.parallelization_factor;
        let control = &self.inner.control;
        if lanes == 1 {
            while let Some(batch) = rx.recv().await {
                if control.is_stopping() {
                    break;
                }
                self.process_batch(&batch).await?;
            }
            return Ok(());
        }
        let mut senders = Vec::with_capacity(lanes);
        let mut tasks = JoinSet::new();
        for lane in 0..lanes {
            // Two parts queued per lane: reading the next batch overlaps writing this one, and
            // a held lane holds back its shard's dispatch after that.
            let (tx, mut lane_rx) = mpsc::channel::<LanePart>(2);
            senders.push(tx);
            let me = self.clone();
            tasks.spawn(async move {
                while let Some(part) = lane_rx.recv().await {
                    if me.inner.control.is_stopping() {
                        break;
                    }
                    let name = format!("{}/{lane}", part.shard);
                    let records: Vec<&Record> = part.records.iter().collect();
                    me.process(&name, &records, &part.acker, part.millis_behind_latest)
                        .await?;
                }
                Ok::<(), PipelineError>(())
            });
        }
        let mut result = Ok(());
        while let Some(batch) = rx.recv().await {
            if control.is_stopping() {
                break;
            }
            let mut parts: Vec<Vec<Record>> = vec![Vec::new(); lanes];
            for record in batch.records {
                parts[lane_of(&record.partition_key, lanes)].push(record);
            }
            for (lane, records) in parts.into_iter().enumerate() {
                if records.is_empty() {
                    continue;
                }
                let part = LanePart {
                    shard: batch.shard_id.clone(),
                    records,
                    acker: batch.acker.clone(),
                    millis_behind_latest: batch.millis_behind_latest,
                };
                if senders[lane].send(part).await.is_err() {
                    // The lane ended with an error: it is reported below.
                    break;
                }
            }
        }
        drop(senders);
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(Err(e)) if result.is_ok() => result = Err(e),
                Err(e) => tracing::error!(error = %e, "a lane worker panicked"),
                _ => {}
            }
        }
        result
    }
}

/// The records of one batch that fall in one lane.
struct LanePart {
    shard: String,
    records: Vec<Record>,
    acker: Acker,
    millis_behind_latest: Option<u64>,
}

/// The lane of a partition key: the same key always goes to the same lane, so its records are
/// written in shard order.
fn lane_of(partition_key: &str, lanes: usize) -> usize {
    let mut h = DefaultHasher::new();
    partition_key.hash(&mut h);
    (h.finish() % lanes as u64) as usize
}
