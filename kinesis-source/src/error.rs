//! Errors of a record source.

/// What went wrong while reading or checkpointing.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The checkpoint store could not be read or written.
    #[error("checkpoint store: {message}")]
    Checkpoint {
        /// What failed, naming the store.
        message: String,
        /// Whether trying again may succeed (an I/O error) or not (a corrupt file).
        retriable: bool,
    },
    /// The stream service failed a call.
    #[error("stream service call {operation} failed: {message}")]
    Service {
        /// The API operation, e.g. `GetRecords`.
        operation: &'static str,
        /// The service's error text.
        message: String,
        /// Whether the error is transient (throttling, timeouts, 5xx).
        retriable: bool,
    },
    /// The configuration is outside what the service accepts.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The source was shut down.
    #[error("the source is shut down")]
    Shutdown,
}

impl SourceError {
    /// Whether the failed operation may succeed if tried again.
    pub fn is_retriable(&self) -> bool {
        match self {
            SourceError::Checkpoint { retriable, .. } | SourceError::Service { retriable, .. } => {
                *retriable
            }
            SourceError::Config(_) | SourceError::Shutdown => false,
        }
    }
}
