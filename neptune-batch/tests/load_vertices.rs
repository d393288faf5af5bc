//! The vertex loader against the in-memory graph and sinks that fail on purpose.

use async_trait::async_trait;
use neptune_batch::load::csv::CsvError;
use neptune_batch::load::{load_vertices, LoadProgress, VertexLoadError, VertexLoadOptions};
use neptune_batch::{
    ConfigError, Edge, GraphSink, ItemFailure, MemoryGraph, PropertyValue, SinkError, Vertex,
    WriteReport,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use stream2neptune_common::Backoff;

fn fast_options(batch_size: usize) -> VertexLoadOptions {
    VertexLoadOptions::builder()
        .batch_size(batch_size)
        .retry(Backoff::new(Duration::from_millis(1), Duration::from_millis(5)).with_max_retries(2))
        .build()
        .expect("valid options")
}

fn people_csv(n: usize) -> String {
    let mut text = String::from("~id,~label,firstName:String,lastName,id:Int\n");
    for i in 0..n {
        text.push_str(&format!("{i},person,First{i},\"Last, {i}\",{i}\n"));
    }
    text
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn a_file_is_loaded_in_batches_with_progress_after_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "people.csv", people_csv(250).as_bytes());
    let graph = MemoryGraph::new();
    let mut seen: Vec<LoadProgress> = Vec::new();
    let summary = load_vertices(&path, &graph, &fast_options(100), |p| seen.push(p.clone()))
        .await
        .unwrap();

    assert_eq!(summary.rows_read, 250);
    assert_eq!(summary.written, 250);
    assert_eq!(summary.batches, 3);
    assert!(summary.is_complete());
    assert_eq!(graph.vertex_count(), 250);
    let v = graph.vertex("7").unwrap();
    assert_eq!(v.label, "person");
    assert_eq!(
        v.properties,
        // The in-memory graph answers properties by key.
        vec![
            ("firstName".into(), PropertyValue::from("First7")),
            ("id".into(), PropertyValue::Int(7)),
            ("lastName".into(), PropertyValue::from("Last, 7")),
        ]
    );

    assert_eq!(
        seen.iter().map(|p| p.written).collect::<Vec<_>>(),
        vec![100, 200, 250]
    );
    let last = seen.last().unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    assert_eq!(last.total_bytes, Some(size));
    assert_eq!(last.bytes_read, size);
    assert!(seen.windows(2).all(|w| w[0].bytes_read <= w[1].bytes_read));
}

#[tokio::test]
async fn loading_the_same_file_twice_reports_every_vertex_already_present() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "people.csv", people_csv(120).as_bytes());
    let graph = MemoryGraph::new();
    load_vertices(&path, &graph, &fast_options(50), |_| {})
        .await
        .unwrap();
    let again = load_vertices(&path, &graph, &fast_options(50), |_| {})
        .await
        .unwrap();
    assert_eq!((again.written, again.already_present), (0, 120));
    assert_eq!(graph.vertex_count(), 120);
}

#[tokio::test]
async fn a_gzip_file_is_read_whatever_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "people.csv", &gzip(people_csv(30).as_bytes()));
    let graph = MemoryGraph::new();
    let summary = load_vertices(&path, &graph, &fast_options(100), |_| {})
        .await
        .unwrap();
    assert!(summary.gzip);
    assert_eq!(summary.written, 30);
    assert_eq!(graph.vertex_count(), 30);
}

#[tokio::test]
async fn bad_rows_and_refused_vertices_are_reported_and_every_row_is_accounted_for() {
    let dir = tempfile::tempdir().unwrap();
    let graph = MemoryGraph::new();
    graph
        .write_vertices(&[Vertex::new("taken", "company")])
        .await
        .unwrap();
    let path = write_file(
        dir.path(),
        "mixed.csv",
        b"~id,~label,age:Int\n\
          1,person,30\n\
          2,person,thirty\n\
          taken,person,40\n\
          3,person\n\
          1,person,30\n\
          4,person,50\n",
    );
    let summary = load_vertices(&path, &graph, &fast_options(2), |_| {})
        .await
        .unwrap();

    assert_eq!(summary.rows_read, 6);
    assert_eq!(summary.written, 2, "vertices 1 and 4");
    assert_eq!(summary.already_present, 1, "vertex 1 repeated on line 6");
    assert_eq!(summary.failed.len(), 1);
    assert_eq!(summary.failed[0].id, "taken");
    assert_eq!(summary.failed[0].line, 4);
    assert!(matches!(
        summary.failed[0].failure,
        ItemFailure::ConstraintViolation(_)
    ));
    assert_eq!(
        summary
            .bad_lines
            .iter()
            .map(|b| (b.line, b.file.ends_with("mixed.csv")))
            .collect::<Vec<_>>(),
        vec![(3, true), (5, true)]
    );
    assert_eq!(
        summary.rows_read,
        summary.written
            + summary.already_present
            + summary.failed.len() as u64
            + summary.bad_lines.len() as u64
    );
    assert!(!summary.is_complete());
}

#[tokio::test]
async fn multi_valued_columns_are_named_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "tags.csv", b"~id,tags:String[]\n1,a;b\n");
    let graph = MemoryGraph::new();
    let summary = load_vertices(&path, &graph, &fast_options(10), |_| {})
        .await
        .unwrap();
    assert_eq!(summary.multi_valued_columns, vec!["tags"]);
    assert_eq!(
        graph.vertex("1").unwrap().properties,
        [(
            "tags".to_owned(),
            PropertyValue::Set(vec!["a".into(), "b".into()])
        )]
    );
}

