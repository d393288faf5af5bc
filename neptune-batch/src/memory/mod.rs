//! A graph held in memory, implementing [`GraphSink`]: the reference for the sinks' contract.

pub(crate) mod state;

use crate::error::SinkError;
use crate::model::{Edge, Vertex};
use crate::mutation::{ElementId, Mutation};
use crate::outcome::{ItemFailure, ItemOutcome, WriteReport};
use crate::sink::GraphSink;
use async_trait::async_trait;
use state::GraphState;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;
use stream2neptune_common::lock;

/// An in-memory property graph with the same per-item semantics as the Gremlin sink: ids are
/// unique, an existing id is "already present", an edge written with
/// [`write_edges`](GraphSink::write_edges) needs both endpoints, and
/// [`apply`](GraphSink::apply) keeps the [`mutation`](crate::mutation) contract (versions,
/// tombstones, placeholders), so tests use it as the reference.
///
/// Cloning gives another handle to the same graph.
#[derive(Debug, Clone, Default)]
pub struct MemoryGraph {
    state: Arc<Mutex<GraphState>>,
}

impl MemoryGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of vertices (placeholders included; tombstones are not vertices here).
    pub fn vertex_count(&self) -> usize {
        self.lock().vertices.len()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.lock().edges.len()
    }

    /// The edge with this id, if any, its properties sorted by key.
    pub fn edge(&self, id: &str) -> Option<Edge> {
        self.lock().edges.get(id).map(|e| Edge {
            id: id.to_owned(),
            label: e.label.clone(),
            from: e.from.clone(),
            to: e.to.clone(),
            properties: held(&e.properties),
        })
    }

    /// The vertex with this id, if any (a placeholder too), its properties sorted by key.
    pub fn vertex(&self, id: &str) -> Option<Vertex> {
        self.lock().vertices.get(id).map(|v| Vertex {
            id: id.to_owned(),
            label: v.label.clone(),
            properties: held(&v.properties),
        })
    }

    /// Whether the vertex is a placeholder: created for an edge, not upserted yet.
    pub fn is_placeholder(&self, id: &str) -> bool {
        self.lock().vertices.get(id).is_some_and(|v| v.placeholder)
    }

    /// The version an element holds, if it exists and has one.
    pub fn version(&self, element: &ElementId) -> Option<u64> {
        let state = self.lock();
        match element {
            ElementId::Vertex(id) => state.vertices.get(id).and_then(|v| v.version),
            ElementId::Edge(id) => state.edges.get(id).and_then(|e| e.version),
        }
    }

    /// The version of an element's tombstone, if it was deleted with a version.
    pub fn tombstone(&self, element: &ElementId) -> Option<u64> {
        self.lock().tombstones.get(element).map(|t| t.version)
    }

    /// Drops the tombstones of deletes made before `deleted_before`; how many.
    pub fn purge_tombstones(&self, deleted_before: SystemTime) -> usize {
        let mut state = self.lock();
        let before = state.tombstones.len();
        state
            .tombstones
            .retain(|_, t| t.deleted_at >= deleted_before);
        before - state.tombstones.len()
    }

    /// Every vertex id, sorted.
    pub fn vertex_ids(&self) -> Vec<String> {
        let mut ids: Vec<_> = self.lock().vertices.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Every edge id, sorted.
    pub fn edge_ids(&self) -> Vec<String> {
        let mut ids: Vec<_> = self.lock().edges.keys().cloned().collect();
        ids.sort();
        ids
    }

    fn lock(&self) -> MutexGuard<'_, GraphState> {
        lock(&self.state)
    }
}

/// The properties an in-memory element holds (every value is known here).
fn held(properties: &state::Properties) -> Vec<(String, crate::model::PropertyValue)> {
    properties
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
        .collect()
}

#[async_trait]
impl GraphSink for MemoryGraph {
    async fn write_vertices(&self, vertices: &[Vertex]) -> Result<WriteReport, SinkError> {
        let now = SystemTime::now();
        let mut state = self.lock();
        let outcomes = vertices
            .iter()
            .map(|v| state.apply(&Mutation::from(v.clone()), now))
            .collect();
        Ok(WriteReport::from_outcomes(outcomes))
    }

    /// Creates the edges whose endpoints exist; an edge with a missing endpoint fails as
    /// [`ItemFailure::MissingVertex`] (only [`apply`](GraphSink::apply) makes placeholders).
    async fn write_edges(&self, edges: &[Edge]) -> Result<WriteReport, SinkError> {
        let now = SystemTime::now();
        let mut state = self.lock();
        let outcomes = edges
            .iter()
            .map(|e| {
                let missing = [&e.from, &e.to]
                    .into_iter()
                    .find(|v| !v.is_empty() && !state.vertices.contains_key(*v));
                match (missing, state.edges.get(&e.id)) {
                    // Only the ends identify an edge written by id: its label is not compared.
                    (_, Some(held)) if held.from == e.from && held.to == e.to => {
                        ItemOutcome::AlreadyPresent
                    }
                    (Some(id), None) if !e.id.is_empty() => {
                        ItemOutcome::Failed(ItemFailure::MissingVertex { id: id.clone() })
                    }
                    _ => state.apply(&Mutation::from(e.clone()), now),
                }
            })
            .collect();
        Ok(WriteReport::from_outcomes(outcomes))
    }

    async fn apply(&self, mutations: &[Mutation]) -> Result<WriteReport, SinkError> {
        let now = SystemTime::now();
        let mut state = self.lock();
        let outcomes = mutations.iter().map(|m| state.apply(m, now)).collect();
        Ok(WriteReport::from_outcomes(outcomes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_redelivered_batch_leaves_one_edge_per_id() {
        let g = MemoryGraph::new();
        g.write_vertices(&[Vertex::new("a", "person"), Vertex::new("b", "person")])
            .await
            .unwrap();
        let batch = vec![Edge::new("a-b", "follows", "a", "b")];
        assert_eq!(
            g.write_edges(&batch).await.unwrap().outcomes,
            vec![ItemOutcome::Written]
        );
        assert_eq!(
            g.write_edges(&batch).await.unwrap().outcomes,
            vec![ItemOutcome::AlreadyPresent]
        );
        assert_eq!(g.edge_count(), 1);
    }

    #[tokio::test]
    async fn a_missing_endpoint_fails_only_its_own_edge() {
        let g = MemoryGraph::new();
        g.write_vertices(&[Vertex::new("a", "person"), Vertex::new("b", "person")])
            .await
            .unwrap();
        let report = g
            .write_edges(&[
                Edge::new("x-b", "follows", "x", "b"),
                Edge::new("a-b", "follows", "a", "b"),
                Edge::new("a-y", "follows", "a", "y"),
            ])
            .await
            .unwrap();
        assert_eq!(
            report.outcomes,
            vec![
                ItemOutcome::Failed(ItemFailure::MissingVertex { id: "x".into() }),
                ItemOutcome::Written,
                ItemOutcome::Failed(ItemFailure::MissingVertex { id: "y".into() }),
            ]
        );
        assert_eq!((report.succeeded(), report.failed()), (1, 2));
    }
}
