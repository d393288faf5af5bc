//! Scheduling and adaptive sizing against the real Gremlin Server, on power-law data: two
//! "shards" write concurrently through one shared sink at its defaults, as a stream consumer
//! does, and every edge lands exactly once without a single write conflict.

mod common;

use common::{gremlin_url, sink_with};
use neptune_batch::gremlin::{Bytecode, GValue};
use neptune_batch::{
    Edge, FollowsSchema, GraphSink, GremlinSink, GremlinSinkConfig, ItemOutcome, Scheduling, Vertex,
};
use std::sync::Arc;

/// `n` follows among `persons` vertices; the followed person is drawn from a power law
/// (`rank = persons * u^2.5`), so a few super-connectors get most followers.
fn power_law(prefix: &str, persons: usize, n: usize) -> (Vec<Vertex>, Vec<Edge>) {
    let vertices: Vec<Vertex> = (0..persons)
        .map(|i| Vertex::new(format!("{prefix}-p{i}"), "person"))
        .collect();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let schema = FollowsSchema::default();
    let mut seen = std::collections::HashSet::new();
    let mut edges = Vec::new();
    while edges.len() < n {
        let from = (next() * persons as f64) as usize;
        let to = ((next().powf(2.5)) * persons as f64) as usize;
        if from == to || !seen.insert((from, to)) {
            continue;
        }
        let date = format!("2019-01-01T00:00:{:05}Z", edges.len());
        edges.push(schema.edge(&vertices[from].id, &vertices[to].id, &date, 0));
    }
    (vertices, edges)
}

async fn edge_count(sink: &GremlinSink, vertices: &[Vertex]) -> i64 {
    let mut total = 0;
    for chunk in vertices.chunks(500) {
        let ids: Vec<GValue> = chunk.iter().map(|v| GValue::from(&v.id)).collect();
        let answer = sink
            .transport()
            .submit(&Bytecode::new().step("V", ids).then("outE").then("count"))
            .await
            .unwrap();
        total += answer[0].as_i64().unwrap();
    }
    total
}

