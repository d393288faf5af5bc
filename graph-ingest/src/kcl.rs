//! The pipeline behind the Kinesis Client Library's MultiLangDaemon (feature `kcl`): shard
//! leases, failover and load balancing are the daemon's (kept in DynamoDB), writing and
//! acknowledging are the pipeline's. See [`KclProcessor`]; `kcl_multilang::run_stdio` runs it.

use crate::pipeline::{Pipeline, PipelineError};
use async_trait::async_trait;
use kcl_multilang::{
    Checkpointer, InitializeInput, KclRecord, ProcessRecordsInput, ShardRecordProcessor,
};
use kinesis_source::{Acker, Checkpoint, Record, RecordBatch, SequenceNumber};
use serde_json::json;
use std::time::{Duration, Instant};
use stream2neptune_common::{Classify, ErrorKind};

/// Why a processor stops (the daemon then stops too, and the shard is taken over from its last
/// checkpoint).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KclProcessorError {
    /// The pipeline failed in a way no waiting mends, or could not be made.
    #[error("{0}")]
    Pipeline(#[from] PipelineError),
    /// The daemon sent records before `initialize`.
    #[error("processRecords before initialize")]
    NotInitialized,
}

/// Whether a new processor on the same shard may succeed: as the pipeline's failure says; a
/// daemon that breaks the protocol is a setting (a wrong daemon or version) to change.
impl Classify for KclProcessorError {
    fn kind(&self) -> ErrorKind {
        match self {
            KclProcessorError::Pipeline(e) => e.kind(),
            KclProcessorError::NotInitialized => ErrorKind::Usage,
        }
    }
}

/// Makes the pipeline of a shard, given its id (at `initialize`).
pub type PipelineFactory =
    Box<dyn Fn(&str) -> Result<Pipeline, PipelineError> + Send + Sync + 'static>;

/// Told of each step of a processor's life: the shard, the event's name (`initialize`, `batch`,
/// `checkpoint`, `checkpoint_refused`, `lease_lost`, `lease_lost_on_checkpoint`, `shard_ended`,
/// `shutdown_requested`) and its figures.
pub type EventHook = Box<dyn FnMut(&str, &str, serde_json::Value) + Send + 'static>;

/// A [`Pipeline`] behind the KCL MultiLangDaemon: the daemon holds the shard leases (in
/// DynamoDB) and starts one of these per shard; each writes its shard through a pipeline of its
/// own and checkpoints through the daemon only over the acknowledged prefix.
///
/// * Records go to the pipeline in chunks of `chunk_records` (500 by default); the pipeline
///   acknowledges each record once it is in the graph or its dead letter is stored, and holds
///   the shard through transient failures (the daemon keeps renewing the lease meanwhile).
/// * After a chunk, when `checkpoint_interval` (1 s) has passed, and at the end of every
///   `processRecords`, the acknowledged-prefix checkpoint is sent to the daemon (a user record of
///   a KPL aggregate by its sub-sequence number, as KCL's checkpoints are).
/// * A checkpoint refused because the lease is gone, or `leaseLost`, stops all writing for the
///   shard at once: the rest goes to the lease's new owner, which starts from the last stored
///   checkpoint (writes keyed by id make the repeats harmless).
/// * `shardEnded` checkpoints the shard's end, so its children may start; `shutdownRequested`
///   checkpoints what is done.
pub struct KclProcessor {
    make_pipeline: PipelineFactory,
    /// Made at `initialize`, when the shard is known.
    pipeline: Option<Pipeline>,
    acker: Acker,
    shard: Option<String>,
    /// The lease is gone: nothing more is written for this shard.
    lost: bool,
    last_checkpoint: Instant,
    /// The checkpoint last stored through the daemon.
    stored: Option<Checkpoint>,
    chunk_records: usize,
    checkpoint_interval: Duration,
    events: Option<EventHook>,
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

impl KclProcessor {
    /// A processor making each shard's pipeline with `make_pipeline`.
    pub fn new(
        make_pipeline: impl Fn(&str) -> Result<Pipeline, PipelineError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            make_pipeline: Box::new(make_pipeline),
            pipeline: None,
            acker: Acker::new(),
            shard: None,
            lost: false,
            last_checkpoint: Instant::now(),
            stored: None,
            chunk_records: 500,
            checkpoint_interval: Duration::from_secs(1),
            events: None,
        }
    }

    /// Records handed to the pipeline at a time (a lost lease stops the writes at the next
    /// chunk boundary). Default 500.
    pub fn chunk_records(mut self, n: usize) -> Self {
        self.chunk_records = n.max(1);
        self
    }

    /// Least time between two checkpoints inside one `processRecords` (one is always sent at
    /// its end when the prefix moved). Default 1 s.
    pub fn checkpoint_interval(mut self, every: Duration) -> Self {
        self.checkpoint_interval = every;
        self
    }

    /// Calls `hook` at each step of the processor's life (see [`EventHook`]).
    pub fn on_event(
        mut self,
        hook: impl FnMut(&str, &str, serde_json::Value) + Send + 'static,
    ) -> Self {
        self.events = Some(Box::new(hook));
        self
    }

    /// The shard, once initialized.
    pub fn shard(&self) -> Option<&str> {
        self.shard.as_deref()
    }

    /// The shard's pipeline, once initialized (for its statistics).
    pub fn pipeline(&self) -> Option<&Pipeline> {
        self.pipeline.as_ref()
    }

