//! Helpers shared by the integration tests: streams on the local Kinesis API, and a wrapper
//! around the real client that injects the faults the emulator cannot produce.
#![allow(dead_code)]

use async_trait::async_trait;
use kinesis_source::api::{
    ApiError, ApiErrorKind, FanOutEvent, GetRecordsOutput, IteratorStart, KinesisApi, PutEntry,
    PutEntryResult, SdkKinesisApi, ShardInfo, ShardSubscription,
};
use kinesis_source::checkpoint::StreamIdentity;
use kinesis_source::{
    CheckpointStore, KinesisSource, KinesisSourceConfig, MemoryCheckpointStore, RecordBatch,
    RecordSource, StreamRef,
};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A client of the shared embedded emulator (or `KINESIS_ENDPOINT_URL`).
pub async fn client() -> aws_sdk_kinesis::Client {
    let endpoint = local_services::kinesis();
    local_services::kinesis_client(endpoint.url.as_deref()).await
}

/// Creates a stream of `shards` shards and waits until it is ACTIVE.
pub async fn create_stream(client: &aws_sdk_kinesis::Client, prefix: &str, shards: i32) -> String {
    let name = local_services::unique_name(prefix);
    local_services::create_stream_and_wait(client, &name, shards, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("create stream {name}: {e}"));
    name
}

