//! Metric names, emitted through the `metrics` facade.
//!
//! Where a figure is one the Kinesis Client Library also reports, it has KCL's name, so
//! dashboards and alarms written for KCL apply. Per-shard metrics carry the label
//! [`SHARD_ID`]. Nothing is recorded unless the application installs a recorder (the
//! workspace's `metrics-sink` bridges the facade to CloudWatch or the console).
//!
//! The same figures are kept as plain counters too ([`SourceStats`], [`ProducerStats`]), so a
//! binary can show progress without a recorder and tests can check them.

use std::sync::atomic::{AtomicU64, Ordering};

/// Label naming the shard of a per-shard metric (KCL's dimension name).
pub const SHARD_ID: &str = "ShardId";

/// Counter: records handed to the consumer (KCL `RecordsProcessed`), per shard.
pub const RECORDS_PROCESSED: &str = "RecordsProcessed";
/// Counter: payload bytes handed to the consumer (KCL `DataBytesProcessed`), per shard.
pub const DATA_BYTES_PROCESSED: &str = "DataBytesProcessed";
/// Gauge: milliseconds the reader is behind the tip of the shard (KCL `MillisBehindLatest`),
/// per shard.
pub const MILLIS_BEHIND_LATEST: &str = "MillisBehindLatest";
/// Gauge: the largest `MillisBehindLatest` over all shards being read (one alarm for the app).
pub const MAX_MILLIS_BEHIND_LATEST: &str = "MaxMillisBehindLatest";
/// Counter: shard iterators that expired and were re-acquired (KCL `ExpiredIterator`), per shard.
pub const EXPIRED_ITERATOR: &str = "ExpiredIterator";
/// Counter: `GetRecords`/`GetShardIterator` calls refused by throttling, per shard.
pub const GET_RECORDS_THROTTLED: &str = "GetRecords.Throttled";
/// Counter: `GetRecords`/`GetShardIterator` calls retried after a transient error, per shard.
pub const GET_RECORDS_RETRIES: &str = "GetRecords.Retries";
/// Counter: checkpoint store writes that succeeded.
pub const CHECKPOINT_WRITES: &str = "Checkpoint.Writes";
/// Counter: checkpoint store writes that failed (they are retried on the next round).
pub const CHECKPOINT_FAILURES: &str = "Checkpoint.Failures";
/// Gauge: shards being read right now.
pub const SHARD_COUNT: &str = "ShardCount";
/// Counter: shard readers that failed and were restarted, per shard.
pub const SHARD_READER_RESTARTS: &str = "ShardReader.Restarts";
/// Counter: closed shards read to their end, checkpointed as ended and retired.
pub const SHARDS_RETIRED: &str = "ShardsRetired";
/// Counter: enhanced fan-out subscriptions opened, per shard (a new one every 5 minutes on
/// AWS, and after each error).
pub const FAN_OUT_SUBSCRIPTIONS: &str = "FanOut.Subscriptions";
/// Counter: KPL aggregates read and opened into their user records, per shard (the user
/// records count in `RecordsProcessed`).
pub const AGGREGATES_OPENED: &str = "Kpl.AggregatesOpened";

/// Counter: records the producer got accepted.
pub const PRODUCER_RECORDS_PUT: &str = "Producer.RecordsPut";
/// Counter: records the producer gave up on (rejected, or out of retries).
pub const PRODUCER_RECORDS_FAILED: &str = "Producer.RecordsFailed";
/// Counter: entries resent after a partial failure or a failed call.
pub const PRODUCER_RETRIES: &str = "Producer.Retries";
/// Counter: entries or calls refused by throttling.
pub const PRODUCER_THROTTLED: &str = "Producer.Throttled";
/// Counter: `PutRecords` calls made.
pub const PRODUCER_CALLS: &str = "Producer.PutRecordsCalls";

