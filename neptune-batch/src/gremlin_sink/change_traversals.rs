//! The write of a request of changes (its read is [`change_reads`](super::change_reads)):
//! what the changes change, guarded so that it runs only on the state that was read, in one of
//! two [`Shape`]s: rows merged by id ([`change_merged`](super::change_merged)) or one chained
//! step per row ([`change_chained`](super::change_chained)). Every value is a bytecode
//! argument.
//!
//! # On Amazon Neptune
//!
//! As in [`crate::write_traversals`] (whose notes on Neptune's lists apply here too): the reads
//! are `V()`/`E()` by id with `project()`, `coalesce()`, `values()`, `constant()` and
//! `properties().key()`, all on the always-converted or conditionally converted lists except
//! `coalesce()` outside the upsert pattern and `key()`. The write starts with `inject()`
//! (never converted), so it runs in TinkerPop's engine on Neptune, as the sink's create
//! request does after its `fold()`. The merge shape's newest steps are mid-traversal `E()`
//! (TinkerPop 3.7.0: Neptune engine 1.3.2.0 or newer), `fail()` and `mergeV()`/`mergeE()`
//! (3.6.0); the chained shape's are all in TinkerPop 3.4 (every Neptune engine).
//!
//! Vertex properties are set by `mergeV()`'s `onMatch` map only after the keys are dropped:
//! Neptune's vertex properties have set cardinality by default, where a map value would be
//! added to the old ones instead of replacing them.

use super::change_edges::EdgeLookup;
use super::change_rows::{Create, EdgeDrop, SetValues, Update};
use super::claims::{self, Claims};
use super::{change_chained as chained, change_merged as merge};
use crate::bytecode::{anon, Bytecode};
use crate::graphson::{Cardinality, GValue, Merge, T};
use crate::mutation::{PLACEHOLDER_KEY, VERSION_KEY};

/// What `fail()` says when a guard finds the graph changed since it was read.
pub(super) const GUARD_MESSAGE: &str = "neptune-batch: the graph changed since it was read";

/// `coalesce(values(key), constant(default))`.
pub(super) fn value_or(key: &str, default: GValue) -> Bytecode {
    Bytecode::new().step(
        "coalesce",
        [anon("values", [key]), anon("constant", [default])],
    )
}

/// How the write is encoded: with the sink's [`WriteMode`](crate::WriteMode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// Rows as one list per kind, merged by id with `mergeV`/`mergeE` (TinkerPop 3.6+);
    /// guards fail the request with `fail()`.
    Merge,
    /// One chained step per row, with `addV`/`addE` and lookups from `V()` only (TinkerPop
    /// 3.4+, every Neptune engine): the guard is a filter that leaves the traversal without
    /// an answer, and an element created since the read makes `addV`/`addE` fail.
    Chained,
}

/// The write of one request, step by step.
pub(super) struct WriteTraversal<'a> {
    t: Bytecode,
    shape: Shape,
    /// How edges are found by their ids (see [`EdgeLookup`]).
    edges: EdgeLookup<'a>,
    /// How what was read is claimed (see [`Claims`]).
    claims: Claims,
    /// The vertices dropped to be created again (tombstones raised anew).
    recreated: Vec<String>,
    orphans: bool,
}

impl<'a> WriteTraversal<'a> {
    pub(super) fn new(shape: Shape, edges: EdgeLookup<'a>, claims: Claims) -> Self {
        Self {
            t: Bytecode::new().step("inject", [0i64]),
            shape,
            edges,
            claims,
            recreated: Vec::new(),
            orphans: false,
        }
    }

    fn side_effect(mut self, child: Bytecode) -> Self {
        self.t = self.t.step("sideEffect", [child]);
        self
    }

    /// Stops the request unless `state` (a traversal answering one map) answers `expected`:
    /// `fail()` in the merge shape, a filter in the chained one.
    fn guard(mut self, state: Bytecode, expected: GValue) -> Self {
        self.t = match self.shape {
            Shape::Merge => self.t.step(
                "sideEffect",
                [state
                    .step("is", [GValue::p("neq", expected)])
                    .step("fail", [GUARD_MESSAGE])],
            ),
            Shape::Chained => self
                .t
                .step("where", [state.step("is", [GValue::p("eq", expected)])]),
        };
        self
    }

