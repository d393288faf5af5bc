//! [`EmfSink`]: a [`MetricsSink`](crate::MetricsSink) that writes CloudWatch embedded metric
//! format (EMF) documents, one JSON object per line, which CloudWatch Logs turns into metrics
//! without any API call; its configuration, its documents (written and read back) and its
//! counts.
//!
//! This is how an AWS Lambda function publishes metrics: what it prints on standard output
//! goes to its log group, and CloudWatch extracts the metrics of every line that carries an
//! `_aws` member. Nothing is sent over the network from the function, so publishing costs no
//! time of the invocation, needs no `cloudwatch:PutMetricData` permission and cannot fail for
//! want of a route to the CloudWatch endpoint. Long-running consumers keep
//! [`CloudWatchSink`](crate::CloudWatchSink), which aggregates and calls the API.
//!
//! # The documents
//!
//! ```json
//! {"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"aws-samples/stream-2-neptune",
//!   "Dimensions":[["clusterId"]],"Metrics":[{"Name":"EdgesSubmitted","Unit":"Count","StorageResolution":1}]}]},
//!  "clusterId":"my-cluster","EdgesSubmitted":[100,100,42]}
//! ```
//!
//! (shown on three lines here; each document is written on one.) Every document follows the
//! specification's rules: an `_aws` metadata object with the timestamp in milliseconds and one
//! metric directive; one dimension set naming every dimension of its metrics (at most 30), whose
//! values are root members; at most [`MAX_METRICS_PER_DOCUMENT`] metric definitions, each with
//! its name, unit and storage resolution (1 or 60 s), whose values are a root member holding a
//! number or an array of at most [`MAX_VALUES_PER_METRIC`] numbers; and at most
//! [`EmfConfig::max_document_bytes`] bytes (256 KiB by default, the size of a log event that
//! every CloudWatch Logs client accepts).
//!
//! Data points are kept as recorded, not aggregated: EMF has no value/count pairs, and
//! CloudWatch computes every statistic, percentiles included, from the values of a line. Points
//! of one dimension set and one period (the second for high-resolution metrics, the minute for
//! the others) share documents; a metric with more than 100 values, or recorded with two units
//! in the same period, continues in further documents.
//!
//! # Why it is written here
//!
//! The crates that write EMF (`metrics_cloudwatch_embedded`, `metrique-writer-format-emf`) each
//! bring their own metric model (a `metrics` recorder with its own aggregation, or
//! struct-per-unit-of-work entries); neither takes this crate's [`MetricDatum`]s with their
//! units, dimensions and timestamps, keeps the original's names and resolution, and checks the
//! specification's limits the way [`CloudWatchSink`](crate::CloudWatchSink) checks the API's.
//! The format itself is small: the document is assembled here with `serde_json` doing the
//! escaping and number formatting.
//!
//! [`MAX_METRICS_PER_DOCUMENT`]: crate::limits::MAX_METRICS_PER_DOCUMENT
//! [`MAX_VALUES_PER_METRIC`]: crate::limits::MAX_VALUES_PER_METRIC
//! [`MetricDatum`]: crate::MetricDatum

mod config;
mod document;
mod parse;
mod sink;

pub use config::{EmfConfig, EmfConfigBuilder};
pub use document::{EmfDocument, EmfFormatError, EmfMetric};
pub use sink::{EmfSink, EmfStats};

/// The root member holding the metadata.
const METADATA: &str = "_aws";
