//! Loads person vertices, the original's step 1: from a Neptune Gremlin CSV file (plain or
//! gzip) through Gremlin upserts, or through Neptune's bulk loader from S3.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use neptune_batch::load::bulk_loader::{BulkLoaderClient, BulkLoaderConfig, LoadRequest};
use neptune_batch::load::{load_vertices, VertexLoadOptions};
use neptune_batch::GremlinSink;
use std::path::PathBuf;
use std::process::ExitCode;
use stream2neptune_examples::cli::{self, ClassAs, ExitClass, Failure};
use stream2neptune_examples::connection::ConnectionArgs;

/// Load vertices into Neptune or a Gremlin Server: from a Gremlin CSV file through upserts
/// (`csv`), or from S3 through Neptune's bulk loader (`bulk`).
///
/// Logging: RUST_LOG (default `info`), e.g. RUST_LOG=debug or RUST_LOG=warn,neptune_batch=info.
/// Exit status: 0 every vertex is in the graph, 1 failure, 2 usage, 65 bad input (a file that
/// cannot be read, bad lines, vertices refused, a bulk load that failed), 69 a service did not
/// answer, 78 configuration.
#[derive(Debug, Parser)]
#[command(name = "load-vertices", version, about, long_about)]
struct Args {
    #[command(subcommand)]
    how: How,
}

#[derive(Debug, Subcommand)]
enum How {
    /// Upsert the vertices of a Gremlin CSV file through Gremlin requests.
    Csv {
        /// The vertex file (`~id,~label,name:Type,...`), plain or gzip.
        #[arg(env = "VERTEX_FILE")]
        file: PathBuf,
        /// Gremlin endpoint of the writer (ws:// or wss://).
        #[arg(
            long,
            env = "GREMLIN_URL",
            default_value = "ws://127.0.0.1:8182/gremlin"
        )]
        gremlin_url: String,
        #[command(flatten)]
        connection: ConnectionArgs,
        /// Vertices per request.
        #[arg(long, env = "VERTEX_BATCH_SIZE", default_value_t = 100)]
        batch_size: usize,
        /// No progress bar (none is drawn anyway when standard error is not a terminal).
        #[arg(long, env = "NO_PROGRESS")]
        no_progress: bool,
    },
    /// Ask Neptune's bulk loader to load an S3 location, and follow it to the end (every 2 s).
    Bulk {
        /// The loader endpoint, e.g.
        /// `https://my-cluster.cluster-xyz.us-east-1.neptune.amazonaws.com:8182`.
        #[arg(long, alias = "endpoint", env = "NEPTUNE_LOADER_ENDPOINT")]
        loader_endpoint: String,
        /// S3 location of the vertex files.
        #[arg(long, env = "VERTEX_FILE_S3_LOCATION")]
        source: String,
        /// IAM role Neptune assumes to read S3.
        #[arg(long, env = "NEPTUNE_LOAD_FROM_S3_ROLE_ARN")]
        iam_role_arn: String,
        /// Region of the bucket and the cluster.
        #[arg(long, env = "AWS_REGION")]
        region: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let outcome = match args.how {
        How::Csv {
            file,
            gremlin_url,
            connection,
            batch_size,
            no_progress,
        } => {
            let bars = indicatif::MultiProgress::new();
            cli::init_logging_above("info", Some(bars.clone()));
            let bar = if cli::progress_wanted(no_progress) {
                bars.add(ProgressBar::new(0))
            } else {
                ProgressBar::hidden()
            };
            csv(file, gremlin_url, &connection, batch_size, bar).await
        }
        How::Bulk {
            loader_endpoint,
            source,
            iam_role_arn,
            region,
        } => {
            cli::init_logging("info");
            bulk(loader_endpoint, source, iam_role_arn, region).await
        }
    };
    cli::exit("load-vertices", outcome)
}

async fn csv(
    file: PathBuf,
    gremlin_url: String,
    connection: &ConnectionArgs,
    batch_size: usize,
    bar: ProgressBar,
) -> Result<(), Failure> {
    // The file first: a missing file is the input's fault, whatever the graph's state.
    let total = std::fs::metadata(&file)
        .map_err(|e| {
            Failure::new(
                ExitClass::Data,
                format!("cannot open {}: {e}", file.display()),
            )
        })?
        .len();
    let options = VertexLoadOptions::builder()
        .batch_size(batch_size)
        .build()?;
    let config = connection
        .resolve()
        .await?
        .sink(&gremlin_url)
        .batch_size(batch_size)
        .build()?;
    let sink = GremlinSink::connect(config).await?;
    bar.set_length(total);
    bar.set_style(
        ProgressStyle::with_template("[{bar:30}] {bytes}/{total_bytes} {msg}")
            .class_as(ExitClass::Failure)?
            .progress_chars("=> "),
    );
    let summary = load_vertices(&file, &sink, &options, |p| {
        bar.set_position(p.bytes_read);
        bar.set_message(format!(
            "{} rows, {} written, {} present, {} failed",
            p.rows_read, p.written, p.already_present, p.failed
        ));
    })
    .await?;
    bar.finish_and_clear();
    println!(
        "{}: {} rows, {} written, {} already present, {} failed, {} bad lines",
        summary.file,
        summary.rows_read,
        summary.written,
        summary.already_present,
        summary.failed.len(),
        summary.bad_lines.len()
    );
    for bad in summary.bad_lines.iter().take(20) {
        println!("  bad line {bad}");
    }
    for failed in summary.failed.iter().take(20) {
        println!(
            "  failed vertex {} (line {}): {}",
            failed.id, failed.line, failed.failure
        );
    }
    if summary.bad_lines.is_empty() && summary.failed.is_empty() {
        return Ok(());
    }
    Err(Failure::new(
        ExitClass::Data,
        format!(
            "{}: {} bad lines and {} vertices refused are not in the graph",
            summary.file,
            summary.bad_lines.len(),
            summary.failed.len()
        ),
    ))
}

async fn bulk(
    endpoint: String,
    source: String,
    iam_role_arn: String,
    region: String,
) -> Result<(), Failure> {
    let client = BulkLoaderClient::new(BulkLoaderConfig::new(endpoint))?;
    let request = LoadRequest::new(source, iam_role_arn, region);
    let report = client
        .load(&request, |r| {
            tracing::info!(
                records = r.overall.total_records,
                status = %r.status,
                "loading"
            )
        })
        .await?;
    println!(
        "load {} ended: {} ({} records)",
        report.load_id, report.status, report.overall.total_records
    );
    Ok(())
}