    /// Claims what the request read, before its guards look at it, so that of two requests
    /// acting on reads the other makes stale, the one that commits second fails with a
    /// conflict and is read and decided again: one raising a tombstone while the other makes a
    /// placeholder from the old one would otherwise both commit. How depends on the engine
    /// ([`Claims`]): on Neptune and TinkerGraph every vertex `ids` and every edge `edge_ids`
    /// (found from `froms` in the chained shape, and with property ids) gets a property that
    /// is removed in the same step, so the transaction has written each element; TinkerGraph
    /// checks at commit only the elements a transaction wrote, and Neptune locks what a
    /// mutation reads. On JanusGraph the vertices `ids` and the edges' `froms` keep a new
    /// claim value under a lock. Claimed first, every element the decision rests on is
    /// checked, and the guards read the request's own copies.
    pub(super) fn claim(self, ids: Vec<GValue>, edge_ids: Vec<GValue>, froms: Vec<GValue>) -> Self {
        let mut w = self;
        if w.claims == Claims::Locked {
            let mut vertices = ids;
            if !edge_ids.is_empty() {
                let froms: Vec<GValue> = froms
                    .into_iter()
                    .filter(|f| !vertices.contains(f))
                    .collect();
                vertices.extend(froms);
            }
            if !vertices.is_empty() {
                let claim = w.claims.claim(anon("V", vertices));
                w = w.side_effect(claim);
            }
            return w;
        }
        if !ids.is_empty() {
            let claim = w.claims.claim(anon("V", ids));
            w = w.side_effect(claim);
        }
        let edges = match (w.shape, w.edges) {
            _ if edge_ids.is_empty() => None,
            (Shape::Merge, EdgeLookup::ServerIds) => Some(anon("E", edge_ids)),
            _ if froms.is_empty() => None,
            _ => Some(w.edges.filter(anon("V", froms).then("outE"), edge_ids)),
        };
        match edges {
            Some(edges) => {
                let claim = w.claims.claim(edges);
                w.side_effect(claim)
            }
            None => w,
        }
    }

    /// Stops the request unless, of the vertices `ids`, those there are exactly the keys of
    /// `expected`, each `true` if it holds a claim value and `false` if not. For locked claims
    /// (JanusGraph), before [`claim`](Self::claim): JanusGraph reads a vertex's existence and
    /// each of its properties one after another, so a transaction can find a vertex there and,
    /// a moment later, its claim value gone with the vertex that another writer's commit just
    /// dropped. Claimed then, the lock would expect no value, find none at commit, and let the
    /// request add edges to a vertex that no longer exists. Looked at first, a value that the
    /// read found and that is gone stops the request; one still there is what the claim's lock
    /// then expects, so a drop committed from then on fails this request at commit. Whether a
    /// value is there, not which: other requests of the same session change the claim value of
    /// a vertex they share as an edge's end, and what they change the other guards compare.
    pub(super) fn guard_claims(self, (ids, expected): (Vec<GValue>, GValue)) -> Self {
        if ids.is_empty() {
            return self;
        }
        let held = anon("V", ids)
            .then("group")
            .step("by", [T::Id])
            .step("by", [claims::holds_claim(Bytecode::new())]);
        self.guard(held, expected)
    }

    /// Stops the request unless the vertices `ids` hold exactly the `versions` (by id, `-1`
    /// for none; a vertex missing from it must not exist) and those among them that are
    /// placeholders are exactly the keys of `placeholders` (each `true`). Two maps of scalars
    /// rather than one of `{v, p}` maps: the server compares maps by sorting their entries,
    /// and a map in each entry made that comparison, with the `project` feeding it, cost
    /// more than twice as much.
    pub(super) fn guard_vertices(
        self,
        ids: Vec<GValue>,
        versions: GValue,
        placeholders: GValue,
    ) -> Self {
        if ids.is_empty() {
            return self;
        }
        let held = anon("V", ids.clone())
            .then("group")
            .step("by", [T::Id])
            .step("by", [value_or(VERSION_KEY, GValue::Long(-1))]);
        let marked = anon("V", ids)
            .step("has", [GValue::from(PLACEHOLDER_KEY), GValue::Bool(true)])
            .then("group")
            .step("by", [T::Id])
            .step("by", [anon("constant", [true])]);
        self.guard(held, versions).guard(marked, placeholders)
    }

