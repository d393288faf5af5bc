//! The limits of CloudWatch and of the embedded metric format that data points, documents and
//! configurations are checked against.

/// Dimensions CloudWatch allows on one metric (and the embedded metric format on one
/// dimension set).
pub const MAX_DIMENSIONS: usize = 30;

/// Metric definitions one EMF document may hold (the specification's limit per directive).
pub const MAX_METRICS_PER_DOCUMENT: usize = 100;
/// Values one metric may hold in one EMF document (the specification's limit per array).
pub const MAX_VALUES_PER_METRIC: usize = 100;
/// Default size limit of one EMF document: 256 KiB, the log event size every CloudWatch Logs
/// client and the Lambda log pipeline accept.
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Largest EMF document size limit that can be configured: 1 MiB, CloudWatch Logs' largest log
/// event.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Smallest EMF document size limit that can be configured: a document holding one metric with
/// 100 values and an ordinary dimension set must fit.
pub const MIN_DOCUMENT_BYTES: usize = 16 * 1024;
