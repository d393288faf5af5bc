//! Endpoints of the services the workspace's tests and examples need.
//!
//! Each service is found the same way, in this order:
//!
//! 1. **An environment variable** names it (`GREMLIN_URL`, `KINESIS_ENDPOINT_URL`,
//!    `CLOUDWATCH_ENDPOINT_URL`, `DYNAMODB_ENDPOINT_URL`), so the whole suite can run against real Amazon Neptune, Kinesis
//!    and CloudWatch, or against any other local implementation.
//! 2. **Gremlin Server only:** where a Docker engine answers, a `tinkerpop/gremlin-server`
//!    container is started through `testcontainers`, with this project's configuration.
//! 3. **The local default:** the Gremlin Server that `scripts/gremlin-server.sh start` runs on
//!    127.0.0.1:8182; the CloudWatch API that `scripts/cloudwatch-local.sh start` runs on
//!    127.0.0.1:4566; for Kinesis and DynamoDB, emulators embedded in this process (nothing to
//!    start).
//!
//! The Gremlin Server over TLS (`wss://`, with a private CA made for the run) is found only
//! through `GREMLIN_TLS_URL` (and `GREMLIN_TLS_CA_FILE`), or on its local default port 8192
//! ([`gremlin_tls`]).
//!
//! JanusGraph Server, the second graph engine, is not found on its own: the main job starts it
//! with `scripts/janusgraph-server.sh` when asked for ([`ensure_local_janusgraph`]).
//!
//! The Lambda function runs behind the AWS Lambda runtime interface emulator
//! ([`LambdaFunction`]), which `scripts/lambda-rie.sh install` builds (or `LAMBDA_RIE` names).
//!
//! A service that is needed and cannot be found is an error whose message names the command that
//! starts it. Tests turn that into a failure: nothing passes by being skipped.
//!
//! # Why this crate is published
//!
//! It is test support, published (as `stream2neptune-local-services`, library name
//! `local_services`) so that what `cargo package` ships of `kinesis-source`, `neptune-batch` and
//! `metrics-sink` builds and runs its own integration tests: they are the same tests as in the
//! repository, against the same services, not a reduced copy. The alternative, tests made
//! self-contained inside each crate, would have meant three copies of this crate's service
//! finding, or shipping fewer tests than the repository runs. Outside the repository, point
//! the tests at their services with the environment variables above (the Kinesis emulator is
//! embedded and needs nothing); the scripts named in the messages, and the Gremlin Server
//! container's configuration, are in the repository (`STREAM2NEPTUNE_ROOT` names a checkout).
#![warn(missing_docs)]

mod aws;
pub mod change_model;
mod cloudwatch;
mod docker;
mod dynamodb;
mod embedded_server;
mod fault_proxy;
mod gremlin;
mod janusgraph;
mod kinesis;
mod kinesis_fan_out;
mod lambda;
pub mod metric_names;
mod service_script;
mod sigv4_gate;
mod tcp_forwarder;

pub use aws::{
    cloudwatch_client, create_stream_and_wait, kinesis_client, list_shards, put_record,
    put_records, sdk_config, split_shard_in_half, split_whole_shard_and_wait, stream_arn,
    trim_horizon_iterator, wait_until_active,
};
pub use cloudwatch::{cloudwatch, CloudWatchEndpoint};
pub use dynamodb::{dynamodb, DynamoDbEndpoint, EmbeddedDynamoDb};
pub use fault_proxy::{Fault, FaultProxy};
pub use gremlin::{
    ensure_local_gremlin, gremlin, gremlin_tls, stop_local_gremlin, stop_local_gremlin_command,
    GremlinEndpoint, GremlinOrigin, GremlinTlsEndpoint, OwnGremlinServer, START_GREMLIN_TLS,
};
pub use janusgraph::{
    ensure_local_janusgraph, start_local_janusgraph_command, stop_local_janusgraph,
    stop_local_janusgraph_command, JANUSGRAPH_DEFAULT_PORT,
};
pub use kinesis::{kinesis, EmbeddedKinesis, EmbeddedKinesisOptions, KinesisEndpoint};
pub use lambda::{lambda_emulator, InvokeError, LambdaFunction, LAMBDA_RIE_VERSION};
pub use sigv4_gate::{SigV4Gate, SigV4Verifier, SignatureError, NEPTUNE_DB_SERVICE};
pub use tcp_forwarder::TcpForwarder;

use std::path::PathBuf;

/// A service that is needed and was not found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The service does not answer; the message says how to start it.
    #[error("{service} is not available: {reason}\n  -> {how_to_start}")]
    Unavailable {
        /// Which service.
        service: &'static str,
        /// What was tried.
        reason: String,
        /// The command (or variable) that provides it.
        how_to_start: String,
    },
}

/// A missing service stays missing until someone starts it: a setting to change, not a moment
/// to wait out.
impl stream2neptune_common::Classify for ServiceError {
    fn kind(&self) -> stream2neptune_common::ErrorKind {
        stream2neptune_common::ErrorKind::Usage
    }
}

/// The workspace root (where `scripts/` lives), found from this crate's manifest directory or
/// from `STREAM2NEPTUNE_ROOT`.
pub fn workspace_root() -> PathBuf {
    if let Ok(root) = std::env::var("STREAM2NEPTUNE_ROOT") {
        return PathBuf::from(root);
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// A name unique within this machine and run, for streams and namespaces created by tests.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether something accepts TCP connections on `addr` within `timeout`.
pub(crate) async fn tcp_answers(addr: &str, timeout: std::time::Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}