    /// Stops the request unless every vertex `ids` is still there.
    pub(super) fn guard_present(self, ids: Vec<GValue>) -> Self {
        if ids.is_empty() {
            return self;
        }
        let n = ids.len() as i64;
        self.guard(anon("V", ids).then("count"), GValue::Long(n))
    }

    /// Stops the request unless the edges `ids` hold exactly `expected` (a map of versions).
    /// The chained shape finds them from their `froms`: an edge neither read nor created
    /// (the delete of an edge that is not there) is left out of its guard. The merge shape
    /// looks for them in the whole graph (with property ids `E().has(key, within(ids))`), so
    /// that an id taken meanwhile by an edge from any vertex stops the request.
    pub(super) fn guard_edges(
        self,
        ids: Vec<GValue>,
        froms: Vec<GValue>,
        expected: GValue,
    ) -> Self {
        if ids.is_empty() {
            return self;
        }
        let edges = match self.shape {
            Shape::Merge => self.edges.everywhere(ids),
            Shape::Chained if froms.is_empty() => return self,
            Shape::Chained => self.edges.filter(anon("V", froms).then("outE"), ids),
        };
        let read = edges
            .then("group")
            .step("by", [self.edges.id_by()])
            .step("by", [value_or(VERSION_KEY, GValue::Long(-1))]);
        self.guard(read, expected)
    }

    /// Drops the vertices `ids` (tombstones about to be raised: they have no edges).
    pub(super) fn drop_vertices(mut self, ids: Vec<String>) -> Self {
        if ids.is_empty() {
            return self;
        }
        self.recreated.extend(ids.iter().cloned());
        self.side_effect(anon("V", ids).then("drop"))
    }

    /// Deletes vertex `id` as of `version`: its edges older than the version (all of them
    /// without one) go, and the vertex goes too if it is older, or stays as a placeholder while
    /// newer edges need it. Placeholders left without edges are dropped by
    /// [`drop_orphans`](Self::drop_orphans).
    pub(super) fn delete_vertex(mut self, id: &str, version: Option<u64>) -> Self {
        let older = |t: Bytecode| match version {
            Some(v) => t.step(
                "or",
                [
                    anon("hasNot", [VERSION_KEY]),
                    anon(
                        "has",
                        [GValue::from(VERSION_KEY), GValue::p("lt", v as i64)],
                    ),
                ],
            ),
            None => t,
        };
        self = self.register_orphans();
        // The ends other than the vertex, by id: `otherV()` would make the server keep every
        // traverser's whole path (and hash it, rows and all, at every step).
        let others = || {
            anon("bothV", Vec::<GValue>::new()).step("hasId", [GValue::p("neq", GValue::from(id))])
        };
        // Dropping an edge changes its other end too, which this request did not read.
        let edges = older(anon("V", [id]).then("bothE"));
        let edges = self
            .claims
            .claim_ends_of(edges, others())
            .step("sideEffect", [note_placeholders(others())])
            .then("drop");
        let placeholder = Bytecode::new()
            .step(
                "sideEffect",
                [self.claims.droppable_properties().then("drop")],
            )
            .step(
                "property",
                [GValue::from(PLACEHOLDER_KEY), GValue::Bool(true)],
            );
        let vertex = older(anon("V", [id])).step(
            "choose",
            [
                GValue::from(
                    anon("bothE", Vec::<GValue>::new())
                        .step("limit", [1i64])
                        .then("count")
                        .step("is", [0i64]),
                ),
                GValue::from(Bytecode::new().then("drop")),
                GValue::from(placeholder),
            ],
        );
        self.side_effect(edges).side_effect(vertex)
    }

