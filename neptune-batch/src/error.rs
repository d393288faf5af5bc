//! The errors of a whole call and of a setting, as opposed to one item's.

use crate::transport::GremlinError;
use std::error::Error;
use stream2neptune_common::{Backoff, Classify, ErrorKind};
// Named here for the crate's modules, which import it from `crate::error`.
pub(crate) use stream2neptune_common::ConfigError;

/// Checks a retry setting: bounded (every caller of the crate must get an answer), at most
/// `limit` retries, and a base delay within the cap.
pub(crate) fn check_backoff(field: &str, backoff: &Backoff, limit: u32) -> Result<(), ConfigError> {
    if backoff.max_retries().is_none() {
        return Err(ConfigError::new(field, "must bound the retries"));
    }
    backoff
        .validate(limit)
        .map_err(|e| ConfigError::new(field, e.to_string()))
}

/// A failure of a whole `write_*` call. Per-item failures are reported in
/// [`WriteReport`](crate::WriteReport) instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The sink's configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The sink could not reach the server at all, or the server refused the connection's
    /// authentication (of kind `Usage` then, like an upgrade that cannot be signed).
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// The endpoint tried.
        endpoint: String,
        /// What failed (a refused connection, a timeout, an answer that did not come, a
        /// [`GremlinError`] such as the upgrade refused with 403).
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
    /// The server's TLS certificate was refused (see
    /// [`GremlinError::Certificate`](crate::transport::GremlinError::Certificate)): a setting to
    /// change, not a moment to wait out.
    #[error(transparent)]
    Certificate(crate::transport::GremlinError),
    /// The sink was closed.
    #[error("the sink is closed")]
    Closed,
    /// The call needs a capability that the sink does not have with this server or
    /// configuration (e.g. changes, which need caller-supplied edge ids, on a sink whose edges
    /// are named by a property): nothing was sent.
    #[error("{operation} needs {capability}")]
    Unsupported {
        /// What was asked.
        operation: &'static str,
        /// What it needs that is missing.
        capability: &'static str,
    },
}

/// A configuration, a refused certificate or refused credentials are usage errors; an endpoint
/// that does not answer is unreachable; a closed sink stays closed.
impl Classify for SinkError {
    fn kind(&self) -> ErrorKind {
        match self {
            SinkError::Config(e) => e.kind(),
            // The server answered and refused the connection's authentication, or the
            // upgrade could not be signed: a setting to change, however often it is tried.
            SinkError::Connect { source, .. } => match source.downcast_ref::<GremlinError>() {
                Some(e) if e.kind() == ErrorKind::Usage => ErrorKind::Usage,
                _ => ErrorKind::Unreachable,
            },
            SinkError::Certificate(e) => e.kind(),
            SinkError::Closed => ErrorKind::Permanent,
            // Another server or another configuration is needed.
            SinkError::Unsupported { .. } => ErrorKind::Usage,
        }
    }
}

impl SinkError {
    /// Whether the call may succeed if made again: `self.kind().is_retriable()`.
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::ErrorClass;
    use std::time::Duration;

    #[test]
    fn a_nested_setting_is_named_by_its_path() {
        let e = ConfigError::new("pool_size", "must be positive").within("writer");
        assert_eq!(e.field(), "writer.pool_size");
        assert_eq!(e.reason(), "must be positive");
        assert_eq!(e.kind(), ErrorKind::Usage);
    }

    #[test]
    fn a_retry_setting_must_be_bounded_and_within_the_limit() {
        let backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(2));
        assert_eq!(
            check_backoff("retry", &backoff, 5).unwrap_err().field(),
            "retry"
        );
        assert!(check_backoff("retry", &backoff.with_max_retries(6), 5).is_err());
        assert!(check_backoff("retry", &backoff.with_max_retries(5), 5).is_ok());
    }

    #[test]
    fn only_an_unreachable_endpoint_is_worth_another_call() {
        let refused = SinkError::Connect {
            endpoint: "ws://x".into(),
            source: "refused".into(),
        };
        assert!(refused.is_retriable());
        assert_eq!(refused.to_string(), "cannot connect to ws://x: refused");
        assert!(!SinkError::Config(ConfigError::new("a", "b")).is_retriable());
        assert!(!SinkError::Closed.is_retriable());
        let unsupported = SinkError::Unsupported {
            operation: "applying changes",
            capability: "caller-supplied edge ids",
        };
        assert_eq!(unsupported.kind(), ErrorKind::Usage);
        assert_eq!(
            unsupported.to_string(),
            "applying changes needs caller-supplied edge ids"
        );
        let denied = SinkError::Connect {
            endpoint: "wss://x".into(),
            source: Box::new(GremlinError::Server {
                status: 403,
                class: ErrorClass::Unauthorized,
                exception: Some("AccessDeniedException".into()),
                message: "bad signature".into(),
            }),
        };
        assert_eq!(
            denied.kind(),
            ErrorKind::Usage,
            "refused credentials stay refused"
        );
    }
}
