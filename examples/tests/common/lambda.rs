//! Shared set-up of the Lambda tests: the function's settings for the local Gremlin Server,
//! people in the graph, and the event documents the Kinesis event source mapping would send,
//! made from records put to and read back from the local Kinesis API.

use aws_sdk_kinesis::types::Record as KinesisRecord;
use graph_ingest::lambda::event::{event_document, EventSource};
use graph_ingest::lambda::KinesisEvent;
use graph_ingest::lambda::LambdaConfig;
use neptune_batch::gremlin::{Bytecode, GValue};
use neptune_batch::{FollowsSchema, GraphSink, GremlinSink, Vertex};
use std::time::Duration;
use workload_gen::{FollowsEdge, PayloadFormat};

/// The creation date of every edge these tests write.
pub const DATE: &str = "2019-01-02";

/// The function's settings for the Gremlin Server at `url`, with a cluster id of its own and
/// `wait` off.
pub fn config(url: &str) -> LambdaConfig {
    LambdaConfig {
        neptune_endpoint: url.to_owned(),
        cluster_id: local_services::unique_name("lambda-cluster"),
        wait: false,
        ..LambdaConfig::default()
    }
}

/// The sink the function would open, plus `n` fresh person vertices created through it.
pub async fn sink_with_people(config: &LambdaConfig, n: usize) -> (GremlinSink, Vec<String>) {
    let sink_config = config.sink_config().build().expect("a valid configuration");
    let sink = GremlinSink::connect(sink_config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let prefix = local_services::unique_name("person");
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    let vertices: Vec<Vertex> = ids.iter().map(|id| Vertex::new(id, "person")).collect();
    let report = sink.write_vertices(&vertices).await.unwrap();
    assert_eq!(report.failed(), 0, "{report:?}");
    (sink, ids)
}

/// A one-shard stream holding `payloads` in order, read back with GetRecords and turned into
/// the JSON document Lambda would send for them, with the records' sequence numbers.
pub async fn event_document_for(
    payloads: &[(String, Vec<u8>)],
) -> (serde_json::Value, Vec<String>) {
    let endpoint = local_services::kinesis();
    let client = local_services::kinesis_client(endpoint.url.as_deref()).await;
    let stream = local_services::unique_name("lambda");
    local_services::create_stream_and_wait(&client, &stream, 1, Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stream_arn = local_services::stream_arn(&client, &stream).await.unwrap();
    for (key, data) in payloads {
        local_services::put_record(&client, &stream, key, data.clone())
            .await
            .unwrap();
    }
    let shards = local_services::list_shards(&client, &stream).await.unwrap();
    let shard_id = shards[0].shard_id().to_owned();
    let mut iterator = local_services::trim_horizon_iterator(&client, &stream, &shard_id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut records: Vec<KinesisRecord> = Vec::new();
    for _ in 0..50 {
        let out = client
            .get_records()
            .shard_iterator(&iterator)
            .limit(10_000)
            .send()
            .await
            .unwrap();
        records.extend(out.records().iter().cloned());
        if records.len() >= payloads.len() {
            break;
        }
        iterator = out.next_shard_iterator.expect("the shard is open");
    }
    assert_eq!(records.len(), payloads.len(), "every record was read back");
    let source = EventSource {
        stream_arn,
        region: "us-east-1".into(),
        shard_id,
        invoke_identity_arn: "arn:aws:iam::000000000000:role/kinesis-lambda".into(),
    };
    let sequence_numbers = records
        .iter()
        .map(|r| r.sequence_number().to_owned())
        .collect();
    (event_document(&source, &records), sequence_numbers)
}

/// [`event_document_for`], parsed as the `KinesisEvent` the function receives.
pub async fn event_for(payloads: &[(String, Vec<u8>)]) -> (KinesisEvent, Vec<String>) {
    let (document, sequence_numbers) = event_document_for(payloads).await;
    let text = serde_json::to_string(&document).unwrap();
    let event: KinesisEvent = serde_json::from_str(&text).unwrap();
    (event, sequence_numbers)
}

/// `from` follows `to` for each pair, as CSV payloads keyed by the follower.
pub fn follows(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    pairs
        .iter()
        .map(|(from, to)| {
            (
                from.to_string(),
                FollowsEdge::new(*from, *to, DATE).encode(PayloadFormat::Csv),
            )
        })
        .collect()
}

/// How many of these edges are in the graph.
pub async fn edges_present(sink: &GremlinSink, ids: &[String]) -> i64 {
    let t = Bytecode::new()
        .step("E", ids.iter().map(GValue::from))
        .then("count");
    let rows = sink.transport().submit(&t).await.unwrap();
    rows[0].as_i64().unwrap()
}

/// `follows` edges leaving these vertices, whatever their ids.
pub async fn out_edges(sink: &GremlinSink, vertices: &[String]) -> i64 {
    let t = Bytecode::new()
        .step("V", vertices.iter().map(GValue::from))
        .step("outE", ["follows"])
        .then("count");
    let rows = sink.transport().submit(&t).await.unwrap();
    rows[0].as_i64().unwrap()
}

/// The id of the edge `from` → `to` created on [`DATE`].
pub fn edge_id(from: &str, to: &str) -> String {
    FollowsSchema::edge_id(from, DATE, to)
}

/// People 0..n each follow the next one (a chain), as pairs of ids.
pub fn chain(people: &[String], n: usize) -> Vec<(&str, &str)> {
    (0..n)
        .map(|i| (people[i].as_str(), people[i + 1].as_str()))
        .collect()
}
