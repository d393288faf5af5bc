//! What a record processor implements, and the handle through which it checkpoints.

use crate::channel::Channel;
use crate::error::CheckpointError;
use crate::message::{Incoming, KclRecord, Outgoing};
use async_trait::async_trait;

/// What the daemon says when it gives this process a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InitializeInput {
    /// The shard (one process per shard lease).
    pub shard_id: String,
    /// Where the lease's checkpoint stands: a sequence number, or `TRIM_HORIZON`, `LATEST`,
    /// `AT_TIMESTAMP` for a shard never checkpointed.
    pub sequence_number: Option<String>,
    /// The checkpoint's sub-sequence number.
    pub sub_sequence_number: Option<i64>,
}

/// Records of the shard, in shard order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessRecordsInput {
    /// The records (KPL aggregates already opened by the daemon).
    pub records: Vec<KclRecord>,
    /// How far the read is behind the tip of the shard.
    pub millis_behind_latest: Option<i64>,
}

/// A record processor for one shard, driven by [`crate::run`].
///
/// The daemon starts one process per shard it holds and sends it one message at a time,
/// waiting for each to be handled before it sends the next: a method returns when its work is
/// done. The order is `initialize`, then `process_records` any number of times, then one of
/// `lease_lost`, `shard_ended` or (when the worker stops or hands the lease over)
/// `shutdown_requested`, after which the daemon closes the process's input.
///
/// A method that returns an error ends the process without answering the daemon; the
/// daemon then stops (that is how the MultiLangDaemon treats a failed child) and its leases
/// expire and move to other workers, which resume from the last checkpoint. Return an error
/// only when going on could lose records.
#[async_trait]
pub trait ShardRecordProcessor: Send {
    /// The processor's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The shard this process is for, and where its checkpoint stands.
    async fn initialize(&mut self, input: InitializeInput) -> Result<(), Self::Error>;

    /// The next records of the shard. Checkpoint through `checkpointer` only past records that
    /// are done; a checkpoint refused with [`CheckpointError::is_lease_lost`] means another
    /// worker holds the shard now, and nothing more should be written for it.
    async fn process_records(
        &mut self,
        input: ProcessRecordsInput,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), Self::Error>;

    /// Another worker holds the shard now. Stop writing it; checkpointing is not possible.
    async fn lease_lost(&mut self) -> Result<(), Self::Error>;

    /// Every record of the shard was delivered. Checkpoint its end
    /// ([`Checkpointer::checkpoint_end`]) once every record is done: the shard's children
    /// start only after that.
    async fn shard_ended(&mut self, checkpointer: &mut Checkpointer<'_>)
        -> Result<(), Self::Error>;

    /// The worker is stopping, or handing the lease to another worker: checkpoint what is done.
    async fn shutdown_requested(
        &mut self,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), Self::Error>;
}

/// Asks the daemon to store this shard's checkpoint, and waits for its answer.
///
/// Valid only inside the processor method it is given to (the daemon accepts checkpoints only
/// while it waits for that method's answer).
pub struct Checkpointer<'a> {
    channel: &'a mut Channel,
    stored: usize,
}

impl<'a> Checkpointer<'a> {
    pub(crate) fn new(channel: &'a mut Channel) -> Self {
        Self { channel, stored: 0 }
    }

    /// Checkpoints after the record at `sequence_number` (and, inside a KPL aggregate, after
    /// its user record `sub_sequence_number`): every record up to and including it is done.
    pub async fn checkpoint(
        &mut self,
        sequence_number: &str,
        sub_sequence_number: Option<i64>,
    ) -> Result<(), CheckpointError> {
        self.request(Some(sequence_number.to_owned()), sub_sequence_number)
            .await
    }

    /// Checkpoints after the last record delivered so far; in [`ShardRecordProcessor::shard_ended`],
    /// the shard's end.
    pub async fn checkpoint_end(&mut self) -> Result<(), CheckpointError> {
        self.request(None, None).await
    }

    /// Checkpoints stored through this handle so far.
    pub fn stored(&self) -> usize {
        self.stored
    }

    async fn request(
        &mut self,
        sequence_number: Option<String>,
        sub_sequence_number: Option<i64>,
    ) -> Result<(), CheckpointError> {
        self.channel
            .send(&Outgoing::Checkpoint {
                sequence_number: sequence_number.clone(),
                sub_sequence_number,
            })
            .await?;
        // The daemon is waiting for this method's answer, so the only message it can send
        // now is the checkpoint's outcome.
        match self.channel.receive().await? {
            Some(Incoming::Checkpoint { error: None, .. }) => {
                self.stored += 1;
                Ok(())
            }
            Some(Incoming::Checkpoint {
                error: Some(exception),
                ..
            }) => Err(CheckpointError::Refused {
                exception,
                sequence_number,
                sub_sequence_number,
            }),
            Some(other) => Err(CheckpointError::Channel(
                crate::error::ChannelError::Unexpected {
                    expected: "checkpoint",
                    got: other.action(),
                },
            )),
            None => Err(CheckpointError::Channel(crate::error::ChannelError::Closed)),
        }
    }
}
