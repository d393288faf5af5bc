//! From the state a request read and the state its changes lead to, the one write request that
//! takes the graph from one to the other, guarded by what was read.
//!
//! The guard compares, in the write's transaction, what was read with what is there. Amazon
//! Neptune locks what a mutation query reads, so nothing read changes before the write commits.
//! Graphs that only detect two transactions writing the same element (TinkerPop's
//! transactional TinkerGraph, JanusGraph) could let one change decide on a read that another
//! one invalidates at the same moment, when each writes something else: an edge making a
//! placeholder for a vertex that is not there, while another process deletes that vertex, which
//! only writes its tombstone. So a placeholder is made together with a **marker**: a tombstone
//! vertex without a version for the same vertex (created if there is none), which the delete
//! writes too, so that the two transactions conflict and one reads again. The same element's
//! own changes come from one key, so from one process, whose requests never overlap.

use super::change_edges::EdgeLookup;
use super::change_rows::{Create, EdgeDrop, Rows, SetValues, Update};
use super::change_traversals::{Shape, WriteTraversal};
use super::claims::Claims;
use crate::bytecode::Bytecode;
use crate::graphson::GValue;
use crate::memory::state::{GraphState, Properties, StoredEdge, StoredVertex, Tombstone};
use crate::model::PropertyValue;
use crate::mutation::{ElementId, DELETED_AT_KEY, PLACEHOLDER_KEY, TOMBSTONE_LABEL, VERSION_KEY};
use std::time::SystemTime;

/// The difference between two states of the part of the graph a request read.
pub(super) struct Diff<'a> {
    /// The state read.
    pub before: &'a GraphState,
    /// The tombstone ids read that are markers (no version).
    pub markers: &'a std::collections::BTreeSet<String>,
    /// The state the changes lead to.
    pub after: &'a GraphState,
    /// The vertex deletes applied, done by the server (only it sees all of a vertex's edges).
    pub deleted: &'a [(&'a str, Option<u64>)],
    /// The vertices read only as the ends of edges the request upserts: the guard checks that
    /// those there are still there, not their state (those not there, that they still are not).
    pub ends: &'a std::collections::BTreeSet<String>,
    /// The vertex ids read (vertices and tombstones): the guard covers them.
    pub read_vertices: &'a [String],
    /// The edge ids read.
    pub read_edges: &'a [String],
    /// Where claims are locked: whether each vertex read held a claim value (see
    /// [`WriteTraversal::guard_claims`]).
    pub claimed: &'a std::collections::BTreeMap<String, bool>,
    /// When the changes are written (tombstones say when they were deleted).
    pub now: SystemTime,
    /// How edges are found by their ids.
    pub edges: EdgeLookup<'a>,
    /// How what was read is claimed.
    pub claims: Claims,
}

fn map(entries: Vec<(GValue, GValue)>) -> GValue {
    GValue::Map(entries)
}

fn long(v: u64) -> GValue {
    GValue::Long(v as i64)
}

/// Property values by key.
type Values = Vec<(String, GValue)>;

/// The known values of `props`: `(single values, the values of sets)`.
fn values(props: &Properties) -> (Values, Values) {
    let mut single = Vec::new();
    let mut sets = Vec::new();
    for (k, v) in props {
        match v {
            Some(PropertyValue::Set(items)) => {
                sets.extend(items.iter().map(|item| (k.clone(), GValue::from(item))))
            }
            Some(v) => single.push((k.clone(), GValue::from(v))),
            None => {}
        }
    }
    (single, sets)
}

