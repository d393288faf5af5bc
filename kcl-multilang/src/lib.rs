//! Record processors in Rust for the Amazon Kinesis Client Library's **MultiLangDaemon**.
//!
//! The KCL (a Java library) keeps shard leases, failover, load balancing and checkpoints in
//! DynamoDB. Its MultiLangDaemon runs the record processing of each shard it holds in a child
//! process of any language, speaking a line protocol on that process's standard input and
//! output: one JSON object per line, told apart by an `action` field. This crate is that
//! protocol:
//!
//! * [`message`]: the messages, [`Incoming`](message::Incoming) from the daemon (`initialize`,
//!   `processRecords`, `leaseLost`, `shardEnded`, `shutdownRequested`, the older `shutdown`, and
//!   the answers to checkpoint requests) and [`Outgoing`](message::Outgoing) to it (`status`,
//!   `checkpoint`), with the record fields the daemon sends ([`KclRecord`]: base64 data,
//!   sequence and sub-sequence numbers, partition key, approximate arrival time);
//! * [`ShardRecordProcessor`]: what a processor implements, one async method per message, with
//!   a [`Checkpointer`] for the methods that may checkpoint;
//! * [`run`] / [`run_stdio`]: the loop that reads a message, calls the processor, and answers
//!   with a status once the method returned.
//!
//! Every error implements [`stream2neptune_common::Classify`]: a checkpoint refused for the
//! moment (throttling) is retriable, a broken pipe to the daemon is not (nothing in this
//! process can mend it).
//!
//! The daemon's rules this follows: it sends one message and waits for its status before the
//! next; a processor may checkpoint only while the daemon waits for such a status (each
//! checkpoint request is answered with the outcome, naming the KCL exception when it failed:
//! `ShutdownException` means the lease is gone, see [`CheckpointError::is_lease_lost`]); after
//! `leaseLost`, `shardEnded` or `shutdownRequested` has been answered the daemon closes the
//! process's input and waits for it to exit; a processor that fails makes the daemon stop.
//! Standard output belongs to the protocol: log to standard error, which the daemon copies to its
//! own log.
//!
//! Why by hand: the protocol is a few small JSON messages over two pipes, and the crates that
//! speak it wrap a synchronous callback interface without async or typed checkpoint errors.
//!
//! # Example
//!
//! A processor that counts records and checkpoints after each batch, driven here by a scripted
//! daemon (a real one runs the built binary with [`run_stdio`]):
//!
//! ```
//! use async_trait::async_trait;
//! use kcl_multilang::{run, Checkpointer, InitializeInput, ProcessRecordsInput, ShardRecordProcessor};
//!
//! #[derive(Default)]
//! struct Counter { shard: String, records: usize }
//!
//! #[async_trait]
//! impl ShardRecordProcessor for Counter {
//!     type Error = std::io::Error;
//!     async fn initialize(&mut self, input: InitializeInput) -> Result<(), Self::Error> {
//!         self.shard = input.shard_id;
//!         Ok(())
//!     }
//!     async fn process_records(
//!         &mut self,
//!         input: ProcessRecordsInput,
//!         checkpointer: &mut Checkpointer<'_>,
//!     ) -> Result<(), Self::Error> {
//!         self.records += input.records.len();
//!         if let Some(last) = input.records.last() {
//!             if let Err(e) = checkpointer.checkpoint(&last.sequence_number, last.sub_sequence_number).await {
//!                 eprintln!("checkpoint not stored: {e}");
//!             }
//!         }
//!         Ok(())
//!     }
//!     async fn lease_lost(&mut self) -> Result<(), Self::Error> { Ok(()) }
//!     async fn shard_ended(&mut self, checkpointer: &mut Checkpointer<'_>) -> Result<(), Self::Error> {
//!         checkpointer.checkpoint_end().await.map_err(std::io::Error::other)
//!     }
//!     async fn shutdown_requested(&mut self, _: &mut Checkpointer<'_>) -> Result<(), Self::Error> { Ok(()) }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // What a daemon would write: a shard, a batch of two records ("a,b" and "c,d" in base64),
//! // the answer to the processor's checkpoint request, the end of the shard and the answer to
//! // the end checkpoint.
//! let from_daemon = concat!(
//!     r#"{"action":"initialize","shardId":"shardId-000000000000","sequenceNumber":"TRIM_HORIZON"}"#, "\n",
//!     r#"{"action":"processRecords","millisBehindLatest":0,"records":["#,
//!     r#"{"action":"record","data":"YSxi","partitionKey":"a","sequenceNumber":"100","subSequenceNumber":0,"approximateArrivalTimestamp":1700000000000},"#,
//!     r#"{"action":"record","data":"Yyxk","partitionKey":"c","sequenceNumber":"101","subSequenceNumber":0,"approximateArrivalTimestamp":1700000000001}]}"#, "\n",
//!     r#"{"action":"checkpoint","sequenceNumber":"101","subSequenceNumber":0,"error":null}"#, "\n",
//!     r#"{"action":"shardEnded"}"#, "\n",
//!     r#"{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null,"error":null}"#, "\n",
//! );
//! let (to_daemon, mut answers) = tokio::io::duplex(4096);
//! let mut counter = Counter::default();
//! let summary = run(&mut counter, from_daemon.as_bytes(), to_daemon).await?;
//! assert_eq!(counter.records, 2);
//! assert_eq!(summary.ending, kcl_multilang::Ending::ShardEnded);
//!
//! let mut written = String::new();
//! tokio::io::AsyncReadExt::read_to_string(&mut answers, &mut written).await?;
//! assert_eq!(written.lines().collect::<Vec<_>>(), [
//!     r#"{"action":"status","responseFor":"initialize"}"#,
//!     r#"{"action":"checkpoint","sequenceNumber":"101","subSequenceNumber":0}"#,
//!     r#"{"action":"status","responseFor":"processRecords"}"#,
//!     r#"{"action":"checkpoint"}"#,
//!     r#"{"action":"status","responseFor":"shardEnded"}"#,
//! ]);
//! # Ok(())
//! # }
//! ```
//!
//! # Running it under the daemon
//!
//! The daemon is `software.amazon.kinesis:amazon-kinesis-client-multilang` from Maven Central,
//! started as `java -cp 'lib/*' software.amazon.kinesis.multilang.MultiLangDaemon --properties-file
//! app.properties`, where `executableName` names the processor binary. It starts one process of
//! it per shard lease. This workspace's `scripts/kcl-fleet.sh` resolves the daemon and starts a
//! fleet of workers on one machine.
#![warn(missing_docs)]

mod channel;
mod driver;
mod error;
pub mod message;
mod processor;

pub use driver::{run, run_stdio, Ending, Summary};
pub use error::{ChannelError, CheckpointError, DriverError};
pub use message::KclRecord;
pub use processor::{Checkpointer, InitializeInput, ProcessRecordsInput, ShardRecordProcessor};
