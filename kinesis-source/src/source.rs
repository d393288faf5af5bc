//! The trait every record source implements.

use crate::error::SourceError;
use crate::record::RecordBatch;
use async_trait::async_trait;

/// A sharded, ordered stream of records with checkpoints that only cover acknowledged work.
///
/// The contract:
/// * Batches of one shard come in shard order, and each batch holds consecutive records.
/// * A record is *acknowledged* through the batch's [`Acker`](crate::Acker) once the consumer is
///   done with it (written, or set aside as a dead letter). Nothing else moves a checkpoint.
/// * A shard's checkpoint covers a record only if it and every earlier record of the shard were
///   acknowledged; so after a crash and restart, reading resumes right after the last
///   checkpointed record: nothing is skipped, and only the records that were in flight repeat.
/// * A shard created by a reshard is only read once every parent was read to its end and that
///   end was checkpointed.
#[async_trait]
pub trait RecordSource: Send {
    /// The next batch from any shard, waiting until one is available. `Ok(None)` when the source
    /// is finished: shut down, or every shard closed and read to its end.
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>, SourceError>;

    /// Writes the checkpoints that acknowledgements moved since the last call, and returns how
    /// many shards were updated. Sources also do this on their own from time to time.
    async fn checkpoint(&mut self) -> Result<usize, SourceError>;

    /// Stops reading, waits (bounded) for in-flight work to be acknowledged, and writes final
    /// checkpoints. After this, `next_batch` returns `Ok(None)`.
    async fn shutdown(&mut self) -> Result<(), SourceError>;
}
