//! The loop that reads one shard: iterator, `GetRecords`, pacing, retries, delivery.

use crate::ack::Acker;
use crate::api::{ApiError, ApiErrorKind, IteratorStart, KinesisApi};
use crate::config::KinesisSourceConfig;
use crate::error::SourceError;
use crate::kpl;
use crate::metrics::{self as names, SourceCounters};
use crate::record::{Record, RecordBatch, SequenceNumber, ShardId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stream2neptune_common::{lock, Backoff};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Where a shard's reader (re)starts. Shared with the supervisor so that a reader restarted
/// after a failure continues right after the last record it delivered: from the checkpoint it
/// would deliver records a second time while the first copies are still tracked.
#[derive(Debug)]
pub(crate) struct ShardCursor {
    /// Where reading starts when nothing was delivered yet.
    pub start: IteratorStart,
    /// The last record handed to the consumer.
    pub last_delivered: Option<SequenceNumber>,
    /// User records of this aggregate, up to and including this index, were processed before
    /// a restart ([`Checkpoint::AfterSubSequence`](crate::Checkpoint::AfterSubSequence)):
    /// they are not delivered again.
    pub skip_through: Option<(SequenceNumber, u64)>,
}

impl ShardCursor {
    fn resume_point(&self) -> IteratorStart {
        match &self.last_delivered {
            Some(seq) => IteratorStart::AfterSequence(seq.clone()),
            None => self.start.clone(),
        }
    }
}

/// How a reader stopped without failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReaderExit {
    /// The shard is closed and was read to its end.
    Ended,
    /// The source is stopping.
    Cancelled,
}

