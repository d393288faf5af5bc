//! Errors of the Gremlin transport, classified from the server's typed answer.

use crate::error::ConfigError;
use std::error::Error;
use std::sync::Arc;
use std::time::Duration;
use stream2neptune_common::{Classify, ErrorKind};

/// What kind of failure a server reported, read from typed fields of the answer: Neptune's JSON
/// `code`, the exception class names Gremlin Server lists in `status.attributes.exceptions`, and
/// the response status code. Whole messages and stack traces are never pattern-matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Another transaction touched the same elements (`ConcurrentModificationException` on
    /// Neptune, a `TransactionException` on TinkerPop's transactional TinkerGraph, a lock
    /// JanusGraph could not take or found changed at commit, `PermanentLockingException` or
    /// `TemporaryLockingException`, or its storage backend's `TemporaryBackendException`):
    /// retry.
    ConcurrentModification,
    /// The endpoint is a read replica, e.g. after a failover (`ReadOnlyViolationException`):
    /// reconnect to the writer endpoint, then retry.
    ReadOnly,
    /// The server is throttling or temporarily unable to serve (`ThrottlingException`,
    /// `TooManyRequestsException`, status 596): retry later.
    Throttled,
    /// A uniqueness or existence constraint failed (`ConstraintViolationException`).
    ConstraintViolation,
    /// The query ran out of time (`TimeLimitExceededException`, status 598).
    TimeLimit,
    /// The query ran out of memory (`MemoryLimitExceededException`).
    MemoryLimit,
    /// The request was malformed (`MalformedQueryException`, `InvalidParameterException`,
    /// status 498 or 499).
    Malformed,
    /// Authentication failed (status 401, 403 or 407, `AccessDeniedException`), or the
    /// WebSocket upgrade was refused for it (HTTP 401 or 403, e.g. an IAM signature made for
    /// another host).
    Unauthorized,
    /// The traversal failed while being evaluated (status 597), e.g. a step found no vertex.
    Evaluation,
    /// The traversal's `fail()` step ran (status 595): a guard in the request found the graph
    /// other than expected. Sending the same request again fails the same way; the caller
    /// reads again and sends a new one.
    FailStep,
    /// Anything else the server reported.
    Other,
}

impl ErrorClass {
    /// The class's name, as used in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::ConcurrentModification => "concurrent_modification",
            ErrorClass::ReadOnly => "read_only",
            ErrorClass::Throttled => "throttled",
            ErrorClass::ConstraintViolation => "constraint_violation",
            ErrorClass::TimeLimit => "time_limit",
            ErrorClass::MemoryLimit => "memory_limit",
            ErrorClass::Malformed => "malformed",
            ErrorClass::Unauthorized => "unauthorized",
            ErrorClass::Evaluation => "evaluation",
            ErrorClass::FailStep => "fail_step",
            ErrorClass::Other => "other",
        }
    }

    /// Classifies by exception name (a simple or fully qualified class name, or Neptune's code).
    pub fn from_exception(name: &str) -> Option<ErrorClass> {
        let simple = name.rsplit(['.', '$']).next().unwrap_or(name);
        Some(match simple {
            "ConcurrentModificationException" | "TransactionException" => {
                ErrorClass::ConcurrentModification
            }
            // JanusGraph: a lock held by another transaction ("Local lock contention") or
            // whose value changed before the commit ("Expected value mismatch"), and a backend
            // failure its docs call temporary. Each fails the whole transaction, which a new
            // one may redo; "Permanent" means only that this transaction cannot go on.
            "PermanentLockingException"
            | "TemporaryLockingException"
            | "TemporaryBackendException" => ErrorClass::ConcurrentModification,
            "ReadOnlyViolationException" => ErrorClass::ReadOnly,
            "ThrottlingException" | "TooManyRequestsException" => ErrorClass::Throttled,
            "ConstraintViolationException" => ErrorClass::ConstraintViolation,
            "TimeLimitExceededException" => ErrorClass::TimeLimit,
            "MemoryLimitExceededException" => ErrorClass::MemoryLimit,
            "MalformedQueryException" | "InvalidParameterException" | "BadRequestException" => {
                ErrorClass::Malformed
            }
            "AccessDeniedException" | "MissingAuthenticationTokenException" => {
                ErrorClass::Unauthorized
            }
            _ => return None,
        })
    }

    /// Classifies by response status code alone.
    pub fn from_status(code: u16) -> ErrorClass {
        match code {
            401 | 403 | 407 => ErrorClass::Unauthorized,
            498 | 499 => ErrorClass::Malformed,
            595 => ErrorClass::FailStep,
            596 => ErrorClass::Throttled,
            597 => ErrorClass::Evaluation,
            598 => ErrorClass::TimeLimit,
            _ => ErrorClass::Other,
        }
    }

    /// What kind of failure the class is: a conflict, a read-only replica or throttling is
    /// the moment's ([`Retriable`](ErrorKind::Retriable)), refused credentials are the
    /// settings' ([`Usage`](ErrorKind::Usage)), anything else the request's own
    /// ([`Permanent`](ErrorKind::Permanent)).
    pub fn kind(self) -> ErrorKind {
        match self {
            ErrorClass::ConcurrentModification | ErrorClass::ReadOnly | ErrorClass::Throttled => {
                ErrorKind::Retriable
            }
            ErrorClass::Unauthorized => ErrorKind::Usage,
            _ => ErrorKind::Permanent,
        }
    }

    /// Whether the same request may succeed if sent again: `self.kind().is_retriable()`.
    pub fn is_retriable(self) -> bool {
        self.kind().is_retriable()
    }
}

