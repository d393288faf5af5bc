//! Shared set-up of the end-to-end tests: a stream, persons in the graph, records on the stream,
//! and reading back the edges of one run.

#![allow(dead_code)]

pub mod changes;
pub mod lambda;

use aws_sdk_kinesis::Client;
use kinesis_source::producer::{KinesisProducer, ProducerConfig, ProducerRecord};
use kinesis_source::StreamRef;
use neptune_batch::gremlin::{Bytecode, GValue};
use neptune_batch::transport::{GremlinTransport, TransportConfig};
use neptune_batch::{FollowsSchema, GraphSink, GremlinSink, GremlinSinkConfig, Vertex};
use std::collections::BTreeSet;
use std::time::Duration;
use workload_gen::generator::{generate, GeneratorConfig};
use workload_gen::{FollowsEdge, PayloadFormat};

/// The Gremlin Server's URL, or a failure that says how to start one.
pub async fn gremlin_url() -> String {
    local_services::gremlin()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .url
}

/// A stream with `shards` shards, ACTIVE.
pub async fn stream(client: &Client, prefix: &str, shards: i32) -> String {
    let name = local_services::unique_name(prefix);
    local_services::create_stream_and_wait(client, &name, shards, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("stream {name} did not become usable: {e}"));
    name
}

/// A data set whose ids all start with `prefix` (so runs sharing a server never meet).
pub fn data(prefix: &str, persons: u32, edges: u64, seed: u64) -> (Vec<String>, Vec<FollowsEdge>) {
    let config = GeneratorConfig::builder()
        .persons(persons)
        .edges(edges)
        .seed(seed)
        .build()
        .expect("a valid data set");
    let d = generate(&config).expect("generate");
    let persons = d
        .persons
        .iter()
        .map(|p| format!("{prefix}{}", p.id))
        .collect();
    let edges = d
        .edges
        .into_iter()
        .map(|e| {
            FollowsEdge::new(
                format!("{prefix}{}", e.from),
                format!("{prefix}{}", e.to),
                e.creation_date,
            )
        })
        .collect();
    (persons, edges)
}

/// Creates the persons in the graph.
pub async fn create_persons(url: &str, ids: &[String]) {
    let config = GremlinSinkConfig::builder(url)
        .batch_size(500)
        .build()
        .expect("a valid configuration");
    let sink = GremlinSink::connect(config).await.expect("connect");
    let vertices: Vec<Vertex> = ids
        .iter()
        .map(|id| Vertex::new(id.clone(), "person"))
        .collect();
    let report = sink
        .write_vertices(&vertices)
        .await
        .expect("write vertices");
    assert_eq!(
        report.failed(),
        0,
        "{:?}",
        report.outcomes.iter().find(|o| !o.is_success())
    );
}

/// Puts raw records (partition key, bytes) on the stream; every one must be accepted.
pub async fn put_raw(client: &Client, stream: &str, records: Vec<(String, Vec<u8>)>) {
    let producer = KinesisProducer::from_client(
        client.clone(),
        ProducerConfig::builder(StreamRef::parse(stream))
            .build()
            .expect("a producer configuration"),
    )
    .expect("producer");
    for chunk in records.chunks(5_000) {
        let batch = chunk
            .iter()
            .map(|(k, d)| ProducerRecord::new(k.clone(), d.clone()))
            .collect();
        for (i, r) in producer.put(batch).await.into_iter().enumerate() {
            if let Err(e) = r {
                panic!("record {i} was not put: {e}");
            }
        }
    }
}

/// Puts edges as the driver would: partition key = from, payload CSV.
pub async fn put_edges(client: &Client, stream: &str, edges: &[FollowsEdge]) {
    put_raw(
        client,
        stream,
        edges
            .iter()
            .map(|e| (e.from.clone(), e.encode(PayloadFormat::Csv)))
            .collect(),
    )
    .await;
}

/// The ids of the `follows` edges leaving `persons`, as the graph holds them: the server's id,
/// or, where the writer named edges by a property (JanusGraph), the `edge_id` property.
pub async fn edge_ids(url: &str, persons: &[String]) -> BTreeSet<String> {
    let transport = GremlinTransport::connect(TransportConfig::new(url))
        .await
        .expect("connect");
    let mut out = BTreeSet::new();
    for chunk in persons.chunks(1_000) {
        let ids: Vec<GValue> = chunk.iter().map(|p| GValue::from(p.clone())).collect();
        let traversal = Bytecode::new()
            .step("V", [GValue::List(ids)])
            .step("outE", ["follows"])
            .step(
                "coalesce",
                [
                    Bytecode::new().step("values", [neptune_batch::EdgeIdentity::DEFAULT_KEY]),
                    Bytecode::new().then("id"),
                ],
            );
        for v in transport.submit(&traversal).await.expect("read edges") {
            let id = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{v:?}"));
            assert!(out.insert(id.clone()), "edge {id} returned twice");
        }
    }
    out
}

/// The ids `edges` must have in the graph.
pub fn expected_ids(edges: &[FollowsEdge]) -> BTreeSet<String> {
    edges
        .iter()
        .map(|e| FollowsSchema::edge_id(&e.from, &e.creation_date, &e.to))
        .collect()
}

/// The main job's summary lines, label to value (the lines after `Summary`, two spaces in, the
/// label padded to 30 columns).
pub fn summary(stdout: &str) -> std::collections::BTreeMap<String, String> {
    stdout
        .lines()
        .skip_while(|l| *l != "Summary")
        .skip(1)
        .filter_map(|l| {
            let l = l.strip_prefix("  ")?;
            let (label, value) = l.split_at_checked(30)?;
            Some((label.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// The numbers of a summary value, in order.
pub fn numbers(value: &str) -> Vec<u64> {
    value
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}
