//! The task behind a [`KinesisSource`](crate::KinesisSource): lists the shards, starts a
//! reader per shard once its parents are finished, restarts readers that fail, writes
//! checkpoints on a timer and retires finished shards.

use crate::ack::Acker;
use crate::api::{ApiError, ApiErrorKind, IteratorStart, KinesisApi, ShardInfo};
use crate::checkpoint::Checkpoint;
use crate::checkpoint_writer::CheckpointWriter;
use crate::config::{KinesisSourceConfig, StartPosition};
use crate::error::SourceError;
use crate::metrics::{self as names, SourceCounters};
use crate::record::{RecordBatch, SequenceNumber, ShardId};
use crate::shard_reader::{LagBoard, ReaderExit, ShardCursor, ShardReader};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stream2neptune_common::lock;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Where a known shard stands.
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

/// A known shard: its description, its state and its reader's cursor.
struct Slot {
    info: ShardInfo,
    state: SlotState,
    cursor: Arc<Mutex<ShardCursor>>,
    failures: u32,
    /// `cursor.last_delivered` when the reader was last started, to tell progress.
    started_at: Option<SequenceNumber>,
}

/// What the supervisor shares with the source and its readers.
pub(crate) struct Shared {
    pub(crate) api: Arc<dyn KinesisApi>,
    pub(crate) consumer_arn: Option<Arc<str>>,
    pub(crate) config: Arc<KinesisSourceConfig>,
    pub(crate) writer: Arc<CheckpointWriter>,
    pub(crate) acker: Acker,
    pub(crate) tx: mpsc::Sender<Result<RecordBatch, SourceError>>,
    /// Stops the source (a shutdown, or the source dropped).
    pub(crate) cancel: CancellationToken,
    pub(crate) stats: Arc<SourceCounters>,
}

pub(crate) struct Supervisor {
    api: Arc<dyn KinesisApi>,
    consumer_arn: Option<Arc<str>>,
    config: Arc<KinesisSourceConfig>,
    stored: BTreeMap<ShardId, Checkpoint>,
    writer: Arc<CheckpointWriter>,
    acker: Acker,
    tx: mpsc::Sender<Result<RecordBatch, SourceError>>,
    cancel: CancellationToken,
    readers_cancel: CancellationToken,
    stats: Arc<SourceCounters>,
    lag: Arc<LagBoard>,
    readers: JoinSet<Result<ReaderExit, ApiError>>,
    reader_of: HashMap<tokio::task::Id, ShardId>,
    slots: BTreeMap<ShardId, Slot>,
    first_sync: bool,
}

impl Supervisor {
    pub(crate) fn new(shared: Shared) -> Self {
        Self {
            api: shared.api,
            consumer_arn: shared.consumer_arn,
            config: shared.config,
            stored: BTreeMap::new(),
            writer: shared.writer,
            acker: shared.acker,
            tx: shared.tx,
            readers_cancel: shared.cancel.child_token(),
            cancel: shared.cancel,
            stats: shared.stats,
            lag: Arc::new(LagBoard::default()),
            readers: JoinSet::new(),
            reader_of: HashMap::new(),
            slots: BTreeMap::new(),
            first_sync: true,
        }
    }

    /// Lists the shards for the first time, resuming from `stored`, and starts the readers
    /// that may start.
    pub(crate) async fn begin(
        &mut self,
        stored: BTreeMap<ShardId, Checkpoint>,
    ) -> Result<(), SourceError> {
        self.stored = stored;
        self.sync().await?;
        self.start_eligible();
        Ok(())
    }

    pub(crate) async fn run(mut self) {
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
        let all = self.list_shards().await?;
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

    /// Every shard of the stream, page by page, each page retried after throttling and
    /// transient errors within the configured backoffs.
    async fn list_shards(&self) -> Result<Vec<ShardInfo>, SourceError> {
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
                        ApiErrorKind::Transient,
                        "no answer in time",
                    )),
                };
                match result {
                    Ok(page) => break page,
                    Err(e) if e.is_retriable() => {
                        let backoff = if e.kind == ApiErrorKind::Throttled {
                            &self.config.throttle_backoff
                        } else {
                            &self.config.retry_backoff
                        };
                        match backoff.next_delay(retry) {
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
                None => return Ok(all),
            }
        }
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
        slot.started_at = lock(&slot.cursor).last_delivered.clone();
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
        type Failure = Box<dyn std::error::Error + Send + Sync>;
        let (id, outcome): (_, Result<ReaderExit, Failure>) = match joined {
            Ok((id, r)) => (id, r.map_err(Failure::from)),
            // A panic in the reader: restarted like a failure.
            Err(e) => (e.id(), Err(Failure::from(e))),
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
            Err(error) => {
                let now = lock(&slot.cursor).last_delivered.clone();
                if now != slot.started_at {
                    slot.failures = 0;
                }
                let delay = self.config.restart_backoff.next_delay(slot.failures);
                slot.failures += 1;
                names::add(&self.stats.reader_restarts, 1);
                ::metrics::counter!(names::SHARD_READER_RESTARTS, names::SHARD_ID => shard.clone())
                    .increment(1);
                let Some(delay) = delay else {
                    return Err(SourceError::ShardReaderFailed {
                        shard,
                        failures: slot.failures,
                        last: error,
                    });
                };
                tracing::error!(shard, failures = slot.failures, %error, ?delay, "shard reader failed; restarting it");
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
