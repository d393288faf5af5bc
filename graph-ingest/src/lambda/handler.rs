//! One invocation: the records of one shard, decoded and written in shard order, answered with a
//! partial batch response naming the first record that is not in the graph.
//!
//! This is not [`Pipeline::process_batch`](crate::Pipeline::process_batch): that one owns its
//! shard, so it holds the shard through transient failures itself and sets aside only records
//! that are bad in themselves. Here the event source mapping owns the shard and its checkpoint:
//! the handler stops at the first failure and names it, and the mapping's retry policy
//! (retries, bisection, record age, the on-failure destination) decides what happens to it.
//! The mapper, the writing, the dead-letter format and the metric names are the pipeline's.

use super::config::{LambdaConfig, PoisonPolicy};
use super::event::{records_of, EventError};
use crate::dead_letter::{DeadLetter, DeadLetterSink};
use crate::fault::FaultInjector;
use crate::mapper::{GraphWrites, RecordMapper};
use crate::write::{write_records, Verdict};
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use kinesis_source::{Record, SequenceNumber};
use metrics_sink::MetricsSink;
use neptune_batch::{GraphSink, SinkError};
use std::time::{Duration, SystemTime};
use stream2neptune_common::{Classify, ErrorKind};

/// Longest wait for the metrics of an invocation to be shipped before it answers.
pub const METRICS_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an invocation failed as a whole (the mapping then retries the whole batch, and bisects
/// it when `BisectBatchOnFunctionError` is on).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// `wait` is `true`: the original's pause switch.
    #[error("{}", super::config::WAIT_MESSAGE)]
    Waiting,
    /// An environment variable is missing or wrong.
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// The event is not a Kinesis event the handler can read.
    #[error("malformed Kinesis event: {0}")]
    Event(#[from] EventError),
    /// The graph could not be reached to write anything.
    #[error("cannot reach the graph: {0}")]
    Connect(#[source] SinkError),
}

/// Whether invoking again with the same event may succeed: the pause lasts until someone
/// lifts it, a malformed event never reads differently.
impl Classify for HandlerError {
    fn kind(&self) -> ErrorKind {
        match self {
            HandlerError::Waiting => ErrorKind::Retriable,
            HandlerError::Config(e) => e.kind(),
            HandlerError::Event(_) => ErrorKind::Permanent,
            HandlerError::Connect(e) => e.kind(),
        }
    }
}

impl HandlerError {
    /// A short name for the error type in Lambda's error report.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Waiting => "Waiting",
            HandlerError::Config(_) => "InvalidConfiguration",
            HandlerError::Event(_) => "MalformedEvent",
            HandlerError::Connect(_) => "GraphUnreachable",
        }
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// A record that is not in the graph after the invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecord {
    /// Its position in the event.
    pub index: usize,
    /// Its sequence number.
    pub sequence_number: String,
    /// Why.
    pub reason: String,
    /// Whether a later attempt may succeed (a transient error may pass); `false` for a record
    /// that is bad in itself (undecodable, a missing endpoint vertex, a constraint violation,
    /// refused by the server).
    pub may_clear_up: bool,
    /// Whether it is named in the response (else it was skipped as a dead letter).
    pub reported: bool,
}

/// What one invocation did.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// The answer to the event source mapping.
    pub response: KinesisEventResponse,
    /// Records in the event.
    pub records: usize,
    /// Edges created.
    pub written: u64,
    /// Edges that were already there (a redelivery).
    pub already_present: u64,
    /// Changes older than what the graph holds, skipped.
    pub stale: u64,
    /// Records not written, in shard order; the first reported one is the response's.
    pub failures: Vec<FailedRecord>,
    /// Write requests made through the sink (sub-batches).
    pub write_calls: u32,
    /// Retries the sink made inside those calls.
    pub sink_retries: u32,
    /// Milliseconds the sink slept on write conflicts.
    pub conflict_sleep_ms: u64,
    /// Set when the sink failed as a whole (e.g. lost its connection): the caller should
    /// connect afresh for the next invocation.
    pub sink_failed: bool,
}

