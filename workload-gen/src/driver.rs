//! The workload driver: puts edges on a record sink at a fixed rate.

use crate::edge::{FollowsEdge, PayloadFormat};
use crate::metrics as names;
use crate::reader::ReadError;
use crate::sink::{OutgoingRecord, PutOutcome, RecordSink};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stream2neptune_common::Backoff as FullJitter;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

/// The most records one Kinesis `PutRecords` call accepts.
pub const MAX_RECORDS_PER_PUT: usize = 500;

/// Bounded exponential back-off with full jitter (the delays come from
/// `stream2neptune-backoff`, shared by the workspace's crates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (the original's writer used 5).
    pub max_retries: u32,
    /// Ceiling of the first retry's delay.
    pub base_delay: Duration,
    /// Ceiling of any delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1 for the first): uniform in
    /// `[0, min(max_delay, base_delay * 2^(retry-1))]` ("full jitter").
    pub fn delay(&self, retry: u32) -> Duration {
        FullJitter::new(self.base_delay, self.max_delay).delay(retry.saturating_sub(1))
    }
}

/// How the driver runs. The defaults are the original's (`DriverPeriod` 100 ms,
/// `DriverBatchSize` 100: 1000 records/s, CSV payloads).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverConfig {
    /// Time between batches. Batches start on a fixed schedule (`start + n * period`), so a
    /// slow batch does not push later ones back.
    pub period: Duration,
    /// Records per period.
    pub batch_size: usize,
    /// Payload encoding.
    pub payload: PayloadFormat,
    /// Records per `put_batch` call; a batch is split into calls of at most this many.
    pub max_records_per_put: usize,
    /// `put_batch` calls that may be in flight at once. When all are busy the driver waits
    /// (back-pressure) instead of queueing without bound; missed periods are caught up later.
    pub max_in_flight: usize,
    /// Retries of records that failed retriably.
    pub retry: RetryPolicy,
    /// Time limit of one `put_batch` call; a call that exceeds it counts as a retriable failure.
    pub put_timeout: Duration,
    /// Stop after this many records (`None`: when the input ends).
    pub max_records: Option<u64>,
    /// Stop after this much time (`None`: when the input ends).
    pub max_duration: Option<Duration>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            period: Duration::from_millis(100),
            batch_size: 100,
            payload: PayloadFormat::Csv,
            max_records_per_put: MAX_RECORDS_PER_PUT,
            max_in_flight: 4,
            retry: RetryPolicy::default(),
            put_timeout: Duration::from_secs(30),
            max_records: None,
            max_duration: None,
        }
    }
}

/// A driver configuration outside its limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid driver configuration: {field}: {reason}")]
pub struct DriverConfigError {
    /// The field of [`DriverConfig`].
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl DriverConfigError {
    /// A configuration stays invalid until it is changed.
    pub fn is_retriable(&self) -> bool {
        false
    }
}

impl DriverConfig {
    /// The rate this configuration asks for, in records per second.
    pub fn target_rate(&self) -> f64 {
        self.batch_size as f64 / self.period.as_secs_f64()
    }