/// Waits until the stream is ACTIVE (after a create or a reshard).
pub async fn wait_active(client: &aws_sdk_kinesis::Client, name: &str) {
    local_services::wait_until_active(client, name, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A source reading through the real client, keeping its checkpoints in `store`.
pub async fn source_with_store(
    client: &aws_sdk_kinesis::Client,
    config: KinesisSourceConfig,
    store: Arc<dyn CheckpointStore>,
) -> KinesisSource {
    KinesisSource::from_client(client.clone(), config, store)
        .await
        .unwrap()
}

/// A source reading through the real client, keeping its checkpoints in memory.
pub async fn memory_source(
    client: &aws_sdk_kinesis::Client,
    config: KinesisSourceConfig,
) -> KinesisSource {
    source_with_store(client, config, Arc::new(MemoryCheckpointStore::default())).await
}

/// A source reading through `api` (a [`FaultyApi`]), keeping its checkpoints in memory.
pub async fn memory_source_over(
    api: Arc<dyn KinesisApi>,
    config: KinesisSourceConfig,
) -> KinesisSource {
    KinesisSource::start(api, config, Arc::new(MemoryCheckpointStore::default()))
        .await
        .unwrap()
}

/// Reads batches until `want` records arrived, acknowledging each batch; panics after 90 s.
pub async fn read_records(source: &mut dyn RecordSource, want: usize) -> Vec<RecordBatch> {
    read_batches(source, want, true).await
}

/// Reads batches until `want` records arrived, acknowledging each batch as it comes if `ack`;
/// panics after 90 s.
pub async fn read_batches(
    source: &mut dyn RecordSource,
    want: usize,
    ack: bool,
) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    let mut got = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while got < want {
        let batch = tokio::time::timeout_at(deadline, source.next_batch())
            .await
            .unwrap_or_else(|_| panic!("only {got} of {want} records arrived in time"))
            .expect("next_batch")
            .expect("the source ended early");
        got += batch.records.len();
        if ack {
            batch.ack_all();
        }
        batches.push(batch);
    }
    batches
}

/// Asserts that every record was delivered exactly once and that sequence numbers increase
/// within each shard; returns the payloads in delivery order.
pub fn assert_once_and_in_shard_order(batches: &[RecordBatch]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut last: HashMap<&str, &kinesis_source::SequenceNumber> = HashMap::new();
    let mut payloads = Vec::new();
    for b in batches {
        for r in &b.records {
            assert_eq!(r.shard_id, b.shard_id);
            assert!(
                seen.insert((r.shard_id.clone(), r.sequence_number.clone())),
                "record {} of {} delivered twice",
                r.sequence_number,
                r.shard_id
            );
            if let Some(prev) = last.insert(&r.shard_id, &r.sequence_number) {
                assert!(
                    *prev < r.sequence_number,
                    "shard {} out of order",
                    r.shard_id
                );
            }
            payloads.push(String::from_utf8(r.data.to_vec()).unwrap());
        }
    }
    payloads
}

/// Asserts that `want` records were delivered, each exactly once, in order within each shard
/// and for every key; returns the payloads in delivery order.
pub fn assert_all_once_and_in_order(batches: &[RecordBatch], want: usize) -> Vec<String> {
    let payloads = assert_once_and_in_shard_order(batches);
    assert_eq!(payloads.len(), want);
    assert_per_key_order(&payloads);
    payloads
}

/// Asserts that payloads `key:n` come with increasing `n` for every key.
pub fn assert_per_key_order(payloads: &[String]) {
    let mut last: HashMap<&str, u64> = HashMap::new();
    for p in payloads {
        let (key, n) = p.rsplit_once(':').expect("payload key:n");
        let n: u64 = n.parse().unwrap();
        if let Some(prev) = last.insert(key, n) {
            assert!(prev < n, "key {key}: {n} came after {prev}");
        }
    }
}

/// The real SDK client with faults injected on demand.
pub struct FaultyApi {
    pub inner: SdkKinesisApi,
    /// Of every `n` GetRecords calls, all but one are refused with throttling.
    pub throttle_get_records_every: Option<u64>,
    /// GetRecords on these shards fails (fatally) this many more times.
    pub fail_shard: Mutex<HashMap<String, u32>>,
    /// PutRecords entries whose payload was never seen before fail once, if their payload
    /// ends in an odd digit.
    pub fail_odd_entries_once: bool,
    pub get_records_calls: AtomicU64,
    pub throttled: AtomicU64,
    pub entries_sent: AtomicU64,
    /// (entries, bytes) of every PutRecords call.
    pub put_calls: Mutex<Vec<(usize, usize)>>,
    /// The next this many `SubscribeToShard` calls are refused with throttling.
    pub throttle_subscribes: AtomicU32,
    /// Every subscription goes silent (never answers again) after this many events.
    pub stall_subscriptions_after: Option<usize>,
    pub subscribes: AtomicU64,
    failed_once: Mutex<HashSet<Vec<u8>>>,
}

/// A subscription that goes silent after a number of events, as a connection can.
struct StallingSubscription {
    inner: Box<dyn ShardSubscription>,
    left: usize,
}

#[async_trait]
impl ShardSubscription for StallingSubscription {
    async fn next_event(&mut self) -> Result<Option<FanOutEvent>, ApiError> {
        if self.left == 0 {
            std::future::pending::<()>().await;
        }
        self.left -= 1;
        self.inner.next_event().await
    }
}

impl FaultyApi {
    pub fn new(client: aws_sdk_kinesis::Client) -> Self {
        Self {
            inner: SdkKinesisApi::new(client),
            throttle_get_records_every: None,
            fail_shard: Mutex::new(HashMap::new()),
            fail_odd_entries_once: false,
            get_records_calls: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            entries_sent: AtomicU64::new(0),
            put_calls: Mutex::new(Vec::new()),
            throttle_subscribes: AtomicU32::new(0),
            stall_subscriptions_after: None,
            subscribes: AtomicU64::new(0),
            failed_once: Mutex::new(HashSet::new()),
        }
    }

    /// Makes the next `times` GetRecords calls on `shard_id` fail fatally.
    pub fn fail_shard_reads(&self, shard_id: &str, times: u32) {
        self.fail_shard
            .lock()
            .unwrap()
            .insert(shard_id.to_owned(), times);
    }
}

#[async_trait]
impl KinesisApi for FaultyApi {
    async fn describe_stream(&self, stream: &StreamRef) -> Result<StreamIdentity, ApiError> {
        self.inner.describe_stream(stream).await
    }

    async fn list_shards(
        &self,
        stream: &StreamRef,
        next_token: Option<String>,
    ) -> Result<(Vec<ShardInfo>, Option<String>), ApiError> {
        self.inner.list_shards(stream, next_token).await
    }

    async fn get_shard_iterator(
        &self,
        stream: &StreamRef,
        shard_id: &str,
        start: &IteratorStart,
    ) -> Result<String, ApiError> {
        self.inner.get_shard_iterator(stream, shard_id, start).await
    }

    async fn register_consumer(
        &self,
        stream: &StreamRef,
        name: &str,
    ) -> Result<(String, bool), ApiError> {
        self.inner.register_consumer(stream, name).await
    }

    async fn consumer_active(&self, consumer_arn: &str) -> Result<bool, ApiError> {
        self.inner.consumer_active(consumer_arn).await
    }

    async fn subscribe_to_shard(
        &self,
        consumer_arn: &str,
        shard_id: &str,
        start: &IteratorStart,
    ) -> Result<Box<dyn ShardSubscription>, ApiError> {
        self.subscribes.fetch_add(1, Ordering::SeqCst);
        let refuse = self
            .throttle_subscribes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refuse {
            self.throttled.fetch_add(1, Ordering::SeqCst);
            return Err(ApiError::new(
                "SubscribeToShard",
                ApiErrorKind::Throttled,
                "LimitExceededException: rate exceeded for consumer",
            ));
        }
        let inner = self
            .inner
            .subscribe_to_shard(consumer_arn, shard_id, start)
            .await?;
        Ok(match self.stall_subscriptions_after {
            Some(left) => Box::new(StallingSubscription { inner, left }),
            None => inner,
        })
    }

    async fn get_records(
        &self,
        shard_id: &str,
        iterator: &str,
        limit: i32,
    ) -> Result<GetRecordsOutput, ApiError> {
        let n = self.get_records_calls.fetch_add(1, Ordering::SeqCst);
        if let Some(every) = self.throttle_get_records_every {
            if !n.is_multiple_of(every) {
                self.throttled.fetch_add(1, Ordering::SeqCst);
                return Err(ApiError::new(
                    "GetRecords",
                    ApiErrorKind::Throttled,
                    "ProvisionedThroughputExceededException: Rate exceeded for shard",
                ));
            }
        }
        {
            let mut fail = self.fail_shard.lock().unwrap();
            if let Some(left) = fail.get_mut(shard_id) {
                if *left > 0 {
                    *left -= 1;
                    return Err(ApiError::new(
                        "GetRecords",
                        ApiErrorKind::Fatal,
                        "injected failure",
                    ));
                }
            }
        }
        self.inner.get_records(shard_id, iterator, limit).await
    }

    async fn put_records(
        &self,
        stream: &StreamRef,
        entries: &[PutEntry],
    ) -> Result<Vec<PutEntryResult>, ApiError> {
        let bytes = entries
            .iter()
            .map(|e| e.data.len() + e.partition_key.len())
            .sum();
        self.put_calls.lock().unwrap().push((entries.len(), bytes));
        self.entries_sent
            .fetch_add(entries.len() as u64, Ordering::SeqCst);
        // Decide which entries fail, send the rest for real, and merge the answers in order.
        let fail: Vec<bool> = entries
            .iter()
            .map(|e| {
                self.fail_odd_entries_once
                    && e.data.last().is_some_and(|d| (d - b'0') % 2 == 1)
                    && self.failed_once.lock().unwrap().insert(e.data.to_vec())
            })
            .collect();
        let send: Vec<PutEntry> = entries
            .iter()
            .zip(&fail)
            .filter(|(_, f)| !**f)
            .map(|(e, _)| e.clone())
            .collect();
        let mut sent = if send.is_empty() {
            Vec::new()
        } else {
            self.inner.put_records(stream, &send).await?
        }
        .into_iter();
        Ok(fail
            .into_iter()
            .map(|f| {
                if f {
                    PutEntryResult::Failed {
                        code: "ProvisionedThroughputExceededException".into(),
                        message: "Rate exceeded for shard".into(),
                    }
                } else {
                    sent.next().expect("one answer per sent entry")
                }
            })
            .collect())
    }
}
