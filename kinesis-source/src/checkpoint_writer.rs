//! Moves acknowledged progress from the tracker to the store, one writer at a time.

use crate::ack::Acker;
use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::error::SourceError;
use crate::metrics::{self as names, SourceCounters};
use crate::record::ShardId;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stream2neptune_common::lock;

/// Serialises checkpoint writes: if the periodic writer and an explicit `checkpoint()` call
/// could save concurrently, an older checkpoint could land after a newer one and move a shard
/// backwards (and a `ShardEnd` could be overwritten, so a finished parent would be read again).
pub(crate) struct CheckpointWriter {
    acker: Acker,
    store: Arc<dyn CheckpointStore>,
    timeout: Duration,
    stats: Arc<SourceCounters>,
    /// Checkpoints taken from the tracker and not yet durably written (kept across failures).
    pending: tokio::sync::Mutex<BTreeMap<ShardId, Checkpoint>>,
    /// Shards whose `ShardEnd` is durably written.
    ended: Mutex<HashSet<ShardId>>,
}

impl CheckpointWriter {
    pub(crate) fn new(
        acker: Acker,
        store: Arc<dyn CheckpointStore>,
        timeout: Duration,
        stats: Arc<SourceCounters>,
    ) -> Self {
        Self {
            acker,
            store,
            timeout,
            stats,
            pending: tokio::sync::Mutex::new(BTreeMap::new()),
            ended: Mutex::new(HashSet::new()),
        }
    }

    /// Writes every checkpoint that moved; returns how many shards were written.
    pub(crate) async fn flush(&self) -> Result<usize, SourceError> {
        let mut pending = self.pending.lock().await;
        for (shard, cp) in self.acker.with_tracker(|t| t.take_changed()) {
            pending.insert(shard, cp);
        }
        if pending.is_empty() {
            return Ok(0);
        }
        let updates: Vec<_> = pending
            .iter()
            .map(|(s, c)| (s.clone(), c.clone()))
            .collect();
        let result = match tokio::time::timeout(self.timeout, self.store.save(&updates)).await {
            Ok(r) => r,
            Err(_) => Err(SourceError::checkpoint(
                format!("saving checkpoints took longer than {:?}", self.timeout),
                true,
            )),
        };
        match result {
            Ok(()) => {
                pending.clear();
                names::add(&self.stats.checkpoint_writes, 1);
                ::metrics::counter!(names::CHECKPOINT_WRITES).increment(1);
                let mut ended = lock(&self.ended);
                for (shard, cp) in &updates {
                    if *cp == Checkpoint::ShardEnd {
                        ended.insert(shard.clone());
                    }
                }
                Ok(updates.len())
            }
            Err(e) => {
                names::add(&self.stats.checkpoint_failures, 1);
                ::metrics::counter!(names::CHECKPOINT_FAILURES).increment(1);
                tracing::warn!(error = %e, "checkpoint write failed; it is retried on the next round");
                Err(e)
            }
        }
    }

    /// Shards whose end was durably checkpointed, forgetting them (each is reported once).
    pub(crate) fn take_ended(&self) -> Vec<ShardId> {
        lock(&self.ended).drain().collect()
    }
}