impl Invocation {
    /// The sequence number named in the response, if any.
    pub fn reported_sequence_number(&self) -> Option<&str> {
        self.response
            .batch_item_failures
            .first()
            .and_then(|f| f.item_identifier.as_deref())
    }
}

/// Handles one Kinesis event: maps its records with `mapper`, writes them through `sink`, logs
/// every record that is not written into `dead_letters` with its payload, publishes the
/// original's metrics into `metrics` and flushes them (whatever happened to the records), and
/// answers with a partial batch response naming the first record, in shard order, that is not
/// in the graph.
///
/// With a `batch_write_size` in force ([`LambdaConfig::batch_write_size`]: the original's 100
/// outside merge mode, or set) the records go in sub-batches of that many items, one after
/// another in shard order, and writing stops at the first reported failure: the mapping will
/// retry from it, so writing the records after it would only be done twice. Without one (merge
/// mode's default) they go to the sink in one call, which sizes the requests and keeps several
/// in flight, each item's writes in order. Records that can never be written follow
/// `config.poison` (see [`PoisonPolicy`]). `wait` is not looked at here (see
/// [`WriterEnvironment::invoke`](super::WriterEnvironment::invoke)).
pub async fn handle_event(
    event: &KinesisEvent,
    mapper: &dyn RecordMapper,
    sink: &dyn GraphSink,
    dead_letters: &dyn DeadLetterSink,
    metrics: &dyn MetricsSink,
    config: &LambdaConfig,
) -> Result<Invocation, HandlerError> {
    let records = records_of(event)?;
    tracing::info!(
        records = records.len(),
        "Number of records: {}",
        records.len()
    );
    // How far behind the stream the function is: the age of the batch's last record, which is
    // what Lambda's own IteratorAge measures.
    let age = records
        .last()
        .and_then(|r| r.approximate_arrival)
        .and_then(|t| SystemTime::now().duration_since(t).ok());
    crate::publish::record_lag(metrics, &config.cluster_id, age, None);
    let mut run = Run {
        sink,
        metrics,
        config,
        records: &records,
        out: Invocation {
            records: records.len(),
            ..Invocation::default()
        },
        stopped: false,
    };
    let mut pending: Vec<(usize, GraphWrites)> = Vec::new();
    let mut items = 0;
    let sub_batch = config.batch_write_size().unwrap_or(usize::MAX);
    for (i, record) in records.iter().enumerate() {
        match mapper.map(record) {
            Ok(writes) => {
                items += writes.len();
                pending.push((i, writes));
                if items >= sub_batch {
                    run.write(std::mem::take(&mut pending)).await;
                    items = 0;
                }
            }
            Err(rejection) => {
                let reported = run.reports(false);
                run.fail(i, rejection.reason().to_owned(), false, reported)
            }
        }
        if run.stopped {
            break;
        }
    }
    // The records before a stop are still written: the response names a later record.
    if !pending.is_empty() {
        run.write(pending).await;
    }
    let mut out = run.out;
    out.failures.sort_by_key(|f| f.index);
    if let Some(first) = out.failures.iter().filter(|f| f.reported).min_by(|a, b| {
        SequenceNumber::new(a.sequence_number.as_str())
            .cmp(&SequenceNumber::new(b.sequence_number.as_str()))
    }) {
        out.response.add_failure(first.sequence_number.clone());
    }
    let letters: Vec<DeadLetter> = out
        .failures
        .iter()
        .map(|f| {
            let r = &records[f.index];
            let disposition = if f.reported {
                "reported for retry by the event source mapping"
            } else {
                "skipped"
            };
            DeadLetter::of_record(r, format!("{disposition}: {}", f.reason))
        })
        .collect();
    if let Err(e) = dead_letters.put(&letters).await {
        // The payloads are still in the stream; the response decides what is retried.
        tracing::error!(error = %e, "dead letters could not be stored");
    }
    match tokio::time::timeout(METRICS_FLUSH_TIMEOUT, metrics.flush()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics were not published; kept for the next flush")
        }
        Err(_) => tracing::warn!("publishing metrics timed out; kept for the next flush"),
    }
    tracing::info!(
        written = out.written,
        already_present = out.already_present,
        stale = out.stale,
        failed = out.failures.len(),
        first_failure = out.reported_sequence_number().unwrap_or("none"),
        "invocation done"
    );
    Ok(out)
}

