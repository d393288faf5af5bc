//! A sharded record source whose checkpoints only cover acknowledged work, for Amazon Kinesis
//! Data Streams, and the producer that feeds such a stream.
//!
//! The model is the one Kinesis imposes: a stream is split into shards, each shard is an ordered
//! log addressed by sequence numbers, and a consumer remembers how far it got with a
//! *checkpoint* per shard. The mistake this crate is built to prevent is a checkpoint that runs
//! ahead of the work: a record is only covered by a checkpoint once its processing was
//! acknowledged, **and** every earlier record of the same shard was acknowledged too. A crash
//! therefore never loses a record; it can only repeat the records that were in flight.
//!
//! * [`RecordSource`]: the trait a consumer reads [`RecordBatch`]es of [`Record`]s from.
//! * [`KinesisSource`]: the Kinesis implementation: one task per shard, `ListShards` re-syncs,
//!   parents read (and checkpointed as ended) before their children, expired iterators
//!   re-acquired after the last delivered record, throttling and transient errors retried with
//!   bounded jittered backoff, failed shard readers restarted and reported, graceful shutdown
//!   ([`ShutdownHandle`]). Reads by polling `GetRecords` or through enhanced fan-out
//!   (`SubscribeToShard`, [`KinesisSourceConfig::fan_out`]). Configured by
//!   [`KinesisSourceConfig::builder`].
//! * [`MemoryStream`] and [`MemorySource`]: an in-memory sharded stream, for tests and for runs
//!   that need no service.
//! * [`Acker`]: carried by every batch; acknowledging is how a consumer says "done with this
//!   one" ([`ack::AckTracker`] is the bookkeeping behind it: the contiguous acknowledged prefix
//!   per shard).
//! * [`CheckpointStore`]: where checkpoints are kept: [`MemoryCheckpointStore`] and
//!   [`FileCheckpointStore`] (atomic write-and-rename, survives `kill -9`).
//! * [`producer`]: [`KinesisProducer`](producer::KinesisProducer), `PutRecords` batching within
//!   the API limits that resends only the entries that failed and reports one outcome per
//!   record.
//! * [`kpl`]: records aggregated by the Kinesis Producer Library, opened into their user
//!   records by the source (and built by [`kpl::Aggregator`]).
//! * [`api`]: the few Kinesis calls behind a trait ([`api::KinesisApi`]), implemented over
//!   `aws-sdk-kinesis`, and their classified errors ([`api::ApiError`]).
//! * [`limits`]: the service's limits the configurations are checked against.
//! * [`metrics`]: the names of the metrics emitted through the `metrics` facade (KCL's names
//!   where they overlap), and the running totals for progress displays.
//!
//! Every error implements [`stream2neptune_common::Classify`]: an unknown stream is a
//! [`Usage`](stream2neptune_common::ErrorKind::Usage) error, a service that does not answer
//! [`Unreachable`](stream2neptune_common::ErrorKind::Unreachable), and so on.
//!
//! # Example: in memory
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
//!
//! # Example: Kinesis
//!
//! Put records with the producer, then read them back with the source (feature `kinesis`, on by
//! default). The client is the AWS SDK's, configured as usual: credentials and region from the
//! environment or a profile, `AWS_ENDPOINT_URL_KINESIS` (or `.endpoint_url(..)`) for an emulator.
//! The crate's integration tests run the same calls against the Kinesis emulator they embed.
//!
//! ```no_run
//! use kinesis_source::producer::{KinesisProducer, ProducerConfig, ProducerRecord};
//! use kinesis_source::{
//!     FileCheckpointStore, KinesisSource, KinesisSourceConfig, RecordSource, StartPosition,
//!     StreamRef,
//! };
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Every call has a time limit, so a service that stops answering never hangs the reader.
//!     let timeouts = aws_config::timeout::TimeoutConfig::builder()
//!         .connect_timeout(Duration::from_secs(3))
//!         .operation_attempt_timeout(Duration::from_secs(20))
//!         .build();
//!     let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
//!         .timeout_config(timeouts)
//!         .load()
//!         .await;
//!     let client = aws_sdk_kinesis::Client::new(&sdk_config);
//!     let stream = StreamRef::parse("follows"); // a stream name or ARN
//!
//!     let producer_config = ProducerConfig::builder(stream.clone()).build()?;
//!     let producer = KinesisProducer::from_client(client.clone(), producer_config)?;
//!     let records = (0..100)
//!         .map(|i| ProducerRecord::new(format!("user-{}", i % 7), format!("{i},{},2019-01-15", i + 1)))
//!         .collect();
//!     for outcome in producer.put(records).await {
//!         outcome?; // a receipt (shard id, sequence number) or a typed failure
//!     }
//!
//!     let config = KinesisSourceConfig::builder(stream)
//!         .start_position(StartPosition::TrimHorizon) // the default is LATEST, as the original
//!         .build()?;
//!     let store = Arc::new(FileCheckpointStore::new("checkpoints.json"));
//!     let mut source = KinesisSource::from_client(client, config, store).await?;
//!     source.shutdown_handle().trigger_on_signals(); // Ctrl-C / SIGTERM end the loop below
//!     while let Some(batch) = source.next_batch().await? {
//!         println!("{} records from {}", batch.records.len(), batch.shard_id);
//!         batch.ack_all(); // after the records were written somewhere
//!     }
//!     source.shutdown().await?; // waits for acks, writes the final checkpoints
//!     Ok(())
//! }
//! ```
#![warn(missing_docs)]

pub mod ack;
pub mod api;
pub mod checkpoint;
mod checkpoint_writer;
mod config;
mod error;
mod kinesis_source;
pub mod kpl;
pub mod limits;
mod memory;
pub mod metrics;
pub mod producer;
mod record;
#[cfg(feature = "kinesis")]
mod sdk;
mod shard_reader;
mod shutdown;
mod source;
mod supervisor;

pub use ack::Acker;
pub use checkpoint::{Checkpoint, CheckpointStore, FileCheckpointStore, MemoryCheckpointStore};
pub use config::{KinesisSourceConfig, KinesisSourceConfigBuilder, StartPosition, StreamRef};
pub use error::SourceError;
pub use kinesis_source::KinesisSource;
pub use memory::{MemorySource, MemoryStream};
pub use record::{Record, RecordBatch, SequenceNumber, ShardId};
pub use shutdown::ShutdownHandle;
pub use source::RecordSource;
/// What a [`KinesisSourceConfig`] or a [`ProducerConfig`](producer::ProducerConfig) outside what
/// the service or this crate accepts answers.
pub use stream2neptune_common::ConfigError;
