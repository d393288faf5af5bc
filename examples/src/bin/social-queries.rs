//! The original notebook's three queries, against the reader endpoint, repeatable while the
//! graph grows: people with the most followers, people who follow the most, and sampled
//! friend-of-friend recommendations for the person who follows the most.

use clap::Parser;
use neptune_batch::{queries, FollowsSchema, GremlinTransport, TransportConfig};
use std::time::Duration;
use stream2neptune_examples::cli::value_text;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "Run the social-network queries against a reader endpoint")]
struct Args {
    /// Gremlin endpoint of a reader.
    #[arg(
        long,
        env = "GREMLIN_READER_URL",
        default_value = "ws://127.0.0.1:8182/gremlin"
    )]
    reader_url: String,
    /// Rows per query.
    #[arg(long, default_value_t = 10)]
    limit: i64,
    /// Run again every this many seconds (0: once).
    #[arg(long, default_value_t = 0)]
    every_secs: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let reader = GremlinTransport::connect(TransportConfig::new(args.reader_url.clone())).await?;
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
