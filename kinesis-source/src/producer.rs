//! [`KinesisProducer`]: `PutRecords` batching that resends only what failed.

use crate::api::{ApiError, ApiErrorKind, KinesisApi, PutEntry, PutEntryResult};
use crate::backoff::Backoff;
use crate::config::{ConfigError, StreamRef};
use crate::metrics::{self as names, ProducerStats};
use crate::record::{SequenceNumber, ShardId};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Most records one `PutRecords` call takes.
pub const MAX_RECORDS_PER_CALL: usize = 500;
/// Most bytes (payloads and partition keys) one `PutRecords` call takes.
pub const MAX_BYTES_PER_CALL: usize = 5 * 1024 * 1024;
/// Most bytes one record may have, payload and partition key together.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Longest partition key, in Unicode characters.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// Per-entry error codes worth resending: the service may accept the entry later.
const RETRIABLE_ENTRY_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "InternalFailure",
    "KMSThrottlingException",
];

/// How a [`KinesisProducer`] writes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// The stream.
    pub stream: StreamRef,
    /// Records per `PutRecords` call: default and maximum 500.
    pub max_records_per_call: usize,
    /// Bytes per call, payloads plus partition keys: default and maximum 5 MiB.
    pub max_bytes_per_call: usize,
    /// `PutRecords` calls in flight at once: default 4.
    pub max_in_flight_calls: usize,
    /// Backoff before resending failed entries: default 100 ms doubling to 5 s, 10 resends.
    pub retry_backoff: Backoff,
    /// Upper bound of each call: default 10 s.
    pub call_timeout: Duration,
}

impl ProducerConfig {
    /// The defaults for `stream`.
    pub fn new(stream: StreamRef) -> Self {
        Self {
            stream,
            max_records_per_call: MAX_RECORDS_PER_CALL,
            max_bytes_per_call: MAX_BYTES_PER_CALL,
            max_in_flight_calls: 4,
            retry_backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 10),
            call_timeout: Duration::from_secs(10),
        }
    }

    /// Checks every field against the service's limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, problem: String| Err(ConfigError { field, problem });
        if !(1..=MAX_RECORDS_PER_CALL).contains(&self.max_records_per_call) {
            return err(
                "max_records_per_call",
                format!(
                    "must be 1..={MAX_RECORDS_PER_CALL}, got {}",
                    self.max_records_per_call
                ),
            );
        }
        if !(MAX_RECORD_BYTES..=MAX_BYTES_PER_CALL).contains(&self.max_bytes_per_call) {
            return err(
                "max_bytes_per_call",
                format!(
                    "must be {MAX_RECORD_BYTES}..={MAX_BYTES_PER_CALL}, got {}",
                    self.max_bytes_per_call
                ),
            );
        }
        if self.max_in_flight_calls == 0 {
            return err("max_in_flight_calls", "must be at least 1".into());
        }
        if self.retry_backoff.base.is_zero() || self.retry_backoff.max < self.retry_backoff.base {
            return err(
                "retry_backoff",
                format!("needs 0 < base <= max, got {:?}", self.retry_backoff),
            );
        }
        if self.call_timeout < Duration::from_millis(10) {
            return err(
                "call_timeout",
                format!("must be at least 10 ms, got {:?}", self.call_timeout),
            );
        }
        Ok(())
    }
}

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

    fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
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
        error: ApiError,
        /// Calls made.
        attempts: u32,
    },
}

impl PutFailure {
    /// Whether putting the record again later may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            PutFailure::TooLarge { .. } | PutFailure::InvalidPartitionKey { .. } => false,
            PutFailure::Rejected { code, .. } => RETRIABLE_ENTRY_CODES.contains(&code.as_str()),
            PutFailure::CallFailed { error, .. } => error.is_retriable(),
        }
    }
}

/// One record's outcome.
pub type PutResult = Result<PutReceipt, PutFailure>;

