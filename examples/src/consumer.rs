//! Building and running the stream-to-graph consumer from plain options: shared by the
//! `stream-to-graph` binary, the main job and the end-to-end tests. All the consumer's logic
//! is the `graph-ingest` library's; this is wiring (Kinesis, Gremlin, files).

use crate::cli::{ExitClass, Failure};
use graph_ingest::dead_letter::{JsonLinesDeadLetters, KinesisDeadLetters};
use graph_ingest::stats::Sample;
use graph_ingest::{
    ChangeJson, Control, DeadLetterSink, FollowsCsv, GraphWrites, Pipeline, PipelineConfig,
    PipelineError, PipelineStats, RecordMapper, Rejection,
};
use kinesis_source::metrics::SourceStatsReader;
use kinesis_source::producer::{KinesisProducer, ProducerConfig};
use kinesis_source::{
    FileCheckpointStore, KinesisSource, KinesisSourceConfig, Record, RecordSource, StartPosition,
    StreamRef,
};
use metrics_sink::MetricsSink;
use neptune_batch::{GremlinSink, WriteMode};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How the records on the stream are read: the mapper of a consumer or record processor.
#[derive(Debug, Clone)]
pub enum RecordFormat {
    /// `follows-csv`: one `follows` edge per record, the original's `from,to,creationDate` line
    /// (or the driver's JSON object).
    FollowsCsv(FollowsCsv),
    /// `changes`: one JSON change per record, an upsert or a delete of a vertex or an edge with
    /// a version; a change older than what the graph holds is skipped as stale.
    Changes(ChangeJson),
}

impl Default for RecordFormat {
    /// `follows-csv`, the original's records.
    fn default() -> Self {
        RecordFormat::FollowsCsv(FollowsCsv::default())
    }
}

impl RecordFormat {
    /// The formats' names, as `--format` takes them.
    pub const NAMES: [&'static str; 2] = ["follows-csv", "changes"];

    /// The format named `name`; `placeholder_label` is the label of the placeholders the
    /// `changes` format makes for edge endpoints that do not exist yet. The error is one line.
    pub fn parse(name: &str, placeholder_label: &str) -> Result<Self, String> {
        match name {
            "follows-csv" => Ok(Self::default()),
            "changes" => {
                if placeholder_label.is_empty()
                    || placeholder_label.len() > ChangeJson::MAX_FIELD_BYTES
                {
                    return Err(format!(
                        "--placeholder-label (PLACEHOLDER_LABEL) must be 1 to {} bytes long",
                        ChangeJson::MAX_FIELD_BYTES
                    ));
                }
                Ok(RecordFormat::Changes(
                    ChangeJson::default().placeholder_label(placeholder_label),
                ))
            }
            other => Err(format!(
                "--format (RECORD_FORMAT) {other:?} is not a record format: use follows-csv or changes"
            )),
        }
    }

    /// Its name, as `--format` takes it.
    pub fn name(&self) -> &'static str {
        match self {
            RecordFormat::FollowsCsv(_) => Self::NAMES[0],
            RecordFormat::Changes(_) => Self::NAMES[1],
        }
    }
}

impl RecordMapper for RecordFormat {
    fn map(&self, record: &Record) -> Result<GraphWrites, Rejection> {
        match self {
            RecordFormat::FollowsCsv(m) => m.map(record),
            RecordFormat::Changes(m) => m.map(record),
        }
    }
}

/// The record format as command-line options (flatten them into a binary's arguments with
/// `#[command(flatten)]`); [`FormatArgs::format`] checks them.
#[derive(Debug, Clone, clap::Args)]
pub struct FormatArgs {
    /// What each record is: `follows-csv`, one follows edge, the original's CSV line
    /// `from,to,creationDate` (or the driver's JSON object); `changes`, one JSON change to the
    /// graph, `{"op":"upsert"|"delete","vertex"|"edge":{...},"version":N}`, applied only if
    /// newer than the element's version (older ones are counted as stale).
    #[arg(
        long = "format",
        env = "RECORD_FORMAT",
        value_name = "FORMAT",
        default_value = "follows-csv"
    )]
    pub format: String,
    /// With `--format changes`: the label of the placeholder vertex made for an edge endpoint
    /// that does not exist yet, when the record names no label for it.
    #[arg(long, env = "PLACEHOLDER_LABEL", default_value = "vertex")]
    pub placeholder_label: String,
}

impl FormatArgs {
    /// The format asked for; an unknown name is a usage error (status 2) of one line.
    pub fn format(&self) -> Result<RecordFormat, Failure> {
        RecordFormat::parse(self.format.trim(), &self.placeholder_label)
            .map_err(|e| Failure::new(ExitClass::Usage, e))
    }
}

