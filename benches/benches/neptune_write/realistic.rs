//! The headline: power-law `follows` from `workload-gen` at the original's shape. Two shards
//! split by `from` id, each calling `write_edges` with `BatchReadSize` (1000) records at a
//! time, one after another, on one shared sink; beside it the ceiling (a server-side script)
//! and the original's conditional idiom, each on a fresh copy of the graph, in one run.
//!
//! Every writer of the table is a [`Writer`] in [`writers`], the whole pipeline at its defaults
//! (stream -> graph, the records already on a 2-shard stream) among them.

use crate::common::{self, Done, Row};
use neptune_batch::gremlin::{Bytecode, GValue, T};
use neptune_batch::sizing::SizingSample;
use neptune_batch::transport::{GremlinTransport, Serializer};
use neptune_batch::{
    Edge, ExistenceCheck, FollowsSchema, GremlinSink, GremlinSinkConfig, GremlinSinkConfigBuilder,
    Scheduling, Vertex, WriteMode,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use workload_gen::generator::GeneratorConfig;
use workload_gen::FollowsEdge;

/// What a writer of the headline table gets. The persons are loaded; it must write every edge
/// of `edges` (or the first `limit` of them, for the slow idioms).
#[derive(Clone)]
pub struct Job {
    /// The Gremlin endpoint.
    pub url: String,
    /// The edges, as the sink takes them (ids `<from>-<creationDate>-<to>`, both properties).
    pub edges: Arc<Vec<Edge>>,
    /// The same follows as records carry them (from, to, creationDate), for a writer that
    /// goes through a stream.
    pub follows: Arc<Vec<FollowsEdge>>,
    /// `edges` split over the shards by `from` id, in stream order.
    pub shards: Arc<Vec<Vec<Edge>>>,
    /// Records per `write_edges` call (the original's `BatchReadSize`).
    pub call: usize,
    /// Where a writer leaves the adaptive controller's decisions, for the chart.
    pub sizing: Arc<Mutex<Vec<SizingSample>>>,
}

type BoxDone = Pin<Box<dyn Future<Output = Done> + Send>>;

/// One writer of the table.
pub struct Writer {
    /// The row's label.
    pub name: String,
    /// Writes only the first this many edges (the slow idioms); `None`: all.
    pub limit: Option<usize>,
    /// A ceiling row (the best of them is the table's reference).
    pub ceiling: bool,
    /// Writes the job's edges.
    pub run: Box<dyn Fn(Job) -> BoxDone + Send + Sync>,
}

fn writer<F, Fut>(name: impl Into<String>, limit: Option<usize>, ceiling: bool, f: F) -> Writer
where
    F: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Done> + Send + 'static,
{
    Writer {
        name: name.into(),
        limit,
        ceiling,
        run: Box::new(move |job| Box::pin(f(job))),
    }
}

/// The name of the headline's first row, the sink with no setting changed: the ratios and the
/// controller's chart are about it.
const DEFAULTS: &str = "GremlinSink at its defaults";

/// The headline writers, in the order they run (interleaved over rounds).
pub fn writers(slow_edges: usize) -> Vec<Writer> {
    vec![
        writer(DEFAULTS, None, false, |job| sink_shards(job, |c| c)),
        writer(
            "the whole pipeline at its defaults: stream -> graph (records already on a 2-shard stream)",
            None,
            false,
            |job| pipeline(job, 1),
        ),
        writer(
            "ceiling: server-side script per 2000 edges, 2 writers",
            None,
            true,
            |job| ceiling(job, 2),
        ),
        writer(
            "ceiling: server-side script per 2000 edges, 4 writers",
            None,
            true,
            |job| ceiling(job, 4),
        ),
        writer(
            "ceiling: server-side script per 2000 edges, 1 writer",
            None,
            true,
            |job| ceiling(job, 1),
        ),
        writer(
            format!("the original's conditional idiom, batch 100, 1 writer per shard (first {} k edges)", slow_edges / 1000),
            Some(slow_edges),
            false,
            original_conditional,
        ),
        // Secondary rows: one setting changed.
        writer("GremlinSink defaults, GraphSON 3.0 instead of GraphBinary", None, false, |job| {
            sink_shards(job, |c| c.writer(|w| w.serializer(Serializer::GraphSonV3)))
        }),
        writer("GremlinSink, batch 1000 and 4 in flight pinned", None, false, |job| {
            sink_shards(job, |c| c.batch_size(1000).in_flight(4))
        }),
        writer("the whole pipeline, parallelization factor 2", None, false, |job| {
            pipeline(job, 2)
        }),
        writer("the whole pipeline, parallelization factor 4", None, false, |job| {
            pipeline(job, 4)
        }),
        writer("GremlinSink, batch 100 and 1 in flight pinned (the original's)", None, false, |job| {
            sink_shards(job, |c| c.batch_size(100).in_flight(1))
        }),
    ]
}

/// One shared sink, one task per shard, each writing its records `job.call` at a time.
pub async fn sink_shards(
    job: Job,
    tweak: impl FnOnce(GremlinSinkConfigBuilder) -> GremlinSinkConfigBuilder,
) -> Done {
    let config = tweak(GremlinSinkConfig::builder(job.url.as_str()))
        .build()
        .expect("a valid configuration");
    let sink = Arc::new(GremlinSink::connect(config).await.expect("connect"));
    let mut tasks = Vec::new();
    for s in 0..job.shards.len() {
        let (sink, shards, call) = (sink.clone(), job.shards.clone(), job.call);
        tasks.push(tokio::spawn(async move {
            common::write_in_calls(&sink, &shards[s], call).await
        }));
    }
    let mut total = Done::default();
    for t in tasks {
        total.add(t.await.expect("shard"));
    }
    *job.sizing.lock().unwrap() = sink.sizing_history();
    total
}

/// The whole consumer at its defaults (`stream-to-graph`'s: `KinesisSource` polling from the
/// trim horizon, `FollowsCsv`, `GremlinSink` with nothing set, dead letters in a file) on a
/// 2-shard stream of the embedded Kinesis API holding the job's records, put first and not
/// timed; timed from the consumer's start until every record is acknowledged. Everything at
/// its defaults but `parallelization_factor` (1 is the default).
pub async fn pipeline(job: Job, parallelization_factor: usize) -> Done {
    use kinesis_source::producer::{KinesisProducer, ProducerConfig, ProducerRecord};
    use kinesis_source::StreamRef;
    use stream2neptune_examples::consumer::{Consumer, ConsumerOptions};
    let kinesis = local_services::kinesis().url;
    let client = local_services::kinesis_client(kinesis.as_deref()).await;
    let stream = local_services::unique_name("bench-pipeline");
    local_services::create_stream_and_wait(
        &client,
        &stream,
        job.shards.len() as i32,
        std::time::Duration::from_secs(60),
    )
    .await
    .expect("a stream");
    let producer = KinesisProducer::from_client(
        client.clone(),
        ProducerConfig::builder(StreamRef::parse(&stream))
            .build()
            .expect("a producer configuration"),
    )
    .expect("a producer");
    for chunk in job.follows.chunks(5_000) {
        let records = chunk
            .iter()
            .map(|f| {
                ProducerRecord::new(f.from.clone(), f.encode(workload_gen::PayloadFormat::Csv))
            })
            .collect();
        for outcome in producer.put(records).await {
            outcome.expect("every record put");
        }
    }
    let dir = std::env::temp_dir().join(&stream);
    let mut options = ConsumerOptions::new(&stream, &job.url, &dir);
    options.kinesis_endpoint = kinesis;
    options.parallelization_factor = parallelization_factor;
    let started = std::time::Instant::now();
    let cpu_before = common::CpuSnapshot::now();
    let consumer = Consumer::start(&options, Arc::new(metrics_sink::DiscardMetrics))
        .await
        .expect("the consumer starts");
    let (stats, control, sink) = (
        consumer.pipeline.stats(),
        consumer.control(),
        consumer.sink.clone(),
    );
    let running = tokio::spawn(consumer.run());
    let total = job.follows.len() as u64;
    while stats.snapshot().acknowledged < total {
        assert!(!running.is_finished(), "the consumer stopped early");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let timed = started.elapsed().as_secs_f64();
    let timed_cpu = common::CpuSnapshot::now().since(cpu_before);
    control.stop();
    running
        .await
        .expect("the consumer task")
        .expect("the consumer");
    assert_eq!(stats.snapshot().dead_letters, 0, "no dead letter");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = client.delete_stream().stream_name(&stream).send().await;
    *job.sizing.lock().unwrap() = sink.sizing_history();
    let progress = sink.progress();
    Done {
        edges: stats.items_done() as usize,
        requests: progress.requests as u32,
        retries: progress.retries as u32,
        timed_secs: Some(timed),
        timed_cpu: Some(timed_cpu),
    }
}

/// The original's Lambda per shard: its conditional `fold().coalesce()` idiom, 100 edges per
/// request one after another, no existence reads, write conflicts between the shards retried
/// with back-off.
async fn original_conditional(job: Job) -> Done {
    let mut tasks = Vec::new();
    for s in 0..job.shards.len() {
        let job = job.clone();
        tasks.push(tokio::spawn(async move {
            let config = GremlinSinkConfig::builder(job.url.as_str())
                .mode(WriteMode::Conditional)
                .existence(ExistenceCheck::Unchecked)
                .scheduling(Scheduling::InOrder)
                .batch_size(100)
                .in_flight(1)
                .retry(GremlinSinkConfig::default().retry.with_max_retries(20))
                .build()
                .expect("a valid configuration");
            let sink = GremlinSink::connect(config).await.expect("connect");
            common::write_in_calls(&sink, &job.shards[s], job.call).await
        }));
    }
    let mut total = Done::default();
    for t in tasks {
        total.add(t.await.expect("shard"));
    }
    total
}

/// The ceiling: [`common::CEILING_SCRIPT`] per 2000 edges; `writers` scripts in flight (see
/// [`common::script_writers`]).
async fn ceiling(job: Job, writers: usize) -> Done {
    common::script_writers(&job, writers, common::CEILING_SCRIPT, Vec::new()).await
}

/// The generated data set, before it is given a variant's vertex ids.
pub struct Dataset {
    pub config: GeneratorConfig,
    pub follows: Vec<FollowsEdge>,
    pub persons: usize,
}

impl Dataset {
    pub fn generate(persons: usize, edges: usize) -> Self {
        let config = GeneratorConfig::builder()
            .persons(persons as u32)
            .edges(edges as u64)
            .build()
            .expect("a valid data set");
        let data = workload_gen::generator::generate(&config).expect("a valid data set");
        Self {
            config,
            follows: data.edges,
            persons: data.persons.len(),
        }
    }

    /// Top and median in-degree, to show the shape.
    pub fn in_degrees(&self) -> (usize, usize, Vec<usize>) {
        let mut degree = std::collections::HashMap::<&str, usize>::new();
        for f in &self.follows {
            *degree.entry(&f.to).or_default() += 1;
        }
        let mut d: Vec<usize> = degree.into_values().collect();
        d.sort_unstable_by(|a, b| b.cmp(a));
        let median = d.get(d.len() / 2).copied().unwrap_or(0);
        (d[0], median, d.iter().take(5).copied().collect())
    }

    /// The persons and a job for a variant whose vertex ids start with `prefix`.
    pub fn job(
        &self,
        url: &str,
        prefix: &str,
        limit: Option<usize>,
        call: usize,
    ) -> (Vec<Vertex>, Job) {
        let id = |p: &str| format!("{prefix}-{p}");
        let persons: Vec<Vertex> = (0..self.persons)
            .map(|n| Vertex::new(id(&format!("p{n}")), "person"))
            .collect();
        let schema = FollowsSchema::default();
        let n = limit.unwrap_or(self.follows.len()).min(self.follows.len());
        let follows: Vec<FollowsEdge> = self.follows[..n]
            .iter()
            .map(|f| FollowsEdge::new(id(&f.from), id(&f.to), f.creation_date.clone()))
            .collect();
        let edges: Vec<Edge> = follows
            .iter()
            .enumerate()
            .map(|(i, f)| {
                schema.edge(
                    &f.from,
                    &f.to,
                    &f.creation_date,
                    1_546_387_200_000 + i as i64,
                )
            })
            .collect();
        let mut shards = vec![Vec::new(), Vec::new()];
        for e in &edges {
            shards[common::shard_of(&e.from, 2)].push(e.clone());
        }
        let job = Job {
            url: url.to_owned(),
            edges: Arc::new(edges),
            follows: Arc::new(follows),
            shards: Arc::new(shards),
            call,
            sizing: Arc::default(),
        };
        (persons, job)
    }
}

/// Checks the graph holds exactly the job's edges: their number, and a sample read back by id
/// with endpoints and creation date.
async fn check_graph(admin: &GremlinTransport, name: &str, persons: &[Vertex], job: &Job) {
    assert_eq!(
        job.follows.len(),
        job.edges.len(),
        "{name}: one record per edge"
    );
    let (sample, ids) = common::count_and_sample(admin, name, persons, &job.edges).await;
    let rows = admin
        .submit(
            &Bytecode::new()
                .step("E", ids)
                .step("project", ["i", "o", "n", "d"])
                .step("by", [T::Id])
                .step("by", [Bytecode::new().then("outV").then("id")])
                .step("by", [Bytecode::new().then("inV").then("id")])
                .step("by", ["creationDate"]),
        )
        .await
        .expect("sample");
    assert_eq!(rows.len(), sample.len(), "{name}: every sampled edge found");
    for e in sample {
        let row = rows
            .iter()
            .find(|r| r.get("i").and_then(GValue::as_str) == Some(e.id.as_str()))
            .unwrap_or_else(|| panic!("{name}: edge {} missing", e.id));
        assert_eq!(row.get("o").and_then(GValue::as_str), Some(e.from.as_str()));
        assert_eq!(row.get("n").and_then(GValue::as_str), Some(e.to.as_str()));
        assert_eq!(row.get("d"), Some(&GValue::from(&e.properties[0].1)));
    }
}

/// Runs the headline section and prints its table, then the controller's choices.
pub async fn run(url: &str, admin: &GremlinTransport, rounds: usize) -> Vec<Row> {
    let persons = common::env("NB_PERSONS", 10_000);
    let n_edges = common::env("NB_REAL_EDGES", 200_000);
    let slow = common::env("NB_SLOW_EDGES", 50_000).min(n_edges);
    let call = common::env("NB_CALL", 1000);
    let data = Dataset::generate(persons, n_edges);
    let (top, median, first) = data.in_degrees();
    eprintln!(
        "headline data: {n_edges} follows among {persons} persons (workload-gen, seed {}, skew {}): in-degree top {top} (top five {first:?}), median {median}",
        data.config.seed, data.config.skew
    );
    let writers = writers(slow);
    let writers: Vec<Writer> = match std::env::var("NB_WRITERS") {
        Ok(only) => writers
            .into_iter()
            .filter(|w| only.split(',').any(|part| w.name.contains(part.trim())))
            .collect(),
        Err(_) => writers,
    };
    let prefix = local_services::unique_name("real");
    let mut runs: Vec<Vec<Row>> = writers.iter().map(|_| Vec::new()).collect();
    let mut charts: Vec<(f64, Vec<SizingSample>)> = Vec::new();
    for round in 0..rounds {
        eprintln!("headline round {} of {rounds}", round + 1);
        // No writer always runs at the same place or after the same other one.
        for n in common::round_order(writers.len(), round, rounds) {
            let w = &writers[n];
            let tag = format!("{prefix}-{round}-{n}");
            let (vertices, job) = data.job(url, &tag, w.limit, call);
            common::load(url, &vertices).await;
            let row = common::measure(w.name.clone(), (w.run)(job.clone())).await;
            check_graph(admin, &w.name, &vertices, &job).await;
            if w.name == DEFAULTS {
                charts.push((row.rate(), job.sizing.lock().unwrap().clone()));
            }
            runs[n].push(row);
            common::drop_vertices(admin, &vertices).await;
        }
    }
    let rows = common::medians(runs);
    let ceiling = rows
        .iter()
        .zip(&writers)
        .filter(|(_, w)| w.ceiling)
        .map(|(r, _)| r.rate())
        .fold(0.0, f64::max);
    // With `NB_WRITERS` naming no script row there is no ceiling to divide by.
    let of_ceiling = |rate: f64| {
        if ceiling > 0.0 {
            format!("{:.2}", rate / ceiling)
        } else {
            "n/a".to_owned()
        }
    };
    println!();
    println!(
        "## Headline: power-law follows at the original's shape ({n_edges} edges, {persons} persons, in-degree top {top} / median {median}; 2 shards by from id, calls of {call} records, one shared sink; medians of {rounds} rounds, each writer on a fresh copy of the graph)"
    );
    println!();
    println!("| writer | edges | requests | retries | edges/s | of the ceiling | server CPU s / 100k edges | client CPU s / 100k edges |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {:.0} | {} | {} | {} |",
            r.name,
            r.edges,
            r.requests,
            r.retries,
            r.rate(),
            of_ceiling(r.rate()),
            r.server_per100k(),
            r.client_per100k()
        );
    }
    println!();
    println!("ceiling (best of the script rows): {ceiling:.0} edges/s");
    // With `NB_WRITERS` leaving the defaults out there is nothing to compare with them.
    let Some(default) = rows.iter().find(|r| r.name == DEFAULTS) else {
        return rows;
    };
    print!(
        "GremlinSink at its defaults: {:.0} edges/s = {} of the ceiling",
        default.rate(),
        of_ceiling(default.rate())
    );
    if let Some(original) = rows
        .iter()
        .find(|r| r.name.starts_with("the original's conditional"))
    {
        print!(
            ", {:.1}x the original's conditional idiom",
            default.rate() / original.rate()
        );
    }
    println!();
    if let Some(pipeline) = rows
        .iter()
        .find(|r| r.name.starts_with("the whole pipeline"))
    {
        println!(
            "the whole pipeline at its defaults: {:.0} edges/s = {:.2} of the sink at its defaults (write-only), {} of the ceiling",
            pipeline.rate(),
            pipeline.rate() / default.rate(),
            of_ceiling(pipeline.rate())
        );
        println!(
            "the pipeline's client CPU per 100 k edges: {} s against the sink's {} s; the server, the consumer and the emulator share the machine's cores",
            pipeline.client_per100k(),
            default.client_per100k()
        );
    }
    // The chart of the median round of the default sink.
    charts.sort_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((_, history)) = charts.get(charts.len() / 2) {
        print_chart(history);
    }
    rows
}

/// The adaptive controller's choices over time, one line per slice of the run: the batch size
/// and limit of requests in flight at the end of the slice, the requests answered and edges
/// written in it, how many requests were in flight on average (the time they took, summed, over
/// the slice's length: below the limit when the scheduler had nothing to send), and a bar of
/// the batch size.
pub fn print_chart(history: &[SizingSample]) {
    let Some(last) = history.last() else {
        return;
    };
    let end = last.at.as_secs_f64();
    let slices = 24usize;
    let width = end / slices as f64;
    let max_batch = history.iter().map(|s| s.batch_size).max().unwrap_or(1);
    println!();
    println!(
        "GremlinSink at its defaults, the controller's choices over time (median round, {} requests, {:.1} s):",
        history.len(),
        end
    );
    println!();
    println!("```");
    println!("   t (s) | batch | in flight | requests | items/request | edges/s | mean in flight | batch size");
    let mut i = 0;
    for k in 0..slices {
        let until = width * (k + 1) as f64;
        let (mut requests, mut items, mut busy) = (0, 0, 0.0);
        let mut state = None;
        while i < history.len() && history[i].at.as_secs_f64() <= until + 1e-9 {
            requests += 1;
            items += history[i].items;
            busy += history[i].latency.as_secs_f64();
            state = Some(history[i]);
            i += 1;
        }
        let Some(s) = state else { continue };
        let bar = "#".repeat((s.batch_size * 40).div_ceil(max_batch));
        println!(
            "  {:>6.2} | {:>5} | {:>9} | {:>8} | {:>13.0} | {:>7.0} | {:>14.1} | {bar}",
            until,
            s.batch_size,
            s.in_flight,
            requests,
            items as f64 / requests as f64,
            items as f64 / width,
            busy / width
        );
    }
    println!("```");
    let busy: f64 = history.iter().map(|s| s.latency.as_secs_f64()).sum();
    let latency_ms = 1000.0 * busy / history.len() as f64;
    println!(
        "mean requests in flight over the run: {:.2}; mean request time {latency_ms:.1} ms",
        busy / end
    );
}

/// Brings the server to its steady state before anything is timed: the headline's own data
/// (`NB_WARMUP_EDGES` of it, default all 200 000 edges) through the sink at its defaults in the
/// headline's shape and through the ceiling script, and its first 5 000 edges through the
/// original's conditional idiom, each on fresh vertices, dropped after. The server's JIT keeps
/// compiling the sink's larger code path (bytecode translation, `mergeE`, strategies) for
/// longer than the script's: with a warm-up of 20 000 edges the sink ran 24 600, 29 300 and
/// 34 000 edges/s in three rounds of one run while the script stayed between 36 600 and
/// 43 800, so a short warm-up measured the server's compiler more than the writers. A
/// long-running server (the case of a live stream) has compiled both.
pub async fn warm_up(url: &str, admin: &GremlinTransport) {
    let n = common::env("NB_WARMUP_EDGES", 200_000);
    if n == 0 {
        return;
    }
    let data = Dataset::generate(
        common::env("NB_PERSONS", 10_000),
        common::env("NB_REAL_EDGES", 200_000),
    );
    let prefix = local_services::unique_name("warm");
    let started = std::time::Instant::now();
    let slow = n.min(5_000);
    eprintln!(
        "warm-up: {n} edges through the sink and the script, {slow} through the conditional idiom"
    );
    let (vertices, job) = data.job(url, &format!("{prefix}-sink"), Some(n), 1000);
    common::load(url, &vertices).await;
    sink_shards(job, |c| c).await;
    common::drop_vertices(admin, &vertices).await;
    let (vertices, job) = data.job(url, &format!("{prefix}-script"), Some(n), 1000);
    common::load(url, &vertices).await;
    ceiling(job, 1).await;
    common::drop_vertices(admin, &vertices).await;
    let (vertices, job) = data.job(url, &format!("{prefix}-cond"), Some(slow), 1000);
    common::load(url, &vertices).await;
    original_conditional(job).await;
    common::drop_vertices(admin, &vertices).await;
    eprintln!("warm-up done in {:.1} s", started.elapsed().as_secs_f64());
}
