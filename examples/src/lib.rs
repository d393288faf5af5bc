//! The wiring of the workspace's crates into the stream-to-graph system, used by the binaries
//! in `src/bin/` and by the end-to-end tests. The consumer loop itself is the `graph-ingest`
//! library; what is here is configuration, services and output.
//!
//! * [`cli`]: command-line pieces the binaries share.
//! * [`connection`]: how the binaries reach the Gremlin endpoint (TLS name, signing host, CA
//!   file, IAM).
//! * [`consumer`]: the consumer built from plain options (Kinesis + Gremlin + files).
//! * [`main_job`]: the whole system on one machine, end to end (the `stream-2-neptune` binary).
//! * [`producer`]: the Kinesis producer as a `workload_gen::RecordSink`, so the driver can feed it.
//! * [`report`]: the HTML run report with SVG charts.
//! * [`metrics_setup`]: metrics to memory and, optionally, CloudWatch.
//! * [`pause`]: the pause switch (the original's `wait` parameter).
//! * [`kinesis_probe`]: the speed and resharding probe of a Kinesis API endpoint.
//! * [`kcl_fleet`]: a fleet of KCL workers driven and measured (the `kcl-fleet-bench` binary).
//! * [`process_memory`]: resident memory of processes and process groups.
//!
//! Every binary follows the same command-line conventions (`docs/cli.md`): `--help` and
//! `--version`, an environment variable for every flag, logs filtered by `RUST_LOG`, progress
//! only on a terminal, and errors as one line with an exit status per class ([`cli`]).
#![warn(missing_docs)]

pub mod cli;
pub mod connection;
pub mod consumer;
pub mod kcl_fleet;
pub mod kinesis_probe;
pub mod main_job;
pub mod metrics_setup;
pub mod pause;
pub mod process_memory;
pub mod producer;
pub mod reference_run;
pub mod report;