/// Puts records with `PutRecords`, as many per call as the API allows, resending only the
/// entries that failed.
///
/// * Records are packed into calls of at most 500 records and 5 MiB. A record over 1 MiB
///   (payload plus partition key) or with an invalid key gets its own
///   [`PutFailure`] and is never sent; the others go on.
/// * When a call partly fails, only its failed entries are sent again, after a jittered,
///   bounded backoff ([`ProducerConfig::retry_backoff`]), and counted in
///   [`names::PRODUCER_RETRIES`]. Entries refused for good (no retriable code) are reported.
/// * At most [`ProducerConfig::max_in_flight_calls`] calls are in flight.
/// * Order: calls start in the order of the records. With `max_in_flight_calls = 1` and no
///   resends, records land in the order given. A resent entry lands after entries that
///   succeeded the first time, and concurrent calls race, so in general per-key order is not
///   guaranteed by the producer (the original's was not either); this workspace's writes are
///   idempotent upserts, so order does not change the result.
#[derive(Clone)]
pub struct KinesisProducer {
    api: Arc<dyn KinesisApi>,
    config: Arc<ProducerConfig>,
    permits: Arc<Semaphore>,
    stats: Arc<ProducerStats>,
}

impl std::fmt::Debug for KinesisProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KinesisProducer")
            .field("config", &self.config)
            .finish()
    }
}

impl KinesisProducer {
    /// A producer over `api`.
    pub fn new(api: Arc<dyn KinesisApi>, config: ProducerConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        names::describe();
        Ok(Self {
            api,
            permits: Arc::new(Semaphore::new(config.max_in_flight_calls)),
            config: Arc::new(config),
            stats: Arc::new(ProducerStats::default()),
        })
    }

    /// A producer over the real SDK client (feature `kinesis`).
    #[cfg(feature = "kinesis")]
    pub fn from_client(
        client: aws_sdk_kinesis::Client,
        config: ProducerConfig,
    ) -> Result<Self, ConfigError> {
        Self::new(Arc::new(crate::SdkKinesisApi::new(client)), config)
    }

    /// Running totals, for progress displays.
    pub fn stats(&self) -> Arc<ProducerStats> {
        self.stats.clone()
    }

