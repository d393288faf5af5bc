//! Changes to the graph, not only creates: upserts with a property policy, deletes, property
//! removals, each with an optional version.
//!
//! # The contract every [`GraphSink`](crate::GraphSink) keeps for [`apply`](crate::GraphSink::apply)
//!
//! **With versions** (each mutation carries one, for example the source's change number or
//! event time), the graph ends in one state however the mutations arrive: in any order, with
//! repeats, after a replay. For every element the mutation with the highest version wins:
//!
//! * A mutation is applied only if its version is newer than the one the element holds
//!   (`_version`, a property of the element) and newer than the element's tombstone. An older
//!   one is reported [`ItemOutcome::Stale`](crate::ItemOutcome::Stale) and changes nothing; one
//!   with the same version is a repeat, reported
//!   [`ItemOutcome::AlreadyPresent`](crate::ItemOutcome::AlreadyPresent).
//! * A delete leaves a **tombstone**: the element's id and the delete's version, kept as an
//!   isolated vertex of the label [`TOMBSTONE_LABEL`] with the id `_tombstone:v:<id>` or
//!   `_tombstone:e:<id>`, with no edge, so no traversal from the data reaches it and no query
//!   that names a label sees it. An upsert older than the tombstone is stale, so a late or
//!   replayed create does not bring the element back; a newer one creates the element again.
//!   Tombstones are kept until [`purge_tombstones`](crate::GremlinSink::purge_tombstones) drops
//!   those older than the source can replay (a stream's retention: 24 hours by default).
//! * Deleting a vertex drops the edges that are older than the delete. An edge newer than it
//!   survives, and its endpoint stays as a placeholder.
//! * An edge whose endpoint does not exist gets a **placeholder** vertex (the label named by the
//!   upsert's [`EndpointLabels`], no properties, `_placeholder = true`) instead of failing: the
//!   endpoint's own upsert may be on another shard and come later, and completes it. An edge
//!   older than its endpoint's tombstone is stale instead. A placeholder lives only as long as
//!   an edge needs it. A vertex keeps the label it was created with: an upsert naming another
//!   label fails as a constraint violation.
//! * Use [`PropertyPolicy::Replace`] (the default: the upsert carries the element's whole
//!   state) for this guarantee. A partial update ([`PropertyPolicy::Update`], a
//!   [`RemoveProperty`](Change::RemoveProperty)) is also applied only if newer, so an older
//!   partial update that arrives late is skipped, not merged.
//!
//! **Without versions** the mutations of one key are applied in the order given, as the
//! stream gave them (the key is the element: a vertex's id, an edge's id); nothing is stale,
//! no tombstone is written or read. Across keys there is no order: an edge that arrives after
//! its endpoint was deleted creates a placeholder for it. Give versions where that matters.

use crate::model::{Edge, Vertex};

/// The label of tombstone vertices (see the [module](self) documentation).
pub const TOMBSTONE_LABEL: &str = "_tombstone";
/// The property that holds an element's version.
pub const VERSION_KEY: &str = "_version";
/// The property that marks a placeholder vertex.
pub const PLACEHOLDER_KEY: &str = "_placeholder";
/// The property of a tombstone that holds when it was written (epoch milliseconds).
pub const DELETED_AT_KEY: &str = "_deleted_at";
/// The property a request of changes claims the elements it read with, on Neptune and
/// TinkerGraph, so that two writers deciding on the same read conflict: written and removed at
/// once, it is never seen.
pub const CLAIM_KEY: &str = "_claim";
/// The property a request of changes claims the vertices it read with on JanusGraph: a number
/// kept under a lock, changed by every claim.
pub const LOCK_KEY: &str = "_lock";
/// On JanusGraph, the property in which a vertex the change path creates holds its own id,
/// under a unique index, so that two processes creating the same vertex at once conflict.
pub const VERTEX_ID_KEY: &str = "_vertex_id";
/// The property keys the sink keeps for itself: a mutation may not set or remove them.
pub const RESERVED_KEYS: [&str; 5] = [
    VERSION_KEY,
    PLACEHOLDER_KEY,
    CLAIM_KEY,
    LOCK_KEY,
    VERTEX_ID_KEY,
];

