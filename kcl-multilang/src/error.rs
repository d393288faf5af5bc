//! What can go wrong between the processor and the daemon.
//!
//! The pipe is the process's only link to its daemon: whatever breaks it, nothing in this
//! process can mend it (the daemon hands the shard to another worker, which resumes from the
//! last checkpoint). So a broken or garbled pipe is never retriable here.

use stream2neptune_common::{Classify, ErrorKind};

/// The line to or from the daemon could not be written, read or understood.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// Reading or writing the standard streams failed.
    #[error("i/o on the daemon's pipe: {0}")]
    Io(#[from] std::io::Error),
    /// A line from the daemon is not a message of the protocol.
    #[error("undecodable line from the daemon ({error}): {line}")]
    Decode {
        /// The line, cut to 200 characters.
        line: String,
        /// Why it could not be read.
        #[source]
        error: serde_json::Error,
    },
    /// A message came where another was due.
    #[error("the daemon sent `{got}` where `{expected}` was due")]
    Unexpected {
        /// What was due.
        expected: &'static str,
        /// What came.
        got: &'static str,
    },
    /// The daemon closed the pipe while an answer was due.
    #[error("the daemon closed the pipe while an answer was due")]
    Closed,
}

impl ChannelError {
    /// Always false: the pipe cannot be mended from this process (see [`Classify`]).
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }
}

/// [`ErrorKind::Permanent`]: the pipe fails the same way on every try (see the module's
/// documentation).
impl Classify for ChannelError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Permanent
    }
}

/// A checkpoint that was not stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The daemon tried and its checkpointer raised `exception`.
    #[error("checkpoint at {} refused by the daemon: {exception}", sequence_number.as_deref().unwrap_or("the last delivered record"))]
    Refused {
        /// The simple name of the KCL exception (`ShutdownException`, `ThrottlingException`,
        /// `KinesisClientLibDependencyException`, `InvalidStateException`,
        /// `IllegalArgumentException`, ...).
        exception: String,
        /// The position asked for.
        sequence_number: Option<String>,
        /// Its sub-sequence number.
        sub_sequence_number: Option<i64>,
    },
    /// The request or its answer did not get through.
    #[error(transparent)]
    Channel(#[from] ChannelError),
}

impl CheckpointError {
    /// The lease is gone (KCL's `ShutdownException`: the worker no longer holds the shard, or is
    /// shutting it down): stop writing the shard.
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, CheckpointError::Refused { exception, .. } if exception == "ShutdownException")
    }

    /// Whether asking again later may succeed (throttling or a DynamoDB dependency failure in
    /// the daemon; see [`Classify`]). A checkpoint not stored is never a loss: the records
    /// after the last stored checkpoint are delivered again to whoever holds the shard next.
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }
}

/// Throttling and dependency failures in the daemon are [`Retriable`](ErrorKind::Retriable);
/// a bad position asked for (`IllegalArgumentException`) is the processor's mistake,
/// [`Usage`](ErrorKind::Usage); anything else the daemon refuses, a lost lease among them, is
/// [`Permanent`](ErrorKind::Permanent); a pipe that failed takes its [`ChannelError`]'s kind.
impl Classify for CheckpointError {
    fn kind(&self) -> ErrorKind {
        match self {
            CheckpointError::Refused { exception, .. } => match exception.as_str() {
                "ThrottlingException"
                | "KinesisClientLibDependencyException"
                | "DependencyException"
                | "ProvisionedThroughputException" => ErrorKind::Retriable,
                "IllegalArgumentException" => ErrorKind::Usage,
                _ => ErrorKind::Permanent,
            },
            CheckpointError::Channel(e) => e.kind(),
        }
    }
}

/// Why [`crate::run`] stopped before the daemon closed the pipe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The pipe to the daemon failed.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The processor returned an error; the daemon got no answer.
    #[error("record processor failed on `{action}`: {source}")]
    Processor {
        /// The message being handled.
        action: &'static str,
        /// The processor's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl DriverError {
    /// Always false: a driver error ends the process; the daemon's leases move to other
    /// workers, which resume from the last checkpoint (see [`Classify`]).
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }
}

/// A pipe that failed takes its [`ChannelError`]'s kind; a processor that gave up on its shard
/// is [`Permanent`](ErrorKind::Permanent) here (its own error, kept as the source, says why).
impl Classify for DriverError {
    fn kind(&self) -> ErrorKind {
        match self {
            DriverError::Channel(e) => e.kind(),
            DriverError::Processor { .. } => ErrorKind::Permanent,
        }
    }
}
