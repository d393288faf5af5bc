//! The main job: the whole stream-to-graph system on one machine, end to end.
//!
//! 1. Starts or reuses the services: the Gremlin Server (`scripts/gremlin-server.sh`, unless
//!    `GREMLIN_URL` names one) and a Kinesis API (embedded, unless `KINESIS_ENDPOINT_URL` names one).
//! 2. Generates the seeded super-connector data set (vertex CSV and `follows.csv.gz`).
//! 3. Loads the vertices.
//! 4. Creates a stream of `ShardCount` shards and starts the consumer on it.
//! 5. Drives the workload onto the stream at `DriverBatchSize` edges every `DriverPeriod` while the
//!    consumer writes them into the graph, with live progress.
//! 6. Runs the three social-network queries, prints a summary and writes an HTML report.
//!
//! Small defaults finish in about a minute; `--full` uses the original's size (about 2 million
//! edges among 100 000 persons).

use clap::Parser;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use kinesis_source::{KinesisProducer, ProducerConfig, StartPosition, StreamRef};
use neptune_batch::load::{load_vertices, VertexLoadOptions};
use neptune_batch::{
    queries, FollowsSchema, GremlinSink, GremlinSinkConfig, GremlinTransport, TransportConfig,
    Vertex,
};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stream2neptune_examples::cli::{value_text, WriteModeArg};
use stream2neptune_examples::consumer::{live_line, Consumer, ConsumerOptions};
use stream2neptune_examples::producer::KinesisRecordSink;
use stream2neptune_examples::report::write_report;
use workload_gen::{
    run_driver, DriverConfig, DriverObserver, DriverProgress, EdgeFileConfig, EdgeReader,
    GeneratorConfig, PayloadFormat, WriteOptions,
};

/// Command-line options, named after the original's parameters; each can also come from the
/// environment variable named.
#[derive(Debug, Parser)]
#[command(
    about = "Run the whole follows-edges pipeline locally: generate, load, stream, write, query, report"
)]
struct Args {
    /// Persons (vertices) in the generated data set.
    #[arg(long, env = "PERSONS", default_value_t = 5_000)]
    persons: u32,
    /// Follows edges in the generated data set.
    #[arg(long, env = "EDGES", default_value_t = 40_000)]
    edges: u64,
    /// The original's size: 100 000 persons and 2 000 000 edges.
    #[arg(long)]
    full: bool,
    /// Seed of the data set.
    #[arg(long, env = "SEED", default_value_t = 1)]
    seed: u64,
    /// Shards of the stream (ShardCount).
    #[arg(long = "shard-count", env = "SHARD_COUNT", default_value_t = 2)]
    shard_count: i32,
    /// Records per GetRecords call (BatchReadSize).
    #[arg(
        long = "batch-read-size",
        env = "BATCH_READ_SIZE",
        default_value_t = 1000
    )]
    batch_read_size: usize,
    /// Read through enhanced fan-out (SubscribeToShard) as the consumer of this name,
    /// registered on the stream if needed, instead of polling GetRecords.
    #[arg(long, env = "FAN_OUT_CONSUMER")]
    fan_out: Option<String>,
    /// Edges per write request (BatchWriteSize).
    #[arg(
        long = "batch-write-size",
        env = "BATCH_WRITE_SIZE",
        default_value_t = 100
    )]
    batch_write_size: usize,
    /// Write requests in flight per record batch (1: one after another, as the original).
    /// Writes that share a vertex still never run at once.
    #[arg(long, env = "WRITE_CONCURRENCY", default_value_t = 1)]
    write_concurrency: usize,
    /// Use the original's conditional (coalesce) idiom; same as --write-mode conditional.
    #[arg(long = "conditional-create", env = "CONDITIONAL_CREATE")]
    conditional_create: bool,
    /// How edges are written.
    #[arg(
        long = "write-mode",
        value_enum,
        env = "WRITE_MODE",
        default_value = "merge"
    )]
    write_mode: WriteModeArg,
    /// Milliseconds between driver batches (DriverPeriod).
    #[arg(long = "driver-period", env = "DRIVER_PERIOD", default_value_t = 100)]
    driver_period_ms: u64,
    /// Edges per driver batch (DriverBatchSize).
    #[arg(
        long = "driver-batch-size",
        env = "DRIVER_BATCH_SIZE",
        default_value_t = 100
    )]
    driver_batch_size: usize,
    /// Percentage of write sub-batches failed on purpose (PercentError); they are written again.
    #[arg(long = "percent-error", env = "PERCENT_ERROR", default_value_t = 0)]
    percent_error: u8,
    /// The clusterId metric dimension.
    #[arg(long = "cluster-id", env = "CLUSTER_ID", default_value = "local")]
    cluster_id: String,
    /// Where the data set, checkpoints, dead letters and the report go.
    #[arg(long = "out-dir", env = "OUT_DIR", default_value = "out")]
    out_dir: PathBuf,
    /// Also publish metrics to CloudWatch (CLOUDWATCH_ENDPOINT_URL, else the local API on
    /// 127.0.0.1:4566 started by `scripts/cloudwatch-local.sh start`).
    #[arg(long)]
    cloudwatch: bool,
    /// After the run, write the same edges straight through the sink (same mode, batch size and
    /// one request in flight per shard) between copies of the vertices, to compare the
    /// pipeline's rate with the write-only rate of the graph writer in the same run, on the
    /// same starting graph. Adds the copies and their edges to the graph.
    #[arg(long = "compare-write-only")]
    compare_write_only: bool,
    /// Port of the local Gremlin Server to use or start.
    #[arg(long = "gremlin-port", env = "GREMLIN_PORT", default_value_t = 8182)]
    gremlin_port: u16,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Appended to vertex ids for the write-only comparison's copy of the graph.
