//! [`KinesisProducer`]: `PutRecords` batching that resends only what failed, with its
//! configuration and the outcome of each record.

mod config;
mod record;

pub use config::{ProducerConfig, ProducerConfigBuilder};
pub use record::{ProducerRecord, PutFailure, PutReceipt, PutResult};

use crate::api::{ApiError, ApiErrorKind, KinesisApi, PutEntry, PutEntryResult};
use crate::metrics::{self as names, ProducerCounters, ProducerStats};
use crate::ConfigError;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// A record on its way, with its place in the caller's list.
type Indexed = (usize, PutEntry);
/// A record to send again, with the failure it would be reported with if it is not.
type Failed = (Indexed, PutFailure);

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
    stats: Arc<ProducerCounters>,
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
            stats: Arc::new(ProducerCounters::default()),
        })
    }

    /// A producer over the real SDK client (feature `kinesis`).
    #[cfg(feature = "kinesis")]
    pub fn from_client(
        client: aws_sdk_kinesis::Client,
        config: ProducerConfig,
    ) -> Result<Self, ConfigError> {
        Self::new(Arc::new(crate::api::SdkKinesisApi::new(client)), config)
    }

    /// Running totals so far (shared by every clone of this producer).
    pub fn stats(&self) -> ProducerStats {
        self.stats.snapshot()
    }

    /// Puts `records`; answers one outcome per record, in the same order.
    pub async fn put(&self, records: Vec<ProducerRecord>) -> Vec<PutResult> {
        let (mut outcomes, chunks) = self.pack(records);
        let mut tasks = JoinSet::new();
        for chunk in chunks {
            // Taking the permit here, before spawning, starts the calls in the order of the
            // records (tasks themselves may start in any order).
            let permit = self.permit().await;
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

    /// Packs the records that pass the per-record limits into calls within the per-call
    /// limits, in order; the others already have their outcome.
    fn pack(&self, records: Vec<ProducerRecord>) -> (Vec<Option<PutResult>>, Vec<Vec<Indexed>>) {
        let mut outcomes: Vec<Option<PutResult>> = vec![None; records.len()];
        let mut chunks: Vec<Vec<Indexed>> = Vec::new();
        let mut current: Vec<Indexed> = Vec::new();
        let mut current_bytes = 0;
        for (i, r) in records.into_iter().enumerate() {
            if let Err(f) = r.check() {
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
        (outcomes, chunks)
    }

    async fn permit(&self) -> OwnedSemaphorePermit {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Sends one chunk, resending failed entries until they succeed or the retries run out.
    async fn put_chunk(
        &self,
        chunk: Vec<Indexed>,
        first_permit: OwnedSemaphorePermit,
    ) -> Vec<(usize, PutResult)> {
        let mut done = Vec::with_capacity(chunk.len());
        let mut remaining = chunk;
        let mut attempts = 0u32;
        let mut first_permit = Some(first_permit);
        loop {
            attempts += 1;
            let result = self.call(&remaining, first_permit.take()).await;
            let failed = match result {
                Ok(results) => self.sort_entries(remaining, results, attempts, &mut done),
                Err(error) => self.sort_call_failure(remaining, error, attempts, &mut done),
            };
            if failed.is_empty() {
                return done;
            }
            let Some(delay) = self.config.retry_backoff.next_delay(attempts - 1) else {
                for ((i, _), failure) in failed {
                    self.give_up(&mut done, i, failure);
                }
                return done;
            };
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
    }

    /// One `PutRecords` call with the entries of `remaining`, under a permit (the one given,
    /// or a new one), bounded by the call timeout.
    async fn call(
        &self,
        remaining: &[Indexed],
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<Vec<PutEntryResult>, ApiError> {
        let entries: Vec<PutEntry> = remaining.iter().map(|(_, e)| e.clone()).collect();
        let _permit = match permit {
            Some(p) => p,
            None => self.permit().await,
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
    }

    /// Receipts for the accepted entries, final failures for those refused for good; the
    /// entries refused for the moment come back, to be sent again.
    fn sort_entries(
        &self,
        remaining: Vec<Indexed>,
        results: Vec<PutEntryResult>,
        attempts: u32,
        done: &mut Vec<(usize, PutResult)>,
    ) -> Vec<Failed> {
        let mut failed = Vec::new();
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
                        self.give_up(done, i, failure);
                    }
                }
            }
        }
        failed
    }

    /// Every entry of a call that failed as a whole: to be sent again if the error may pass,
    /// else given up on.
    fn sort_call_failure(
        &self,
        remaining: Vec<Indexed>,
        error: ApiError,
        attempts: u32,
        done: &mut Vec<(usize, PutResult)>,
    ) -> Vec<Failed> {
        if error.kind == ApiErrorKind::Throttled {
            names::add(&self.stats.throttled, 1);
            ::metrics::counter!(names::PRODUCER_THROTTLED).increment(1);
        }
        let retriable = error.is_retriable();
        let mut failed = Vec::new();
        for item in remaining {
            let failure = PutFailure::CallFailed {
                error: error.clone(),
                attempts,
            };
            if retriable {
                failed.push((item, failure));
            } else {
                self.give_up(done, item.0, failure);
            }
        }
        failed
    }

    fn give_up(&self, done: &mut Vec<(usize, PutResult)>, i: usize, failure: PutFailure) {
        names::add(&self.stats.records_failed, 1);
        ::metrics::counter!(names::PRODUCER_RECORDS_FAILED).increment(1);
        tracing::warn!(error = %failure, "record not put");
        done.push((i, Err(failure)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{GetRecordsOutput, IteratorStart, ShardInfo};
    use crate::config::StreamRef;
    use crate::limits::MAX_BYTES_PER_CALL;
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// Accepts everything and remembers the size of each call.
    #[derive(Default)]
    struct CountingApi {
        calls: Mutex<Vec<(usize, usize)>>,
    }

    #[async_trait]
    impl KinesisApi for CountingApi {
        async fn describe_stream(
            &self,
            _: &StreamRef,
        ) -> Result<crate::checkpoint::StreamIdentity, ApiError> {
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
        let config = ProducerConfig::builder(StreamRef::parse("s"))
            .build()
            .unwrap();
        let producer = KinesisProducer::new(api.clone(), config).unwrap();
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
}
