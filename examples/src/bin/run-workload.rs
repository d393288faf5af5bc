//! The workload driver: reads a `follows` edge file (columns 3, 4, 5 by default) and puts
//! `DriverBatchSize` edges every `DriverPeriod` on a Kinesis stream, partitioned by the from id,
//! at a fixed rate, with a progress bar and a summary.

use clap::{CommandFactory, Parser};
use indicatif::{ProgressBar, ProgressStyle};
use kinesis_source::api::{KinesisApi, SdkKinesisApi};
use kinesis_source::producer::{KinesisProducer, ProducerConfig};
use kinesis_source::StreamRef;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use stream2neptune_examples::cli::{self, ClassAs, ExitClass, Failure};
use stream2neptune_examples::producer::KinesisRecordSink;
use workload_gen::driver::{run_driver, DriverConfig, DriverObserver, DriverProgress};
use workload_gen::reader::{EdgeFileConfig, EdgeReader};
use workload_gen::PayloadFormat;

/// Put follows edges from a CSV file on a Kinesis stream at a fixed rate (the original's
/// workload driver): DRIVER_BATCH_SIZE edges every DRIVER_PERIOD milliseconds, partitioned by
/// the from id.
///
/// Logging: RUST_LOG (default `info`), e.g. RUST_LOG=debug or RUST_LOG=warn,kinesis_source=info.
/// Exit status: 0 every record put, 1 failure, 2 usage, 65 bad input lines or records not put,
/// 69 the Kinesis endpoint did not answer, 78 configuration (an unknown stream among them).
#[derive(Debug, Parser)]
#[command(name = "run-workload", version, about, long_about)]
struct Args {
    /// The edge file (`follows.csv.gz` or plain CSV).
    #[arg(env = "EDGE_FILE")]
    file: PathBuf,
    /// Stream name or ARN.
    #[arg(long, env = "STREAM_NAME")]
    stream: String,
    /// Kinesis endpoint URL; unset or `aws` = AWS itself.
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
    #[arg(long, env = "JSON_PAYLOAD")]
    json: bool,
    /// One-based columns of from, to and creation date (`3 4 5`, or `3,4,5` in the variable).
    #[arg(long, env = "EDGE_COLUMNS", num_args = 3, value_delimiter = ',',
        default_values_t = [3usize, 4, 5])]
    columns: Vec<usize>,
    /// Stop after this many records.
    #[arg(long, env = "MAX_RECORDS")]
    max_records: Option<u64>,
    /// No progress spinner (none is drawn anyway when standard error is not a terminal).
    #[arg(long, env = "NO_PROGRESS")]
    no_progress: bool,
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
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.columns.len() != 3 {
        // The variable (`EDGE_COLUMNS=3,4,5`) escapes clap's count of values.
        Args::command()
            .error(
                clap::error::ErrorKind::WrongNumberOfValues,
                format!("--columns takes 3 columns, got {:?}", args.columns),
            )
            .exit();
    }
    let bars = indicatif::MultiProgress::new();
    cli::init_logging_above("info", Some(bars.clone()));
    let bar = if cli::progress_wanted(args.no_progress) {
        bars.add(ProgressBar::new_spinner())
    } else {
        ProgressBar::hidden()
    };
    cli::exit("run-workload", run(args, bar).await)
}

async fn run(args: Args, bar: ProgressBar) -> Result<(), Failure> {
    let config = DriverConfig::builder()
        .period(Duration::from_millis(args.period_ms))
        .batch_size(args.batch_size)
        .payload(if args.json {
            PayloadFormat::Json
        } else {
            PayloadFormat::Csv
        })
        .max_records(args.max_records)
        .build()?;
    let file_config = EdgeFileConfig::builder()
        .columns(args.columns[0], args.columns[1], args.columns[2])
        .build()?;
    let edges = EdgeReader::open(&args.file, &file_config)?;
    let endpoint = cli::endpoint_url(args.kinesis_endpoint.as_deref());
    let client = local_services::kinesis_client(endpoint).await;
    // The stream is asked for first: an unknown stream or an endpoint that does not answer
    // is said at once, instead of as every record failing.
    let stream = StreamRef::parse(&args.stream);
    SdkKinesisApi::new(client.clone())
        .describe_stream(&stream)
        .await?;
    let producer = KinesisProducer::from_client(client, ProducerConfig::builder(stream).build()?)?;
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} records put {msg}")
            .class_as(ExitClass::Failure)?,
    );
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
    if let Some(error) = &summary.input_error {
        return Err(Failure::new(ExitClass::Data, error.clone()));
    }
    if summary.failed > 0 || summary.bad_input > 0 {
        return Err(Failure::new(
            ExitClass::Data,
            format!(
                "{} records were not put and {} input lines were not edges",
                summary.failed, summary.bad_input
            ),
        ));
    }
    Ok(())
}
