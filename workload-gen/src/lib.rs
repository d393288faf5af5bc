//! The social-network workload: persons, `follows` edges between them, and a driver that puts
//! the edges on a stream at a fixed rate.
//!
//! * [`write_dataset`] generates the "super-connector" graph, seeded and byte-identical on every
//!   machine, as Neptune Gremlin bulk-load CSV: a vertex file ([`VERTEX_FILE`],
//!   `~id,~label,firstName:String,lastName:String,id:Long`) and a gzip edge file
//!   ([`EDGE_FILE`], `~id,~label,~from,~to,creationDate`). In-degree follows a power law, so a
//!   few persons have very many followers. [`generate`] gives small sets in memory;
//!   [`EdgeFileWriter`] writes edges from anywhere in the same format.
//! * [`EdgeReader`] streams edges from such a file, plain or gzip, with real CSV parsing,
//!   configurable columns (default 3, 4, 5) and errors that name file and line; bad lines are
//!   reported and counted, never dropped.
//! * [`run_driver`] puts edges on any [`RecordSink`] at a fixed rate (period and batch size,
//!   default 100 ms and 100), partitioned by the follower's id, with bounded calls in flight,
//!   retries of retriable failures, progress through a [`DriverObserver`] and a
//!   [`DriverSummary`].
//! * [`FollowsEdge`] is one follow request, with the original's record payload
//!   (`from,to,creationDate`) or JSON ([`PayloadFormat`]).
//! * [`metrics`] names what the driver records through the `metrics` facade.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use workload_gen::{
//!     run_driver, write_dataset, DriverConfig, EdgeFileConfig, EdgeReader, FollowsEdge,
//!     GeneratorConfig, MemoryRecordSink, NoProgress, WriteOptions,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A small data set: 200 persons, 2 000 follows.
//! let dir = std::env::temp_dir().join(format!("workload-gen-doc-{}", std::process::id()));
//! let mut config = GeneratorConfig::default();
//! (config.persons, config.edges, config.seed) = (200, 2_000, 7);
//! let written = write_dataset(&config, &dir, &WriteOptions::default(), |_| {})?;
//! assert_eq!(written.edges, 2_000);
//!
//! // Read it back (gzip is detected) and drive it into memory at 20 000 records/s.
//! let edges = EdgeReader::open(&written.edge_path, &EdgeFileConfig::default())?;
//! let sink = Arc::new(MemoryRecordSink::new());
//! let mut driver = DriverConfig::default();
//! driver.period = Duration::from_millis(5);
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

mod dataset;
mod driver;
mod edge;
mod edge_writer;
mod generator;
pub mod metrics;
mod reader;
mod sink;

pub use dataset::{
    write_dataset, DatasetError, DatasetSummary, WriteOptions, WriteProgress, EDGE_FILE,
    EDGE_HEADER, VERTEX_FILE, VERTEX_HEADER,
};
pub use driver::{
    record_for, run_driver, DriverConfig, DriverConfigError, DriverObserver, DriverProgress,
    DriverSummary, NoProgress, RetryPolicy, MAX_RECORDS_PER_PUT,
};
pub use edge::{DecodeError, FollowsEdge, PayloadFormat};
pub use edge_writer::EdgeFileWriter;
pub use generator::{
    generate, persons, ConfigError, EdgeGenerator, GeneratedData, GeneratorConfig, Person, RawEdge,
};
pub use reader::{EdgeColumns, EdgeFileConfig, EdgeReader, ReadError, ReadStats};
pub use sink::{MemoryRecordSink, OutgoingRecord, PutOutcome, RecordSink, RecordSinkError};
