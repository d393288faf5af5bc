//! `KinesisSource` against the local Kinesis API, through the real `aws-sdk-kinesis` client.

mod common;

use common::*;
use kinesis_source::producer::{KinesisProducer, ProducerConfig, ProducerRecord, PutReceipt};
use kinesis_source::{
    Checkpoint, CheckpointStore, FileCheckpointStore, KinesisSourceConfigBuilder,
    MemoryCheckpointStore, RecordSource, SourceError, StartPosition, StreamRef,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use stream2neptune_common::Backoff;

/// Settings that make tests quick while staying within the service's limits.
fn fast_config(stream: &str, batch: usize) -> KinesisSourceConfigBuilder {
    read_config(stream, batch, Read::Polling)
}

/// How a test reads: the same tests run polling and through enhanced fan-out.
#[derive(Debug, Clone, Copy)]
enum Read {
    Polling,
    FanOut,
}

fn read_config(stream: &str, batch: usize, read: Read) -> KinesisSourceConfigBuilder {
    let fan_out = match read {
        Read::FanOut => Some("stream-2-neptune-tests".to_owned()),
        Read::Polling => None,
    };
    kinesis_source::KinesisSourceConfig::builder(StreamRef::parse(stream))
        .fan_out(fan_out)
        .start_position(StartPosition::TrimHorizon)
        .batch_read_size(batch)
        .max_unacked_records_per_shard(batch * 4)
        .idle_time_between_reads(Duration::from_millis(200))
        .checkpoint_interval(Duration::from_millis(50))
        .restart_backoff(
            Backoff::new(Duration::from_millis(50), Duration::from_millis(200))
                .with_max_retries(20),
        )
        .shutdown_timeout(Duration::from_secs(5))
}

/// Puts `rounds` records for each of `keys` keys, payload `k<key>:<n>`, in order per key.
async fn put_keyed(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    keys: usize,
    rounds: std::ops::Range<usize>,
) -> Vec<PutReceipt> {
    // One call at a time keeps each key's records in the order they are given.
    let config = ProducerConfig::builder(StreamRef::parse(stream))
        .max_in_flight_calls(1)
        .build()
        .unwrap();
    let producer = KinesisProducer::from_client(client.clone(), config).unwrap();
    let records = rounds
        .flat_map(|n| {
            (0..keys).map(move |k| ProducerRecord::new(format!("k{k}"), format!("k{k}:{n}")))
        })
        .collect();
    producer
        .put(records)
        .await
        .into_iter()
        .map(|r| r.expect("every record is put"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_of_a_multi_shard_stream_is_read_once_and_in_order() {
    read_once_and_in_order(Read::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_of_a_multi_shard_stream_is_read_once_and_in_order_through_fan_out() {
    let stats = read_once_and_in_order(Read::FanOut).await;
    assert!(stats.subscriptions >= 4, "one per shard at least");
}

async fn read_once_and_in_order(read: Read) -> kinesis_source::metrics::SourceStats {
    let client = client().await;
    let stream = create_stream(&client, "once", 4).await;
    let receipts = put_keyed(&client, &stream, 50, 0..40).await;
    assert_eq!(receipts.len(), 2000);
    let store = Arc::new(MemoryCheckpointStore::default());
    let config = read_config(&stream, 300, read).build().unwrap();
    let mut source = source_with_store(&client, config, store.clone()).await;
    let batches = read_records(&mut source, 2000).await;
    assert_all_once_and_in_order(&batches, 2000);
    assert!(batches.iter().all(|b| b.records.len() <= 300));
    source.shutdown().await.unwrap();
    // The final checkpoint of each shard is its last record.
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for r in &receipts {
        let e = last.entry(r.shard_id.clone()).or_default();
        if e.is_empty() || kinesis_source::SequenceNumber::from(e.as_str()) < r.sequence_number {
            *e = r.sequence_number.to_string();
        }
    }
    assert_eq!(last.len(), 4);
    for (shard, seq) in last {
        assert_eq!(
            store.get_sync(&shard),
            Some(Checkpoint::AfterSequence(seq.as_str().into()))
        );
    }
    let stats = source.stats();
    assert_eq!(stats.records, 2000);
    assert!(stats.checkpoint_writes >= 1);
    stats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_and_a_merge_mid_run_read_parents_before_children() {
    split_and_merge_mid_run(Read::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_and_a_merge_mid_run_read_parents_before_children_through_fan_out() {
    split_and_merge_mid_run(Read::FanOut).await;
}

async fn split_and_merge_mid_run(read: Read) {
    let client = client().await;
    let stream = create_stream(&client, "reshard", 2).await;
    let store = Arc::new(MemoryCheckpointStore::default());
    let config = read_config(&stream, 100, read).build().unwrap();
    let mut source = source_with_store(&client, config, store.clone()).await;

    let keys = 30;
    let mut total = put_keyed(&client, &stream, keys, 0..10).await.len();
    let mut batches = read_records(&mut source, total / 2).await;

    // Split the first shard in the middle of its hash range.
    let shards = local_services::list_shards(&client, &stream).await.unwrap();
    let first = &shards[0];
    local_services::split_shard_in_half(&client, &stream, first)
        .await
        .expect("split");
    wait_active(&client, &stream).await;
    total += put_keyed(&client, &stream, keys, 10..20).await.len();
    let got: usize = batches.iter().map(|b| b.records.len()).sum();
    batches.extend(read_records(&mut source, total - got - 50).await);

    // Merge the two children of the split back together.
    let shards = local_services::list_shards(&client, &stream).await.unwrap();
    let children: Vec<_> = shards
        .iter()
        .filter(|s| s.parent_shard_id() == Some(first.shard_id()))
        .collect();
    assert_eq!(children.len(), 2);
    let (a, b) = (children[0], children[1]);
    let (a, b) = if a
        .hash_key_range()
        .unwrap()
        .starting_hash_key()
        .parse::<u128>()
        .unwrap()
        < b.hash_key_range()
            .unwrap()
            .starting_hash_key()
            .parse::<u128>()
            .unwrap()
    {
        (a, b)
    } else {
        (b, a)
    };
    client
        .merge_shards()
        .stream_name(&stream)
        .shard_to_merge(a.shard_id())
        .adjacent_shard_to_merge(b.shard_id())
        .send()
        .await
        .expect("merge");
    wait_active(&client, &stream).await;
    total += put_keyed(&client, &stream, keys, 20..30).await.len();
    let got: usize = batches.iter().map(|b| b.records.len()).sum();
    batches.extend(read_records(&mut source, total - got).await);

    let payloads = assert_once_and_in_shard_order(&batches);
    assert_eq!(payloads.len(), total, "every record exactly once");
    assert_per_key_order(&payloads);

    // Parent before child, checked on the shard lineage itself.
    let listing = local_services::list_shards(&client, &stream).await.unwrap();
    let mut first_at: HashMap<&str, usize> = HashMap::new();
    let mut last_at: HashMap<&str, usize> = HashMap::new();
    for (i, b) in batches.iter().enumerate() {
        first_at.entry(&b.shard_id).or_insert(i);
        last_at.insert(&b.shard_id, i);
    }
    let mut checked = 0;
    for s in &listing {
        for parent in s
            .parent_shard_id()
            .into_iter()
            .chain(s.adjacent_parent_shard_id())
        {
            if let (Some(child), Some(parent_last)) =
                (first_at.get(s.shard_id()), last_at.get(parent))
            {
                assert!(
                    parent_last < child,
                    "{} read before its parent {parent} was done",
                    s.shard_id()
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 3,
        "the split's two children and the merged shard were read"
    );
    source.shutdown().await.unwrap();
    for retired in [first.shard_id(), a.shard_id(), b.shard_id()] {
        assert_eq!(store.get_sync(retired), Some(Checkpoint::ShardEnd));
    }
    assert!(source.stats().shards_retired >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_from_the_file_checkpoint_leaves_no_gap_and_repeats_only_unacknowledged_records()
{
    restart_from_the_file_checkpoint(Read::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_from_the_file_checkpoint_through_fan_out_leaves_no_gap() {
    restart_from_the_file_checkpoint(Read::FanOut).await;
}

async fn restart_from_the_file_checkpoint(read: Read) {
    let client = client().await;
    let stream = create_stream(&client, "restart", 2).await;
    let receipts = put_keyed(&client, &stream, 20, 0..30).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoints.json");

    // A long interval: only the explicit checkpoint() below writes.
    let config = read_config(&stream, 50, read)
        .checkpoint_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let store = Arc::new(FileCheckpointStore::new(&path));
    let mut source = source_with_store(&client, config.clone(), store).await;
    let mut first_run = Vec::new();
    for _ in 0..6 {
        first_run.push(source.next_batch().await.unwrap().unwrap());
    }
    // Acknowledge every batch but the fifth: its shard's checkpoint must stop before it.
    let held_shard = first_run[4].shard_id.clone();
    for (i, b) in first_run.iter().enumerate() {
        if i != 4 {
            b.ack_all();
        }
    }
    source.checkpoint().await.unwrap();
    drop(source); // killed: no shutdown, no final checkpoint

    let stored = FileCheckpointStore::new(&path).load_all().await.unwrap();
    let store = Arc::new(FileCheckpointStore::new(&path));
    let mut source = source_with_store(&client, config, store).await;
    // Per shard: what the first run acknowledged as a prefix, and what the second run must read.
    let mut per_shard: BTreeMap<String, Vec<kinesis_source::SequenceNumber>> = BTreeMap::new();
    for r in &receipts {
        per_shard
            .entry(r.shard_id.clone())
            .or_default()
            .push(r.sequence_number.clone());
    }
    let mut expected_second = 0;
    for (shard, seqs) in &mut per_shard {
        seqs.sort();
        let after = match stored.get(shard) {
            Some(Checkpoint::AfterSequence(s)) => seqs.iter().filter(|x| *x > s).count(),
            None => seqs.len(),
            Some(Checkpoint::ShardEnd) => panic!("open shard checkpointed as ended"),
            Some(other) => panic!("no aggregates were put, got {other:?}"),
        };
        expected_second += after;
    }
    let second = read_records(&mut source, expected_second).await;
    source.shutdown().await.unwrap();
    assert_once_and_in_shard_order(&second);
    // No gap: each shard resumes right after its checkpoint.
    for (shard, seqs) in &per_shard {
        let resumed: Vec<_> = second
            .iter()
            .filter(|b| &b.shard_id == shard)
            .flat_map(|b| b.records.iter().map(|r| r.sequence_number.clone()))
            .collect();
        let expected: Vec<_> = match stored.get(shard) {
            Some(Checkpoint::AfterSequence(s)) => seqs.iter().filter(|x| *x > s).cloned().collect(),
            _ => seqs.clone(),
        };
        assert_eq!(
            resumed, expected,
            "shard {shard} resumed after its checkpoint"
        );
    }
    // Only in-flight records repeat: the held batch is read again, acknowledged ones of the
    // other shard are not.
    let held: Vec<_> = first_run[4]
        .records
        .iter()
        .map(|r| r.sequence_number.clone())
        .collect();
    let second_seqs: Vec<_> = second
        .iter()
        .flat_map(|b| {
            b.records
                .iter()
                .map(|r| (r.shard_id.clone(), r.sequence_number.clone()))
        })
        .collect();
    for s in &held {
        assert!(
            second_seqs.contains(&(held_shard.clone(), s.clone())),
            "held record {s} re-read"
        );
    }
    for b in first_run.iter().filter(|b| b.shard_id != held_shard) {
        for r in &b.records {
            assert!(
                !second_seqs.contains(&(r.shard_id.clone(), r.sequence_number.clone())),
                "acknowledged record {} of {} was read again",
                r.sequence_number,
                r.shard_id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_iterator_is_replaced_after_the_last_delivered_record() {
    let emulator = local_services::EmbeddedKinesis::start(
        local_services::EmbeddedKinesisOptions {
            iterator_ttl: Duration::from_secs(1),
            ..Default::default()
        },
        0,
    )
    .unwrap();
    let client = local_services::kinesis_client(Some(emulator.url())).await;
    let stream = create_stream(&client, "expiry", 1).await;
    put_keyed(&client, &stream, 3, 0..10).await;
    let config = fast_config(&stream, 10)
        .max_unacked_records_per_shard(10)
        .build()
        .unwrap();
    let mut source = memory_source(&client, config).await;
    let mut batches = Vec::new();
    let mut got = 0;
    while got < 30 {
        let batch = tokio::time::timeout(Duration::from_secs(30), source.next_batch())
            .await
            .expect("a batch in time")
            .unwrap()
            .unwrap();
        // A slow consumer: the reader waits for this ack longer than the iterator lives.
        tokio::time::sleep(Duration::from_millis(1300)).await;
        got += batch.records.len();
        batch.ack_all();
        batches.push(batch);
    }
    assert_all_once_and_in_order(&batches, 30);
    assert!(source.stats().expired_iterators >= 1);
    source.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_reads_back_off_and_lose_nothing() {
    let client = client().await;
    let stream = create_stream(&client, "throttle", 2).await;
    put_keyed(&client, &stream, 10, 0..30).await;
    let mut api = FaultyApi::new(client.clone());
    api.throttle_get_records_every = Some(3);
    let api = Arc::new(api);
    let config = fast_config(&stream, 40)
        .throttle_backoff(
            Backoff::new(Duration::from_millis(20), Duration::from_millis(200))
                .with_max_retries(10),
        )
        .build()
        .unwrap();
    let mut source = memory_source_over(api.clone(), config).await;
    let batches = read_records(&mut source, 300).await;
    assert_all_once_and_in_order(&batches, 300);
    let throttled = source.stats().throttled;
    assert!(throttled > 0);
    assert!(throttled <= api.throttled.load(Ordering::SeqCst));
    assert_eq!(source.stats().reader_restarts, 0);
    source.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_survives_throttled_subscriptions_and_silent_connections_and_loses_nothing() {
    let client = client().await;
    let stream = create_stream(&client, "fanout-faults", 2).await;
    put_keyed(&client, &stream, 10, 0..20).await;
    let mut api = FaultyApi::new(client.clone());
    api.throttle_subscribes = std::sync::atomic::AtomicU32::new(3);
    // Each subscription answers one event (the embedded emulator's front sends one as records
    // land, or each second), then goes silent: only the call timeout can notice.
    api.stall_subscriptions_after = Some(1);
    let api = Arc::new(api);
    let quick =
        Backoff::new(Duration::from_millis(20), Duration::from_millis(200)).with_max_retries(10);
    let config = read_config(&stream, 40, Read::FanOut)
        .call_timeout(Duration::from_millis(800))
        .throttle_backoff(quick)
        .retry_backoff(quick)
        .build()
        .unwrap();
    let mut source = memory_source_over(api.clone(), config).await;
    let mut batches = read_records(&mut source, 200).await;
    // Written while subscriptions are going silent and being replaced.
    put_keyed(&client, &stream, 10, 20..40).await;
    batches.extend(read_records(&mut source, 200).await);
    assert_all_once_and_in_order(&batches, 400);
    let stats = source.stats();
    assert!(stats.throttled >= 3);
    assert!(
        stats.transient_retries >= 1,
        "a silent connection was noticed"
    );
    assert!(stats.subscriptions >= 4, "subscriptions were renewed");
    assert_eq!(stats.reader_restarts, 0);
    source.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_shard_reader_is_restarted_and_counted() {
    let client = client().await;
    let stream = create_stream(&client, "restartreader", 1).await;
    put_keyed(&client, &stream, 5, 0..20).await;
    let api = FaultyApi::new(client.clone());
    api.fail_shard_reads("shardId-000000000000", 3);
    let config = fast_config(&stream, 30).build().unwrap();
    let mut source = memory_source_over(Arc::new(api), config).await;
    let batches = read_records(&mut source, 100).await;
    let payloads = assert_once_and_in_shard_order(&batches);
    assert_eq!(payloads.len(), 100);
    assert_eq!(source.stats().reader_restarts, 3);
    source.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_keeps_failing_surfaces_an_error_instead_of_going_quiet() {
    let client = client().await;
    let stream = create_stream(&client, "deadreader", 1).await;
    let api = FaultyApi::new(client.clone());
    api.fail_shard_reads("shardId-000000000000", u32::MAX);
    let config = fast_config(&stream, 10)
        .restart_backoff(
            Backoff::new(Duration::from_millis(10), Duration::from_millis(20)).with_max_retries(2),
        )
        .build()
        .unwrap();
    let mut source = memory_source_over(Arc::new(api), config).await;
    let err = tokio::time::timeout(Duration::from_secs(20), source.next_batch())
        .await
        .expect("an answer in time")
        .unwrap_err();
    assert!(
        matches!(err, SourceError::ShardReaderFailed { failures: 3, .. }),
        "{err}"
    );
    assert!(!err.is_retriable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_held_batches_and_writes_the_final_checkpoint() {
    let client = client().await;
    let stream = create_stream(&client, "shutdown", 1).await;
    let receipts = put_keyed(&client, &stream, 4, 0..50).await;
    let store = Arc::new(MemoryCheckpointStore::default());
    let config = fast_config(&stream, 50)
        .checkpoint_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let mut source = source_with_store(&client, config, store.clone()).await;
    let held = source.next_batch().await.unwrap().unwrap();
    let last = held.records.last().unwrap().sequence_number.clone();
    // Ctrl-C arrives while the batch is still being written somewhere.
    let handle = source.shutdown_handle();
    handle.request();
    assert!(handle.is_requested());
    assert!(source.next_batch().await.unwrap().is_none());
    let acker = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        held.ack_all();
    });
    source.shutdown().await.unwrap();
    acker.await.unwrap();
    assert_eq!(
        store.get_sync(&receipts[0].shard_id),
        Some(Checkpoint::AfterSequence(last))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_reads_only_what_is_written_after_the_start() {
    let client = client().await;
    let stream = create_stream(&client, "latest", 2).await;
    put_keyed(&client, &stream, 4, 0..10).await;
    let config = fast_config(&stream, 100)
        .start_position(StartPosition::Latest)
        .build()
        .unwrap();
    let mut source = memory_source(&client, config).await;
    // Let every reader take its LATEST iterator before writing.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while source.stats().get_records_calls < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "readers never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    put_keyed(&client, &stream, 4, 10..15).await;
    let batches = read_records(&mut source, 20).await;
    let payloads = assert_once_and_in_shard_order(&batches);
    assert_eq!(payloads.len(), 20);
    for p in payloads {
        let n: u32 = p.rsplit_once(':').unwrap().1.parse().unwrap();
        assert!(n >= 10, "{p} was written before the source started");
    }
    source.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_read_many_batches_per_call_each_at_most_batch_read_size() {
    let client = client().await;
    let stream = create_stream(&client, "backlog", 1).await;
    put_keyed(&client, &stream, 10, 0..600).await;
    let config = fast_config(&stream, 500)
        .max_unacked_records_per_shard(10_000)
        .build()
        .unwrap();
    let mut source = memory_source(&client, config).await;
    let batches = read_records(&mut source, 6_000).await;
    assert_once_and_in_shard_order(&batches);
    assert!(batches.iter().all(|b| b.records.len() <= 500));
    // 6 000 records a shard holds: one call asks for up to 10 000, the default, where calls of
    // `batch_read_size` would have taken 12 (2.4 s at 5 calls a second).
    let calls = source.stats().get_records_calls;
    assert!(calls <= 3, "{calls} GetRecords calls");
    source.shutdown().await.unwrap();
}