/// A failed request or connection.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GremlinError {
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No WebSocket connection could be opened.
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// The URL tried.
        endpoint: String,
        /// What failed: the WebSocket or TLS handshake, the socket, or the connect timeout.
        #[source]
        source: Arc<dyn Error + Send + Sync>,
    },
    /// The server's certificate was refused: not issued by a trusted CA, not issued for the
    /// name verified, expired. Sending again cannot change that; a setting can (a CA file to
    /// trust, the TLS server name to verify).
    #[error("the certificate of {endpoint} is refused for the name {server_name}: {source}")]
    Certificate {
        /// The URL tried.
        endpoint: String,
        /// The name the certificate was verified for.
        server_name: String,
        /// What rustls found wrong with the certificate.
        #[source]
        source: Arc<dyn Error + Send + Sync>,
    },
    /// The connection broke (closed by the server, reset, write failed) before the answer came.
    #[error("connection lost: {0}")]
    ConnectionLost(String),
    /// No complete answer within the request timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The server answered with an error status.
    #[error("server error {status} ({class:?}{}): {message}", exception.as_deref().map(|e| format!(", {e}")).unwrap_or_default())]
    Server {
        /// The response status code (e.g. 500, 597).
        status: u16,
        /// The classification.
        class: ErrorClass,
        /// The exception or Neptune error code that decided the class, if any.
        exception: Option<String>,
        /// The server's message.
        message: String,
    },
    /// The server's answer could not be understood.
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// The WebSocket upgrade could not be signed (no credentials, bad region).
    #[error("cannot sign the request: {reason}{}", source.as_ref().map(|s| format!(": {s}")).unwrap_or_default())]
    Signing {
        /// What could not be done.
        reason: String,
        /// The failure of the credentials provider or the signer, if one failed.
        #[source]
        source: Option<Arc<dyn Error + Send + Sync>>,
    },
}

/// A connection that cannot be made, breaks or times out is
/// [`Unreachable`](ErrorKind::Unreachable); an answer that cannot be read is
/// [`Retriable`](ErrorKind::Retriable) (the next one may be whole); a server error takes its
/// class's [`kind`](ErrorClass::kind); settings, signing and a refused server certificate are
/// [`Usage`](ErrorKind::Usage).
impl Classify for GremlinError {
    fn kind(&self) -> ErrorKind {
        match self {
            GremlinError::Connect { .. }
            | GremlinError::ConnectionLost(_)
            | GremlinError::Timeout(_) => ErrorKind::Unreachable,
            GremlinError::Protocol(_) => ErrorKind::Retriable,
            GremlinError::Server { class, .. } => class.kind(),
            GremlinError::Config(_)
            | GremlinError::Signing { .. }
            | GremlinError::Certificate { .. } => ErrorKind::Usage,
        }
    }
}

