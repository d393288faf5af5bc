//! Measures a Kinesis API endpoint: PutRecords and GetRecords speed with 1 KB records, and whether
//! it gets resharding right (see `stream2neptune_examples::kinesis_probe`).
//!
//! `kinesis-probe --kinesis-endpoint http://127.0.0.1:4567` probes a running emulator; without
//! it, the emulator embedded in this workspace.

use clap::Parser;
use std::process::ExitCode;
use stream2neptune_examples::cli::{self, ClassAs, Failure};
use stream2neptune_examples::kinesis_probe;

/// Measure a Kinesis API endpoint: PutRecords and GetRecords speed, and whether it gets
/// resharding right (children name their parents, a closed parent is read to its end, records
/// land in the right generation, a merge names both parents).
///
/// Logging: RUST_LOG (default `warn`: the figures are the output), e.g. RUST_LOG=info.
/// Exit status: 0 measured (findings printed), 1 failure (resharding failed among them),
/// 2 usage, 69 the endpoint did not answer, 78 configuration.
#[derive(Debug, Parser)]
#[command(name = "kinesis-probe", version, about, long_about)]
struct Args {
    /// Kinesis endpoint URL (`aws` = AWS itself); unset = the emulator embedded in this
    /// program.
    #[arg(long, alias = "endpoint", env = "KINESIS_ENDPOINT_URL")]
    kinesis_endpoint: Option<String>,
    /// Records to put and read back in the speed test.
    #[arg(long, env = "PROBE_RECORDS", default_value_t = 20_000)]
    records: usize,
    /// Payload bytes per record.
    #[arg(long, env = "PROBE_RECORD_SIZE", default_value_t = 1_000)]
    size: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_logging("warn");
    cli::exit("kinesis-probe", run(args).await)
}

async fn run(args: Args) -> Result<(), Failure> {
    let embedded;
    let url = match args.kinesis_endpoint.as_deref() {
        Some(u) => cli::endpoint_url(Some(u)),
        None => {
            embedded = local_services::EmbeddedKinesis::start(Default::default(), 0)?;
            Some(embedded.url())
        }
    };
    let client = local_services::kinesis_client(url).await;
    kinesis_probe::answers(&client).await?;
    println!("endpoint: {}", url.unwrap_or("AWS"));
    println!(
        "{}",
        kinesis_probe::speed(&client, args.records, args.size)
            .await
            .class_as(cli::ExitClass::Unreachable)?
    );
    match kinesis_probe::resharding(&client).await {
        Ok(findings) => {
            for f in findings {
                println!("resharding: {f}");
            }
            Ok(())
        }
        Err(e) => {
            println!("resharding: FAILED: {}", cli::one_line(e.as_ref()));
            Err(Failure::new(
                cli::ExitClass::Failure,
                format!("resharding failed: {}", cli::one_line(e.as_ref())),
            ))
        }
    }
}
