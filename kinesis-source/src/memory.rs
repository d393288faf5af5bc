//! An in-memory sharded stream and the [`RecordSource`] that reads it.

use crate::ack::Acker;
use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::error::SourceError;
use crate::record::{Record, RecordBatch, SequenceNumber, ShardId};
use crate::source::RecordSource;
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use stream2neptune_common::lock;
use tokio::sync::Notify;

#[derive(Debug, Default)]
struct StreamState {
    shards: Vec<Vec<Record>>,
    closed: bool,
}

/// A sharded stream held in memory. Records are routed to shards by a stable hash of their
/// partition key, as Kinesis routes them by the MD5 of theirs, so one key always lands on one
/// shard and keeps its order. Cloning gives another handle to the same stream.
#[derive(Debug, Clone)]
pub struct MemoryStream {
    state: Arc<Mutex<StreamState>>,
    notify: Arc<Notify>,
}

impl MemoryStream {
    /// A stream of `shards` shards (at least one).
    pub fn new(shards: usize) -> Self {
        let shards = shards.max(1);
        Self {
            state: Arc::new(Mutex::new(StreamState {
                shards: vec![Vec::new(); shards],
                closed: false,
            })),
            notify: Arc::new(Notify::new()),
        }
    }

    /// The id of shard number `index`.
    pub fn shard_id(index: usize) -> ShardId {
        format!("shard-{index}")
    }

    /// The shard a partition key maps to (FNV-1a of the key, modulo the shard count).
    pub fn shard_for(&self, partition_key: &str) -> usize {
        let n = lock(&self.state).shards.len();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in partition_key.as_bytes() {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        (hash % n as u64) as usize
    }

    /// Appends a record; returns its shard and sequence number.
    ///
    /// # Panics
    /// If the stream was closed: appending after `close` is a bug in the caller.
    pub fn put(
        &self,
        partition_key: impl Into<String>,
        data: impl Into<Bytes>,
    ) -> (ShardId, SequenceNumber) {
        let partition_key = partition_key.into();
        let index = self.shard_for(&partition_key);
        let mut state = lock(&self.state);
        assert!(!state.closed, "put on a closed MemoryStream");
        let shard = &mut state.shards[index];
        let seq = SequenceNumber::new(format!("{:020}", shard.len() + 1));
        let shard_id = Self::shard_id(index);
        shard.push(Record {
            shard_id: shard_id.clone(),
            sequence_number: seq.clone(),
            sub_sequence_number: None,
            partition_key,
            data: data.into(),
            approximate_arrival: Some(SystemTime::now()),
        });
        drop(state);
        self.notify.notify_waiters();
        (shard_id, seq)
    }

    /// Marks the end of the stream: readers finish once they have read everything.
    pub fn close(&self) {
        lock(&self.state).closed = true;
        self.notify.notify_waiters();
    }

    /// Records per shard.
    pub fn shard_lengths(&self) -> Vec<usize> {
        lock(&self.state).shards.iter().map(Vec::len).collect()
    }
}

/// Reads a [`MemoryStream`] shard by shard, round robin, resuming from a [`CheckpointStore`].
pub struct MemorySource {
    stream: MemoryStream,
    store: Arc<dyn CheckpointStore>,
    batch_limit: usize,
    acker: Acker,
    /// Next record index to read, per shard; `None` until checkpoints were loaded.
    positions: Option<Vec<usize>>,
    ended: Vec<bool>,
    cursor: usize,
    shut_down: bool,
    until_caught_up: bool,
}

impl MemorySource {
    /// A source over `stream` that hands out at most `batch_limit` records per batch.
    pub fn new(stream: MemoryStream, store: Arc<dyn CheckpointStore>, batch_limit: usize) -> Self {
        Self {
            stream,
            store,
            batch_limit: batch_limit.max(1),
            acker: Acker::new(),
            positions: None,
            ended: Vec::new(),
            cursor: 0,
            shut_down: false,
            until_caught_up: false,
        }
    }

    /// Ends the source (`next_batch` answers `None`) once every shard has been read up to what
    /// the stream holds, instead of waiting for more: a run that drains what is there, as a
    /// process that is stopped and started again later would. Shards that are not closed are
    /// not ended, so their checkpoints say where the next run resumes.
    pub fn until_caught_up(mut self) -> Self {
        self.until_caught_up = true;
        self
    }

    /// The acknowledgement handle shared by every batch of this source.
    pub fn acker(&self) -> Acker {
        self.acker.clone()
    }

