//! The consumer as a KCL MultiLang record processor: the Kinesis Client Library's
//! MultiLangDaemon (see `scripts/kcl-fleet.sh`) holds the shard leases in DynamoDB and starts one
//! of these processes per shard it holds; each writes its shard's `follows` edges through the
//! same pipeline as `stream-to-graph` (decode, `GraphSink`, dead letters, metrics) and checkpoints
//! through the daemon only over the acknowledged prefix.
//!
//! The glue between the protocol (`kcl-multilang`) and the pipeline is this file alone:
//! * records are delivered to an `AckTracker` (through the pipeline's `Acker`) and handed to the
//!   pipeline in chunks of `--chunk-records`; the pipeline acknowledges each record once its edge
//!   is in the graph or its dead letter is on disk;
//! * after a chunk, when `--checkpoint-interval-ms` has passed, and at the end of every
//!   `processRecords`, the tracker's acknowledged-prefix checkpoint is sent to the daemon;
//! * a checkpoint refused because the lease is gone (KCL's `ShutdownException`), or a
//!   `leaseLost` message, stops all writing for the shard at once (the rest of the batch is left
//!   to the lease's new owner);
//! * `shardEnded` checkpoints the shard's end (its children start after that);
//!   `shutdownRequested` (the worker stops, or hands the lease over) checkpoints what is done;
//! * a pipeline error (a dead letter that could not be stored) ends the process without an
//!   answer, so the daemon stops and the shard is taken over from its last checkpoint.
//!
//! Standard output is the protocol's; logs go to standard error, which the daemon copies into its
//! log. With `--events-dir`, each process also appends its lifecycle (one JSON object a line) to
//! a file of its own there, for operators and tests.

use async_trait::async_trait;
use clap::Parser;
use kcl_multilang::{
    Checkpointer, InitializeInput, KclRecord, ProcessRecordsInput, ShardRecordProcessor,
};
use kinesis_source::{Acker, Checkpoint, Record, RecordBatch, SequenceNumber};
use metrics_sink::MetricsSink;
use neptune_batch::{GraphSink, GremlinSink, GremlinSinkConfig};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use stream2neptune_examples::cli::WriteModeArg;
use stream2neptune_examples::dead_letter::JsonLinesDeadLetters;
use stream2neptune_examples::metrics_setup::RunMetrics;
use stream2neptune_examples::pipeline::{Pipeline, PipelineConfig, PipelineError};

/// Command-line options; each can also be set through the environment variable named (the
/// daemon starts the processor with its own environment).
#[derive(Debug, Parser)]
#[command(
    about = "A KCL MultiLangDaemon record processor writing follows edges into a Gremlin Server / Neptune"
)]
struct Args {
    /// Gremlin endpoint of the writer.
    #[arg(
        long,
        env = "GREMLIN_URL",
        default_value = "ws://127.0.0.1:8182/gremlin"
    )]
    gremlin_url: String,
    /// Edges per write request (BatchWriteSize).
    #[arg(long, env = "BATCH_WRITE_SIZE", default_value_t = 100)]
    batch_write_size: usize,
    /// Write requests in flight per chunk (1: one after another, as the original).
    #[arg(long, env = "WRITE_CONCURRENCY", default_value_t = 1)]
    write_concurrency: usize,
    /// How edges are written.
    #[arg(long, value_enum, env = "WRITE_MODE", default_value = "merge")]
    write_mode: WriteModeArg,
    /// Records handed to the pipeline at a time: a lost lease stops the writes at the next
    /// chunk boundary.
    #[arg(long, env = "KCL_PROCESSOR_CHUNK_RECORDS", default_value_t = 500)]
    chunk_records: usize,
    /// Least time between two checkpoints inside one `processRecords` (one is always sent at
    /// its end when the prefix moved).
    #[arg(long, env = "KCL_PROCESSOR_CHECKPOINT_MS", default_value_t = 1000)]
    checkpoint_interval_ms: u64,
    /// Directory of the dead-letter files (JSON lines, one file per shard).
    #[arg(
        long,
        env = "KCL_PROCESSOR_DEAD_LETTER_DIR",
        default_value = "dead-letters"
    )]
    dead_letter_dir: PathBuf,
    /// Directory where each process appends its lifecycle events (JSON lines); none if unset.
    #[arg(long, env = "KCL_PROCESSOR_EVENTS_DIR")]
    events_dir: Option<PathBuf>,
    /// The worker this process belongs to (set by `scripts/kcl-fleet.sh` on the daemon).
    #[arg(long, env = "KCL_WORKER_ID", default_value = "worker")]
    worker_id: String,
    /// The clusterId metric dimension.
    #[arg(long, env = "CLUSTER_ID", default_value = "local")]
    cluster_id: String,
    /// Publish the pipeline's metrics to CloudWatch at this endpoint (`aws` for AWS itself).
    #[arg(long, env = "CLOUDWATCH_ENDPOINT_URL")]
    cloudwatch_endpoint: Option<String>,
}

