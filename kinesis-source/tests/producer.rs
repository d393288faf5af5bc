//! `KinesisProducer` against the local Kinesis API, through the real `aws-sdk-kinesis` client.

mod common;

use common::*;
use kinesis_source::limits::{MAX_RECORDS_PER_CALL, MAX_RECORD_BYTES};
use kinesis_source::producer::{KinesisProducer, ProducerConfig, ProducerRecord, PutFailure};
use kinesis_source::StreamRef;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use stream2neptune_common::Backoff;

/// Reads a whole shard with GetRecords: (payload, sequence number) in shard order.
async fn read_shard(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    shard: &str,
) -> Vec<(String, String)> {
    let mut it = Some(
        local_services::trim_horizon_iterator(client, stream, shard)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let mut out = Vec::new();
    while let Some(i) = it.take() {
        let r = client.get_records().shard_iterator(i).send().await.unwrap();
        if r.records().is_empty() {
            break;
        }
        for rec in r.records() {
            out.push((
                String::from_utf8(rec.data().as_ref().to_vec()).unwrap(),
                rec.sequence_number().to_owned(),
            ));
        }
        it = r.next_shard_iterator().map(str::to_owned);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_records_land_where_their_receipts_say_in_calls_within_the_api_limits() {
    let client = client().await;
    let stream = create_stream(&client, "producer", 3).await;
    let api = Arc::new(FaultyApi::new(client.clone()));
    // The embedded emulator takes request bodies up to 2 MiB (base64 makes 1 MiB of payload
    // about 1.4 MiB), so the byte limit is exercised at 1 MiB here; the 5 MiB default is
    // checked without a service in the unit tests.
    let config = ProducerConfig::builder(StreamRef::parse(&stream))
        .max_bytes_per_call(MAX_RECORD_BYTES)
        .build()
        .unwrap();
    let producer = KinesisProducer::new(api.clone(), config).unwrap();
    // 1200 records of 20 KB: the byte limit, not the 500-record one, decides the calls.
    let records: Vec<_> = (0..1200)
        .map(|i| {
            let mut data = format!("{i:05}").into_bytes();
            data.resize(20_000, b'x');
            ProducerRecord::new(format!("user-{}", i % 97), data)
        })
        .collect();
    let outcomes = producer.put(records).await;
    assert_eq!(outcomes.len(), 1200);
    let calls = api.put_calls.lock().unwrap().clone();
    assert!(calls.len() >= 23, "{calls:?}");
    for (entries, bytes) in &calls {
        assert!(*entries <= MAX_RECORDS_PER_CALL && *bytes <= MAX_RECORD_BYTES);
    }
    assert!(
        outcomes.iter().all(Result::is_ok),
        "{:?}",
        outcomes.iter().find(|o| o.is_err())
    );
    assert_eq!(producer.stats().records_put, 1200);

    let mut by_shard: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (i, o) in outcomes.iter().enumerate() {
        let receipt = o.as_ref().expect("accepted");
        assert_eq!(receipt.attempts, 1);
        by_shard
            .entry(receipt.shard_id.clone())
            .or_default()
            .push((format!("{i:05}"), receipt.sequence_number.to_string()));
    }
    assert_eq!(by_shard.len(), 3);
    for (shard, mut expected) in by_shard {
        expected.sort_by(|a, b| {
            kinesis_source::SequenceNumber::from(a.1.as_str())
                .cmp(&kinesis_source::SequenceNumber::from(b.1.as_str()))
        });
        let read: Vec<_> = read_shard(&client, &stream, &shard)
            .await
            .into_iter()
            .map(|(p, s)| (p[..5].to_owned(), s))
            .collect();
        assert_eq!(read, expected, "shard {shard}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_record_and_a_bad_key_fail_alone_and_the_rest_is_put() {
    let client = client().await;
    let stream = create_stream(&client, "oversize", 1).await;
    let producer = KinesisProducer::from_client(
        client.clone(),
        ProducerConfig::builder(StreamRef::parse(&stream))
            .build()
            .unwrap(),
    )
    .unwrap();
    let outcomes = producer
        .put(vec![
            ProducerRecord::new("a", "first"),
            ProducerRecord::new("b", vec![0u8; MAX_RECORD_BYTES]), // + 1-byte key: too large
            ProducerRecord::new("", "no key"),
            ProducerRecord::new("k".repeat(257), "long key"),
            ProducerRecord::new("c", "last"),
        ])
        .await;
    assert!(outcomes[0].is_ok());
    assert_eq!(
        outcomes[1],
        Err(PutFailure::TooLarge {
            bytes: MAX_RECORD_BYTES + 1,
            limit: MAX_RECORD_BYTES
        })
    );
    assert!(matches!(
        outcomes[2],
        Err(PutFailure::InvalidPartitionKey { .. })
    ));
    assert!(matches!(
        outcomes[3],
        Err(PutFailure::InvalidPartitionKey { .. })
    ));
    assert!(outcomes[4].is_ok());
    assert!(outcomes[1..4]
        .iter()
        .all(|o| !o.as_ref().unwrap_err().is_retriable()));
    let read = read_shard(&client, &stream, "shardId-000000000000").await;
    let payloads: Vec<_> = read.into_iter().map(|(p, _)| p).collect();
    assert_eq!(payloads, vec!["first", "last"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_partial_failure_only_the_failed_entries_are_resent() {
    let client = client().await;
    let stream = create_stream(&client, "partial", 2).await;
    let mut api = FaultyApi::new(client.clone());
    api.fail_odd_entries_once = true;
    let api = Arc::new(api);
    let config = ProducerConfig::builder(StreamRef::parse(&stream))
        .retry_backoff(
            Backoff::new(Duration::from_millis(10), Duration::from_millis(50)).with_max_retries(5),
        )
        .build()
        .unwrap();
    let producer = KinesisProducer::new(api.clone(), config).unwrap();
    let records: Vec<_> = (0..1000)
        .map(|i| ProducerRecord::new(format!("k{}", i % 13), format!("{i}")))
        .collect();
    let outcomes = producer.put(records).await;
    for (i, o) in outcomes.iter().enumerate() {
        let receipt = o.as_ref().expect("every record is put in the end");
        assert_eq!(
            receipt.attempts,
            if i % 2 == 1 { 2 } else { 1 },
            "record {i}"
        );
    }
    // 1000 first sends, and the 500 odd ones once more: nothing else was resent.
    assert_eq!(api.entries_sent.load(Ordering::SeqCst), 1500);
    let stats = producer.stats();
    assert_eq!(stats.retries, 500);
    assert_eq!(stats.records_put, 1000);
    assert_eq!(stats.records_failed, 0);
    let mut read = read_shard(&client, &stream, "shardId-000000000000").await;
    read.extend(read_shard(&client, &stream, "shardId-000000000001").await);
    assert_eq!(read.len(), 1000, "no duplicates on the stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_throttling_from_the_service_is_retried_until_everything_is_put() {
    // An emulator that enforces the 1000 records/s per shard write limit.
    let emulator = local_services::EmbeddedKinesis::start(
        local_services::EmbeddedKinesisOptions {
            enforce_limits: true,
            ..Default::default()
        },
        0,
    )
    .unwrap();
    let client = local_services::kinesis_client(Some(emulator.url())).await;
    let stream = create_stream(&client, "writelimit", 1).await;
    let config = ProducerConfig::builder(StreamRef::parse(&stream))
        .retry_backoff(
            Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).with_max_retries(30),
        )
        .build()
        .unwrap();
    let producer = KinesisProducer::from_client(client.clone(), config).unwrap();
    let records: Vec<_> = (0..2500)
        .map(|i| ProducerRecord::new(format!("k{i}"), format!("{i}")))
        .collect();
    let outcomes = producer.put(records).await;
    let failed: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} failed, first: {:?}",
        failed.len(),
        failed.first()
    );
    let stats = producer.stats();
    assert!(stats.throttled > 0, "the limit was hit");
    assert!(stats.retries > 0);
    let read = read_shard(&client, &stream, "shardId-000000000000").await;
    assert_eq!(read.len(), 2500);
}
