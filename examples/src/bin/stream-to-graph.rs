//! The consumer: reads a Kinesis stream shard by shard and writes its `follows` edges (or, with
//! `--format changes`, its changes to vertices and edges) into Neptune or a Gremlin Server,
//! acknowledging each record once its writes are in the graph; records
//! that are bad in themselves go to a dead-letter file, and a graph that does not answer holds
//! the shards until it does. Checkpoints live in a file, so a restart (even after `kill -9`)
//! resumes where the acknowledged work ends.

use clap::{Parser, ValueEnum};
use kinesis_source::StartPosition;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use stream2neptune_examples::cli::{self, Failure, WriterArgs};
use stream2neptune_examples::connection::ConnectionArgs;
use stream2neptune_examples::consumer::{
    live_line_of, stop_when_idle, Consumer, ConsumerOptions, FormatArgs,
};
use stream2neptune_examples::metrics_setup::RunMetrics;
use stream2neptune_examples::pause::watch_pause_file;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Start {
    TrimHorizon,
    Latest,
}

/// Consume a Kinesis stream of follows edges (or of changes to the graph) into a Gremlin Server
/// or Amazon Neptune.
///
/// Record formats (--format): follows-csv (the default) is one follows edge per record, the
/// original's `from,to,creationDate` line; changes is one JSON change per record, an upsert or a
/// delete of a vertex or an edge with a version, where a change older than the graph's is
/// skipped and counted as stale.
///
/// Logging: RUST_LOG (default `info`), e.g. RUST_LOG=debug or RUST_LOG=warn,graph_ingest=info.
/// Exit status: 0 done, 1 failure, 2 usage, 65 records not accounted for, 69 a service did not
/// answer, 78 configuration (unwritable files, checkpoints of another stream, unknown stream).
#[derive(Debug, Parser)]
#[command(name = "stream-to-graph", version, about, long_about)]
struct Args {
    /// Stream name or ARN.
    #[arg(long, env = "STREAM_NAME")]
    stream: String,
    /// Kinesis endpoint URL; unset or `aws` = AWS itself.
    #[arg(long, env = "KINESIS_ENDPOINT_URL")]
    kinesis_endpoint: Option<String>,
    /// Gremlin endpoint of the writer (ws:// or wss://).
    #[arg(
        long,
        env = "GREMLIN_URL",
        default_value = "ws://127.0.0.1:8182/gremlin"
    )]
    gremlin_url: String,
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Records per GetRecords call (BatchReadSize).
    #[arg(long, env = "BATCH_READ_SIZE", default_value_t = 1000)]
    batch_read_size: usize,
    /// Read through enhanced fan-out (SubscribeToShard) as the consumer of this name,
    /// registered on the stream if needed, instead of polling GetRecords.
    #[arg(long, env = "FAN_OUT_CONSUMER")]
    fan_out: Option<String>,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    writer: WriterArgs,
    /// Batches of one shard processed at once, by partition key (ParallelizationFactor, 1-10).
    #[arg(long, env = "PARALLELIZATION_FACTOR", default_value_t = 1)]
    parallelization_factor: usize,
    /// Percentage of write calls failed on purpose (PercentError); they are written again.
    #[arg(long, env = "PERCENT_ERROR", default_value_t = 0)]
    percent_error: u8,
    /// Records older than this whose write keeps failing for a transient reason become dead
    /// letters (MaximumRecordAgeInSeconds); unset = held as long as it takes.
    #[arg(long, env = "MAX_RECORD_AGE_SECS")]
    max_record_age_secs: Option<u64>,
    /// Start paused (the original's `wait`): remove the pause file to go on.
    #[arg(long, env = "WAIT")]
    wait: bool,
    /// While this file exists, nothing is read.
    #[arg(long, env = "PAUSE_FILE", default_value = "stream-to-graph.pause")]
    pause_file: PathBuf,
    /// Where shards without a checkpoint start.
    #[arg(
        long,
        value_enum,
        env = "START_POSITION",
        default_value = "trim-horizon"
    )]
    start: Start,
    /// The checkpoint file (it records its stream: another stream's file is refused).
    #[arg(long, env = "CHECKPOINT_FILE", default_value = "checkpoints.json")]
    checkpoint_file: PathBuf,
    /// The dead-letter file (JSON lines).
    #[arg(long, env = "DEAD_LETTER_FILE", default_value = "dead-letters.jsonl")]
    dead_letter_file: PathBuf,
    /// Put dead letters on this Kinesis stream (name or ARN) instead of the file, like an
    /// event source mapping's on-failure destination, with the records inside.
    #[arg(long, env = "DEAD_LETTER_STREAM")]
    dead_letter_stream: Option<String>,
    /// The clusterId metric dimension.
    #[arg(long, env = "CLUSTER_ID", default_value = "local")]
    cluster_id: String,
    /// Publish metrics to CloudWatch at this endpoint (`aws` for AWS itself).
    #[arg(long, env = "CLOUDWATCH_ENDPOINT_URL")]
    cloudwatch_endpoint: Option<String>,
    /// Exit once no record arrived for this many seconds, everything read is acknowledged and
    /// no shard is held.
    #[arg(long, env = "EXIT_WHEN_IDLE_SECS")]
    exit_when_idle_secs: Option<u64>,
    /// No progress line every second (none is drawn anyway when standard error is not a
    /// terminal).
    #[arg(long, env = "NO_PROGRESS")]
    no_progress: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_logging("info");
    cli::exit("stream-to-graph", run(args).await)
}

