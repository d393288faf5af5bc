//! Names of the metrics this crate records through the `metrics` facade.
//!
//! Nothing is recorded unless the program installs a recorder (for example the bridge of the
//! `metrics-sink` crate, which forwards them to CloudWatch or the console).

/// Counter: records taken from the input and handed to the record sink (first attempts only).
pub const RECORDS_SUBMITTED: &str = "DriverRecordsSubmitted";
/// Counter: records the sink accepted.
pub const RECORDS_ACCEPTED: &str = "DriverRecordsAccepted";
/// Counter: records given up on (non-retriable failure, or retries exhausted).
pub const RECORDS_FAILED: &str = "DriverRecordsFailed";
/// Counter: records put again after a retriable failure (one per record per retry).
pub const RECORDS_RETRIED: &str = "DriverRecordsRetried";
/// Counter: input lines that were not edges.
pub const BAD_INPUT_LINES: &str = "DriverBadInputLines";
/// Histogram (milliseconds): duration of one `put_batch` call.
pub const PUT_DURATION: &str = "DriverPutDuration";
/// Gauge (records per second): achieved submission rate since the start.
pub const ACHIEVED_RATE: &str = "DriverAchievedRate";
