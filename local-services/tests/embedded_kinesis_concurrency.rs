//! The embedded Kinesis emulator under concurrent writers and readers on one stream: every call
//! must answer. (Its store holds map guards across awaits; requests that overlap inside it
//! could stall its runtime for good, which this test caught.)

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use local_services::{EmbeddedKinesis, EmbeddedKinesisOptions};
use std::time::Duration;

/// Longest any single call may take here; the emulator answers in milliseconds.
const CALL_LIMIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_puts_and_gets_on_one_stream_all_answer() {
    let emulator = EmbeddedKinesis::start(EmbeddedKinesisOptions::default(), 0).unwrap();
    let client = local_services::kinesis_client(Some(emulator.url())).await;
    let stream = "overlap";
    local_services::create_stream_and_wait(&client, stream, 2, Duration::from_secs(10))
        .await
        .unwrap();

    const WRITERS: usize = 8;
    const CALLS: usize = 40;
    const PER_CALL: usize = 100;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for c in 0..CALLS {
                let entries = (0..PER_CALL)
                    .map(|i| {
                        PutRecordsRequestEntry::builder()
                            .partition_key(format!("k{w}-{i}"))
                            .data(Blob::new(vec![b'x'; 200]))
                            .build()
                            .unwrap()
                    })
                    .collect::<Vec<_>>();
                let put = client
                    .put_records()
                    .stream_name(stream)
                    .set_records(Some(entries))
                    .send();
                let Ok(answer) = tokio::time::timeout(CALL_LIMIT, put).await else {
                    panic!("writer {w}, call {c}: no answer");
                };
                let answer = answer.unwrap();
                assert_eq!(answer.failed_record_count(), Some(0));
            }
        }));
    }
    let mut readers = Vec::new();
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let client = client.clone();
        readers.push(tokio::spawn(async move {
            let mut iterator = local_services::trim_horizon_iterator(&client, stream, shard)
                .await
                .unwrap();
            let mut read = 0;
            while read < WRITERS * CALLS * PER_CALL / 4 {
                let get = client
                    .get_records()
                    .shard_iterator(&iterator)
                    .limit(1000)
                    .send();
                let Ok(answer) = tokio::time::timeout(CALL_LIMIT, get).await else {
                    panic!("reader of {shard}: no answer after {read} records");
                };
                let answer = answer.unwrap();
                read += answer.records().len();
                iterator = answer.next_shard_iterator.unwrap();
            }
            read
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut total = 0;
    for r in readers {
        total += r.await.unwrap();
    }
    assert!(total >= WRITERS * CALLS * PER_CALL / 2);
}
