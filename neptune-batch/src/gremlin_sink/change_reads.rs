//! The reads of a request of changes: the state its changes depend on, by id, as rows the
//! sink decides on (see [`changes`](super::changes)). Every value is a bytecode argument; the
//! steps are those of the reads in [`change_traversals`](super::change_traversals)' notes on
//! Amazon Neptune.
//!
//! Where claims are locked (JanusGraph, see [`Claims`]), each vertex row also says whether the
//! vertex holds a claim value, and each edge row whether its from-vertex does: the write
//! compares that before it claims anything (see [`WriteTraversal::guard_claims`](super::change_traversals::WriteTraversal::guard_claims)).

use super::change_edges::EdgeLookup;
use super::change_traversals::value_or;
use super::claims::{self, Claims};
use crate::bytecode::{anon, Bytecode};
use crate::graphson::{GValue, T};
use crate::mutation::{PLACEHOLDER_KEY, VERSION_KEY};

/// How a read is encoded: how edges are found, and whether claim values are read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reading<'a> {
    pub edges: EdgeLookup<'a>,
    pub claims: Claims,
}

impl Reading<'_> {
    /// `g.V(ids).project('i','l','v','p','k'[,'c'])`: each vertex's id, label, version (`-1`:
    /// none), whether it is a placeholder, its property keys, and its claim value (`-1`: none)
    /// where claims are locked.
    pub(super) fn vertices(self, ids: Vec<GValue>) -> Bytecode {
        self.vertex_rows(Bytecode::new().step("V", ids))
    }

    /// `g.E(ids).project('i','l','o','n','v','k'[,'c'])`: each edge's id, label, ends, version,
    /// property keys, and its from-vertex's claim value where claims are locked; with property
    /// ids `g.E().has(key, within(ids))`, the id read from the key (which is among the keys
    /// answered).
    pub(super) fn edges(self, ids: Vec<GValue>) -> Bytecode {
        self.edge_rows(self.edges.everywhere(ids))
    }

    /// `g.inject(0).union(V(ids).project(…), E(edge_ids).project(…))`: [`vertices`](Self::vertices)
    /// and [`edges`](Self::edges) in one request (mid-traversal `E()`: TinkerPop 3.7), so in
    /// one transaction. A graph that copies each element a transaction reads (the
    /// transactional TinkerGraph copies a vertex with its adjacency) then copies an edge's ends
    /// once, not once for the vertex read and again for the edge read's ends; and it is one
    /// round trip. Both lists must be non-empty (`V()` without ids is every vertex).
    pub(super) fn both(self, ids: Vec<GValue>, edge_ids: Vec<GValue>) -> Bytecode {
        Bytecode::new().step("inject", [0i64]).step(
            "union",
            [
                self.vertex_rows(anon("V", ids)),
                self.edge_rows(self.edges.everywhere(edge_ids)),
            ],
        )
    }

    /// `t.project(keys…)` with a `by` for each key, and, where claims are locked, the key `c`
    /// with whether the vertex `claimed` leads to (from each row's element) holds a claim
    /// value.
    fn project(self, t: Bytecode, keys: &[&str], bys: Vec<GValue>, claimed: Bytecode) -> Bytecode {
        let locked = self.claims == Claims::Locked;
        let mut keys = keys.to_vec();
        let mut bys = bys;
        if locked {
            keys.push("c");
            bys.push(claims::holds_claim(claimed).into());
        }
        bys.into_iter()
            .fold(t.step("project", keys), |t, by| t.step("by", [by]))
    }

    /// The rows of [`vertices`](Self::vertices) for the vertices `t` answers.
    fn vertex_rows(self, t: Bytecode) -> Bytecode {
        let keys = Bytecode::new()
            .then("properties")
            .then("key")
            .then("dedup")
            .then("fold");
        let bys = vec![
            T::Id.into(),
            T::Label.into(),
            value_or(VERSION_KEY, GValue::Long(-1)).into(),
            value_or(PLACEHOLDER_KEY, GValue::Bool(false)).into(),
            keys.into(),
        ];
        self.project(t, &["i", "l", "v", "p", "k"], bys, Bytecode::new())
    }

    /// The rows of [`edges`](Self::edges) for the edges `t` answers (the claim value is the
    /// from-vertex's: edges are claimed through it).
    fn edge_rows(self, t: Bytecode) -> Bytecode {
        let bys = vec![
            self.edges.id_by(),
            T::Label.into(),
            Bytecode::new().then("outV").then("id").into(),
            Bytecode::new().then("inV").then("id").into(),
            value_or(VERSION_KEY, GValue::Long(-1)).into(),
            Bytecode::new()
                .then("properties")
                .then("key")
                .then("fold")
                .into(),
        ];
        let from = Bytecode::new().then("outV");
        self.project(t, &["i", "l", "o", "n", "v", "k"], bys, from)
    }
}
