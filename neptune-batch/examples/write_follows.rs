//! Writes a few `follows` edges to a Gremlin Server (or Amazon Neptune) and shows one outcome
//! per item: written, already present (a redelivery), or failed (a missing endpoint).
//!
//! Start a server first (`scripts/gremlin-server.sh start`), or set `GREMLIN_URL`.
//! `cargo run -p neptune-batch --example write_follows`
use neptune_batch::{FollowsSchema, GraphSink, GremlinSink, GremlinSinkConfig, Vertex};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("GREMLIN_URL").unwrap_or_else(|_| "ws://127.0.0.1:8182/gremlin".into());
    // For Neptune: a wss:// URL, and with IAM database authentication
    // let iam = neptune_batch::transport::IamAuth::from_default_chain(None).await?;
    // and .writer(|w| w.iam(iam)) on the builder.
    let config = GremlinSinkConfig::builder(url).build()?;
    let sink = GremlinSink::connect(config).await?;
    let run = std::process::id();
    let (a, b, c) = (format!("a{run}"), format!("b{run}"), format!("c{run}"));
    sink.write_vertices(&[Vertex::new(&a, "person"), Vertex::new(&b, "person")])
        .await?;
    let schema = FollowsSchema::default();
    let edges = [
        schema.edge(&a, &b, "2019-01-15", 1),
        schema.edge(&a, &b, "2019-01-15", 1), // the same follow again
        schema.edge(&a, &c, "2019-01-16", 2), // c does not exist
    ];
    let report = sink.write_edges(&edges).await?;
    for (edge, outcome) in edges.iter().zip(&report.outcomes) {
        println!("{:<40} {outcome:?}", edge.id);
    }
    println!("{} requests, {} retries", report.requests, report.retries);
    Ok(())
}