    /// Checks every field against its limits (the Kinesis limit of 500 records per call, and
    /// the original's ranges: period 1–1000 ms, batch size 1–3000, widened where harmless).
    pub fn validate(&self) -> Result<(), DriverConfigError> {
        let bad = |field, reason: String| Err(DriverConfigError { field, reason });
        if self.period.is_zero() {
            return bad("period", "must be longer than zero".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if !(1..=MAX_RECORDS_PER_PUT).contains(&self.max_records_per_put) {
            return bad(
                "max_records_per_put",
                format!(
                    "{} is outside 1..={MAX_RECORDS_PER_PUT}",
                    self.max_records_per_put
                ),
            );
        }
        if self.max_in_flight == 0 {
            return bad("max_in_flight", "must be at least 1".into());
        }
        if self.retry.base_delay > self.retry.max_delay {
            return bad("retry.base_delay", "must not exceed retry.max_delay".into());
        }
        if self.put_timeout.is_zero() {
            return bad("put_timeout", "must be longer than zero".into());
        }
        Ok(())
    }
}

/// A snapshot of a running driver, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriverProgress {
    /// Time since the first batch.
    pub elapsed: Duration,
    /// Records handed to the sink (first attempts).
    pub submitted: u64,
    /// Records the sink accepted.
    pub accepted: u64,
    /// Records given up on.
    pub failed: u64,
    /// Record retries made.
    pub retried: u64,
    /// Input lines that were not edges.
    pub bad_input: u64,
    /// `put_batch` calls in flight.
    pub in_flight: u64,
    /// Submission rate achieved so far (records/s), over whole periods.
    pub achieved_rate: f64,
    /// The requested rate (records/s).
    pub target_rate: f64,
}

/// Receives progress while a driver runs. Called from the driver's task: keep it quick.
pub trait DriverObserver: Send + Sync {
    /// Called at every period, before its batch is submitted.
    fn on_progress(&self, _progress: &DriverProgress) {}
    /// Called for every input line that is not an edge.
    fn on_bad_input(&self, _error: &ReadError) {}
    /// Called for every record given up on, with the reason.
    fn on_failed_record(&self, _record: &OutgoingRecord, _reason: &str) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl DriverObserver for NoProgress {}

/// What a driver run did.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverSummary {
    /// Records handed to the sink (first attempts).
    pub submitted: u64,
    /// Records the sink accepted.
    pub accepted: u64,
    /// Records given up on.
    pub failed: u64,
    /// Record retries made.
    pub retried: u64,
    /// Input lines that were not edges.
    pub bad_input: u64,
    /// `put_batch` calls made (retries included).
    pub put_calls: u64,
    /// Time from the first batch to the first period that had nothing more to send.
    pub dispatch_time: Duration,
    /// Time from the first batch until every call had finished.
    pub total_time: Duration,
    /// `submitted / dispatch_time`, records per second.
    pub achieved_rate: f64,
    /// The requested rate, records per second.
    pub target_rate: f64,
    /// Why records failed, with how many failed for each reason.
    pub failure_reasons: BTreeMap<String, u64>,
    /// The first bad input lines (at most 20), as messages naming file and line.
    pub bad_input_examples: Vec<String>,
    /// The error that ended reading early, if any.
    pub input_error: Option<String>,
}

impl std::fmt::Display for DriverSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "submitted {} accepted {} failed {} retried {} bad input {} in {:.1} s: {:.1} records/s (target {:.1})",
            self.submitted,
            self.accepted,
            self.failed,
            self.retried,
            self.bad_input,
            self.dispatch_time.as_secs_f64(),
            self.achieved_rate,
            self.target_rate
        )?;
        for (reason, n) in &self.failure_reasons {
            write!(f, "\n  failed x{n}: {reason}")?;
        }
        for example in &self.bad_input_examples {
            write!(f, "\n  bad input: {example}")?;
        }
        if let Some(e) = &self.input_error {
            write!(f, "\n  input ended early: {e}")?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    put_calls: AtomicU64,
    in_flight: AtomicU64,
    reasons: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    fn fail(&self, records: &[OutgoingRecord], reason: &str, observer: &dyn DriverObserver) {
        let n = records.len() as u64;
        self.failed.fetch_add(n, Ordering::Relaxed);
        ::metrics::counter!(names::RECORDS_FAILED).increment(n);
        *self
            .reasons
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason.to_owned())
            .or_default() += n;
        for r in records {
            observer.on_failed_record(r, reason);
        }
    }
}

/// The record a driver puts for `edge`: partition key = the follower's id (so one user's
/// follows stay in order on one shard), payload in `format`.
pub fn record_for(edge: &FollowsEdge, format: PayloadFormat) -> OutgoingRecord {
    OutgoingRecord {
        partition_key: edge.from.clone(),
        data: edge.encode(format),
    }
}