impl Diff<'_> {
    /// The write in `shape`, or `None` if the changes change nothing.
    pub(super) fn write(&self, shape: Shape) -> Option<Bytecode> {
        let mut rows = Rows::default();
        self.tombstones(&mut rows);
        self.vertices(&mut rows);
        self.edges(&mut rows);
        if rows.is_empty() && self.deleted.is_empty() {
            return None;
        }
        let (vertex_ids, versions, placeholders) = self.expected_vertices();
        let present_ends = self
            .read_vertices
            .iter()
            .filter(|id| self.is_present_end(id))
            .map(GValue::from)
            .collect();
        let claimed = self.read_vertices.iter().map(GValue::from).collect();
        let (edge_ids, edge_froms, expected_edges) = self.expected_edges();
        let mut w = WriteTraversal::new(shape, self.edges, self.claims);
        if self.claims == Claims::Locked {
            w = w.guard_claims(self.expected_claims(&edge_froms));
        }
        let mut w = w
            .claim(claimed, edge_ids.clone(), edge_froms.clone())
            .guard_vertices(vertex_ids, versions, placeholders)
            .guard_present(present_ends)
            .guard_edges(edge_ids, edge_froms, expected_edges)
            .drop_vertices(rows.stale_tombstones)
            .create_vertices(rows.tombstones);
        for (id, version) in self.deleted {
            w = w.delete_vertex(id, *version);
        }
        let w = w
            .create_vertices(rows.vertex_creates)
            .update_vertices(rows.vertex_updates)
            .add_set_values(rows.set_values)
            .create_edges(rows.edge_creates)
            .update_edges(rows.edge_updates)
            .drop_edges(rows.edge_drops)
            .drop_orphans(rows.orphans);
        Some(w.build())
    }

    /// The state of the vertices read, as the guard compares it: their ids, `{id: version}`
    /// (`-1`: none) of those there, and `{id: true}` of the placeholders among them.
    fn expected_vertices(&self) -> (Vec<GValue>, GValue, GValue) {
        let (mut versions, mut placeholders) = (Vec::new(), Vec::new());
        let mut ids = Vec::new();
        for id in self.read_vertices {
            if self.is_present_end(id) {
                // Only that it is still there counts (see `guard_present`).
                continue;
            }
            ids.push(GValue::from(id));
            let held = if let Some(v) = self.before.vertices.get(id) {
                Some((v.version, v.placeholder))
            } else if self.markers.contains(id) {
                Some((None, false))
            } else {
                self.tombstone_of(id).map(|t| (Some(t.version), false))
            };
            if let Some((version, placeholder)) = held {
                let v = version.map_or(GValue::Long(-1), long);
                versions.push((GValue::from(id), v));
                if placeholder {
                    placeholders.push((GValue::from(id), GValue::Bool(true)));
                }
            }
        }
        (ids, map(versions), map(placeholders))
    }

    /// Whether each vertex the request claims (those read that exist, and the from-vertices of
    /// the edges read) held a claim value when read, by id.
    fn expected_claims(&self, edge_froms: &[GValue]) -> (Vec<GValue>, GValue) {
        let froms = edge_froms.iter().filter_map(GValue::as_str);
        let mut ids: Vec<&str> = self.read_vertices.iter().map(String::as_str).collect();
        ids.extend(froms);
        ids.sort_unstable();
        ids.dedup();
        let expected = ids
            .iter()
            .filter_map(|id| Some((GValue::from(*id), GValue::Bool(*self.claimed.get(*id)?))))
            .collect();
        (ids.into_iter().map(GValue::from).collect(), map(expected))
    }

    /// Whether `id` is an end of an edge the request upserts, named by nothing else, and there.
    fn is_present_end(&self, id: &str) -> bool {
        self.ends.contains(id) && self.before.vertices.contains_key(id)
    }

    /// The versions of the edges read: `{id: v}`, with the `from` of every edge read or
    /// created (where an edge is looked for without an edge lookup by id).
    fn expected_edges(&self) -> (Vec<GValue>, Vec<GValue>, GValue) {
        let expected = self
            .read_edges
            .iter()
            .filter_map(|id| {
                let e = self.before.edges.get(id)?;
                Some((GValue::from(id), e.version.map_or(GValue::Long(-1), long)))
            })
            .collect();
        let ids = self.read_edges.iter().map(GValue::from).collect();
        let froms: std::collections::BTreeSet<&String> = self
            .read_edges
            .iter()
            .filter_map(|id| {
                let e = self
                    .before
                    .edges
                    .get(id)
                    .or_else(|| self.after.edges.get(id))?;
                Some(&e.from)
            })
            .collect();
        (
            ids,
            froms.into_iter().map(GValue::from).collect(),
            map(expected),
        )
    }

    /// The tombstone whose vertex id is `id`, if `id` is a tombstone's and it was read.
    fn tombstone_of(&self, id: &str) -> Option<&Tombstone> {
        self.before.tombstones.get(&ElementId::of_tombstone(id)?)
    }

    fn tombstones(&self, rows: &mut Rows) {
        let millis = self
            .now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        for (element, t) in &self.after.tombstones {
            if self.before.tombstones.get(element) == Some(t) {
                continue;
            }
            // A tombstone is raised by replacing it: it has no edges, and a vertex property
            // set by `onMatch` would add a value where cardinality is set.
            if self.before.tombstones.contains_key(element)
                || self.markers.contains(&element.tombstone_id())
            {
                rows.stale_tombstones.push(element.tombstone_id());
            }
            rows.tombstones.push(Create {
                id: element.tombstone_id(),
                label: TOMBSTONE_LABEL.into(),
                ends: None,
                values: vec![
                    (VERSION_KEY.into(), long(t.version)),
                    (DELETED_AT_KEY.into(), GValue::Date(millis)),
                ],
            });
        }
    }

    fn vertices(&self, rows: &mut Rows) {
        let deleted = |id: &str| self.deleted.iter().any(|(d, _)| *d == id);
        for (id, after) in &self.after.vertices {
            if deleted(id) {
                continue;
            }
            match self.before.vertices.get(id) {
                None => self.vertex_create(id, after, rows),
                Some(before) if before != after => self.vertex_update(id, before, after, rows),
                Some(_) => {}
            }
        }
        for id in self.before.vertices.keys() {
            if !self.after.vertices.contains_key(id) && !deleted(id) {
                // Only a placeholder's last edge going removes a vertex here; the server
                // checks it has no other edge.
                rows.orphans.push(id.clone());
            }
        }
    }

    fn vertex_create(&self, id: &str, v: &StoredVertex, rows: &mut Rows) {
        let (mut values, sets) = values(&v.properties);
        if let Some(version) = v.version {
            values.push((VERSION_KEY.into(), long(version)));
        }
        if v.placeholder {
            values.push((PLACEHOLDER_KEY.into(), GValue::Bool(true)));
        }
        rows.vertex_creates.push(Create {
            id: id.to_owned(),
            label: v.label.clone(),
            ends: None,
            values,
        });
        let tombstone = ElementId::Vertex(id.to_owned());
        let tombstone_id = tombstone.tombstone_id();
        if v.placeholder
            && !self.markers.contains(&tombstone_id)
            && !self.before.tombstones.contains_key(&tombstone)
            && !self.after.tombstones.contains_key(&tombstone)
        {
            rows.tombstones.push(Create {
                id: tombstone_id,
                label: TOMBSTONE_LABEL.into(),
                ends: None,
                values: Vec::new(),
            });
        }
        if !sets.is_empty() {
            rows.set_values.push(SetValues {
                id: id.to_owned(),
                values: sets,
            });
        }
    }

    fn vertex_update(
        &self,
        id: &str,
        before: &StoredVertex,
        after: &StoredVertex,
        rows: &mut Rows,
    ) {
        let (mut set, sets) = values(&after.properties);
        // Every key set, and every key gone, is dropped first (see the traversals' notes).
        let mut drop: Vec<String> = before
            .properties
            .keys()
            .filter(|k| !after.properties.contains_key(*k))
            .chain(
                after
                    .properties
                    .iter()
                    .filter(|(_, v)| v.is_some())
                    .map(|(k, _)| k),
            )
            .cloned()
            .collect();
        if after.version != before.version {
            drop.push(VERSION_KEY.into());
            if let Some(version) = after.version {
                set.push((VERSION_KEY.into(), long(version)));
            }
        }
        if before.placeholder && !after.placeholder {
            drop.push(PLACEHOLDER_KEY.into());
        }
        rows.vertex_updates.push(Update {
            id: id.to_owned(),
            label: after.label.clone(),
            from: None,
            drop,
            set,
        });
        if !sets.is_empty() {
            rows.set_values.push(SetValues {
                id: id.to_owned(),
                values: sets,
            });
        }
    }

    fn edges(&self, rows: &mut Rows) {
        for (id, after) in &self.after.edges {
            match self.before.edges.get(id) {
                None => rows.edge_creates.push(edge_create(id, after)),
                Some(before) if before != after => {
                    rows.edge_updates.push(edge_update(id, before, after))
                }
                Some(_) => {}
            }
        }
        for (id, before) in &self.before.edges {
            if !self.after.edges.contains_key(id) {
                rows.edge_drops.push(EdgeDrop {
                    id: id.clone(),
                    from: before.from.clone(),
                });
            }
        }
    }
}

fn edge_create(id: &str, e: &StoredEdge) -> Create {
    let (mut values, _) = values(&e.properties);
    if let Some(version) = e.version {
        values.push((VERSION_KEY.into(), long(version)));
    }
    Create {
        id: id.to_owned(),
        label: e.label.clone(),
        ends: Some((e.from.clone(), e.to.clone())),
        values,
    }
}

fn edge_update(id: &str, before: &StoredEdge, after: &StoredEdge) -> Update {
    let (mut set, _) = values(&after.properties);
    let drop = before
        .properties
        .keys()
        .filter(|k| !after.properties.contains_key(*k))
        .cloned()
        .collect();
    if let Some(version) = after.version {
        set.push((VERSION_KEY.into(), long(version)));
    }
    Update {
        id: id.to_owned(),
        label: before.label.clone(),
        from: Some(before.from.clone()),
        drop,
        set,
    }
}
