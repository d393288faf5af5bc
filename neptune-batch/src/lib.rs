//! Batched vertex and edge writes to a property graph, with one outcome per item.
//!
//! The writes this crate models are the ones a stream consumer makes: many small, independent,
//! idempotent upserts keyed by id, sent in batches because one request per item is too slow. A
//! batch can partly fail (an endpoint vertex is missing, a constraint is violated), so a
//! [`GraphSink`] answers with one [`ItemOutcome`] per item instead of one error per call: a caller
//! can then acknowledge what was written, retry what may succeed later and set aside the rest.
//!
//! * [`GraphSink`]: the trait.
//! * [`Vertex`], [`Edge`], [`PropertyValue`]: what is written; [`FollowsSchema`] builds the
//!   social network's `follows` edges with their deterministic ids `<from>-<creationDate>-<to>`.
//! * [`GremlinSink`]: the sink for Amazon Neptune or any Apache TinkerPop Gremlin Server, in
//!   sub-batches of [`GremlinSinkConfig::batch_size`] with [`GremlinSinkConfig::in_flight`]
//!   requests at once, both adapted to the server by default ([`sizing`]: additive increase,
//!   multiplicative decrease on latency and conflicts), in one of three [`WriteMode`]s: the
//!   original's `plain` chained `addE`, its `conditional` `fold().coalesce(unfold(), addE…)`,
//!   and `merge` (`mergeE`/`mergeV` keyed by id, the default and the fastest idempotent one).
//!   Missing endpoint vertices are reported per edge (or created first), failing sub-batches
//!   are bisected, and transient errors (conflicts, read-only replicas, throttling, timeouts,
//!   broken connections) are retried with capped exponential back-off and full jitter.
//!   Writes that share a vertex never run at once
//!   ([`GremlinSinkConfig::conflict_free`]), so concurrency does not turn into conflicts:
//!   each request takes the waiting items (of every concurrent call) whose vertices are free,
//!   so requests run side by side even on graphs where super-connectors link everything.
//!   Where the server commits each request of a session on its own (Gremlin Server, found out
//!   at connect), the merges instead queue in one session, two at a time
//!   ([`GremlinSinkConfig::queue_in_session`]): the server runs them in turn, so they may
//!   share super-connectors and be large, and the next starts without a round trip.
//! * [`transport`]: the WebSocket client underneath ([`GremlinTransport`]): GraphBinary 1.0
//!   (the default) and GraphSON 3.0,
//!   bytecode and scripts with bindings, multiplexed persistent connections, a timeout on every
//!   request, `wss://` and Neptune IAM (SigV4-signed upgrades, [`transport::IamAuth`]).
//! * [`queries`]: the notebook's queries (most followed, most following, friend-of-friend
//!   recommendations) for the reader endpoint.
//! * [`metrics`]: the names of the metrics recorded through the `metrics` facade.
//! * [`MemoryGraph`]: an in-memory graph implementing [`GraphSink`], for tests and local runs.
//! * [`load`]: vertex loading from Neptune's Gremlin CSV format and the bulk-loader API.
//!
//! Values always travel as bytecode arguments or script bindings, never inside query text.
//!
//! # Example: the in-memory graph
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
//!
//! # Example: a Gremlin Server or Amazon Neptune
//!
//! ```no_run
//! use neptune_batch::{FollowsSchema, GraphSink, GremlinSink, GremlinSinkConfig, Vertex, WriteMode};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), neptune_batch::SinkError> {
//! let mut config = GremlinSinkConfig::new("ws://127.0.0.1:8182/gremlin");
//! config.mode = WriteMode::Merge; // the default
//! // Batch size and requests in flight adapt to the server unless pinned:
//! // config.batch_size = Some(100); config.in_flight = Some(1);
//! // For Neptune: a wss:// URL and
//! // config.writer.iam = Some(neptune_batch::transport::IamAuth::from_default_chain(None).await?);
//! let sink = GremlinSink::connect(config).await?;
//!
//! sink.write_vertices(&[Vertex::new("1", "person"), Vertex::new("2", "person")]).await?;
//! let edge = FollowsSchema::default().edge("1", "2", "2019-01-02", 1_546_387_200_000);
//! let report = sink.write_edges(&[edge.clone(), edge]).await?;
//! assert_eq!(report.succeeded(), 2); // written, then already present
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod bytecode;
mod error;
mod follows;
mod graphbinary;
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
mod scheduler;
mod session_lane;
mod sink;
pub mod sizing;
pub mod transport;
mod write_traversals;

pub use bytecode::{anon, Bytecode, Instruction};
pub use error::SinkError;
pub use follows::FollowsSchema;
pub use graphson::{Column, Direction, GValue, Merge, Order, T};
pub use gremlin_sink::{GremlinSink, SinkProgress};
pub use gremlin_sink_config::{
    GremlinSinkConfig, DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, MAX_IN_FLIGHT,
};
pub use memory::MemoryGraph;
pub use model::{Edge, PropertyValue, Vertex};
pub use outcome::{ItemFailure, ItemOutcome, WriteReport};
pub use retry::RetryPolicy;
pub use sink::GraphSink;
pub use sizing::{AdaptiveSizing, Sizing, SizingSample};
pub use transport::{GremlinError, GremlinTransport, TransportConfig};
pub use write_traversals::WriteMode;
