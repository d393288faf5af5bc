//! Errors of a record source.

use crate::api::ApiError;
use crate::config::ConfigError;

/// What went wrong while reading or checkpointing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// A shard reader kept failing after every restart it was allowed.
    #[error("the reader of shard {shard} failed {failures} times in a row; last error: {last}")]
    ShardReaderFailed {
        /// The shard.
        shard: String,
        /// Failures in a row.
        failures: u32,
        /// The last failure.
        last: String,
    },
    /// The checkpoint store holds checkpoints of another stream: reading this stream from
    /// them would fail on every shard (or, worse, skip records).
    #[error("the checkpoints in {store} belong to stream {checkpoint_stream}, not to stream {stream}: give each stream its own checkpoint store")]
    ForeignCheckpoint {
        /// The store (e.g. the file's path).
        store: String,
        /// The stream the checkpoints belong to.
        checkpoint_stream: String,
        /// The stream being read.
        stream: String,
    },
    /// The configuration is outside what the service accepts.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The source was shut down.
    #[error("the source is shut down")]
    Shutdown,
}

impl From<ApiError> for SourceError {
    fn from(e: ApiError) -> Self {
        SourceError::Service {
            operation: e.operation,
            retriable: e.is_retriable(),
            message: e.message,
        }
    }
}

impl SourceError {
    /// Whether the failed operation may succeed if tried again.
    pub fn is_retriable(&self) -> bool {
        match self {
            SourceError::Checkpoint { retriable, .. } | SourceError::Service { retriable, .. } => {
                *retriable
            }
            // The source restarted the reader as often as it was allowed to.
            SourceError::ShardReaderFailed { .. } | SourceError::ForeignCheckpoint { .. } => false,
            SourceError::Config(_) | SourceError::Shutdown => false,
        }
    }
}