/// How an upsert treats the properties of an element that already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PropertyPolicy {
    /// Create the element if it is missing and leave an existing one as it is (the create-only
    /// writes' semantics, neptune-python-utils' default).
    Keep,
    /// Set the given properties, keeping the others (`updateSingleCardinalityProperties`).
    Update,
    /// The element ends with exactly the given properties (`replaceAllProperties`): the upsert
    /// carries its whole state. The default.
    #[default]
    Replace,
}

impl PropertyPolicy {
    /// The policy's name: `keep`, `update`, `replace`.
    pub fn as_str(self) -> &'static str {
        match self {
            PropertyPolicy::Keep => "keep",
            PropertyPolicy::Update => "update",
            PropertyPolicy::Replace => "replace",
        }
    }
}

/// A vertex or an edge, by id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ElementId {
    /// A vertex.
    Vertex(String),
    /// An edge.
    Edge(String),
}

impl ElementId {
    /// The id.
    pub fn id(&self) -> &str {
        match self {
            ElementId::Vertex(id) | ElementId::Edge(id) => id,
        }
    }

    /// The id of the element's tombstone vertex.
    pub fn tombstone_id(&self) -> String {
        match self {
            ElementId::Vertex(id) => format!("{TOMBSTONE_LABEL}:v:{id}"),
            ElementId::Edge(id) => format!("{TOMBSTONE_LABEL}:e:{id}"),
        }
    }

    /// The element whose tombstone vertex has the id `tombstone_id`, if it is a tombstone's.
    pub(crate) fn of_tombstone(tombstone_id: &str) -> Option<ElementId> {
        let rest = tombstone_id.strip_prefix(TOMBSTONE_LABEL)?;
        if let Some(v) = rest.strip_prefix(":v:") {
            Some(ElementId::Vertex(v.to_owned()))
        } else {
            Some(ElementId::Edge(rest.strip_prefix(":e:")?.to_owned()))
        }
    }
}

/// The labels a placeholder takes when an edge names an endpoint that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointLabels {
    /// The label of the out-vertex's placeholder.
    pub from: String,
    /// The label of the in-vertex's placeholder.
    pub to: String,
}

impl Default for EndpointLabels {
    /// TinkerPop's default vertex label, `vertex`, for both.
    fn default() -> Self {
        Self {
            from: "vertex".into(),
            to: "vertex".into(),
        }
    }
}

/// What a mutation does.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Change {
    /// Creates the vertex, or updates it as the policy says.
    UpsertVertex {
        /// The vertex and the properties to set.
        vertex: Vertex,
        /// What happens to the properties of an existing vertex.
        policy: PropertyPolicy,
    },
    /// Creates the edge (and placeholders for missing endpoints), or updates it.
    UpsertEdge {
        /// The edge and the properties to set.
        edge: Edge,
        /// What happens to the properties of an existing edge.
        policy: PropertyPolicy,
        /// The labels of placeholders for missing endpoints.
        endpoint_labels: EndpointLabels,
    },
    /// Drops the vertex and its edges (those older than the delete, with a version).
    DeleteVertex {
        /// The vertex's id.
        id: String,
    },
    /// Drops the edge.
    DeleteEdge {
        /// The edge's id.
        id: String,
    },
    /// Drops one property of a vertex or an edge.
    RemoveProperty {
        /// The element.
        element: ElementId,
        /// The property's key.
        key: String,
    },
}

