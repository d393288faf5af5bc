//! The in-memory graph's state and the rules that change it: the reference for the contract
//! in the [`mutation`](crate::mutation) module, which the Gremlin sink's traversals follow too.

use crate::model::{Edge, PropertyValue, Vertex};
use crate::mutation::{Change, ElementId, EndpointLabels, Mutation, PropertyPolicy};
use crate::outcome::{ItemFailure, ItemOutcome};
use std::collections::{BTreeMap, HashMap, HashSet};

use std::time::SystemTime;

/// Properties by key. A value is `None` where the state was read from a graph without the
/// values (only the keys): the rules need to know which keys an element holds, not what.
pub(crate) type Properties = BTreeMap<String, Option<PropertyValue>>;

/// A vertex as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredVertex {
    pub label: String,
    pub properties: Properties,
    pub version: Option<u64>,
    /// Created for an edge whose endpoint did not exist; completed by the vertex's upsert.
    pub placeholder: bool,
}

/// An edge as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredEdge {
    pub label: String,
    pub from: String,
    pub to: String,
    pub properties: Properties,
    pub version: Option<u64>,
}

/// A deleted element's last version, and when it was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tombstone {
    pub version: u64,
    pub deleted_at: SystemTime,
}

/// A graph's state: the whole of an in-memory graph, or the part of a remote graph a request
/// read (then what was not read counts as absent, and the request makes sure it is).
#[derive(Debug, Clone, Default)]
pub(crate) struct GraphState {
    pub vertices: HashMap<String, StoredVertex>,
    pub edges: HashMap<String, StoredEdge>,
    /// Edge ids by vertex id, both directions.
    pub incident: HashMap<String, HashSet<String>>,
    pub tombstones: HashMap<ElementId, Tombstone>,
}

/// How a version compares with what the graph holds for an element.
enum Standing {
    /// Newer than everything held (or no version given): apply.
    Newer,
    /// The same version is already applied: a repeat.
    Current,
    /// Something newer is held.
    Older,
}

fn properties(list: &[(String, PropertyValue)]) -> Properties {
    list.iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect()
}

impl GraphState {
    /// How `version` of `element` stands against the element's own version and tombstone.
    fn standing(&self, element: &ElementId, version: Option<u64>) -> Standing {
        let Some(v) = version else {
            return Standing::Newer;
        };
        let held = match element {
            ElementId::Vertex(id) => self.vertices.get(id).and_then(|s| s.version),
            ElementId::Edge(id) => self.edges.get(id).and_then(|s| s.version),
        };
        let tomb = self.tombstones.get(element).map(|t| t.version);
        match held.max(tomb) {
            Some(h) if h > v => Standing::Older,
            Some(h) if h == v => Standing::Current,
            _ => Standing::Newer,
        }
    }

    /// Applies one mutation.
    pub(crate) fn apply(&mut self, m: &Mutation, now: SystemTime) -> ItemOutcome {
        if let Some(why) = m.invalid() {
            return ItemOutcome::Failed(ItemFailure::Invalid(why));
        }
        if let Change::DeleteVertex { id } = &m.change {
            // Even a vertex newer than the delete loses the edges older than it.
            return self.delete_vertex(id, m.version, now);
        }
        match self.standing(&m.element(), m.version) {
            Standing::Older => return ItemOutcome::Stale,
            Standing::Current => return ItemOutcome::AlreadyPresent,
            Standing::Newer => {}
        }
        match &m.change {
            Change::UpsertVertex { vertex, policy } => {
                self.upsert_vertex(vertex, *policy, m.version)
            }
            Change::UpsertEdge {
                edge,
                policy,
                endpoint_labels,
            } => self.upsert_edge(edge, *policy, endpoint_labels, m.version),
            Change::DeleteVertex { id } => self.delete_vertex(id, m.version, now),
            Change::DeleteEdge { id } => self.delete_edge(id, m.version, now),
            Change::RemoveProperty { element, key } => {
                self.remove_property(element, key, m.version)
            }
        }
    }

