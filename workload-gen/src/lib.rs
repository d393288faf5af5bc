//! The social-network workload: persons, and `follows` edges between them.
//!
//! * [`FollowsEdge`]: one follow request, with the record payload the original system put on
//!   the stream (`from,to,creationDate`) and a JSON alternative ([`PayloadFormat`]).
//! * [`RecordSink`]: where a driver puts records, with one outcome per record;
//!   [`MemoryRecordSink`] keeps them in memory.
//! * [`generate`]: a seeded generator of persons and edges whose in-degree is heavy-tailed, so a
//!   few "super-connectors" have very many followers.
//!
//! # Example
//!
//! ```
//! use workload_gen::{generate, FollowsEdge, GeneratorConfig, PayloadFormat};
//!
//! let data = generate(&GeneratorConfig { persons: 100, edges: 1_000, seed: 7, ..Default::default() });
//! assert_eq!(data.edges.len(), 1_000);
//! let edge = &data.edges[0];
//! let payload = edge.encode(PayloadFormat::Csv);
//! assert_eq!(FollowsEdge::decode(&payload).unwrap(), *edge);
//! // The same seed gives the same data set.
//! assert_eq!(generate(&GeneratorConfig { persons: 100, edges: 1_000, seed: 7, ..Default::default() }).edges, data.edges);
//! ```
#![warn(missing_docs)]

mod edge;
mod generator;
mod sink;

pub use edge::{DecodeError, FollowsEdge, PayloadFormat};
pub use generator::{generate, GeneratedData, GeneratorConfig, Person};
pub use sink::{MemoryRecordSink, OutgoingRecord, PutOutcome, RecordSink, RecordSinkError};
