//! Loading vertices: Neptune's Gremlin CSV format, and Neptune's bulk-loader REST API.
//!
//! * [`csv`]: a streaming reader of Neptune's Gremlin load CSV format (vertex and edge files,
//!   plain or gzip), which reports bad rows instead of dropping them.
//! * [`load_vertices`]: reads a vertex file and upserts its vertices into any
//!   [`GraphSink`](crate::GraphSink) in batches, with progress and a summary that accounts for
//!   every row.
//! * [`bulk_loader`]: a client for Neptune's bulk-loader REST API (`POST /loader`, then
//!   `GET /loader/{loadId}` every 2 s until the load ends), with timeouts, bounded retries,
//!   an overall deadline and a hook for request signing (IAM).
//!
//! # Example
//!
//! ```
//! use neptune_batch::load::{load_vertices, VertexLoadOptions};
//! use neptune_batch::{MemoryGraph, PropertyValue};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("vertices.csv");
//! std::fs::write(
//!     &path,
//!     "~id,~label,firstName:String,id:Int\n\
//!      1,person,Abdou,33184\n\
//!      2,person,\"Ann, with a comma\",12\n\
//!      3,person,Bad,not-a-number\n",
//! )?;
//!
//! let graph = MemoryGraph::new();
//! let summary = load_vertices(&path, &graph, &VertexLoadOptions::default(), |p| {
//!     eprintln!("{} rows read, {} written", p.rows_read, p.written);
//! })
//! .await?;
//!
//! assert_eq!((summary.rows_read, summary.written), (3, 2));
//! assert_eq!(summary.bad_lines.len(), 1);
//! assert_eq!(summary.bad_lines[0].line, 4);
//! let abdou = graph.vertex("1").unwrap();
//! assert!(abdou.properties.contains(&("id".into(), PropertyValue::Int(33184))));
//!
//! // Loading again changes nothing: every vertex is already there.
//! let again = load_vertices(&path, &graph, &VertexLoadOptions::default(), |_| {}).await?;
//! assert_eq!((again.written, again.already_present), (0, 2));
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "bulk-loader")]
pub mod bulk_loader;
pub mod csv;
pub mod metrics;
mod vertex_loader;

pub use vertex_loader::{
    load_vertices, load_vertices_from, FailedVertex, LoadProgress, VertexLoadError,
    VertexLoadOptions, VertexLoadOptionsBuilder, VertexLoadSummary,
};
