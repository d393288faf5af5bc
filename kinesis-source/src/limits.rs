//! The Kinesis Data Streams limits the configurations are checked against and the producer
//! packs its calls within.

use std::time::Duration;

/// Largest `Limit` a `GetRecords` call accepts.
pub const MAX_GET_RECORDS_LIMIT: usize = 10_000;
/// `GetRecords` calls allowed per shard per second, shared by every polling consumer.
pub const GET_RECORDS_CALLS_PER_SECOND: u32 = 5;
/// The shortest gap between two `GetRecords` calls on one shard that stays under that limit.
pub const MIN_GET_RECORDS_INTERVAL: Duration =
    Duration::from_millis(1000 / GET_RECORDS_CALLS_PER_SECOND as u64);

/// Most records one `PutRecords` call takes.
pub const MAX_RECORDS_PER_CALL: usize = 500;
/// Most bytes (payloads and partition keys) one `PutRecords` call takes.
pub const MAX_BYTES_PER_CALL: usize = 5 * 1024 * 1024;
/// Most bytes one record may have, payload and partition key together (a KPL aggregate
/// included).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Longest partition key, in Unicode characters.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;