/// Lifecycle events, appended as JSON lines to a file of this process's own.
struct Events {
    file: Option<std::fs::File>,
    worker: String,
}

impl Events {
    fn record(&mut self, shard: &str, event: &str, fields: serde_json::Value) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut line = json!({"at_ms": at, "worker": self.worker, "pid": std::process::id(),
            "shard": shard, "event": event});
        if let (Some(line), serde_json::Value::Object(extra)) = (line.as_object_mut(), fields) {
            line.extend(extra);
        }
        // One write per line, on a file opened for appending: lines of a process stay whole.
        if let Err(e) = file.write_all(format!("{line}\n").as_bytes()) {
            tracing::warn!(error = %e, "could not append to the events file");
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum ProcessorError {
    #[error("{0}")]
    Pipeline(#[from] PipelineError),
    #[error("processRecords before initialize")]
    NotInitialized,
}

struct GraphProcessor {
    /// Made at `initialize`, when the shard (and so its dead-letter file) is known.
    pipeline: Option<Pipeline>,
    sink: Arc<dyn GraphSink>,
    metrics: Arc<dyn MetricsSink>,
    config: PipelineConfig,
    acker: Acker,
    shard: Option<String>,
    /// The lease is gone: nothing more is written for this shard.
    lost: bool,
    last_checkpoint: Instant,
    /// The checkpoint last stored through the daemon.
    stored: Option<Checkpoint>,
    chunk_records: usize,
    checkpoint_interval: Duration,
    dead_letter_dir: PathBuf,
    events: Events,
}

fn record_of(shard: &str, r: KclRecord) -> Record {
    Record {
        shard_id: shard.to_owned(),
        sequence_number: SequenceNumber::new(r.sequence_number.clone()),
        sub_sequence_number: r.sub_sequence_number.and_then(|n| u64::try_from(n).ok()),
        partition_key: r.partition_key.clone(),
        approximate_arrival: r.approximate_arrival(),
        data: r.data.into(),
    }
}

impl GraphProcessor {
    fn shard(&self) -> &str {
        self.shard.as_deref().unwrap_or("?")
    }

    /// Sends the acknowledged-prefix checkpoint if it moved. Returns `false` once the lease is
    /// known to be gone.
    async fn checkpoint(
        &mut self,
        checkpointer: &mut Checkpointer<'_>,
        records: &[Record],
    ) -> bool {
        let shard = self.shard().to_owned();
        let current = self.acker.with_tracker(|t| t.checkpoint(&shard));
        if current.is_none() || current == self.stored {
            return true;
        }
        let (sequence, sub) = match current.as_ref().expect("checked") {
            Checkpoint::AfterSequence(seq) => {
                // KCL's checkpoint names a user record: the last one of this sequence number.
                let sub = records
                    .iter()
                    .rev()
                    .find(|r| &r.sequence_number == seq)
                    .and_then(|r| r.sub_sequence_number)
                    .map(|n| n as i64);
                (seq.as_str().to_owned(), sub)
            }
            Checkpoint::AfterSubSequence {
                sequence,
                sub_sequence,
            } => (sequence.as_str().to_owned(), Some(*sub_sequence as i64)),
            Checkpoint::ShardEnd => return true,
        };
        self.last_checkpoint = Instant::now();
        match checkpointer.checkpoint(&sequence, sub).await {
            Ok(()) => {
                self.stored = current;
                self.events.record(
                    &shard,
                    "checkpoint",
                    json!({"sequence": sequence, "sub": sub}),
                );
                true
            }
            Err(e) if e.is_lease_lost() => {
                tracing::warn!(shard, error = %e, "lease lost: no more writes for this shard");
                self.events
                    .record(&shard, "lease_lost_on_checkpoint", json!({}));
                self.lost = true;
                false
            }
            Err(e) => {
                // Not stored is not lost: whoever holds the shard next starts from the last
                // stored checkpoint and writes the same edges again (same ids).
                tracing::warn!(shard, error = %e, "checkpoint not stored; the next one will try again");
                self.events.record(
                    &shard,
                    "checkpoint_refused",
                    json!({"error": e.to_string()}),
                );
                true
            }
        }
    }
}

#[async_trait]
impl ShardRecordProcessor for GraphProcessor {
    type Error = ProcessorError;

    async fn initialize(&mut self, input: InitializeInput) -> Result<(), ProcessorError> {
        tracing::info!(shard = input.shard_id, from = ?input.sequence_number, "initialized");
        let file = self
            .dead_letter_dir
            .join(format!("{}.jsonl", input.shard_id));
        self.pipeline = Some(
            Pipeline::new(
                self.sink.clone(),
                Arc::new(JsonLinesDeadLetters::new(file)),
                self.metrics.clone(),
                self.config.clone(),
            )
            .map_err(PipelineError::from)?,
        );
        self.events.record(
            &input.shard_id,
            "initialize",
            json!({"from": input.sequence_number, "from_sub": input.sub_sequence_number}),
        );
        self.shard = Some(input.shard_id);
        Ok(())
    }

    async fn process_records(
        &mut self,
        input: ProcessRecordsInput,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), ProcessorError> {
        let shard = self.shard.clone().ok_or(ProcessorError::NotInitialized)?;
        let pipeline = self
            .pipeline
            .clone()
            .ok_or(ProcessorError::NotInitialized)?;
        if self.lost || input.records.is_empty() {
            return Ok(());
        }
        let records: Vec<Record> = input
            .records
            .into_iter()
            .map(|r| record_of(&shard, r))
            .collect();
        self.acker
            .with_tracker(|t| t.delivered_records(&shard, &records));
        let lag = input
            .millis_behind_latest
            .and_then(|l| u64::try_from(l).ok());
        let (mut written, mut present, mut dead) = (0u64, 0u64, 0usize);
        let mut handed = 0usize;
        for chunk in records.chunks(self.chunk_records) {
            let batch = RecordBatch {
                shard_id: shard.clone(),
                records: chunk.to_vec(),
                millis_behind_latest: lag,
                acker: self.acker.clone(),
            };
            let result = pipeline.process_batch(&batch).await?;
            written += result.written;
            present += result.already_present;
            dead += result.dead_lettered.len();
            handed += chunk.len();
            if self.last_checkpoint.elapsed() >= self.checkpoint_interval
                && !self.checkpoint(checkpointer, &records).await
            {
                break;
            }
        }
        self.events.record(
            &shard,
            "batch",
            json!({"first": records[0].sequence_number.as_str(),
                   "last": records[records.len() - 1].sequence_number.as_str(),
                   "records": records.len(), "processed": handed, "written": written,
                   "already_present": present, "dead_lettered": dead, "lag_ms": lag,
                   // This process's totals so far: retried sink requests (write conflicts
                   // with other processes among them) and retried items.
                   "sink_retries": pipeline.stats().sink_retries.load(Ordering::Relaxed),
                   "pipeline_retries": pipeline.stats().pipeline_retries.load(Ordering::Relaxed)}),
        );
        if !self.lost {
            self.checkpoint(checkpointer, &records).await;
        }
        Ok(())
    }

    async fn lease_lost(&mut self) -> Result<(), ProcessorError> {
        self.lost = true;
        tracing::info!(shard = self.shard(), "lease lost");
        let shard = self.shard().to_owned();
        self.events.record(&shard, "lease_lost", json!({}));
        Ok(())
    }

    async fn shard_ended(
        &mut self,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), ProcessorError> {
        let shard = self.shard().to_owned();
        self.acker.with_tracker(|t| t.shard_ended(&shard));
        let finished = self.acker.with_tracker(|t| t.is_finished(&shard));
        // Every record delivered was processed before its processRecords was answered, so the
        // acknowledged prefix covers the whole shard.
        debug_assert!(
            finished,
            "a shard ends only after its records were answered"
        );
        match checkpointer.checkpoint_end().await {
            Ok(()) => {
                tracing::info!(shard, "shard ended; its end is checkpointed");
                self.events
                    .record(&shard, "shard_ended", json!({"checkpointed": true}));
            }
            Err(e) => {
                tracing::warn!(shard, error = %e, "shard ended; its end could not be checkpointed");
                self.events.record(
                    &shard,
                    "shard_ended",
                    json!({"checkpointed": false, "error": e.to_string()}),
                );
            }
        }
        Ok(())
    }

    async fn shutdown_requested(
        &mut self,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), ProcessorError> {
        let shard = self.shard().to_owned();
        self.events.record(&shard, "shutdown_requested", json!({}));
        if !self.lost {
            self.checkpoint(checkpointer, &[]).await;
        }
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,gremlin_client=warn".into()),
        )
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "record processor stops");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut sink_config = GremlinSinkConfig::new(args.gremlin_url.clone());
    sink_config.batch_size = args.batch_write_size;
    sink_config.in_flight = args.write_concurrency;
    sink_config.mode = args.write_mode.resolve(false);
    let sink = GremlinSink::connect(sink_config).await?;
    let metrics = RunMetrics::new(
        &args.cluster_id,
        args.cloudwatch_endpoint
            .as_ref()
            .map(|u| (u != "aws").then(|| u.clone())),
    )
    .await?;
    std::fs::create_dir_all(&args.dead_letter_dir)?;
    let events = match &args.events_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            let path = dir.join(format!("{}-{}.jsonl", args.worker_id, std::process::id()));
            Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )
        }
        None => None,
    };
    let config = PipelineConfig {
        batch_write_size: args.batch_write_size,
        write_concurrency: args.write_concurrency,
        cluster_id: args.cluster_id.clone(),
        ..PipelineConfig::default()
    };
    config.validate()?;
    let mut processor = GraphProcessor {
        pipeline: None,
        sink: Arc::new(sink),
        metrics: metrics.sink.clone(),
        config,
        acker: Acker::new(),
        shard: None,
        lost: false,
        last_checkpoint: Instant::now(),
        stored: None,
        chunk_records: args.chunk_records.max(1),
        checkpoint_interval: Duration::from_millis(args.checkpoint_interval_ms),
        dead_letter_dir: args.dead_letter_dir.clone(),
        events: Events {
            file: events,
            worker: args.worker_id.clone(),
        },
    };
    let summary = kcl_multilang::run_stdio(&mut processor).await;
    let _ = metrics.sink.flush().await;
    metrics.close().await;
    let summary = summary?;
    let shard = processor.shard().to_owned();
    processor.events.record(
        &shard,
        "exit",
        json!({"ending": format!("{:?}", summary.ending), "batches": summary.batches, "records": summary.records}),
    );
    tracing::info!(shard, ending = ?summary.ending, batches = summary.batches, records = summary.records, "done");
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The glue against a scripted daemon and an in-memory graph: checkpoints cover exactly the
    //! written records, a lost lease stops the writes at the next chunk, the shard's end is
    //! checkpointed.
    use super::*;
    use base64::Engine as _;
    use neptune_batch::{MemoryGraph, Vertex};
    use serde_json::Value;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    fn processor(graph: Arc<MemoryGraph>, dir: &std::path::Path) -> GraphProcessor {
        GraphProcessor {
            pipeline: None,
            sink: graph,
            metrics: Arc::new(metrics_sink::MemoryMetrics::new()),
            config: PipelineConfig::default(),
            acker: Acker::new(),
            shard: None,
            lost: false,
            last_checkpoint: Instant::now(),
            stored: None,
            chunk_records: 500,
            checkpoint_interval: Duration::ZERO,
            dead_letter_dir: dir.to_owned(),
            events: Events {
                file: None,
                worker: "w".into(),
            },
        }
    }

    async fn graph_with_people(n: usize) -> Arc<MemoryGraph> {
        let graph = Arc::new(MemoryGraph::new());
        let people: Vec<Vertex> = (0..=n)
            .map(|i| Vertex::new(format!("p{i}"), "person"))
            .collect();
        graph.write_vertices(&people).await.unwrap();
        graph
    }

    /// `processRecords` with `n` follows records, sequence numbers 1000, 1001, ...
    fn batch(n: usize) -> String {
        let records: Vec<Value> = (0..n)
            .map(|i| {
                let data = format!("p{i},p{},2019-01-01", i + 1);
                json!({"action": "record", "partitionKey": format!("p{i}"),
                       "sequenceNumber": (1000 + i).to_string(), "subSequenceNumber": 0,
                       "approximateArrivalTimestamp": 1_700_000_000_000u64,
                       "data": base64::engine::general_purpose::STANDARD.encode(data)})
            })
            .collect();
        json!({"action": "processRecords", "records": records, "millisBehindLatest": 0}).to_string()
    }

    /// Runs the processor on `script`: each entry is a line the daemon sends once the processor
    /// has written as many lines as the entry's index says. Returns what the processor wrote.
    async fn run_script(mut processor: GraphProcessor, script: Vec<(usize, String)>) -> Vec<Value> {
        let (daemon_in, child_out) = tokio::io::duplex(1 << 20);
        let (child_in, mut daemon_out) = tokio::io::duplex(1 << 20);
        let child = tokio::spawn(async move {
            kcl_multilang::run(&mut processor, BufReader::new(child_in), child_out)
                .await
                .unwrap();
        });
        let mut lines = BufReader::new(daemon_in).lines();
        let mut got = Vec::new();
        for (after, line) in script {
            while got.len() < after {
                let l = lines
                    .next_line()
                    .await
                    .unwrap()
                    .expect("a line from the processor");
                got.push(serde_json::from_str::<Value>(&l).unwrap());
            }
            daemon_out
                .write_all(format!("{line}\n").as_bytes())
                .await
                .unwrap();
        }
        drop(daemon_out);
        while let Some(l) = lines.next_line().await.unwrap() {
            got.push(serde_json::from_str(&l).unwrap());
        }
        child.await.unwrap();
        got
    }

    fn ok(seq: &str) -> String {
        json!({"action": "checkpoint", "sequenceNumber": seq, "subSequenceNumber": 0, "error": null})
            .to_string()
    }

    #[tokio::test]
    async fn checkpoints_cover_exactly_the_written_records_and_the_shard_end() {
        let dir = tempfile::tempdir().unwrap();
        let graph = graph_with_people(1200).await;
        let got = run_script(
            processor(graph.clone(), dir.path()),
            vec![
                (
                    0,
                    r#"{"action":"initialize","shardId":"shardId-000000000000"}"#.into(),
                ),
                (1, batch(1200)),
                // Records 1000..=2199 in chunks of 500; with no minimum interval, a checkpoint
                // after each chunk, at its last record.
                (2, ok("1499")),
                (3, ok("1999")),
                (4, ok("2199")),
                (5, r#"{"action":"shardEnded"}"#.into()),
                (
                    6,
                    json!({"action": "checkpoint", "error": null}).to_string(),
                ),
            ],
        )
        .await;
        let actions: Vec<String> = got
            .iter()
            .map(|m| match m["action"].as_str().unwrap() {
                "status" => format!("status {}", m["responseFor"].as_str().unwrap()),
                _ => format!(
                    "checkpoint {}",
                    m["sequenceNumber"].as_str().unwrap_or("end")
                ),
            })
            .collect();
        assert_eq!(
            actions,
            [
                "status initialize",
                "checkpoint 1499",
                "checkpoint 1999",
                "checkpoint 2199",
                "status processRecords",
                "checkpoint end",
                "status shardEnded"
            ]
        );
        assert_eq!(graph.edge_count(), 1200);
    }

    #[tokio::test]
    async fn a_checkpoint_refused_for_a_lost_lease_stops_the_writes_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let graph = graph_with_people(1200).await;
        let got = run_script(
            processor(graph.clone(), dir.path()),
            vec![
                (0, r#"{"action":"initialize","shardId":"shardId-000000000000"}"#.into()),
                (1, batch(1200)),
                (
                    2,
                    json!({"action": "checkpoint", "sequenceNumber": "1499", "error": "ShutdownException"})
                        .to_string(),
                ),
                (3, batch(10)),
                (4, r#"{"action":"leaseLost"}"#.into()),
            ],
        )
        .await;
        let actions: Vec<&str> = got
            .iter()
            .map(|m| m["responseFor"].as_str().unwrap_or("checkpoint"))
            .collect();
        assert_eq!(
            actions,
            [
                "initialize",
                "checkpoint",
                "processRecords",
                "processRecords",
                "leaseLost"
            ]
        );
        // The first chunk was written before the refusal; nothing after it, nor the next batch.
        assert_eq!(graph.edge_count(), 500);
    }
}
