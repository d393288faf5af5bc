//! What the loader answers: a load's status, its counters, its error records.

use serde::Deserialize;

/// Messages").
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadStatus {
    /// `LOAD_NOT_STARTED`: recorded, not started.
    NotStarted,
    /// `LOAD_IN_QUEUE`: queued behind other loads.
    InQueue,
    /// `LOAD_IN_PROGRESS`.
    InProgress,
    /// `LOAD_COMPLETED`: done, without errors or with errors within the accepted threshold.
    Completed,
    /// `LOAD_CANCELLED_BY_USER`.
    CancelledByUser,
    /// `LOAD_CANCELLED_DUE_TO_ERRORS`.
    CancelledDueToErrors,
    /// `LOAD_UNEXPECTED_ERROR`.
    UnexpectedError,
    /// `LOAD_FAILED`.
    Failed,
    /// `LOAD_S3_READ_ERROR`: transient S3 connectivity trouble.
    S3ReadError,
    /// `LOAD_S3_ACCESS_DENIED_ERROR`.
    S3AccessDeniedError,
    /// `LOAD_COMMITTED_W_WRITE_CONFLICTS`: committed with unresolved write conflicts; resuming
    /// the load may succeed.
    CommittedWithWriteConflicts,
    /// `LOAD_DATA_DEADLOCK`: rolled back after a deadlock.
    DataDeadlock,
    /// `LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED`.
    FeedModifiedOrDeleted,
    /// `LOAD_FAILED_BECAUSE_DEPENDENCY_NOT_SATISFIED`.
    DependencyNotSatisfied,
    /// `LOAD_FAILED_INVALID_REQUEST`.
    InvalidRequest,
    /// A status this client does not know. It is taken as a failure, so that polling ends.
    Unknown(String),
}

impl LoadStatus {
    /// Reads the loader's status code.
    pub fn from_code(code: &str) -> Self {
        match code {
            "LOAD_NOT_STARTED" => LoadStatus::NotStarted,
            "LOAD_IN_QUEUE" => LoadStatus::InQueue,
            "LOAD_IN_PROGRESS" => LoadStatus::InProgress,
            "LOAD_COMPLETED" => LoadStatus::Completed,
            "LOAD_CANCELLED_BY_USER" => LoadStatus::CancelledByUser,
            "LOAD_CANCELLED_DUE_TO_ERRORS" => LoadStatus::CancelledDueToErrors,
            "LOAD_UNEXPECTED_ERROR" => LoadStatus::UnexpectedError,
            "LOAD_FAILED" => LoadStatus::Failed,
            "LOAD_S3_READ_ERROR" => LoadStatus::S3ReadError,
            "LOAD_S3_ACCESS_DENIED_ERROR" => LoadStatus::S3AccessDeniedError,
            "LOAD_COMMITTED_W_WRITE_CONFLICTS" => LoadStatus::CommittedWithWriteConflicts,
            "LOAD_DATA_DEADLOCK" => LoadStatus::DataDeadlock,
            "LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED" => LoadStatus::FeedModifiedOrDeleted,
            "LOAD_FAILED_BECAUSE_DEPENDENCY_NOT_SATISFIED" => LoadStatus::DependencyNotSatisfied,
            "LOAD_FAILED_INVALID_REQUEST" => LoadStatus::InvalidRequest,
            other => LoadStatus::Unknown(other.to_owned()),
        }
    }

    /// The loader's code for this status.
    pub fn code(&self) -> &str {
        match self {
            LoadStatus::NotStarted => "LOAD_NOT_STARTED",
            LoadStatus::InQueue => "LOAD_IN_QUEUE",
            LoadStatus::InProgress => "LOAD_IN_PROGRESS",
            LoadStatus::Completed => "LOAD_COMPLETED",
            LoadStatus::CancelledByUser => "LOAD_CANCELLED_BY_USER",
            LoadStatus::CancelledDueToErrors => "LOAD_CANCELLED_DUE_TO_ERRORS",
            LoadStatus::UnexpectedError => "LOAD_UNEXPECTED_ERROR",
            LoadStatus::Failed => "LOAD_FAILED",
            LoadStatus::S3ReadError => "LOAD_S3_READ_ERROR",
            LoadStatus::S3AccessDeniedError => "LOAD_S3_ACCESS_DENIED_ERROR",
            LoadStatus::CommittedWithWriteConflicts => "LOAD_COMMITTED_W_WRITE_CONFLICTS",
            LoadStatus::DataDeadlock => "LOAD_DATA_DEADLOCK",
            LoadStatus::FeedModifiedOrDeleted => "LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED",
            LoadStatus::DependencyNotSatisfied => "LOAD_FAILED_BECAUSE_DEPENDENCY_NOT_SATISFIED",
            LoadStatus::InvalidRequest => "LOAD_FAILED_INVALID_REQUEST",
            LoadStatus::Unknown(code) => code,
        }
    }

