//! What a running driver reports: progress while it runs, bad input and failed records as they
//! happen, and a summary at the end.

use crate::reader::ReadError;
use crate::sink::OutgoingRecord;
use std::collections::BTreeMap;
use std::time::Duration;

/// A snapshot of a running driver, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct DriverProgress {
    /// Time since the first batch.
    pub elapsed: Duration,
    /// Records handed to the sink (first attempts).
    pub submitted: u64,
    /// Records the sink accepted.
    pub accepted: u64,
    /// Records given up on.
    pub failed: u64,
    /// Record retries made.
    pub retried: u64,
    /// Input lines that were not edges.
    pub bad_input: u64,
    /// `put_batch` calls in flight.
    pub in_flight: u64,
    /// Submission rate achieved so far (records/s), over whole periods.
    pub achieved_rate: f64,
    /// The requested rate (records/s).
    pub target_rate: f64,
}

/// Receives progress while a driver runs. Called from the driver's task: keep it quick.
pub trait DriverObserver: Send + Sync {
    /// Called at every period, before its batch is submitted.
    fn on_progress(&self, _progress: &DriverProgress) {}
    /// Called for every input line that is not an edge.
    fn on_bad_input(&self, _error: &ReadError) {}
    /// Called for every record given up on, with the reason.
    fn on_failed_record(&self, _record: &OutgoingRecord, _reason: &str) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl DriverObserver for NoProgress {}

/// What a driver run did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DriverSummary {
    /// Records handed to the sink (first attempts).
    pub submitted: u64,
    /// Records the sink accepted.
    pub accepted: u64,
    /// Records given up on.
    pub failed: u64,
    /// Record retries made.
    pub retried: u64,
    /// Input lines that were not edges.
    pub bad_input: u64,
    /// `put_batch` calls made (retries included).
    pub put_calls: u64,
    /// Time from the first batch to the first period that had nothing more to send.
    pub dispatch_time: Duration,
    /// Time from the first batch until every call had finished.
    pub total_time: Duration,
    /// `submitted / dispatch_time`, records per second.
    pub achieved_rate: f64,
    /// The requested rate, records per second.
    pub target_rate: f64,
    /// Why records failed, with how many failed for each reason.
    pub failure_reasons: BTreeMap<String, u64>,
    /// The first bad input lines (at most 20), as messages naming file and line.
    pub bad_input_examples: Vec<String>,
    /// The error that ended reading early, if any.
    pub input_error: Option<String>,
}

impl std::fmt::Display for DriverSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "submitted {} accepted {} failed {} retried {} bad input {} in {:.1} s: {:.1} records/s (target {:.1})",
            self.submitted,
            self.accepted,
            self.failed,
            self.retried,
            self.bad_input,
            self.dispatch_time.as_secs_f64(),
            self.achieved_rate,
            self.target_rate
        )?;
        for (reason, n) in &self.failure_reasons {
            write!(f, "\n  failed x{n}: {reason}")?;
        }
        for example in &self.bad_input_examples {
            write!(f, "\n  bad input: {example}")?;
        }
        if let Some(e) = &self.input_error {
            write!(f, "\n  input ended early: {e}")?;
        }
        Ok(())
    }
}
