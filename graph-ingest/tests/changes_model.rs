//! The change-stream model test on the in-memory graph: random versioned change streams over
//! a small key space, put on a 4-shard stream, consumed with parallelization factor 2 by
//! pipelines that crash at random moments (one stops in the middle of a write: what it wrote
//! stays, its records are not acknowledged) and restart from the checkpoints. The graph must end
//! as the model (`local_services::change_model`) computes from the records alone.

use async_trait::async_trait;
use graph_ingest::dead_letter::MemoryDeadLetters;
use graph_ingest::{ChangeJson, Pipeline, PipelineConfig};
use kinesis_source::{MemoryCheckpointStore, MemorySource, MemoryStream};
use local_services::change_model::{expected_graph, ExpectedGraph, KeySpace};
use neptune_batch::{Edge, GraphSink, MemoryGraph, Mutation, SinkError, Vertex, WriteReport};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// At most 50 vertices and 300 edges.
const SPACE: KeySpace = KeySpace {
    vertices: 50,
    edges: 300,
};

/// The in-memory graph, crashing after a number of `apply` calls: the crashing call applies
/// part of its batch, then never answers, and the pipeline is dropped (the process dies).
struct Crashing {
    graph: Arc<MemoryGraph>,
    calls_left: AtomicUsize,
    crashed: Notify,
}

#[async_trait]
impl GraphSink for Crashing {
    async fn write_vertices(&self, vertices: &[Vertex]) -> Result<WriteReport, SinkError> {
        self.graph.write_vertices(vertices).await
    }

    async fn write_edges(&self, edges: &[Edge]) -> Result<WriteReport, SinkError> {
        self.graph.write_edges(edges).await
    }

    async fn apply(&self, mutations: &[Mutation]) -> Result<WriteReport, SinkError> {
        let left = self.calls_left.fetch_sub(1, Ordering::SeqCst);
        if left == 1 {
            let part = mutations.len() / 2;
            self.graph.apply(&mutations[..part]).await?;
            self.crashed.notify_one();
            std::future::pending::<()>().await;
        }
        self.graph.apply(mutations).await
    }
}

/// What the in-memory graph holds, in the model's terms.
fn read_back(g: &MemoryGraph) -> ExpectedGraph {
    let json = |p| serde_json::to_value(p).expect("a property as JSON");
    let mut out = ExpectedGraph::default();
    for id in g.vertex_ids() {
        let v = g.vertex(&id).expect("a vertex listed");
        if g.is_placeholder(&id) {
            out.placeholders.insert(id, v.label);
        } else {
            let props = v
                .properties
                .into_iter()
                .map(|(k, p)| (k, json(p)))
                .collect();
            out.vertices.insert(id, (v.label, props));
        }
    }
    for id in g.edge_ids() {
        let e = g.edge(&id).expect("an edge listed");
        let props = e
            .properties
            .into_iter()
            .map(|(k, p)| (k, json(p)))
            .collect();
        out.edges.insert(id, (e.label, e.from, e.to, props));
    }
    out
}

fn pipeline(sink: Arc<dyn GraphSink>, dead: &MemoryDeadLetters) -> Pipeline {
    let config = PipelineConfig::builder()
        .parallelization_factor(2)
        .build()
        .expect("a valid configuration");
    Pipeline::builder()
        .mapper(ChangeJson::default().placeholder_label("person"))
        .sink(sink)
        .dead_letters(Arc::new(dead.clone()))
        .config(config)
        .build()
        .expect("a pipeline")
}

/// Consumes `stream` to its end through pipelines that crash after `crashes[i]` writes each;
/// answers how many crashed (a pipeline may end before its crash).
async fn consume(
    stream: &MemoryStream,
    graph: &Arc<MemoryGraph>,
    dead: &MemoryDeadLetters,
    crashes: &[usize],
    batch: usize,
) -> usize {
    let mut crashed = 0;
    let checkpoints = Arc::new(MemoryCheckpointStore::default());
    for &after in crashes {
        let sink = Arc::new(Crashing {
            graph: graph.clone(),
            calls_left: AtomicUsize::new(after + 1),
            crashed: Notify::new(),
        });
        let p = pipeline(sink.clone(), dead);
        let mut source = MemorySource::new(stream.clone(), checkpoints.clone(), batch);
        tokio::select! {
            done = p.run(&mut source) => {
                done.expect("the pipeline ends cleanly");
                return crashed;
            }
            () = sink.crashed.notified() => crashed += 1,
        }
    }
    let p = pipeline(graph.clone(), dead);
    let mut source = MemorySource::new(stream.clone(), checkpoints, batch);
    p.run(&mut source)
        .await
        .expect("the last pipeline ends cleanly");
    crashed
}

#[test]
fn any_stream_with_crashes_leaves_the_models_graph() {
    let crashed = AtomicUsize::new(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cases = (
        prop::collection::vec(SPACE.op(), 1..400),
        prop::collection::vec(0usize..12, 0..4),
        1usize..60,
    );
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    });
    runner
        .run(&cases, |(ops, crashes, batch)| {
            let records = SPACE.records("", &ops);
            let stream = MemoryStream::new(4);
            for (key, record) in &records {
                stream.put(key.clone(), record.clone().into_bytes());
            }
            stream.close();
            let graph = Arc::new(MemoryGraph::new());
            let dead = MemoryDeadLetters::new();
            let n = rt.block_on(consume(&stream, &graph, &dead, &crashes, batch));
            crashed.fetch_add(n, Ordering::Relaxed);
            prop_assert!(
                dead.all().is_empty(),
                "no change is a dead letter: {:?}",
                dead.all()
            );
            let lines: Vec<&str> = records.iter().map(|(_, r)| r.as_str()).collect();
            prop_assert_eq!(read_back(&graph), expected_graph(&lines));
            Ok(())
        })
        .unwrap();
    let crashed = crashed.into_inner();
    assert!(
        crashed >= 100,
        "the cases crashed {crashed} pipelines in all"
    );
}
