//! The names the original system published under, kept so existing dashboards keep working,
//! and the names this workspace adds.

/// CloudWatch namespace of the original system.
pub const NAMESPACE: &str = "aws-samples/stream-2-neptune";
/// The dimension naming the Neptune cluster.
pub const CLUSTER_ID: &str = "clusterId";
/// Edges submitted per write (unit Count, shown as Sum).
pub const EDGES_SUBMITTED: &str = "EdgesSubmitted";
/// Duration of one write request (unit Milliseconds).
pub const WRITE_DURATION: &str = "WriteDuration";
/// Retries a write needed (unit Count).
pub const RETRY_COUNT: &str = "RetryCount";
/// How far the consumer is behind the tip of the stream (unit Milliseconds). Kinesis calls it
/// `MillisBehindLatest`; the original's dashboard showed Lambda's `IteratorAge` instead.
pub const MILLIS_BEHIND_LATEST: &str = "MillisBehindLatest";
/// Items that could not be written because they are bad in themselves (unit Count); items
/// failing for transient reasons are held and written later, never counted here.
pub const WRITE_ERRORS: &str = "WriteErrors";
/// Time a write spent sleeping before retries after write conflicts (unit Milliseconds): another
/// writer's transaction held the same vertices. Recorded only for writes that slept; its sum
/// over a period against the period's length is the share of time lost to contention.
pub const CONFLICT_SLEEP: &str = "ConflictSleep";
/// The age of the newest record of a batch when the consumer read it (unit Milliseconds):
/// Lambda's `IteratorAge`, measured by the consumer itself from the records' arrival times.
pub const ITERATOR_AGE: &str = "IteratorAge";
/// Shards (or lanes of a shard) held by a transient failure (unit Count).
pub const HELD_SHARDS: &str = "HeldShards";
/// How long a shard was held before its writes went through again (unit Milliseconds).
pub const SHARD_HELD_DURATION: &str = "ShardHeldDuration";
/// Data points this sink could not send and dropped (unit Count).
pub const METRICS_DROPPED: &str = "MetricsDropped";
/// Retries of `PutMetricData` calls (unit Count).
pub const METRICS_RETRIES: &str = "MetricsPutRetries";

/// Registers the unit and a description of every metric this crate itself records through the
/// `metrics` facade ([`METRICS_DROPPED`], [`METRICS_RETRIES`]) with the installed recorder. A
/// program calls it once after installing its recorder;
/// [`CloudWatchSink::start`](crate::CloudWatchSink::start) calls it too. Calling it again does
/// no harm.
pub fn describe() {
    use ::metrics::{describe_counter, Unit};
    describe_counter!(
        METRICS_DROPPED,
        Unit::Count,
        "data points the CloudWatch sink could not send and dropped"
    );
    describe_counter!(
        METRICS_RETRIES,
        Unit::Count,
        "PutMetricData calls retried after a transient error"
    );
}
