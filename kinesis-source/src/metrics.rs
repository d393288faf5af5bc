//! Metric names, emitted through the `metrics` facade.
//!
//! Where a figure is one the Kinesis Client Library also reports, it has KCL's name, so
//! dashboards and alarms written for KCL apply. Per-shard metrics carry the label
//! [`SHARD_ID`]. Nothing is recorded unless the application installs a recorder (the
//! workspace's `metrics-sink` bridges the facade to CloudWatch or the console).
//!
//! The same figures are kept as plain totals too ([`SourceStats`], [`ProducerStats`]), so a
//! binary can show progress without a recorder and tests can check them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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

/// Declares a snapshot struct of `u64` totals and the private atomic counters behind it.
macro_rules! totals {
    (
        $(#[$snapshot_doc:meta])* $snapshot:ident,
        $counters:ident { $($(#[$field_doc:meta])* $field:ident),* $(,)? }
    ) => {
        $(#[$snapshot_doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $snapshot {
            $($(#[$field_doc])* pub $field: u64,)*
        }

        /// The live counters behind the snapshot, updated without a lock.
        #[derive(Debug, Default)]
        pub(crate) struct $counters {
            $(pub(crate) $field: AtomicU64,)*
        }

        impl $counters {
            /// The totals now.
            pub(crate) fn snapshot(&self) -> $snapshot {
                $snapshot {
                    $($field: self.$field.load(Ordering::Relaxed),)*
                }
            }
        }
    };
}

totals! {
    /// Running totals of a [`KinesisSource`](crate::KinesisSource) at one moment
    /// ([`KinesisSource::stats`](crate::KinesisSource::stats), or
    /// [`SourceStatsReader::read`] from another task).
    SourceStats,
    SourceCounters {
        /// Records handed to the consumer.
        records,
        /// Payload bytes handed to the consumer.
        bytes,
        /// `GetRecords` calls made.
        get_records_calls,
        /// Iterators re-acquired after expiring.
        expired_iterators,
        /// Calls refused by throttling.
        throttled,
        /// Calls retried after a transient error.
        transient_retries,
        /// Successful checkpoint writes.
        checkpoint_writes,
        /// Failed checkpoint writes.
        checkpoint_failures,
        /// Shard readers restarted after failing.
        reader_restarts,
        /// Shard readers started (first starts and restarts).
        readers_started,
        /// Closed shards finished and retired.
        shards_retired,
        /// KPL aggregates opened into their user records.
        aggregates_opened,
        /// Enhanced fan-out subscriptions opened.
        subscriptions,
    }
}

totals! {
    /// Running totals of a [`KinesisProducer`](crate::producer::KinesisProducer) at one moment
    /// ([`KinesisProducer::stats`](crate::producer::KinesisProducer::stats)).
    ProducerStats,
    ProducerCounters {
        /// Records accepted.
        records_put,
        /// Records given up on.
        records_failed,
        /// Entries resent.
        retries,
        /// Entries or calls refused by throttling.
        throttled,
        /// `PutRecords` calls made.
        calls,
    }
}

/// Reads the running totals of a [`KinesisSource`](crate::KinesisSource) from anywhere, for
/// as long as it is kept: a progress display or an idleness watch runs in its own task while
/// the source is busy with its consumer.
#[derive(Debug, Clone)]
pub struct SourceStatsReader {
    counters: Arc<SourceCounters>,
}

impl SourceStatsReader {
    pub(crate) fn new(counters: Arc<SourceCounters>) -> Self {
        Self { counters }
    }

    /// The totals now.
    pub fn read(&self) -> SourceStats {
        self.counters.snapshot()
    }
}

/// Adds to an atomic counter.
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}