impl GremlinError {
    /// Whether the same request may succeed if sent again (possibly on a new connection):
    /// `self.kind().is_retriable()`.
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }

    /// A failure to sign, with its cause.
    #[cfg_attr(not(feature = "iam"), allow(dead_code))]
    pub(crate) fn signing(
        reason: impl Into<String>,
        source: impl Into<Option<Arc<dyn Error + Send + Sync>>>,
    ) -> Self {
        GremlinError::Signing {
            reason: reason.into(),
            source: source.into(),
        }
    }

    /// The server's error class, if the server answered.
    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            GremlinError::Server { class, .. } => Some(*class),
            _ => None,
        }
    }

    /// A short reason, for metric labels: the server class, or the transport failure kind.
    pub fn reason(&self) -> &'static str {
        match self {
            GremlinError::Config(_) => "invalid_config",
            GremlinError::Connect { .. } => "connect",
            GremlinError::Certificate { .. } => "certificate",
            GremlinError::ConnectionLost(_) => "connection_lost",
            GremlinError::Timeout(_) => "timeout",
            GremlinError::Server { class, .. } => class.as_str(),
            GremlinError::Protocol(_) => "protocol",
            GremlinError::Signing { .. } => "signing",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_names_are_classified_by_simple_name() {
        assert_eq!(
            ErrorClass::from_exception(
                "org.apache.tinkerpop.gremlin.structure.util.TransactionException"
            ),
            Some(ErrorClass::ConcurrentModification)
        );
        assert_eq!(
            ErrorClass::from_exception("ReadOnlyViolationException"),
            Some(ErrorClass::ReadOnly)
        );
        assert_eq!(
            ErrorClass::from_exception("java.lang.IllegalArgumentException"),
            None
        );
    }

    #[test]
    fn janusgraphs_lock_and_temporary_backend_failures_are_conflicts() {
        for name in [
            "org.janusgraph.diskstorage.locking.PermanentLockingException",
            "org.janusgraph.diskstorage.locking.TemporaryLockingException",
            "org.janusgraph.diskstorage.TemporaryBackendException",
        ] {
            let class = ErrorClass::from_exception(name);
            assert_eq!(class, Some(ErrorClass::ConcurrentModification), "{name}");
            assert!(class.unwrap().is_retriable(), "{name}");
        }
        // The wrappers around them say nothing by themselves.
        for name in [
            "org.janusgraph.core.JanusGraphException",
            "org.janusgraph.diskstorage.PermanentBackendException",
            "org.janusgraph.core.SchemaViolationException",
        ] {
            assert_eq!(ErrorClass::from_exception(name), None, "{name}");
        }
    }

    #[test]
    fn only_transient_classes_are_retriable() {
        assert!(ErrorClass::ConcurrentModification.is_retriable());
        assert!(ErrorClass::ReadOnly.is_retriable());
        assert!(!ErrorClass::ConstraintViolation.is_retriable());
        assert!(!ErrorClass::from_status(598).is_retriable());
        assert!(GremlinError::Timeout(Duration::from_secs(1)).is_retriable());
    }

    #[test]
    fn kinds_follow_what_failed() {
        let refused = GremlinError::Connect {
            endpoint: "ws://x".into(),
            source: Arc::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        };
        assert_eq!(refused.kind(), ErrorKind::Unreachable);
        assert!(refused.source().is_some(), "the cause is kept");
        assert_eq!(
            GremlinError::Protocol("cut".into()).kind(),
            ErrorKind::Retriable
        );
        let server = |class| GremlinError::Server {
            status: 500,
            class,
            exception: None,
            message: String::new(),
        };
        assert_eq!(server(ErrorClass::Throttled).kind(), ErrorKind::Retriable);
        assert_eq!(server(ErrorClass::Unauthorized).kind(), ErrorKind::Usage);
        assert_eq!(server(ErrorClass::Malformed).kind(), ErrorKind::Permanent);
        assert_eq!(
            GremlinError::signing("no region", None).kind(),
            ErrorKind::Usage
        );
    }
}
