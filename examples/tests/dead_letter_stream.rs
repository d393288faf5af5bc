//! Dead letters to a Kinesis stream (the on-failure destination idea, with the record inside),
//! through the real `aws-sdk-kinesis` against the local Kinesis API.

use graph_ingest::dead_letter::{DeadLetter, KinesisDeadLetters};
use graph_ingest::Pipeline;
use kinesis_source::producer::{KinesisProducer, ProducerConfig};
use kinesis_source::{MemoryCheckpointStore, MemorySource, MemoryStream, StreamRef};
use neptune_batch::{GraphSink, MemoryGraph, Vertex};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn records_bad_in_themselves_land_on_the_dead_letter_stream_with_their_bytes() {
    let client = local_services::kinesis_client(local_services::kinesis().url.as_deref()).await;
    let dlq = local_services::unique_name("dlq");
    local_services::create_stream_and_wait(&client, &dlq, 1, Duration::from_secs(30))
        .await
        .unwrap();
    let config = ProducerConfig::builder(StreamRef::parse(&dlq))
        .build()
        .unwrap();
    let producer = KinesisProducer::from_client(client.clone(), config).unwrap();

    let graph = Arc::new(MemoryGraph::new());
    graph
        .write_vertices(&[Vertex::new("1", "person"), Vertex::new("2", "person")])
        .await
        .unwrap();
    let stream = MemoryStream::new(2);
    let big = {
        let mut v = b"1,2,".to_vec();
        v.resize(1_000_000, b'9');
        v
    };
    let bad: Vec<Vec<u8>> = vec![b"not a follow".to_vec(), b"1,404,2019-01-01".to_vec(), big];
    stream.put("1", b"1,2,2019-01-01".to_vec());
    for b in &bad {
        stream.put("1", b.clone());
    }
    stream.close();
    let pipeline = Pipeline::builder()
        .mapper(graph_ingest::FollowsCsv::default())
        .sink(graph.clone())
        .dead_letters(Arc::new(KinesisDeadLetters::new(producer)))
        .build()
        .unwrap();
    let mut source = MemorySource::new(stream, Arc::new(MemoryCheckpointStore::default()), 100);
    pipeline.run(&mut source).await.unwrap();
    assert_eq!(graph.edge_count(), 1);

    // Read the dead-letter stream back.
    let shard = local_services::list_shards(&client, &dlq).await.unwrap()[0]
        .shard_id()
        .to_owned();
    let iterator = local_services::trim_horizon_iterator(&client, &dlq, &shard)
        .await
        .unwrap();
    let out = client
        .get_records()
        .shard_iterator(iterator)
        .send()
        .await
        .unwrap();
    let letters: Vec<DeadLetter> = out
        .records()
        .iter()
        .map(|r| serde_json::from_slice(r.data().as_ref()).unwrap())
        .collect();
    assert_eq!(letters.len(), 3, "one per bad record");
    assert!(
        letters[0].reason.starts_with("undecodable"),
        "{}",
        letters[0].reason
    );
    assert_eq!(letters[0].data(), bad[0]);
    assert!(
        letters[1].reason.contains("vertex 404"),
        "{}",
        letters[1].reason
    );
    assert_eq!(letters[1].data(), bad[1]);
    // A letter too large for a record keeps where the record is, not its bytes.
    assert!(letters[2].data_omitted);
    assert!(letters[2].data_base64.is_empty());
    assert!(letters[2].shard_id.starts_with("shard-"));
    assert!(!letters[2].sequence_number.is_empty());
}
