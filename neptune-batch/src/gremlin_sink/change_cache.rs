//! What the change path knows of the elements its own requests read and wrote, so that a
//! request whose every element is known is written at once, without a read first.
//!
//! A read costs a request, and on a graph that copies what a transaction reads (the
//! transactional TinkerGraph copies a vertex with its adjacency) a second copy of every element
//! the write then copies again. The write's guard compares, in its own transaction, the versions
//! and placeholder marks of everything the decision rested on with what is there, and fails the
//! request when they differ (see [`change_diff`](super::change_diff)). So the state a decision
//! rests on may come from what this sink last read or wrote instead of a read: a stale entry
//! (another process changed the element) costs a failed write and the usual read, never a wrong
//! write.
//!
//! Used only where the guard covers everything the decision needs: requests whose every change
//! has a version (a property changed without one is invisible to the guard). A vertex delete
//! decides on the vertex's version alone, and the server drops its edges; the sink then forgets
//! the vertex. The vertices not known are read; tombstones and markers, and the edges not known
//! (but those a delete names, which are read to find their from-vertex), are taken as absent,
//! which the guard checks as well. The sink's queue never runs two requests on one element at
//! once, so entries change in the order the writes commit.

use super::changes::Read;
use crate::memory::state::{GraphState, StoredEdge, StoredVertex, Tombstone};
use crate::mutation::{Change, ElementId, Mutation, TOMBSTONE_LABEL};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

/// Entries kept at most; past it the cache starts again empty (a cold entry only costs a read).
const CAPACITY: usize = 200_000;

/// Element id -> its state as last read or written (`None`: known to be absent).
#[derive(Debug, Default)]
struct Known {
    vertices: HashMap<String, Option<StoredVertex>>,
    edges: HashMap<String, Option<StoredEdge>>,
    /// Tombstone id -> the tombstone known to be there (`None`: a marker). Only those there
    /// are kept: a tombstone not known is taken as absent.
    tombstones: HashMap<String, Option<Tombstone>>,
    /// Vertex id -> the ids of the edges known at it, to forget when the vertex is deleted
    /// (the server drops edges the request did not read).
    incident: HashMap<String, HashSet<String>>,
}

/// The states known, shared by the sink's requests.
#[derive(Debug, Default)]
pub(super) struct ChangeCache {
    known: Mutex<Known>,
}

fn is_tombstone(id: &str) -> bool {
    id.starts_with(TOMBSTONE_LABEL)
}

/// The ids of the vertices and of the edges that `items` delete.
fn deletes(items: &[&Mutation]) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut vertices, mut edges) = (BTreeSet::new(), BTreeSet::new());
    for m in items {
        match &m.change {
            Change::DeleteVertex { id } => vertices.insert(id.clone()),
            Change::DeleteEdge { id } => edges.insert(id.clone()),
            _ => false,
        };
    }
    (vertices, edges)
}

/// How much of a request's read what is known replaces.
pub(super) struct Plan {
    /// The states known, as a read of the ids known.
    pub known: Read,
    /// The vertex and edge ids still to read; none: the write goes without a read.
    pub unknown: (Vec<String>, Vec<String>),
}

