//! Where a driver puts records.

use async_trait::async_trait;
use std::sync::{Arc, Mutex};

/// A record to put on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRecord {
    /// Decides the shard; records with the same key keep their order.
    pub partition_key: String,
    /// The payload.
    pub data: Vec<u8>,
}

/// What happened to one record of a `put_batch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// The stream accepted the record.
    Accepted {
        /// The shard it went to.
        shard_id: String,
        /// Its sequence number there.
        sequence_number: String,
    },
    /// The record was not accepted.
    Failed {
        /// Why.
        reason: String,
        /// Whether putting it again may succeed (throttling, a transient error).
        retriable: bool,
    },
}

/// A failure of a whole `put_batch` call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordSinkError {
    /// The sink cannot take records at all.
    #[error("record sink unavailable: {message}")]
    Unavailable {
        /// What failed.
        message: String,
        /// Whether a later call may succeed.
        retriable: bool,
    },
}

impl RecordSinkError {
    /// Whether a later call may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            RecordSinkError::Unavailable { retriable, .. } => *retriable,
        }
    }
}

/// Something records can be put into: a stream producer, or memory.
#[async_trait]
pub trait RecordSink: Send + Sync {
    /// Puts records; answers one outcome per record, in order.
    async fn put_batch(
        &self,
        records: Vec<OutgoingRecord>,
    ) -> Result<Vec<PutOutcome>, RecordSinkError>;
}

/// Keeps every record it is given. Cloning gives another handle to the same store.
#[derive(Debug, Clone, Default)]
pub struct MemoryRecordSink {
    records: Arc<Mutex<Vec<OutgoingRecord>>>,
}

impl MemoryRecordSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything put so far, in order.
    pub fn records(&self) -> Vec<OutgoingRecord> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl RecordSink for MemoryRecordSink {
    async fn put_batch(
        &self,
        records: Vec<OutgoingRecord>,
    ) -> Result<Vec<PutOutcome>, RecordSinkError> {
        let mut store = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let start = store.len();
        let n = records.len();
        store.extend(records);
        Ok((0..n)
            .map(|i| PutOutcome::Accepted {
                shard_id: "memory".into(),
                sequence_number: format!("{}", start + i + 1),
            })
            .collect())
    }
}
