//! Errors that fail a whole call, as opposed to one item.

/// A failure of a whole `write_*` call. Per-item failures are reported in
/// [`WriteReport`](crate::WriteReport) instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The sink's configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The sink could not reach the server at all.
    #[error("cannot connect to {endpoint}: {message}")]
    Connect {
        /// The endpoint tried.
        endpoint: String,
        /// What failed.
        message: String,
    },
    /// The sink was closed.
    #[error("the sink is closed")]
    Closed,
}

impl SinkError {
    /// Whether the call may succeed if made again.
    pub fn is_retriable(&self) -> bool {
        matches!(self, SinkError::Connect { .. })
    }
}
