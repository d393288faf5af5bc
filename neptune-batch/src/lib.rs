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
//! * [`GremlinSink`]: the sink for Amazon Neptune or any Apache TinkerPop Gremlin Server,
//!   configured with [`GremlinSinkConfig::builder`]. It writes requests of many items (one
//!   transaction each), several at once, both numbers adapted to the server by default
//!   ([`sizing`]: additive increase, multiplicative decrease on latency and conflicts), in one
//!   of three [`WriteMode`]s: the original's `plain` chained `addE`, its `conditional`
//!   `fold().coalesce(unfold(), addE…)`, and `merge` (`mergeE`/`mergeV` keyed by id, the
//!   default and the fastest idempotent one). [`ExistenceCheck`] says whether reads give each
//!   item its own outcome (missing endpoints reported per edge, or created first); failing
//!   requests are bisected, and transient errors (conflicts, read-only replicas, throttling,
//!   timeouts, broken connections) are retried with capped exponential back-off and full
//!   jitter. [`Scheduling`] says how requests share the graph: by default the merges queue in
//!   one Gremlin Server session where the server commits each request of a session on its
//!   own (found out at connect), so they may share super-connectors and be large; elsewhere
//!   requests in flight never touch the same vertex, so concurrency does not turn into
//!   conflicts.
//! * [`gremlin`]: the language the sink and its queries speak: bytecode, values, tokens.
//! * [`transport`]: the WebSocket client underneath: GraphBinary 1.0 (the default) and
//!   GraphSON 3.0, bytecode and scripts with bindings, multiplexed persistent connections, a
//!   timeout on every request, `wss://` and Neptune IAM (SigV4-signed upgrades).
//! * [`queries`]: the notebook's queries (most followed, most following, friend-of-friend
//!   recommendations) for the reader endpoint.
//! * [`metrics`]: the names of the metrics recorded through the `metrics` facade.
//! * [`MemoryGraph`]: an in-memory graph implementing [`GraphSink`], for tests and local runs.
//! * [`load`]: vertex loading from Neptune's Gremlin CSV format and the bulk-loader API.
//!
//! Every error says what kind of failure it is through
//! [`stream2neptune_common::Classify`] (retriable, unreachable, permanent, usage), so does
//! [`ItemFailure`]; every setting that cannot work is a [`ConfigError`] naming it. Values
//! always travel as bytecode arguments or script bindings, never inside query text.
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
//! # Example: settings
//!
//! Each configuration has a builder whose `build()` checks every field and names the one that
//! cannot work:
//!
//! ```
//! use std::time::Duration;
//! use neptune_batch::{ExistenceCheck, GremlinSinkConfig, Scheduling, WriteMode};
//! use stream2neptune_common::Backoff;
//!
//! let config = GremlinSinkConfig::builder("ws://127.0.0.1:8182/gremlin")
//!     .mode(WriteMode::Merge) // the default
//!     .existence(ExistenceCheck::CreateMissingEndpoints { label: "person".into() })
//!     .scheduling(Scheduling::ConflictFree)
//!     .batch_size(100) // pinned, as the original's BatchWriteSize; adapted when not set
//!     .in_flight(1)
//!     .retry(Backoff::new(Duration::from_millis(200), Duration::from_secs(5)).with_max_retries(8))
//!     .writer(|w| w.pool_size(2).request_timeout(Duration::from_secs(30)))
//!     .build()?;
//! assert_eq!((config.batch_size, config.in_flight), (Some(100), Some(1)));
//!
//! let wrong = GremlinSinkConfig::builder("ws://127.0.0.1:8182/gremlin").batch_size(0).build();
//! assert_eq!(wrong.unwrap_err().field(), "batch_size");
//! # Ok::<(), neptune_batch::ConfigError>(())
//! ```
//!
//! # Example: a Gremlin Server or Amazon Neptune
//!
//! ```no_run
//! use neptune_batch::{FollowsSchema, GraphSink, GremlinSink, GremlinSinkConfig, Vertex};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // For Neptune: a wss:// URL and, with IAM database authentication,
//! // let iam = neptune_batch::transport::IamAuth::from_default_chain(None).await?;
//! // and .writer(|w| w.iam(iam)) on the builder.
//! let config = GremlinSinkConfig::builder("ws://127.0.0.1:8182/gremlin").build()?;
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
pub mod gremlin;
mod gremlin_sink;
mod hubs_last;
pub mod load;
mod memory;
pub mod metrics;
mod model;
pub mod mutation;
mod outcome;
pub mod queries;
mod sink;
pub mod sizing;
pub mod transport;
mod write_traversals;

pub use error::SinkError;
pub use follows::{FollowsSchema, FollowsSchemaBuilder};
pub use gremlin_sink::{
    EdgeIdentity, ExistenceCheck, GremlinSink, GremlinSinkConfig, GremlinSinkConfigBuilder,
    Scheduling, SinkProgress,
};
pub use memory::MemoryGraph;
pub use model::{Edge, PropertyValue, Vertex};
pub use mutation::{Change, ElementId, Mutation, PropertyPolicy};
pub use outcome::{ItemFailure, ItemOutcome, WriteReport};
pub use sink::GraphSink;
/// Every `build()` and `validate()` of the crate answers with it, and the errors of the calls
/// that validate their settings first wrap it ([`SinkError::Config`],
/// [`GremlinError::Config`](crate::transport::GremlinError::Config),
/// [`VertexLoadError::Config`](crate::load::VertexLoadError::Config),
/// [`BulkLoadError::Config`](crate::load::bulk_loader::BulkLoadError::Config)).
///
/// ```
/// use neptune_batch::GremlinSinkConfig;
///
/// let error = GremlinSinkConfig::builder("ws://127.0.0.1:8182/gremlin")
///     .writer(|w| w.pool_size(0))
///     .build()
///     .unwrap_err();
/// assert_eq!(error.field(), "writer.pool_size");
/// assert_eq!(error.to_string(), "invalid configuration: writer.pool_size: must be between 1 and 64");
/// ```
pub use stream2neptune_common::ConfigError;
pub use write_traversals::WriteMode;