/// One change to the graph, with an optional version.
///
/// ```
/// use neptune_batch::{Edge, Mutation, PropertyPolicy, Vertex};
///
/// let profile = Mutation::upsert_vertex(Vertex::new("p1", "person").with("name", "Ada"))
///     .with_version(17);
/// let follow = Mutation::upsert_edge(Edge::new("f1", "follows", "p1", "p2"))
///     .with_endpoint_labels("person", "person")
///     .with_version(18);
/// let rename = Mutation::upsert_vertex(Vertex::new("p1", "person").with("name", "Ada L."))
///     .with_policy(PropertyPolicy::Update)
///     .with_version(19);
/// let unfollow = Mutation::delete_edge("f1").with_version(20);
/// assert_eq!(unfollow.version, Some(20));
/// assert_eq!(follow.key(), "f1");
/// # let _ = (profile, rename);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Mutation {
    /// What it does.
    pub change: Change,
    /// Its version: applied only if newer than the element's (see the [module](self)
    /// documentation). `None`: applied in the order given.
    pub version: Option<u64>,
}

impl Mutation {
    fn new(change: Change) -> Self {
        Self {
            change,
            version: None,
        }
    }

    /// Creates or replaces the vertex (see [`with_policy`](Self::with_policy)).
    pub fn upsert_vertex(vertex: Vertex) -> Self {
        Self::new(Change::UpsertVertex {
            vertex,
            policy: PropertyPolicy::default(),
        })
    }

    /// Creates or replaces the edge, with placeholders of the default label `vertex` for
    /// missing endpoints (see [`with_endpoint_labels`](Self::with_endpoint_labels)).
    pub fn upsert_edge(edge: Edge) -> Self {
        Self::new(Change::UpsertEdge {
            edge,
            policy: PropertyPolicy::default(),
            endpoint_labels: EndpointLabels::default(),
        })
    }

    /// Deletes the vertex and its edges.
    pub fn delete_vertex(id: impl Into<String>) -> Self {
        Self::new(Change::DeleteVertex { id: id.into() })
    }

    /// Deletes the edge.
    pub fn delete_edge(id: impl Into<String>) -> Self {
        Self::new(Change::DeleteEdge { id: id.into() })
    }

    /// Removes one property of a vertex or an edge.
    pub fn remove_property(element: ElementId, key: impl Into<String>) -> Self {
        Self::new(Change::RemoveProperty {
            element,
            key: key.into(),
        })
    }

    /// The same mutation with a version.
    pub fn with_version(mut self, version: u64) -> Self {
        self.version = Some(version);
        self
    }

    /// The same upsert with another property policy (no effect on other changes).
    pub fn with_policy(mut self, policy: PropertyPolicy) -> Self {
        match &mut self.change {
            Change::UpsertVertex { policy: p, .. } | Change::UpsertEdge { policy: p, .. } => {
                *p = policy
            }
            _ => {}
        }
        self
    }

    /// The same edge upsert with the labels placeholders take (no effect on other changes).
    pub fn with_endpoint_labels(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        if let Change::UpsertEdge {
            endpoint_labels, ..
        } = &mut self.change
        {
            *endpoint_labels = EndpointLabels {
                from: from.into(),
                to: to.into(),
            };
        }
        self
    }

    /// The element it changes.
    pub fn element(&self) -> ElementId {
        match &self.change {
            Change::UpsertVertex { vertex, .. } => ElementId::Vertex(vertex.id.clone()),
            Change::UpsertEdge { edge, .. } => ElementId::Edge(edge.id.clone()),
            Change::DeleteVertex { id } => ElementId::Vertex(id.clone()),
            Change::DeleteEdge { id } => ElementId::Edge(id.clone()),
            Change::RemoveProperty { element, .. } => element.clone(),
        }
    }

    /// The id of the element it changes: the key whose mutations keep their order.
    pub fn key(&self) -> &str {
        match &self.change {
            Change::UpsertVertex { vertex, .. } => &vertex.id,
            Change::UpsertEdge { edge, .. } => &edge.id,
            Change::DeleteVertex { id } | Change::DeleteEdge { id } => id,
            Change::RemoveProperty { element, .. } => element.id(),
        }
    }

