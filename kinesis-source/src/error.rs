//! Errors of a record source.

use crate::api::ApiError;
use crate::ConfigError;
use stream2neptune_common::{Classify, ErrorKind};

/// An underlying error from outside this crate (a file system, a serialiser, a task).
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync>;

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
        /// The underlying error, if there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The stream service failed a call.
    #[error("stream service call {0}")]
    Service(#[from] ApiError),
    /// A shard reader kept failing after every restart it was allowed.
    #[error("the reader of shard {shard} failed {failures} times in a row; last error: {last}")]
    ShardReaderFailed {
        /// The shard.
        shard: String,
        /// Failures in a row.
        failures: u32,
        /// The last failure.
        #[source]
        last: Box<dyn std::error::Error + Send + Sync>,
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

impl SourceError {
    /// A checkpoint store failure without an underlying error.
    pub(crate) fn checkpoint(message: impl Into<String>, retriable: bool) -> Self {
        SourceError::Checkpoint {
            message: message.into(),
            retriable,
            source: None,
        }
    }

    /// A checkpoint store failure caused by `source`.
    pub(crate) fn checkpoint_caused(
        message: impl Into<String>,
        retriable: bool,
        source: impl Into<Cause>,
    ) -> Self {
        SourceError::Checkpoint {
            message: message.into(),
            retriable,
            source: Some(source.into()),
        }
    }

    /// Whether the failed operation may succeed if tried again (see [`Classify`]).
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }
}

/// A checkpoint store that failed for the moment is [`Retriable`](ErrorKind::Retriable), one
/// that cannot work as set up (a corrupt or unwritable file) is
/// [`Usage`](ErrorKind::Usage); a service call takes the kind of its [`ApiError`] (an unknown
/// stream is `Usage`); a shard reader that failed through every restart is
/// [`Permanent`](ErrorKind::Permanent): the source gave up, so asking it again cannot help.
impl Classify for SourceError {
    fn kind(&self) -> ErrorKind {
        match self {
            SourceError::Checkpoint { retriable, .. } => {
                if *retriable {
                    ErrorKind::Retriable
                } else {
                    ErrorKind::Usage
                }
            }
            SourceError::Service(e) => e.kind(),
            SourceError::ShardReaderFailed { .. } => ErrorKind::Permanent,
            SourceError::ForeignCheckpoint { .. } | SourceError::Shutdown => ErrorKind::Usage,
            SourceError::Config(e) => e.kind(),
        }
    }
}