    fn event(&mut self, event: &str, fields: serde_json::Value) {
        let shard = self.shard.clone().unwrap_or_default();
        if let Some(hook) = self.events.as_mut() {
            hook(&shard, event, fields);
        }
    }

    fn shard_name(&self) -> &str {
        self.shard.as_deref().unwrap_or("?")
    }

    /// Sends the acknowledged-prefix checkpoint if it moved. Returns `false` once the lease is
    /// known to be gone.
    async fn checkpoint(
        &mut self,
        checkpointer: &mut Checkpointer<'_>,
        records: &[Record],
    ) -> bool {
        let shard = self.shard_name().to_owned();
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
            // A kind of checkpoint KCL has no words for: nothing to store.
            _ => return true,
        };
        self.last_checkpoint = Instant::now();
        match checkpointer.checkpoint(&sequence, sub).await {
            Ok(()) => {
                self.stored = current;
                self.event("checkpoint", json!({"sequence": sequence, "sub": sub}));
                true
            }
            Err(e) if e.is_lease_lost() => {
                tracing::warn!(shard, error = %e, "lease lost: no more writes for this shard");
                self.event("lease_lost_on_checkpoint", json!({}));
                self.lost = true;
                false
            }
            Err(e) => {
                // Not stored is not lost: whoever holds the shard next starts from the last
                // stored checkpoint and writes the same edges again (same ids).
                tracing::warn!(shard, error = %e, "checkpoint not stored; the next one will try again");
                self.event("checkpoint_refused", json!({"error": e.to_string()}));
                true
            }
        }
    }
}

#[async_trait]
impl ShardRecordProcessor for KclProcessor {
    type Error = KclProcessorError;

    async fn initialize(&mut self, input: InitializeInput) -> Result<(), KclProcessorError> {
        tracing::info!(shard = input.shard_id, from = ?input.sequence_number, "initialized");
        self.pipeline = Some((self.make_pipeline)(&input.shard_id)?);
        self.shard = Some(input.shard_id.clone());
        self.event(
            "initialize",
            json!({"from": input.sequence_number, "from_sub": input.sub_sequence_number}),
        );
        Ok(())
    }

    async fn process_records(
        &mut self,
        input: ProcessRecordsInput,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), KclProcessorError> {
        let shard = self
            .shard
            .clone()
            .ok_or(KclProcessorError::NotInitialized)?;
        let pipeline = self
            .pipeline
            .clone()
            .ok_or(KclProcessorError::NotInitialized)?;
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
        let (mut written, mut present, mut stale, mut dead) = (0u64, 0u64, 0u64, 0usize);
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
            stale += result.stale;
            dead += result.dead_lettered.len();
            handed += chunk.len();
            if self.last_checkpoint.elapsed() >= self.checkpoint_interval
                && !self.checkpoint(checkpointer, &records).await
            {
                break;
            }
        }
        let totals = pipeline.stats().snapshot();
        self.event(
            "batch",
            json!({"first": records[0].sequence_number.as_str(),
                   "last": records[records.len() - 1].sequence_number.as_str(),
                   "records": records.len(), "processed": handed, "written": written,
                   "already_present": present, "stale": stale, "dead_lettered": dead, "lag_ms": lag,
                   // This process's totals so far: retried sink requests (write conflicts
                   // with other processes among them), the time slept on those conflicts,
                   // and retried items.
                   "sink_retries": totals.sink_retries,
                   "conflict_sleep_ms": totals.conflict_sleep_ms,
                   "pipeline_retries": totals.pipeline_retries}),
        );
        if !self.lost {
            self.checkpoint(checkpointer, &records).await;
        }
        Ok(())
    }

    async fn lease_lost(&mut self) -> Result<(), KclProcessorError> {
        self.lost = true;
        tracing::info!(shard = self.shard_name(), "lease lost");
        self.event("lease_lost", json!({}));
        Ok(())
    }

    async fn shard_ended(
        &mut self,
        checkpointer: &mut Checkpointer<'_>,
    ) -> Result<(), KclProcessorError> {
        let shard = self.shard_name().to_owned();
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
                self.event("shard_ended", json!({"checkpointed": true}));
            }
            Err(e) => {
                tracing::warn!(shard, error = %e, "shard ended; its end could not be checkpointed");
                self.event(
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
    ) -> Result<(), KclProcessorError> {
        self.event("shutdown_requested", json!({}));
        if !self.lost {
            self.checkpoint(checkpointer, &[]).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The glue against a scripted daemon and an in-memory graph: checkpoints cover exactly the
    //! written records, a lost lease stops the writes at the next chunk, the shard's end is
    //! checkpointed.
    use super::*;
    use base64::Engine as _;
    use neptune_batch::GraphSink;
    use neptune_batch::{MemoryGraph, Vertex};
    use serde_json::Value;
    use std::sync::Arc;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    fn processor(graph: Arc<MemoryGraph>) -> KclProcessor {
        KclProcessor::new(move |_shard| {
            Ok(Pipeline::builder()
                .mapper(crate::FollowsCsv::default())
                .sink(graph.clone())
                .dead_letters(Arc::new(crate::dead_letter::MemoryDeadLetters::new()))
                .build()?)
        })
        .checkpoint_interval(Duration::ZERO)
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
    async fn run_script(mut processor: KclProcessor, script: Vec<(usize, String)>) -> Vec<Value> {
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
        let graph = graph_with_people(1200).await;
        let got = run_script(
            processor(graph.clone()),
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
        let graph = graph_with_people(1200).await;
        let got = run_script(
            processor(graph.clone()),
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
