//! What the producer is given and what it answers, one outcome per record.

use crate::api::ApiError;
use crate::limits::{MAX_PARTITION_KEY_CHARS, MAX_RECORD_BYTES};
use crate::record::{SequenceNumber, ShardId};
use bytes::Bytes;
use stream2neptune_common::{Classify, ErrorKind};

/// Per-entry error codes worth resending: the service may accept the entry later.
pub(super) const RETRIABLE_ENTRY_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "InternalFailure",
    "KMSThrottlingException",
];

/// A record to put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// Decides the shard (the original used the from-vertex id).
    pub partition_key: String,
    /// The payload.
    pub data: Bytes,
    /// Overrides the MD5 of the partition key to choose the shard, if set.
    pub explicit_hash_key: Option<String>,
}

impl ProducerRecord {
    /// A record with this key and payload.
    pub fn new(partition_key: impl Into<String>, data: impl Into<Bytes>) -> Self {
        Self {
            partition_key: partition_key.into(),
            data: data.into(),
            explicit_hash_key: None,
        }
    }

    pub(super) fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }

    /// Checks the record against the per-record limits.
    pub(super) fn check(&self) -> Result<(), PutFailure> {
        let chars = self.partition_key.chars().count();
        if chars == 0 || chars > MAX_PARTITION_KEY_CHARS {
            return Err(PutFailure::InvalidPartitionKey {
                reason: format!("must be 1..={MAX_PARTITION_KEY_CHARS} characters, got {chars}"),
            });
        }
        if self.size() > MAX_RECORD_BYTES {
            return Err(PutFailure::TooLarge {
                bytes: self.size(),
                limit: MAX_RECORD_BYTES,
            });
        }
        Ok(())
    }
}

/// Where an accepted record went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutReceipt {
    /// The shard.
    pub shard_id: ShardId,
    /// Its position there.
    pub sequence_number: SequenceNumber,
    /// Calls it took (1 if accepted the first time).
    pub attempts: u32,
}

/// Why a record was not put.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PutFailure {
    /// Payload and partition key exceed 1 MiB: never sent.
    #[error("record of {bytes} bytes (payload + partition key) exceeds the {limit}-byte limit")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The partition key is empty or longer than 256 characters: never sent.
    #[error("invalid partition key: {reason}")]
    InvalidPartitionKey {
        /// What is wrong.
        reason: String,
    },
    /// The service refused the entry (on the last attempt, with this code).
    #[error("rejected after {attempts} attempts: {code}: {message}")]
    Rejected {
        /// E.g. `ProvisionedThroughputExceededException`.
        code: String,
        /// The service's explanation.
        message: String,
        /// Calls made with this entry.
        attempts: u32,
    },
    /// The whole `PutRecords` call failed (on the last attempt).
    #[error("PutRecords failed after {attempts} attempts: {error}")]
    CallFailed {
        /// The last call's error.
        #[source]
        error: ApiError,
        /// Calls made.
        attempts: u32,
    },
}

impl PutFailure {
    /// Whether putting the record again later may succeed (see [`Classify`]).
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }
}

/// A record the service cannot take as it is (too large, a bad key, refused for good) is
/// [`Permanent`](ErrorKind::Permanent); one refused for the moment (throttling, an internal
/// failure) is [`Retriable`](ErrorKind::Retriable); a failed call takes its
/// [`ApiError`]'s kind.
impl Classify for PutFailure {
    fn kind(&self) -> ErrorKind {
        match self {
            PutFailure::TooLarge { .. } | PutFailure::InvalidPartitionKey { .. } => {
                ErrorKind::Permanent
            }
            PutFailure::Rejected { code, .. } if RETRIABLE_ENTRY_CODES.contains(&code.as_str()) => {
                ErrorKind::Retriable
            }
            PutFailure::Rejected { .. } => ErrorKind::Permanent,
            PutFailure::CallFailed { error, .. } => error.kind(),
        }
    }
}

/// One record's outcome.
pub type PutResult = Result<PutReceipt, PutFailure>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiErrorKind;

    #[test]
    fn failures_say_whether_a_later_put_may_succeed() {
        let rejected = |code: &str| PutFailure::Rejected {
            code: code.into(),
            message: "m".into(),
            attempts: 11,
        };
        assert_eq!(
            rejected("ProvisionedThroughputExceededException").kind(),
            ErrorKind::Retriable
        );
        assert_eq!(
            rejected("InvalidArgumentException").kind(),
            ErrorKind::Permanent
        );
        let too_large = ProducerRecord::new("k", vec![0u8; MAX_RECORD_BYTES]).check();
        assert_eq!(too_large.unwrap_err().kind(), ErrorKind::Permanent);
        let failed = PutFailure::CallFailed {
            error: ApiError::new("PutRecords", ApiErrorKind::NotFound, "no stream"),
            attempts: 1,
        };
        assert_eq!(failed.kind(), ErrorKind::Usage);
        assert!(std::error::Error::source(&failed).is_some());
    }
}
