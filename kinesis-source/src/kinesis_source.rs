//! [`KinesisSource`]: the [`RecordSource`] over a Kinesis data stream.

use crate::ack::Acker;
use crate::api::{ApiError, IteratorStart, KinesisApi, ShardInfo};
use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::checkpoint_writer::CheckpointWriter;
use crate::config::{KinesisSourceConfig, StartPosition};
use crate::error::SourceError;
use crate::metrics::{self as names, SourceStats};
use crate::record::{RecordBatch, ShardId};
use crate::shard_reader::{LagBoard, ReaderExit, ShardCursor, ShardReader};
use crate::shutdown::ShutdownHandle;
use crate::source::RecordSource;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

/// Reads every shard of a Kinesis data stream, one task per shard, parents before children,
/// with checkpoints that only cover acknowledged records.
///
/// * Shards are found with `ListShards` at start, every
///   [`shard_sync_interval`](KinesisSourceConfig::shard_sync_interval), and whenever a closed
///   shard is finished.
/// * A shard created by a split or a merge starts only once every parent was read to its end
///   **and** its `ShardEnd` checkpoint was written, which happens only when every record of the
///   parent was acknowledged. Records of one partition key therefore come in the order they
///   were written, across reshards.
/// * A stored checkpoint always wins over the configured start position.
/// * A reader whose iterator expired continues after the last record it delivered; throttling
///   and transient errors are retried with bounded, jittered backoff; a reader that fails
///   anyway is restarted (counted in [`names::SHARD_READER_RESTARTS`] and logged), and after
///   too many failures in a row `next_batch` returns the error instead of going quiet.
pub struct KinesisSource {
    rx: mpsc::Receiver<Result<RecordBatch, SourceError>>,
    acker: Acker,
    writer: Arc<CheckpointWriter>,
    cancel: CancellationToken,
    supervisor: Option<JoinHandle<()>>,
    stats: Arc<SourceStats>,
    config: Arc<KinesisSourceConfig>,
    shut_down: bool,
}

impl std::fmt::Debug for KinesisSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KinesisSource")
            .field("stream", &self.config.stream)
            .field("shut_down", &self.shut_down)
            .finish()
    }
}

impl KinesisSource {
    /// Starts reading with the real SDK client (feature `kinesis`).
    #[cfg(feature = "kinesis")]
    pub async fn from_client(
        client: aws_sdk_kinesis::Client,
        config: KinesisSourceConfig,
        store: Arc<dyn CheckpointStore>,
    ) -> Result<Self, SourceError> {
        Self::start(Arc::new(crate::SdkKinesisApi::new(client)), config, store).await
    }

