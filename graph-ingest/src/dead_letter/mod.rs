//! Where records that are bad in themselves go, so a shard never stops for one record and no
//! record is dropped without a trace.
//!
//! A dead letter is written durably *before* its record is acknowledged: if storing it fails,
//! the record is held like any transiently failing write and stored again later. Only records
//! that will never be written as they are (undecodable, an endpoint vertex missing, a
//! constraint violation, refused by the server as invalid) become dead letters; a record that
//! failed for a transient reason never does (unless a maximum record age says so, see
//! [`HoldPolicy::max_record_age`](crate::HoldPolicy::max_record_age)).
//!
//! * [`JsonLinesDeadLetters`]: a JSON-lines file, flushed to disk before `put` returns.
//! * [`KinesisDeadLetters`] (feature `kinesis`): a Kinesis stream, like an event source
//!   mapping's on-failure destination, but carrying the record itself.
//! * [`MemoryDeadLetters`]: in memory, for tests.

mod json_lines;
#[cfg(feature = "kinesis")]
mod kinesis;
mod memory;

pub use json_lines::JsonLinesDeadLetters;
#[cfg(feature = "kinesis")]
pub use kinesis::KinesisDeadLetters;
pub use memory::MemoryDeadLetters;

use async_trait::async_trait;
use base64::Engine;
use serde::{Deserialize, Serialize};
use stream2neptune_common::{Classify, ErrorKind};

/// One record set aside, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The shard it was read from.
    pub shard_id: String,
    /// Its sequence number there.
    pub sequence_number: String,
    /// For a user record of a KPL aggregate, its index in the aggregate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_sequence_number: Option<u64>,
    /// Its partition key.
    pub partition_key: String,
    /// Why it was set aside.
    pub reason: String,
    /// The record's bytes as read, base64-encoded (they may not be UTF-8). Empty when
    /// `data_omitted` is set.
    pub data_base64: String,
    /// Set when the destination could not hold the bytes (a Kinesis record is at most 1 MiB):
    /// the record is then found in its stream by shard and sequence number, as an event
    /// source mapping's on-failure message names it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub data_omitted: bool,
    /// When it was set aside (milliseconds since the Unix epoch).
    pub at_epoch_ms: u128,
}

impl DeadLetter {
    /// A dead letter for `data` read from `shard_id` at `sequence_number`.
    pub fn new(
        shard_id: &str,
        sequence_number: &str,
        partition_key: &str,
        reason: impl Into<String>,
        data: &[u8],
    ) -> Self {
        Self {
            shard_id: shard_id.to_owned(),
            sequence_number: sequence_number.to_owned(),
            sub_sequence_number: None,
            partition_key: partition_key.to_owned(),
            reason: reason.into(),
            data_base64: base64::engine::general_purpose::STANDARD.encode(data),
            data_omitted: false,
            at_epoch_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0),
        }
    }

    /// A dead letter for a record read from a stream, user records of aggregates included.
    pub fn of_record(record: &kinesis_source::Record, reason: impl Into<String>) -> Self {
        Self {
            sub_sequence_number: record.sub_sequence_number,
            ..Self::new(
                &record.shard_id,
                record.sequence_number.as_str(),
                &record.partition_key,
                reason,
                &record.data,
            )
        }
    }

    /// The original bytes (empty if they were omitted or are not valid base64).
    pub fn data(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.data_base64)
            .unwrap_or_default()
    }
}

/// A dead letter could not be stored: its record must then not be acknowledged.
#[derive(Debug, thiserror::Error)]
#[error("cannot store a dead letter in {target}: {source}")]
#[non_exhaustive]
pub struct DeadLetterError {
    /// Where it was to go.
    pub target: String,
    /// Whether storing it again may succeed (a full disk, a throttled stream) or never will
    /// (a path that is a directory, a stream that does not exist).
    kind: ErrorKind,
    /// What failed.
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl DeadLetterError {
    /// A failure to store letters in `target`, of `kind`, because of `source`.
    pub fn new(
        target: impl Into<String>,
        kind: ErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            target: target.into(),
            kind,
            source: source.into(),
        }
    }
}

impl Classify for DeadLetterError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// Somewhere dead letters are kept durably before their records are acknowledged.
#[async_trait]
pub trait DeadLetterSink: Send + Sync {
    /// Stores dead letters; only after `Ok` may their records be acknowledged.
    async fn put(&self, letters: &[DeadLetter]) -> Result<(), DeadLetterError>;
}