    async fn load_positions(&mut self) -> Result<(), SourceError> {
        let stored = self.store.load_all().await?;
        let n = self.stream.shard_lengths().len();
        let mut positions = vec![0; n];
        self.ended = vec![false; n];
        for (i, position) in positions.iter_mut().enumerate() {
            let shard = MemoryStream::shard_id(i);
            let cp = stored.get(&shard).cloned();
            match &cp {
                Some(Checkpoint::AfterSequence(seq)) => {
                    *position = seq.as_str().parse::<usize>().map_err(|e| {
                        SourceError::checkpoint_caused(
                            format!("checkpoint {seq} of {shard} is not from this stream"),
                            false,
                            e,
                        )
                    })?;
                }
                // Not produced here (this source does not open aggregates): the record is
                // delivered again whole.
                Some(Checkpoint::AfterSubSequence { sequence, .. }) => {
                    *position = sequence
                        .as_str()
                        .parse::<usize>()
                        .ok()
                        .and_then(|p| p.checked_sub(1))
                        .ok_or_else(|| {
                            SourceError::checkpoint(
                                format!("checkpoint {sequence} of {shard} is not from this stream"),
                                false,
                            )
                        })?;
                }
                Some(Checkpoint::ShardEnd) => {
                    *position = usize::MAX;
                    self.ended[i] = true;
                }
                None => {}
            }
            self.acker.with_tracker(|t| t.resume(&shard, cp));
        }
        self.positions = Some(positions);
        Ok(())
    }
}

#[async_trait]
impl RecordSource for MemorySource {
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>, SourceError> {
        if self.positions.is_none() {
            self.load_positions().await?;
        }
        loop {
            if self.shut_down {
                return Ok(None);
            }
            // Register interest before looking, so a put between the look and the wait wakes us.
            let notify = self.stream.notify.clone();
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = lock(&self.stream.state);
                let positions = self.positions.as_mut().expect("loaded above");
                let n = state.shards.len();
                for step in 0..n {
                    let i = (self.cursor + step) % n;
                    let shard = &state.shards[i];
                    let pos = positions[i];
                    if pos < shard.len() {
                        let end = (pos + self.batch_limit).min(shard.len());
                        let records = shard[pos..end].to_vec();
                        positions[i] = end;
                        self.cursor = (i + 1) % n;
                        let shard_id = MemoryStream::shard_id(i);
                        let behind = (shard.len() - end) as u64;
                        self.acker
                            .with_tracker(|t| t.delivered_records(&shard_id, &records));
                        return Ok(Some(RecordBatch {
                            shard_id,
                            records,
                            // The memory stream has no clock of its own: report records behind
                            // as zero milliseconds once caught up, else one per record.
                            millis_behind_latest: Some(behind),
                            acker: self.acker.clone(),
                        }));
                    }
                    if state.closed && !self.ended[i] {
                        self.ended[i] = true;
                        let shard_id = MemoryStream::shard_id(i);
                        self.acker.with_tracker(|t| t.shard_ended(&shard_id));
                    }
                }
                if state.closed && self.ended.iter().all(|e| *e) {
                    return Ok(None);
                }
                if self.until_caught_up {
                    return Ok(None);
                }
            }
            notified.await;
        }
    }

    async fn checkpoint(&mut self) -> Result<usize, SourceError> {
        let changed = self.acker.with_tracker(|t| t.take_changed());
        if changed.is_empty() {
            return Ok(0);
        }
        self.store.save(&changed).await?;
        Ok(changed.len())
    }

    async fn shutdown(&mut self) -> Result<(), SourceError> {
        self.shut_down = true;
        self.checkpoint().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::MemoryCheckpointStore;

    #[tokio::test]
    async fn a_restart_resumes_after_the_acknowledged_prefix_and_repeats_only_the_rest() {
        let stream = MemoryStream::new(1);
        for i in 0..10 {
            stream.put("k", format!("{i}").into_bytes());
        }
        let store = Arc::new(MemoryCheckpointStore::default());
        let mut source = MemorySource::new(stream.clone(), store.clone(), 4);
        let batch = source.next_batch().await.unwrap().unwrap();
        assert_eq!(batch.records.len(), 4);
        // Acknowledge 0, 1 and 3, not 2: the checkpoint may only cover 0 and 1.
        batch.ack(&batch.records[0]);
        batch.ack(&batch.records[1]);
        batch.ack(&batch.records[3]);
        source.checkpoint().await.unwrap();
        drop(source); // a crash

        let mut again = MemorySource::new(stream.clone(), store.clone(), 100);
        let batch = again.next_batch().await.unwrap().unwrap();
        let payloads: Vec<_> = batch
            .records
            .iter()
            .map(|r| String::from_utf8(r.data.to_vec()).unwrap())
            .collect();
        assert_eq!(payloads, (2..10).map(|i| i.to_string()).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_reader_waits_for_records_and_finishes_when_the_stream_closes() {
        let stream = MemoryStream::new(2);
        let store = Arc::new(MemoryCheckpointStore::default());
        let mut source = MemorySource::new(stream.clone(), store, 10);
        let writer = stream.clone();
        let handle = tokio::spawn(async move {
            for i in 0..5 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                writer.put(format!("k{i}"), vec![i as u8]);
            }
            writer.close();
        });
        let mut total = 0;
        while let Some(batch) = source.next_batch().await.unwrap() {
            total += batch.records.len();
            batch.ack_all();
        }
        handle.await.unwrap();
        assert_eq!(total, 5);
    }

    #[tokio::test]
    async fn until_caught_up_a_run_drains_what_is_there_and_the_next_one_resumes() {
        let stream = MemoryStream::new(2);
        for i in 0..10 {
            stream.put(format!("k{i}"), vec![i as u8]);
        }
        let store = Arc::new(MemoryCheckpointStore::default());
        let mut source = MemorySource::new(stream.clone(), store.clone(), 3).until_caught_up();
        let mut first = 0;
        while let Some(batch) = source.next_batch().await.unwrap() {
            first += batch.records.len();
            batch.ack_all();
        }
        source.shutdown().await.unwrap();
        assert_eq!(first, 10);
        assert!(
            !matches!(store.get_sync("shard-0"), Some(Checkpoint::ShardEnd)),
            "an open shard is not ended"
        );
        for i in 10..15 {
            stream.put(format!("k{i}"), vec![i as u8]);
        }
        let mut again = MemorySource::new(stream, store, 100).until_caught_up();
        let mut second = Vec::new();
        while let Some(batch) = again.next_batch().await.unwrap() {
            second.extend(batch.records.iter().map(|r| r.data[0]));
            batch.ack_all();
        }
        second.sort_unstable();
        assert_eq!(second, (10..15).collect::<Vec<u8>>());
    }
}
