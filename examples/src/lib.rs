//! The composition of the workspace's crates into the stream-to-graph system: small adapters
//! and the consumer loop, used by the binaries in `src/bin/` and by the end-to-end tests.
//!
//! * [`cli`]: command-line pieces the binaries share.
//! * [`consumer`]: the consumer built from plain options (Kinesis + Gremlin + files).
//! * [`pipeline`]: `RecordSource` → decode → `GraphSink` → acknowledge, with dead letters.
//! * [`dead_letter`]: where records that cannot be decoded or written go.
//! * [`producer`]: the Kinesis producer as a `workload_gen::RecordSink`, so the driver can feed it.
//! * [`report`]: the HTML run report with SVG charts.
//! * [`stats`]: counters and latency histograms of a run, sampled over time.
//! * [`metrics_setup`]: metrics to memory and, optionally, CloudWatch.
//! * [`pause`]: the pause switch (the original's `wait` parameter).
#![warn(missing_docs)]

pub mod cli;
pub mod consumer;
pub mod dead_letter;
pub mod lambda;
pub mod metrics_setup;
pub mod pause;
pub mod pipeline;
pub mod producer;
pub mod report;
pub mod stats;
