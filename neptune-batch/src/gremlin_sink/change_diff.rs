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

use super::change_traversals::WriteTraversal;
use crate::bytecode::Bytecode;
use crate::graphson::{Direction, GValue, T};
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
    /// The vertex ids read (vertices and tombstones): the guard covers them.
    pub read_vertices: &'a [String],
    /// The edge ids read.
    pub read_edges: &'a [String],
    /// When the changes are written (tombstones say when they were deleted).
    pub now: SystemTime,
}

/// The rows of each kind of write.
#[derive(Default)]
struct Rows {
    tombstones: Vec<GValue>,
    stale_tombstones: Vec<GValue>,
    vertex_creates: Vec<GValue>,
    vertex_updates: Vec<GValue>,
    set_values: Vec<GValue>,
    edge_creates: Vec<GValue>,
    edge_updates: Vec<GValue>,
    edge_drops: Vec<GValue>,
    orphans: Vec<GValue>,
}

impl Rows {
    fn is_empty(&self) -> bool {
        [
            &self.tombstones,
            &self.vertex_creates,
            &self.vertex_updates,
            &self.set_values,
            &self.edge_creates,
            &self.edge_updates,
            &self.edge_drops,
            &self.orphans,
        ]
        .iter()
        .all(|r| r.is_empty())
    }
}

fn map(entries: Vec<(GValue, GValue)>) -> GValue {
    GValue::Map(entries)
}

fn by_id(id: &str) -> GValue {
    map(vec![(GValue::T(T::Id), GValue::from(id))])
}

fn row(entries: Vec<(&str, GValue)>) -> GValue {
    map(entries
        .into_iter()
        .map(|(k, v)| (GValue::from(k), v))
        .collect())
}

fn long(v: u64) -> GValue {
    GValue::Long(v as i64)
}

/// The known values of `props`, sets apart: `(single values, set values as {k, v} rows)`.
fn values(props: &Properties) -> (Vec<(GValue, GValue)>, Vec<GValue>) {
    let mut single = Vec::new();
    let mut sets = Vec::new();
    for (k, v) in props {
        match v {
            Some(PropertyValue::Set(items)) => sets.extend(
                items
                    .iter()
                    .map(|item| row(vec![("k", GValue::from(k)), ("v", GValue::from(item))])),
            ),
            Some(v) => single.push((GValue::from(k), GValue::from(v))),
            None => {}
        }
    }
    (single, sets)
}