impl ChangeCache {
    /// What of the read `items` need (`vertex_ids`, `edge_ids`) is known, if their kinds let
    /// the guard cover it (every item has a version). Only the vertices not known are read,
    /// with the edges not known that a delete names (their from-vertex finds and claims them);
    /// none when every one is known. Tombstones and markers, and the other edges not known,
    /// are taken as absent: they seldom exist (a change after a delete of its element, a
    /// replayed create), and the guard finds those that do.
    pub(super) fn plan(
        &self,
        items: &[&Mutation],
        (vertex_ids, edge_ids): (&[String], &[String]),
    ) -> Option<Plan> {
        if items.iter().any(|m| m.version.is_none()) {
            return None;
        }
        let known = stream2neptune_common::lock(&self.known);
        let (mut state, mut markers) = (GraphState::default(), BTreeSet::new());
        let (mut known_vertices, mut unknown_vertices) = (vec![], vec![]);
        for id in vertex_ids {
            if is_tombstone(id) {
                match (known.tombstones.get(id), ElementId::of_tombstone(id)) {
                    (Some(Some(t)), Some(element)) => {
                        state.tombstones.insert(element, *t);
                    }
                    (Some(None), _) => {
                        markers.insert(id.clone());
                    }
                    _ => {}
                }
                known_vertices.push(id.clone());
                continue;
            }
            match known.vertices.get(id) {
                Some(v) => {
                    if let Some(v) = v {
                        state.vertices.insert(id.clone(), v.clone());
                    }
                    known_vertices.push(id.clone());
                }
                None => unknown_vertices.push(id.clone()),
            }
        }
        let (_, deleted) = deletes(items);
        let (mut known_edges, mut unknown_edges) = (vec![], vec![]);
        for id in edge_ids {
            match known.edges.get(id) {
                Some(e) => {
                    if let Some(e) = e {
                        state.link(id, &e.from, &e.to);
                        state.edges.insert(id.clone(), e.clone());
                    }
                    known_edges.push(id.clone());
                }
                None if deleted.contains(id) => unknown_edges.push(id.clone()),
                // Taken as absent, which the guard checks.
                None => known_edges.push(id.clone()),
            }
        }
        Some(Plan {
            known: Read {
                state,
                markers,
                vertex_ids: known_vertices,
                edge_ids: known_edges,
                claimed: Default::default(),
            },
            unknown: (unknown_vertices, unknown_edges),
        })
    }

    /// Records the state `read` led to once its write committed (`after`), or what a read
    /// found when nothing was written. Forgets instead what the sink cannot know it left: a
    /// vertex deleted (it may stay as a placeholder, by edges it does not know) and placeholders
    /// that may have lost their last edge (the server decides whether they go), every edge
    /// known at a vertex deleted (the server drops those older than the delete), and edges
    /// absent before and after: they may only have been taken as absent, unchecked where the
    /// guard finds edges from their from-vertex.
    /// `ends` are the vertices `items` name only as an edge's ends
    /// ([`endpoints_only`](super::changes::endpoints_only)).
    pub(super) fn remember(
        &self,
        items: &[&Mutation],
        ends: &BTreeSet<String>,
        read: &Read,
        after: &GraphState,
    ) {
        let (deleted, _) = deletes(items);
        let mut known = stream2neptune_common::lock(&self.known);
        if known.vertices.len() + known.edges.len() + known.tombstones.len() > CAPACITY
            || known.incident.len() > CAPACITY
        {
            *known = Known::default();
        }
        for id in read.vertex_ids.iter().filter(|id| is_tombstone(id)) {
            match tombstone_after(id, read, after) {
                Some(t) => known.tombstones.insert(id.clone(), t),
                None => known.tombstones.remove(id),
            };
        }
        for id in read.vertex_ids.iter().filter(|id| !is_tombstone(id)) {
            let orphan = read.state.vertices.get(id).is_some_and(|v| v.placeholder)
                && !after.vertices.contains_key(id);
            if orphan || deleted.contains(id) {
                known.vertices.remove(id);
            } else if ends.contains(id) && read.state.vertices.contains_key(id) {
                // The guard checked only that it is there: a request of the vertex's own
                // change may have run meanwhile and left a newer state known.
                known
                    .vertices
                    .entry(id.clone())
                    .or_insert_with(|| after.vertices.get(id).cloned());
            } else {
                known
                    .vertices
                    .insert(id.clone(), after.vertices.get(id).cloned());
            }
        }
        for id in &read.edge_ids {
            let edge = after.edges.get(id).cloned();
            if edge.is_none() && !read.state.edges.contains_key(id) {
                // Not there before nor after: perhaps only taken as absent, which a guard that
                // finds edges from their from-vertex (the chained shape) did not check.
                known.edges.remove(id);
                continue;
            }
            if let Some(e) = &edge {
                for end in [&e.from, &e.to] {
                    let at = known.incident.entry(end.clone()).or_default();
                    at.insert(id.clone());
                }
            }
            known.edges.insert(id.clone(), edge);
        }
        for v in &deleted {
            for id in known.incident.remove(v).unwrap_or_default() {
                known.edges.remove(&id);
            }
        }
    }