    /// Makes sure the side effect `orphans` exists, empty, before anything reads it.
    fn register_orphans(mut self) -> Self {
        if !self.orphans {
            self.orphans = true;
            self = self.side_effect(
                Bytecode::new()
                    .step("limit", [0i64])
                    .step("aggregate", ["orphans"]),
            );
        }
        self
    }

    /// Creates vertices (tombstones and placeholders too).
    pub(super) fn create_vertices(self, mut rows: Vec<Create>) -> Self {
        if rows.is_empty() {
            return self;
        }
        // A vertex dropped and made again in one transaction keeps no id in the unique index:
        // JanusGraph checks the index as stored, where the dropped vertex still holds it. It
        // existed, so it was claimed under the lock instead.
        for row in &mut rows {
            let recreated = self.recreated.contains(&row.id);
            let values = self.claims.created_vertex_values(&row.id, recreated);
            row.values.extend(values);
        }
        match self.shape {
            Shape::Merge => {
                let rows = rows.iter().map(merge::create_row).collect();
                self.side_effect(merge::rows("mergeV", rows, Merge::OnCreate))
            }
            Shape::Chained => rows.iter().fold(self, |w, r| {
                w.side_effect(chained::create(r, GValue::T(T::Id)))
            }),
        }
    }

    /// Drops the keys of each update, then sets its values (the vertices exist: the guard saw
    /// them).
    pub(super) fn update_vertices(self, rows: Vec<Update>) -> Self {
        if rows.is_empty() {
            return self;
        }
        match self.shape {
            Shape::Merge => {
                let rows: Vec<GValue> = rows.iter().map(merge::update_row).collect();
                self.side_effect(merge::drop_keys("mergeV", rows.clone()))
                    .side_effect(merge::rows("mergeV", rows, Merge::OnMatch))
            }
            Shape::Chained => rows.iter().fold(self, |w, r| {
                w.side_effect(chained::update(anon("V", [&r.id]), r))
            }),
        }
    }

    /// Adds each value of a set-valued property to its vertex with set cardinality.
    pub(super) fn add_set_values(self, rows: Vec<SetValues>) -> Self {
        if rows.is_empty() {
            return self;
        }
        match self.shape {
            Shape::Merge => self.side_effect(merge::add_set_values(rows)),
            Shape::Chained => rows.iter().fold(self, |w, r| {
                let add = r.values.iter().fold(anon("V", [&r.id]), |t, (k, v)| {
                    t.step(
                        "property",
                        [
                            GValue::Cardinality(Cardinality::Set),
                            GValue::from(k),
                            v.clone(),
                        ],
                    )
                });
                w.side_effect(add)
            }),
        }
    }

    /// Creates edges (their ends exist: read, or created just before).
    pub(super) fn create_edges(self, rows: Vec<Create>) -> Self {
        if rows.is_empty() {
            return self;
        }
        match self.shape {
            Shape::Merge => {
                let rows = rows
                    .iter()
                    .map(|r| merge::create_edge_row(r, self.edges))
                    .collect();
                self.side_effect(merge::rows("mergeE", rows, Merge::OnCreate))
            }
            Shape::Chained => {
                let key = self.edges.id_key();
                rows.iter()
                    .fold(self, |w, r| w.side_effect(chained::create(r, key.clone())))
            }
        }
    }

    /// Drops the keys gone from each edge, then sets its values.
    pub(super) fn update_edges(self, rows: Vec<Update>) -> Self {
        if rows.is_empty() {
            return self;
        }
        match self.shape {
            Shape::Merge => {
                let rows: Vec<GValue> = rows
                    .iter()
                    .map(|r| merge::update_edge_row(r, self.edges))
                    .collect();
                let with_drops: Vec<GValue> = rows
                    .iter()
                    .filter(|r| matches!(r.get("d"), Some(GValue::List(d)) if !d.is_empty()))
                    .cloned()
                    .collect();
                let t = if with_drops.is_empty() {
                    self
                } else {
                    self.side_effect(merge::drop_keys("mergeE", with_drops))
                };
                t.side_effect(merge::rows("mergeE", rows, Merge::OnMatch))
            }
            Shape::Chained => rows.iter().fold(self, |w, r| {
                let from = r.from.as_deref().unwrap_or_default();
                let edge = w.edges.out_of(from, &r.id);
                w.side_effect(chained::update(edge, r))
            }),
        }
    }

