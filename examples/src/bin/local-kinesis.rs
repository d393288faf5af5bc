//! Serves the embedded Kinesis emulator on a fixed loopback port, for runs where the producer
//! and the consumer are separate processes.

use clap::Parser;
use local_services::{EmbeddedKinesis, EmbeddedKinesisOptions};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "Serve a Kinesis Data Streams API emulator on 127.0.0.1")]
struct Args {
    /// Port to listen on.
    #[arg(long, env = "KINESIS_PORT", default_value_t = 4567)]
    port: u16,
    /// Shard iterator lifetime in seconds (AWS: 300).
    #[arg(long, default_value_t = 300)]
    iterator_ttl_secs: u64,
    /// Enforce the per-shard write limits with throttling errors.
    #[arg(long)]
    enforce_limits: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let emulator = EmbeddedKinesis::start(
        EmbeddedKinesisOptions {
            iterator_ttl: std::time::Duration::from_secs(args.iterator_ttl_secs),
            enforce_limits: args.enforce_limits,
            ..Default::default()
        },
        args.port,
    )?;
    println!("kinesis api on {} (Ctrl-C to stop)", emulator.url());
    tokio::signal::ctrl_c().await?;
    drop(emulator);
    Ok(())
}
