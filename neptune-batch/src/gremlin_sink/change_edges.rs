//! How the change path finds, names and merges an edge by its id, with either
//! [`EdgeIdentity`].
//!
//! A change names an edge by its id alone (a delete is `{"edge": {"id": …}}`), and the
//! contract, as the in-memory graph keeps it, makes that id unique in the graph. With server
//! ids that is the server's own id: `E(ids)`, `hasId(ids)`, `mergeE([(T.id): id])`. With
//! property ids (JanusGraph) the id is the value of the identity's property, so:
//!
//! * an edge is found anywhere in the graph by `E().has(key, within(ids))`: the read of the
//!   state and, in the merge shape, the claim and the guard, so that the ids are as unique as
//!   with server ids. On JanusGraph that lookup is a composite index query where the sink's
//!   setup built the index on the key (see [`super::edge_index`]), and a scan of every edge
//!   where it did not;
//! * where the edge's from-vertex is known (the chained shape's claims, guards, updates and
//!   drops, and every merge), it is found from it, `V(from).outE().has(key, id)`, which needs
//!   no index;
//! * `mergeE` searches `[OUT: from, T.label: label, key: id]` (the create-only path's search,
//!   [`crate::write_traversals`]): the guard before it has already checked, graph-wide, that no
//!   other edge holds the id.
//!
//! The key is a bytecode argument like every value: nothing is spliced into a script.

use super::identity::EdgeIdentity;
use crate::bytecode::{anon, Bytecode};
use crate::graphson::{Direction, GValue, T};

/// The change path's view of an [`EdgeIdentity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EdgeLookup<'a> {
    /// The id is `T.id`.
    ServerIds,
    /// The id is the value of this property.
    Property(&'a str),
}

impl<'a> EdgeLookup<'a> {
    pub(super) fn new(identity: &'a EdgeIdentity) -> Self {
        match identity.key() {
            None => EdgeLookup::ServerIds,
            Some(key) => EdgeLookup::Property(key),
        }
    }

    /// The property holding the id, with property ids.
    pub(super) fn key(self) -> Option<&'a str> {
        match self {
            EdgeLookup::ServerIds => None,
            EdgeLookup::Property(key) => Some(key),
        }
    }

    /// The edges with the ids `ids` anywhere in the graph: `E(ids)`, or
    /// `E().has(key, within(ids))`. `ids` must not be empty (`E()` alone is every edge).
    pub(super) fn everywhere(self, ids: Vec<GValue>) -> Bytecode {
        super::identity::edges_with_ids(self.key(), ids)
    }

    /// Keeps the edges in hand whose id is among `ids`: `hasId(ids…)`, or
    /// `has(key, within(ids))`.
    pub(super) fn filter(self, t: Bytecode, ids: Vec<GValue>) -> Bytecode {
        match self {
            EdgeLookup::ServerIds => t.step("hasId", ids),
            EdgeLookup::Property(key) => {
                t.step("has", [GValue::from(key), GValue::p("within", ids)])
            }
        }
    }

    /// The out-edges of `from` with the id `id`: `V(from).outE()` filtered by
    /// [`filter`](Self::filter).
    pub(super) fn out_of(self, from: &str, id: &str) -> Bytecode {
        self.filter(anon("V", [from]).then("outE"), vec![GValue::from(id)])
    }

    /// The modulator that answers an edge's id: `by(T.id)`, or `by(key)`.
    pub(super) fn id_by(self) -> GValue {
        match self {
            EdgeLookup::ServerIds => GValue::T(T::Id),
            EdgeLookup::Property(key) => GValue::from(key),
        }
    }

    /// The key an edge's id is written under by `property()`: `T.id`, or the property.
    pub(super) fn id_key(self) -> GValue {
        self.id_by()
    }

    /// `mergeE`'s search for the edge `id` from `from` with `label`: `[(T.id): id]`, or
    /// `[OUT: from, T.label: label, key: id]`; and whether the create map must leave `OUT` and
    /// the label out (they are in the search).
    pub(super) fn search(self, id: &str, from: &str, label: &str) -> (GValue, bool) {
        match self {
            EdgeLookup::ServerIds => (
                GValue::Map(vec![(GValue::T(T::Id), GValue::from(id))]),
                false,
            ),
            EdgeLookup::Property(key) => (
                GValue::Map(vec![
                    (GValue::Direction(Direction::Out), GValue::from(from)),
                    (GValue::T(T::Label), GValue::from(label)),
                    (GValue::from(key), GValue::from(id)),
                ]),
                true,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(t: &Bytecode) -> Vec<&str> {
        t.steps().iter().map(|i| i.operator.as_str()).collect()
    }

    #[test]
    fn server_ids_find_edges_by_their_element_id() {
        let l = EdgeLookup::ServerIds;
        assert_eq!(ops(&l.everywhere(vec!["e".into()])), ["E"]);
        assert_eq!(ops(&l.out_of("a", "e")), ["V", "outE", "hasId"]);
        assert_eq!(l.id_by(), GValue::T(T::Id));
        let (search, in_search) = l.search("e", "a", "follows");
        assert_eq!(
            search,
            GValue::Map(vec![(GValue::T(T::Id), GValue::from("e"))])
        );
        assert!(!in_search);
    }

    #[test]
    fn property_ids_find_edges_by_their_property_anywhere_or_from_their_vertex() {
        let identity = EdgeIdentity::property_ids();
        let l = EdgeLookup::new(&identity);
        assert_eq!(l.key(), Some("edge_id"));
        let all = l.everywhere(vec!["e".into(), "f".into()]);
        assert_eq!(ops(&all), ["E", "has"]);
        assert!(all.steps()[0].arguments.is_empty(), "every edge, filtered");
        assert_eq!(
            all.steps()[1].arguments,
            [
                GValue::from("edge_id"),
                GValue::p("within", vec![GValue::from("e"), GValue::from("f")])
            ]
        );
        assert_eq!(ops(&l.out_of("a", "e")), ["V", "outE", "has"]);
        assert_eq!(l.id_by(), GValue::from("edge_id"));
        let (search, in_search) = l.search("e", "a", "follows");
        assert!(in_search);
        let GValue::Map(entries) = search else {
            panic!("a map")
        };
        assert!(entries.contains(&(GValue::Direction(Direction::Out), GValue::from("a"))));
        assert!(entries.contains(&(GValue::from("edge_id"), GValue::from("e"))));
    }
}
