//! A client for Neptune's bulk-loader REST API: start a load from S3, then poll it to the end.
//!
//! `POST {endpoint}/loader` with a JSON body starts a load and answers with its `loadId`;
//! `GET {endpoint}/loader/{loadId}` (optionally `?details=true&errors=true`) answers with its
//! status. [`BulkLoaderClient::load`] does both and polls every 2 s (configurable) until the
//! load completes or fails, within an overall deadline, handing each status to a progress
//! callback.
//!
//! Every HTTP call has a timeout. Calls that fail with a 5xx or 429 status, or cannot connect,
//! are sent again with exponential back-off and full jitter, a bounded number of times. A
//! status poll is also sent again after a timeout; the `POST` that starts a load is not,
//! because the server may have started the load before the answer was lost, and a second
//! `POST` would start a second load.
//!
//! # IAM authentication
//!
//! A cluster with IAM database authentication wants every request signed (SigV4, service
//! `neptune-db`). The client does not sign by itself: give it a [`RequestSigner`] with
//! [`BulkLoaderClient::with_signer`], and it is called on every attempt, just before the
//! request is sent, with the final method, URL, headers and body, so a fresh signature is made
//! each time (a retried request is signed again).

use super::metrics as names;
use crate::retry::RetryPolicy;
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the original system polled a load's status.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Where the loader is and how patiently to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkLoaderConfig {
    /// The cluster's HTTP(S) endpoint with its port, e.g.
    /// `https://my-cluster.cluster-xyz.us-east-1.neptune.amazonaws.com:8182`.
    pub endpoint: String,
    /// Time allowed for one HTTP call, from sending to the last byte of the answer. Default 30 s.
    pub request_timeout: Duration,
    /// Time allowed to open a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Wait between two status polls. Default 2 s, as in the original system.
    pub poll_interval: Duration,
    /// Time allowed for a whole load, from its start to its end. Default 2 h.
    pub deadline: Duration,
    /// Retries per HTTP call: default 4 (5 attempts), at most 19, waits from 200 ms doubling
    /// up to 10 s, full jitter.
    pub retry: RetryPolicy,
    /// Ask for `details=true&errors=true` when polling, so failed feeds and the first error
    /// records come with the status. Default true.
    pub status_details: bool,
}

impl Default for BulkLoaderConfig {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            poll_interval: DEFAULT_POLL_INTERVAL,
            deadline: Duration::from_secs(2 * 60 * 60),
            retry: RetryPolicy {
                max_retries: 4,
                base_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(10),
            },
            status_details: true,
        }
    }
}

impl BulkLoaderConfig {
    /// The defaults, at `endpoint`.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            ..Default::default()
        }
    }

    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<(), BulkLoadError> {
        let bad =
            |field: &'static str, message: String| Err(BulkLoadError::Config { field, message });
        match reqwest::Url::parse(&self.endpoint) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            Ok(url) => {
                return bad(
                    "endpoint",
                    format!("{url} is not an http(s) URL with a host"),
                )
            }
            Err(e) => return bad("endpoint", format!("{:?}: {e}", self.endpoint)),
        }
        for (field, value) in [
            ("request_timeout", self.request_timeout),
            ("connect_timeout", self.connect_timeout),
            ("poll_interval", self.poll_interval),
            ("deadline", self.deadline),
        ] {
            if value.is_zero() {
                return bad(field, "must be above zero".into());
            }
        }
        if self.retry.max_retries > 19 {
            return bad(
                "retry.max_retries",
                format!("must be at most 19, got {}", self.retry.max_retries),
            );
        }
        if self.retry.base_delay > self.retry.max_delay {
            return bad("retry.base_delay", "must not exceed retry.max_delay".into());
        }
        Ok(())
    }
}

/// The data format of a load. Only `csv` (Gremlin CSV) is used by this workspace; the others
/// are what the loader also accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadFormat {
    /// Gremlin CSV (`csv`).
    #[default]
    Csv,
    /// openCypher CSV (`opencypher`).
    OpenCypher,
    /// RDF N-Triples (`ntriples`).
    NTriples,
}

impl LoadFormat {
    fn as_str(self) -> &'static str {
        match self {
            LoadFormat::Csv => "csv",
            LoadFormat::OpenCypher => "opencypher",
            LoadFormat::NTriples => "ntriples",
        }
    }
}

