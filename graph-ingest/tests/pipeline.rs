//! The pipeline on in-memory parts: transient failures hold a shard and lose nothing, records
//! expire only past a maximum age, other shards go on, and lanes keep each key's order.

use async_trait::async_trait;
use graph_ingest::dead_letter::MemoryDeadLetters;
use graph_ingest::{
    GraphWrites, Pipeline, PipelineConfig, PipelineConfigBuilder, RecordMapper, Rejection,
};
use kinesis_source::{MemoryCheckpointStore, MemorySource, MemoryStream, Record};
use metrics_sink::{names, MemoryMetrics};
use neptune_batch::{
    Edge, GraphSink, ItemFailure, ItemOutcome, MemoryGraph, SinkError, Vertex, WriteReport,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stream2neptune_common::Backoff;

/// `from,to`: one follows edge with the id `from>to`.
fn mapper(record: &Record) -> Result<GraphWrites, Rejection> {
    let text = std::str::from_utf8(&record.data).map_err(|e| Rejection::new(e.to_string()))?;
    let (a, b) = text
        .split_once(',')
        .ok_or_else(|| Rejection::new("undecodable: expected from,to"))?;
    Ok(GraphWrites::edge(Edge::new(
        format!("{a}>{b}"),
        "follows",
        a,
        b,
    )))
}

/// A graph that fails every edge whose `from` starts with a given prefix, for a transient
/// reason, while `down` is set; remembers the order edges went in and the most calls at once.
#[derive(Default)]
struct Flaky {
    inner: MemoryGraph,
    down: AtomicBool,
    failing_prefix: Mutex<String>,
    order: Mutex<Vec<String>>,
    /// Failures say an answer was lost (the write may have been committed).
    unconfirmed: AtomicBool,
    now: AtomicUsize,
    most: AtomicUsize,
    probes: AtomicUsize,
}

impl Flaky {
    fn fails(&self, from: &str) -> bool {
        self.down.load(Ordering::SeqCst)
            && from.starts_with(self.failing_prefix.lock().unwrap().as_str())
    }
}

#[async_trait]
impl GraphSink for Flaky {
    async fn write_vertices(&self, vertices: &[Vertex]) -> Result<WriteReport, SinkError> {
        self.inner.write_vertices(vertices).await
    }

    async fn write_edges(&self, edges: &[Edge]) -> Result<WriteReport, SinkError> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (ok, failed): (Vec<_>, Vec<_>) = edges
            .iter()
            .enumerate()
            .partition(|(_, e)| !self.fails(&e.from));
        let good: Vec<Edge> = ok.iter().map(|(_, e)| (*e).clone()).collect();
        let report = self.inner.write_edges(&good).await?;
        self.order
            .lock()
            .unwrap()
            .extend(good.iter().map(|e| e.id.clone()));
        let mut outcomes = vec![ItemOutcome::Written; edges.len()];
        for ((i, _), o) in ok.iter().zip(report.outcomes) {
            outcomes[*i] = o;
        }
        for (i, _) in failed {
            outcomes[i] = ItemOutcome::Failed(if self.unconfirmed.load(Ordering::SeqCst) {
                ItemFailure::Unconfirmed {
                    attempts: 6,
                    last_error: "connection lost: reset by peer".into(),
                }
            } else {
                ItemFailure::RetriesExhausted {
                    attempts: 6,
                    last_error: "cannot connect: connection refused".into(),
                }
            });
        }
        self.now.fetch_sub(1, Ordering::SeqCst);
        Ok(WriteReport {
            outcomes,
            requests: 1,
            retries: 0,
            conflict_sleep_ms: 0,
        })
    }

    async fn probe(&self) -> Result<(), SinkError> {
        self.probes.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) && self.failing_prefix.lock().unwrap().is_empty() {
            Err(SinkError::Closed)
        } else {
            Ok(())
        }
    }
}

/// People `p0..pn`, and a stream where `p<i>` follows `p<i+1>`, keyed by `from`.
async fn setup(n: usize, shards: usize) -> (Arc<Flaky>, MemoryStream) {
    let graph = Arc::new(Flaky::default());
    let people: Vec<Vertex> = (0..=n)
        .map(|i| Vertex::new(format!("p{i}"), "person"))
        .collect();
    graph.inner.write_vertices(&people).await.unwrap();
    let stream = MemoryStream::new(shards);
    for i in 0..n {
        stream.put(format!("p{i}"), format!("p{i},p{}", i + 1).into_bytes());
    }
    (graph, stream)
}

