//! The metrics a pipeline publishes through its [`MetricsSink`], under the original's names
//! and `clusterId` dimension, at one-second resolution.

use metrics_sink::{names, MetricDatum, MetricsSink, Unit};
use std::time::Duration;

fn datum(cluster_id: &str, name: &str, unit: Unit, value: f64) -> MetricDatum {
    MetricDatum::new(name, unit, value)
        .dimension(names::CLUSTER_ID, cluster_id)
        .high_resolution()
}

/// The original's metrics of one write call: `EdgesSubmitted`, `WriteDuration`, `RetryCount`,
/// and `WriteErrors` (items that failed for good: bad in themselves) when there were some;
/// and `ConflictSleep` when the call slept on write conflicts.
pub fn record_write_metrics(
    metrics: &dyn MetricsSink,
    cluster_id: &str,
    submitted: usize,
    took: Duration,
    retries: u32,
    errors: usize,
    conflict_sleep_ms: u64,
) {
    metrics.record(datum(
        cluster_id,
        names::EDGES_SUBMITTED,
        Unit::Count,
        submitted as f64,
    ));
    metrics.record(datum(
        cluster_id,
        names::WRITE_DURATION,
        Unit::Milliseconds,
        took.as_secs_f64() * 1000.0,
    ));
    metrics.record(datum(
        cluster_id,
        names::RETRY_COUNT,
        Unit::Count,
        f64::from(retries),
    ));
    if errors > 0 {
        metrics.record(datum(
            cluster_id,
            names::WRITE_ERRORS,
            Unit::Count,
            errors as f64,
        ));
    }
    if conflict_sleep_ms > 0 {
        metrics.record(datum(
            cluster_id,
            names::CONFLICT_SLEEP,
            Unit::Milliseconds,
            conflict_sleep_ms as f64,
        ));
    }
}

/// How far behind one batch is: `IteratorAge` (the age of its newest record, measured here)
/// and `MillisBehindLatest` (the service's figure) when the service gave one.
pub fn record_lag(
    metrics: &dyn MetricsSink,
    cluster_id: &str,
    iterator_age: Option<Duration>,
    millis_behind_latest: Option<u64>,
) {
    if let Some(age) = iterator_age {
        metrics.record(datum(
            cluster_id,
            names::ITERATOR_AGE,
            Unit::Milliseconds,
            age.as_secs_f64() * 1000.0,
        ));
    }
    if let Some(lag) = millis_behind_latest {
        metrics.record(datum(
            cluster_id,
            names::MILLIS_BEHIND_LATEST,
            Unit::Milliseconds,
            lag as f64,
        ));
    }
}

/// A hold began or ended: `HeldShards` (how many are held now), and when it ended
/// `ShardHeldDuration`.
pub fn record_hold(
    metrics: &dyn MetricsSink,
    cluster_id: &str,
    held_now: u64,
    ended_after: Option<Duration>,
) {
    metrics.record(datum(
        cluster_id,
        names::HELD_SHARDS,
        Unit::Count,
        held_now as f64,
    ));
    if let Some(d) = ended_after {
        metrics.record(datum(
            cluster_id,
            names::SHARD_HELD_DURATION,
            Unit::Milliseconds,
            d.as_secs_f64() * 1000.0,
        ));
    }
}
