//! The few Kinesis Data Streams calls this crate makes, behind a trait.
//!
//! [`KinesisApi`] is implemented for the real `aws-sdk-kinesis` client by `SdkKinesisApi`
//! (feature `kinesis`, on by default). The trait exists so that faults the local emulator
//! cannot produce (read throttling, a shard reader that fails) can be injected by wrapping the
//! real client, and so every error reaches the retry loops already classified as an
//! [`ApiError`].

use crate::checkpoint::StreamIdentity;
use crate::config::{StartPosition, StreamRef};
use crate::record::{Record, SequenceNumber, ShardId};
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use std::time::SystemTime;
use stream2neptune_common::{Classify, ErrorKind};

#[cfg(feature = "kinesis")]
pub use crate::sdk::SdkKinesisApi;

/// What kind of failure a call met: decides how it is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// The shard iterator is older than its time to live (5 minutes on AWS): get a new one.
    ExpiredIterator,
    /// The service refused the call for rate reasons (`ProvisionedThroughputExceededException`,
    /// `LimitExceededException`, `KMSThrottlingException`, HTTP 429): back off and retry.
    Throttled,
    /// A timeout, a dropped connection or a 5xx answer: retry a bounded number of times.
    Transient,
    /// The stream or shard does not exist.
    NotFound,
    /// Anything else (bad argument, access denied): retrying the same call will not help.
    Fatal,
}

/// A failed Kinesis call, classified.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed ({kind:?}): {message}")]
#[non_exhaustive]
pub struct ApiError {
    /// The API operation, e.g. `GetRecords`.
    pub operation: &'static str,
    /// How it failed, which decides how it is retried (its [`Classify::kind`] is the
    /// workspace-wide kind).
    pub kind: ApiErrorKind,
    /// The service's error code and text.
    pub message: String,
    /// The client's error, when there is one (shared, so that the error stays cheap to clone).
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl ApiError {
    /// An error of `kind` from `operation`.
    pub fn new(operation: &'static str, kind: ApiErrorKind, message: impl Into<String>) -> Self {
        Self {
            operation,
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The same error, caused by `source` (the client's own error).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Whether the same call may succeed later (everything but `Fatal` and `NotFound`).
    pub fn is_retriable(&self) -> bool {
        Classify::kind(self).is_retriable()
    }
}

/// Two errors are the same failure when they name the same operation, kind and message,
/// whatever the client's error object behind them.
impl PartialEq for ApiError {
    fn eq(&self, other: &Self) -> bool {
        (self.operation, self.kind, &self.message) == (other.operation, other.kind, &other.message)
    }
}

impl Eq for ApiError {}

/// Throttling and an expired iterator are [`Retriable`](ErrorKind::Retriable) (the service
/// answered: the moment is at fault); a timeout, a lost connection or a 5xx answer is
/// [`Unreachable`](ErrorKind::Unreachable); an unknown stream or shard and a call refused
/// whatever the moment (a bad argument, access denied) are [`Usage`](ErrorKind::Usage).
impl Classify for ApiError {
    fn kind(&self) -> ErrorKind {
        match self.kind {
            ApiErrorKind::ExpiredIterator | ApiErrorKind::Throttled => ErrorKind::Retriable,
            ApiErrorKind::Transient => ErrorKind::Unreachable,
            ApiErrorKind::NotFound | ApiErrorKind::Fatal => ErrorKind::Usage,
        }
    }
}

/// One shard as `ListShards` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    /// The shard's id.
    pub shard_id: ShardId,
    /// The shard it was split from, or the first of the two it was merged from.
    pub parent_shard_id: Option<ShardId>,
    /// The second parent of a merge.
    pub adjacent_parent_shard_id: Option<ShardId>,
    /// Set once the shard is closed: no record will be written to it any more.
    pub ending_sequence_number: Option<SequenceNumber>,
}

impl ShardInfo {
    /// The parents of this shard (none, one after a split, two after a merge).
    pub fn parents(&self) -> impl Iterator<Item = &ShardId> {
        self.parent_shard_id
            .iter()
            .chain(self.adjacent_parent_shard_id.iter())
    }

    /// Whether the shard is closed (it has an ending sequence number).
    pub fn is_closed(&self) -> bool {
        self.ending_sequence_number.is_some()
    }
}

/// Where a shard iterator starts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IteratorStart {
    /// At the oldest record kept.
    TrimHorizon,
    /// After the newest record (only records written from now on).
    Latest,
    /// At the first record written at or after this time.
    AtTimestamp(SystemTime),
    /// Right after this record.
    AfterSequence(SequenceNumber),
    /// At this record.
    AtSequence(SequenceNumber),
}

impl IteratorStart {
    /// Whether a record at `sequence` lies at or after this position (positions named by time
    /// or by the ends of the shard admit every record).
    pub(crate) fn admits(&self, sequence: &SequenceNumber) -> bool {
        match self {
            IteratorStart::AfterSequence(s) => sequence > s,
            IteratorStart::AtSequence(s) => sequence >= s,
            _ => true,
        }
    }
}

impl From<&StartPosition> for IteratorStart {
    fn from(p: &StartPosition) -> Self {
        match p {
            StartPosition::TrimHorizon => IteratorStart::TrimHorizon,
            StartPosition::Latest => IteratorStart::Latest,
            StartPosition::AtTimestamp(t) => IteratorStart::AtTimestamp(*t),
        }
    }
}

/// What a `GetRecords` call returned.
#[derive(Debug, Clone)]
pub struct GetRecordsOutput {
    /// The records, in shard order.
    pub records: Vec<Record>,
    /// The iterator for the next call; `None` once a closed shard was read to its end.
    pub next_iterator: Option<String>,
    /// How far behind the tip of the shard this read is.
    pub millis_behind_latest: Option<u64>,
}

/// One entry of a `PutRecords` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutEntry {
    /// Decides the shard.
    pub partition_key: String,
    /// The payload.
    pub data: Bytes,
    /// Overrides the hash of the partition key, if set.
    pub explicit_hash_key: Option<String>,
}

/// The result of one entry of a `PutRecords` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutEntryResult {
    /// Written.
    Ok {
        /// Where.
        shard_id: ShardId,
        /// At which position.
        sequence_number: SequenceNumber,
    },
    /// Not written.
    Failed {
        /// E.g. `ProvisionedThroughputExceededException` or `InternalFailure`.
        code: String,
        /// The service's explanation.
        message: String,
    },
}

