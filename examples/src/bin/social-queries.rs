//! The original notebook's three queries, against the reader endpoint, repeatable while the
//! graph grows: people with the most followers, people who follow the most, and sampled
//! friend-of-friend recommendations for the person who follows the most.

use clap::Parser;
use neptune_batch::transport::GremlinTransport;
use neptune_batch::{queries, FollowsSchema};
use std::process::ExitCode;
use std::time::Duration;
use stream2neptune_examples::cli::{self, value_text, Failure};
use stream2neptune_examples::connection::ConnectionArgs;

/// Run the social-network queries of the original notebook against a Gremlin endpoint: people
/// with the most followers, people who follow the most, and friend-of-friend recommendations.
///
/// Logging: RUST_LOG (default `warn`: the answers are the output), e.g. RUST_LOG=info or
/// RUST_LOG=debug,tungstenite=info. Exit status: 0 done, 1 failure, 2 usage, 69 the Gremlin
/// endpoint did not answer, 78 configuration.
#[derive(Debug, Parser)]
#[command(name = "social-queries", version, about, long_about)]
struct Args {
    /// Gremlin endpoint to query (ws:// or wss://); on Neptune, a reader endpoint (the
    /// notebook's NEPTUNE_READER_ENDPOINT).
    #[arg(
        long,
        alias = "reader-url",
        env = "GREMLIN_URL",
        default_value = "ws://127.0.0.1:8182/gremlin"
    )]
    gremlin_url: String,
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Rows per query.
    #[arg(long, env = "QUERY_LIMIT", default_value_t = 10)]
    limit: i64,
    /// Run again every this many seconds (0: once).
    #[arg(long, env = "QUERY_EVERY_SECS", default_value_t = 0)]
    every_secs: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_logging("warn");
    cli::exit("social-queries", run(args).await)
}

async fn run(args: Args) -> Result<(), Failure> {
    let config = args
        .connection
        .resolve()
        .await?
        .transport(&args.gremlin_url)
        .build()?;
    let reader = GremlinTransport::connect(config).await?;
    let schema = FollowsSchema::default();
    loop {
        let followed = queries::most_followed(&reader, &schema, None, args.limit).await?;
        println!("People with the most followers:");
        for d in &followed {
            println!("  {:>12} {:>8}", d.id, d.degree);
        }
        let following = queries::most_following(&reader, &schema, None, args.limit).await?;
        println!("People who follow the most people:");
        for d in &following {
            println!("  {:>12} {:>8}", d.id, d.degree);
        }
        if let Some(top) = following.first() {
            println!("Recommended for {}:", top.id);
            for r in queries::recommendations(&reader, &schema, &top.id, args.limit).await? {
                println!(
                    "  {} {} (id {}): {} paths",
                    value_text(&r.first_name),
                    value_text(&r.last_name),
                    value_text(&r.id),
                    r.count
                );
            }
        }
        if args.every_secs == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(args.every_secs)).await;
        println!();
    }
}