    /// Validates `config`, loads the stored checkpoints, lists the shards (failing fast if the
    /// stream does not exist) and starts the readers.
    pub async fn start(
        api: Arc<dyn KinesisApi>,
        config: KinesisSourceConfig,
        store: Arc<dyn CheckpointStore>,
    ) -> Result<Self, SourceError> {
        config.validate()?;
        names::describe();
        let config = Arc::new(config);
        let stats = Arc::new(SourceStats::default());
        let acker = Acker::new();
        // Before anything is read: the stream must exist, and the checkpoints must be its own.
        let identity =
            tokio::time::timeout(config.call_timeout, api.describe_stream(&config.stream))
                .await
                .map_err(|_| SourceError::Service {
                    operation: "DescribeStreamSummary",
                    message: format!("no answer within {:?}", config.call_timeout),
                    retriable: true,
                })??;
        tokio::time::timeout(config.call_timeout, store.bind_stream(&identity))
            .await
            .map_err(|_| SourceError::Checkpoint {
                message: format!(
                    "reading the checkpoint store took longer than {:?}",
                    config.call_timeout
                ),
                retriable: true,
            })??;
        let stored = tokio::time::timeout(config.call_timeout, store.load_all())
            .await
            .map_err(|_| SourceError::Checkpoint {
                message: format!(
                    "loading checkpoints took longer than {:?}",
                    config.call_timeout
                ),
                retriable: true,
            })??;
        let writer = Arc::new(CheckpointWriter::new(
            acker.clone(),
            store,
            config.call_timeout,
            stats.clone(),
        ));
        let consumer_arn = match &config.fan_out {
            Some(name) => Some(fan_out_consumer(&*api, &config, name).await?),
            None => None,
        };
        let cancel = CancellationToken::new();
        let (tx, rx) = mpsc::channel(config.channel_capacity);
        let mut supervisor = Supervisor {
            api,
            consumer_arn,
            config: config.clone(),
            stored,
            writer: writer.clone(),
            acker: acker.clone(),
            tx,
            readers_cancel: cancel.child_token(),
            cancel: cancel.clone(),
            stats: stats.clone(),
            lag: Arc::new(LagBoard::default()),
            readers: JoinSet::new(),
            reader_of: HashMap::new(),
            slots: BTreeMap::new(),
            first_sync: true,
        };
        supervisor.sync().await?;
        supervisor.start_eligible();
        let handle = tokio::spawn(supervisor.run());
        Ok(Self {
            rx,
            acker,
            writer,
            cancel,
            supervisor: Some(handle),
            stats,
            config,
            shut_down: false,
        })
    }

    /// A handle that stops this source from anywhere (see [`ShutdownHandle::trigger_on_signals`]).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle::new(self.cancel.clone())
    }

    /// Running totals (records, bytes, retries, checkpoint writes...), for progress displays.
    pub fn stats(&self) -> Arc<SourceStats> {
        self.stats.clone()
    }

    /// The acknowledgement handle shared by every batch of this source.
    pub fn acker(&self) -> Acker {
        self.acker.clone()
    }
}

impl Drop for KinesisSource {
    fn drop(&mut self) {
        // Without `shutdown`, this is a crash as far as checkpoints go: readers just stop.
        self.cancel.cancel();
    }
}