fn pipeline(
    graph: Arc<Flaky>,
    dead: &MemoryDeadLetters,
    metrics: &MemoryMetrics,
    config: PipelineConfig,
) -> Pipeline {
    Pipeline::builder()
        .mapper(mapper)
        .sink(graph)
        .dead_letters(Arc::new(dead.clone()))
        .metrics(Arc::new(metrics.clone()))
        .config(config)
        .build()
        .unwrap()
}

fn fast_hold() -> PipelineConfigBuilder {
    PipelineConfig::builder()
        .hold_backoff(Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(50),
        ))
        .hold_probe_interval(Duration::from_millis(20))
}

#[tokio::test]
async fn an_outage_holds_the_shards_and_loses_nothing() {
    let (graph, stream) = setup(500, 2).await;
    graph.down.store(true, Ordering::SeqCst);
    stream.close();
    let dead = MemoryDeadLetters::new();
    let metrics = MemoryMetrics::new();
    let p = pipeline(graph.clone(), &dead, &metrics, fast_hold().build().unwrap());
    let checkpoints = Arc::new(MemoryCheckpointStore::default());
    let mut source = MemorySource::new(stream, checkpoints.clone(), 100);
    let stats = p.stats();
    let restore = {
        let graph = graph.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            graph.down.store(false, Ordering::SeqCst);
        })
    };
    p.run(&mut source).await.unwrap();
    restore.await.unwrap();
    assert_eq!(graph.inner.edge_count(), 500, "every edge is in the graph");
    assert!(dead.all().is_empty(), "no dead letters: {:?}", dead.all());
    assert!(stats.snapshot().holds >= 2, "both shards were held");
    assert_eq!(stats.snapshot().held_now, 0);
    assert!(
        graph.probes.load(Ordering::SeqCst) > 0,
        "the graph was probed while down"
    );
    assert_eq!(stats.snapshot().acknowledged, 500);
    assert_eq!(metrics.sum(names::WRITE_ERRORS), 0.0);
    assert!(!metrics.values(names::SHARD_HELD_DURATION).is_empty());
    for shard in ["shard-0", "shard-1"] {
        assert_eq!(
            checkpoints.get_sync(shard),
            Some(kinesis_source::Checkpoint::ShardEnd)
        );
    }
}

#[tokio::test]
async fn with_a_maximum_age_only_records_older_than_it_expire() {
    let (graph, stream) = setup(200, 1).await;
    graph.down.store(true, Ordering::SeqCst);
    let dead = MemoryDeadLetters::new();
    let metrics = MemoryMetrics::new();
    let config = fast_hold()
        .max_record_age(Some(Duration::from_secs(1)))
        .build()
        .unwrap();
    let p = pipeline(graph.clone(), &dead, &metrics, config);
    let mut source = MemorySource::new(
        stream.clone(),
        Arc::new(MemoryCheckpointStore::default()),
        50,
    );
    let later = {
        let graph = graph.clone();
        let stream = stream.clone();
        tokio::spawn(async move {
            // The first records are past the maximum age by now; the graph comes back, and
            // records put now are fresh.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            graph.down.store(false, Ordering::SeqCst);
            for i in 0..50 {
                stream.put(format!("q{i}"), format!("p{i},p{}", i + 2).into_bytes());
            }
            stream.close();
        })
    };
    p.run(&mut source).await.unwrap();
    later.await.unwrap();
    let letters = dead.all();
    assert_eq!(
        letters.len(),
        200,
        "the records put before the outage expired"
    );
    for l in &letters {
        assert!(
            l.reason.starts_with("expired after ")
                && l.reason.contains("s of transient failures: ")
                && l.reason.contains("connection refused"),
            "{}",
            l.reason
        );
    }
    assert_eq!(
        graph.inner.edge_count(),
        50,
        "the fresh records were written"
    );
    assert_eq!(p.stats().snapshot().expired, 200);
}

#[tokio::test]
async fn a_record_whose_write_may_have_been_committed_never_expires_before_the_graph_says() {
    let (graph, stream) = setup(50, 1).await;
    graph.down.store(true, Ordering::SeqCst);
    graph.unconfirmed.store(true, Ordering::SeqCst);
    stream.close();
    let dead = MemoryDeadLetters::new();
    let config = fast_hold()
        .max_record_age(Some(Duration::from_secs(1)))
        .build()
        .unwrap();
    let p = pipeline(graph.clone(), &dead, &MemoryMetrics::new(), config);
    let mut source = MemorySource::new(stream, Arc::new(MemoryCheckpointStore::default()), 50);
    let later = {
        let graph = graph.clone();
        tokio::spawn(async move {
            // Well past the maximum age.
            tokio::time::sleep(Duration::from_secs(3)).await;
            graph.down.store(false, Ordering::SeqCst);
        })
    };
    p.run(&mut source).await.unwrap();
    later.await.unwrap();
    assert!(dead.all().is_empty(), "nothing expired: {:?}", dead.all());
    assert_eq!(graph.inner.edge_count(), 50);
}

