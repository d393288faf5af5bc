//! Helpers shared by the integration tests against the real Gremlin Server.
#![allow(dead_code)]

pub mod changes;

use neptune_batch::gremlin::{Bytecode, GValue};
use neptune_batch::transport::{GremlinTransport, TransportConfig};
use neptune_batch::{GremlinSink, GremlinSinkConfig, GremlinSinkConfigBuilder, Vertex, WriteMode};

/// The Gremlin Server's URL; a missing server fails the test with how to start it.
pub async fn gremlin_url() -> String {
    local_services::gremlin()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .url
}

/// The CA file named by `GREMLIN_CA_FILE`: set with a `wss://` `GREMLIN_URL`, these tests run
/// over TLS (`scripts/test-all.sh` runs the sink's contract tests so, against the server it
/// starts with a private CA).
pub fn ca_file() -> Option<std::path::PathBuf> {
    std::env::var_os("GREMLIN_CA_FILE").map(Into::into)
}

/// A transport to the shared server.
pub async fn transport() -> GremlinTransport {
    let config = TransportConfig::builder(gremlin_url().await)
        .ca_file(ca_file())
        .build()
        .expect("a valid configuration");
    GremlinTransport::connect(config)
        .await
        .expect("connect to the Gremlin Server")
}

/// A sink in `mode` with the defaults otherwise.
pub async fn sink(mode: WriteMode) -> GremlinSink {
    sink_with(|c| c.mode(mode)).await
}

/// A sink with a configuration built from the defaults.
pub async fn sink_with(
    f: impl FnOnce(GremlinSinkConfigBuilder) -> GremlinSinkConfigBuilder,
) -> GremlinSink {
    let config =
        f(GremlinSinkConfig::builder(gremlin_url().await).writer(|w| w.ca_file(ca_file())))
            .build()
            .expect("a valid configuration");
    GremlinSink::connect(config).await.expect("connect")
}

/// `n` person vertices with ids `<prefix>-p<i>`.
pub fn people(prefix: &str, n: usize) -> Vec<Vertex> {
    (0..n)
        .map(|i| Vertex::new(format!("{prefix}-p{i}"), "person"))
        .collect()
}

/// Runs a traversal and returns its results.
pub async fn run(t: &GremlinTransport, b: Bytecode) -> Vec<GValue> {
    t.submit(&b).await.expect("query")
}

/// The number of results of `b.count()`.
pub async fn count(t: &GremlinTransport, b: Bytecode) -> i64 {
    run(t, b.then("count")).await[0].as_i64().expect("a count")
}

/// Number of edges among `ids`.
pub async fn edges_with_ids(t: &GremlinTransport, ids: &[String]) -> i64 {
    count(t, Bytecode::new().step("E", ids.to_vec())).await
}

/// The edges with the ids `ids` as `sink` names them: `E(ids)` on a server that keeps
/// caller-supplied edge ids, `E().has(key, within(ids))` where they live in a property
/// (JanusGraph).
pub fn edges_named(sink: &GremlinSink, ids: Vec<String>) -> Bytecode {
    sink.edge_identity().edges_with_ids(ids)
}

/// Whether the server keeps caller-supplied edge ids (Neptune, TinkerGraph), as the sink's
/// probe finds at connect; where it does not (JanusGraph) edge ids live in a property, and
/// plain mode (nothing would refuse a second edge with the same id) is refused.
pub async fn keeps_edge_ids() -> bool {
    sink(WriteMode::Merge).await.edge_identity().key().is_none()
}

/// The write modes the server allows: every mode, or without plain mode where edge ids live
/// in a property.
pub async fn modes() -> Vec<WriteMode> {
    let all = [WriteMode::Plain, WriteMode::Conditional, WriteMode::Merge];
    let keeps = keeps_edge_ids().await;
    all.into_iter()
        .filter(|m| keeps || *m != WriteMode::Plain)
        .collect()
}

/// Out-edges of a vertex.
pub async fn out_degree(t: &GremlinTransport, v: &str) -> i64 {
    count(t, Bytecode::new().step("V", [v]).then("outE")).await
}