    /// Why the mutation cannot be applied whatever the graph holds (an empty id, label or
    /// key, a set of values on an edge, a reserved property key), if it cannot.
    pub fn invalid(&self) -> Option<String> {
        let empty = |what: &str, value: &str| value.is_empty().then(|| format!("empty {what}"));
        let reserved = |properties: &[(String, crate::PropertyValue)]| {
            properties
                .iter()
                .find(|(k, _)| k.is_empty() || RESERVED_KEYS.contains(&k.as_str()))
                .map(|(k, _)| format!("the property key {k:?} is empty or reserved"))
        };
        match &self.change {
            Change::UpsertVertex { vertex, .. } => empty("vertex id", &vertex.id)
                .or_else(|| empty("vertex label", &vertex.label))
                .or_else(|| {
                    (vertex.label == TOMBSTONE_LABEL)
                        .then(|| format!("the vertex label {TOMBSTONE_LABEL} is reserved"))
                })
                .or_else(|| reserved(&vertex.properties)),
            Change::UpsertEdge {
                edge,
                endpoint_labels,
                ..
            } => empty("edge id", &edge.id)
                .or_else(|| empty("edge label", &edge.label))
                .or_else(|| empty("edge from", &edge.from))
                .or_else(|| empty("edge to", &edge.to))
                .or_else(|| empty("placeholder label", &endpoint_labels.from))
                .or_else(|| empty("placeholder label", &endpoint_labels.to))
                .or_else(|| reserved(&edge.properties))
                .or_else(|| {
                    edge.properties
                        .iter()
                        .any(|(_, v)| matches!(v, crate::PropertyValue::Set(_)))
                        .then(|| "an edge property cannot hold a set of values".to_owned())
                }),
            Change::DeleteVertex { id } => empty("vertex id", id),
            Change::DeleteEdge { id } => empty("edge id", id),
            Change::RemoveProperty { element, key } => empty("element id", element.id())
                .or_else(|| empty("property key", key))
                .or_else(|| {
                    RESERVED_KEYS
                        .contains(&key.as_str())
                        .then(|| format!("the property key {key:?} is reserved"))
                }),
        }
    }
}

/// A vertex created only if missing, as the create-only writes do.
impl From<Vertex> for Mutation {
    fn from(vertex: Vertex) -> Self {
        Mutation::upsert_vertex(vertex).with_policy(PropertyPolicy::Keep)
    }
}

/// An edge created only if missing, as the create-only writes do.
impl From<Edge> for Mutation {
    fn from(edge: Edge) -> Self {
        Mutation::upsert_edge(edge).with_policy(PropertyPolicy::Keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_keys_labels_and_sets_on_edges_are_refused_up_front() {
        let bad = [
            Mutation::upsert_vertex(Vertex::new("", "person")),
            Mutation::upsert_vertex(Vertex::new("p", TOMBSTONE_LABEL)),
            Mutation::upsert_vertex(Vertex::new("p", "person").with(VERSION_KEY, 1i64)),
            Mutation::upsert_edge(
                Edge::new("e", "follows", "a", "b")
                    .with("tags", crate::PropertyValue::Set(vec!["x".into()])),
            ),
            Mutation::remove_property(ElementId::Vertex("p".into()), PLACEHOLDER_KEY),
            Mutation::delete_edge(""),
        ];
        for m in bad {
            assert!(m.invalid().is_some(), "{m:?}");
        }
        assert_eq!(
            Mutation::upsert_vertex(Vertex::new("p", "person").with("name", "Ada")).invalid(),
            None
        );
    }

    #[test]
    fn creates_convert_to_keep_upserts_and_tombstones_have_ids_of_their_own() {
        let m = Mutation::from(Edge::new("e1", "follows", "a", "b"));
        assert!(matches!(
            m.change,
            Change::UpsertEdge {
                policy: PropertyPolicy::Keep,
                ..
            }
        ));
        assert_eq!(
            ElementId::Edge("e1".into()).tombstone_id(),
            "_tombstone:e:e1"
        );
        assert_ne!(
            ElementId::Vertex("x".into()).tombstone_id(),
            ElementId::Edge("x".into()).tombstone_id()
        );
    }
}
