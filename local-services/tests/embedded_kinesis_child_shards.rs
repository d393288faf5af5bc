//! The embedded Kinesis emulator names a closed shard's children in the `GetRecords` answer that
//! ends it, as Kinesis does and as KCL requires before it starts the children.

use local_services::{EmbeddedKinesis, EmbeddedKinesisOptions};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_that_ends_a_split_shard_names_both_children() {
    let emulator = EmbeddedKinesis::start(EmbeddedKinesisOptions::default(), 0).unwrap();
    let client = local_services::kinesis_client(Some(emulator.url())).await;
    let stream = "split-children";
    local_services::create_stream_and_wait(&client, stream, 1, Duration::from_secs(10))
        .await
        .unwrap();
    local_services::put_record(&client, stream, "k", b"before the split".to_vec())
        .await
        .unwrap();
    let parent = "shardId-000000000000";
    local_services::split_whole_shard_and_wait(&client, stream, parent, Duration::from_secs(10))
        .await
        .unwrap();

    let mut iterator = Some(
        local_services::trim_horizon_iterator(&client, stream, parent)
            .await
            .unwrap(),
    );
    let mut records = 0;
    let mut children = Vec::new();
    for _ in 0..20 {
        let Some(it) = iterator.take() else { break };
        let answer = client
            .get_records()
            .shard_iterator(it)
            .send()
            .await
            .unwrap();
        records += answer.records().len();
        if answer.next_shard_iterator().is_none() {
            children = answer
                .child_shards()
                .iter()
                .map(|c| (c.shard_id().to_owned(), c.parent_shards().to_vec()))
                .collect();
        }
        iterator = answer.next_shard_iterator().map(str::to_owned);
    }
    assert!(iterator.is_none(), "the parent was read to its end");
    assert_eq!(records, 1);
    children.sort();
    assert_eq!(
        children,
        [
            ("shardId-000000000001".to_owned(), vec![parent.to_owned()]),
            ("shardId-000000000002".to_owned(), vec![parent.to_owned()]),
        ]
    );

    // An open shard's answers carry a next iterator and no children.
    let it = local_services::trim_horizon_iterator(&client, stream, "shardId-000000000001")
        .await
        .unwrap();
    let answer = client
        .get_records()
        .shard_iterator(it)
        .send()
        .await
        .unwrap();
    assert!(answer.next_shard_iterator().is_some());
    assert!(answer.child_shards().is_empty());
}
