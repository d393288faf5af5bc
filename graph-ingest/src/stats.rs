//! Counters and latency histograms of a pipeline run, sampled over time for live displays,
//! summaries and reports.

use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Running totals of a consumer, shared between its tasks and whatever displays them.
#[derive(Debug)]
pub struct PipelineStats {
    started: Instant,
    /// Records taken from the source.
    pub records_read: AtomicU64,
    /// Items (vertices and edges) created in the graph.
    pub items_written: AtomicU64,
    /// Items that were already there (redeliveries, or a write whose answer was lost).
    pub items_already_present: AtomicU64,
    /// Records set aside as dead letters (for any reason).
    pub dead_letters: AtomicU64,
    /// Of those, records that expired while held (see
    /// [`HoldPolicy::max_record_age`](crate::HoldPolicy::max_record_age)).
    pub expired: AtomicU64,
    /// Items the sink reported as failed for good (bad in themselves).
    pub permanent_failures: AtomicU64,
    /// Records acknowledged to the source.
    pub acknowledged: AtomicU64,
    /// Write requests retried inside the sink.
    pub sink_retries: AtomicU64,
    /// Writes (and dead-letter puts) the pipeline tried again while holding a shard.
    pub pipeline_retries: AtomicU64,
    /// Write calls failed on purpose (`percent_error`).
    pub injected_faults: AtomicU64,
    /// Shards (or lanes of a shard) held right now by a transient failure.
    pub held_now: AtomicU64,
    /// Holds that began so far.
    pub holds: AtomicU64,
    /// Time spent held, summed over holds that ended, in milliseconds.
    pub held_ms: AtomicU64,
    /// The largest `MillisBehindLatest` in the last batch of any shard, as the service says it.
    pub lag_ms: AtomicU64,
    /// The largest age (now minus arrival in the stream) of the newest record of any shard's
    /// last batch, when it was read: Lambda's `IteratorAge`, measured by the consumer.
    pub iterator_age_ms: AtomicU64,
    /// The largest iterator age seen over the run.
    pub max_iterator_age_ms: AtomicU64,
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
    /// The consumer's own iterator age (see [`PipelineStats::iterator_age_ms`]), milliseconds.
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

impl Default for PipelineStats {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            records_read: AtomicU64::new(0),
            items_written: AtomicU64::new(0),
            items_already_present: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            permanent_failures: AtomicU64::new(0),
            acknowledged: AtomicU64::new(0),
            sink_retries: AtomicU64::new(0),
            pipeline_retries: AtomicU64::new(0),
            injected_faults: AtomicU64::new(0),
            held_now: AtomicU64::new(0),
            holds: AtomicU64::new(0),
            held_ms: AtomicU64::new(0),
            lag_ms: AtomicU64::new(0),
            iterator_age_ms: AtomicU64::new(0),
            max_iterator_age_ms: AtomicU64::new(0),
            ages: Mutex::new(HashMap::new()),
            done_at_last_sample: AtomicU64::new(0),
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

impl PipelineStats {
    /// Records the duration of one sub-batch write.
    pub fn record_write(&self, took: Duration) {
        let us = (took.as_micros() as u64).clamp(1, 3_600_000_000);
        let mut h = self.lock();
        let _ = h.write_us.record(us);
        let _ = h.write_us_window.record(us);
    }

    /// Records one put-to-graph latency.
    pub fn record_end_to_end(&self, took: Duration) {
        let ms = (took.as_millis() as u64).clamp(1, 3_600_000_000);
        let mut h = self.lock();
        let _ = h.e2e_ms.record(ms);
        let _ = h.e2e_ms_window.record(ms);
    }

    /// Records the iterator age of `shard`'s latest batch; the published figure is the largest
    /// over the shards' latest ones.
    pub fn record_iterator_age(&self, shard: &str, age: Duration) {
        let ms = age.as_millis() as u64;
        let mut ages = self.ages.lock().unwrap_or_else(|p| p.into_inner());
        ages.insert(shard.to_owned(), ms);
        let max = ages.values().copied().max().unwrap_or(0);
        self.iterator_age_ms.store(max, Ordering::Relaxed);
        self.max_iterator_age_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Items in the graph thanks to this run (written or already present).
    pub fn items_done(&self) -> u64 {
        self.items_written.load(Ordering::Relaxed)
            + self.items_already_present.load(Ordering::Relaxed)
    }

    /// Write latency over the whole run, in milliseconds.
    pub fn write_latency(&self) -> Percentiles {
        percentiles(&self.lock().write_us, 1000.0)
    }

    /// Put-to-graph latency over the whole run, in milliseconds.
    pub fn end_to_end_latency(&self) -> Percentiles {
        percentiles(&self.lock().e2e_ms, 1.0)
    }

    /// Closes the current window: appends a sample to the timeline and returns it.
    pub fn sample(&self) -> Sample {
        let t = self.started.elapsed().as_secs_f64();
        let done = self.items_done() as f64;
        let mut timeline = self.timeline.lock().unwrap_or_else(|p| p.into_inner());
        let prev_t = timeline.last().map_or(0.0, |s| s.t);
        let done_before = self.done_at_last_sample.load(Ordering::Relaxed) as f64;
        self.done_at_last_sample
            .store(done as u64, Ordering::Relaxed);
        let mut h = self.lock();
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
            lag_ms: self.lag_ms.load(Ordering::Relaxed) as f64,
            iterator_age_ms: self.iterator_age_ms.load(Ordering::Relaxed) as f64,
            held: self.held_now.load(Ordering::Relaxed),
        };
        timeline.push(sample);
        sample
    }

    /// Every sample taken so far.
    pub fn timeline(&self) -> Vec<Sample> {
        self.timeline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Time since the stats were created.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Histograms> {
        self.histograms.lock().unwrap_or_else(|p| p.into_inner())
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
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        write!(
            f,
            "read {}, written {}, already present {}, dead letters {} ({} expired), held {} times",
            n(&self.records_read),
            n(&self.items_written),
            n(&self.items_already_present),
            n(&self.dead_letters),
            n(&self.expired),
            n(&self.holds)
        )
    }
}
