//! One batch (or one lane's part of it) from records to settled: map each record, write what
//! they ask of the graph (holding the lane through transient failures), then settle every
//! record: acknowledged once in the graph, or stored as a dead letter and then acknowledged.

use super::{BatchResult, Pipeline, PipelineError, PutTime};
use crate::dead_letter::DeadLetter;
use crate::fault::FaultInjector;
use crate::hold::{Hold, Waited};
use crate::mapper::GraphWrites;
use crate::publish;
use crate::stats::Counters;
use crate::write::{write_records, Settled, Verdict};
use kinesis_source::{Acker, Record};
use std::time::{Duration, SystemTime};
use stream2neptune_common::Classify;
use tokio::sync::watch;

/// A record still to be written.
struct Pending {
    /// Its place in the batch.
    index: usize,
    writes: GraphWrites,
    /// Whether an earlier attempt may have been committed (an answer was lost): such a record
    /// is never expired before the graph says whether it holds it.
    unconfirmed: bool,
}

/// What a batch has settled so far. It owns what settling touches (acknowledgements, stats,
/// put times), so every record is acknowledged, counted and timed in one place.
struct Ledger<'a> {
    records: &'a [&'a Record],
    acker: &'a Acker,
    stats: &'a Counters,
    put_time: Option<&'a PutTime>,
    /// When the batch was received: where a record's age starts if the stream gave no arrival
    /// time.
    received: SystemTime,
    result: BatchResult,
    /// Records to set aside, with why, in no particular order.
    dead: Vec<(usize, String)>,
}

impl<'a> Ledger<'a> {
    /// Age of record `index` from its arrival in the stream (or from when it was received).
    fn age(&self, index: usize) -> Duration {
        SystemTime::now()
            .duration_since(
                self.records[index]
                    .approximate_arrival
                    .unwrap_or(self.received),
            )
            .unwrap_or_default()
    }

    /// Record `index` is in the graph: counted, its put-to-graph latency recorded, and
    /// acknowledged at once (the checkpoint only moves over the acknowledged prefix, so later
    /// records may go first).
    fn in_graph(&mut self, index: usize, settled: Settled) {
        self.result.written += settled.written;
        self.result.already_present += settled.present;
        self.result.stale += settled.stale;
        Counters::add(&self.stats.items_written, settled.written);
        Counters::add(&self.stats.items_already_present, settled.present);
        Counters::add(&self.stats.items_stale, settled.stale);
        let record = self.records[index];
        let put = self.put_time.and_then(|f| f(record));
        self.stats.record_end_to_end(match put {
            Some(t) => SystemTime::now().duration_since(t).unwrap_or_default(),
            None => self.age(index),
        });
        self.ack(index);
    }

    /// Record `index` is bad in itself: it becomes a dead letter.
    fn bad(&mut self, index: usize, reason: String) {
        self.dead.push((index, reason));
    }

    /// Acknowledges record `index`. A refusal means the source did not deliver it (or it was
    /// acknowledged twice), which no retry mends: it is logged and counted, never ignored.
    fn ack(&self, index: usize) {
        let record = self.records[index];
        match self.acker.ack_record(record) {
            Ok(_) => Counters::add(&self.stats.acknowledged, 1),
            Err(e) => {
                Counters::add(&self.stats.ack_failures, 1);
                tracing::error!(
                    shard = record.shard_id.as_str(),
                    sequence_number = record.sequence_number.as_str(),
                    error = %e,
                    "acknowledgement refused"
                );
            }
        }
    }

    /// Sets aside the records in `pending` that are older than `max_age`, unless an answer
    /// about them was lost.
    fn expire(&mut self, pending: &mut Vec<Pending>, max_age: Duration, hold: &Hold<'_>) {
        let held = hold.held_secs();
        let last_error = hold.last_error();
        let (expired, kept): (Vec<Pending>, Vec<Pending>) = std::mem::take(pending)
            .into_iter()
            .partition(|p| !p.unconfirmed && self.age(p.index) > max_age);
        *pending = kept;
        for p in expired {
            Counters::add(&self.stats.expired, 1);
            self.bad(
                p.index,
                format!("expired after {held} s of transient failures: {last_error}"),
            );
        }
    }

