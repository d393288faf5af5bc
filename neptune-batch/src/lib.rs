//! Batched vertex and edge writes to a property graph, with one outcome per item.
//!
//! The writes this crate models are the ones a stream consumer makes: many small, independent,
//! idempotent upserts keyed by id, sent in batches because one request per item is too slow. A
//! batch can partly fail (an endpoint vertex is missing, a constraint is violated), so a
//! [`GraphSink`] answers with one [`ItemOutcome`] per item instead of one error per call: a caller
//! can then acknowledge what was written, retry what may succeed later and set aside the rest.
//!
//! * [`GraphSink`]: the trait.
//! * [`Vertex`], [`Edge`], [`PropertyValue`]: what is written.
//! * [`MemoryGraph`]: an in-memory graph implementing [`GraphSink`], for tests and local runs.
//!
//! # Example
//!
//! ```
//! use neptune_batch::{Edge, GraphSink, ItemFailure, ItemOutcome, MemoryGraph, Vertex};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), neptune_batch::SinkError> {
//! let graph = MemoryGraph::new();
//! graph.write_vertices(&[Vertex::new("1", "person"), Vertex::new("2", "person")]).await?;
//!
//! let edges = [
//!     Edge::new("1-2", "follows", "1", "2"),
//!     Edge::new("1-9", "follows", "1", "9"), // vertex 9 does not exist
//!     Edge::new("1-2", "follows", "1", "2"), // the same edge again
//! ];
//! let report = graph.write_edges(&edges).await?;
//! assert_eq!(report.outcomes[0], ItemOutcome::Written);
//! assert_eq!(
//!     report.outcomes[1],
//!     ItemOutcome::Failed(ItemFailure::MissingVertex { id: "9".into() })
//! );
//! assert_eq!(report.outcomes[2], ItemOutcome::AlreadyPresent);
//! assert_eq!(graph.edge_count(), 1);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod bytecode;
mod error;
mod follows;
mod graphson;
mod gremlin_sink;
mod gremlin_sink_config;
pub mod load;
mod memory;
pub mod metrics;
mod model;
mod outcome;
pub mod queries;
mod retry;
mod sink;
pub mod transport;
mod write_traversals;

pub use bytecode::{anon, Bytecode, Instruction};
pub use error::SinkError;
pub use follows::FollowsSchema;
pub use graphson::{Column, Direction, GValue, Merge, Order, T};
pub use gremlin_sink::{GremlinSink, SinkProgress};
pub use gremlin_sink_config::{GremlinSinkConfig, DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE};
pub use memory::MemoryGraph;
pub use model::{Edge, PropertyValue, Vertex};
pub use outcome::{ItemFailure, ItemOutcome, WriteReport};
pub use retry::RetryPolicy;
pub use sink::GraphSink;
pub use transport::{GremlinError, GremlinTransport, TransportConfig};
pub use write_traversals::WriteMode;
