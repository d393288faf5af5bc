//! The names the original system published under, kept so existing dashboards keep working.

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
