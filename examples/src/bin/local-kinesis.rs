//! Serves the embedded Kinesis emulator on a fixed loopback port, for runs where the producer
//! and the consumer are separate processes.

use clap::Parser;
use local_services::{EmbeddedKinesis, EmbeddedKinesisOptions};
use std::process::ExitCode;
use stream2neptune_examples::cli::{self, ExitClass, Failure};

/// Serve a Kinesis Data Streams API emulator (ferrokinesis, streams in memory) on 127.0.0.1
/// until Ctrl-C or SIGTERM; point the other programs at it with
/// KINESIS_ENDPOINT_URL=http://127.0.0.1:PORT.
///
/// Logging: RUST_LOG (default `info`), e.g. RUST_LOG=debug. Exit status: 0 stopped when asked,
/// 1 failure, 2 usage, 78 the port cannot be taken.
#[derive(Debug, Parser)]
#[command(name = "local-kinesis", version, about, long_about)]
struct Args {
    /// Port to listen on.
    #[arg(long, alias = "port", env = "KINESIS_PORT", default_value_t = 4567)]
    kinesis_port: u16,
    /// Shard iterator lifetime in seconds (AWS: 300).
    #[arg(long, env = "KINESIS_ITERATOR_TTL_SECS", default_value_t = 300)]
    iterator_ttl_secs: u64,
    /// Enforce the per-shard write limits with throttling errors.
    #[arg(long, env = "KINESIS_ENFORCE_LIMITS")]
    enforce_limits: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_logging("info");
    cli::exit("local-kinesis", run(args).await)
}

async fn run(args: Args) -> Result<(), Failure> {
    let emulator = EmbeddedKinesis::start(
        EmbeddedKinesisOptions {
            iterator_ttl: std::time::Duration::from_secs(args.iterator_ttl_secs),
            enforce_limits: args.enforce_limits,
            ..Default::default()
        },
        args.kinesis_port,
    )
    .map_err(|e| {
        Failure::new(
            ExitClass::Configuration,
            format!("cannot serve on 127.0.0.1:{}: {e}", args.kinesis_port),
        )
    })?;
    println!("kinesis api on {} (Ctrl-C to stop)", emulator.url());
    cli::stop_requested().await?;
    drop(emulator);
    Ok(())
}
