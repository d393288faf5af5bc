//! A graph held in memory, implementing [`GraphSink`].

use crate::error::SinkError;
use crate::model::{Edge, Vertex};
use crate::outcome::{ItemFailure, ItemOutcome, WriteReport};
use crate::sink::GraphSink;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use stream2neptune_common::lock;

#[derive(Debug, Default)]
struct GraphState {
    vertices: HashMap<String, Vertex>,
    edges: HashMap<String, Edge>,
}

/// An in-memory property graph with the same per-item semantics as the Gremlin sinks: ids are
/// unique, an existing id is "already present", an edge needs both endpoints.
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

    /// Number of vertices.
    pub fn vertex_count(&self) -> usize {
        self.lock().vertices.len()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.lock().edges.len()
    }

    /// The edge with this id, if any.
    pub fn edge(&self, id: &str) -> Option<Edge> {
        self.lock().edges.get(id).cloned()
    }

    /// The vertex with this id, if any.
    pub fn vertex(&self, id: &str) -> Option<Vertex> {
        self.lock().vertices.get(id).cloned()
    }

    /// Every edge id, sorted.
    pub fn edge_ids(&self) -> Vec<String> {
        let mut ids: Vec<_> = self.lock().edges.keys().cloned().collect();
        ids.sort();
        ids
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GraphState> {
        lock(&self.state)
    }
}

fn invalid_id(kind: &str, id: &str) -> Option<ItemOutcome> {
    id.is_empty()
        .then(|| ItemOutcome::Failed(ItemFailure::Invalid(format!("empty {kind} id"))))
}

#[async_trait]
impl GraphSink for MemoryGraph {
    async fn write_vertices(&self, vertices: &[Vertex]) -> Result<WriteReport, SinkError> {
        let mut state = self.lock();
        let outcomes = vertices
            .iter()
            .map(|v| {
                if let Some(bad) = invalid_id("vertex", &v.id) {
                    return bad;
                }
                match state.vertices.get(&v.id) {
                    Some(existing) if existing.label != v.label => {
                        ItemOutcome::Failed(ItemFailure::ConstraintViolation(format!(
                            "vertex {} exists with label {}",
                            v.id, existing.label
                        )))
                    }
                    Some(_) => ItemOutcome::AlreadyPresent,
                    None => {
                        state.vertices.insert(v.id.clone(), v.clone());
                        ItemOutcome::Written
                    }
                }
            })
            .collect();
        Ok(WriteReport {
            outcomes,
            requests: 1,
            retries: 0,
        })
    }

    async fn write_edges(&self, edges: &[Edge]) -> Result<WriteReport, SinkError> {
        let mut state = self.lock();
        let outcomes = edges
            .iter()
            .map(|e| {
                if let Some(bad) = invalid_id("edge", &e.id) {
                    return bad;
                }
                for end in [&e.from, &e.to] {
                    if !state.vertices.contains_key(end) {
                        return ItemOutcome::Failed(ItemFailure::MissingVertex { id: end.clone() });
                    }
                }
                match state.edges.get(&e.id) {
                    Some(existing) if existing.from != e.from || existing.to != e.to => {
                        ItemOutcome::Failed(ItemFailure::ConstraintViolation(format!(
                            "edge {} exists between {} and {}",
                            e.id, existing.from, existing.to
                        )))
                    }
                    Some(_) => ItemOutcome::AlreadyPresent,
                    None => {
                        state.edges.insert(e.id.clone(), e.clone());
                        ItemOutcome::Written
                    }
                }
            })
            .collect();
        Ok(WriteReport {
            outcomes,
            requests: 1,
            retries: 0,
        })
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
