//! The wiring of the workspace's crates into the stream-to-graph system, used by the binaries
//! in `src/bin/` and by the end-to-end tests. The consumer loop itself is the `graph-ingest`
//! library; what is here is configuration, services and output.
//!
//! * [`cli`]: command-line pieces the binaries share.
//! * [`consumer`]: the consumer built from plain options (Kinesis + Gremlin + files).
//! * [`main_job`]: the whole system on one machine, end to end (the `stream-2-neptune` binary).
//! * [`producer`]: the Kinesis producer as a `workload_gen::RecordSink`, so the driver can feed it.
//! * [`report`]: the HTML run report with SVG charts.
//! * [`metrics_setup`]: metrics to memory and, optionally, CloudWatch.
//! * [`pause`]: the pause switch (the original's `wait` parameter).
#![warn(missing_docs)]

pub mod cli;
pub mod consumer;
pub mod main_job;
pub mod metrics_setup;
pub mod pause;
pub mod producer;
pub mod report;
