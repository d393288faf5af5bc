//! Counters and latency histograms of a pipeline run, sampled over time for live displays,
//! summaries and reports.

use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stream2neptune_common::lock;

/// Running totals of a consumer: a handle shared between its tasks and whatever displays
/// them. Clones share the same totals.
///
/// [`snapshot`](Self::snapshot) reads the counters at one moment; the latency percentiles and
/// the timeline have methods of their own.
#[derive(Debug, Clone, Default)]
pub struct PipelineStats {
    counters: Arc<Counters>,
}

/// The totals of a [`PipelineStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Records taken from the source.
    pub records_read: u64,
    /// Items (vertices and edges) created in the graph.
    pub items_written: u64,
    /// Items that were already there (redeliveries, or a write whose answer was lost).
    pub items_already_present: u64,
    /// Changes skipped because the graph holds a newer version of their element.
    pub items_stale: u64,
    /// What the changes did, by kind.
    pub changes: ChangeCounts,
    /// Records set aside as dead letters (for any reason).
    pub dead_letters: u64,
    /// Of those, records that expired while held (see
    /// [`HoldPolicy::max_record_age`](crate::HoldPolicy::max_record_age)).
    pub expired: u64,
    /// Items the sink reported as failed for good (bad in themselves).
    pub permanent_failures: u64,
    /// Records acknowledged to the source.
    pub acknowledged: u64,
    /// Acknowledgements the source refused (a record it did not deliver, or one acknowledged
    /// twice): never expected, so each is logged as an error too.
    pub ack_failures: u64,
    /// Write requests retried inside the sink.
    pub sink_retries: u64,
    /// Milliseconds the sink slept before retries after write conflicts.
    pub conflict_sleep_ms: u64,
    /// Writes (and dead-letter puts) the pipeline tried again while holding a shard.
    pub pipeline_retries: u64,
    /// Write calls failed on purpose (`percent_error`).
    pub injected_faults: u64,
    /// Shards (or lanes of a shard) held right now by a transient failure.
    pub held_now: u64,
    /// Holds that began so far.
    pub holds: u64,
    /// Time spent held, summed over holds that ended, in milliseconds.
    pub held_ms: u64,
    /// The largest `MillisBehindLatest` in the last batch of any shard, as the service says it.
    pub lag_ms: u64,
    /// The largest age (now minus arrival in the stream) of the newest record of any shard's
    /// last batch, when it was read: Lambda's `IteratorAge`, measured by the consumer.
    pub iterator_age_ms: u64,
    /// The largest iterator age seen over the run.
    pub max_iterator_age_ms: u64,
}

/// The outcomes of one kind of change: applied, already current, stale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ChangeOutcomes {
    /// Applied: the graph changed.
    pub applied: u64,
    /// The graph already held it (a repeat, the same version again).
    pub current: u64,
    /// Older than what the graph holds: skipped.
    pub stale: u64,
}

impl ChangeOutcomes {
    /// Every change of the kind that is settled.
    pub fn total(&self) -> u64 {
        self.applied + self.current + self.stale
    }
}

/// What the changes ([`Mutation`](neptune_batch::Mutation)s) of a run did, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ChangeCounts {
    /// Vertex upserts.
    pub vertex_upserts: ChangeOutcomes,
    /// Edge upserts.
    pub edge_upserts: ChangeOutcomes,
    /// Vertex deletes.
    pub vertex_deletes: ChangeOutcomes,
    /// Edge deletes.
    pub edge_deletes: ChangeOutcomes,
    /// Property removals.
    pub property_removals: ChangeOutcomes,
}

/// The kind of a change, for [`ChangeCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    VertexUpsert,
    EdgeUpsert,
    VertexDelete,
    EdgeDelete,
    PropertyRemoval,
}

