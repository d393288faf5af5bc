//! Records and batches as a consumer sees them.

use crate::ack::Acker;
use bytes::Bytes;
use std::cmp::Ordering;
use std::fmt;
use std::time::SystemTime;

/// The id of a shard, e.g. `shardId-000000000001`.
pub type ShardId = String;

/// A Kinesis sequence number: a decimal string of up to 128 digits, unique within a shard and
/// increasing in the order records were written to it.
///
/// Sequence numbers are wider than any machine integer, so they are kept as text and compared as
/// numbers (shorter is smaller; equal lengths compare digit by digit).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SequenceNumber(String);

impl SequenceNumber {
    /// Wraps a sequence number given by the service.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The decimal text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        let a = self.0.trim_start_matches('0');
        let b = other.0.trim_start_matches('0');
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }
}

impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SequenceNumber {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for SequenceNumber {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

/// One record read from a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The shard the record was read from.
    pub shard_id: ShardId,
    /// Its position in that shard.
    pub sequence_number: SequenceNumber,
    /// For a user record taken out of a KPL aggregate (see [`crate::kpl`]), its index in the
    /// aggregate, which shares `sequence_number`; `None` for a record as put.
    pub sub_sequence_number: Option<u64>,
    /// The partition key the producer chose (the original system used the from-vertex id).
    pub partition_key: String,
    /// The payload, untouched.
    pub data: Bytes,
    /// When the service accepted the record, if it said.
    pub approximate_arrival: Option<SystemTime>,
}

impl Record {
    /// A record as put, with no arrival time.
    pub fn new(
        shard_id: impl Into<ShardId>,
        sequence_number: SequenceNumber,
        partition_key: impl Into<String>,
        data: impl Into<Bytes>,
    ) -> Self {
        Self {
            shard_id: shard_id.into(),
            sequence_number,
            sub_sequence_number: None,
            partition_key: partition_key.into(),
            data: data.into(),
            approximate_arrival: None,
        }
    }
}

/// Consecutive records of one shard, in shard order, with the means to acknowledge them.
#[derive(Debug)]
pub struct RecordBatch {
    /// The shard every record of this batch belongs to.
    pub shard_id: ShardId,
    /// The records, in the order the shard holds them.
    pub records: Vec<Record>,
    /// How far this shard's reader is behind the tip of the shard, when the service says.
    pub millis_behind_latest: Option<u64>,
    /// Acknowledges records of this batch (and, cloned, of any other batch of the same source).
    pub acker: Acker,
}

impl RecordBatch {
    /// Acknowledges one record of this batch.
    pub fn ack(&self, record: &Record) {
        // A record of this very batch was delivered, so the tracker knows it: the only error
        // possible is a double ack, which is harmless.
        let _ = self.acker.ack_record(record);
    }

    /// Acknowledges every record of this batch.
    pub fn ack_all(&self) {
        for record in &self.records {
            self.ack(record);
        }
    }

    /// Number of payload bytes in the batch.
    pub fn bytes(&self) -> usize {
        self.records.iter().map(|r| r.data.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_as_numbers_not_text() {
        let small = SequenceNumber::new("9");
        let big = SequenceNumber::new("10");
        assert!(small < big, "text order would put 10 before 9");
        let a = SequenceNumber::new("49590338271490256608559692538361571095921575989136588898");
        let b = SequenceNumber::new("49590338271490256608559692538361571095921575989136588899");
        assert!(a < b);
        assert_eq!(SequenceNumber::new("007"), SequenceNumber::new("007"));
        assert_eq!(
            SequenceNumber::new("007").cmp(&SequenceNumber::new("7")),
            Ordering::Equal
        );
    }
}
