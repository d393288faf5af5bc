//! Building and running the stream-to-graph consumer from plain options: shared by the
//! `stream-to-graph` binary and the main job.

use crate::dead_letter::JsonLinesDeadLetters;
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::stats::PipelineStats;
use kinesis_source::{
    FileCheckpointStore, KinesisSource, KinesisSourceConfig, RecordSource, StartPosition, StreamRef,
};
use metrics_sink::MetricsSink;
use neptune_batch::{GremlinSink, GremlinSinkConfig, WriteMode};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Everything the consumer needs to know.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// Stream name or ARN.
    pub stream: String,
    /// Kinesis endpoint (`None`: AWS itself).
    pub kinesis_endpoint: Option<String>,
    /// Gremlin endpoint of the writer, `ws://` or `wss://`.
    pub gremlin_url: String,
    /// How edges are written.
    pub write_mode: WriteMode,
    /// Records per `GetRecords` call (the original's `BatchReadSize`), and the largest batch.
    pub batch_read_size: usize,
    /// Read through enhanced fan-out as the consumer of this name instead of polling.
    pub fan_out: Option<String>,
    /// Edges per write request (the original's `BatchWriteSize`).
    pub batch_write_size: usize,
    /// Write requests in flight per record batch (1: one after another, as the original).
    pub write_concurrency: usize,
    /// Percentage of sub-batches failed on purpose (the original's `PercentError`).
    pub percent_error: u8,
    /// Where shards without a checkpoint start.
    pub start_position: StartPosition,
    /// The checkpoint file.
    pub checkpoint_file: PathBuf,
    /// The dead-letter file (JSON lines).
    pub dead_letter_file: PathBuf,
    /// The `clusterId` metric dimension.
    pub cluster_id: String,
}

/// A consumer ready to run.
pub struct Consumer {
    /// The pipeline (and through it, the run's statistics).
    pub pipeline: Pipeline,
    /// The source.
    pub source: KinesisSource,
}

impl Consumer {
    /// Connects to both services and loads the checkpoints.
    pub async fn start(
        options: &ConsumerOptions,
        metrics: Arc<dyn MetricsSink>,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let mut sink_config = GremlinSinkConfig::new(options.gremlin_url.clone());
        sink_config.batch_size = Some(options.batch_write_size);
        sink_config.in_flight = Some(options.write_concurrency);
        sink_config.mode = options.write_mode;
        let sink = GremlinSink::connect(sink_config).await?;
        let pipeline = Pipeline::new(
            Arc::new(sink),
            Arc::new(JsonLinesDeadLetters::new(options.dead_letter_file.clone())),
            metrics,
            PipelineConfig {
                batch_write_size: options.batch_write_size,
                write_concurrency: options.write_concurrency,
                percent_error: options.percent_error,
                cluster_id: options.cluster_id.clone(),
                ..PipelineConfig::default()
            },
        )?;
        let client = local_services::kinesis_client(options.kinesis_endpoint.as_deref()).await;
        let mut config = KinesisSourceConfig::new(StreamRef::parse(&options.stream));
        config.batch_read_size = options.batch_read_size;
        config.fan_out = options.fan_out.clone();
        config.start_position = options.start_position.clone();
        // Poll a caught-up shard 4 times a second (within the 5 calls/s per shard limit) rather
        // than once: put-to-graph latency is then bounded by ~250 ms of polling, not 1 s.
        config.idle_time_between_reads = Duration::from_millis(250);
        let store = Arc::new(FileCheckpointStore::new(options.checkpoint_file.clone()));
        let source = KinesisSource::from_client(client, config, store).await?;
        Ok(Self { pipeline, source })
    }

    /// Runs until the source ends or `stop` turns true; honours `pause`.
    pub async fn run(
        mut self,
        stop: watch::Receiver<bool>,
        pause: watch::Receiver<bool>,
    ) -> Result<(), crate::pipeline::PipelineError> {
        let pipeline = self.pipeline.clone();
        pipeline.run(&mut self.source, stop, pause).await?;
        let _ = self.source.checkpoint().await;
        Ok(())
    }
}

/// Turns `stop` true once no record arrived for `idle`, the last batch reported no lag, and
/// every record read was acknowledged (so nothing is left in flight when the consumer stops).
pub fn stop_when_idle(
    stats: Arc<PipelineStats>,
    idle: Duration,
    stop: watch::Sender<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = stats.records_read.load(Ordering::Relaxed);
        let mut quiet_since = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = stats.records_read.load(Ordering::Relaxed);
            if now != last {
                last = now;
                quiet_since = tokio::time::Instant::now();
            } else if quiet_since.elapsed() >= idle
                && stats.lag_ms.load(Ordering::Relaxed) == 0
                && stats.acknowledged.load(Ordering::Relaxed) == now
            {
                let _ = stop.send(true);
                return;
            }
        }
    })
}

/// One line describing a run so far, for a live display.
pub fn live_line(stats: &PipelineStats, sample: &crate::stats::Sample) -> String {
    format!(
        "read {:>8}  written {:>8}  present {:>6}  dead {:>4}  {:>7.0} edges/s  write p50 {:>6.1} ms p99 {:>6.1} ms  lag {:>6} ms  retries {}",
        stats.records_read.load(Ordering::Relaxed),
        stats.edges_written.load(Ordering::Relaxed),
        stats.edges_already_present.load(Ordering::Relaxed),
        stats.dead_letters.load(Ordering::Relaxed),
        sample.edges_per_s,
        sample.write_p50_ms,
        sample.write_p99_ms,
        sample.lag_ms as u64,
        stats.sink_retries.load(Ordering::Relaxed) + stats.pipeline_retries.load(Ordering::Relaxed),
    )
}
