//! Enhanced fan-out on the embedded Kinesis emulator, through the real SDK's `SubscribeToShard`:
//! records are pushed in order with their continuation, a closed shard's last event names its
//! children and ends the subscription, and refusals come back as the service's errors.

use aws_sdk_kinesis::types::{
    ConsumerStatus, ShardIteratorType, StartingPosition, SubscribeToShardEvent,
    SubscribeToShardEventStream,
};
use aws_sdk_kinesis::Client;
use local_services::{EmbeddedKinesis, EmbeddedKinesisOptions};
use std::time::Duration;

/// A stream of `shards` shards with an ACTIVE consumer: the consumer's ARN.
async fn stream_with_consumer(client: &Client, stream: &str, shards: i32) -> String {
    local_services::create_stream_and_wait(client, stream, shards, Duration::from_secs(10))
        .await
        .unwrap();
    let arn = local_services::stream_arn(client, stream).await.unwrap();
    let consumer = client
        .register_stream_consumer()
        .stream_arn(arn)
        .consumer_name("fan-out-test")
        .send()
        .await
        .unwrap()
        .consumer
        .unwrap()
        .consumer_arn;
    for _ in 0..200 {
        let status = client
            .describe_stream_consumer()
            .consumer_arn(&consumer)
            .send()
            .await
            .unwrap()
            .consumer_description
            .unwrap()
            .consumer_status;
        if status == ConsumerStatus::Active {
            return consumer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the consumer never became ACTIVE");
}

fn position(kind: ShardIteratorType) -> StartingPosition {
    StartingPosition::builder().r#type(kind).build().unwrap()
}

/// The next `SubscribeToShardEvent`, `None` when the subscription ended.
async fn next_event(
    out: &mut aws_sdk_kinesis::operation::subscribe_to_shard::SubscribeToShardOutput,
) -> Option<SubscribeToShardEvent> {
    loop {
        let got = tokio::time::timeout(Duration::from_secs(30), out.event_stream.recv())
            .await
            .expect("an event (or the end) within 30 s");
        match got.expect("a well-formed event stream") {
            Some(SubscribeToShardEventStream::SubscribeToShardEvent(e)) => return Some(e),
            Some(_) => continue,
            None => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_put_is_pushed_in_order_with_its_sequence_number_as_the_continuation() {
    let emulator = EmbeddedKinesis::start(EmbeddedKinesisOptions::default(), 0).unwrap();
    let client = local_services::kinesis_client(Some(emulator.url())).await;
    let consumer = stream_with_consumer(&client, "fan-out-puts", 1).await;
    let mut out = client
        .subscribe_to_shard()
        .consumer_arn(&consumer)
        .shard_id("shardId-000000000000")
        .starting_position(position(ShardIteratorType::Latest))
        .send()
        .await
        .unwrap();

    let mut pushed = Vec::new();
    for n in 0..5 {
        let data = format!("record {n}");
        let put = local_services::put_record(&client, "fan-out-puts", "k", data.clone())
            .await
            .unwrap();
        // Empty events (the subscription's heartbeat) may come first.
        let event = loop {
            let e = next_event(&mut out)
                .await
                .expect("the subscription is open");
            if !e.records.is_empty() {
                break e;
            }
        };
        assert_eq!(event.records.len(), 1, "one put, one record pushed");
        let record = &event.records[0];
        assert_eq!(record.data.as_ref(), data.as_bytes());
        assert_eq!(record.sequence_number, put);
        assert_eq!(
            event.continuation_sequence_number, put,
            "the continuation is the last record pushed"
        );
        pushed.push(record.sequence_number.clone());
    }
    let mut sorted = pushed.clone();
    // Decimal numbers of up to 128 digits: by length, then digit by digit.
    sorted.sort_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
    assert_eq!(pushed, sorted, "records are pushed in shard order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_shard_is_pushed_to_its_end_then_its_children_and_the_subscription_ends() {
    let emulator = EmbeddedKinesis::start(EmbeddedKinesisOptions::default(), 0).unwrap();
    let client = local_services::kinesis_client(Some(emulator.url())).await;
    let stream = "fan-out-split";
    let consumer = stream_with_consumer(&client, stream, 1).await;
    for n in 0..3 {
        local_services::put_record(&client, stream, &format!("k{n}"), vec![n])
            .await
            .unwrap();
    }
    let parent = "shardId-000000000000";
    local_services::split_whole_shard_and_wait(&client, stream, parent, Duration::from_secs(10))
        .await
        .unwrap();

    let mut out = client
        .subscribe_to_shard()
        .consumer_arn(&consumer)
        .shard_id(parent)
        .starting_position(position(ShardIteratorType::TrimHorizon))
        .send()
        .await
        .unwrap();
    let mut records = Vec::new();
    let mut children = Vec::new();
    while let Some(event) = next_event(&mut out).await {
        records.extend(event.records.iter().map(|r| r.data.as_ref().to_vec()));
        if let Some(c) = event.child_shards {
            children.extend(c.into_iter().map(|c| c.shard_id));
        }
    }
    assert_eq!(records, vec![vec![0], vec![1], vec![2]]);
    children.sort();
    assert_eq!(
        children,
        vec!["shardId-000000000001", "shardId-000000000002"],
        "the last event names both children"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_consumer_is_refused_with_the_services_error() {
    let emulator = EmbeddedKinesis::start(EmbeddedKinesisOptions::default(), 0).unwrap();
    let client = local_services::kinesis_client(Some(emulator.url())).await;
    let consumer = stream_with_consumer(&client, "fan-out-refused", 1).await;
    let unknown = consumer.replace("fan-out-test", "nobody");
    let refused = client
        .subscribe_to_shard()
        .consumer_arn(unknown)
        .shard_id("shardId-000000000000")
        .starting_position(position(ShardIteratorType::TrimHorizon))
        .send()
        .await
        .expect_err("an unknown consumer cannot subscribe");
    assert!(
        refused
            .as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{refused:?}"
    );
}