#[tokio::test]
async fn a_held_shard_does_not_stop_the_others() {
    let (graph, stream) = setup(400, 2).await;
    // Fail the keys of one shard only.
    let held_shard = stream.shard_for("p0");
    let held_keys: Vec<String> = (0..400)
        .map(|i| format!("p{i}"))
        .filter(|k| stream.shard_for(k) == held_shard)
        .collect();
    *graph.failing_prefix.lock().unwrap() = String::new();
    graph.down.store(false, Ordering::SeqCst);
    stream.close();
    // A graph that refuses exactly the held shard's edges until released.
    struct OneShard {
        graph: Arc<Flaky>,
        keys: std::collections::HashSet<String>,
        release: AtomicBool,
    }
    #[async_trait]
    impl GraphSink for OneShard {
        async fn write_vertices(&self, v: &[Vertex]) -> Result<WriteReport, SinkError> {
            self.graph.write_vertices(v).await
        }
        async fn write_edges(&self, edges: &[Edge]) -> Result<WriteReport, SinkError> {
            if !self.release.load(Ordering::SeqCst) && self.keys.contains(&edges[0].from) {
                let failure = ItemOutcome::Failed(ItemFailure::RetriesExhausted {
                    attempts: 6,
                    last_error: "ConcurrentModificationException".into(),
                });
                return Ok(WriteReport {
                    outcomes: vec![failure; edges.len()],
                    requests: 1,
                    retries: 5,
                    conflict_sleep_ms: 0,
                });
            }
            self.graph.write_edges(edges).await
        }
    }
    let sink = Arc::new(OneShard {
        graph: graph.clone(),
        keys: held_keys.iter().cloned().collect(),
        release: AtomicBool::new(false),
    });
    let dead = MemoryDeadLetters::new();
    let p = Pipeline::builder()
        .mapper(mapper)
        .sink(sink.clone())
        .dead_letters(Arc::new(dead.clone()))
        .config(fast_hold().build().unwrap())
        .build()
        .unwrap();
    let mut source = MemorySource::new(stream, Arc::new(MemoryCheckpointStore::default()), 50);
    let run = {
        let p = p.clone();
        tokio::spawn(async move { p.run(&mut source).await })
    };
    let other = 400 - held_keys.len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while graph.inner.edge_count() < other {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other shard stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(graph.inner.edge_count(), other);
    assert_eq!(p.stats().snapshot().held_now, 1);
    sink.release.store(true, Ordering::SeqCst);
    run.await.unwrap().unwrap();
    assert_eq!(graph.inner.edge_count(), 400);
    assert!(dead.all().is_empty());
}

#[tokio::test]
async fn lanes_write_batches_of_a_shard_at_once_and_keep_each_keys_order() {
    let graph = Arc::new(Flaky::default());
    let keys = 40;
    let per_key = 50;
    let people: Vec<Vertex> = (0..keys)
        .map(|k| Vertex::new(format!("k{k}"), "person"))
        .chain((0..per_key).map(|n| Vertex::new(format!("t{n}"), "person")))
        .collect();
    graph.inner.write_vertices(&people).await.unwrap();
    let stream = MemoryStream::new(1);
    for n in 0..per_key {
        for k in 0..keys {
            stream.put(format!("k{k}"), format!("k{k},t{n}").into_bytes());
        }
    }
    stream.close();
    let config = PipelineConfig::builder()
        .parallelization_factor(4)
        .build()
        .unwrap();
    let dead = MemoryDeadLetters::new();
    let p = pipeline(graph.clone(), &dead, &MemoryMetrics::new(), config);
    let checkpoints = Arc::new(MemoryCheckpointStore::default());
    let mut source = MemorySource::new(stream, checkpoints.clone(), 100);
    p.run(&mut source).await.unwrap();
    assert_eq!(graph.inner.edge_count(), keys * per_key);
    assert!(
        graph.most.load(Ordering::SeqCst) > 1,
        "lanes wrote at the same time"
    );
    let order = graph.order.lock().unwrap().clone();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for id in order {
        let (from, to) = id.split_once('>').unwrap();
        let n: usize = to[1..].parse().unwrap();
        let next = seen.entry(from.to_owned()).or_insert(0);
        assert_eq!(n, *next, "key {from} written out of order");
        *next += 1;
    }
    assert_eq!(
        checkpoints.get_sync("shard-0"),
        Some(kinesis_source::Checkpoint::ShardEnd)
    );
}

#[tokio::test]
async fn the_published_iterator_age_shows_how_long_records_waited_unread() {
    let (graph, stream) = setup(100, 2).await;
    stream.close();
    // Unread for 5 s before the consumer starts.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let metrics = MemoryMetrics::new();
    let p = pipeline(
        graph,
        &MemoryDeadLetters::new(),
        &metrics,
        PipelineConfig::default(),
    );
    let mut source = MemorySource::new(stream, Arc::new(MemoryCheckpointStore::default()), 1000);
    p.run(&mut source).await.unwrap();
    let ages = metrics.values(names::ITERATOR_AGE);
    assert_eq!(ages.len(), 2, "one per batch: {ages:?}");
    assert!(ages.iter().all(|a| *a >= 5000.0), "{ages:?}");
    assert!(p.stats().snapshot().max_iterator_age_ms >= 5000);
}

#[tokio::test]
async fn put_to_graph_latency_starts_at_the_put_time_given_else_at_arrival() {
    let (graph, stream) = setup(100, 1).await;
    stream.close();
    // A third of the records say they were put 3 s ago; the others say nothing, and their latency
    // starts at the stream's arrival time (just now).
    let p = Pipeline::builder()
        .mapper(mapper)
        .sink(graph)
        .dead_letters(Arc::new(MemoryDeadLetters::new()))
        .put_time(|record| {
            let n: usize = record.partition_key[1..].parse().unwrap();
            n.is_multiple_of(3)
                .then(|| std::time::SystemTime::now() - Duration::from_secs(3))
        })
        .build()
        .unwrap();
    let mut source = MemorySource::new(stream, Arc::new(MemoryCheckpointStore::default()), 1000);
    p.run(&mut source).await.unwrap();
    let latency = p.stats().end_to_end_latency();
    assert_eq!(latency.count, 100);
    assert!(latency.max >= 3000.0, "{latency:?}");
    assert!(latency.p50 < 1000.0, "{latency:?}");
}

#[tokio::test]
async fn a_rejected_record_is_a_dead_letter_and_its_shard_goes_on() {
    let (graph, stream) = setup(10, 1).await;
    stream.put("bad", b"no comma here".to_vec());
    stream.put("p10", b"p10,p0".to_vec());
    stream.close();
    let dead = MemoryDeadLetters::new();
    let p = pipeline(
        graph.clone(),
        &dead,
        &MemoryMetrics::new(),
        PipelineConfig::default(),
    );
    let mut source = MemorySource::new(stream, Arc::new(MemoryCheckpointStore::default()), 100);
    p.run(&mut source).await.unwrap();
    assert_eq!(graph.inner.edge_count(), 11);
    let letters = dead.all();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].data(), b"no comma here");
    assert!(letters[0].reason.starts_with("undecodable"));
}

#[tokio::test]
async fn the_put_time_is_asked_once_for_every_record_dead_letters_included() {
    let (graph, stream) = setup(10, 1).await;
    stream.put("bad", b"no comma here".to_vec());
    stream.close();
    let asked = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = asked.clone();
    let p = Pipeline::builder()
        .mapper(mapper)
        .sink(graph)
        .dead_letters(Arc::new(MemoryDeadLetters::new()))
        .put_time(move |record| {
            seen.lock().unwrap().push(record.partition_key.clone());
            None
        })
        .build()
        .unwrap();
    let mut source = MemorySource::new(stream, Arc::new(MemoryCheckpointStore::default()), 100);
    p.run(&mut source).await.unwrap();
    let mut asked = asked.lock().unwrap().clone();
    asked.sort();
    let mut expected: Vec<String> = (0..10).map(|n| format!("p{n}")).collect();
    expected.push("bad".into());
    expected.sort();
    assert_eq!(asked, expected, "once per record, the dead letter too");
}

/// The mapper trait object path, for completeness of the public API.
#[test]
fn closures_are_mappers() {
    fn takes(_: &dyn RecordMapper) {}
    takes(&mapper);
}
