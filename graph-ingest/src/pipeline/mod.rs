//! The consumer loop: records from a [`RecordSource`], mapped to graph writes, written through
//! a [`GraphSink`], then acknowledged, so a shard's checkpoint only ever covers records that
//! are in the graph or whose dead letter is stored.
//!
//! * [`builder`]: what a pipeline is made of, checked once.
//! * [`batch`]: one batch from records to settled: map, write (holding the shard through
//!   transient failures), then settle each record (acknowledged, held or dead-lettered).
//! * [`run`]: the shards, each in order, in lanes by partition key, and the checkpoint ticks.

mod batch;
mod builder;
mod run;

pub use builder::PipelineBuilder;

use crate::config::PipelineConfig;
use crate::control::Control;
use crate::dead_letter::{DeadLetterError, DeadLetterSink};
use crate::fault::FaultInjector;
use crate::mapper::RecordMapper;
use crate::stats::PipelineStats;
use crate::ConfigError;
use kinesis_source::{Record, RecordBatch, SourceError};
use metrics_sink::MetricsSink;
use neptune_batch::{GraphSink, SinkError};
use std::sync::Arc;
use std::time::SystemTime;
use stream2neptune_common::{Classify, ErrorKind};

#[cfg(doc)]
use kinesis_source::RecordSource;

/// Why a pipeline stopped before its source ended. Transient failures never end up here (they
/// hold their shard until they pass); these are the failures no waiting mends.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The source failed in a way it could not recover from.
    #[error("record source: {0}")]
    Source(#[from] SourceError),
    /// The graph sink refused a call for good (its configuration, or it was closed).
    #[error("graph sink: {0}")]
    Sink(#[source] SinkError),
    /// A dead letter could not be stored, and never will be where it is configured to go.
    #[error("{0}")]
    DeadLetter(#[from] DeadLetterError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The kind of the failure underneath.
impl Classify for PipelineError {
    fn kind(&self) -> ErrorKind {
        match self {
            PipelineError::Source(e) => e.kind(),
            PipelineError::Sink(e) => e.kind(),
            PipelineError::DeadLetter(e) => e.kind(),
            PipelineError::Config(e) => e.kind(),
        }
    }
}

/// What happened to the records of one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchResult {
    /// Items created.
    pub written: u64,
    /// Items already there.
    pub already_present: u64,
    /// Changes older than what the graph holds, skipped.
    pub stale: u64,
    /// Records set aside, by sequence number.
    pub dead_lettered: Vec<String>,
    /// Records left unacknowledged because the pipeline stopped while they were held: they
    /// are read again on the next start.
    pub unfinished: usize,
}

/// When a record was put on the stream, if the caller knows it better than the stream's
/// `ApproximateArrivalTimestamp`; see [`PipelineBuilder::put_time`].
pub type PutTime = Arc<dyn Fn(&Record) -> Option<SystemTime> + Send + Sync>;

/// What a pipeline is made of, shared by its tasks.
struct Inner {
    mapper: Arc<dyn RecordMapper>,
    sink: Arc<dyn GraphSink>,
    dead_letters: Arc<dyn DeadLetterSink>,
    metrics: Arc<dyn MetricsSink>,
    config: PipelineConfig,
    faults: FaultInjector,
    stats: PipelineStats,
    control: Control,
    put_time: Option<PutTime>,
}

/// Reads a [`RecordSource`] shard by shard into a graph.
///
/// * Shards are processed concurrently, each in shard order (with a
///   [`parallelization_factor`](PipelineConfig::parallelization_factor) above 1, in that many
///   lanes by partition key, each in order).
/// * Each batch is mapped record by record ([`RecordMapper`]); a record the mapper rejects is a
///   dead letter. The rest is written through the [`GraphSink`] (vertices, then edges), which
///   answers per item.
/// * A record whose items are all in the graph (written or already there) is acknowledged at
///   once. A record with an item that is bad in itself is a dead letter, acknowledged once the
///   letter is stored. A record whose write failed for a transient reason **holds** its shard
///   (see [`HoldPolicy`](crate::HoldPolicy)): it is tried again until it goes through, and the
///   checkpoint, which only covers the acknowledged prefix of the shard, stays before it.
/// * Checkpoints are written every [`checkpoint_interval`](PipelineConfig::checkpoint_interval)
///   and at the end; the original's metrics go to the [`MetricsSink`], flushed at the end.
/// * [`Control`] stops (draining what is in flight) or pauses the pipeline.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A builder; `mapper`, `sink` and `dead_letters` must be set.
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    /// The running totals (a handle: it keeps counting while the pipeline runs).
    pub fn stats(&self) -> PipelineStats {
        self.inner.stats.clone()
    }

    /// Stops or pauses this pipeline from anywhere.
    pub fn control(&self) -> Control {
        self.inner.control.clone()
    }

    /// The settings.
    pub fn config(&self) -> &PipelineConfig {
        &self.inner.config
    }

    /// Processes one batch to the end: every record ends in the graph (acknowledged at once),
    /// or as a stored dead letter (then acknowledged); a transient failure holds the batch
    /// until it passes. Returns early, leaving held records unacknowledged, only when the
    /// pipeline is asked to stop.
    pub async fn process_batch(&self, batch: &RecordBatch) -> Result<BatchResult, PipelineError> {
        let records: Vec<&Record> = batch.records.iter().collect();
        self.process(
            &batch.shard_id,
            &records,
            &batch.acker,
            batch.millis_behind_latest,
        )
        .await
    }
}