/// Everything the consumer needs to know.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// Stream name or ARN.
    pub stream: String,
    /// Kinesis endpoint (`None`: AWS itself).
    pub kinesis_endpoint: Option<String>,
    /// Gremlin endpoint of the writer, `ws://` or `wss://`.
    pub gremlin_url: String,
    /// How the Gremlin endpoint is reached beyond its URL (TLS name, signing host, CA file,
    /// IAM); the default connects by the URL alone.
    pub connection: crate::connection::Connection,
    /// What each record is, and so how it becomes graph writes.
    pub format: RecordFormat,
    /// How edges are written.
    pub write_mode: WriteMode,
    /// Records per `GetRecords` call (the original's `BatchReadSize`), and the largest batch.
    pub batch_read_size: usize,
    /// Read through enhanced fan-out as the consumer of this name instead of polling.
    pub fan_out: Option<String>,
    /// Edges per write request (the original's `BatchWriteSize`, 100); `None`: adapted to the
    /// server by the sink.
    pub batch_write_size: Option<usize>,
    /// Write requests in flight at once (the sink never runs two that share a vertex).
    /// `None`: adapted to the server by the sink.
    pub write_concurrency: Option<usize>,
    /// Batches of one shard processed at once, by partition key (`ParallelizationFactor`).
    pub parallelization_factor: usize,
    /// Percentage of write calls failed on purpose (the original's `PercentError`).
    pub percent_error: u8,
    /// Records older than this whose write fails for a transient reason become dead letters
    /// (`MaximumRecordAgeInSeconds`); `None`: held as long as it takes.
    pub max_record_age: Option<Duration>,
    /// Where shards without a checkpoint start.
    pub start_position: StartPosition,
    /// The checkpoint file.
    pub checkpoint_file: PathBuf,
    /// The dead-letter file (JSON lines).
    pub dead_letter_file: PathBuf,
    /// Put dead letters on this Kinesis stream (name or ARN) instead of the file.
    pub dead_letter_stream: Option<String>,
    /// The `clusterId` metric dimension.
    pub cluster_id: String,
    /// When the records were put, if this process put them: the put-to-graph latency starts
    /// there instead of at the stream's arrival timestamp.
    pub put_times: Option<crate::producer::PutTimes>,
}

impl ConsumerOptions {
    /// The defaults of the original, reading `stream` into `gremlin_url`, with the files in
    /// `dir`.
    pub fn new(stream: &str, gremlin_url: &str, dir: &std::path::Path) -> Self {
        Self {
            stream: stream.to_owned(),
            kinesis_endpoint: None,
            gremlin_url: gremlin_url.to_owned(),
            connection: Default::default(),
            format: RecordFormat::default(),
            write_mode: WriteMode::Merge,
            batch_read_size: 1000,
            fan_out: None,
            batch_write_size: None,
            write_concurrency: None,
            parallelization_factor: 1,
            percent_error: 0,
            max_record_age: None,
            start_position: StartPosition::TrimHorizon,
            checkpoint_file: dir.join("checkpoints.json"),
            dead_letter_file: dir.join("dead-letters.jsonl"),
            dead_letter_stream: None,
            cluster_id: "local".into(),
            put_times: None,
        }
    }
}

/// A consumer ready to run.
pub struct Consumer {
    /// The pipeline (and through it, the run's statistics and its control).
    pub pipeline: Pipeline,
    /// The source.
    pub source: KinesisSource,
    /// The writer.
    pub sink: Arc<GremlinSink>,
}