    /// The load is still going (or waiting to go).
    pub fn is_running(&self) -> bool {
        matches!(
            self,
            LoadStatus::NotStarted | LoadStatus::InQueue | LoadStatus::InProgress
        )
    }

    /// The load ended well.
    pub fn is_completed(&self) -> bool {
        *self == LoadStatus::Completed
    }

    /// The load ended badly, for a reason that may not recur (S3 read trouble, write
    /// conflicts, a deadlock): starting it again, in `RESUME` mode, may succeed.
    pub fn is_retriable_failure(&self) -> bool {
        matches!(
            self,
            LoadStatus::S3ReadError
                | LoadStatus::CommittedWithWriteConflicts
                | LoadStatus::DataDeadlock
                | LoadStatus::UnexpectedError
        )
    }
}

impl std::fmt::Display for LoadStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// The counters of a load or of one feed (`overallStatus`, `failedFeeds[]`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FeedStatus {
    /// The S3 URI loaded.
    pub full_uri: String,
    /// Run number (grows when the load is restarted).
    pub run_number: u64,
    /// Retry number (grows when the loader retries by itself).
    pub retry_number: u64,
    /// The status code; see [`LoadStatusReport::status`] for the typed form.
    pub status: String,
    /// Seconds spent.
    pub total_time_spent: f64,
    /// Start time, seconds since the epoch.
    pub start_time: u64,
    /// Records loaded or attempted (records may count property values, not only elements).
    pub total_records: u64,
    /// Duplicate records met.
    pub total_duplicates: u64,
    /// Records that did not parse.
    pub parsing_errors: u64,
    /// Records whose value did not match the declared type.
    pub datatype_mismatch_errors: u64,
    /// Records that could not be inserted.
    pub insert_errors: u64,
}

/// One entry of `errors.errorLogs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadErrorRecord {
    /// E.g. `PARSING_ERROR`.
    pub error_code: String,
    /// What went wrong.
    pub error_message: String,
    /// The S3 file.
    pub file_name: String,
    /// The record number in that file.
    pub record_num: u64,
}

/// One answer of `GET /loader/{loadId}`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadStatusReport {
    /// The load id polled.
    pub load_id: String,
    /// The overall status, typed.
    pub status: LoadStatus,
    /// The overall counters.
    pub overall: FeedStatus,
    /// Number of feeds per status (`feedCount`).
    pub feed_count: Vec<(String, u64)>,
    /// Feeds that failed (with `details=true`).
    pub failed_feeds: Vec<FeedStatus>,
    /// The first error records (with `errors=true`).
    pub errors: Vec<LoadErrorRecord>,
}

#[derive(Deserialize)]
pub(super) struct Envelope<T> {
    pub payload: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StartPayload {
    pub load_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StatusPayload {
    pub overall_status: FeedStatus,
    #[serde(default)]
    pub feed_count: Vec<std::collections::BTreeMap<String, u64>>,
    #[serde(default)]
    pub failed_feeds: Vec<FeedStatus>,
    #[serde(default)]
    pub errors: Option<ErrorsPayload>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct ErrorsPayload {
    pub error_logs: Vec<LoadErrorRecord>,
}

/// The error body Neptune sends with a 4xx or 5xx status.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct ErrorBody {
    pub code: Option<String>,
    pub detailed_message: Option<String>,
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_status_code_round_trips_and_only_completed_succeeds() {
        let codes = [
            "LOAD_NOT_STARTED",
            "LOAD_IN_QUEUE",
            "LOAD_IN_PROGRESS",
            "LOAD_COMPLETED",
            "LOAD_CANCELLED_BY_USER",
            "LOAD_CANCELLED_DUE_TO_ERRORS",
            "LOAD_UNEXPECTED_ERROR",
            "LOAD_FAILED",
            "LOAD_S3_READ_ERROR",
            "LOAD_S3_ACCESS_DENIED_ERROR",
            "LOAD_COMMITTED_W_WRITE_CONFLICTS",
            "LOAD_DATA_DEADLOCK",
            "LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED",
            "LOAD_FAILED_BECAUSE_DEPENDENCY_NOT_SATISFIED",
            "LOAD_FAILED_INVALID_REQUEST",
        ];
        for code in codes {
            let status = LoadStatus::from_code(code);
            assert!(!matches!(status, LoadStatus::Unknown(_)), "{code}");
            assert_eq!(status.code(), code);
            assert_eq!(status.is_completed(), code == "LOAD_COMPLETED");
        }
        let running: Vec<_> = codes
            .iter()
            .filter(|c| LoadStatus::from_code(c).is_running())
            .collect();
        assert_eq!(
            running,
            [&"LOAD_NOT_STARTED", &"LOAD_IN_QUEUE", &"LOAD_IN_PROGRESS"]
        );
        let unknown = LoadStatus::from_code("LOAD_SOMETHING_NEW");
        assert!(!unknown.is_running() && !unknown.is_completed());
    }
}
