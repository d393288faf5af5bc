//! A sharded record source whose checkpoints only cover acknowledged work.
//!
//! The model is the one Amazon Kinesis Data Streams imposes: a stream is split into shards, each
//! shard is an ordered log addressed by sequence numbers, and a consumer remembers how far it got
//! with a *checkpoint* per shard. The mistake this crate is built to prevent is a checkpoint that
//! runs ahead of the work: a record is only covered by a checkpoint once its processing was
//! acknowledged, **and** every earlier record of the same shard was acknowledged too. A crash
//! therefore never loses a record; it can only repeat the records that were in flight.
//!
//! * [`RecordSource`]: the trait a consumer reads [`RecordBatch`]es from.
//! * [`Acker`]: carried by every batch; acknowledging is how a consumer says "done with this one".
//! * [`AckTracker`]: the pure bookkeeping behind it (the contiguous acknowledged prefix per shard).
//! * [`CheckpointStore`]: where checkpoints are kept: [`MemoryCheckpointStore`] and
//!   [`FileCheckpointStore`] (atomic write-and-rename, survives `kill -9`).
//! * [`MemoryStream`] and [`MemorySource`]: an in-memory sharded stream, for tests and for runs
//!   that need no service.
//!
//! # Example
//!
//! ```
//! use kinesis_source::{MemoryCheckpointStore, MemorySource, MemoryStream, RecordSource, Checkpoint};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), kinesis_source::SourceError> {
//! let stream = MemoryStream::new(2);
//! for i in 0..10 {
//!     stream.put(format!("user-{i}"), format!("edge {i}").into_bytes());
//! }
//! stream.close();
//!
//! let checkpoints = Arc::new(MemoryCheckpointStore::default());
//! let mut source = MemorySource::new(stream, checkpoints.clone(), 4);
//! let mut read = 0;
//! while let Some(batch) = source.next_batch().await? {
//!     read += batch.records.len();
//!     // ... write the records somewhere, then say so:
//!     batch.ack_all();
//! }
//! source.shutdown().await?;
//! assert_eq!(read, 10);
//! // Both shards were read to their end, and everything was acknowledged.
//! for shard in ["shard-0", "shard-1"] {
//!     assert_eq!(checkpoints.get_sync(shard), Some(Checkpoint::ShardEnd));
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod ack;
pub mod api;
mod backoff;
mod checkpoint;
mod checkpoint_writer;
mod config;
mod error;
mod kinesis_source;
mod memory;
pub mod metrics;
mod producer;
mod record;
mod shard_reader;
mod shutdown;
mod source;

pub use ack::{AckError, AckTracker, Acker};
pub use api::{ApiError, ApiErrorKind, KinesisApi, SdkKinesisApi};
pub use backoff::Backoff;
pub use checkpoint::{Checkpoint, CheckpointStore, FileCheckpointStore, MemoryCheckpointStore};
pub use config::{
    ConfigError, KinesisSourceConfig, StartPosition, StreamRef, GET_RECORDS_CALLS_PER_SECOND,
    MAX_GET_RECORDS_LIMIT, MIN_GET_RECORDS_INTERVAL,
};
pub use error::SourceError;
pub use kinesis_source::KinesisSource;
pub use memory::{MemorySource, MemoryStream};
pub use producer::{
    KinesisProducer, ProducerConfig, ProducerRecord, PutFailure, PutReceipt, PutResult,
    MAX_BYTES_PER_CALL, MAX_PARTITION_KEY_CHARS, MAX_RECORDS_PER_CALL, MAX_RECORD_BYTES,
};
pub use record::{Record, RecordBatch, SequenceNumber, ShardId};
pub use shutdown::ShutdownHandle;
pub use source::RecordSource;
