//! [`KinesisSource`]: the [`RecordSource`] over a Kinesis data stream.

use crate::ack::Acker;
use crate::api::{ApiError, ApiErrorKind, KinesisApi};
use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::checkpoint_writer::CheckpointWriter;
use crate::config::KinesisSourceConfig;
use crate::error::SourceError;
use crate::metrics::{self as names, SourceCounters, SourceStats, SourceStatsReader};
use crate::record::{RecordBatch, ShardId};
use crate::shutdown::ShutdownHandle;
use crate::source::RecordSource;
use crate::supervisor::{Shared, Supervisor};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Reads every shard of a Kinesis data stream, one task per shard, parents before children,
/// with checkpoints that only cover acknowledged records.
///
/// * Shards are found with `ListShards` at start, every
///   [`shard_sync_interval`](KinesisSourceConfig::shard_sync_interval), and whenever a closed
///   shard is finished.
/// * A shard created by a split or a merge starts only once every parent was read to its end
///   **and** its `ShardEnd` checkpoint was written, which happens only when every record of the
///   parent was acknowledged. Records of one partition key therefore come in the order they
///   were written, across reshards.
/// * A stored checkpoint always wins over the configured start position.
/// * A reader whose iterator expired continues after the last record it delivered; throttling
///   and transient errors are retried with bounded, jittered backoff; a reader that fails
///   anyway is restarted (counted in [`names::SHARD_READER_RESTARTS`] and logged), and after
///   too many failures in a row `next_batch` returns the error instead of going quiet.
pub struct KinesisSource {
    rx: mpsc::Receiver<Result<RecordBatch, SourceError>>,
    acker: Acker,
    writer: Arc<CheckpointWriter>,
    cancel: CancellationToken,
    supervisor: Option<JoinHandle<()>>,
    stats: Arc<SourceCounters>,
    config: Arc<KinesisSourceConfig>,
    shut_down: bool,
}

impl std::fmt::Debug for KinesisSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KinesisSource")
            .field("stream", &self.config.stream)
            .field("shut_down", &self.shut_down)
            .finish()
    }
}

impl KinesisSource {
    /// Starts reading with the real SDK client (feature `kinesis`).
    #[cfg(feature = "kinesis")]
    pub async fn from_client(
        client: aws_sdk_kinesis::Client,
        config: KinesisSourceConfig,
        store: Arc<dyn CheckpointStore>,
    ) -> Result<Self, SourceError> {
        Self::start(
            Arc::new(crate::api::SdkKinesisApi::new(client)),
            config,
            store,
        )
        .await
    }

    /// Validates `config`, loads the stored checkpoints, lists the shards (failing fast if the
    /// stream does not exist) and starts the readers.
    pub async fn start(
        api: Arc<dyn KinesisApi>,
        config: KinesisSourceConfig,
        store: Arc<dyn CheckpointStore>,
    ) -> Result<Self, SourceError> {
        config.validate()?;
        names::describe();
        let config = Arc::new(config);
        let stats = Arc::new(SourceCounters::default());
        let acker = Acker::new();
        let stored = load_checkpoints(&*api, &config, &*store).await?;
        let writer = Arc::new(CheckpointWriter::new(
            acker.clone(),
            store,
            config.call_timeout,
            stats.clone(),
        ));
        let consumer_arn = match &config.fan_out {
            Some(name) => Some(fan_out_consumer(&*api, &config, name).await?),
            None => None,
        };
        let cancel = CancellationToken::new();
        let (tx, rx) = mpsc::channel(config.channel_capacity);
        let mut supervisor = Supervisor::new(Shared {
            api,
            consumer_arn,
            config: config.clone(),
            writer: writer.clone(),
            acker: acker.clone(),
            tx,
            cancel: cancel.clone(),
            stats: stats.clone(),
        });
        supervisor.begin(stored).await?;
        let handle = tokio::spawn(supervisor.run());
        Ok(Self {
            rx,
            acker,
            writer,
            cancel,
            supervisor: Some(handle),
            stats,
            config,
            shut_down: false,
        })
    }

    /// A handle that stops this source from anywhere (see [`ShutdownHandle::trigger_on_signals`]).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle::new(self.cancel.clone())
    }

    /// Running totals (records, bytes, retries, checkpoint writes...) so far.
    pub fn stats(&self) -> SourceStats {
        self.stats.snapshot()
    }

    /// Reads the running totals from another task, for as long as it is kept (a progress
    /// display, or a watch that stops the consumer once it is idle).
    pub fn stats_reader(&self) -> SourceStatsReader {
        SourceStatsReader::new(self.stats.clone())
    }

    /// The acknowledgement handle shared by every batch of this source.
    pub fn acker(&self) -> Acker {
        self.acker.clone()
    }
}