impl ChangeKind {
    pub(crate) fn of(m: &neptune_batch::Mutation) -> Self {
        use neptune_batch::Change;
        match &m.change {
            Change::UpsertVertex { .. } => ChangeKind::VertexUpsert,
            Change::UpsertEdge { .. } => ChangeKind::EdgeUpsert,
            Change::DeleteVertex { .. } => ChangeKind::VertexDelete,
            Change::DeleteEdge { .. } => ChangeKind::EdgeDelete,
            _ => ChangeKind::PropertyRemoval,
        }
    }

    /// Whether the change is to an edge (counted with the edges submitted).
    pub(crate) fn is_edge(self) -> bool {
        matches!(self, ChangeKind::EdgeUpsert | ChangeKind::EdgeDelete)
    }
}

impl ChangeCounts {
    fn slot(&mut self, kind: ChangeKind) -> &mut ChangeOutcomes {
        match kind {
            ChangeKind::VertexUpsert => &mut self.vertex_upserts,
            ChangeKind::EdgeUpsert => &mut self.edge_upserts,
            ChangeKind::VertexDelete => &mut self.vertex_deletes,
            ChangeKind::EdgeDelete => &mut self.edge_deletes,
            ChangeKind::PropertyRemoval => &mut self.property_removals,
        }
    }

    /// Counts one settled change.
    pub(crate) fn count(&mut self, kind: ChangeKind, outcome: &neptune_batch::ItemOutcome) {
        use neptune_batch::ItemOutcome;
        let slot = self.slot(kind);
        match outcome {
            ItemOutcome::Written => slot.applied += 1,
            ItemOutcome::Stale => slot.stale += 1,
            _ => slot.current += 1,
        }
    }

    /// Adds `other` to these counts.
    pub(crate) fn add(&mut self, other: &ChangeCounts) {
        for kind in [
            ChangeKind::VertexUpsert,
            ChangeKind::EdgeUpsert,
            ChangeKind::VertexDelete,
            ChangeKind::EdgeDelete,
            ChangeKind::PropertyRemoval,
        ] {
            let o = *other.clone().slot(kind);
            let s = self.slot(kind);
            s.applied += o.applied;
            s.current += o.current;
            s.stale += o.stale;
        }
    }

    /// Every change settled, of any kind.
    pub fn total(&self) -> u64 {
        [
            self.vertex_upserts,
            self.edge_upserts,
            self.vertex_deletes,
            self.edge_deletes,
            self.property_removals,
        ]
        .iter()
        .map(ChangeOutcomes::total)
        .sum()
    }
}

impl StatsSnapshot {
    /// Items the run settled: written, found already present, or stale (a newer version was
    /// there).
    pub fn items_done(&self) -> u64 {
        self.items_written + self.items_already_present + self.items_stale
    }
}

/// The counters behind [`PipelineStats`], updated by the pipeline's tasks.
#[derive(Debug)]
pub(crate) struct Counters {
    started: Instant,
    pub(crate) records_read: AtomicU64,
    pub(crate) items_written: AtomicU64,
    pub(crate) items_already_present: AtomicU64,
    pub(crate) items_stale: AtomicU64,
    changes: Mutex<ChangeCounts>,
    pub(crate) dead_letters: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) permanent_failures: AtomicU64,
    pub(crate) acknowledged: AtomicU64,
    pub(crate) ack_failures: AtomicU64,
    pub(crate) sink_retries: AtomicU64,
    pub(crate) conflict_sleep_ms: AtomicU64,
    pub(crate) pipeline_retries: AtomicU64,
    pub(crate) injected_faults: AtomicU64,
    pub(crate) held_now: AtomicU64,
    pub(crate) holds: AtomicU64,
    pub(crate) held_ms: AtomicU64,
    pub(crate) lag_ms: AtomicU64,
    iterator_age_ms: AtomicU64,
    max_iterator_age_ms: AtomicU64,
    ages: Mutex<HashMap<String, u64>>,
    done_at_last_sample: AtomicU64,
    histograms: Mutex<Histograms>,
    timeline: Mutex<Vec<Sample>>,
}