/// A sink that fails the first `failures` calls with the given error, then delegates.
struct FailingFirst {
    inner: MemoryGraph,
    failures: u32,
    calls: AtomicU32,
    retriable: bool,
}

#[async_trait]
impl GraphSink for FailingFirst {
    async fn write_vertices(&self, vertices: &[Vertex]) -> Result<WriteReport, SinkError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call < self.failures {
            return Err(if self.retriable {
                SinkError::Connect {
                    endpoint: "ws://127.0.0.1:1/gremlin".into(),
                    source: "connection refused".into(),
                }
            } else {
                SinkError::Closed
            });
        }
        self.inner.write_vertices(vertices).await
    }

    async fn write_edges(&self, edges: &[Edge]) -> Result<WriteReport, SinkError> {
        self.inner.write_edges(edges).await
    }
}

#[tokio::test]
async fn a_transient_sink_failure_is_retried_and_the_batch_lands_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "people.csv", people_csv(10).as_bytes());
    let sink = FailingFirst {
        inner: MemoryGraph::new(),
        failures: 2,
        calls: AtomicU32::new(0),
        retriable: true,
    };
    let summary = load_vertices(&path, &sink, &fast_options(100), |_| {})
        .await
        .unwrap();
    assert_eq!(summary.batch_retries, 2);
    assert_eq!(summary.written, 10);
    assert_eq!(sink.inner.vertex_count(), 10);
}

#[tokio::test]
async fn a_sink_that_stays_down_stops_the_load_after_the_allowed_attempts_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "people.csv", people_csv(10).as_bytes());
    let sink = FailingFirst {
        inner: MemoryGraph::new(),
        failures: u32::MAX,
        calls: AtomicU32::new(0),
        retriable: true,
    };
    let err = load_vertices(&path, &sink, &fast_options(4), |_| {})
        .await
        .unwrap_err();
    assert_eq!(
        sink.calls.load(Ordering::SeqCst),
        3,
        "the first call and 2 retries"
    );
    assert!(err.is_retriable());
    let VertexLoadError::SinkFailed { summary, source } = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(source, SinkError::Connect { .. }));
    assert_eq!((summary.rows_read, summary.written), (0, 0));
}

#[tokio::test]
async fn a_closed_sink_stops_the_load_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "people.csv", people_csv(10).as_bytes());
    let sink = FailingFirst {
        inner: MemoryGraph::new(),
        failures: 1,
        calls: AtomicU32::new(0),
        retriable: false,
    };
    let err = load_vertices(&path, &sink, &fast_options(4), |_| {})
        .await
        .unwrap_err();
    assert_eq!(sink.calls.load(Ordering::SeqCst), 1);
    assert!(!err.is_retriable());
    assert!(err.summary().is_some());
}

#[tokio::test]
async fn a_file_cut_short_stops_with_a_read_error_after_loading_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let whole = gzip(people_csv(20_000).as_bytes());
    let path = write_file(dir.path(), "cut.csv.gz", &whole[..whole.len() / 2]);
    let graph = MemoryGraph::new();
    let err = load_vertices(&path, &graph, &fast_options(100), |_| {})
        .await
        .unwrap_err();
    let VertexLoadError::ReadFailed { summary, source } = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(source, CsvError::Read { .. }));
    assert!(source.to_string().contains("cut.csv.gz"), "{source}");
    assert!(summary.written > 0);
    assert_eq!(summary.written, graph.vertex_count() as u64);
    assert_eq!(summary.rows_read, summary.written);
}

#[tokio::test]
async fn an_edge_file_or_a_missing_file_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let edges = write_file(dir.path(), "edges.csv", b"~id,~from,~to\n1-2,1,2\n");
    let graph = MemoryGraph::new();
    let err = load_vertices(&edges, &graph, &fast_options(10), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        VertexLoadError::Open(CsvError::WrongKind { .. })
    ));

    let err = load_vertices(
        dir.path().join("absent.csv"),
        &graph,
        &fast_options(10),
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(err, VertexLoadError::Open(CsvError::Open { .. })));
    assert!(err.to_string().contains("absent.csv"));
    assert_eq!(graph.vertex_count(), 0);
}

#[test]
fn invalid_options_are_refused_naming_the_field() {
    let field = |e: ConfigError| e.field().to_owned();
    let builder = VertexLoadOptions::builder;
    assert_eq!(
        field(builder().batch_size(0).build().unwrap_err()),
        "batch_size"
    );
    let e = builder().batch_size(10_001).build().unwrap_err();
    assert!(e.to_string().contains("batch_size"), "{e}");
    let retries =
        |n| Backoff::new(Duration::from_millis(500), Duration::from_secs(8)).with_max_retries(n);
    assert_eq!(
        field(builder().retry(retries(100)).build().unwrap_err()),
        "retry"
    );
    let slow_start =
        Backoff::new(Duration::from_secs(20), Duration::from_secs(8)).with_max_retries(5);
    assert_eq!(
        field(builder().retry(slow_start).build().unwrap_err()),
        "retry"
    );
    assert_eq!(VertexLoadOptions::default().batch_size, 100);
    assert!(VertexLoadOptions::default().validate().is_ok());
}