/// Puts `edges` on `sink` at the configured rate until the input ends or a limit is reached,
/// then waits for every call in flight and returns the summary.
///
/// Input errors are never dropped: bad lines are counted, passed to the observer and listed
/// (the first 20) in the summary; an error that ends the input is reported in the summary.
/// The input is pulled on the driver's task, a batch at a time: reading a file this way is
/// cheap next to the period, so no thread is needed for it.
pub async fn run_driver<S, I>(
    config: &DriverConfig,
    sink: Arc<S>,
    edges: I,
    observer: Arc<dyn DriverObserver>,
) -> Result<DriverSummary, DriverConfigError>
where
    S: RecordSink + ?Sized + 'static,
    I: IntoIterator<Item = Result<FollowsEdge, ReadError>>,
{
    config.validate()?;
    names::describe();
    let mut edges = edges.into_iter();
    let counters = Arc::new(Counters::default());
    let permits = Arc::new(Semaphore::new(config.max_in_flight));
    let mut calls = JoinSet::new();
    let mut ticker = tokio::time::interval(config.period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let target_rate = config.target_rate();
    let mut submitted = 0u64;
    let mut bad_input = 0u64;
    let mut bad_input_examples = Vec::new();
    let mut input_error = None;
    let mut finished = false;
    let mut started: Option<Instant> = None;
    let dispatch_time;
    loop {
        ticker.tick().await;
        // Measured by the clock, not taken from the schedule, so the reported rate is real.
        let now = Instant::now();
        let start = *started.get_or_insert(now);
        let elapsed = now - start;
        let achieved_rate = if elapsed.is_zero() {
            0.0
        } else {
            submitted as f64 / elapsed.as_secs_f64()
        };
        ::metrics::gauge!(names::ACHIEVED_RATE).set(achieved_rate);
        observer.on_progress(&DriverProgress {
            elapsed,
            submitted,
            accepted: counters.accepted.load(Ordering::Relaxed),
            failed: counters.failed.load(Ordering::Relaxed),
            retried: counters.retried.load(Ordering::Relaxed),
            bad_input,
            in_flight: counters.in_flight.load(Ordering::Relaxed),
            achieved_rate,
            target_rate,
        });
        let out_of_time = config.max_duration.is_some_and(|d| elapsed >= d);
        let out_of_records = config.max_records.is_some_and(|m| submitted >= m);
        if finished || out_of_time || out_of_records {
            dispatch_time = elapsed;
            break;
        }
        while let Some(done) = calls.try_join_next() {
            done.expect("a put task never panics");
        }

        let mut want = config.batch_size;
        if let Some(max) = config.max_records {
            want = want.min((max - submitted) as usize);
        }
        let mut batch = Vec::with_capacity(want);
        while batch.len() < want {
            match edges.next() {
                Some(Ok(edge)) => batch.push(record_for(&edge, config.payload)),
                Some(Err(e)) => {
                    bad_input += 1;
                    ::metrics::counter!(names::BAD_INPUT_LINES).increment(1);
                    observer.on_bad_input(&e);
                    if bad_input_examples.len() < 20 {
                        bad_input_examples.push(e.to_string());
                    }
                    if !e.is_bad_line() {
                        input_error = Some(e.to_string());
                        finished = true;
                        break;
                    }
                }
                None => {
                    finished = true;
                    break;
                }
            }
        }
        submitted += batch.len() as u64;
        ::metrics::counter!(names::RECORDS_SUBMITTED).increment(batch.len() as u64);
        let mut batch = batch.into_iter();
        loop {
            let chunk: Vec<OutgoingRecord> =
                batch.by_ref().take(config.max_records_per_put).collect();
            if chunk.is_empty() {
                break;
            }
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let (sink, counters, observer) = (sink.clone(), counters.clone(), observer.clone());
            let (retry, timeout) = (config.retry, config.put_timeout);
            counters.in_flight.fetch_add(1, Ordering::Relaxed);
            calls.spawn(async move {
                put_with_retries(&*sink, chunk, retry, timeout, &counters, &*observer).await;
                counters.in_flight.fetch_sub(1, Ordering::Relaxed);
                drop(permit);
            });
        }
    }
    while let Some(done) = calls.join_next().await {
        done.expect("a put task never panics");
    }
    let total_time = started.map(|s| s.elapsed()).unwrap_or_default();
    let achieved_rate = if dispatch_time.is_zero() {
        0.0
    } else {
        submitted as f64 / dispatch_time.as_secs_f64()
    };
    let failure_reasons = counters
        .reasons
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(DriverSummary {
        submitted,
        accepted: counters.accepted.load(Ordering::Relaxed),
        failed: counters.failed.load(Ordering::Relaxed),
        retried: counters.retried.load(Ordering::Relaxed),
        bad_input,
        put_calls: counters.put_calls.load(Ordering::Relaxed),
        dispatch_time,
        total_time,
        achieved_rate,
        target_rate,
        failure_reasons,
        bad_input_examples,
        input_error,
    })
}

/// One chunk's life: put, then put again what failed retriably, with back-off, a bounded
/// number of times; what is left is counted as failed with its reason.
async fn put_with_retries<S: RecordSink + ?Sized>(
    sink: &S,
    mut pending: Vec<OutgoingRecord>,
    policy: RetryPolicy,
    timeout: Duration,
    counters: &Counters,
    observer: &dyn DriverObserver,
) {
    let mut retry = 0u32;
    loop {
        counters.put_calls.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(timeout, sink.put_batch(pending.clone())).await;
        ::metrics::histogram!(names::PUT_DURATION).record(started.elapsed().as_secs_f64() * 1e3);
        let mut again = Vec::new();
        let mut last_reason = String::new();
        match result {
            Err(_) => {
                last_reason = format!("put_batch timed out after {timeout:?}");
                again = pending;
            }
            Ok(Err(e)) if e.is_retriable() => {
                last_reason = e.to_string();
                again = pending;
            }
            Ok(Err(e)) => {
                counters.fail(&pending, &e.to_string(), observer);
                return;
            }
            Ok(Ok(outcomes)) if outcomes.len() != pending.len() => {
                let reason = format!(
                    "the sink answered {} outcomes for {} records",
                    outcomes.len(),
                    pending.len()
                );
                counters.fail(&pending, &reason, observer);
                return;
            }
            Ok(Ok(outcomes)) => {
                let mut accepted = 0;
                for (record, outcome) in pending.into_iter().zip(outcomes) {
                    match outcome {
                        PutOutcome::Accepted { .. } => accepted += 1,
                        PutOutcome::Failed {
                            reason,
                            retriable: true,
                        } => {
                            last_reason = reason;
                            again.push(record);
                        }
                        PutOutcome::Failed {
                            reason,
                            retriable: false,
                        } => counters.fail(std::slice::from_ref(&record), &reason, observer),
                    }
                }
                counters.accepted.fetch_add(accepted, Ordering::Relaxed);
                ::metrics::counter!(names::RECORDS_ACCEPTED).increment(accepted);
            }
        }
        if again.is_empty() {
            return;
        }
        if retry >= policy.max_retries {
            let reason = format!("gave up after {retry} retries: {last_reason}");
            counters.fail(&again, &reason, observer);
            return;
        }
        retry += 1;
        counters
            .retried
            .fetch_add(again.len() as u64, Ordering::Relaxed);
        ::metrics::counter!(names::RECORDS_RETRIED).increment(again.len() as u64);
        tokio::time::sleep(policy.delay(retry)).await;
        pending = again;
    }
}