    /// When the oldest record of `pending` that may expire reaches `max_age`; none without
    /// such a record, so the wait has no end but the graph's return.
    fn expiry(&self, pending: &[Pending], max_age: Duration) -> Option<tokio::time::Instant> {
        let oldest = pending
            .iter()
            .filter(|p| !p.unconfirmed)
            .map(|p| self.age(p.index))
            .max()?;
        Some(tokio::time::Instant::now() + max_age.saturating_sub(oldest))
    }

    /// The dead letters to store, in batch order.
    fn letters(&mut self) -> Vec<DeadLetter> {
        self.dead.sort_by_key(|(i, _)| *i);
        self.dead
            .iter()
            .map(|(i, reason)| DeadLetter::of_record(self.records[*i], reason.clone()))
            .collect()
    }

    /// The dead letters are stored: their records are acknowledged.
    fn letters_stored(&mut self, letters: Vec<DeadLetter>) {
        Counters::add(&self.stats.dead_letters, letters.len() as u64);
        for (i, _) in std::mem::take(&mut self.dead) {
            // Asked for every acknowledged record, so a function that forgets what it
            // answers (the main job's put times) is left holding nothing.
            if let Some(put_time) = self.put_time {
                put_time(self.records[i]);
            }
            self.ack(i);
        }
        self.result.dead_lettered = letters.into_iter().map(|l| l.sequence_number).collect();
    }
}

impl Pipeline {
    /// Maps, writes and settles one batch's `records` (see [`Pipeline::process_batch`]).
    pub(super) async fn process(
        &self,
        lane: &str,
        records: &[&Record],
        acker: &Acker,
        millis_behind_latest: Option<u64>,
    ) -> Result<BatchResult, PipelineError> {
        let inner = &*self.inner;
        let mut ledger = Ledger {
            records,
            acker,
            stats: inner.stats.counters(),
            put_time: inner.put_time.as_ref(),
            received: SystemTime::now(),
            result: BatchResult::default(),
            dead: Vec::new(),
        };
        self.observe_read(lane, &ledger, millis_behind_latest);
        let pending = self.map(&mut ledger);
        let mut stop = inner.control.stop_receiver();
        ledger.result.unfinished = self
            .write_held(lane, pending, &mut ledger, &mut stop)
            .await?;
        if !ledger.dead.is_empty() {
            let letters = ledger.letters();
            if !self.store_dead_letters(lane, &letters, &mut stop).await? {
                ledger.result.unfinished += letters.len();
                return Ok(ledger.result);
            }
            ledger.letters_stored(letters);
        }
        Ok(ledger.result)
    }

    /// Counts what was read and publishes how far behind the stream it was.
    fn observe_read(&self, lane: &str, ledger: &Ledger<'_>, millis_behind_latest: Option<u64>) {
        let inner = &*self.inner;
        let stats = ledger.stats;
        Counters::add(&stats.records_read, ledger.records.len() as u64);
        if let Some(lag) = millis_behind_latest {
            stats
                .lag_ms
                .store(lag, std::sync::atomic::Ordering::Relaxed);
        }
        let newest = ledger
            .records
            .iter()
            .filter_map(|r| r.approximate_arrival)
            .max()
            .and_then(|t| ledger.received.duration_since(t).ok());
        if let Some(age) = newest {
            let shard = ledger.records.first().map_or(lane, |r| r.shard_id.as_str());
            stats.record_iterator_age(shard, age);
        }
        publish::record_lag(
            inner.metrics.as_ref(),
            &inner.config.cluster_id,
            newest,
            millis_behind_latest,
        );
    }

    /// Maps every record; those the mapper rejects are bad in themselves.
    fn map(&self, ledger: &mut Ledger<'_>) -> Vec<Pending> {
        let mut pending = Vec::with_capacity(ledger.records.len());
        for (index, record) in ledger.records.iter().enumerate() {
            match self.inner.mapper.map(record) {
                Ok(writes) => pending.push(Pending {
                    index,
                    writes,
                    unconfirmed: false,
                }),
                Err(rejection) => ledger.bad(index, rejection.reason().to_owned()),
            }
        }
        pending
    }