/// Cuts `records` into batches of at most `max` records (an event of a fan-out subscription
/// can hold more than a consumer asked for per batch), never between the user records of one
/// KPL aggregate, which the tracker needs whole in one batch.
fn batches_of(records: Vec<Record>, max: usize) -> Vec<Vec<Record>> {
    let mut out: Vec<Vec<Record>> = Vec::new();
    let mut current: Vec<Record> = Vec::new();
    for r in records {
        let same_record = current
            .last()
            .is_some_and(|last| last.sequence_number == r.sequence_number);
        if current.len() >= max.max(1) && !same_record {
            out.push(std::mem::take(&mut current));
        }
        current.push(r);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Per-shard lag, and the maximum over shards, published as gauges.
#[derive(Debug, Default)]
pub(crate) struct LagBoard {
    lags: Mutex<HashMap<ShardId, u64>>,
}

impl LagBoard {
    pub(crate) fn set(&self, shard: &str, millis: Option<u64>) {
        let mut lags = lock(&self.lags);
        match millis {
            Some(m) => {
                ::metrics::gauge!(names::MILLIS_BEHIND_LATEST, names::SHARD_ID => shard.to_owned())
                    .set(m as f64);
                lags.insert(shard.to_owned(), m);
            }
            None => {
                lags.remove(shard);
            }
        }
        let max = lags.values().copied().max().unwrap_or(0);
        ::metrics::gauge!(names::MAX_MILLIS_BEHIND_LATEST).set(max as f64);
    }
}

pub(crate) struct ShardReader {
    pub api: Arc<dyn KinesisApi>,
    pub config: Arc<KinesisSourceConfig>,
    pub shard_id: ShardId,
    pub cursor: Arc<Mutex<ShardCursor>>,
    pub acker: Acker,
    pub tx: mpsc::Sender<Result<RecordBatch, SourceError>>,
    pub cancel: CancellationToken,
    pub stats: Arc<SourceCounters>,
    pub lag: Arc<LagBoard>,
    /// Wait before the first call (a restart's backoff).
    pub initial_delay: Duration,
    /// The enhanced fan-out consumer to read as, if any (else `GetRecords` polling).
    pub consumer_arn: Option<Arc<str>>,
}

/// What to do after a failed call.
enum Next {
    Retry,
    Fail(ApiError),
    Cancelled,
}

impl Next {
    /// As a step of the polling loop: go on, fail, or stop.
    fn step(self) -> Result<Option<ReaderExit>, ApiError> {
        match self {
            Next::Retry => Ok(None),
            Next::Fail(e) => Err(e),
            Next::Cancelled => Ok(Some(ReaderExit::Cancelled)),
        }
    }
}

/// Where a polling reader stands between two calls.
struct Polling {
    /// The iterator for the next `GetRecords` call; `None` until one is acquired.
    iterator: Option<String>,
    /// Throttled calls in a row.
    throttled: u32,
    /// Transient failures in a row.
    transient: u32,
    /// The pace: no call before this.
    next_call_at: Instant,
    /// Empty answers in a row: the wait after one doubles from the shortest gap up to the
    /// idle wait, so a shard with records flowing is read as often as its limit allows, and
    /// an idle one is not polled for nothing.
    empty_streak: u32,
}

impl ShardReader {
    /// Runs `fut` unless the source stops first, bounded by the call timeout.
    async fn call<T>(
        &self,
        operation: &'static str,
        fut: impl Future<Output = Result<T, ApiError>>,
    ) -> Option<Result<T, ApiError>> {
        tokio::select! {
            _ = self.cancel.cancelled() => None,
            r = tokio::time::timeout(self.config.call_timeout, fut) => Some(r.unwrap_or_else(|_| {
                Err(ApiError::new(
                    operation,
                    ApiErrorKind::Transient,
                    format!("no answer within {:?}", self.config.call_timeout),
                ))
            })),
        }
    }

    /// Sleeps unless the source stops first; returns false if it stopped.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    async fn on_error(&self, e: ApiError, throttled: &mut u32, transient: &mut u32) -> Next {
        let shard = self.shard_id.clone();
        let (backoff, counter) = match e.kind {
            ApiErrorKind::Throttled => {
                names::add(&self.stats.throttled, 1);
                ::metrics::counter!(names::GET_RECORDS_THROTTLED, names::SHARD_ID => shard)
                    .increment(1);
                (&self.config.throttle_backoff, throttled)
            }
            ApiErrorKind::Transient => {
                names::add(&self.stats.transient_retries, 1);
                ::metrics::counter!(names::GET_RECORDS_RETRIES, names::SHARD_ID => shard)
                    .increment(1);
                (&self.config.retry_backoff, transient)
            }
            _ => return Next::Fail(e),
        };
        let Some(delay) = backoff.next_delay(*counter) else {
            return Next::Fail(e);
        };
        *counter += 1;
        tracing::debug!(shard = %self.shard_id, error = %e, ?delay, "retrying");
        if self.pause(delay).await {
            Next::Retry
        } else {
            Next::Cancelled
        }
    }

    /// Waits while too much is delivered and not yet acknowledged, so the consumer catches
    /// up; false if the source stopped meanwhile.
    async fn wait_for_room(&self) -> bool {
        while self.acker.with_tracker(|t| t.in_flight(&self.shard_id))
            >= self.config.max_unacked_records_per_shard
        {
            if !self.pause(Duration::from_millis(20)).await {
                return false;
            }
        }
        true
    }

    /// Records as delivered: those before where reading resumes left out, KPL aggregates
    /// opened if configured, and the user records a sub-sequence checkpoint covers left out.
    ///
    /// A service that answers from earlier than asked would otherwise have acknowledged work
    /// repeated: the embedded emulator starts every fan-out subscription at the oldest record.
    fn prepare(&self, mut records: Vec<Record>) -> Vec<Record> {
        let (from, skip) = {
            let cursor = lock(&self.cursor);
            (cursor.resume_point(), cursor.skip_through.clone())
        };
        let before = records.len();
        records.retain(|r| from.admits(&r.sequence_number));
        if records.len() < before {
            tracing::debug!(shard = %self.shard_id, dropped = before - records.len(), "records before the resume point dropped");
        }
        let mut records = if self.config.deaggregate {
            self.deaggregate(records)
        } else {
            records
        };
        if let Some((sequence, through)) = skip {
            records.retain(|r| {
                r.sequence_number != sequence || r.sub_sequence_number.is_none_or(|s| s > through)
            });
        }
        records
    }

    pub(crate) async fn run(self) -> Result<ReaderExit, ApiError> {
        if !self.initial_delay.is_zero() && !self.pause(self.initial_delay).await {
            return Ok(ReaderExit::Cancelled);
        }
        match self.consumer_arn.clone() {
            Some(arn) => self.run_fan_out(&arn).await,
            None => self.run_polling().await,
        }
    }

    /// Enhanced fan-out: subscribes, delivers what each event pushes, and subscribes again
    /// after the last delivered record whenever a subscription ends (every 5 minutes on AWS)
    /// or fails. Every wait for an event is bounded by the call timeout: the service sends
    /// events, empty ones included, every few seconds, so a silent subscription is replaced.
    async fn run_fan_out(&self, consumer_arn: &str) -> Result<ReaderExit, ApiError> {
        let (mut throttled, mut transient) = (0u32, 0u32);
        loop {
            if self.cancel.is_cancelled() || !self.wait_for_room().await {
                return Ok(ReaderExit::Cancelled);
            }
            let start = lock(&self.cursor).resume_point();
            let got = self
                .call(
                    "SubscribeToShard",
                    self.api
                        .subscribe_to_shard(consumer_arn, &self.shard_id, &start),
                )
                .await;
            let mut subscription = match got {
                None => return Ok(ReaderExit::Cancelled),
                Some(Ok(s)) => s,
                Some(Err(e)) => match self.on_error(e, &mut throttled, &mut transient).await {
                    Next::Retry => continue,
                    Next::Fail(e) => return Err(e),
                    Next::Cancelled => return Ok(ReaderExit::Cancelled),
                },
            };
            names::add(&self.stats.subscriptions, 1);
            ::metrics::counter!(names::FAN_OUT_SUBSCRIPTIONS, names::SHARD_ID => self.shard_id.clone())
                .increment(1);
            loop {
                // Not reading events is the back-pressure: the connection's flow control
                // holds the rest at the service.
                if !self.wait_for_room().await {
                    return Ok(ReaderExit::Cancelled);
                }
                let event = match self
                    .call("SubscribeToShard", subscription.next_event())
                    .await
                {
                    None => return Ok(ReaderExit::Cancelled),
                    Some(Ok(Some(event))) => event,
                    // Ended by the service: subscribe again.
                    Some(Ok(None)) => break,
                    Some(Err(e)) => match self.on_error(e, &mut throttled, &mut transient).await {
                        Next::Retry => break,
                        Next::Fail(e) => return Err(e),
                        Next::Cancelled => return Ok(ReaderExit::Cancelled),
                    },
                };
                throttled = 0;
                transient = 0;
                let ends = event.ends_shard();
                let records = self.prepare(event.records);
                for batch in batches_of(records, self.config.batch_read_size) {
                    if !self.deliver(batch, event.millis_behind_latest).await {
                        return Ok(ReaderExit::Cancelled);
                    }
                }
                self.lag.set(&self.shard_id, event.millis_behind_latest);
                if ends {
                    self.acker.with_tracker(|t| t.shard_ended(&self.shard_id));
                    self.lag.set(&self.shard_id, None);
                    tracing::info!(shard = %self.shard_id, "shard read to its end (fan-out)");
                    return Ok(ReaderExit::Ended);
                }
            }
        }
    }

    /// Polling: `GetRecords` on a shard iterator, paced to the service's limits.
    async fn run_polling(&self) -> Result<ReaderExit, ApiError> {
        let mut state = Polling {
            iterator: None,
            throttled: 0,
            transient: 0,
            next_call_at: Instant::now(),
            empty_streak: 0,
        };
        // Paces empty answers (see `Polling::empty_streak`).
        let idle = Backoff::new(
            self.config.min_call_interval,
            self.config.idle_time_between_reads,
        );
        loop {
            // Too much delivered and not yet acknowledged: let the consumer catch up.
            if self.cancel.is_cancelled() || !self.wait_for_room().await {
                return Ok(ReaderExit::Cancelled);
            }
            let step = match state.iterator.take() {
                None => self.acquire_iterator(&mut state).await?,
                Some(iterator) => self.poll(iterator, &mut state, &idle).await?,
            };
            if let Some(exit) = step {
                return Ok(exit);
            }
        }
    }

    /// Gets an iterator from where reading resumes; `Some` when the reader stops.
    async fn acquire_iterator(&self, state: &mut Polling) -> Result<Option<ReaderExit>, ApiError> {
        let start = lock(&self.cursor).resume_point();
        let got = self
            .call(
                "GetShardIterator",
                self.api
                    .get_shard_iterator(&self.config.stream, &self.shard_id, &start),
            )
            .await;
        match got {
            None => Ok(Some(ReaderExit::Cancelled)),
            Some(Ok(iterator)) => {
                state.iterator = Some(iterator);
                Ok(None)
            }
            Some(Err(e)) => self
                .on_error(e, &mut state.throttled, &mut state.transient)
                .await
                .step(),
        }
    }

    /// One `GetRecords` call when the pace allows, and the delivery of what it returned;
    /// `Some` when the reader stops.
    async fn poll(
        &self,
        iterator: String,
        state: &mut Polling,
        idle: &Backoff,
    ) -> Result<Option<ReaderExit>, ApiError> {
        let now = Instant::now();
        if state.next_call_at > now && !self.pause(state.next_call_at - now).await {
            return Ok(Some(ReaderExit::Cancelled));
        }
        // As many records as the call may return and the shard has room for: what is
        // delivered and not yet acknowledged stays under the bound.
        let room = self
            .config
            .max_unacked_records_per_shard
            .saturating_sub(self.acker.with_tracker(|t| t.in_flight(&self.shard_id)));
        let limit = self.config.max_records_per_call.min(room).max(1) as i32;
        let got = self
            .call(
                "GetRecords",
                self.api.get_records(&self.shard_id, &iterator, limit),
            )
            .await;
        state.next_call_at = Instant::now() + self.config.min_call_interval;
        names::add(&self.stats.get_records_calls, 1);
        let out = match got {
            None => return Ok(Some(ReaderExit::Cancelled)),
            Some(Ok(out)) => out,
            Some(Err(e)) if e.kind == ApiErrorKind::ExpiredIterator => {
                // The next iterator comes from the last delivered record, so nothing is
                // skipped and nothing is delivered twice.
                names::add(&self.stats.expired_iterators, 1);
                ::metrics::counter!(names::EXPIRED_ITERATOR, names::SHARD_ID => self.shard_id.clone())
                    .increment(1);
                tracing::info!(shard = %self.shard_id, "shard iterator expired; re-acquiring after the last delivered record");
                return Ok(None);
            }
            Some(Err(e)) => {
                // Retry with the same iterator.
                state.iterator = Some(iterator);
                return self
                    .on_error(e, &mut state.throttled, &mut state.transient)
                    .await
                    .step();
            }
        };
        state.throttled = 0;
        state.transient = 0;
        let empty = out.records.is_empty();
        let records = self.prepare(out.records);
        // Nothing left after preparing is nothing to deliver (an empty batch would also
        // wipe the cursor's last delivered record).
        for batch in batches_of(records, self.config.batch_read_size) {
            if !self.deliver(batch, out.millis_behind_latest).await {
                return Ok(Some(ReaderExit::Cancelled));
            }
        }
        self.lag.set(&self.shard_id, out.millis_behind_latest);
        let Some(next) = out.next_iterator else {
            self.acker.with_tracker(|t| t.shard_ended(&self.shard_id));
            self.lag.set(&self.shard_id, None);
            tracing::info!(shard = %self.shard_id, "shard read to its end");
            return Ok(Some(ReaderExit::Ended));
        };
        state.iterator = Some(next);
        if empty {
            state.next_call_at = Instant::now() + idle.pace(state.empty_streak);
            state.empty_streak = state.empty_streak.saturating_add(1);
        } else {
            state.empty_streak = 0;
        }
        Ok(None)
    }

    /// Opens the KPL aggregates among `records` into their user records, in place. A batch
    /// always holds every user record of an aggregate (the tracker relies on it).
    fn deaggregate(&self, records: Vec<Record>) -> Vec<Record> {
        if !records.iter().any(|r| kpl::looks_aggregated(&r.data)) {
            return records;
        }
        let mut out = Vec::with_capacity(records.len());
        let mut opened = 0u64;
        for r in records {
            let before = out.len();
            out.extend(kpl::deaggregate(r));
            if out[before].sub_sequence_number.is_some() {
                opened += 1;
            }
        }
        if opened > 0 {
            names::add(&self.stats.aggregates_opened, opened);
            ::metrics::counter!(names::AGGREGATES_OPENED, names::SHARD_ID => self.shard_id.clone())
                .increment(opened);
        }
        out
    }

    /// Hands a batch to the consumer; false if the source stopped first.
    async fn deliver(&self, records: Vec<Record>, millis_behind_latest: Option<u64>) -> bool {
        // Reserve room first, then register the records as delivered, then send: registering
        // after sending would let a fast consumer acknowledge records the tracker does not know
        // yet, and sending before reserving could leave registered records nobody received.
        let permit = tokio::select! {
            _ = self.cancel.cancelled() => return false,
            p = self.tx.reserve() => match p {
                Ok(p) => p,
                Err(_) => return false,
            },
        };
        let last = records.last().map(|r| r.sequence_number.clone());
        self.acker
            .with_tracker(|t| t.delivered_records(&self.shard_id, &records));
        lock(&self.cursor).last_delivered = last;
        let bytes: u64 = records.iter().map(|r| r.data.len() as u64).sum();
        names::add(&self.stats.records, records.len() as u64);
        names::add(&self.stats.bytes, bytes);
        ::metrics::counter!(names::RECORDS_PROCESSED, names::SHARD_ID => self.shard_id.clone())
            .increment(records.len() as u64);
        ::metrics::counter!(names::DATA_BYTES_PROCESSED, names::SHARD_ID => self.shard_id.clone())
            .increment(bytes);
        permit.send(Ok(RecordBatch {
            shard_id: self.shard_id.clone(),
            records,
            millis_behind_latest,
            acker: self.acker.clone(),
        }));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_at_the_limit_but_never_inside_an_aggregate() {
        let plain = |s: &str| Record::new("s", SequenceNumber::new(s), "k", "d");
        let user = |s: &str, sub: u64| {
            let mut r = plain(s);
            r.sub_sequence_number = Some(sub);
            r
        };
        let records = vec![
            plain("1"),
            user("2", 0),
            user("2", 1),
            user("2", 2),
            plain("3"),
            plain("4"),
        ];
        let sizes: Vec<usize> = batches_of(records.clone(), 2)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(
            sizes,
            vec![4, 2],
            "the aggregate stays with the batch it starts in"
        );
        let sizes: Vec<usize> = batches_of(records.clone(), 1)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, vec![1, 3, 1, 1]);
        assert_eq!(batches_of(records.clone(), 10).concat(), records);
        assert!(batches_of(Vec::new(), 3).is_empty());
    }
}