/// One event of an enhanced fan-out subscription (`SubscribeToShardEvent`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FanOutEvent {
    /// The records, in shard order (possibly none: the service also sends empty events).
    pub records: Vec<Record>,
    /// Where the service would continue; `None` once the shard was read to its end.
    pub continuation: Option<SequenceNumber>,
    /// How far this event is behind the tip of the shard.
    pub millis_behind_latest: Option<u64>,
    /// The shards born from this one, named only at its end.
    pub child_shards: Vec<ShardId>,
}

impl FanOutEvent {
    /// Whether this event marks the end of a closed shard: no continuation (as AWS says it),
    /// or children named with nothing left to read (as some emulators say it).
    pub fn ends_shard(&self) -> bool {
        self.continuation.is_none() || (!self.child_shards.is_empty() && self.records.is_empty())
    }
}

/// A live enhanced fan-out subscription to one shard (at most 5 minutes on AWS).
#[async_trait]
pub trait ShardSubscription: Send {
    /// The next event; `Ok(None)` when the service ended the subscription.
    async fn next_event(&mut self) -> Result<Option<FanOutEvent>, ApiError>;
}

/// The Kinesis calls this crate needs.
#[async_trait]
pub trait KinesisApi: Send + Sync + 'static {
    /// The stream's name and ARN (`DescribeStreamSummary`): what checkpoints are tied to, and
    /// the first call a source makes, so a stream that does not exist fails it at once.
    async fn describe_stream(&self, stream: &StreamRef) -> Result<StreamIdentity, ApiError>;

    /// One page of `ListShards`: the shards and the token for the next page.
    async fn list_shards(
        &self,
        stream: &StreamRef,
        next_token: Option<String>,
    ) -> Result<(Vec<ShardInfo>, Option<String>), ApiError>;

    /// A shard iterator.
    async fn get_shard_iterator(
        &self,
        stream: &StreamRef,
        shard_id: &str,
        start: &IteratorStart,
    ) -> Result<String, ApiError>;

    /// Up to `limit` records from `iterator`.
    async fn get_records(
        &self,
        shard_id: &str,
        iterator: &str,
        limit: i32,
    ) -> Result<GetRecordsOutput, ApiError>;

    /// Writes `entries`; answers one result per entry, in order.
    async fn put_records(
        &self,
        stream: &StreamRef,
        entries: &[PutEntry],
    ) -> Result<Vec<PutEntryResult>, ApiError>;

    /// Registers the enhanced fan-out consumer `name` on the stream, or finds it if it
    /// exists: its ARN, and whether it is `ACTIVE` yet.
    async fn register_consumer(
        &self,
        stream: &StreamRef,
        name: &str,
    ) -> Result<(String, bool), ApiError> {
        let _ = (stream, name);
        Err(unsupported("RegisterStreamConsumer"))
    }

    /// Whether the consumer is `ACTIVE`.
    async fn consumer_active(&self, consumer_arn: &str) -> Result<bool, ApiError> {
        let _ = consumer_arn;
        Err(unsupported("DescribeStreamConsumer"))
    }

    /// Subscribes the consumer to `shard_id` from `start`.
    async fn subscribe_to_shard(
        &self,
        consumer_arn: &str,
        shard_id: &str,
        start: &IteratorStart,
    ) -> Result<Box<dyn ShardSubscription>, ApiError> {
        let _ = (consumer_arn, shard_id, start);
        Err(unsupported("SubscribeToShard"))
    }
}