const WRITE_ONLY_SUFFIX: &str = "~write-only";

struct DriverBar(ProgressBar);

impl DriverObserver for DriverBar {
    fn on_progress(&self, p: &DriverProgress) {
        self.0.set_position(p.accepted);
        self.0.set_message(format!(
            "{:.0}/s of {:.0}/s requested, {} failed, {} retried",
            p.achieved_rate, p.target_rate, p.failed, p.retried
        ));
    }
}

fn bar(multi: &MultiProgress, len: u64, prefix: &str) -> ProgressBar {
    let pb = multi.add(ProgressBar::new(len));
    pb.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos:>8}/{len:8} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(prefix.to_owned());
    pb
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = Args::parse();
    if args.full {
        args.persons = 100_000;
        args.edges = 2_000_000;
    }
    let started = Instant::now();
    let run_id = format!(
        "run-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
    );
    let out = args.out_dir.join(&run_id);
    std::fs::create_dir_all(&out)?;
    let multi = MultiProgress::new();
    // `suspend` prints whether or not the bars are drawn (they are hidden when not on a terminal).
    let say = |m: String| multi.suspend(|| println!("{m}"));

    // 1. Services.
    let gremlin = match std::env::var("GREMLIN_URL") {
        Ok(_) => local_services::gremlin().await?,
        Err(_) => local_services::ensure_local_gremlin(args.gremlin_port).await?,
    };
    let kinesis = local_services::kinesis();
    say(format!(
        "[1/6] gremlin server {} | kinesis api {}",
        gremlin.url,
        kinesis.url.as_deref().unwrap_or("AWS")
    ));

    // 2. Data set.
    let gen_bar = bar(&multi, args.edges, "generate");
    let generator = GeneratorConfig {
        persons: args.persons,
        edges: args.edges,
        seed: args.seed,
        ..GeneratorConfig::default()
    };
    let data_dir = out.join("data");
    let dataset = {
        let gen_bar = gen_bar.clone();
        let dir = data_dir.clone();
        tokio::task::spawn_blocking(move || {
            workload_gen::write_dataset(&generator, &dir, &WriteOptions::default(), |p| {
                gen_bar.set_position(p.edges_written)
            })
        })
        .await??
    };
    gen_bar.finish_and_clear();
    say(format!(
        "[2/6] data set: {} persons, {} edges in {:.1?} ({}); top in-degrees {:?}",
        dataset.persons,
        dataset.edges,
        dataset.elapsed,
        dataset.edge_path.display(),
        dataset.top_in_degrees.iter().take(3).collect::<Vec<_>>()
    ));

    // 3. Vertices.
    let mode = args.write_mode.resolve(args.conditional_create);
    let mut vertex_sink_config = GremlinSinkConfig::new(gremlin.url.clone());
    vertex_sink_config.batch_size = Some(200);
    vertex_sink_config.in_flight = Some(2);
    let vertex_sink = GremlinSink::connect(vertex_sink_config).await?;
    let load_bar = bar(&multi, u64::from(args.persons), "vertices");
    let loaded = load_vertices(
        &dataset.vertex_path,
        &vertex_sink,
        &VertexLoadOptions::default(),
        |p| load_bar.set_position(p.written + p.already_present + p.failed),
    )
    .await?;
    load_bar.finish_and_clear();
    say(format!(
        "[3/6] vertices: {} written, {} already present, {} failed, {} bad lines",
        loaded.written,
        loaded.already_present,
        loaded.failed.len(),
        loaded.bad_lines.len()
    ));

    // 4. Stream and consumer.
    let kinesis_client = local_services::kinesis_client(kinesis.url.as_deref()).await;
    let stream = format!("follows-{run_id}");
    local_services::create_stream_and_wait(
        &kinesis_client,
        &stream,
        args.shard_count,
        Duration::from_secs(60),
    )
    .await?;
    let dead_letter_file = out.join("dead-letters.jsonl");
    let cloudwatch = if args.cloudwatch {
        Some(local_services::cloudwatch().await?.url)
    } else {
        None
    };
    let run_metrics =
        stream2neptune_examples::metrics_setup::RunMetrics::new(&args.cluster_id, cloudwatch)
            .await?;
    let dashboard = metrics_sink::DashboardConfig::new(
        args.cluster_id.clone(),
        std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
    );
    std::fs::write(out.join("dashboard.json"), dashboard.body_json())?;
    let consumer = Consumer::start(
        &ConsumerOptions {
            stream: stream.clone(),
            kinesis_endpoint: kinesis.url.clone(),
            gremlin_url: gremlin.url.clone(),
            write_mode: mode,
            batch_read_size: args.batch_read_size,
            fan_out: args.fan_out.clone(),
            batch_write_size: args.batch_write_size,
            write_concurrency: args.write_concurrency,
            percent_error: args.percent_error,
            start_position: StartPosition::TrimHorizon,
            checkpoint_file: out.join("checkpoints.json"),
            dead_letter_file: dead_letter_file.clone(),
            cluster_id: args.cluster_id.clone(),
        },
        run_metrics.sink.clone(),
    )
    .await?;
    let stats = consumer.pipeline.stats();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (_pause_tx, pause_rx) = tokio::sync::watch::channel(false);
    let consumer_task = tokio::spawn(consumer.run(stop_rx, pause_rx));
    say(format!(
        "[4/6] stream {stream}: {} shards, read by {}; consumer writing in {} mode, {} edges per request",
        args.shard_count,
        match &args.fan_out {
            Some(name) => format!("enhanced fan-out as consumer {name}"),
            None => "polling GetRecords".to_owned(),
        },
        mode.as_str(),
        args.batch_write_size
    ));

    // 5. Drive the workload while the consumer writes.
    let drive_bar = bar(&multi, args.edges, "put");
    let graph_bar = bar(&multi, args.edges, "in graph");
    let ticker = {
        let stats = stats.clone();
        let graph_bar = graph_bar.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let sample = stats.sample();
                graph_bar.set_position(stats.acknowledged.load(Ordering::Relaxed));
                graph_bar.set_message(format!(
                    "{:.0} edges/s, write p99 {:.1} ms, lag {} ms",
                    sample.edges_per_s, sample.write_p99_ms, sample.lag_ms as u64
                ));
            }
        })
    };
    let producer = KinesisProducer::from_client(
        kinesis_client.clone(),
        ProducerConfig::new(StreamRef::parse(&stream)),
    )?;
    let driver_config = DriverConfig {
        period: Duration::from_millis(args.driver_period_ms),
        batch_size: args.driver_batch_size,
        payload: PayloadFormat::Csv,
        ..DriverConfig::default()
    };
    let edges = EdgeReader::open(&dataset.edge_path, &EdgeFileConfig::default())?;
    let driven = run_driver(
        &driver_config,
        Arc::new(KinesisRecordSink::new(producer)),
        edges,
        Arc::new(DriverBar(drive_bar.clone())),
    )
    .await?;
    drive_bar.finish_and_clear();
    say(format!(
        "[5/6] driver: {} put ({} failed, {} retried) at {:.0} records/s ({:.0} requested), {} bad input lines",
        driven.accepted, driven.failed, driven.retried, driven.achieved_rate, driven.target_rate, driven.bad_input
    ));
    // Let the consumer catch up with everything the stream accepted, then stop it.
    let catch_up = Instant::now();
    while stats.acknowledged.load(Ordering::Relaxed) < driven.accepted {
        if catch_up.elapsed() > Duration::from_secs(600) {
            say("the consumer did not catch up within 10 minutes; stopping it".into());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_tx.send(true);
    consumer_task.await??;
    ticker.abort();
    graph_bar.finish_and_clear();
    let last = stats.sample();
    say(format!("      consumer: {}", live_line(&stats, &last)));

    // 6. Queries, on the reader endpoint (here the same server).
    // Whole-graph queries, as in the notebook: on a graph far larger than this run's they can
    // take longer than the request timeout, which is reported without losing the summary.
    let schema = FollowsSchema::default();
    let queries_run = async {
        let reader = GremlinTransport::connect(TransportConfig::new(gremlin.url.clone())).await?;
        let followed = queries::most_followed(&reader, &schema, None, 10).await?;
        let following = queries::most_following(&reader, &schema, None, 10).await?;
        let recommended = match following.first() {
            Some(top) => queries::recommendations(&reader, &schema, &top.id, 10).await?,
            None => Vec::new(),
        };
        Ok::<_, neptune_batch::GremlinError>((followed, following, recommended))
    };
    say("[6/6] queries (reader endpoint):".into());
    match queries_run.await {
        Ok((followed, following, recommended)) => {
            let top = |degrees: &[queries::Degree]| {
                degrees
                    .iter()
                    .take(5)
                    .map(|d| format!("{} ({})", d.id, d.degree))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            say(format!("      most followed : {}", top(&followed)));
            say(format!("      most following: {}", top(&following)));
            let text = value_text;
            say(format!(
                "      recommended for {}: {}",
                following.first().map(|d| d.id.as_str()).unwrap_or("-"),
                recommended
                    .iter()
                    .take(5)
                    .map(|r| format!(
                        "{} {} #{} ({} paths)",
                        text(&r.first_name),
                        text(&r.last_name),
                        text(&r.id),
                        r.count
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Err(e) => say(format!("      the queries failed: {e}")),
    }

    // The write-only comparison.
    let write_only = if args.compare_write_only {
        let mut config = GremlinSinkConfig::new(gremlin.url.clone());
        config.batch_size = Some(args.batch_write_size);
        config.in_flight = Some(args.shard_count.max(1) as usize);
        config.mode = mode;
        let sink = GremlinSink::connect(config).await?;
        // Onto copies of the vertices (loaded first, not timed): the writes then meet the
        // same graph the pipeline met, not vertices that already hold its edges.
        let copy = |id: &str| format!("{id}{WRITE_ONLY_SUFFIX}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as i64;
        let edges: Vec<_> = EdgeReader::open(&dataset.edge_path, &EdgeFileConfig::default())?
            .filter_map(Result::ok)
            .map(|e| schema.edge(&copy(&e.from), &copy(&e.to), &e.creation_date, now))
            .collect();
        let endpoints: std::collections::BTreeSet<&str> = edges
            .iter()
            .flat_map(|e| [e.from.as_str(), e.to.as_str()])
            .collect();
        let copies: Vec<Vertex> = endpoints
            .into_iter()
            .map(|id| Vertex::new(id, "person"))
            .collect();
        let loaded = neptune_batch::GraphSink::write_vertices(&vertex_sink, &copies).await?;
        if loaded.failed() > 0 {
            return Err(format!("write-only: {} vertex copies failed", loaded.failed()).into());
        }
        let t = Instant::now();
        let report = neptune_batch::GraphSink::write_edges(&sink, &edges).await?;
        let secs = t.elapsed().as_secs_f64();
        say(format!(
            "      write-only: {} edges ({} failed) in {secs:.1} s = {:.0} edges/s",
            edges.len(),
            report.failed(),
            edges.len() as f64 / secs
        ));
        Some((edges.len() as f64 / secs, report.failed()))
    } else {
        None
    };

    // Summary and report.
    let write = stats.write_latency();
    let e2e = stats.end_to_end_latency();
    let timeline = stats.timeline();
    let consumed_secs = timeline.last().map_or(0.0, |s| s.t).max(1e-3);
    let max_lag = timeline.iter().map(|s| s.lag_ms).fold(0.0, f64::max);
    let summary: Vec<(String, String)> = vec![
        ("edges generated".into(), dataset.edges.to_string()),
        (
            "edges put on the stream".into(),
            driven.accepted.to_string(),
        ),
        (
            "edges written".into(),
            stats.edges_written.load(Ordering::Relaxed).to_string(),
        ),
        (
            "edges already present".into(),
            stats
                .edges_already_present
                .load(Ordering::Relaxed)
                .to_string(),
        ),
        (
            "dead letters".into(),
            format!(
                "{} ({})",
                stats.dead_letters.load(Ordering::Relaxed),
                dead_letter_file.display()
            ),
        ),
        (
            "driver rate".into(),
            format!(
                "{:.0} records/s ({:.0} requested)",
                driven.achieved_rate, driven.target_rate
            ),
        ),
        (
            "graph throughput".into(),
            format!(
                "{:.0} edges/s over {consumed_secs:.1} s",
                stats.edges_done() as f64 / consumed_secs
            ),
        ),
        (
            "write latency".into(),
            format!(
                "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} requests)",
                write.p50, write.p90, write.p99, write.max, write.count
            ),
        ),
        (
            "put-to-graph latency".into(),
            format!(
                "p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
                e2e.p50, e2e.p90, e2e.p99, e2e.max
            ),
        ),
        (
            "max lag (MillisBehindLatest)".into(),
            format!("{max_lag:.0} ms"),
        ),
        (
            "retries".into(),
            format!(
                "{} by the sink, {} by the pipeline, {} faults injected",
                stats.sink_retries.load(Ordering::Relaxed),
                stats.pipeline_retries.load(Ordering::Relaxed),
                stats.injected_faults.load(Ordering::Relaxed)
            ),
        ),
        ("write mode".into(), mode.as_str().into()),
        (
            "write-only rate, same run".into(),
            match write_only {
                Some((rate, failed)) => format!("{rate:.0} edges/s ({failed} failed)"),
                None => "not measured (--compare-write-only)".into(),
            },
        ),
        ("shards".into(), args.shard_count.to_string()),
        ("total time".into(), format!("{:.1?}", started.elapsed())),
    ];
    let published = run_metrics.close().await;
    let mut summary = summary;
    summary.push((
        "metrics".into(),
        format!(
            "{} EdgesSubmitted over {} WriteDuration data points; CloudWatch: {}; dashboard body {}",
            run_metrics.memory.sum(metrics_sink::names::EDGES_SUBMITTED),
            run_metrics.memory.values(metrics_sink::names::WRITE_DURATION).len(),
            published.unwrap_or_else(|| "not requested (--cloudwatch)".into()),
            out.join("dashboard.json").display()
        ),
    ));
    let report = out.join("report.html");
    write_report(
        &report,
        &format!("stream-2-neptune {run_id}"),
        &summary,
        &timeline,
    )?;
    println!("\nSummary");
    for (k, v) in &summary {
        println!("  {k:<30} {v}");
    }
    println!("  {:<30} {}", "report", report.display());
    let _ = kinesis_client
        .delete_stream()
        .stream_name(&stream)
        .send()
        .await;
    if stats.edges_done() + stats.dead_letters.load(Ordering::Relaxed) < driven.accepted {
        return Err(
            "not every record put on the stream reached the graph or the dead-letter file".into(),
        );
    }
    Ok(())
}
