//! Named metrics with a unit, dimensions and a timestamp, recorded without blocking the caller
//! and shipped without losing them when a flush fails.
//!
//! * [`MetricsSink`]: the trait. `record` is synchronous, cheap and never waits for the
//!   network; `flush` ships.
//! * [`MetricDatum`]: one measurement (name, [`Unit`], [`Dimension`]s, timestamp, resolution).
//! * [`CloudWatchSink`]: aggregates in memory per metric, dimension set, unit and period into
//!   value/count lists or statistic sets, sends `PutMetricData` requests within every service
//!   limit from a background task (on an interval, on `flush`, on `close` and on drop), retries
//!   throttling and server errors with bounded back-off, and keeps the data of a failed flush
//!   for the next one. Configured by [`CloudWatchConfig::builder`]; the rest is in
//!   [`cloudwatch`], [`aggregate`] and [`requests`].
//! * [`EmfSink`]: CloudWatch embedded metric format, one JSON document per line on any
//!   writer (standard output in AWS Lambda, where CloudWatch Logs extracts the metrics): no API
//!   call, every limit of the format kept; flushed at the end of each invocation ([`emf`]).
//! * [`ConsoleSink`]: one live line for local runs (edges/s, write p50/p99, lag, retries,
//!   errors; [`console`]). [`MemoryMetrics`]: everything in memory, for tests.
//!   [`FanoutSink`]: several sinks at once (the console line and CloudWatch).
//!   [`DiscardMetrics`]: nothing.
//! * [`MetricsBridge`]: a `metrics` facade recorder, so libraries that record with
//!   `counter!`/`gauge!`/`histogram!` land in any sink.
//! * [`dashboard`]: a CloudWatch dashboard body like the original's.
//! * [`names`]: the original's namespace, dimension and metric names, and this workspace's;
//!   [`limits`]: CloudWatch's and the embedded metric format's.
//!
//! Every error implements [`stream2neptune_common::Classify`]: a throttled or unanswered
//! request is retriable, a refused one or a bad configuration is a
//! [`Usage`](stream2neptune_common::ErrorKind::Usage) error.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use metrics_sink::{names, MemoryMetrics, MetricDatum, MetricsBridge, MetricsSink, Unit};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), metrics_sink::MetricsError> {
//! let sink = MemoryMetrics::new();
//! sink.record(
//!     MetricDatum::new(names::EDGES_SUBMITTED, Unit::Count, 100.0)
//!         .dimension(names::CLUSTER_ID, "my-cluster"),
//! );
//! sink.record(MetricDatum::new(names::WRITE_DURATION, Unit::Milliseconds, 42.0));
//! sink.flush().await?;
//! assert_eq!(sink.sum(names::EDGES_SUBMITTED), 100.0);
//! assert_eq!(sink.values(names::WRITE_DURATION), vec![42.0]);
//!
//! // What libraries record through the `metrics` facade lands in the same sink.
//! let bridge = MetricsBridge::new(Arc::new(sink.clone()));
//! metrics::with_local_recorder(&bridge, || {
//!     metrics::counter!(names::EDGES_SUBMITTED, "shard" => "shardId-0").increment(50);
//! });
//! assert_eq!(sink.sum(names::EDGES_SUBMITTED), 150.0);
//!
//! // The dashboard of the original, for any cluster.
//! let dashboard = metrics_sink::dashboard::DashboardConfig::builder("my-cluster", "us-east-1")
//!     .build()?;
//! assert!(dashboard.body_json().contains("EdgesSubmitted"));
//! # Ok(())
//! # }
//! ```
//!
//! Sending to CloudWatch (feature `cloudwatch`, on by default) with the AWS SDK's client,
//! configured as usual (credentials and region from the environment or a profile,
//! `AWS_ENDPOINT_URL_CLOUDWATCH` for a local API):
//!
//! ```no_run
//! use metrics_sink::{CloudWatchConfig, CloudWatchSink, MetricDatum, MetricsSink, Unit, names};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//!     let client = aws_sdk_cloudwatch::Client::new(&sdk_config);
//!     let config = CloudWatchConfig::builder().cluster_id("my-cluster").build()?;
//!     let sink = CloudWatchSink::start(client, config)?;
//!     sink.record(MetricDatum::new(names::WRITE_DURATION, Unit::Milliseconds, 12.5));
//!     let report = sink.close().await?; // the last flush
//!     println!("sent {} datums in {} requests", report.sent, report.requests);
//!     Ok(())
//! }
//! ```
#![warn(missing_docs)]

pub mod aggregate;
mod bridge;
pub mod cloudwatch;
pub mod console;
pub mod dashboard;
mod datum;
mod discard;
pub mod emf;
mod error;
mod fanout;
pub mod limits;
mod memory;
pub mod names;
mod naming;
pub mod requests;
mod sink;

pub use bridge::MetricsBridge;
pub use cloudwatch::{CloudWatchConfig, CloudWatchConfigBuilder, CloudWatchSink};
pub use console::ConsoleSink;
pub use datum::{DatumError, Dimension, MetricDatum, Unit};
pub use discard::DiscardMetrics;
pub use emf::EmfSink;
pub use error::MetricsError;
pub use fanout::FanoutSink;
pub use memory::MemoryMetrics;
pub use sink::{FlushReport, MetricsSink};
/// What a configuration outside the service's or the format's limits answers.
pub use stream2neptune_common::ConfigError;
