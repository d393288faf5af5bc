//! Loads person vertices, the original's step 1: from a Neptune Gremlin CSV file (plain or
//! gzip) through Gremlin upserts, or through Neptune's bulk loader from S3.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use neptune_batch::load::bulk_loader::{BulkLoaderClient, BulkLoaderConfig, LoadRequest};
use neptune_batch::load::{load_vertices, VertexLoadOptions};
use neptune_batch::{GremlinSink, GremlinSinkConfig};
use std::path::PathBuf;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "Load vertices into Neptune / a Gremlin Server")]
struct Args {
    #[command(subcommand)]
    how: How,
}

#[derive(Debug, Subcommand)]
enum How {
    /// Upsert the vertices of a Gremlin CSV file through Gremlin requests.
    Csv {
        /// The vertex file (`~id,~label,name:Type,...`), plain or gzip.
        file: PathBuf,
        /// Gremlin endpoint of the writer.
        #[arg(
            long,
            env = "GREMLIN_URL",
            default_value = "ws://127.0.0.1:8182/gremlin"
        )]
        gremlin_url: String,
        /// Vertices per request.
        #[arg(long, default_value_t = 100)]
        batch_size: usize,
    },
    /// Ask Neptune's bulk loader to load an S3 location, and follow it to the end (every 2 s).
    Bulk {
        /// The loader endpoint, e.g. `https://my-cluster.cluster-xyz.us-east-1.neptune.amazonaws.com:8182`
        #[arg(long, env = "NEPTUNE_LOADER_ENDPOINT")]
        endpoint: String,
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
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    match Args::parse().how {
        How::Csv {
            file,
            gremlin_url,
            batch_size,
        } => {
            let mut config = GremlinSinkConfig::new(gremlin_url);
            config.batch_size = Some(batch_size);
            let sink = GremlinSink::connect(config).await?;
            let total = std::fs::metadata(&file)?.len();
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("[{bar:30}] {bytes}/{total_bytes} {msg}")?
                    .progress_chars("=> "),
            );
            let options = VertexLoadOptions {
                batch_size,
                ..VertexLoadOptions::default()
            };
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
                println!("  bad line {bad:?}");
            }
            for failed in summary.failed.iter().take(20) {
                println!(
                    "  failed vertex {} (line {}): {}",
                    failed.id, failed.line, failed.failure
                );
            }
        }
        How::Bulk {
            endpoint,
            source,
            iam_role_arn,
            region,
        } => {
            let client = BulkLoaderClient::new(BulkLoaderConfig::new(endpoint))?;
            let request = LoadRequest::new(source, iam_role_arn, region);
            let report = client
                .load(&request, |r| {
                    eprintln!(
                        "loading... {} records inserted ({})",
                        r.overall.total_records, r.status
                    )
                })
                .await?;
            println!(
                "load {} ended: {} ({} records)",
                report.load_id, report.status, report.overall.total_records
            );
        }
    }
    Ok(())
}