    fn upsert_vertex(
        &mut self,
        vertex: &Vertex,
        policy: PropertyPolicy,
        version: Option<u64>,
    ) -> ItemOutcome {
        let Some(held) = self.vertices.get_mut(&vertex.id) else {
            self.vertices.insert(
                vertex.id.clone(),
                StoredVertex {
                    label: vertex.label.clone(),
                    properties: properties(&vertex.properties),
                    version,
                    placeholder: false,
                },
            );
            return ItemOutcome::Written;
        };
        if held.label != vertex.label {
            return ItemOutcome::Failed(ItemFailure::ConstraintViolation(format!(
                "vertex {} exists with label {}",
                vertex.id, held.label
            )));
        }
        if policy == PropertyPolicy::Keep && !held.placeholder {
            return ItemOutcome::AlreadyPresent;
        }
        update(
            &mut held.properties,
            &vertex.properties,
            policy,
            held.placeholder,
        );
        held.placeholder = false;
        if version.is_some() {
            held.version = version;
        }
        ItemOutcome::Written
    }

    fn upsert_edge(
        &mut self,
        edge: &Edge,
        policy: PropertyPolicy,
        labels: &EndpointLabels,
        version: Option<u64>,
    ) -> ItemOutcome {
        if let Some(held) = self.edges.get_mut(&edge.id) {
            if held.from != edge.from || held.to != edge.to || held.label != edge.label {
                return ItemOutcome::Failed(ItemFailure::ConstraintViolation(format!(
                    "edge {} exists as {} from {} to {}",
                    edge.id, held.label, held.from, held.to
                )));
            }
            if policy == PropertyPolicy::Keep {
                return ItemOutcome::AlreadyPresent;
            }
            update(&mut held.properties, &edge.properties, policy, false);
            if version.is_some() {
                held.version = version;
            }
            return ItemOutcome::Written;
        }
        // An edge older than the deletion of one of its endpoints went with it.
        let ends = [(&edge.from, &labels.from), (&edge.to, &labels.to)];
        if let Some(v) = version {
            let deleted_after = |id: &String| {
                self.tombstones
                    .get(&ElementId::Vertex(id.clone()))
                    .is_some_and(|t| t.version >= v)
            };
            if ends.iter().any(|(id, _)| deleted_after(id)) {
                return ItemOutcome::Stale;
            }
        }
        for (id, label) in ends {
            self.vertices
                .entry(id.clone())
                .or_insert_with(|| StoredVertex {
                    label: label.clone(),
                    properties: BTreeMap::new(),
                    version: None,
                    placeholder: true,
                });
        }
        self.link(&edge.id, &edge.from, &edge.to);
        self.edges.insert(
            edge.id.clone(),
            StoredEdge {
                label: edge.label.clone(),
                from: edge.from.clone(),
                to: edge.to.clone(),
                properties: properties(&edge.properties),
                version,
            },
        );
        ItemOutcome::Written
    }

