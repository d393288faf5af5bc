//! Where a driver puts records.

use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use stream2neptune_common::{lock, Classify, ErrorKind};

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
    #[non_exhaustive]
    Unavailable {
        /// What failed.
        message: String,
        /// Whether a later call may succeed.
        retriable: bool,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl RecordSinkError {
    /// A sink that cannot take records (for implementations of [`RecordSink`]).
    pub fn unavailable(message: impl Into<String>, retriable: bool) -> Self {
        RecordSinkError::Unavailable {
            message: message.into(),
            retriable,
            source: None,
        }
    }

    /// The same error, caused by `cause` (the producer's own error).
    pub fn with_source(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        let RecordSinkError::Unavailable { source, .. } = &mut self;
        *source = Some(Box::new(cause));
        self
    }

    /// Whether a later call may succeed (see [`Classify`]).
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }
}

/// A sink that may take records later did not answer: [`ErrorKind::Unreachable`]; one that
/// never will (a deleted stream, a missing permission) has to be set up again:
/// [`ErrorKind::Usage`].
impl Classify for RecordSinkError {
    fn kind(&self) -> ErrorKind {
        match self {
            RecordSinkError::Unavailable {
                retriable: true, ..
            } => ErrorKind::Unreachable,
            RecordSinkError::Unavailable { .. } => ErrorKind::Usage,
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
        lock(&self.records).clone()
    }
}

#[async_trait]
impl RecordSink for MemoryRecordSink {
    async fn put_batch(
        &self,
        records: Vec<OutgoingRecord>,
    ) -> Result<Vec<PutOutcome>, RecordSinkError> {
        let mut store = lock(&self.records);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sink_that_may_come_back_is_unreachable_and_one_that_will_not_is_usage() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let down = RecordSinkError::unavailable("no answer", true).with_source(refused);
        assert_eq!(down.kind(), ErrorKind::Unreachable);
        assert!(std::error::Error::source(&down).is_some());
        let deleted = RecordSinkError::unavailable("stream deleted", false);
        assert_eq!(deleted.kind(), ErrorKind::Usage);
        assert!(!deleted.is_retriable());
    }
}
