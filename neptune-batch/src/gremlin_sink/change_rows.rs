//! What one request of changes writes, kind by kind, before it is encoded: the rows the
//! [`Diff`](super::change_diff::Diff) finds and the [`WriteTraversal`](super::change_traversals::WriteTraversal)
//! encodes in the sink's mode.

use crate::graphson::GValue;

/// A vertex or an edge to create (tombstones and placeholders are vertices).
pub(super) struct Create {
    pub id: String,
    pub label: String,
    /// An edge's ends (from, to); `None` for a vertex.
    pub ends: Option<(String, String)>,
    /// Single values, the sink's own keys (`_version`, …) among them.
    pub values: Vec<(String, GValue)>,
}

/// Properties of an existing element to drop, then to set.
pub(super) struct Update {
    pub id: String,
    /// The element's label (an edge is searched by it with property ids).
    pub label: String,
    /// An edge's `from` (found by it where a graph cannot look edges up by id
    /// mid-traversal); `None` for a vertex.
    pub from: Option<String>,
    /// Keys dropped first: the keys gone, and, on vertices, the keys set (see the traversals'
    /// notes on cardinality).
    pub drop: Vec<String>,
    /// Single values set.
    pub set: Vec<(String, GValue)>,
}

/// The values of a vertex's set-valued properties, each added with set cardinality.
pub(super) struct SetValues {
    pub id: String,
    pub values: Vec<(String, GValue)>,
}

/// An edge to drop.
pub(super) struct EdgeDrop {
    pub id: String,
    pub from: String,
}

/// The rows of each kind of write.
#[derive(Default)]
pub(super) struct Rows {
    /// Tombstones (and markers) to create, after `stale_tombstones` went.
    pub tombstones: Vec<Create>,
    /// Tombstone ids to drop before they are raised again.
    pub stale_tombstones: Vec<String>,
    pub vertex_creates: Vec<Create>,
    pub vertex_updates: Vec<Update>,
    pub set_values: Vec<SetValues>,
    pub edge_creates: Vec<Create>,
    pub edge_updates: Vec<Update>,
    pub edge_drops: Vec<EdgeDrop>,
    /// Placeholders that may have lost their last edge.
    pub orphans: Vec<String>,
}

impl Rows {
    /// Whether nothing is written (vertex deletes apart).
    pub fn is_empty(&self) -> bool {
        self.tombstones.is_empty()
            && self.vertex_creates.is_empty()
            && self.vertex_updates.is_empty()
            && self.set_values.is_empty()
            && self.edge_creates.is_empty()
            && self.edge_updates.is_empty()
            && self.edge_drops.is_empty()
            && self.orphans.is_empty()
    }
}