    /// Puts `records`; answers one outcome per record, in the same order.
    pub async fn put(&self, records: Vec<ProducerRecord>) -> Vec<PutResult> {
        let mut outcomes: Vec<Option<PutResult>> = vec![None; records.len()];
        let mut chunks: Vec<Vec<(usize, PutEntry)>> = Vec::new();
        let mut current: Vec<(usize, PutEntry)> = Vec::new();
        let mut current_bytes = 0;
        for (i, r) in records.into_iter().enumerate() {
            if let Err(f) = check(&r) {
                names::add(&self.stats.records_failed, 1);
                ::metrics::counter!(names::PRODUCER_RECORDS_FAILED).increment(1);
                outcomes[i] = Some(Err(f));
                continue;
            }
            let size = r.size();
            if !current.is_empty()
                && (current.len() == self.config.max_records_per_call
                    || current_bytes + size > self.config.max_bytes_per_call)
            {
                chunks.push(std::mem::take(&mut current));
                current_bytes = 0;
            }
            current_bytes += size;
            current.push((
                i,
                PutEntry {
                    partition_key: r.partition_key,
                    data: r.data,
                    explicit_hash_key: r.explicit_hash_key,
                },
            ));
        }
        if !current.is_empty() {
            chunks.push(current);
        }
        let mut tasks = JoinSet::new();
        for chunk in chunks {
            // Taking the permit here, before spawning, starts the calls in the order of the
            // records (tasks themselves may start in any order).
            let permit = self
                .permits
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let this = self.clone();
            tasks.spawn(async move { this.put_chunk(chunk, permit).await });
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(results) => {
                    for (i, r) in results {
                        outcomes[i] = Some(r);
                    }
                }
                // A panic inside the SDK: the affected slots stay empty and are reported below.
                Err(e) => tracing::error!(error = %e, "a PutRecords task failed"),
            }
        }
        outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    Err(PutFailure::CallFailed {
                        error: ApiError::new(
                            "PutRecords",
                            ApiErrorKind::Fatal,
                            "the task sending this record failed",
                        ),
                        attempts: 0,
                    })
                })
            })
            .collect()
    }

    /// Sends one chunk, resending failed entries until they succeed or the retries run out.
    async fn put_chunk(
        &self,
        chunk: Vec<(usize, PutEntry)>,
        first_permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Vec<(usize, PutResult)> {
        let mut done = Vec::with_capacity(chunk.len());
        let mut remaining = chunk;
        let mut attempts = 0u32;
        let mut first_permit = Some(first_permit);
        loop {
            attempts += 1;
            let entries: Vec<PutEntry> = remaining.iter().map(|(_, e)| e.clone()).collect();
            let result = {
                let _permit = match first_permit.take() {
                    Some(p) => p,
                    None => self
                        .permits
                        .clone()
                        .acquire_owned()
                        .await
                        .expect("the semaphore is never closed"),
                };
                names::add(&self.stats.calls, 1);
                ::metrics::counter!(names::PRODUCER_CALLS).increment(1);
                tokio::time::timeout(
                    self.config.call_timeout,
                    self.api.put_records(&self.config.stream, &entries),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(ApiError::new(
                        "PutRecords",
                        ApiErrorKind::Transient,
                        format!("no answer within {:?}", self.config.call_timeout),
                    ))
                })
            };
            let mut failed: Vec<((usize, PutEntry), PutFailure)> = Vec::new();
            match result {
                Ok(results) => {
                    for ((i, entry), r) in remaining.into_iter().zip(results) {
                        match r {
                            PutEntryResult::Ok {
                                shard_id,
                                sequence_number,
                            } => {
                                names::add(&self.stats.records_put, 1);
                                ::metrics::counter!(names::PRODUCER_RECORDS_PUT).increment(1);
                                done.push((
                                    i,
                                    Ok(PutReceipt {
                                        shard_id,
                                        sequence_number,
                                        attempts,
                                    }),
                                ));
                            }
                            PutEntryResult::Failed { code, message } => {
                                if code == "ProvisionedThroughputExceededException"
                                    || code == "KMSThrottlingException"
                                {
                                    names::add(&self.stats.throttled, 1);
                                    ::metrics::counter!(names::PRODUCER_THROTTLED).increment(1);
                                }
                                let failure = PutFailure::Rejected {
                                    code,
                                    message,
                                    attempts,
                                };
                                if failure.is_retriable() {
                                    failed.push(((i, entry), failure));
                                } else {
                                    self.give_up(&mut done, i, failure);
                                }
                            }
                        }
                    }
                }
                Err(error) => {
                    if error.kind == ApiErrorKind::Throttled {
                        names::add(&self.stats.throttled, 1);
                        ::metrics::counter!(names::PRODUCER_THROTTLED).increment(1);
                    }
                    let retriable = error.is_retriable();
                    for item in remaining {
                        let failure = PutFailure::CallFailed {
                            error: error.clone(),
                            attempts,
                        };
                        if retriable {
                            failed.push((item, failure));
                        } else {
                            self.give_up(&mut done, item.0, failure);
                        }
                    }
                }
            }
            if failed.is_empty() {
                return done;
            }
            match self.config.retry_backoff.delay(attempts - 1) {
                Some(delay) => {
                    names::add(&self.stats.retries, failed.len() as u64);
                    ::metrics::counter!(names::PRODUCER_RETRIES).increment(failed.len() as u64);
                    tracing::debug!(
                        entries = failed.len(),
                        ?delay,
                        "resending failed PutRecords entries"
                    );
                    tokio::time::sleep(delay).await;
                    remaining = failed.into_iter().map(|(item, _)| item).collect();
                }
                None => {
                    for ((i, _), failure) in failed {
                        self.give_up(&mut done, i, failure);
                    }
                    return done;
                }
            }
        }
    }

    fn give_up(&self, done: &mut Vec<(usize, PutResult)>, i: usize, failure: PutFailure) {
        names::add(&self.stats.records_failed, 1);
        ::metrics::counter!(names::PRODUCER_RECORDS_FAILED).increment(1);
        tracing::warn!(error = %failure, "record not put");
        done.push((i, Err(failure)));
    }
}

