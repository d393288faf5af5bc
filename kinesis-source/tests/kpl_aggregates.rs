//! Records aggregated by the Kinesis Producer Library, put on the local Kinesis API and read
//! back through `KinesisSource`: opened into their user records, in order, and checkpointed
//! inside an aggregate, so that a restart resumes after its last acknowledged user record.

mod common;

use common::*;
use kinesis_source::kpl::Aggregator;
use kinesis_source::producer::{KinesisProducer, ProducerConfig, ProducerRecord};
use kinesis_source::{
    Checkpoint, CheckpointStore, FileCheckpointStore, KinesisSource, KinesisSourceConfig, Record,
    RecordSource, SequenceNumber, StartPosition, StreamRef,
};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use stream2neptune_common::Backoff;

const AGGREGATES: usize = 12;
const USERS_PER_AGGREGATE: usize = 40;

fn config(stream: &str, fan_out: bool) -> KinesisSourceConfig {
    KinesisSourceConfig::builder(StreamRef::parse(stream))
        .fan_out(fan_out.then(|| "kpl-tests".to_owned()))
        .start_position(StartPosition::TrimHorizon)
        // Smaller than an aggregate's user records: batches still hold them whole.
        .batch_read_size(7)
        .idle_time_between_reads(Duration::from_millis(200))
        // Only the explicit checkpoint() below writes.
        .checkpoint_interval(Duration::from_secs(3600))
        .restart_backoff(
            Backoff::new(Duration::from_millis(50), Duration::from_millis(200))
                .with_max_retries(20),
        )
        .shutdown_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Puts, in this order: aggregates of user records `a<n>:<i>` (keys `u<i % 5>`), each
/// followed by a plain record `plain<n>`, and one record that starts like an aggregate but is
/// damaged. Returns the user payloads expected, in put order per aggregate.
async fn put_mixed(client: &aws_sdk_kinesis::Client, stream: &str) -> Vec<String> {
    let mut records = Vec::new();
    let mut expected = Vec::new();
    for n in 0..AGGREGATES {
        let mut aggregator = Aggregator::new();
        for i in 0..USERS_PER_AGGREGATE {
            let payload = format!("a{n}:{i}");
            assert!(aggregator
                .push(&format!("u{}", i % 5), payload.as_bytes())
                .unwrap()
                .is_none());
            expected.push(payload);
        }
        let aggregate = aggregator.finish().unwrap();
        // Spread the aggregates over both shards.
        records.push(ProducerRecord::new(format!("agg{n}"), aggregate.data));
        records.push(ProducerRecord::new(format!("agg{n}"), format!("plain{n}")));
        expected.push(format!("plain{n}"));
    }
    let mut damaged = kinesis_source::kpl::MAGIC.to_vec();
    damaged.extend_from_slice(&[7u8; 40]);
    records.push(ProducerRecord::new("damaged", damaged.clone()));
    expected.push(String::from_utf8_lossy(&damaged).into_owned());

    let config = ProducerConfig::builder(StreamRef::parse(stream))
        .max_in_flight_calls(1)
        .build()
        .unwrap();
    let producer = KinesisProducer::from_client(client.clone(), config).unwrap();
    for r in producer.put(records).await {
        r.expect("every record is put");
    }
    expected
}

fn position(r: &Record) -> (SequenceNumber, Option<u64>) {
    (r.sequence_number.clone(), r.sub_sequence_number)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_are_read_as_their_user_records_and_a_restart_resumes_inside_one() {
    aggregates_and_restart(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_fan_out_aggregates_are_read_as_their_user_records_and_a_restart_resumes_inside_one(
) {
    aggregates_and_restart(true).await;
}

async fn aggregates_and_restart(fan_out: bool) {
    let client = client().await;
    let stream = create_stream(&client, "kpl", 2).await;
    let expected = put_mixed(&client, &stream).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoints.json");
    let store = || Arc::new(FileCheckpointStore::new(&path));

    let mut source = KinesisSource::from_client(client.clone(), config(&stream, fan_out), store())
        .await
        .unwrap();
    let first = read_batches(&mut source, expected.len(), false).await;
    let records: Vec<&Record> = first.iter().flat_map(|b| b.records.iter()).collect();

    // Every user record once, with its own partition key, in order inside its aggregate; the
    // plain and the damaged records unchanged.
    let payloads: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.data).into_owned())
        .collect();
    assert_eq!(
        payloads.iter().collect::<HashSet<_>>(),
        expected.iter().collect::<HashSet<_>>()
    );
    assert_eq!(payloads.len(), expected.len(), "no record twice");
    let mut by_aggregate: BTreeMap<(String, SequenceNumber), Vec<&Record>> = BTreeMap::new();
    for r in &records {
        if r.sub_sequence_number.is_some() {
            by_aggregate
                .entry((r.shard_id.clone(), r.sequence_number.clone()))
                .or_default()
                .push(r);
        } else {
            assert!(!r.partition_key.starts_with('u'), "{r:?}");
        }
    }
    assert_eq!(by_aggregate.len(), AGGREGATES);
    for users in by_aggregate.values() {
        assert_eq!(users.len(), USERS_PER_AGGREGATE);
        let n = String::from_utf8_lossy(&users[0].data)
            .split(':')
            .next()
            .unwrap()
            .to_owned();
        for (i, u) in users.iter().enumerate() {
            assert_eq!(u.sub_sequence_number, Some(i as u64));
            assert_eq!(u.partition_key, format!("u{}", i % 5));
            assert_eq!(u.data, format!("{n}:{i}").into_bytes());
        }
    }
    // Per shard, positions strictly increase; a batch never splits an aggregate.
    for b in &first {
        for pair in b.records.windows(2) {
            assert!(position(&pair[0]) < position(&pair[1]), "{pair:?}");
        }
        let last = b.records.last().unwrap();
        if let Some(sub) = last.sub_sequence_number {
            assert_eq!(sub as usize, USERS_PER_AGGREGATE - 1, "aggregate split");
        }
    }
    assert_eq!(source.stats().aggregates_opened, AGGREGATES as u64);

    // Acknowledge everything but one user record in the middle of the first aggregate read.
    let held = records
        .iter()
        .find(|r| r.sub_sequence_number == Some(USERS_PER_AGGREGATE as u64 / 2))
        .map(|r| (*r).clone())
        .unwrap();
    for b in &first {
        for r in &b.records {
            if position(r) != position(&held) || r.shard_id != held.shard_id {
                b.ack(r);
            }
        }
    }
    source.checkpoint().await.unwrap();
    drop(source); // killed: no shutdown, no final checkpoint

    // The held shard's checkpoint stops inside the aggregate, right before the held user
    // record.
    let stored = FileCheckpointStore::new(&path).load_all().await.unwrap();
    let held_sub = held.sub_sequence_number.unwrap();
    assert_eq!(
        stored.get(&held.shard_id),
        Some(&Checkpoint::AfterSubSequence {
            sequence: held.sequence_number.clone(),
            sub_sequence: held_sub - 1,
        })
    );
    // A restart reads from the held user record on: the ones before it in its aggregate were
    // acknowledged and are not repeated.
    let again: Vec<(SequenceNumber, Option<u64>)> = records
        .iter()
        .filter(|r| r.shard_id == held.shard_id && position(r) >= position(&held))
        .map(|r| position(r))
        .collect();
    assert!(again.len() >= USERS_PER_AGGREGATE / 2);

    let mut source = KinesisSource::from_client(client.clone(), config(&stream, fan_out), store())
        .await
        .unwrap();
    let second = read_batches(&mut source, again.len(), false).await;
    let reread: Vec<_> = second
        .iter()
        .flat_map(|b| b.records.iter())
        .map(|r| (r.shard_id.clone(), position(r)))
        .collect();
    source.shutdown().await.unwrap();
    assert_eq!(
        reread,
        again
            .into_iter()
            .map(|p| (held.shard_id.clone(), p))
            .collect::<Vec<_>>(),
        "the rest of the aggregate and what follows it on its shard, nothing else"
    );
}