/// The loader's `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// `NEW`: a new load.
    New,
    /// `RESUME`: resume an earlier load from the same source.
    Resume,
    /// `AUTO`: resume when an earlier load from the same source exists, else new.
    Auto,
}

/// The loader's `parallelism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parallelism {
    /// `LOW`.
    Low,
    /// `MEDIUM`.
    Medium,
    /// `HIGH`.
    High,
    /// `OVERSUBSCRIBE`.
    Oversubscribe,
}

/// The body of `POST /loader`. [`LoadRequest::new`] gives the original system's request:
/// format `csv`, `failOnError` `FALSE`, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadRequest {
    /// The S3 URI of a file or a folder (`s3://bucket/prefix/`).
    pub source: String,
    /// The data format.
    pub format: LoadFormat,
    /// The IAM role the cluster assumes to read S3.
    pub iam_role_arn: String,
    /// The region of the S3 bucket.
    pub region: String,
    /// Stop at the first error (`TRUE`) or load what can be loaded (`FALSE`, the default).
    pub fail_on_error: bool,
    /// `mode`, sent when set.
    pub mode: Option<LoadMode>,
    /// `parallelism`, sent when set.
    pub parallelism: Option<Parallelism>,
    /// `updateSingleCardinalityProperties`, sent when set.
    pub update_single_cardinality_properties: Option<bool>,
    /// `queueRequest`, sent when set.
    pub queue_request: Option<bool>,
    /// `dependencies`: load ids that must complete first; sent when not empty (needs
    /// `queue_request`).
    pub dependencies: Vec<String>,
}

impl LoadRequest {
    /// The original system's request for `source`.
    pub fn new(
        source: impl Into<String>,
        iam_role_arn: impl Into<String>,
        region: impl Into<String>,
    ) -> Self {
        Self {
            source: source.into(),
            format: LoadFormat::Csv,
            iam_role_arn: iam_role_arn.into(),
            region: region.into(),
            fail_on_error: false,
            mode: None,
            parallelism: None,
            update_single_cardinality_properties: None,
            queue_request: None,
            dependencies: Vec::new(),
        }
    }

    /// Checks the fields the loader would refuse; the error names the field.
    pub fn validate(&self) -> Result<(), BulkLoadError> {
        let bad = |field: &'static str, message: &str| {
            Err(BulkLoadError::Config {
                field,
                message: message.to_owned(),
            })
        };
        if !self.source.starts_with("s3://") {
            return bad("source", "must be an s3:// URI");
        }
        if self.iam_role_arn.is_empty() {
            return bad("iam_role_arn", "is required");
        }
        if self.region.is_empty() {
            return bad("region", "is required");
        }
        // Dependencies apply to queued loads, and the loader queues at most 64 loads.
        if !self.dependencies.is_empty() && self.queue_request != Some(true) {
            return bad("dependencies", "need queue_request set to true");
        }
        if self.dependencies.len() > 64 {
            return bad("dependencies", "the loader queues at most 64 loads");
        }
        Ok(())
    }

    /// The JSON body, with the loader's `"TRUE"`/`"FALSE"` strings for booleans.
    pub fn to_json(&self) -> serde_json::Value {
        let flag = |b: bool| if b { "TRUE" } else { "FALSE" };
        let mut body = serde_json::json!({
            "source": self.source,
            "format": self.format.as_str(),
            "iamRoleArn": self.iam_role_arn,
            "region": self.region,
            "failOnError": flag(self.fail_on_error),
        });
        let object = body.as_object_mut().expect("built as an object");
        if let Some(mode) = self.mode {
            let mode = match mode {
                LoadMode::New => "NEW",
                LoadMode::Resume => "RESUME",
                LoadMode::Auto => "AUTO",
            };
            object.insert("mode".into(), mode.into());
        }
        if let Some(p) = self.parallelism {
            let p = match p {
                Parallelism::Low => "LOW",
                Parallelism::Medium => "MEDIUM",
                Parallelism::High => "HIGH",
                Parallelism::Oversubscribe => "OVERSUBSCRIBE",
            };
            object.insert("parallelism".into(), p.into());
        }
        if let Some(u) = self.update_single_cardinality_properties {
            object.insert("updateSingleCardinalityProperties".into(), flag(u).into());
        }
        if let Some(q) = self.queue_request {
            object.insert("queueRequest".into(), flag(q).into());
        }
        if !self.dependencies.is_empty() {
            object.insert("dependencies".into(), self.dependencies.clone().into());
        }
        body
    }
}

