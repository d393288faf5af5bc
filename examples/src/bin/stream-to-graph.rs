//! The consumer: reads a Kinesis stream shard by shard and writes its `follows` edges into
//! Neptune or a Gremlin Server, acknowledging each record after its write; records that cannot be
//! decoded or written go to a dead-letter file. Checkpoints live in a file, so a restart (even
//! after `kill -9`) resumes where the acknowledged work ends.

use clap::{Parser, ValueEnum};
use kinesis_source::StartPosition;
use std::path::PathBuf;
use std::time::Duration;
use stream2neptune_examples::cli::WriteModeArg;
use stream2neptune_examples::consumer::{live_line, stop_when_idle, Consumer, ConsumerOptions};
use stream2neptune_examples::pause::watch_pause_file;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Start {
    TrimHorizon,
    Latest,
}

/// Command-line options; each can also be set through the environment variable named.
#[derive(Debug, Parser)]
#[command(about = "Consume a Kinesis stream of follows edges into a Gremlin Server / Neptune")]
struct Args {
    /// Stream name or ARN.
    #[arg(long, env = "STREAM_NAME")]
    stream: String,
    /// Kinesis endpoint URL; unset = AWS itself.
    #[arg(long, env = "KINESIS_ENDPOINT_URL")]
    kinesis_endpoint: Option<String>,
    /// Gremlin endpoint of the writer.
    #[arg(
        long,
        env = "GREMLIN_URL",
        default_value = "ws://127.0.0.1:8182/gremlin"
    )]
    gremlin_url: String,
    /// Records per GetRecords call (BatchReadSize).
    #[arg(long, env = "BATCH_READ_SIZE", default_value_t = 1000)]
    batch_read_size: usize,
    /// Read through enhanced fan-out (SubscribeToShard) as the consumer of this name,
    /// registered on the stream if needed, instead of polling GetRecords.
    #[arg(long, env = "FAN_OUT_CONSUMER")]
    fan_out: Option<String>,
    /// Edges per write request (BatchWriteSize).
    #[arg(long, env = "BATCH_WRITE_SIZE", default_value_t = 100)]
    batch_write_size: usize,
    /// Write requests in flight per record batch (1: one after another, as the original).
    /// Writes that share a vertex still never run at once.
    #[arg(long, env = "WRITE_CONCURRENCY", default_value_t = 1)]
    write_concurrency: usize,
    /// Use the original's conditional (coalesce) upsert idiom; same as --write-mode conditional.
    #[arg(long, env = "CONDITIONAL_CREATE")]
    conditional_create: bool,
    /// How edges are written.
    #[arg(long, value_enum, env = "WRITE_MODE", default_value = "merge")]
    write_mode: WriteModeArg,
    /// Percentage of sub-batches failed on purpose (PercentError); they are written again.
    #[arg(long, env = "PERCENT_ERROR", default_value_t = 0)]
    percent_error: u8,
    /// Start paused (the original's `wait`): remove the pause file to go on.
    #[arg(long, env = "WAIT")]
    wait: bool,
    /// While this file exists, nothing is read.
    #[arg(long, env = "PAUSE_FILE", default_value = "stream-to-graph.pause")]
    pause_file: PathBuf,
    /// Where shards without a checkpoint start.
    #[arg(long, value_enum, default_value = "trim-horizon")]
    start: Start,
    /// The checkpoint file.
    #[arg(long, env = "CHECKPOINT_FILE", default_value = "checkpoints.json")]
    checkpoint_file: PathBuf,
    /// The dead-letter file (JSON lines).
    #[arg(long, env = "DEAD_LETTER_FILE", default_value = "dead-letters.jsonl")]
    dead_letter_file: PathBuf,
    /// The clusterId metric dimension.
    #[arg(long, env = "CLUSTER_ID", default_value = "local")]
    cluster_id: String,
    /// Publish metrics to CloudWatch at this endpoint (`aws` for AWS itself).
    #[arg(long, env = "CLOUDWATCH_ENDPOINT_URL")]
    cloudwatch_endpoint: Option<String>,
    /// Exit once no record arrived for this many seconds and the stream is caught up.
    #[arg(long)]
    exit_when_idle_secs: Option<u64>,
    /// Print a progress line every second to standard error.
    #[arg(long, default_value_t = true)]
    progress: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let options = ConsumerOptions {
        stream: args.stream.clone(),
        kinesis_endpoint: args.kinesis_endpoint.clone(),
        gremlin_url: args.gremlin_url.clone(),
        write_mode: args.write_mode.resolve(args.conditional_create),
        batch_read_size: args.batch_read_size,
        fan_out: args.fan_out.clone(),
        batch_write_size: args.batch_write_size,
        write_concurrency: args.write_concurrency,
        percent_error: args.percent_error,
        start_position: match args.start {
            Start::TrimHorizon => StartPosition::TrimHorizon,
            Start::Latest => StartPosition::Latest,
        },
        checkpoint_file: args.checkpoint_file.clone(),
        dead_letter_file: args.dead_letter_file.clone(),
        cluster_id: args.cluster_id.clone(),
    };
    let cloudwatch = args
        .cloudwatch_endpoint
        .clone()
        .map(|u| if u == "aws" { None } else { Some(u) });
    let run_metrics =
        stream2neptune_examples::metrics_setup::RunMetrics::new(&args.cluster_id, cloudwatch)
            .await?;
    let consumer = Consumer::start(&options, run_metrics.sink.clone()).await?;
    let stats = consumer.pipeline.stats();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let pause_rx = watch_pause_file(
        args.pause_file.clone(),
        args.wait,
        Duration::from_millis(500),
    );
    {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
            eprintln!(
                "stream-to-graph: stopping (finishing in-flight batches, writing checkpoints)"
            );
            let _ = stop_tx.send(true);
        });
    }
    if let Some(secs) = args.exit_when_idle_secs {
        stop_when_idle(stats.clone(), Duration::from_secs(secs), stop_tx.clone());
    }
    let ticker = {
        let stats = stats.clone();
        let progress = args.progress;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let sample = stats.sample();
                if progress {
                    eprintln!("{}", live_line(&stats, &sample));
                }
            }
        })
    };
    let result = consumer.run(stop_rx, pause_rx).await;
    ticker.abort();
    let sample = stats.sample();
    println!("{}", live_line(&stats, &sample));
    let w = stats.write_latency();
    let e = stats.end_to_end_latency();
    println!(
        "write latency p50 {:.1} ms p99 {:.1} ms; put-to-graph p50 {:.0} ms p99 {:.0} ms",
        w.p50, w.p99, e.p50, e.p99
    );
    let read = stats
        .records_read
        .load(std::sync::atomic::Ordering::Relaxed);
    let acked = stats
        .acknowledged
        .load(std::sync::atomic::Ordering::Relaxed);
    if acked < read {
        eprintln!(
            "stream-to-graph: {} records were still in flight at exit; they are not checkpointed and will be read again by the next run",
            read - acked
        );
    }
    result?;
    Ok(())
}