#[async_trait]
impl RecordSource for KinesisSource {
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>, SourceError> {
        if self.shut_down {
            return Ok(None);
        }
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Ok(None),
            item = self.rx.recv() => item.transpose(),
        }
    }

    async fn checkpoint(&mut self) -> Result<usize, SourceError> {
        self.writer.flush().await
    }

    async fn shutdown(&mut self) -> Result<(), SourceError> {
        if self.shut_down {
            return Ok(());
        }
        self.shut_down = true;
        self.cancel.cancel();
        let deadline = tokio::time::Instant::now() + self.config.shutdown_timeout;
        if let Some(mut handle) = self.supervisor.take() {
            if tokio::time::timeout_at(deadline, &mut handle)
                .await
                .is_err()
            {
                handle.abort();
                tracing::warn!("the Kinesis source supervisor did not stop in time");
            }
        }
        // Batches still queued were never seen by the consumer: they will be read again after
        // a restart. Everything before them must be acknowledged before the last checkpoint.
        self.rx.close();
        let mut queued = 0usize;
        while let Ok(item) = self.rx.try_recv() {
            if let Ok(batch) = item {
                queued += batch.records.len();
            }
        }
        loop {
            let in_flight = self.acker.with_tracker(|t| t.total_in_flight());
            if in_flight <= queued {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    unacknowledged = in_flight - queued,
                    "shutdown timed out waiting for acknowledgements; those records will be read again"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.writer.flush().await?;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// Known, not started (parents not finished yet).
    Waiting,
    /// A reader runs.
    Reading,
    /// Read to its end; waiting for every record to be acknowledged and the end checkpointed.
    Ended,
    /// Its end is checkpointed (or it was skipped): children may start.
    Finished,
}

struct Slot {
    info: ShardInfo,
    state: SlotState,
    cursor: Arc<Mutex<ShardCursor>>,
    failures: u32,
    /// `cursor.last_delivered` when the reader was last started, to tell progress.
    started_at: Option<crate::record::SequenceNumber>,
}

/// How long a newly registered fan-out consumer may take to become `ACTIVE` (seconds on AWS).
const CONSUMER_READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Registers (or finds) the enhanced fan-out consumer `name` and waits until it is `ACTIVE`;
/// its ARN.
async fn fan_out_consumer(
    api: &dyn KinesisApi,
    config: &KinesisSourceConfig,
    name: &str,
) -> Result<Arc<str>, SourceError> {
    let deadline = tokio::time::Instant::now() + CONSUMER_READY_TIMEOUT;
    let timed_out = |operation: &'static str| SourceError::Service {
        operation,
        message: format!("no answer within {:?}", config.call_timeout),
        retriable: true,
    };
    let (arn, mut active) = tokio::time::timeout(
        config.call_timeout,
        api.register_consumer(&config.stream, name),
    )
    .await
    .map_err(|_| timed_out("RegisterStreamConsumer"))??;
    while !active {
        if tokio::time::Instant::now() >= deadline {
            return Err(SourceError::Service {
                operation: "DescribeStreamConsumer",
                message: format!("consumer {arn} not ACTIVE after {CONSUMER_READY_TIMEOUT:?}"),
                retriable: true,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        active = tokio::time::timeout(config.call_timeout, api.consumer_active(&arn))
            .await
            .map_err(|_| timed_out("DescribeStreamConsumer"))??;
    }
    tracing::info!(consumer = %arn, "reading through enhanced fan-out");
    Ok(arn.into())
}

struct Supervisor {
    api: Arc<dyn KinesisApi>,
    consumer_arn: Option<Arc<str>>,
    config: Arc<KinesisSourceConfig>,
    stored: BTreeMap<ShardId, Checkpoint>,
    writer: Arc<CheckpointWriter>,
    acker: Acker,
    tx: mpsc::Sender<Result<RecordBatch, SourceError>>,
    cancel: CancellationToken,
    readers_cancel: CancellationToken,
    stats: Arc<SourceStats>,
    lag: Arc<LagBoard>,
    readers: JoinSet<Result<ReaderExit, ApiError>>,
    reader_of: HashMap<tokio::task::Id, ShardId>,
    slots: BTreeMap<ShardId, Slot>,
    first_sync: bool,
}

impl Supervisor {
    async fn run(mut self) {
        let start = tokio::time::Instant::now();
        let mut sync_tick = tokio::time::interval_at(
            start + self.config.shard_sync_interval,
            self.config.shard_sync_interval,
        );
        let mut cp_tick = tokio::time::interval_at(
            start + self.config.checkpoint_interval,
            self.config.checkpoint_interval,
        );
        sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        cp_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                _ = sync_tick.tick() => {
                    if let Err(e) = self.sync().await {
                        tracing::warn!(error = %e, "ListShards failed; the next sync tries again");
                    }
                    self.start_eligible();
                }
                _ = cp_tick.tick() => {
                    let _ = self.writer.flush().await;
                    self.retire_ended().await;
                }
                Some(joined) = self.readers.join_next_with_id(), if !self.readers.is_empty() => {
                    if let Err(fatal) = self.on_reader_exit(joined) {
                        tracing::error!(error = %fatal, "the Kinesis source stops");
                        let _ = self.tx.send(Err(fatal)).await;
                        break;
                    }
                }
            }
            if !self.slots.is_empty() && self.slots.values().all(|s| s.state == SlotState::Finished)
            {
                tracing::info!("every shard of the stream is closed and finished");
                break;
            }
        }
        self.readers_cancel.cancel();
        // Readers notice the cancellation at their next await; bound the wait anyway.
        let _ = tokio::time::timeout(self.config.call_timeout, async {
            while self.readers.join_next().await.is_some() {}
        })
        .await;
        self.readers.abort_all();
        ::metrics::gauge!(names::SHARD_COUNT).set(0.0);
    }

    /// Lists the shards (every page) and merges them into the known slots.
    async fn sync(&mut self) -> Result<(), SourceError> {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let mut retry = 0;
            let (page, next) = loop {
                let call = self.api.list_shards(&self.config.stream, token.clone());
                let result = match tokio::time::timeout(self.config.call_timeout, call).await {
                    Ok(r) => r,
                    Err(_) => Err(ApiError::new(
                        "ListShards",
                        crate::api::ApiErrorKind::Transient,
                        "no answer in time",
                    )),
                };
                match result {
                    Ok(page) => break page,
                    Err(e) if e.is_retriable() => {
                        let backoff = if e.kind == crate::api::ApiErrorKind::Throttled {
                            &self.config.throttle_backoff
                        } else {
                            &self.config.retry_backoff
                        };
                        match backoff.delay(retry) {
                            Some(d) => tokio::time::sleep(d).await,
                            None => return Err(e.into()),
                        }
                        retry += 1;
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            all.extend(page);
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        let listed: HashMap<&str, &ShardInfo> =
            all.iter().map(|s| (s.shard_id.as_str(), s)).collect();
        // A shard never started that is no longer listed aged out of the stream.
        self.slots
            .retain(|id, s| s.state != SlotState::Waiting || listed.contains_key(id.as_str()));
        for info in &all {
            if let Some(slot) = self.slots.get_mut(&info.shard_id) {
                slot.info = info.clone();
                continue;
            }
            let stored = self.stored.get(&info.shard_id).cloned();
            let (state, start) = match (&stored, self.first_sync, &self.config.start_position) {
                (Some(Checkpoint::ShardEnd), _, _) => {
                    (SlotState::Finished, IteratorStart::TrimHorizon)
                }
                (Some(Checkpoint::AfterSequence(seq)), _, _) => (
                    SlotState::Waiting,
                    IteratorStart::AfterSequence(seq.clone()),
                ),
                (Some(Checkpoint::AfterSubSequence { sequence, .. }), _, _) => (
                    SlotState::Waiting,
                    IteratorStart::AtSequence(sequence.clone()),
                ),
                (None, true, StartPosition::Latest) if info.is_closed() => {
                    // Reading from "now" on: a closed shard has nothing written from now on.
                    (SlotState::Finished, IteratorStart::Latest)
                }
                (None, true, position) => (SlotState::Waiting, IteratorStart::from(position)),
                // Shards born while running start at their first record.
                (None, false, _) => (SlotState::Waiting, IteratorStart::TrimHorizon),
            };
            if stored.is_some() {
                self.acker
                    .with_tracker(|t| t.resume(&info.shard_id, stored.clone()));
            }
            self.slots.insert(
                info.shard_id.clone(),
                Slot {
                    info: info.clone(),
                    state,
                    cursor: Arc::new(Mutex::new(ShardCursor {
                        start,
                        last_delivered: None,
                        skip_through: match &stored {
                            Some(Checkpoint::AfterSubSequence {
                                sequence,
                                sub_sequence,
                            }) => Some((sequence.clone(), *sub_sequence)),
                            _ => None,
                        },
                    })),
                    failures: 0,
                    started_at: None,
                },
            );
        }
        self.first_sync = false;
        Ok(())
    }

    /// Starts the readers of waiting shards whose parents are all finished.
    fn start_eligible(&mut self) {
        let ready: Vec<ShardId> = self
            .slots
            .values()
            .filter(|s| s.state == SlotState::Waiting)
            .filter(|s| {
                s.info.parents().all(|p| {
                    self.slots
                        .get(p)
                        .is_none_or(|parent| parent.state == SlotState::Finished)
                })
            })
            .map(|s| s.info.shard_id.clone())
            .collect();
        for shard in ready {
            self.spawn_reader(&shard, Duration::ZERO);
        }
        self.publish_shard_count();
    }

    fn spawn_reader(&mut self, shard: &str, initial_delay: Duration) {
        let Some(slot) = self.slots.get_mut(shard) else {
            return;
        };
        slot.state = SlotState::Reading;
        slot.started_at = slot
            .cursor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_delivered
            .clone();
        let reader = ShardReader {
            api: self.api.clone(),
            config: self.config.clone(),
            shard_id: shard.to_owned(),
            cursor: slot.cursor.clone(),
            acker: self.acker.clone(),
            tx: self.tx.clone(),
            cancel: self.readers_cancel.clone(),
            stats: self.stats.clone(),
            lag: self.lag.clone(),
            initial_delay,
            consumer_arn: self.consumer_arn.clone(),
        };
        names::add(&self.stats.readers_started, 1);
        tracing::info!(shard, ?initial_delay, "starting shard reader");
        let handle = self.readers.spawn(reader.run());
        self.reader_of.insert(handle.id(), shard.to_owned());
    }

    fn publish_shard_count(&self) {
        let reading = self
            .slots
            .values()
            .filter(|s| s.state == SlotState::Reading)
            .count();
        ::metrics::gauge!(names::SHARD_COUNT).set(reading as f64);
    }

    /// Handles a reader that stopped; `Err` when the source must stop.
    fn on_reader_exit(
        &mut self,
        joined: Result<(tokio::task::Id, Result<ReaderExit, ApiError>), tokio::task::JoinError>,
    ) -> Result<(), SourceError> {
        let (id, outcome) = match joined {
            Ok((id, r)) => (id, r.map_err(|e| e.to_string())),
            Err(e) => (e.id(), Err(format!("the reader task panicked: {e}"))),
        };
        let Some(shard) = self.reader_of.remove(&id) else {
            return Ok(());
        };
        let Some(slot) = self.slots.get_mut(&shard) else {
            return Ok(());
        };
        match outcome {
            Ok(ReaderExit::Ended) => {
                // The end may already be checkpointed (and the shard retired) if every record
                // was acknowledged before this exit was handled.
                if slot.state != SlotState::Finished {
                    slot.state = SlotState::Ended;
                }
            }
            Ok(ReaderExit::Cancelled) => {
                slot.state = SlotState::Waiting;
            }
            Err(message) => {
                let now = slot
                    .cursor
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .last_delivered
                    .clone();
                if now != slot.started_at {
                    slot.failures = 0;
                }
                let delay = self.config.restart_backoff.delay(slot.failures);
                slot.failures += 1;
                names::add(&self.stats.reader_restarts, 1);
                ::metrics::counter!(names::SHARD_READER_RESTARTS, names::SHARD_ID => shard.clone())
                    .increment(1);
                let Some(delay) = delay else {
                    return Err(SourceError::ShardReaderFailed {
                        shard,
                        failures: slot.failures,
                        last: message,
                    });
                };
                tracing::error!(shard, failures = slot.failures, error = %message, ?delay, "shard reader failed; restarting it");
                self.spawn_reader(&shard, delay);
            }
        }
        self.publish_shard_count();
        Ok(())
    }

    /// Retires shards whose end is checkpointed and starts their children.
    async fn retire_ended(&mut self) {
        let ended = self.writer.take_ended();
        if ended.is_empty() {
            return;
        }
        for shard in ended {
            if let Some(slot) = self.slots.get_mut(&shard) {
                slot.state = SlotState::Finished;
            }
            self.acker.with_tracker(|t| t.retire(&shard));
            names::add(&self.stats.shards_retired, 1);
            ::metrics::counter!(names::SHARDS_RETIRED).increment(1);
            tracing::info!(shard, "closed shard finished and retired");
        }
        // Children may be new to us: list again before starting them.
        if let Err(e) = self.sync().await {
            tracing::warn!(error = %e, "ListShards failed; the next sync tries again");
        }
        self.start_eligible();
    }
}