/// A load's status, as the loader names it (Neptune user guide, "Neptune Loader Error and Feed
/// Messages").
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadStatus {
    /// `LOAD_NOT_STARTED`: recorded, not started.
    NotStarted,
    /// `LOAD_IN_QUEUE`: queued behind other loads.
    InQueue,
    /// `LOAD_IN_PROGRESS`.
    InProgress,
    /// `LOAD_COMPLETED`: done, without errors or with errors within the accepted threshold.
    Completed,
    /// `LOAD_CANCELLED_BY_USER`.
    CancelledByUser,
    /// `LOAD_CANCELLED_DUE_TO_ERRORS`.
    CancelledDueToErrors,
    /// `LOAD_UNEXPECTED_ERROR`.
    UnexpectedError,
    /// `LOAD_FAILED`.
    Failed,
    /// `LOAD_S3_READ_ERROR`: transient S3 connectivity trouble.
    S3ReadError,
    /// `LOAD_S3_ACCESS_DENIED_ERROR`.
    S3AccessDeniedError,
    /// `LOAD_COMMITTED_W_WRITE_CONFLICTS`: committed with unresolved write conflicts; resuming
    /// the load may succeed.
    CommittedWithWriteConflicts,
    /// `LOAD_DATA_DEADLOCK`: rolled back after a deadlock.
    DataDeadlock,
    /// `LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED`.
    FeedModifiedOrDeleted,
    /// `LOAD_FAILED_BECAUSE_DEPENDENCY_NOT_SATISFIED`.
    DependencyNotSatisfied,
    /// `LOAD_FAILED_INVALID_REQUEST`.
    InvalidRequest,
    /// A status this client does not know. It is taken as a failure, so that polling ends.
    Unknown(String),
}

impl LoadStatus {
    /// Reads the loader's status code.
    pub fn from_code(code: &str) -> Self {
        match code {
            "LOAD_NOT_STARTED" => LoadStatus::NotStarted,
            "LOAD_IN_QUEUE" => LoadStatus::InQueue,
            "LOAD_IN_PROGRESS" => LoadStatus::InProgress,
            "LOAD_COMPLETED" => LoadStatus::Completed,
            "LOAD_CANCELLED_BY_USER" => LoadStatus::CancelledByUser,
            "LOAD_CANCELLED_DUE_TO_ERRORS" => LoadStatus::CancelledDueToErrors,
            "LOAD_UNEXPECTED_ERROR" => LoadStatus::UnexpectedError,
            "LOAD_FAILED" => LoadStatus::Failed,
            "LOAD_S3_READ_ERROR" => LoadStatus::S3ReadError,
            "LOAD_S3_ACCESS_DENIED_ERROR" => LoadStatus::S3AccessDeniedError,
            "LOAD_COMMITTED_W_WRITE_CONFLICTS" => LoadStatus::CommittedWithWriteConflicts,
            "LOAD_DATA_DEADLOCK" => LoadStatus::DataDeadlock,
            "LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED" => LoadStatus::FeedModifiedOrDeleted,
            "LOAD_FAILED_BECAUSE_DEPENDENCY_NOT_SATISFIED" => LoadStatus::DependencyNotSatisfied,
            "LOAD_FAILED_INVALID_REQUEST" => LoadStatus::InvalidRequest,
            other => LoadStatus::Unknown(other.to_owned()),
        }
    }

