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

/// Registers the unit and a description of every metric this crate records with the installed
/// recorder (so that an exporter such as CloudWatch gets units instead of none). A program
/// calls it once after installing its recorder; [`run_driver`](crate::driver::run_driver) calls it too.
/// Calling it again does no harm.
pub fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        RECORDS_SUBMITTED,
        Unit::Count,
        "records handed to the record sink (first attempts)"
    );
    describe_counter!(RECORDS_ACCEPTED, Unit::Count, "records the sink accepted");
    describe_counter!(
        RECORDS_FAILED,
        Unit::Count,
        "records given up on (non-retriable failure or retries exhausted)"
    );
    describe_counter!(
        RECORDS_RETRIED,
        Unit::Count,
        "records put again after a retriable failure"
    );
    describe_counter!(
        BAD_INPUT_LINES,
        Unit::Count,
        "input lines that were not edges"
    );
    describe_histogram!(
        PUT_DURATION,
        Unit::Milliseconds,
        "duration of one put_batch call"
    );
    describe_gauge!(
        ACHIEVED_RATE,
        Unit::CountPerSecond,
        "achieved submission rate since the start, in records per second"
    );
}