impl Consumer {
    /// Opens the dead-letter and checkpoint files (so a path that cannot be written fails here,
    /// before anything is read or written), connects to the graph, then starts the source,
    /// which refuses checkpoints of another stream.
    pub async fn start(
        options: &ConsumerOptions,
        metrics: Arc<dyn MetricsSink>,
    ) -> Result<Self, Failure> {
        let endpoint = crate::cli::endpoint_url(options.kinesis_endpoint.as_deref());
        let client = local_services::kinesis_client(endpoint).await;
        let dead_letters: Arc<dyn DeadLetterSink> = match &options.dead_letter_stream {
            None => Arc::new(JsonLinesDeadLetters::open(&options.dead_letter_file)?),
            Some(stream) => {
                let config = ProducerConfig::builder(StreamRef::parse(stream)).build()?;
                let producer = KinesisProducer::from_client(client.clone(), config)?;
                Arc::new(KinesisDeadLetters::new(producer))
            }
        };
        let store = FileCheckpointStore::open(&options.checkpoint_file)?;
        let sink_config = options
            .connection
            .sink(&options.gremlin_url)
            .batch_size(options.batch_write_size)
            .in_flight(options.write_concurrency)
            .mode(options.write_mode)
            .build()?;
        let sink = Arc::new(GremlinSink::connect(sink_config).await?);
        let config = PipelineConfig::builder()
            .parallelization_factor(options.parallelization_factor)
            .percent_error(options.percent_error)
            .cluster_id(options.cluster_id.clone())
            .max_record_age(options.max_record_age)
            .build()?;
        let mut pipeline = Pipeline::builder()
            .mapper(options.format.clone())
            .sink(sink.clone())
            .dead_letters(dead_letters)
            .metrics(metrics)
            .config(config);
        if let Some(times) = options.put_times.clone() {
            pipeline = pipeline.put_time(move |record| times.take(record));
        }
        let pipeline = pipeline.build()?;
        let config = KinesisSourceConfig::builder(StreamRef::parse(&options.stream))
            .batch_read_size(options.batch_read_size)
            .fan_out(options.fan_out.clone())
            .start_position(options.start_position.clone())
            .build()?;
        let source = KinesisSource::from_client(client, config, Arc::new(store)).await?;
        Ok(Self {
            pipeline,
            source,
            sink,
        })
    }

    /// Stops or pauses the consumer from anywhere.
    pub fn control(&self) -> Control {
        self.pipeline.control()
    }

    /// Runs until the source ends or the consumer is stopped; writes final checkpoints.
    pub async fn run(mut self) -> Result<(), PipelineError> {
        let pipeline = self.pipeline.clone();
        pipeline.run(&mut self.source).await?;
        let _ = self.source.checkpoint().await;
        Ok(())
    }
}

/// Stops the consumer once it has been idle for `idle`: no record read in that time, every
/// record read acknowledged, no shard held, and no shard reader restarted in that time (a
/// reader that keeps failing is not idleness: the source reports it as an error instead).
pub fn stop_when_idle(
    stats: PipelineStats,
    source: SourceStatsReader,
    idle: Duration,
    control: Control,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let activity = || (stats.snapshot().records_read, source.read().reader_restarts);
        let mut last = activity();
        let mut quiet_since = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = activity();
            if now != last {
                last = now;
                quiet_since = tokio::time::Instant::now();
            } else if quiet_since.elapsed() >= idle && {
                let totals = stats.snapshot();
                totals.acknowledged == now.0 && totals.held_now == 0
            } {
                control.stop();
                return;
            }
        }
    })
}

/// [`live_line`], with the changes skipped as stale when the records are changes.
pub fn live_line_of(format: &RecordFormat, stats: &PipelineStats, sample: &Sample) -> String {
    let line = live_line(stats, sample);
    match format {
        RecordFormat::FollowsCsv(_) => line,
        RecordFormat::Changes(_) => format!("{line}  stale {}", stats.snapshot().items_stale),
    }
}

/// One line describing a run so far, for a live display.
pub fn live_line(stats: &PipelineStats, sample: &Sample) -> String {
    let stats = stats.snapshot();
    format!(
        "read {:>8}  written {:>8}  present {:>6}  dead {:>4}  {:>7.0} edges/s  write p50 {:>6.1} ms p99 {:>6.1} ms  age {:>6} ms  held {}  retries {}",
        stats.records_read,
        stats.items_written,
        stats.items_already_present,
        stats.dead_letters,
        sample.items_per_s,
        sample.write_p50_ms,
        sample.write_p99_ms,
        sample.iterator_age_ms as u64,
        sample.held,
        stats.sink_retries + stats.pipeline_retries,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kinesis_source::SequenceNumber;

    #[test]
    fn formats_are_named_and_map_their_records() {
        for name in RecordFormat::NAMES {
            assert_eq!(RecordFormat::parse(name, "vertex").unwrap().name(), name);
        }
        assert_eq!(RecordFormat::default().name(), "follows-csv");
        let changes = RecordFormat::parse("changes", "person").unwrap();
        let line = br#"{"op":"upsert","edge":{"id":"f1","label":"follows","from":"p1","to":"p2"},"version":3}"#;
        let record = Record::new("shard-0", SequenceNumber::new("1"), "p1", &line[..]);
        let writes = changes.map(&record).unwrap();
        assert_eq!(writes.mutations.len(), 1);
        assert!(format!("{:?}", writes.mutations[0]).contains("person"));
        assert!(RecordFormat::default().map(&record).is_err());
        let e = RecordFormat::parse("csv", "vertex").unwrap_err();
        assert!(e.contains("\"csv\"") && !e.contains('\n'), "{e}");
        assert!(RecordFormat::parse("changes", "").is_err());
    }
}
