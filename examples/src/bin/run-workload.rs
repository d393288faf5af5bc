//! The workload driver: reads a `follows` edge file (columns 3, 4, 5 by default) and puts
//! `DriverBatchSize` edges every `DriverPeriod` on a Kinesis stream, partitioned by the from id,
//! at a fixed rate, with a progress bar and a summary.

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use kinesis_source::{KinesisProducer, ProducerConfig, StreamRef};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use stream2neptune_examples::producer::KinesisRecordSink;
use workload_gen::{
    run_driver, DriverConfig, DriverObserver, DriverProgress, EdgeColumns, EdgeFileConfig,
    EdgeReader, PayloadFormat,
};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "Put follows edges from a CSV file on a Kinesis stream at a fixed rate")]
struct Args {
    /// The edge file (`follows.csv.gz` or plain CSV).
    file: PathBuf,
    /// Stream name or ARN.
    #[arg(long, env = "STREAM_NAME")]
    stream: String,
    /// Kinesis endpoint URL; unset = AWS itself.
    #[arg(long, env = "KINESIS_ENDPOINT_URL")]
    kinesis_endpoint: Option<String>,
    /// Milliseconds between batches (DriverPeriod).
    #[arg(long = "driver-period", env = "DRIVER_PERIOD", default_value_t = 100)]
    period_ms: u64,
    /// Edges per batch (DriverBatchSize).
    #[arg(
        long = "driver-batch-size",
        env = "DRIVER_BATCH_SIZE",
        default_value_t = 100
    )]
    batch_size: usize,
    /// Payload as JSON instead of the original's `from,to,creationDate`.
    #[arg(long)]
    json: bool,
    /// One-based columns of from, to and creation date.
    #[arg(long, num_args = 3, default_values_t = [3usize, 4, 5])]
    columns: Vec<usize>,
    /// Stop after this many records.
    #[arg(long)]
    max_records: Option<u64>,
}

struct Bar(ProgressBar);

impl DriverObserver for Bar {
    fn on_progress(&self, p: &DriverProgress) {
        self.0.set_position(p.accepted);
        self.0.set_message(format!(
            "{:.0}/s (requested {:.0}/s), {} failed, {} retried, {} bad lines",
            p.achieved_rate, p.target_rate, p.failed, p.retried, p.bad_input
        ));
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let client = local_services::kinesis_client(args.kinesis_endpoint.as_deref()).await;
    let producer =
        KinesisProducer::from_client(client, ProducerConfig::new(StreamRef::parse(&args.stream)))?;
    let config = DriverConfig {
        period: Duration::from_millis(args.period_ms),
        batch_size: args.batch_size,
        payload: if args.json {
            PayloadFormat::Json
        } else {
            PayloadFormat::Csv
        },
        max_records: args.max_records,
        ..DriverConfig::default()
    };
    let file_config = EdgeFileConfig {
        columns: EdgeColumns {
            from: args.columns[0],
            to: args.columns[1],
            creation_date: args.columns[2],
        },
        ..EdgeFileConfig::default()
    };
    let edges = EdgeReader::open(&args.file, &file_config)?;
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template(
        "{spinner} {pos} records put {msg}",
    )?);
    bar.enable_steady_tick(Duration::from_millis(200));
    let summary = run_driver(
        &config,
        Arc::new(KinesisRecordSink::new(producer)),
        edges,
        Arc::new(Bar(bar.clone())),
    )
    .await?;
    bar.finish_and_clear();
    println!(
        "put {} of {} records ({} failed, {} retried, {} bad input lines) in {:.1?}: {:.0} records/s (requested {:.0})",
        summary.accepted,
        summary.submitted,
        summary.failed,
        summary.retried,
        summary.bad_input,
        summary.total_time,
        summary.achieved_rate,
        summary.target_rate
    );
    for (reason, n) in &summary.failure_reasons {
        println!("  {n} failed: {reason}");
    }
    for example in &summary.bad_input_examples {
        println!("  bad input: {example}");
    }
    Ok(())
}
