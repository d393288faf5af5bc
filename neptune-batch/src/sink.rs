//! The trait every graph sink implements.

use crate::error::SinkError;
use crate::model::{Edge, Vertex};
use crate::outcome::WriteReport;
use async_trait::async_trait;

/// Batched, idempotent writes of vertices and edges that report, per item, what happened.
///
/// The contract:
/// * The report holds exactly one outcome per item, in input order.
/// * Writing an item whose id already exists leaves the graph unchanged and reports
///   [`ItemOutcome::AlreadyPresent`](crate::ItemOutcome::AlreadyPresent): a redelivered batch never
///   duplicates anything.
/// * An edge whose endpoint is missing is reported as
///   [`ItemFailure::MissingVertex`](crate::ItemFailure::MissingVertex); it never hides the outcome of
///   the other items of the batch.
/// * `Err` is only for failures of the whole call (configuration, no server); transient errors
///   are retried inside, within bounds, and end as per-item outcomes whose
///   [`kind`](stream2neptune_common::Classify::kind) is
///   [`Retriable`](stream2neptune_common::ErrorKind::Retriable), so a caller can hold them and
///   try again rather than set them aside.
#[async_trait]
pub trait GraphSink: Send + Sync {
    /// Creates the vertices that do not exist yet.
    async fn write_vertices(&self, vertices: &[Vertex]) -> Result<WriteReport, SinkError>;

    /// Creates the edges that do not exist yet.
    async fn write_edges(&self, edges: &[Edge]) -> Result<WriteReport, SinkError>;

    /// Checks with one cheap, bounded request that the graph answers, without writing and
    /// without retrying. A caller holding work through an outage polls this to resume as soon
    /// as the graph is back rather than at the end of a long back-off. The default (for sinks
    /// that cannot be unreachable) always answers `Ok`.
    async fn probe(&self) -> Result<(), SinkError> {
        Ok(())
    }
}