impl Diff<'_> {
    /// The write, or `None` if the changes change nothing.
    pub(super) fn write(&self) -> Option<Bytecode> {
        let mut rows = Rows::default();
        self.tombstones(&mut rows);
        self.vertices(&mut rows);
        self.edges(&mut rows);
        if rows.is_empty() && self.deleted.is_empty() {
            return None;
        }
        let (vertex_ids, expected_vertices) = self.expected_vertices();
        let (edge_ids, expected_edges) = self.expected_edges();
        let mut w = WriteTraversal::new()
            .guard_vertices(vertex_ids, expected_vertices)
            .guard_edges(edge_ids, expected_edges)
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

    /// The state of the vertices read, as the guard compares it: `{id: {v, p}}`.
    fn expected_vertices(&self) -> (Vec<GValue>, GValue) {
        let mut expected = Vec::new();
        for id in self.read_vertices {
            let held = if let Some(v) = self.before.vertices.get(id) {
                Some((v.version, v.placeholder))
            } else if self.markers.contains(id) {
                Some((None, false))
            } else {
                self.tombstone_of(id).map(|t| (Some(t.version), false))
            };
            if let Some((version, placeholder)) = held {
                let v = version.map_or(GValue::Long(-1), long);
                let state = row(vec![("v", v), ("p", GValue::Bool(placeholder))]);
                expected.push((GValue::from(id), state));
            }
        }
        let ids = self.read_vertices.iter().map(GValue::from).collect();
        (ids, map(expected))
    }

    /// The versions of the edges read: `{id: v}`.
    fn expected_edges(&self) -> (Vec<GValue>, GValue) {
        let expected = self
            .read_edges
            .iter()
            .filter_map(|id| {
                let e = self.before.edges.get(id)?;
                Some((GValue::from(id), e.version.map_or(GValue::Long(-1), long)))
            })
            .collect();
        let ids = self.read_edges.iter().map(GValue::from).collect();
        (ids, map(expected))
    }

    /// The tombstone whose vertex id is `id`, if `id` is a tombstone's and it was read.
    fn tombstone_of(&self, id: &str) -> Option<&Tombstone> {
        let rest = id.strip_prefix(TOMBSTONE_LABEL)?;
        let element = if let Some(v) = rest.strip_prefix(":v:") {
            ElementId::Vertex(v.to_owned())
        } else {
            ElementId::Edge(rest.strip_prefix(":e:")?.to_owned())
        };
        self.before.tombstones.get(&element)
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
                rows.stale_tombstones
                    .push(GValue::from(element.tombstone_id()));
            }
            rows.tombstones.push(row(vec![
                ("m", by_id(&element.tombstone_id())),
                (
                    "c",
                    map(vec![
                        (GValue::T(T::Label), GValue::from(TOMBSTONE_LABEL)),
                        (GValue::from(VERSION_KEY), long(t.version)),
                        (GValue::from(DELETED_AT_KEY), GValue::Date(millis)),
                    ]),
                ),
            ]));
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
                rows.orphans.push(GValue::from(id));
            }
        }
    }

    fn vertex_create(&self, id: &str, v: &StoredVertex, rows: &mut Rows) {
        let (mut create, sets) = values(&v.properties);
        create.insert(0, (GValue::T(T::Label), GValue::from(&v.label)));
        if let Some(version) = v.version {
            create.push((GValue::from(VERSION_KEY), long(version)));
        }
        if v.placeholder {
            create.push((GValue::from(PLACEHOLDER_KEY), GValue::Bool(true)));
        }
        rows.vertex_creates
            .push(row(vec![("m", by_id(id)), ("c", map(create))]));
        let tombstone = ElementId::Vertex(id.to_owned());
        let tombstone_id = tombstone.tombstone_id();
        if v.placeholder
            && !self.markers.contains(&tombstone_id)
            && !self.before.tombstones.contains_key(&tombstone)
            && !self.after.tombstones.contains_key(&tombstone)
        {
            rows.tombstones.push(row(vec![
                ("m", by_id(&tombstone_id)),
                (
                    "c",
                    map(vec![(GValue::T(T::Label), GValue::from(TOMBSTONE_LABEL))]),
                ),
            ]));
        }
        if !sets.is_empty() {
            rows.set_values
                .push(row(vec![("m", by_id(id)), ("s", GValue::List(sets))]));
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
        let mut drop: Vec<GValue> = before
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
            .map(GValue::from)
            .collect();
        if after.version != before.version {
            drop.push(GValue::from(VERSION_KEY));
            if let Some(version) = after.version {
                set.push((GValue::from(VERSION_KEY), long(version)));
            }
        }
        if before.placeholder && !after.placeholder {
            drop.push(GValue::from(PLACEHOLDER_KEY));
        }
        rows.vertex_updates.push(row(vec![
            ("m", by_id(id)),
            ("d", GValue::List(drop)),
            ("u", map(set)),
        ]));
        if !sets.is_empty() {
            rows.set_values
                .push(row(vec![("m", by_id(id)), ("s", GValue::List(sets))]));
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
        for id in self.before.edges.keys() {
            if !self.after.edges.contains_key(id) {
                rows.edge_drops.push(GValue::from(id));
            }
        }
    }
}

fn edge_create(id: &str, e: &StoredEdge) -> GValue {
    let (props, _) = values(&e.properties);
    let mut create = vec![
        (GValue::T(T::Label), GValue::from(&e.label)),
        (GValue::Direction(Direction::Out), GValue::from(&e.from)),
        (GValue::Direction(Direction::In), GValue::from(&e.to)),
    ];
    create.extend(props);
    if let Some(version) = e.version {
        create.push((GValue::from(VERSION_KEY), long(version)));
    }
    row(vec![("m", by_id(id)), ("c", map(create))])
}

fn edge_update(id: &str, before: &StoredEdge, after: &StoredEdge) -> GValue {
    let (mut set, _) = values(&after.properties);
    let drop: Vec<GValue> = before
        .properties
        .keys()
        .filter(|k| !after.properties.contains_key(*k))
        .map(GValue::from)
        .collect();
    if let Some(version) = after.version {
        set.push((GValue::from(VERSION_KEY), long(version)));
    }
    row(vec![
        ("m", by_id(id)),
        ("d", GValue::List(drop)),
        ("u", map(set)),
    ])
}
