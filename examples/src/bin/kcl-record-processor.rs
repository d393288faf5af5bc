//! The consumer as a KCL MultiLang record processor: the Kinesis Client Library's
//! MultiLangDaemon (see `scripts/kcl-fleet.sh`) holds the shard leases in DynamoDB and starts one
//! of these processes per shard it holds; each writes its shard's `follows` edges (or, with
//! `--format changes`, its changes to vertices and edges) through the same pipeline as
//! `stream-to-graph` (decode, `GraphSink`, dead letters, metrics) and checkpoints
//! through the daemon only over the acknowledged prefix.
//!
//! The processor is `graph_ingest::kcl::KclProcessor` (the protocol is `kcl-multilang`); this
//! is wiring: the sink, one dead-letter file per shard, metrics, and the lifecycle log. A
//! pipeline error that no waiting mends ends the process without an answer, so the daemon stops
//! and the shard is taken over from its last checkpoint.
//!
//! Standard output is the protocol's; logs go to standard error, which the daemon copies into its
//! log. With `--events-dir`, each process also appends its lifecycle (one JSON object a line) to
//! a file of its own there, for operators and tests.

use clap::Parser;
use graph_ingest::dead_letter::JsonLinesDeadLetters;
use graph_ingest::kcl::KclProcessor;
use graph_ingest::{Pipeline, PipelineConfig};
use neptune_batch::GremlinSink;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use stream2neptune_examples::cli::{self, Failure, WriterArgs};
use stream2neptune_examples::connection::ConnectionArgs;
use stream2neptune_examples::consumer::FormatArgs;
use stream2neptune_examples::metrics_setup::RunMetrics;

/// A KCL MultiLangDaemon record processor writing follows edges (or changes to the graph) into a
/// Gremlin Server or Neptune. The daemon starts one per shard lease and speaks to it on standard input and output;
/// every setting can come from the environment variable shown, which the daemon passes on.
///
/// Record formats (--format): follows-csv (the default) is one follows edge per record, the
/// original's `from,to,creationDate` line; changes is one JSON change per record, an upsert or a
/// delete of a vertex or an edge with a version, where a change older than the graph's is
/// skipped and counted as stale.
///
/// Logging: RUST_LOG (default `info`), e.g. RUST_LOG=debug or RUST_LOG=warn,graph_ingest=info,
/// on standard error (the daemon copies it into its log). Exit status: 0 the shard ended or was
/// handed over, 1 failure, 2 usage, 69 a service did not answer, 78 configuration.
#[derive(Debug, Parser)]
#[command(name = "kcl-record-processor", version, about, long_about)]
struct Args {
    /// Gremlin endpoint of the writer.
    #[arg(
        long,
        env = "GREMLIN_URL",
        default_value = "ws://127.0.0.1:8182/gremlin"
    )]
    gremlin_url: String,
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    writer: WriterArgs,
    /// Records handed to the pipeline at a time: a lost lease stops the writes at the next
    /// chunk boundary.
    #[arg(long, env = "KCL_PROCESSOR_CHUNK_RECORDS", default_value_t = 500)]
    chunk_records: usize,
    /// Least time between two checkpoints inside one `processRecords` (one is always sent at
    /// its end when the prefix moved).
    #[arg(long, env = "KCL_PROCESSOR_CHECKPOINT_MS", default_value_t = 1000)]
    checkpoint_interval_ms: u64,
    /// Directory of the dead-letter files (JSON lines, one file per shard).
    #[arg(
        long,
        env = "KCL_PROCESSOR_DEAD_LETTER_DIR",
        default_value = "dead-letters"
    )]
    dead_letter_dir: PathBuf,
    /// Directory where each process appends its lifecycle events (JSON lines); none if unset.
    #[arg(long, env = "KCL_PROCESSOR_EVENTS_DIR")]
    events_dir: Option<PathBuf>,
    /// The worker this process belongs to (set by `scripts/kcl-fleet.sh` on the daemon).
    #[arg(long, env = "KCL_WORKER_ID", default_value = "worker")]
    worker_id: String,
    /// The clusterId metric dimension.
    #[arg(long, env = "CLUSTER_ID", default_value = "local")]
    cluster_id: String,
    /// Publish the pipeline's metrics to CloudWatch at this endpoint (`aws` for AWS itself).
    #[arg(long, env = "CLOUDWATCH_ENDPOINT_URL")]
    cloudwatch_endpoint: Option<String>,
}

/// The lifecycle log: one JSON object a line, appended to a file of this process's own (one
/// write per line on a file opened for appending, so lines stay whole).
fn event_log(
    mut file: std::fs::File,
    worker: String,
) -> impl FnMut(&str, &str, serde_json::Value) + Send + 'static {
    move |shard, event, fields| {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut line = json!({"at_ms": at, "worker": worker, "pid": std::process::id(),
            "shard": shard, "event": event});
        if let (Some(line), serde_json::Value::Object(extra)) = (line.as_object_mut(), fields) {
            line.extend(extra);
        }
        if let Err(e) = file.write_all(format!("{line}\n").as_bytes()) {
            tracing::warn!(error = %e, "could not append to the events file");
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    cli::init_logging("info");
    cli::exit("kcl-record-processor", run(args).await)
}

async fn run(args: Args) -> Result<(), Failure> {
    let format = args.format.format()?;
    let sink_config = args
        .writer
        .apply(args.connection.resolve().await?.sink(&args.gremlin_url))
        .build()?;
    let sink = Arc::new(GremlinSink::connect(sink_config).await?);
    let metrics = RunMetrics::new(
        &args.cluster_id,
        args.cloudwatch_endpoint
            .as_ref()
            .map(|u| (u != "aws").then(|| u.clone())),
    )
    .await?;
    std::fs::create_dir_all(&args.dead_letter_dir)?;
    let mut config = PipelineConfig::default();
    config.cluster_id = args.cluster_id.clone();
    config.validate()?;
    let (dir, metrics_sink) = (args.dead_letter_dir.clone(), metrics.sink.clone());
    let mut processor = KclProcessor::new(move |shard| {
        let dead_letters = JsonLinesDeadLetters::open(dir.join(format!("{shard}.jsonl")))?;
        Ok(Pipeline::builder()
            .mapper(format.clone())
            .sink(sink.clone())
            .dead_letters(Arc::new(dead_letters))
            .metrics(metrics_sink.clone())
            .config(config.clone())
            .build()?)
    })
    .chunk_records(args.chunk_records)
    .checkpoint_interval(Duration::from_millis(args.checkpoint_interval_ms));
    if let Some(dir) = &args.events_dir {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}-{}.jsonl", args.worker_id, std::process::id()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        processor = processor.on_event(event_log(file, args.worker_id.clone()));
    }
    let summary = kcl_multilang::run_stdio(&mut processor).await;
    let _ = metrics.sink.flush().await;
    metrics.close().await;
    let summary = summary?;
    let shard = processor.shard().unwrap_or("?").to_owned();
    tracing::info!(shard, ending = ?summary.ending, batches = summary.batches, records = summary.records, "done");
    Ok(())
}
