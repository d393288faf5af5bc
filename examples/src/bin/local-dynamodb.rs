//! Serves the embedded DynamoDB emulator on a fixed loopback port, for runs where KCL workers
//! are separate processes (`scripts/kcl-fleet.sh`).

use clap::Parser;
use local_services::EmbeddedDynamoDb;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "Serve a DynamoDB API emulator (tables in memory) on 127.0.0.1")]
struct Args {
    /// Port to listen on.
    #[arg(long, env = "DYNAMODB_PORT", default_value_t = 8000)]
    port: u16,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let emulator = EmbeddedDynamoDb::start(args.port)?;
    println!("dynamodb api on {} (Ctrl-C to stop)", emulator.url());
    tokio::signal::ctrl_c().await?;
    drop(emulator);
    Ok(())
}