struct Run<'a> {
    sink: &'a dyn GraphSink,
    metrics: &'a dyn MetricsSink,
    config: &'a LambdaConfig,
    records: &'a [Record],
    out: Invocation,
    stopped: bool,
}

impl Run<'_> {
    /// Whether a record failing for a reason of its own is named in the response: always if
    /// the failure may clear up, else as the poison policy says.
    fn reports(&self, may_clear_up: bool) -> bool {
        may_clear_up || self.config.poison == PoisonPolicy::Report
    }

    /// Records a record that is not written; stops the run if it is reported.
    fn fail(&mut self, index: usize, reason: String, may_clear_up: bool, reported: bool) {
        tracing::warn!(
            sequence_number = self.records[index].sequence_number.as_str(),
            reported,
            "record not written: {reason}"
        );
        self.out.failures.push(FailedRecord {
            index,
            sequence_number: self.records[index].sequence_number.as_str().to_owned(),
            reason,
            may_clear_up,
            reported,
        });
        self.stopped |= reported;
    }

    /// Writes one sub-batch and records each record's outcome.
    async fn write(&mut self, chunk: Vec<(usize, GraphWrites)>) {
        if FaultInjector::new(self.config.percent_error).strikes() {
            self.fail(chunk[0].0, FaultInjector::REASON.into(), true, true);
            return;
        }
        let refs: Vec<&GraphWrites> = chunk.iter().map(|(_, w)| w).collect();
        self.out.write_calls += 1;
        match write_records(self.sink, &refs).await {
            Ok(attempt) => {
                self.out.sink_retries += attempt.retries;
                self.out.conflict_sleep_ms += attempt.conflict_sleep_ms;
                self.publish(
                    attempt.edges,
                    attempt.took,
                    attempt.retries,
                    attempt.permanent_items,
                    attempt.conflict_sleep_ms,
                );
                for ((index, _), verdict) in chunk.iter().zip(attempt.verdicts) {
                    match verdict {
                        Verdict::Done(settled) => {
                            self.out.written += settled.written;
                            self.out.already_present += settled.present;
                            self.out.stale += settled.stale;
                        }
                        Verdict::Permanent(reason) => {
                            let reported = self.reports(false);
                            self.fail(*index, reason, false, reported);
                        }
                        Verdict::Transient { error, .. } => {
                            self.fail(*index, format!("not written: {error}"), true, true);
                        }
                    }
                }
            }
            Err(e) => {
                self.out.sink_failed = true;
                let items: usize = chunk.iter().map(|(_, w)| w.len()).sum();
                self.publish(items, Duration::ZERO, 0, items, 0);
                // The records are not at fault: the first of the sub-batch is reported
                // whatever the policy, and the mapping retries from it.
                self.fail(
                    chunk[0].0,
                    format!("sink error: {e}"),
                    e.kind().is_retriable(),
                    true,
                );
            }
        }
    }

    fn publish(
        &self,
        submitted: usize,
        took: Duration,
        retries: u32,
        errors: usize,
        conflict_sleep_ms: u64,
    ) {
        crate::publish::record_write_metrics(
            self.metrics,
            &self.config.cluster_id,
            submitted,
            took,
            retries,
            errors,
            conflict_sleep_ms,
        );
    }
}