    /// Drops edges, and notes their placeholder ends for [`drop_orphans`](Self::drop_orphans).
    pub(super) fn drop_edges(mut self, rows: Vec<EdgeDrop>) -> Self {
        if rows.is_empty() {
            return self;
        }
        self = self.register_orphans();
        let claims = self.claims;
        let drop = |edges: Bytecode| {
            // The request claimed each edge through its from-vertex only. Its other end may be
            // a placeholder that this drop leaves without edges, which another writer may
            // complete meanwhile: claimed before it is looked at, a completed vertex is never
            // dropped as an orphan.
            let ends = || anon("bothV", Vec::<GValue>::new());
            claims
                .claim_ends_of(edges, ends())
                .step("sideEffect", [note_placeholders(ends())])
                .then("drop")
        };
        match (self.shape, self.edges) {
            (Shape::Merge, EdgeLookup::ServerIds) => {
                let ids: Vec<GValue> = rows.iter().map(|r| GValue::from(&r.id)).collect();
                self.side_effect(drop(anon("E", ids)))
            }
            // With property ids from the edges' from-vertices: the guard has made sure that
            // no other edge holds one of these ids.
            (Shape::Merge, EdgeLookup::Property(_)) => {
                let ids: Vec<GValue> = rows.iter().map(|r| GValue::from(&r.id)).collect();
                let froms: std::collections::BTreeSet<&str> =
                    rows.iter().map(|r| r.from.as_str()).collect();
                let edges = self.edges.filter(anon("V", froms).then("outE"), ids);
                self.side_effect(drop(edges))
            }
            (Shape::Chained, _) => rows.iter().fold(self, |w, r| {
                let edges = w.edges.out_of(&r.from, &r.id);
                w.side_effect(drop(edges))
            }),
        }
    }

    /// Drops the placeholders among `ids` (and those noted by deletes) that no edge needs.
    pub(super) fn drop_orphans(self, ids: Vec<String>) -> Self {
        let orphans = |vertices: Bytecode| {
            vertices
                .step("has", [GValue::from(PLACEHOLDER_KEY), GValue::Bool(true)])
                .step("not", [anon("bothE", Vec::<GValue>::new())])
                .then("drop")
        };
        let noted = self.orphans;
        let mut t = self;
        if !ids.is_empty() {
            t = t.side_effect(orphans(anon("V", ids)));
        }
        if noted {
            // Checked again: a placeholder noted by a delete may have been completed by an
            // upsert of the same request since.
            t = t.side_effect(orphans(
                anon("select", ["orphans"]).then("unfold").then("dedup"),
            ));
        }
        t
    }

    /// The traversal: it answers nothing in the merge shape; in the chained one, `true` when
    /// its guards let it write.
    pub(super) fn build(self) -> Bytecode {
        match self.shape {
            Shape::Merge => self.t.then("none"),
            Shape::Chained => self.t.step("constant", [true]),
        }
    }
}

/// `<ends>.has('_placeholder', true).aggregate('orphans')`: notes the placeholder ends of
/// an edge about to go.
fn note_placeholders(ends: Bytecode) -> Bytecode {
    ends.step("has", [GValue::from(PLACEHOLDER_KEY), GValue::Bool(true)])
        .step("aggregate", ["orphans"])
}

/// `g.V().hasLabel('_tombstone').has('_deleted_at', lt(before)).limit(n)`, dropped, counted:
/// one bounded transaction of tombstone purging.
pub(super) fn purge_tombstones(before_millis: i64, n: i64) -> Bytecode {
    Bytecode::new()
        .then("V")
        .step("hasLabel", [crate::mutation::TOMBSTONE_LABEL])
        .step(
            "has",
            [
                GValue::from(crate::mutation::DELETED_AT_KEY),
                GValue::p("lt", GValue::Date(before_millis)),
            ],
        )
        .step("limit", [n])
        .step("sideEffect", [Bytecode::new().then("drop")])
        .then("count")
}