    /// Writes `pending` until every record is settled (in the graph, or bad in itself),
    /// holding the lane while writes fail for transient reasons. Returns how many records
    /// were left unsettled because the pipeline stopped.
    async fn write_held(
        &self,
        lane: &str,
        mut pending: Vec<Pending>,
        ledger: &mut Ledger<'_>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<usize, PipelineError> {
        let inner = &*self.inner;
        let config = &inner.config;
        let metrics = inner.metrics.as_ref();
        let mut hold = Hold::new(
            lane,
            &config.hold,
            ledger.stats,
            metrics,
            &config.cluster_id,
        );
        let mut write_now = true;
        while !pending.is_empty() {
            if write_now {
                pending = self.attempt(pending, ledger, &mut hold).await?;
            }
            if let Some(max_age) = config.hold.max_record_age {
                ledger.expire(&mut pending, max_age, &hold);
            }
            if pending.is_empty() {
                break;
            }
            let expiry = config
                .hold
                .max_record_age
                .and_then(|max_age| ledger.expiry(&pending, max_age));
            match hold.wait(inner.sink.as_ref(), stop, expiry).await {
                Waited::Retry => write_now = true,
                Waited::Expiring => write_now = false,
                // The hold ends with it, unresumed: its records are read again on the next start.
                Waited::Stopped => return Ok(pending.len()),
            }
        }
        hold.resumed();
        Ok(0)
    }

    /// One write of every record of `pending`; the records that failed for a transient reason
    /// come back, to be held and written again.
    async fn attempt(
        &self,
        pending: Vec<Pending>,
        ledger: &mut Ledger<'_>,
        hold: &mut Hold<'_>,
    ) -> Result<Vec<Pending>, PipelineError> {
        let verdicts = if self.inner.faults.strikes() {
            Counters::add(&ledger.stats.injected_faults, 1);
            let verdict = Verdict::Transient {
                error: FaultInjector::REASON.into(),
                unconfirmed: false,
            };
            vec![verdict; pending.len()]
        } else {
            self.write(&pending, ledger.stats).await?
        };
        let mut again = Vec::new();
        for (p, verdict) in pending.into_iter().zip(verdicts) {
            match verdict {
                Verdict::Done(settled) => ledger.in_graph(p.index, settled),
                Verdict::Permanent(reason) => ledger.bad(p.index, reason),
                Verdict::Transient { error, unconfirmed } => {
                    hold.failed(&error);
                    again.push(Pending {
                        unconfirmed: p.unconfirmed || unconfirmed,
                        ..p
                    });
                }
            }
        }
        Ok(again)
    }

    /// Writes what `pending` asks of the graph through the sink, counting and publishing the
    /// attempt; one verdict per record.
    async fn write(
        &self,
        pending: &[Pending],
        stats: &Counters,
    ) -> Result<Vec<Verdict>, PipelineError> {
        let inner = &*self.inner;
        let refs: Vec<&GraphWrites> = pending.iter().map(|p| &p.writes).collect();
        let attempt = write_records(inner.sink.as_ref(), &refs)
            .await
            .map_err(PipelineError::Sink)?;
        stats.record_write(attempt.took);
        stats.record_changes(&attempt.changes);
        Counters::add(&stats.sink_retries, u64::from(attempt.retries));
        Counters::add(&stats.conflict_sleep_ms, attempt.conflict_sleep_ms);
        Counters::add(&stats.permanent_failures, attempt.permanent_items as u64);
        publish::record_write_metrics(
            inner.metrics.as_ref(),
            &inner.config.cluster_id,
            attempt.edges,
            attempt.took,
            attempt.retries,
            attempt.permanent_items,
            attempt.conflict_sleep_ms,
        );
        Ok(attempt.verdicts)
    }

    /// Stores dead letters, holding through transient failures of the store; `false` if the
    /// pipeline stopped first.
    async fn store_dead_letters(
        &self,
        lane: &str,
        letters: &[DeadLetter],
        stop: &mut watch::Receiver<bool>,
    ) -> Result<bool, PipelineError> {
        let inner = &*self.inner;
        let mut attempt = 0u32;
        loop {
            match inner.dead_letters.put(letters).await {
                Ok(()) => return Ok(true),
                Err(e) if e.kind().is_retriable() => {
                    tracing::warn!(shard = lane, error = %e, "dead letters not stored yet; their records stay unacknowledged and are stored again");
                    Counters::add(&inner.stats.counters().pipeline_retries, 1);
                    let wait = inner.config.hold.backoff.delay(attempt);
                    attempt += 1;
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.wait_for(|s| *s) => return Ok(false),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
