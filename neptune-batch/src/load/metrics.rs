//! Names of the metrics the loading code records through the `metrics` facade.
//!
//! All are counters; an application that installs no recorder pays almost nothing for them.

/// Rows read from Gremlin CSV files (good and bad).
pub const ROWS_READ: &str = "neptune_batch.load.rows_read";
/// Rows refused by the CSV reader (reported as bad lines).
pub const BAD_LINES: &str = "neptune_batch.load.bad_lines";
/// Vertices created by the vertex loader.
pub const VERTICES_WRITTEN: &str = "neptune_batch.load.vertices_written";
/// Vertices the vertex loader found already present.
pub const VERTICES_ALREADY_PRESENT: &str = "neptune_batch.load.vertices_already_present";
/// Vertices the sink reported as failed.
pub const VERTICES_FAILED: &str = "neptune_batch.load.vertices_failed";
/// Batches the vertex loader sent again after a retriable sink error (label `reason`).
pub const BATCH_RETRIES: &str = "neptune_batch.load.batch_retries";
/// Bulk-loader HTTP requests retried (label `reason`: `status_5xx`, `connect`, `timeout`).
pub const BULK_LOADER_RETRIES: &str = "neptune_batch.bulk_loader.retries";
/// Bulk-loader status polls made.
pub const BULK_LOADER_POLLS: &str = "neptune_batch.bulk_loader.polls";