fn unsupported(operation: &'static str) -> ApiError {
    ApiError::new(
        operation,
        ApiErrorKind::Fatal,
        "this KinesisApi implementation does not offer enhanced fan-out",
    )
}

/// Error codes that mean "too fast, slow down".
const THROTTLING_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "KMSThrottlingException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "TooManyRequestsException",
];

/// Error codes of transient service-side failures.
const TRANSIENT_CODES: &[&str] = &[
    "InternalFailure",
    "InternalFailureException",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Classifies an error code (and HTTP status, if known) the service answered with.
pub fn classify_code(code: Option<&str>, status: Option<u16>) -> ApiErrorKind {
    match code {
        Some("ExpiredIteratorException") => ApiErrorKind::ExpiredIterator,
        Some(c) if THROTTLING_CODES.contains(&c) => ApiErrorKind::Throttled,
        Some(c) if TRANSIENT_CODES.contains(&c) => ApiErrorKind::Transient,
        Some("ResourceNotFoundException") => ApiErrorKind::NotFound,
        _ => match status {
            Some(429) => ApiErrorKind::Throttled,
            Some(s) if s >= 500 => ApiErrorKind::Transient,
            _ => ApiErrorKind::Fatal,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fan_out_event_ends_the_shard_as_aws_or_the_emulator_says_it() {
        let record = Record::new("s", SequenceNumber::new("1"), "k", "d");
        let cont = Some(SequenceNumber::new("2"));
        let event =
            |records: Vec<Record>, continuation: Option<SequenceNumber>, children: &[&str]| {
                FanOutEvent {
                    records,
                    continuation,
                    millis_behind_latest: Some(0),
                    child_shards: children.iter().map(|c| c.to_string()).collect(),
                }
            };
        // AWS: no continuation at the end.
        assert!(event(vec![record.clone()], None, &["c1"]).ends_shard());
        assert!(event(vec![], None, &[]).ends_shard());
        // The emulator: children named, nothing left.
        assert!(event(vec![], cont.clone(), &["c1", "c2"]).ends_shard());
        // Not yet: records left, or an open shard.
        assert!(!event(vec![record], cont.clone(), &["c1"]).ends_shard());
        assert!(!event(vec![], cont, &[]).ends_shard());
    }

    #[test]
    fn a_start_position_admits_the_records_at_or_after_it() {
        let seq = |s: &str| SequenceNumber::new(s);
        assert!(!IteratorStart::AfterSequence(seq("20")).admits(&seq("20")));
        assert!(IteratorStart::AfterSequence(seq("20")).admits(&seq("21")));
        assert!(IteratorStart::AtSequence(seq("20")).admits(&seq("20")));
        assert!(!IteratorStart::AtSequence(seq("20")).admits(&seq("19")));
        assert!(IteratorStart::TrimHorizon.admits(&seq("1")));
        assert!(IteratorStart::Latest.admits(&seq("1")));
    }

    #[test]
    fn service_error_codes_are_classified_for_retry() {
        use ApiErrorKind::*;
        let cases = [
            (Some("ExpiredIteratorException"), Some(400), ExpiredIterator),
            (
                Some("ProvisionedThroughputExceededException"),
                Some(400),
                Throttled,
            ),
            (Some("LimitExceededException"), Some(400), Throttled),
            (Some("KMSThrottlingException"), Some(400), Throttled),
            (Some("InternalFailure"), Some(500), Transient),
            (Some("ResourceNotFoundException"), Some(400), NotFound),
            (Some("InvalidArgumentException"), Some(400), Fatal),
            (Some("AccessDeniedException"), Some(400), Fatal),
            (None, Some(503), Transient),
            (None, Some(429), Throttled),
        ];
        for (code, status, kind) in cases {
            assert_eq!(classify_code(code, status), kind, "{code:?} {status:?}");
        }
    }

    #[test]
    fn an_unknown_stream_is_usage_and_a_lost_connection_is_unreachable() {
        let error = |kind| ApiError::new("DescribeStreamSummary", kind, "text");
        assert_eq!(error(ApiErrorKind::NotFound).kind(), ErrorKind::Usage);
        assert_eq!(error(ApiErrorKind::Fatal).kind(), ErrorKind::Usage);
        assert_eq!(
            error(ApiErrorKind::Transient).kind(),
            ErrorKind::Unreachable
        );
        assert_eq!(error(ApiErrorKind::Throttled).kind(), ErrorKind::Retriable);
        assert!(error(ApiErrorKind::ExpiredIterator).is_retriable());
        assert!(!error(ApiErrorKind::NotFound).is_retriable());
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let caused = error(ApiErrorKind::Transient).with_source(refused);
        assert_eq!(caused, error(ApiErrorKind::Transient));
        let source = std::error::Error::source(&caused).expect("the cause is kept");
        assert!(source.to_string().contains("refused"), "{source}");
    }
}
