//! The consumer loop from a sharded record stream into a property graph.
//!
//! A [`Pipeline`] reads batches from a [`RecordSource`](kinesis_source::RecordSource) (Kinesis
//! Data Streams, or the in-memory stream), turns each record into vertices and edges with a
//! [`RecordMapper`], writes them through a [`GraphSink`](neptune_batch::GraphSink) (Amazon
//! Neptune, any Apache TinkerPop Gremlin Server, or the in-memory graph), and acknowledges each
//! record once it is in the graph, so a shard's checkpoint only ever covers written records.
//!
//! Its one promise: **no record is lost**.
//!
//! * A record that is bad in itself (the mapper rejects it; an endpoint vertex is missing; it
//!   conflicts with the graph; the server refuses it as invalid) becomes a [`DeadLetter`](dead_letter::DeadLetter),
//!   stored durably ([`JsonLinesDeadLetters`](dead_letter::JsonLinesDeadLetters), [`KinesisDeadLetters`](dead_letter::KinesisDeadLetters)) before it is
//!   acknowledged.
//! * A record whose write fails for a transient reason (the graph unreachable, timing out,
//!   throttling, read-only during a failover, in conflict) is never set aside: it **holds its
//!   shard** and is tried again with capped, jittered back-off, without a limit by default,
//!   resuming within about a second of the graph answering again ([`HoldPolicy`]). Other
//!   shards go on as far as the graph lets them.
//! * A crash (even `kill -9`) repeats at most the records that were in flight; writes keyed by
//!   deterministic ids make the repeats harmless.
//!
//! Shards are read in parallel, each in order; a [`parallelization_factor`](PipelineConfig)
//! above 1 processes several batches of a shard at once, in lanes by partition key. The
//! original's metrics (`EdgesSubmitted`, `WriteDuration`, `RetryCount`, `WriteErrors`, plus
//! `IteratorAge`, `MillisBehindLatest`, `HeldShards`, `ShardHeldDuration`) go to a
//! [`MetricsSink`](metrics_sink::MetricsSink). [`Control`] stops (draining, checkpointing and
//! flushing; also on SIGINT/SIGTERM) or pauses a running pipeline.
//!
//! * [`RecordMapper`]: records to [`GraphWrites`], or a [`Rejection`]; [`FollowsCsv`] (feature
//!   `follows`) is the social network's `follows` mapper; any closure is one too.
//! * [`Pipeline`], [`PipelineConfig`], [`HoldPolicy`], [`Control`], [`PipelineStats`].
//! * [`dead_letter`]: where records that are bad in themselves go.
//! * [`lambda`] (feature `lambda`): the same writer as an AWS Lambda function on a Kinesis event
//!   source mapping, answering with partial batch responses.
//! * [`kcl`] (feature `kcl`): the same pipeline behind the Kinesis Client Library's
//!   MultiLangDaemon, which keeps shard leases for a fleet of workers.
//!
//! # Example
//!
//! A complete consumer of JSON records `{"a": …, "b": …}` ("a follows b") from an in-memory
//! stream into the in-memory graph, with dead letters and checkpoints:
//!
//! ```
//! use graph_ingest::{GraphWrites, Pipeline, Rejection};
//! use graph_ingest::dead_letter::MemoryDeadLetters;
//! use kinesis_source::{MemoryCheckpointStore, MemorySource, MemoryStream, Record};
//! use neptune_batch::{Edge, GraphSink, MemoryGraph, Vertex};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let graph = Arc::new(MemoryGraph::new());
//! graph.write_vertices(&[Vertex::new("ann", "person"), Vertex::new("bob", "person")]).await?;
//!
//! let stream = MemoryStream::new(2);
//! stream.put("ann", &br#"{"a": "ann", "b": "bob"}"#[..]);
//! stream.put("bob", &b"not json"[..]);
//! stream.close();
//! let checkpoints = Arc::new(MemoryCheckpointStore::default());
//! let mut source = MemorySource::new(stream, checkpoints.clone(), 100);
//!
//! #[derive(serde::Deserialize)]
//! struct Follow { a: String, b: String }
//! let mapper = |record: &Record| {
//!     let f: Follow = serde_json::from_slice(&record.data)
//!         .map_err(|e| Rejection::new(format!("not a follow: {e}")))?;
//!     Ok(GraphWrites::edge(Edge::new(format!("{}>{}", f.a, f.b), "follows", &f.a, &f.b)))
//! };
//! let dead_letters = MemoryDeadLetters::new();
//! let pipeline = Pipeline::builder()
//!     .mapper(mapper)
//!     .sink(graph.clone())
//!     .dead_letters(Arc::new(dead_letters.clone()))
//!     .build()?;
//! pipeline.run(&mut source).await?; // until the stream ends (or a stop)
//!
//! assert_eq!(graph.edge_count(), 1);
//! assert!(dead_letters.all()[0].reason.starts_with("not a follow"));
//! # Ok(())
//! # }
//! ```
//!
//! # A complete program
//!
//! `examples/json_consumer.rs` (`cargo run -p graph-ingest --example json_consumer`): the same
//! consumer with a graph and a metrics sink of its own, dead letters and checkpoints in files,
//! Ctrl-C handled, run twice over a stream that grows in between: the second run resumes from
//! the first one's checkpoints.
//!
#![doc = concat!("```no_run\n", include_str!("../examples/json_consumer.rs"), "\n```")]
#![warn(missing_docs)]

mod changes;
mod config;
mod control;
pub mod dead_letter;
mod fault;
#[cfg(feature = "follows")]
mod follows_csv;
mod hold;
#[cfg(feature = "kcl")]
pub mod kcl;
#[cfg(feature = "lambda")]
pub mod lambda;
mod mapper;
mod pipeline;
pub mod publish;
pub mod stats;
mod write;

pub use changes::ChangeJson;
pub use config::{HoldPolicy, PipelineConfig, PipelineConfigBuilder};
pub use control::Control;
pub use dead_letter::DeadLetterSink;
#[cfg(feature = "follows")]
pub use follows_csv::FollowsCsv;
pub use mapper::{GraphWrites, RecordMapper, Rejection};
pub use pipeline::{BatchResult, Pipeline, PipelineBuilder, PipelineError, PutTime};
pub use stats::PipelineStats;
pub use stream2neptune_common::Backoff;
/// What a [`PipelineConfig`] or the Lambda function's settings answer when they cannot work:
/// the field (or, for the Lambda function, the environment variable) and why.
pub use stream2neptune_common::ConfigError;