#[derive(Debug)]
struct Histograms {
    /// Duration of one sub-batch write, microseconds: over the run and since the last sample.
    write_us: Histogram<u64>,
    write_us_window: Histogram<u64>,
    /// From the record's arrival in the stream to its edge being in the graph, milliseconds.
    e2e_ms: Histogram<u64>,
    e2e_ms_window: Histogram<u64>,
}

/// One point of the run's timeline.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Seconds since the run started.
    pub t: f64,
    /// Items written or found present per second since the previous sample.
    pub items_per_s: f64,
    /// Write latency of the window, 50th percentile, milliseconds.
    pub write_p50_ms: f64,
    /// Write latency of the window, 99th percentile, milliseconds.
    pub write_p99_ms: f64,
    /// Put-to-graph latency of the window, 99th percentile, milliseconds.
    pub e2e_p99_ms: f64,
    /// `MillisBehindLatest` as the service reported it, milliseconds.
    pub lag_ms: f64,
    /// The consumer's own iterator age (see [`StatsSnapshot::iterator_age_ms`]), milliseconds.
    pub iterator_age_ms: f64,
    /// Shards (or lanes) held at the sample.
    pub held: u64,
}

/// Percentiles of one latency distribution.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds are valid")
}

impl Default for Counters {
    fn default() -> Self {
        let zero = || AtomicU64::new(0);
        Self {
            started: Instant::now(),
            records_read: zero(),
            items_written: zero(),
            items_already_present: zero(),
            items_stale: zero(),
            changes: Mutex::new(ChangeCounts::default()),
            dead_letters: zero(),
            expired: zero(),
            permanent_failures: zero(),
            acknowledged: zero(),
            ack_failures: zero(),
            sink_retries: zero(),
            conflict_sleep_ms: zero(),
            pipeline_retries: zero(),
            injected_faults: zero(),
            held_now: zero(),
            holds: zero(),
            held_ms: zero(),
            lag_ms: zero(),
            iterator_age_ms: zero(),
            max_iterator_age_ms: zero(),
            ages: Mutex::new(HashMap::new()),
            done_at_last_sample: zero(),
            histograms: Mutex::new(Histograms {
                write_us: histogram(),
                write_us_window: histogram(),
                e2e_ms: histogram(),
                e2e_ms_window: histogram(),
            }),
            timeline: Mutex::new(Vec::new()),
        }
    }
}

impl Counters {
    /// Adds `n` to a counter.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds what the changes of one write did.
    pub(crate) fn record_changes(&self, changes: &ChangeCounts) {
        lock(&self.changes).add(changes);
    }

    /// Records the duration of one sub-batch write.
    pub(crate) fn record_write(&self, took: Duration) {
        let us = (took.as_micros() as u64).clamp(1, 3_600_000_000);
        let mut h = lock(&self.histograms);
        let _ = h.write_us.record(us);
        let _ = h.write_us_window.record(us);
    }

    /// Records one put-to-graph latency.
    pub(crate) fn record_end_to_end(&self, took: Duration) {
        let ms = (took.as_millis() as u64).clamp(1, 3_600_000_000);
        let mut h = lock(&self.histograms);
        let _ = h.e2e_ms.record(ms);
        let _ = h.e2e_ms_window.record(ms);
    }

    /// Records the iterator age of `shard`'s latest batch; the published figure is the largest
    /// over the shards' latest ones.
    pub(crate) fn record_iterator_age(&self, shard: &str, age: Duration) {
        let ms = age.as_millis() as u64;
        let mut ages = lock(&self.ages);
        ages.insert(shard.to_owned(), ms);
        let max = ages.values().copied().max().unwrap_or(0);
        self.iterator_age_ms.store(max, Ordering::Relaxed);
        self.max_iterator_age_ms.fetch_max(ms, Ordering::Relaxed);
    }
}

