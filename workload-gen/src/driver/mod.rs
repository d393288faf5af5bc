//! The workload driver: puts edges on a record sink at a fixed rate, with its configuration and
//! what it reports.

mod config;
mod report;

pub use config::{DriverConfig, DriverConfigBuilder, MAX_RECORDS_PER_PUT};
pub use report::{DriverObserver, DriverProgress, DriverSummary, NoProgress};

use crate::edge::{FollowsEdge, PayloadFormat};
use crate::error::ConfigError;
use crate::metrics as names;
use crate::reader::ReadError;
use crate::sink::{OutgoingRecord, PutOutcome, RecordSink};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stream2neptune_common::{lock, Backoff};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

/// Bad input lines listed in the summary, at most.
const BAD_INPUT_EXAMPLES: usize = 20;

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
        *lock(&self.reasons).entry(reason.to_owned()).or_default() += n;
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
) -> Result<DriverSummary, ConfigError>
where
    S: RecordSink + ?Sized + 'static,
    I: IntoIterator<Item = Result<FollowsEdge, ReadError>>,
{
    config.validate()?;
    names::describe();
    let mut run = Run {
        config,
        sink,
        observer,
        counters: Arc::new(Counters::default()),
        permits: Arc::new(Semaphore::new(config.max_in_flight)),
        calls: JoinSet::new(),
        submitted: 0,
        bad_input: 0,
        bad_input_examples: Vec::new(),
        input_error: None,
        finished: false,
    };
    let (started, dispatch_time) = run.dispatch(edges.into_iter()).await;
    while let Some(done) = run.calls.join_next().await {
        done.expect("a put task never panics");
    }
    let total_time = started.map(|s| s.elapsed()).unwrap_or_default();
    Ok(run.summary(dispatch_time, total_time))
}

/// A driver run in progress: what it read, what it handed to the sink, and the calls in
/// flight.
struct Run<'a, S: ?Sized> {
    config: &'a DriverConfig,
    sink: Arc<S>,
    observer: Arc<dyn DriverObserver>,
    counters: Arc<Counters>,
    permits: Arc<Semaphore>,
    calls: JoinSet<()>,
    /// Records handed to the sink (first attempts).
    submitted: u64,
    bad_input: u64,
    bad_input_examples: Vec<String>,
    input_error: Option<String>,
    /// The input ended (or failed).
    finished: bool,
}

