//! What can go wrong between the processor and the daemon.

/// The line to or from the daemon could not be written, read or understood.
#[derive(Debug, thiserror::Error)]
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
    /// None of these can be fixed by trying again: the pipe is the process's only link to its
    /// daemon.
    pub fn is_retriable(&self) -> bool {
        false
    }
}

/// A checkpoint that was not stored.
#[derive(Debug, thiserror::Error)]
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
    #[error("{0}")]
    Channel(#[from] ChannelError),
}

impl CheckpointError {
    /// The lease is gone (KCL's `ShutdownException`: the worker no longer holds the shard, or is
    /// shutting it down): stop writing the shard.
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, CheckpointError::Refused { exception, .. } if exception == "ShutdownException")
    }

    /// Whether asking again later may succeed (throttling or a DynamoDB dependency failure in
    /// the daemon). A checkpoint not stored is never a loss: the records after the last
    /// stored checkpoint are delivered again to whoever holds the shard next.
    pub fn is_retriable(&self) -> bool {
        matches!(self, CheckpointError::Refused { exception, .. }
            if matches!(exception.as_str(),
                "ThrottlingException" | "KinesisClientLibDependencyException" | "DependencyException"
                | "ProvisionedThroughputException"))
    }
}

/// Why [`crate::run`] stopped before the daemon closed the pipe.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The pipe to the daemon failed.
    #[error("{0}")]
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
    /// A driver error ends the process; the daemon's leases move to other workers, which
    /// resume from the last checkpoint. Nothing to retry in this process.
    pub fn is_retriable(&self) -> bool {
        false
    }
}
