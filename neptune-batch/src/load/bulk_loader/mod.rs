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

mod config;
mod error;
mod request;
mod status;

pub use config::{BulkLoaderConfig, BulkLoaderConfigBuilder, DEFAULT_POLL_INTERVAL};
pub use error::BulkLoadError;
pub use request::{LoadFormat, LoadMode, LoadRequest, LoadRequestBuilder, Parallelism};
pub use status::{FeedStatus, LoadErrorRecord, LoadStatus, LoadStatusReport};

use super::metrics as names;
use crate::error::ConfigError;
use async_trait::async_trait;
use serde::Deserialize;
use status::{Envelope, ErrorBody, StartPayload, StatusPayload};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Adds authentication to a request just before it is sent (e.g. a SigV4 signature for
/// Neptune IAM authentication, service `neptune-db`).
///
/// Called once per attempt, after every other header is set and with the final body, so a
/// retried request gets a fresh signature.
#[async_trait]
pub trait RequestSigner: Send + Sync {
    /// Signs `request` in place (usually by adding `Authorization`, `X-Amz-Date` and, with
    /// temporary credentials, `X-Amz-Security-Token` headers). An `Err` stops the call, as
    /// [`BulkLoadError::Signing`].
    async fn sign(
        &self,
        request: &mut reqwest::Request,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
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
        let mut loader_url = reqwest::Url::parse(&config.endpoint)
            .map_err(|e| ConfigError::new("endpoint", e.to_string()))?;
        loader_url
            .path_segments_mut()
            .map_err(|_| ConfigError::new("endpoint", "cannot be a base URL"))?
            .pop_if_empty()
            .push("loader");
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(|source| BulkLoadError::Build { source })?;
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
            let Some(mut wait) = self.config.retry.next_delay(attempt - 1) else {
                return Err(BulkLoadError::RetriesExhausted {
                    attempts: attempt,
                    last: Box::new(error),
                });
            };
            let reason = match &error {
                BulkLoadError::Http { .. } => "status",
                BulkLoadError::Timeout { .. } => "timeout",
                _ => "connect",
            };
            metrics::counter!(names::BULK_LOADER_RETRIES, "reason" => reason).increment(1);
            tracing::warn!(error = %error, attempt, "bulk loader call failed, retrying");
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
            .map_err(|source| BulkLoadError::Build { source })?;
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
                    source: e,
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
        serde_json::from_slice(&body).map_err(|source| BulkLoadError::MalformedResponse {
            method: name,
            url: url.to_string(),
            source,
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
