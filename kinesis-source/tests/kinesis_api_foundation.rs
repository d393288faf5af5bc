//! The local Kinesis API answers the real `aws-sdk-kinesis` client: 1000 records put on a
//! 2-shard stream all come back, once each, in order per shard.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

#[tokio::test]
async fn a_thousand_records_on_two_shards_read_back_in_order() {
    let endpoint = local_services::kinesis();
    let client = local_services::kinesis_client(endpoint.url.as_deref()).await;
    let stream = local_services::unique_name("foundation");
    local_services::create_stream_and_wait(&client, &stream, 2, Duration::from_secs(30))
        .await
        .expect("create the stream and wait until it is ACTIVE");

    // Put 1000 records in two PutRecords calls of 500 (the API's limit).
    let mut put_at: HashMap<String, (String, String)> = HashMap::new();
    for chunk in 0..2 {
        let records =
            (chunk * 500..(chunk + 1) * 500).map(|i| (format!("user-{}", i % 37), format!("{i}")));
        let out = local_services::put_records(&client, &stream, records)
            .await
            .expect("put records");
        assert_eq!(out.failed_record_count(), Some(0));
        for (k, r) in out.records().iter().enumerate() {
            let i = chunk * 500 + k;
            put_at.insert(
                format!("{i}"),
                (
                    r.shard_id().unwrap().to_owned(),
                    r.sequence_number().unwrap().to_owned(),
                ),
            );
        }
    }

    let shards = local_services::list_shards(&client, &stream).await.unwrap();
    assert_eq!(shards.len(), 2);
    let mut seen: BTreeMap<usize, (String, String)> = BTreeMap::new();
    for shard in &shards {
        let first = local_services::trim_horizon_iterator(&client, &stream, shard.shard_id())
            .await
            .unwrap();
        let mut iterator = Some(first);
        let mut last_per_key: HashMap<String, usize> = HashMap::new();
        let mut empty_reads = 0;
        while let Some(it) = iterator.take() {
            let out = client
                .get_records()
                .shard_iterator(it)
                .limit(300)
                .send()
                .await
                .unwrap();
            if out.records().is_empty() {
                empty_reads += 1;
                if empty_reads >= 2 {
                    break;
                }
            }
            for r in out.records() {
                let i: usize = std::str::from_utf8(r.data().as_ref())
                    .unwrap()
                    .parse()
                    .unwrap();
                // In order per shard: every key's values increase.
                if let Some(prev) =
                    last_per_key.insert(r.partition_key().unwrap_or_default().to_owned(), i)
                {
                    assert!(prev < i, "record {i} came after {prev} for the same key");
                }
                let previous = seen.insert(
                    i,
                    (shard.shard_id().to_owned(), r.sequence_number().to_owned()),
                );
                assert!(previous.is_none(), "record {i} was read twice");
            }
            iterator = out.next_shard_iterator().map(str::to_owned);
        }
    }
    assert_eq!(seen.len(), 1000, "every record is read back");
    for (i, at) in &seen {
        assert_eq!(
            Some(at),
            put_at.get(&i.to_string()),
            "record {i} is where PutRecords said"
        );
    }
    client
        .delete_stream()
        .stream_name(&stream)
        .send()
        .await
        .unwrap();
}
