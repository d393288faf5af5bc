//! Why a bulk-loader call failed.

use super::status::LoadStatusReport;
use crate::error::ConfigError;
use std::error::Error;
use std::time::Duration;
use stream2neptune_common::{Classify, ErrorKind};

/// Why a bulk-loader call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BulkLoadError {
    /// A configuration or request field is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The HTTP client or a request could not be built (no TLS backend, a URL it refuses).
    #[error("cannot build the HTTP request: {source}")]
    Build {
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
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
    #[error("{method} {url}: {}", chain(source))]
    Connect {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The HTTP client's error (its causes name the socket's).
        #[source]
        source: reqwest::Error,
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
    #[error("{method} {url}: malformed answer ({source}): {body}")]
    MalformedResponse {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// What is wrong with it.
        #[source]
        source: serde_json::Error,
        /// The start of the body.
        body: String,
    },
    /// The request signer failed.
    #[error("cannot sign the request: {0}")]
    Signing(#[source] Box<dyn Error + Send + Sync>),
    /// A retriable error persisted through every allowed attempt.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        #[source]
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

/// A loader that does not answer (or answers 5xx) is unreachable, throttling (429) and a load
/// still running or failed for a passing reason are retriable; a request the loader refuses,
/// the settings and signing are usage; a load failed on its files and an unreadable answer
/// are permanent.
impl Classify for BulkLoadError {
    fn kind(&self) -> ErrorKind {
        match self {
            BulkLoadError::Config(e) => e.kind(),
            BulkLoadError::Build { .. } | BulkLoadError::Signing(_) => ErrorKind::Usage,
            BulkLoadError::Timeout { .. }
            | BulkLoadError::Connect { .. }
            | BulkLoadError::RetriesExhausted { .. } => ErrorKind::Unreachable,
            BulkLoadError::Http { status: 429, .. } => ErrorKind::Retriable,
            BulkLoadError::Http { status, .. } if *status >= 500 => ErrorKind::Unreachable,
            BulkLoadError::Http { .. } => ErrorKind::Usage,
            BulkLoadError::LoadFailed { report } if report.status.is_retriable_failure() => {
                ErrorKind::Retriable
            }
            BulkLoadError::LoadFailed { .. } | BulkLoadError::MalformedResponse { .. } => {
                ErrorKind::Permanent
            }
            BulkLoadError::DeadlineExceeded { .. } => ErrorKind::Retriable,
        }
    }
}

impl BulkLoadError {
    /// Whether the same call may succeed if made again later: `self.kind().is_retriable()`.
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }
}

/// An error and its causes, on one line: reqwest's own message is only the outermost.
fn chain(error: &dyn Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    message
}