    /// Drops the vertex's edges older than the delete (all of them without a version) and
    /// raises its tombstone; the vertex itself goes if it is older too, or stays a placeholder
    /// while newer edges need it. A vertex newer than the delete keeps its state.
    fn delete_vertex(&mut self, id: &str, version: Option<u64>, now: SystemTime) -> ItemOutcome {
        let tomb = ElementId::Vertex(id.to_owned());
        let repeat = version.is_some() && self.tombstones.get(&tomb).map(|t| t.version) == version;
        let older = |ev: Option<u64>| match (version, ev) {
            (Some(v), Some(ev)) => ev < v,
            _ => true,
        };
        let edges: Vec<String> = self
            .incident
            .get(id)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default();
        let mut dropped = false;
        for e in edges {
            if older(self.edges.get(&e).and_then(|s| s.version)) {
                dropped |= self.remove_edge(&e);
            }
        }
        let mut removed = false;
        if let Some(held) = self.vertices.get(id) {
            if older(held.version) {
                removed = !held.placeholder;
                if self.incident.get(id).is_some_and(|s| !s.is_empty()) {
                    // Newer edges still need their endpoint: it stays as a placeholder.
                    let held = self.vertices.get_mut(id).expect("checked above");
                    held.properties.clear();
                    held.placeholder = true;
                    held.version = None;
                } else {
                    self.vertices.remove(id);
                    removed = true;
                }
            }
        }
        let tombstoned = self.tombstone(tomb, version, now);
        match (dropped || removed || tombstoned, repeat) {
            (true, _) => ItemOutcome::Written,
            (false, true) => ItemOutcome::AlreadyPresent,
            (false, false) if version.is_some() => ItemOutcome::Stale,
            (false, false) => ItemOutcome::AlreadyPresent,
        }
    }

    fn delete_edge(&mut self, id: &str, version: Option<u64>, now: SystemTime) -> ItemOutcome {
        let existed = self.remove_edge(id);
        let tombstoned = self.tombstone(ElementId::Edge(id.to_owned()), version, now);
        ItemOutcome::created(existed || tombstoned)
    }

    fn remove_property(
        &mut self,
        element: &ElementId,
        key: &str,
        version: Option<u64>,
    ) -> ItemOutcome {
        let (props, held_version) = match element {
            ElementId::Vertex(id) => match self.vertices.get_mut(id) {
                Some(v) if !v.placeholder => (&mut v.properties, &mut v.version),
                _ => return ItemOutcome::AlreadyPresent,
            },
            ElementId::Edge(id) => match self.edges.get_mut(id) {
                Some(e) => (&mut e.properties, &mut e.version),
                None => return ItemOutcome::AlreadyPresent,
            },
        };
        let removed = props.remove(key).is_some();
        if version.is_some() {
            *held_version = version;
        }
        ItemOutcome::created(removed || version.is_some())
    }

    /// Raises the element's tombstone to `version`; whether it changed.
    fn tombstone(&mut self, element: ElementId, version: Option<u64>, now: SystemTime) -> bool {
        let Some(version) = version else {
            return false;
        };
        if self
            .tombstones
            .get(&element)
            .is_some_and(|t| t.version >= version)
        {
            return false;
        }
        self.tombstones.insert(
            element,
            Tombstone {
                version,
                deleted_at: now,
            },
        );
        true
    }

    /// Records `edge` among the incident edges of `from` and `to`.
    pub(crate) fn link(&mut self, edge: &str, from: &str, to: &str) {
        for v in [from, to] {
            self.incident
                .entry(v.to_owned())
                .or_default()
                .insert(edge.to_owned());
        }
    }

    /// Drops an edge, and the placeholders it was the last edge of; whether it existed.
    fn remove_edge(&mut self, id: &str) -> bool {
        let Some(edge) = self.edges.remove(id) else {
            return false;
        };
        for v in [&edge.from, &edge.to] {
            let now_bare = match self.incident.get_mut(v) {
                Some(set) => {
                    set.remove(id);
                    set.is_empty()
                }
                None => true,
            };
            if now_bare && self.vertices.get(v).is_some_and(|s| s.placeholder) {
                self.vertices.remove(v);
                self.incident.remove(v);
            }
        }
        true
    }
}

/// Sets `given` on `held` as `policy` says (a placeholder's empty properties are simply
/// replaced).
fn update(
    held: &mut Properties,
    given: &[(String, PropertyValue)],
    policy: PropertyPolicy,
    placeholder: bool,
) {
    if policy == PropertyPolicy::Replace || placeholder {
        held.clear();
    }
    held.extend(given.iter().map(|(k, v)| (k.clone(), Some(v.clone()))));
}