/// Registers a description of every metric with the installed recorder.
pub fn describe() {
    use ::metrics::{describe_counter, describe_gauge, Unit};
    describe_counter!(
        RECORDS_PROCESSED,
        Unit::Count,
        "records handed to the consumer"
    );
    describe_counter!(
        DATA_BYTES_PROCESSED,
        Unit::Bytes,
        "payload bytes handed to the consumer"
    );
    describe_gauge!(
        MILLIS_BEHIND_LATEST,
        Unit::Milliseconds,
        "reader lag behind the shard tip"
    );
    describe_gauge!(
        MAX_MILLIS_BEHIND_LATEST,
        Unit::Milliseconds,
        "largest lag over all shards"
    );
    describe_counter!(
        EXPIRED_ITERATOR,
        Unit::Count,
        "shard iterators re-acquired after expiry"
    );
    describe_counter!(
        GET_RECORDS_THROTTLED,
        Unit::Count,
        "read calls refused by throttling"
    );
    describe_counter!(
        GET_RECORDS_RETRIES,
        Unit::Count,
        "read calls retried after transient errors"
    );
    describe_counter!(CHECKPOINT_WRITES, Unit::Count, "checkpoint store writes");
    describe_counter!(
        CHECKPOINT_FAILURES,
        Unit::Count,
        "failed checkpoint store writes"
    );
    describe_gauge!(SHARD_COUNT, Unit::Count, "shards being read");
    describe_counter!(
        SHARD_READER_RESTARTS,
        Unit::Count,
        "shard readers restarted after failing"
    );
    describe_counter!(
        SHARDS_RETIRED,
        Unit::Count,
        "closed shards finished and retired"
    );
    describe_counter!(
        PRODUCER_RECORDS_PUT,
        Unit::Count,
        "records accepted by PutRecords"
    );
    describe_counter!(
        PRODUCER_RECORDS_FAILED,
        Unit::Count,
        "records the producer gave up on"
    );
    describe_counter!(
        PRODUCER_RETRIES,
        Unit::Count,
        "entries resent by the producer"
    );
    describe_counter!(
        PRODUCER_THROTTLED,
        Unit::Count,
        "producer entries refused by throttling"
    );
    describe_counter!(PRODUCER_CALLS, Unit::Count, "PutRecords calls");
    describe_counter!(
        FAN_OUT_SUBSCRIPTIONS,
        Unit::Count,
        "enhanced fan-out subscriptions opened, per shard"
    );
    describe_counter!(
        AGGREGATES_OPENED,
        Unit::Count,
        "KPL aggregates opened into their user records, per shard"
    );
}

/// Running totals of a [`KinesisSource`](crate::KinesisSource), readable at any time.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// Records handed to the consumer.
    pub records: AtomicU64,
    /// Payload bytes handed to the consumer.
    pub bytes: AtomicU64,
    /// `GetRecords` calls made.
    pub get_records_calls: AtomicU64,
    /// Iterators re-acquired after expiring.
    pub expired_iterators: AtomicU64,
    /// Calls refused by throttling.
    pub throttled: AtomicU64,
    /// Calls retried after a transient error.
    pub transient_retries: AtomicU64,
    /// Successful checkpoint writes.
    pub checkpoint_writes: AtomicU64,
    /// Failed checkpoint writes.
    pub checkpoint_failures: AtomicU64,
    /// Shard readers restarted after failing.
    pub reader_restarts: AtomicU64,
    /// Shard readers started (first starts and restarts).
    pub readers_started: AtomicU64,
    /// Closed shards finished and retired.
    pub shards_retired: AtomicU64,
    /// KPL aggregates opened into their user records.
    pub aggregates_opened: AtomicU64,
    /// Enhanced fan-out subscriptions opened.
    pub subscriptions: AtomicU64,
}

/// Running totals of a [`KinesisProducer`](crate::KinesisProducer).
#[derive(Debug, Default)]
pub struct ProducerStats {
    /// Records accepted.
    pub records_put: AtomicU64,
    /// Records given up on.
    pub records_failed: AtomicU64,
    /// Entries resent.
    pub retries: AtomicU64,
    /// Entries or calls refused by throttling.
    pub throttled: AtomicU64,
    /// `PutRecords` calls made.
    pub calls: AtomicU64,
}

/// Adds to an atomic counter.
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}