/// Checks a record against the per-record limits.
fn check(r: &ProducerRecord) -> Result<(), PutFailure> {
    let chars = r.partition_key.chars().count();
    if chars == 0 || chars > MAX_PARTITION_KEY_CHARS {
        return Err(PutFailure::InvalidPartitionKey {
            reason: format!("must be 1..={MAX_PARTITION_KEY_CHARS} characters, got {chars}"),
        });
    }
    if r.size() > MAX_RECORD_BYTES {
        return Err(PutFailure::TooLarge {
            bytes: r.size(),
            limit: MAX_RECORD_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{GetRecordsOutput, IteratorStart, ShardInfo};
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// Accepts everything and remembers the size of each call.
    #[derive(Default)]
    struct CountingApi {
        calls: Mutex<Vec<(usize, usize)>>,
    }

    #[async_trait]
    impl KinesisApi for CountingApi {
        async fn describe_stream(&self, _: &StreamRef) -> Result<crate::StreamIdentity, ApiError> {
            unreachable!("the producer does not describe the stream")
        }
        async fn list_shards(
            &self,
            _: &StreamRef,
            _: Option<String>,
        ) -> Result<(Vec<ShardInfo>, Option<String>), ApiError> {
            unreachable!("the producer does not list shards")
        }
        async fn get_shard_iterator(
            &self,
            _: &StreamRef,
            _: &str,
            _: &IteratorStart,
        ) -> Result<String, ApiError> {
            unreachable!("the producer does not read")
        }
        async fn get_records(
            &self,
            _: &str,
            _: &str,
            _: i32,
        ) -> Result<GetRecordsOutput, ApiError> {
            unreachable!("the producer does not read")
        }
        async fn put_records(
            &self,
            _: &StreamRef,
            entries: &[PutEntry],
        ) -> Result<Vec<PutEntryResult>, ApiError> {
            let bytes = entries
                .iter()
                .map(|e| e.data.len() + e.partition_key.len())
                .sum();
            self.calls.lock().unwrap().push((entries.len(), bytes));
            Ok(entries
                .iter()
                .map(|_| PutEntryResult::Ok {
                    shard_id: "shardId-000000000000".into(),
                    sequence_number: "1".into(),
                })
                .collect())
        }
    }

    async fn calls_for(records: Vec<ProducerRecord>) -> Vec<(usize, usize)> {
        let api = Arc::new(CountingApi::default());
        let producer =
            KinesisProducer::new(api.clone(), ProducerConfig::new(StreamRef::parse("s"))).unwrap();
        let n = records.len();
        let outcomes = producer.put(records).await;
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), n);
        let calls = api.calls.lock().unwrap().clone();
        calls
    }

    #[tokio::test]
    async fn small_records_go_500_to_a_call() {
        let records = (0..1200)
            .map(|i| ProducerRecord::new(format!("k{i}"), "x"))
            .collect();
        let mut sizes: Vec<usize> = calls_for(records).await.into_iter().map(|c| c.0).collect();
        sizes.sort();
        assert_eq!(sizes, vec![200, 500, 500]);
    }

    #[tokio::test]
    async fn large_records_fill_calls_up_to_5_mib_counting_partition_keys() {
        // 20 000-byte payload + 5-byte key: 262 fit in 5 MiB (262 * 20 005 = 5 241 310).
        let records = (0..1200)
            .map(|i| ProducerRecord::new(format!("{i:05}"), vec![0u8; 20_000]))
            .collect();
        let calls = calls_for(records).await;
        assert_eq!(calls.len(), 5);
        for (entries, bytes) in &calls {
            assert!(*bytes <= MAX_BYTES_PER_CALL);
            assert!(*entries == 262 || *entries == 1200 - 4 * 262, "{entries}");
        }
    }

    #[test]
    fn producer_config_limits_name_their_field() {
        let mut c = ProducerConfig::new(StreamRef::parse("s"));
        c.validate().unwrap();
        c.max_records_per_call = 501;
        assert_eq!(c.validate().unwrap_err().field, "max_records_per_call");
        let mut c = ProducerConfig::new(StreamRef::parse("s"));
        c.max_bytes_per_call = MAX_BYTES_PER_CALL + 1;
        assert_eq!(c.validate().unwrap_err().field, "max_bytes_per_call");
    }
}