    /// Forgets what `read` named: its state proved stale, or is not known.
    pub(super) fn forget(&self, read: &Read) {
        let mut known = stream2neptune_common::lock(&self.known);
        for id in &read.vertex_ids {
            known.vertices.remove(id);
            known.tombstones.remove(id);
        }
        for id in &read.edge_ids {
            known.edges.remove(id);
        }
    }
}

/// What is at tombstone id `id` once a request that read it committed: the tombstone its
/// changes left, or a marker (one read, or made with a placeholder for its vertex); `None` if
/// nothing is.
fn tombstone_after(id: &str, read: &Read, after: &GraphState) -> Option<Option<Tombstone>> {
    let element = ElementId::of_tombstone(id)?;
    if let Some(t) = after.tombstones.get(&element) {
        return Some(Some(*t));
    }
    let placeholder = match &element {
        ElementId::Vertex(v) => after.vertices.get(v).is_some_and(|v| v.placeholder),
        ElementId::Edge(_) => false,
    };
    (read.markers.contains(id) || placeholder).then_some(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Edge, Vertex};

    fn ids(items: &[&Mutation]) -> (Vec<String>, Vec<String>) {
        super::super::changes::needed(items)
    }

    fn after_writing(cache: &ChangeCache, items: &[&Mutation]) {
        let (v, e) = ids(items);
        let read = Read {
            state: GraphState::default(),
            markers: BTreeSet::new(),
            vertex_ids: v,
            edge_ids: e,
            claimed: Default::default(),
        };
        let mut after = GraphState::default();
        for m in items {
            after.apply(m, std::time::SystemTime::now());
        }
        let ends = super::super::changes::endpoints_only(items);
        cache.remember(items, &ends, &read, &after);
    }

    fn plan(cache: &ChangeCache, items: &[&Mutation]) -> Option<Plan> {
        let (v, e) = ids(items);
        cache.plan(items, (&v, &e))
    }

    /// A cache that has written persons `a` (version 1) and `b` (version 2); and `a`'s upsert.
    fn two_people() -> (ChangeCache, Mutation) {
        let cache = ChangeCache::default();
        let a = Mutation::upsert_vertex(Vertex::new("a", "person")).with_version(1);
        let b = Mutation::upsert_vertex(Vertex::new("b", "person")).with_version(2);
        after_writing(&cache, &[&a, &b]);
        (cache, a)
    }

    fn without_read(plan: Option<Plan>) -> bool {
        plan.is_some_and(|p| p.unknown.0.is_empty() && p.unknown.1.is_empty())
    }

    #[test]
    fn versioned_changes_of_known_vertices_skip_the_read() {
        let cache = ChangeCache::default();
        let a = Mutation::upsert_vertex(Vertex::new("a", "person")).with_version(1);
        let b = Mutation::upsert_vertex(Vertex::new("b", "person")).with_version(2);
        let follow = Mutation::upsert_edge(Edge::new("ab", "follows", "a", "b")).with_version(3);
        let cold = plan(&cache, &[&follow]).expect("versioned");
        assert_eq!(
            cold.unknown.0,
            ["a", "b"],
            "nothing is known yet: both ends are read"
        );
        assert!(cold.unknown.1.is_empty(), "the new edge is taken as absent");
        after_writing(&cache, &[&a]);
        let half = plan(&cache, &[&follow]).expect("a is known");
        assert!(half.known.vertex_ids.contains(&"a".to_owned()));
        assert_eq!(half.unknown.0, ["b"], "only b is read");
        assert!(
            half.known
                .vertex_ids
                .iter()
                .any(|id| id.starts_with(TOMBSTONE_LABEL)),
            "tombstones are taken as absent"
        );
        after_writing(&cache, &[&b]);
        let known = plan(&cache, &[&follow]).expect("both ends are known");
        assert!(known.unknown.0.is_empty() && known.unknown.1.is_empty());
        assert_eq!(known.known.state.vertices["a"].version, Some(1));
        assert!(
            known.known.state.edges.is_empty(),
            "the new edge is taken as absent"
        );

        let unversioned = Mutation::upsert_edge(Edge::new("ab", "follows", "a", "b"));
        assert!(
            plan(&cache, &[&unversioned]).is_none(),
            "no version: the guard cannot see it"
        );
        let unknown_delete = Mutation::delete_edge("zz").with_version(4);
        assert!(
            !without_read(plan(&cache, &[&unknown_delete])),
            "a delete needs the edge's ends"
        );
        after_writing(&cache, &[&follow]);
        let delete = Mutation::delete_edge("ab").with_version(5);
        assert!(
            without_read(plan(&cache, &[&delete])),
            "a known edge's delete"
        );
    }

    #[test]
    fn a_tombstone_written_is_known_and_a_late_change_is_decided_without_a_read() {
        let (cache, a) = two_people();
        let follow = Mutation::upsert_edge(Edge::new("ab", "follows", "a", "b")).with_version(3);
        after_writing(&cache, &[&follow]);
        let close = Mutation::delete_vertex("b").with_version(5);
        after_writing(&cache, &[&close]);
        // A follow of b from another shard, older than the closure, comes after it.
        let late = Mutation::upsert_edge(Edge::new("cb", "follows", "a", "b")).with_version(4);
        let mut plan = plan(&cache, &[&late]).expect("versioned");
        assert_eq!(plan.unknown.0, ["b"], "b was deleted: read");
        assert_eq!(
            plan.known.state.tombstones[&ElementId::Vertex("b".into())].version,
            5,
            "b's tombstone is known"
        );
        plan.known.state.apply(&a, std::time::SystemTime::now());
        assert_eq!(
            plan.known.state.apply(&late, std::time::SystemTime::now()),
            crate::outcome::ItemOutcome::Stale
        );
        let tombstone = ElementId::Vertex("b".into()).tombstone_id();
        cache.forget(&plan.known);
        let plan = super::tests::plan(&cache, &[&late]).expect("versioned");
        assert!(
            plan.known.state.tombstones.is_empty() && plan.known.vertex_ids.contains(&tombstone),
            "a forgotten tombstone is taken as absent"
        );
    }

    #[test]
    fn an_edge_only_taken_as_absent_is_not_known_absent_afterwards() {
        let (cache, _) = two_people();
        // The edge is there (another sink, or an entry forgotten), but this sink does not know
        // it: the upsert takes it as absent and is stale for another reason (here a newer
        // tombstone of its own), so nothing checks that it is absent.
        let upsert = Mutation::upsert_edge(Edge::new("ab", "follows", "a", "b")).with_version(3);
        let mut plan = plan(&cache, &[&upsert]).expect("versioned");
        assert!(plan.unknown.1.is_empty(), "taken as absent, not read");
        let now = std::time::SystemTime::now();
        plan.known.state.tombstones.insert(
            ElementId::Edge("ab".into()),
            Tombstone {
                version: 9,
                deleted_at: now,
            },
        );
        let mut after = plan.known.state.clone();
        assert_eq!(
            after.apply(&upsert, now),
            crate::outcome::ItemOutcome::Stale
        );
        let ends = super::super::changes::endpoints_only(&[&upsert]);
        cache.remember(&[&upsert], &ends, &plan.known, &after);
        let delete = Mutation::delete_edge("ab").with_version(10);
        assert!(
            !without_read(super::tests::plan(&cache, &[&delete])),
            "the delete reads the edge instead of trusting an absence nobody checked"
        );
    }

    #[test]
    fn a_stale_state_is_forgotten_and_a_deleted_vertex_too() {
        let cache = ChangeCache::default();
        let a = Mutation::upsert_vertex(Vertex::new("a", "person")).with_version(1);
        after_writing(&cache, &[&a]);
        let again = Mutation::upsert_vertex(Vertex::new("a", "person")).with_version(2);
        let known = plan(&cache, &[&again]).expect("a is known");
        cache.forget(&known.known);
        assert!(!without_read(plan(&cache, &[&again])));
        after_writing(&cache, &[&a]);
        let delete = Mutation::delete_vertex("a").with_version(3);
        after_writing(&cache, &[&delete]);
        assert!(
            !without_read(plan(&cache, &[&again])),
            "a deleted vertex is not known"
        );
    }
}