impl<S: RecordSink + ?Sized + 'static> Run<'_, S> {
    /// Hands out a batch at every period until the input ends or a limit is reached; when the
    /// first batch went out, and the time from then to the first period with nothing more to
    /// send.
    async fn dispatch(
        &mut self,
        mut edges: impl Iterator<Item = Result<FollowsEdge, ReadError>>,
    ) -> (Option<Instant>, Duration) {
        let mut ticker = tokio::time::interval(self.config.period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let mut started: Option<Instant> = None;
        loop {
            ticker.tick().await;
            // Measured by the clock, not taken from the schedule, so the reported rate is real.
            let now = Instant::now();
            let elapsed = now - *started.get_or_insert(now);
            self.report_progress(elapsed);
            let out_of_time = self.config.max_duration.is_some_and(|d| elapsed >= d);
            let out_of_records = self.config.max_records.is_some_and(|m| self.submitted >= m);
            if self.finished || out_of_time || out_of_records {
                return (started, elapsed);
            }
            while let Some(done) = self.calls.try_join_next() {
                done.expect("a put task never panics");
            }
            let batch = self.read_batch(&mut edges);
            self.submit(batch).await;
        }
    }

    fn report_progress(&self, elapsed: Duration) {
        let achieved_rate = if elapsed.is_zero() {
            0.0
        } else {
            self.submitted as f64 / elapsed.as_secs_f64()
        };
        ::metrics::gauge!(names::ACHIEVED_RATE).set(achieved_rate);
        let counters = &self.counters;
        self.observer.on_progress(&DriverProgress {
            elapsed,
            submitted: self.submitted,
            accepted: counters.accepted.load(Ordering::Relaxed),
            failed: counters.failed.load(Ordering::Relaxed),
            retried: counters.retried.load(Ordering::Relaxed),
            bad_input: self.bad_input,
            in_flight: counters.in_flight.load(Ordering::Relaxed),
            achieved_rate,
            target_rate: self.config.target_rate(),
        });
    }

    /// The next period's records: up to the batch size (and what `max_records` leaves), bad
    /// lines counted and reported on the way.
    fn read_batch(
        &mut self,
        edges: &mut impl Iterator<Item = Result<FollowsEdge, ReadError>>,
    ) -> Vec<OutgoingRecord> {
        let mut want = self.config.batch_size;
        if let Some(max) = self.config.max_records {
            want = want.min((max - self.submitted) as usize);
        }
        let mut batch = Vec::with_capacity(want);
        while batch.len() < want {
            match edges.next() {
                Some(Ok(edge)) => batch.push(record_for(&edge, self.config.payload)),
                Some(Err(e)) => {
                    self.bad_input += 1;
                    ::metrics::counter!(names::BAD_INPUT_LINES).increment(1);
                    self.observer.on_bad_input(&e);
                    if self.bad_input_examples.len() < BAD_INPUT_EXAMPLES {
                        self.bad_input_examples.push(e.to_string());
                    }
                    if !e.is_bad_line() {
                        self.input_error = Some(e.to_string());
                        self.finished = true;
                        break;
                    }
                }
                None => {
                    self.finished = true;
                    break;
                }
            }
        }
        batch
    }

    /// Hands `batch` to the sink in calls of at most `max_records_per_put`, each started once a
    /// call slot is free.
    async fn submit(&mut self, batch: Vec<OutgoingRecord>) {
        self.submitted += batch.len() as u64;
        ::metrics::counter!(names::RECORDS_SUBMITTED).increment(batch.len() as u64);
        let mut batch = batch.into_iter();
        loop {
            let chunk: Vec<OutgoingRecord> = batch
                .by_ref()
                .take(self.config.max_records_per_put)
                .collect();
            if chunk.is_empty() {
                break;
            }
            let permit = self
                .permits
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let (sink, counters) = (self.sink.clone(), self.counters.clone());
            let observer = self.observer.clone();
            let (retry, timeout) = (self.config.retry, self.config.put_timeout);
            counters.in_flight.fetch_add(1, Ordering::Relaxed);
            self.calls.spawn(async move {
                put_with_retries(&*sink, chunk, retry, timeout, &counters, &*observer).await;
                counters.in_flight.fetch_sub(1, Ordering::Relaxed);
                drop(permit);
            });
        }
    }

    fn summary(self, dispatch_time: Duration, total_time: Duration) -> DriverSummary {
        let achieved_rate = if dispatch_time.is_zero() {
            0.0
        } else {
            self.submitted as f64 / dispatch_time.as_secs_f64()
        };
        let counters = &self.counters;
        let failure_reasons = lock(&counters.reasons).clone();
        DriverSummary {
            submitted: self.submitted,
            accepted: counters.accepted.load(Ordering::Relaxed),
            failed: counters.failed.load(Ordering::Relaxed),
            retried: counters.retried.load(Ordering::Relaxed),
            bad_input: self.bad_input,
            put_calls: counters.put_calls.load(Ordering::Relaxed),
            dispatch_time,
            total_time,
            achieved_rate,
            target_rate: self.config.target_rate(),
            failure_reasons,
            bad_input_examples: self.bad_input_examples,
            input_error: self.input_error,
        }
    }
}

/// One chunk's life: put, then put again what failed retriably, with back-off, a bounded
/// number of times; what is left is counted as failed with its reason.
async fn put_with_retries<S: RecordSink + ?Sized>(
    sink: &S,
    mut pending: Vec<OutgoingRecord>,
    policy: Backoff,
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
        let Some(delay) = policy.next_delay(retry) else {
            let reason = format!("gave up after {retry} retries: {last_reason}");
            counters.fail(&again, &reason, observer);
            return;
        };
        retry += 1;
        counters
            .retried
            .fetch_add(again.len() as u64, Ordering::Relaxed);
        ::metrics::counter!(names::RECORDS_RETRIED).increment(again.len() as u64);
        tokio::time::sleep(delay).await;
        pending = again;
    }
}