impl Drop for KinesisSource {
    fn drop(&mut self) {
        // Without `shutdown`, this is a crash as far as checkpoints go: readers just stop.
        self.cancel.cancel();
    }
}

#[async_trait]
impl RecordSource for KinesisSource {
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>, SourceError> {
        if self.shut_down {
            return Ok(None);
        }
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Ok(None),
            item = self.rx.recv() => item.transpose(),
        }
    }

    async fn checkpoint(&mut self) -> Result<usize, SourceError> {
        self.writer.flush().await
    }

    async fn shutdown(&mut self) -> Result<(), SourceError> {
        if self.shut_down {
            return Ok(());
        }
        self.shut_down = true;
        self.cancel.cancel();
        let deadline = tokio::time::Instant::now() + self.config.shutdown_timeout;
        if let Some(mut handle) = self.supervisor.take() {
            if tokio::time::timeout_at(deadline, &mut handle)
                .await
                .is_err()
            {
                handle.abort();
                tracing::warn!("the Kinesis source supervisor did not stop in time");
            }
        }
        // Batches still queued were never seen by the consumer: they will be read again after
        // a restart. Everything before them must be acknowledged before the last checkpoint.
        self.rx.close();
        let mut queued = 0usize;
        while let Ok(item) = self.rx.try_recv() {
            if let Ok(batch) = item {
                queued += batch.records.len();
            }
        }
        loop {
            let in_flight = self.acker.with_tracker(|t| t.total_in_flight());
            if in_flight <= queued {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    unacknowledged = in_flight - queued,
                    "shutdown timed out waiting for acknowledgements; those records will be read again"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.writer.flush().await?;
        Ok(())
    }
}

/// Checks, before anything is read, that the stream exists and that the store's checkpoints
/// are its own; the stored checkpoints.
async fn load_checkpoints(
    api: &dyn KinesisApi,
    config: &KinesisSourceConfig,
    store: &dyn CheckpointStore,
) -> Result<BTreeMap<ShardId, Checkpoint>, SourceError> {
    let identity = tokio::time::timeout(config.call_timeout, api.describe_stream(&config.stream))
        .await
        .map_err(|_| no_answer("DescribeStreamSummary", config.call_timeout))??;
    tokio::time::timeout(config.call_timeout, store.bind_stream(&identity))
        .await
        .map_err(|_| {
            SourceError::checkpoint(
                format!(
                    "reading the checkpoint store took longer than {:?}",
                    config.call_timeout
                ),
                true,
            )
        })??;
    tokio::time::timeout(config.call_timeout, store.load_all())
        .await
        .map_err(|_| {
            SourceError::checkpoint(
                format!(
                    "loading checkpoints took longer than {:?}",
                    config.call_timeout
                ),
                true,
            )
        })?
}

/// A call to the service that got no answer in time.
fn no_answer(operation: &'static str, timeout: Duration) -> SourceError {
    ApiError::new(
        operation,
        ApiErrorKind::Transient,
        format!("no answer within {timeout:?}"),
    )
    .into()
}

/// How long a newly registered fan-out consumer may take to become `ACTIVE` (seconds on AWS).
const CONSUMER_READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Registers (or finds) the enhanced fan-out consumer `name` and waits until it is `ACTIVE`;
/// its ARN.
async fn fan_out_consumer(
    api: &dyn KinesisApi,
    config: &KinesisSourceConfig,
    name: &str,
) -> Result<Arc<str>, SourceError> {
    let deadline = tokio::time::Instant::now() + CONSUMER_READY_TIMEOUT;
    let timed_out = |operation: &'static str| no_answer(operation, config.call_timeout);
    let (arn, mut active) = tokio::time::timeout(
        config.call_timeout,
        api.register_consumer(&config.stream, name),
    )
    .await
    .map_err(|_| timed_out("RegisterStreamConsumer"))??;
    while !active {
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::new(
                "DescribeStreamConsumer",
                ApiErrorKind::Transient,
                format!("consumer {arn} not ACTIVE after {CONSUMER_READY_TIMEOUT:?}"),
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        active = tokio::time::timeout(config.call_timeout, api.consumer_active(&arn))
            .await
            .map_err(|_| timed_out("DescribeStreamConsumer"))??;
    }
    tracing::info!(consumer = %arn, "reading through enhanced fan-out");
    Ok(arn.into())
}
