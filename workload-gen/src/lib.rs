//! The social-network workload: persons, `follows` edges between them, and a driver that puts
//! the edges on a stream at a fixed rate.
//!
//! * [`generator`]: the "super-connector" graph, seeded and byte-identical on every machine,
//!   in memory ([`generator::generate`]) or edge by edge; in-degree follows a power law, so a
//!   few persons have very many followers. Configured by [`generator::GeneratorConfig`].
//! * [`dataset`]: the generated set as Neptune Gremlin bulk-load CSV
//!   ([`dataset::write_dataset`]): a vertex file (`~id,~label,firstName:String,lastName:String,id:Long`)
//!   and a gzip edge file (`~id,~label,~from,~to,creationDate`); and
//!   [`dataset::EdgeFileWriter`], which writes edges from anywhere in the same format.
//! * [`reader`]: [`reader::EdgeReader`] streams edges from such a file, plain or gzip, with
//!   real CSV parsing, configurable columns (default 3, 4, 5) and errors that name file and
//!   line; bad lines are reported and counted, never dropped.
//! * [`driver`]: [`driver::run_driver`] puts edges on any [`RecordSink`] at a fixed rate
//!   (period and batch size, default 100 ms and 100), partitioned by the follower's id, with
//!   bounded calls in flight, retries of retriable failures, progress through a
//!   [`driver::DriverObserver`] and a [`driver::DriverSummary`].
//! * [`FollowsEdge`] is one follow request, with the original's record payload
//!   (`from,to,creationDate`) or JSON ([`PayloadFormat`]); [`RecordSink`] is where records go
//!   ([`MemoryRecordSink`] keeps them).
//! * [`changes`]: a seeded change stream on the same graph ([`changes::ChangeStream`]):
//!   follows, unfollows, profile edits and account closures, as records of the JSON change
//!   format with versions from one counter, ready for a driver or a producer.
//! * [`metrics`] names what the driver records through the `metrics` facade.
//!
//! Every configuration is made by a builder that checks it ([`ConfigError`] names the field),
//! and every error implements [`stream2neptune_common::Classify`].
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use workload_gen::dataset::{write_dataset, WriteOptions};
//! use workload_gen::driver::{run_driver, DriverConfig, NoProgress};
//! use workload_gen::generator::GeneratorConfig;
//! use workload_gen::reader::{EdgeFileConfig, EdgeReader};
//! use workload_gen::{FollowsEdge, MemoryRecordSink};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A small data set: 200 persons, 2 000 follows.
//! let dir = std::env::temp_dir().join(format!("workload-gen-doc-{}", std::process::id()));
//! let config = GeneratorConfig::builder().persons(200).edges(2_000).seed(7).build()?;
//! let written = write_dataset(&config, &dir, &WriteOptions::default(), |_| {})?;
//! assert_eq!(written.edges, 2_000);
//!
//! // Read it back (gzip is detected) and drive it into memory at 20 000 records/s.
//! let edges = EdgeReader::open(&written.edge_path, &EdgeFileConfig::default())?;
//! let sink = Arc::new(MemoryRecordSink::new());
//! let driver = DriverConfig::builder().period(Duration::from_millis(5)).build()?;
//! let summary = run_driver(&driver, sink.clone(), edges, Arc::new(NoProgress)).await?;
//! assert_eq!((summary.accepted, summary.failed, summary.bad_input), (2_000, 0, 0));
//!
//! // Each record is `from,to,creationDate`, keyed by the follower.
//! let first = &sink.records()[0];
//! let edge = FollowsEdge::decode(&first.data)?;
//! assert_eq!(first.partition_key, edge.from);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod changes;
pub mod dataset;
pub mod driver;
mod edge;
mod error;
pub mod generator;
pub mod metrics;
pub mod reader;
mod sink;

pub use edge::{DecodeError, FollowsEdge, PayloadFormat};
pub use sink::{MemoryRecordSink, OutgoingRecord, PutOutcome, RecordSink, RecordSinkError};
/// What [`GeneratorConfig`](generator::GeneratorConfig), [`DriverConfig`](driver::DriverConfig),
/// [`EdgeFileConfig`](reader::EdgeFileConfig) and [`WriteOptions`](dataset::WriteOptions)
/// answer for a value outside its limits.
pub use stream2neptune_common::ConfigError;