    /// The loader's code for this status.
    pub fn code(&self) -> &str {
        match self {
            LoadStatus::NotStarted => "LOAD_NOT_STARTED",
            LoadStatus::InQueue => "LOAD_IN_QUEUE",
            LoadStatus::InProgress => "LOAD_IN_PROGRESS",
            LoadStatus::Completed => "LOAD_COMPLETED",
            LoadStatus::CancelledByUser => "LOAD_CANCELLED_BY_USER",
            LoadStatus::CancelledDueToErrors => "LOAD_CANCELLED_DUE_TO_ERRORS",
            LoadStatus::UnexpectedError => "LOAD_UNEXPECTED_ERROR",
            LoadStatus::Failed => "LOAD_FAILED",
            LoadStatus::S3ReadError => "LOAD_S3_READ_ERROR",
            LoadStatus::S3AccessDeniedError => "LOAD_S3_ACCESS_DENIED_ERROR",
            LoadStatus::CommittedWithWriteConflicts => "LOAD_COMMITTED_W_WRITE_CONFLICTS",
            LoadStatus::DataDeadlock => "LOAD_DATA_DEADLOCK",
            LoadStatus::FeedModifiedOrDeleted => "LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED",
            LoadStatus::DependencyNotSatisfied => "LOAD_FAILED_BECAUSE_DEPENDENCY_NOT_SATISFIED",
            LoadStatus::InvalidRequest => "LOAD_FAILED_INVALID_REQUEST",
            LoadStatus::Unknown(code) => code,
        }
    }

    /// The load is still going (or waiting to go).
    pub fn is_running(&self) -> bool {
        matches!(
            self,
            LoadStatus::NotStarted | LoadStatus::InQueue | LoadStatus::InProgress
        )
    }

    /// The load ended well.
    pub fn is_completed(&self) -> bool {
        *self == LoadStatus::Completed
    }

    /// The load ended badly, for a reason that may not recur (S3 read trouble, write
    /// conflicts, a deadlock): starting it again, in `RESUME` mode, may succeed.
    pub fn is_retriable_failure(&self) -> bool {
        matches!(
            self,
            LoadStatus::S3ReadError
                | LoadStatus::CommittedWithWriteConflicts
                | LoadStatus::DataDeadlock
                | LoadStatus::UnexpectedError
        )
    }
}

impl std::fmt::Display for LoadStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// The counters of a load or of one feed (`overallStatus`, `failedFeeds[]`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FeedStatus {
    /// The S3 URI loaded.
    pub full_uri: String,
    /// Run number (grows when the load is restarted).
    pub run_number: u64,
    /// Retry number (grows when the loader retries by itself).
    pub retry_number: u64,
    /// The status code; see [`LoadStatusReport::status`] for the typed form.
    pub status: String,
    /// Seconds spent.
    pub total_time_spent: f64,
    /// Start time, seconds since the epoch.
    pub start_time: u64,
    /// Records loaded or attempted (records may count property values, not only elements).
    pub total_records: u64,
    /// Duplicate records met.
    pub total_duplicates: u64,
    /// Records that did not parse.
    pub parsing_errors: u64,
    /// Records whose value did not match the declared type.
    pub datatype_mismatch_errors: u64,
    /// Records that could not be inserted.
    pub insert_errors: u64,
}

/// One entry of `errors.errorLogs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadErrorRecord {
    /// E.g. `PARSING_ERROR`.
    pub error_code: String,
    /// What went wrong.
    pub error_message: String,
    /// The S3 file.
    pub file_name: String,
    /// The record number in that file.
    pub record_num: u64,
}