/// Two shards split by `from`, each writing calls of `call` records one after another.
async fn two_shards(sink: Arc<GremlinSink>, edges: &[Edge], call: usize) -> (usize, u32) {
    let mut shards: [Vec<Edge>; 2] = [Vec::new(), Vec::new()];
    for e in edges {
        let shard = e.from.bytes().map(usize::from).sum::<usize>() % 2;
        shards[shard].push(e.clone());
    }
    let mut tasks = Vec::new();
    for shard in shards {
        let sink = sink.clone();
        tasks.push(tokio::spawn(async move {
            let (mut written, mut retries) = (0, 0);
            for records in shard.chunks(call) {
                let r = sink.write_edges(records).await.unwrap();
                assert_eq!(
                    r.failed(),
                    0,
                    "{:?}",
                    r.outcomes.iter().find(|o| !o.is_success())
                );
                written += r
                    .outcomes
                    .iter()
                    .filter(|o| **o == ItemOutcome::Written)
                    .count();
                retries += r.retries;
            }
            (written, retries)
        }));
    }
    let mut total = (0, 0);
    for t in tasks {
        let (w, r) = t.await.unwrap();
        total.0 += w;
        total.1 += r;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_on_power_law_data_write_every_edge_once_without_conflicts_at_the_defaults() {
    let sink = two_shards_on_power_law_data(Scheduling::SessionQueue).await;
    // Gremlin Server commits each request of a session: the merges queue in one, two at a
    // time, and the batch size adapts.
    assert!(sink.queues_in_session());
    let sizing = sink.sizing();
    assert!(sizing.adaptive_batch_size && !sizing.adaptive_in_flight);
    assert_eq!(sizing.in_flight, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_requests_in_flight_share_no_vertex_and_adapt() {
    let sink = two_shards_on_power_law_data(Scheduling::ConflictFree).await;
    assert!(!sink.queues_in_session());
    let sizing = sink.sizing();
    assert!(sizing.adaptive_batch_size && sizing.adaptive_in_flight);
}

/// Two shards write power-law follows through one sink: every edge is written once, nothing
/// conflicts, the controller grows from the original's sizes, and a redelivery changes
/// nothing.
async fn two_shards_on_power_law_data(scheduling: Scheduling) -> Arc<GremlinSink> {
    let prefix = local_services::unique_name("pl");
    let (vertices, edges) = power_law(&prefix, 2000, 12_000);
    let url = gremlin_url().await;
    let config = GremlinSinkConfig::builder(url)
        .scheduling(scheduling)
        .build()
        .unwrap();
    let sink = Arc::new(GremlinSink::connect(config).await.unwrap());
    assert_eq!(sink.write_vertices(&vertices).await.unwrap().failed(), 0);

    let (written, retries) = two_shards(sink.clone(), &edges, 1000).await;
    assert_eq!(written, edges.len(), "every edge reported written once");
    assert_eq!(
        retries, 0,
        "requests running at once never touch the same vertex, so nothing conflicts"
    );
    assert_eq!(edge_count(&sink, &vertices).await, edges.len() as i64);

    // The controller grew from the original's 100 and one request at a time.
    let history = sink.sizing_history();
    assert!(!history.is_empty());
    assert!(
        history.iter().any(|s| s.batch_size > 100),
        "the batch size grew: {history:?}"
    );
    assert!(
        history.iter().any(|s| s.items > 100),
        "requests larger than the original's"
    );
    assert!(history.windows(2).all(|w| w[0].at <= w[1].at));

    // A redelivery of everything changes nothing.
    let again = sink.write_edges(&edges[..3000]).await.unwrap();
    assert!(again
        .outcomes
        .iter()
        .all(|o| *o == ItemOutcome::AlreadyPresent));
    assert_eq!(edge_count(&sink, &vertices).await, edges.len() as i64);
    sink
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_batch_size_and_in_flight_win_over_adaptation() {
    let prefix = local_services::unique_name("pin");
    let (vertices, edges) = power_law(&prefix, 500, 2000);
    let sink = Arc::new(sink_with(|c| c.batch_size(37).in_flight(2)).await);
    assert_eq!(sink.write_vertices(&vertices).await.unwrap().failed(), 0);
    let (written, _) = two_shards(sink.clone(), &edges, 500).await;
    assert_eq!(written, edges.len());
    let sizing = sink.sizing();
    assert_eq!((sizing.batch_size, sizing.in_flight), (37, 2));
    assert!(!sizing.adaptive_batch_size && !sizing.adaptive_in_flight);
    let history = sink.sizing_history();
    assert!(history
        .iter()
        .all(|s| s.items <= 37 && s.batch_size == 37 && s.in_flight == 2));
    assert_eq!(edge_count(&sink, &vertices).await, edges.len() as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_moves_to_each_new_connection_without_a_failed_request() {
    let prefix = local_services::unique_name("renew");
    let (vertices, edges) = power_law(&prefix, 500, 3_000);
    // Connections (and with them the session) renewed every 300 ms.
    let config = GremlinSinkConfig::builder(gremlin_url().await)
        .writer(|w| w.max_connection_lifetime(std::time::Duration::from_millis(300)))
        .build()
        .unwrap();
    let sink = Arc::new(GremlinSink::connect(config).await.unwrap());
    assert!(sink.queues_in_session());
    assert_eq!(sink.write_vertices(&vertices).await.unwrap().failed(), 0);
    let mut retries = 0;
    for (i, part) in edges.chunks(500).enumerate() {
        if i > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(350)).await;
        }
        let (written, r) = two_shards(sink.clone(), part, 100).await;
        assert_eq!(written, part.len(), "part {i}: every edge written");
        retries += r;
    }
    assert_eq!(
        retries, 0,
        "a request never goes into a session bound to another connection"
    );
    assert_eq!(edge_count(&sink, &vertices).await, edges.len() as i64);
}