impl PipelineStats {
    /// The counters, for the pipeline's tasks.
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The totals now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let c = &*self.counters;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            records_read: n(&c.records_read),
            items_written: n(&c.items_written),
            items_already_present: n(&c.items_already_present),
            items_stale: n(&c.items_stale),
            changes: *lock(&c.changes),
            dead_letters: n(&c.dead_letters),
            expired: n(&c.expired),
            permanent_failures: n(&c.permanent_failures),
            acknowledged: n(&c.acknowledged),
            ack_failures: n(&c.ack_failures),
            sink_retries: n(&c.sink_retries),
            conflict_sleep_ms: n(&c.conflict_sleep_ms),
            pipeline_retries: n(&c.pipeline_retries),
            injected_faults: n(&c.injected_faults),
            held_now: n(&c.held_now),
            holds: n(&c.holds),
            held_ms: n(&c.held_ms),
            lag_ms: n(&c.lag_ms),
            iterator_age_ms: n(&c.iterator_age_ms),
            max_iterator_age_ms: n(&c.max_iterator_age_ms),
        }
    }

    /// Items this run settled (see [`StatsSnapshot::items_done`]).
    pub fn items_done(&self) -> u64 {
        self.snapshot().items_done()
    }

    /// Write latency over the whole run, in milliseconds.
    pub fn write_latency(&self) -> Percentiles {
        percentiles(&lock(&self.counters.histograms).write_us, 1000.0)
    }

    /// Put-to-graph latency over the whole run, in milliseconds.
    pub fn end_to_end_latency(&self) -> Percentiles {
        percentiles(&lock(&self.counters.histograms).e2e_ms, 1.0)
    }

    /// Closes the current window: appends a sample to the timeline and returns it.
    pub fn sample(&self) -> Sample {
        let c = &*self.counters;
        let t = c.started.elapsed().as_secs_f64();
        let now = self.snapshot();
        let done = now.items_done() as f64;
        let mut timeline = lock(&c.timeline);
        let prev_t = timeline.last().map_or(0.0, |s| s.t);
        let done_before = c.done_at_last_sample.swap(done as u64, Ordering::Relaxed) as f64;
        let mut h = lock(&c.histograms);
        let write = percentiles(&h.write_us_window, 1000.0);
        let e2e = percentiles(&h.e2e_ms_window, 1.0);
        h.write_us_window.reset();
        h.e2e_ms_window.reset();
        drop(h);
        let dt = (t - prev_t).max(1e-3);
        let sample = Sample {
            t,
            items_per_s: (done - done_before) / dt,
            write_p50_ms: write.p50,
            write_p99_ms: write.p99,
            e2e_p99_ms: e2e.p99,
            lag_ms: now.lag_ms as f64,
            iterator_age_ms: now.iterator_age_ms as f64,
            held: now.held_now,
        };
        timeline.push(sample);
        sample
    }

    /// Every sample taken so far.
    pub fn timeline(&self) -> Vec<Sample> {
        lock(&self.counters.timeline).clone()
    }

    /// Time since the stats were created.
    pub fn elapsed(&self) -> Duration {
        self.counters.started.elapsed()
    }
}

fn percentiles(h: &Histogram<u64>, divisor: f64) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        count: h.len(),
        p50: h.value_at_quantile(0.50) as f64 / divisor,
        p90: h.value_at_quantile(0.90) as f64 / divisor,
        p99: h.value_at_quantile(0.99) as f64 / divisor,
        max: h.max() as f64 / divisor,
    }
}

/// One line: what was read, written, already there, set aside, and how often shards were held.
impl std::fmt::Display for PipelineStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.snapshot();
        write!(
            f,
            "read {}, written {}, already present {}, dead letters {} ({} expired), held {} times",
            s.records_read,
            s.items_written,
            s.items_already_present,
            s.dead_letters,
            s.expired,
            s.holds
        )
    }
}
