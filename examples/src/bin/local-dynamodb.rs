//! Serves the embedded DynamoDB emulator on a fixed loopback port, for runs where KCL workers
//! are separate processes (`scripts/kcl-fleet.sh`).

use clap::Parser;
use local_services::EmbeddedDynamoDb;
use std::process::ExitCode;
use stream2neptune_examples::cli::{self, ExitClass, Failure};

/// Serve a DynamoDB API emulator (dynoxide-rs, tables in memory) on 127.0.0.1 until Ctrl-C or
/// SIGTERM; point KCL workers at it with DYNAMODB_ENDPOINT_URL=http://127.0.0.1:PORT.
///
/// Logging: RUST_LOG (default `info`), e.g. RUST_LOG=debug. Exit status: 0 stopped when asked,
/// 1 failure, 2 usage, 78 the port cannot be taken.
#[derive(Debug, Parser)]
#[command(name = "local-dynamodb", version, about, long_about)]
struct Args {
    /// Port to listen on.
    #[arg(long, alias = "port", env = "DYNAMODB_PORT", default_value_t = 8000)]
    dynamodb_port: u16,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_logging("info");
    cli::exit("local-dynamodb", run(args).await)
}

async fn run(args: Args) -> Result<(), Failure> {
    let emulator = EmbeddedDynamoDb::start(args.dynamodb_port).map_err(|e| {
        Failure::new(
            ExitClass::Configuration,
            format!("cannot serve on 127.0.0.1:{}: {e}", args.dynamodb_port),
        )
    })?;
    println!("dynamodb api on {} (Ctrl-C to stop)", emulator.url());
    cli::stop_requested().await?;
    drop(emulator);
    Ok(())
}
