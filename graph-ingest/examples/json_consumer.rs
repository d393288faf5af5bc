//! A complete consumer: JSON records `{"a": …, "b": …}` ("a follows b") from a 4-shard stream,
//! each shard in parallel and in order, into a graph and a metrics sink of the program's own,
//! with dead letters and checkpoints in files and Ctrl-C handled. It runs twice, as a process
//! stopped and started again would: the second run resumes from the first one's checkpoints.
//!
//! `cargo run -p graph-ingest --example json_consumer`
use async_trait::async_trait;
use graph_ingest::dead_letter::JsonLinesDeadLetters;
use graph_ingest::{GraphWrites, Pipeline, Rejection};
use kinesis_source::{FileCheckpointStore, MemorySource, MemoryStream, Record};
use metrics_sink::{FlushReport, MetricDatum, MetricsError, MetricsSink};
use neptune_batch::{Edge, GraphSink, ItemOutcome as Outcome, SinkError, Vertex, WriteReport};
use std::{collections::HashSet, sync::Arc, sync::Mutex};

#[derive(serde::Deserialize)]
struct Follow {
    a: String,
    b: String,
}

/// A record that is not a follow is rejected, and becomes a dead letter.
fn to_graph(record: &Record) -> Result<GraphWrites, Rejection> {
    let f: Follow = serde_json::from_slice(&record.data).map_err(|e| Rejection::new(e.to_string()))?;
    Ok(GraphWrites::edge(Edge::new(format!("{}>{}", f.a, f.b), "follows", &f.a, &f.b)))
}

/// The program's own graph (edge ids in a set) and metrics (data points counted).
struct MyGraph(Mutex<HashSet<String>>);
struct MyMetrics(Mutex<u64>);

#[async_trait]
impl GraphSink for MyGraph {
    async fn write_vertices(&self, v: &[Vertex]) -> Result<WriteReport, SinkError> {
        Ok(WriteReport::from_outcomes(vec![Outcome::Written; v.len()]))
    }
    async fn write_edges(&self, edges: &[Edge]) -> Result<WriteReport, SinkError> {
        let mut ids = self.0.lock().unwrap();
        Ok(WriteReport::from_outcomes(edges.iter().map(|e| Outcome::created(ids.insert(e.id.clone()))).collect()))
    }
}

#[async_trait]
impl MetricsSink for MyMetrics {
    fn record(&self, _: MetricDatum) {
        *self.0.lock().unwrap() += 1
    }
    async fn flush(&self) -> Result<FlushReport, MetricsError> {
        Ok(FlushReport::default())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("json-consumer-{}", std::process::id()));
    let (graph, metrics, stream) =
        (Arc::new(MyGraph(Mutex::default())), Arc::new(MyMetrics(Mutex::new(0))), MemoryStream::new(4));
    for (run, records) in [(1, 0..600), (2, 600..1000)] {
        for i in records {
            let json = if i % 100 == 7 { "{oops".to_owned() } else { format!(r#"{{"a":"u{}","b":"u{i}"}}"#, i % 97) };
            stream.put(format!("u{}", i % 97), json.into_bytes());
        }
        let pipeline = Pipeline::builder()
            .mapper(to_graph)
            .sink(graph.clone())
            .metrics(metrics.clone())
            .dead_letters(Arc::new(JsonLinesDeadLetters::open(dir.join("dead-letters.jsonl"))?))
            .build()?;
        pipeline.control().stop_on_signals();
        let checkpoints = Arc::new(FileCheckpointStore::open(dir.join("checkpoints.json"))?);
        pipeline.run(&mut MemorySource::new(stream.clone(), checkpoints, 100).until_caught_up()).await?;
        println!("run {run}: {}; {} metric data points so far", pipeline.stats(), metrics.0.lock().unwrap());
    }
    println!("graph: {} edges; dead letters and checkpoints in {}", graph.0.lock().unwrap().len(), dir.display());
    Ok(())
}