/// One answer of `GET /loader/{loadId}`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadStatusReport {
    /// The load id polled.
    pub load_id: String,
    /// The overall status, typed.
    pub status: LoadStatus,
    /// The overall counters.
    pub overall: FeedStatus,
    /// Number of feeds per status (`feedCount`).
    pub feed_count: Vec<(String, u64)>,
    /// Feeds that failed (with `details=true`).
    pub failed_feeds: Vec<FeedStatus>,
    /// The first error records (with `errors=true`).
    pub errors: Vec<LoadErrorRecord>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    payload: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartPayload {
    load_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusPayload {
    overall_status: FeedStatus,
    #[serde(default)]
    feed_count: Vec<std::collections::BTreeMap<String, u64>>,
    #[serde(default)]
    failed_feeds: Vec<FeedStatus>,
    #[serde(default)]
    errors: Option<ErrorsPayload>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ErrorsPayload {
    error_logs: Vec<LoadErrorRecord>,
}

/// The error body Neptune sends with a 4xx or 5xx status.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ErrorBody {
    code: Option<String>,
    detailed_message: Option<String>,
    message: Option<String>,
}

/// Why a bulk-loader call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BulkLoadError {
    /// A configuration or request field is invalid.
    #[error("invalid {field}: {message}")]
    Config {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No answer within the call's timeout.
    #[error("{method} {url}: no answer within {after:?}")]
    Timeout {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The connection could not be made or broke.
    #[error("{method} {url}: {message}")]
    Connect {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The server answered with an error status.
    #[error("{method} {url}: HTTP {status} {code}: {message}")]
    Http {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// Neptune's error code (e.g. `BadRequestException`), or empty.
        code: String,
        /// Neptune's message, or the start of the body.
        message: String,
    },
    /// The answer is not the documented JSON.
    #[error("{method} {url}: malformed answer ({message}): {body}")]
    MalformedResponse {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// What is wrong with it.
        message: String,
        /// The start of the body.
        body: String,
    },
    /// The request signer failed.
    #[error("cannot sign the request: {0}")]
    Signing(String),
    /// A retriable error persisted through every allowed attempt.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: Box<BulkLoadError>,
    },
    /// The load ended with a failure status.
    #[error("load {} ended with {}: {} records, {} parsing errors, {} type mismatches, {} insert errors",
        report.load_id, report.status, report.overall.total_records, report.overall.parsing_errors,
        report.overall.datatype_mismatch_errors, report.overall.insert_errors)]
    LoadFailed {
        /// The last status, with failed feeds and error records when asked for.
        report: Box<LoadStatusReport>,
    },
    /// The load was still running when the overall deadline passed. It goes on in Neptune.
    #[error("load {load_id} still running after {after:?}")]
    DeadlineExceeded {
        /// The load.
        load_id: String,
        /// The deadline.
        after: Duration,
        /// The last status seen, if any.
        last: Option<Box<LoadStatusReport>>,
    },
}

impl BulkLoadError {
    /// Whether the same call may succeed if made again later.
    pub fn is_retriable(&self) -> bool {
        match self {
            BulkLoadError::Timeout { .. }
            | BulkLoadError::Connect { .. }
            | BulkLoadError::RetriesExhausted { .. }
            | BulkLoadError::DeadlineExceeded { .. } => true,
            BulkLoadError::Http { status, .. } => retriable_status(*status),
            BulkLoadError::LoadFailed { report } => report.status.is_retriable_failure(),
            BulkLoadError::Config { .. }
            | BulkLoadError::MalformedResponse { .. }
            | BulkLoadError::Signing(_) => false,
        }
    }
}

fn retriable_status(status: u16) -> bool {
    status >= 500 || status == 429
}

/// Adds authentication to a request just before it is sent (e.g. a SigV4 signature for
/// Neptune IAM authentication, service `neptune-db`).
///
/// Called once per attempt, after every other header is set and with the final body, so a
/// retried request gets a fresh signature.
#[async_trait]
pub trait RequestSigner: Send + Sync {
    /// Signs `request` in place (usually by adding `Authorization`, `X-Amz-Date` and, with
    /// temporary credentials, `X-Amz-Security-Token` headers). An `Err` message stops the call.
    async fn sign(&self, request: &mut reqwest::Request) -> Result<(), String>;
}

/// A client of one cluster's bulk loader.
#[derive(Clone)]
pub struct BulkLoaderClient {
    http: reqwest::Client,
    config: BulkLoaderConfig,
    loader_url: reqwest::Url,
    signer: Option<Arc<dyn RequestSigner>>,
}

impl std::fmt::Debug for BulkLoaderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkLoaderClient")
            .field("loader_url", &self.loader_url.as_str())
            .field("signed", &self.signer.is_some())
            .finish()
    }
}

enum Method {
    Get,
    Post(serde_json::Value),
}

impl Method {
    fn name(&self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post(_) => "POST",
        }
    }
}