async fn run(args: Args) -> Result<(), Failure> {
    let format = args.format.format()?;
    let options = ConsumerOptions {
        stream: args.stream.clone(),
        kinesis_endpoint: args.kinesis_endpoint.clone(),
        gremlin_url: args.gremlin_url.clone(),
        connection: args.connection.resolve().await?,
        format: format.clone(),
        write_mode: args.writer.mode(),
        batch_read_size: args.batch_read_size,
        fan_out: args.fan_out.clone(),
        batch_write_size: args.writer.batch_write_size,
        write_concurrency: args.writer.write_concurrency,
        parallelization_factor: args.parallelization_factor,
        percent_error: args.percent_error,
        max_record_age: args.max_record_age_secs.map(Duration::from_secs),
        start_position: match args.start {
            Start::TrimHorizon => StartPosition::TrimHorizon,
            Start::Latest => StartPosition::Latest,
        },
        checkpoint_file: args.checkpoint_file.clone(),
        dead_letter_file: args.dead_letter_file.clone(),
        dead_letter_stream: args.dead_letter_stream.clone(),
        cluster_id: args.cluster_id.clone(),
        put_times: None,
    };
    let cloudwatch = args
        .cloudwatch_endpoint
        .clone()
        .map(|u| if u == "aws" { None } else { Some(u) });
    let run_metrics = RunMetrics::new(&args.cluster_id, cloudwatch).await?;
    let consumer = Consumer::start(&options, run_metrics.sink.clone()).await?;
    let stats = consumer.pipeline.stats();
    let control = consumer.control();
    control.stop_on_signals();
    watch_pause_file(
        args.pause_file.clone(),
        args.wait,
        Duration::from_millis(500),
        control.clone(),
    );
    if let Some(secs) = args.exit_when_idle_secs {
        stop_when_idle(
            stats.clone(),
            consumer.source.stats_reader(),
            Duration::from_secs(secs),
            control.clone(),
        );
    }
    let ticker = {
        let stats = stats.clone();
        let format = format.clone();
        let progress = cli::progress_wanted(args.no_progress);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let sample = stats.sample();
                if progress {
                    eprintln!("{}", live_line_of(&format, &stats, &sample));
                }
            }
        })
    };
    let result = consumer.run().await;
    ticker.abort();
    if let Some(published) = run_metrics.close().await {
        tracing::info!("CloudWatch: {published}");
    }
    let sample = stats.sample();
    println!("{}", live_line_of(&format, &stats, &sample));
    let w = stats.write_latency();
    let e = stats.end_to_end_latency();
    println!(
        "write latency p50 {:.1} ms p99 {:.1} ms; put-to-graph p50 {:.0} ms p99 {:.0} ms; iterator age max {} ms",
        w.p50,
        w.p99,
        e.p50,
        e.p99,
        stats.snapshot().max_iterator_age_ms
    );
    let read = stats.snapshot().records_read;
    let acked = stats.snapshot().acknowledged;
    if acked < read {
        eprintln!(
            "stream-to-graph: {} records were still in flight at exit; they are not checkpointed and will be read again by the next run",
            read - acked
        );
    }
    result?;
    if stats.snapshot().records_read == 0 && args.exit_when_idle_secs.is_some() {
        tracing::info!("nothing was read: the stream held no record after the checkpoints");
    }
    Ok(())
}
