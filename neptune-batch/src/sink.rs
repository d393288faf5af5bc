//! The trait every graph sink implements.

use crate::error::SinkError;
use crate::model::{Edge, Vertex};
use crate::mutation::{Change, Mutation, PropertyPolicy};
use crate::outcome::{ItemFailure, ItemOutcome, WriteReport};
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

    /// Applies a batch of changes (upserts, deletes, property removals, with or without
    /// versions), one outcome per mutation in input order, as the [`mutation`](crate::mutation)
    /// module's contract says: [`Written`](ItemOutcome::Written) (applied),
    /// [`AlreadyPresent`](ItemOutcome::AlreadyPresent) (already current),
    /// [`Stale`](ItemOutcome::Stale) (a newer version holds the element) or
    /// [`Failed`](ItemOutcome::Failed) with its class. Mutations of one element are applied
    /// in the order given.
    ///
    /// The default serves sinks that can only create: unversioned
    /// [`Keep`](PropertyPolicy::Keep) upserts go to [`write_vertices`](Self::write_vertices)
    /// and [`write_edges`](Self::write_edges) (vertices first, so edges find them); any other
    /// mutation fails as [`Invalid`](ItemFailure::Invalid).
    async fn apply(&self, mutations: &[Mutation]) -> Result<WriteReport, SinkError> {
        let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; mutations.len()];
        let (mut vertices, mut edges) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
        for (i, m) in mutations.iter().enumerate() {
            match (&m.change, m.version) {
                (Change::UpsertVertex { vertex, policy }, None)
                    if *policy == PropertyPolicy::Keep =>
                {
                    vertices.0.push(i);
                    vertices.1.push(vertex.clone());
                }
                (Change::UpsertEdge { edge, policy, .. }, None)
                    if *policy == PropertyPolicy::Keep =>
                {
                    edges.0.push(i);
                    edges.1.push(edge.clone());
                }
                _ => {
                    outcomes[i] = Some(ItemOutcome::Failed(ItemFailure::Invalid(
                        "this sink only creates elements (unversioned upserts keeping what exists)"
                            .into(),
                    )))
                }
            }
        }
        let mut report = WriteReport::default();
        let written = if vertices.1.is_empty() {
            WriteReport::default()
        } else {
            self.write_vertices(&vertices.1).await?
        };
        report.absorb(&vertices.0, written, &mut outcomes);
        let written = if edges.1.is_empty() {
            WriteReport::default()
        } else {
            self.write_edges(&edges.1).await?
        };
        report.absorb(&edges.0, written, &mut outcomes);
        report.outcomes = outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(ItemOutcome::Failed(ItemFailure::Invalid(
                    "no outcome".into(),
                )))
            })
            .collect();
        Ok(report)
    }

    /// Checks with one cheap, bounded request that the graph answers, without writing and
    /// without retrying. A caller holding work through an outage polls this to resume as soon
    /// as the graph is back rather than at the end of a long back-off. The default (for sinks
    /// that cannot be unreachable) always answers `Ok`.
    async fn probe(&self) -> Result<(), SinkError> {
        Ok(())
    }
}
