//! The writer as an AWS Lambda function on a Kinesis event source mapping.
//!
//! The mapping reads each shard and invokes the function with up to `BatchReadSize` records of
//! one shard, in order. The function maps them ([`RecordMapper`](crate::RecordMapper),
//! [`FollowsCsv`](crate::FollowsCsv) by default), writes them through one [`GraphSink`](neptune_batch::GraphSink) kept
//! for the life of its execution environment, and answers with a partial batch response
//! (`{"batchItemFailures":[{"itemIdentifier":"<sequence number>"}]}`) naming the first record,
//! in shard order, that is not in the graph, so the mapping checkpoints everything before it
//! and retries only from there. The original threw instead: the whole batch came back, and one
//! bad record blocked its shard until the record expired.
//!
//! What happens to a record that can never be written (an undecodable payload, a constraint
//! violation) is shared between the handler and the mapping's settings (see `deploy/`):
//!
//! * By default ([`PoisonPolicy::Report`]) it is named like any failure. The mapping retries
//!   from it; `BisectBatchOnFunctionError` narrows the retried batch down to it;
//!   `MaximumRetryAttempts` and `MaximumRecordAgeInSeconds` bound how long it is tried; then
//!   its shard and sequence range go to the on-failure destination (an SQS queue) and the shard
//!   moves on. The handler logs the record with its payload each time ([`LogDeadLetters`]), so
//!   the message in the queue leads to the data.
//! * With `poison_records=dead_letter` ([`PoisonPolicy::DeadLetter`]) it is logged and skipped
//!   at once. Failures that may clear up (a missing endpoint vertex, a transient error) are
//!   still named and retried.
//!
//! The original's metrics (`EdgesSubmitted`, `WriteDuration`, `RetryCount`, plus
//! `WriteErrors`) are recorded per write request and flushed at the end of every invocation,
//! including those that partly fail.
//!
//! * [`LambdaConfig`]: the environment variables (`neptune_endpoint`, `neptune_port`,
//!   `batch_write_size`, `conditional_create`, `percent_error`, `cluster_id`, `wait`, plus
//!   `neptune_tls`, `neptune_iam_auth`, `neptune_tls_server_name`, `neptune_signing_host`,
//!   `neptune_ca_file`, `write_mode`, `poison_records`, `record_format`, `placeholder_label`);
//!   [`RecordFormat`] chooses the mapper: [`FollowsCsv`](crate::FollowsCsv) or
//!   [`ChangeJson`](crate::ChangeJson).
//! * [`handle_event`]: one event, given the sink: the function's logic, callable in-process.
//! * [`WriterEnvironment`]: the per-environment state (lazy connection, dead letters, metrics)
//!   that the `kinesis-lambda` binary hands to the Lambda runtime.
//! * [`event`]: reading the event, and writing one from records read off a stream.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use aws_lambda_events::event::kinesis::KinesisEvent;
//! use neptune_batch::{GraphSink, MemoryGraph, Vertex};
//! use graph_ingest::FollowsCsv;
//! use graph_ingest::dead_letter::MemoryDeadLetters;
//! use graph_ingest::lambda::{handle_event, LambdaConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let graph = MemoryGraph::new();
//! graph.write_vertices(&[Vertex::new("1", "person"), Vertex::new("2", "person")]).await.unwrap();
//! // "1,2,2019-01-02" and then a payload that is not a follow request.
//! let event: KinesisEvent = serde_json::from_value(serde_json::json!({"Records": [
//!     {"eventID": "shardId-000000000000:10", "eventSource": "aws:kinesis",
//!      "kinesis": {"sequenceNumber": "10", "partitionKey": "1",
//!                  "data": "MSwyLDIwMTktMDEtMDI=", "approximateArrivalTimestamp": 1.5e9}},
//!     {"eventID": "shardId-000000000000:11", "eventSource": "aws:kinesis",
//!      "kinesis": {"sequenceNumber": "11", "partitionKey": "1",
//!                  "data": "bm9wZQ==", "approximateArrivalTimestamp": 1.5e9}}
//! ]})).unwrap();
//! let config = LambdaConfig {
//!     neptune_endpoint: "unused-here".into(),
//!     cluster_id: "my-cluster".into(),
//!     wait: false,
//!     ..LambdaConfig::default()
//! };
//! let metrics = metrics_sink::MemoryMetrics::new();
//! let dead = MemoryDeadLetters::default();
//! let mapper = FollowsCsv::new(config.schema.clone());
//! let done = handle_event(&event, &mapper, &graph, &dead, &metrics, &config).await.unwrap();
//! assert_eq!(done.written, 1);
//! assert_eq!(
//!     serde_json::to_string(&done.response).unwrap(),
//!     r#"{"batchItemFailures":[{"itemIdentifier":"11"}]}"#
//! );
//! assert_eq!(dead.all()[0].sequence_number, "11");
//! # }
//! ```

mod config;
mod environment;
pub mod event;
mod handler;

pub use config::{LambdaConfig, PoisonPolicy, RecordFormat, WAIT_MESSAGE};
pub use environment::{connect_sink, Connector, LogDeadLetters, WriterEnvironment};
pub use handler::{handle_event, FailedRecord, HandlerError, Invocation, METRICS_FLUSH_TIMEOUT};

#[doc(no_inline)]
pub use aws_lambda_events::event::kinesis::KinesisEvent;
#[doc(no_inline)]
pub use aws_lambda_events::event::streams::KinesisEventResponse;