impl BulkLoaderClient {
    /// A client for the loader at `config.endpoint`, after validating the configuration.
    pub fn new(config: BulkLoaderConfig) -> Result<Self, BulkLoadError> {
        config.validate()?;
        crate::metrics::describe();
        let mut loader_url =
            reqwest::Url::parse(&config.endpoint).map_err(|e| BulkLoadError::Config {
                field: "endpoint",
                message: e.to_string(),
            })?;
        loader_url
            .path_segments_mut()
            .map_err(|_| BulkLoadError::Config {
                field: "endpoint",
                message: "cannot be a base URL".into(),
            })?
            .pop_if_empty()
            .push("loader");
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| BulkLoadError::Config {
                field: "endpoint",
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self {
            http,
            config,
            loader_url,
            signer: None,
        })
    }

    /// Signs every request with `signer` (see [`RequestSigner`]).
    pub fn with_signer(mut self, signer: Arc<dyn RequestSigner>) -> Self {
        self.signer = Some(signer);
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &BulkLoaderConfig {
        &self.config
    }

    /// Starts a load (`POST /loader`) and returns its load id.
    pub async fn start_load(&self, request: &LoadRequest) -> Result<String, BulkLoadError> {
        request.validate()?;
        let url = self.loader_url.clone();
        let start: Envelope<StartPayload> = self
            .call(Method::Post(request.to_json()), url, None)
            .await?;
        tracing::info!(load_id = %start.payload.load_id, source = %request.source, "bulk load started");
        Ok(start.payload.load_id)
    }

    /// The status of a load (`GET /loader/{load_id}`), with failed feeds and error records
    /// when [`BulkLoaderConfig::status_details`] is set.
    pub async fn load_status(&self, load_id: &str) -> Result<LoadStatusReport, BulkLoadError> {
        self.status_before(load_id, None).await
    }

    async fn status_before(
        &self,
        load_id: &str,
        deadline: Option<Instant>,
    ) -> Result<LoadStatusReport, BulkLoadError> {
        let mut url = self.loader_url.clone();
        url.path_segments_mut()
            .expect("checked to be a base URL")
            .push(load_id);
        if self.config.status_details {
            url.query_pairs_mut()
                .append_pair("details", "true")
                .append_pair("errors", "true");
        }
        let status: Envelope<StatusPayload> = self.call(Method::Get, url, deadline).await?;
        let payload = status.payload;
        Ok(LoadStatusReport {
            load_id: load_id.to_owned(),
            status: LoadStatus::from_code(&payload.overall_status.status),
            overall: payload.overall_status,
            feed_count: payload
                .feed_count
                .into_iter()
                .flat_map(|m| m.into_iter())
                .collect(),
            failed_feeds: payload.failed_feeds,
            errors: payload.errors.unwrap_or_default().error_logs,
        })
    }

    /// Polls a load every [`BulkLoaderConfig::poll_interval`] until it completes (the last
    /// status is returned), fails ([`BulkLoadError::LoadFailed`]) or outlives
    /// [`BulkLoaderConfig::deadline`] ([`BulkLoadError::DeadlineExceeded`]). `progress` gets
    /// every status polled.
    pub async fn wait_for_load(
        &self,
        load_id: &str,
        progress: impl FnMut(&LoadStatusReport) + Send,
    ) -> Result<LoadStatusReport, BulkLoadError> {
        let deadline = Instant::now() + self.config.deadline;
        self.poll_until(load_id, deadline, progress).await
    }

    /// Starts a load and waits for its end, as the original system's notebook did: one
    /// `POST`, then a `GET` every 2 s. The deadline counts from the `POST`.
    pub async fn load(
        &self,
        request: &LoadRequest,
        progress: impl FnMut(&LoadStatusReport) + Send,
    ) -> Result<LoadStatusReport, BulkLoadError> {
        let deadline = Instant::now() + self.config.deadline;
        let load_id = self.start_load(request).await?;
        self.poll_until(&load_id, deadline, progress).await
    }

    async fn poll_until(
        &self,
        load_id: &str,
        deadline: Instant,
        mut progress: impl FnMut(&LoadStatusReport) + Send,
    ) -> Result<LoadStatusReport, BulkLoadError> {
        let mut last: Option<Box<LoadStatusReport>> = None;
        loop {
            let report = match self.status_before(load_id, Some(deadline)).await {
                Ok(report) => report,
                Err(e) if Instant::now() >= deadline && e.is_retriable() => {
                    return Err(self.deadline_exceeded(load_id, last))
                }
                Err(e) => return Err(e),
            };
            metrics::counter!(names::BULK_LOADER_POLLS).increment(1);
            tracing::debug!(load_id, status = %report.status, records = report.overall.total_records, "bulk load status");
            progress(&report);
            if report.status.is_completed() {
                return Ok(report);
            }
            if !report.status.is_running() {
                return Err(BulkLoadError::LoadFailed {
                    report: Box::new(report),
                });
            }
            last = Some(Box::new(report));
            let now = Instant::now();
            if now + self.config.poll_interval >= deadline {
                // No poll would fit before the deadline: wait it out, then give up.
                tokio::time::sleep(deadline.saturating_duration_since(now)).await;
                return Err(self.deadline_exceeded(load_id, last));
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }

    fn deadline_exceeded(
        &self,
        load_id: &str,
        last: Option<Box<LoadStatusReport>>,
    ) -> BulkLoadError {
        BulkLoadError::DeadlineExceeded {
            load_id: load_id.to_owned(),
            after: self.config.deadline,
            last,
        }
    }

    /// One logical call: attempts with back-off until success, a non-retriable error, the
    /// last attempt or the deadline.
    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        url: reqwest::Url,
        deadline: Option<Instant>,
    ) -> Result<T, BulkLoadError> {
        let mut attempt = 1;
        loop {
            let timeout = match deadline {
                Some(d) => d
                    .saturating_duration_since(Instant::now())
                    .min(self.config.request_timeout)
                    .max(Duration::from_millis(1)),
                None => self.config.request_timeout,
            };
            let error = match self.attempt(&method, &url, timeout).await {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            // A POST whose answer timed out may have started a load: sending it again could
            // start a second one, so only failures known to precede the load are retried.
            let may_retry = match (&method, &error) {
                (Method::Post(_), BulkLoadError::Timeout { .. }) => false,
                _ => error.is_retriable(),
            };
            let past_deadline = deadline.is_some_and(|d| Instant::now() >= d);
            if !may_retry || past_deadline {
                return Err(error);
            }
            if attempt > self.config.retry.max_retries {
                return Err(BulkLoadError::RetriesExhausted {
                    attempts: attempt,
                    last: Box::new(error),
                });
            }
            let reason = match &error {
                BulkLoadError::Http { .. } => "status",
                BulkLoadError::Timeout { .. } => "timeout",
                _ => "connect",
            };
            metrics::counter!(names::BULK_LOADER_RETRIES, "reason" => reason).increment(1);
            tracing::warn!(error = %error, attempt, "bulk loader call failed, retrying");
            let mut wait = self.config.retry.delay(attempt - 1);
            if let Some(d) = deadline {
                wait = wait.min(d.saturating_duration_since(Instant::now()));
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt<T: for<'de> Deserialize<'de>>(
        &self,
        method: &Method,
        url: &reqwest::Url,
        timeout: Duration,
    ) -> Result<T, BulkLoadError> {
        let name = method.name();
        let builder = match method {
            Method::Get => self.http.get(url.clone()),
            Method::Post(body) => self
                .http
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string()),
        };
        let mut request = builder
            .timeout(timeout)
            .build()
            .map_err(|e| BulkLoadError::Config {
                field: "endpoint",
                message: e.to_string(),
            })?;
        if let Some(signer) = &self.signer {
            signer
                .sign(&mut request)
                .await
                .map_err(BulkLoadError::Signing)?;
        }
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                BulkLoadError::Timeout {
                    method: name,
                    url: url.to_string(),
                    after: timeout,
                }
            } else {
                BulkLoadError::Connect {
                    method: name,
                    url: url.to_string(),
                    message: error_chain(&e),
                }
            }
        };
        // The client's timeout covers the body too; the outer one is a second guard so that
        // nothing here can wait longer than asked, whatever the HTTP stack does.
        let exchange = async {
            let response = self.http.execute(request).await.map_err(transport)?;
            let status = response.status();
            let body = response.bytes().await.map_err(transport)?;
            Ok::<_, BulkLoadError>((status, body))
        };
        let (status, body) = tokio::time::timeout(timeout + Duration::from_millis(100), exchange)
            .await
            .map_err(|_| BulkLoadError::Timeout {
                method: name,
                url: url.to_string(),
                after: timeout,
            })??;
        let text = String::from_utf8_lossy(&body);
        if !status.is_success() {
            let parsed: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
            return Err(BulkLoadError::Http {
                method: name,
                url: url.to_string(),
                status: status.as_u16(),
                code: parsed.code.unwrap_or_default(),
                message: parsed
                    .detailed_message
                    .or(parsed.message)
                    .unwrap_or_else(|| snippet(&text)),
            });
        }
        serde_json::from_slice(&body).map_err(|e| BulkLoadError::MalformedResponse {
            method: name,
            url: url.to_string(),
            message: e.to_string(),
            body: snippet(&text),
        })
    }
}

/// The start of a body, for messages.
fn snippet(text: &str) -> String {
    const LIMIT: usize = 300;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// An error and its causes, on one line: reqwest's own message is only the outermost.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_request_is_the_original_systems() {
        let body = LoadRequest::new(
            "s3://bucket/vertices/",
            "arn:aws:iam::1:role/r",
            "us-east-1",
        )
        .to_json();
        assert_eq!(
            body,
            serde_json::json!({
                "source": "s3://bucket/vertices/",
                "format": "csv",
                "iamRoleArn": "arn:aws:iam::1:role/r",
                "region": "us-east-1",
                "failOnError": "FALSE",
            })
        );
    }

    #[test]
    fn every_documented_status_code_round_trips_and_only_completed_succeeds() {
        let codes = [
            "LOAD_NOT_STARTED",
            "LOAD_IN_QUEUE",
            "LOAD_IN_PROGRESS",
            "LOAD_COMPLETED",
            "LOAD_CANCELLED_BY_USER",
            "LOAD_CANCELLED_DUE_TO_ERRORS",
            "LOAD_UNEXPECTED_ERROR",
            "LOAD_FAILED",
            "LOAD_S3_READ_ERROR",
            "LOAD_S3_ACCESS_DENIED_ERROR",
            "LOAD_COMMITTED_W_WRITE_CONFLICTS",
            "LOAD_DATA_DEADLOCK",
            "LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED",
            "LOAD_FAILED_BECAUSE_DEPENDENCY_NOT_SATISFIED",
            "LOAD_FAILED_INVALID_REQUEST",
        ];
        for code in codes {
            let status = LoadStatus::from_code(code);
            assert!(!matches!(status, LoadStatus::Unknown(_)), "{code}");
            assert_eq!(status.code(), code);
            assert_eq!(status.is_completed(), code == "LOAD_COMPLETED");
        }
        let running: Vec<_> = codes
            .iter()
            .filter(|c| LoadStatus::from_code(c).is_running())
            .collect();
        assert_eq!(
            running,
            [&"LOAD_NOT_STARTED", &"LOAD_IN_QUEUE", &"LOAD_IN_PROGRESS"]
        );
        let unknown = LoadStatus::from_code("LOAD_SOMETHING_NEW");
        assert!(!unknown.is_running() && !unknown.is_completed());
    }

    #[test]
    fn invalid_configuration_names_the_field() {
        let field = |c: BulkLoaderConfig| match c.validate() {
            Err(BulkLoadError::Config { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(BulkLoaderConfig::default()), "endpoint");
        assert_eq!(field(BulkLoaderConfig::new("ftp://host:8182")), "endpoint");
        let mut c = BulkLoaderConfig::new("https://host:8182");
        c.poll_interval = Duration::ZERO;
        assert_eq!(field(c), "poll_interval");
        let mut c = BulkLoaderConfig::new("https://host:8182");
        c.retry.max_retries = 20;
        assert_eq!(field(c), "retry.max_retries");
        assert!(BulkLoaderConfig::new("https://host:8182")
            .validate()
            .is_ok());
        assert_eq!(
            BulkLoaderConfig::default().poll_interval,
            Duration::from_secs(2)
        );

        let mut r = LoadRequest::new("/local/file", "arn", "us-east-1");
        assert!(matches!(
            r.validate(),
            Err(BulkLoadError::Config {
                field: "source",
                ..
            })
        ));
        r.source = "s3://b/k".into();
        r.region.clear();
        assert!(matches!(
            r.validate(),
            Err(BulkLoadError::Config {
                field: "region",
                ..
            })
        ));
    }
}
