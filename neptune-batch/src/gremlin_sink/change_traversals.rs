//! The traversals of a request of changes: the read of the state the changes depend on, and the
//! write of what they change, guarded so that it runs only on the state that was read. Every
//! value is a bytecode argument; the rows go as one list per kind of write, merged by id.
//!
//! # On Amazon Neptune
//!
//! As in [`crate::write_traversals`] (whose notes on Neptune's lists apply here too): the reads
//! are `V()`/`E()` by id with `project()`, `coalesce()`, `values()`, `constant()` and
//! `properties().key()`, all on the always-converted or conditionally converted lists except
//! `coalesce()` outside the upsert pattern and `key()`. The write starts with `inject()`
//! (never converted), so it runs in TinkerPop's engine on Neptune, as the sink's create
//! request does after its `fold()`. Its newest steps are mid-traversal `E()` (TinkerPop
//! 3.7.0: Neptune engine 1.3.2.0 or newer) and `fail()` (3.6.0).
//!
//! Vertex properties are set by `mergeV()`'s `onMatch` map only after the keys are dropped:
//! Neptune's vertex properties have set cardinality by default, where a map value would be
//! added to the old ones instead of replacing them.

use crate::bytecode::{anon, Bytecode};
use crate::graphson::{Cardinality, GValue, Merge, T};
use crate::mutation::{PLACEHOLDER_KEY, VERSION_KEY};

/// What `fail()` says when a guard finds the graph changed since it was read.
pub(super) const GUARD_MESSAGE: &str = "neptune-batch: the graph changed since it was read";

/// `coalesce(values(key), constant(default))`.
fn value_or(key: &str, default: GValue) -> Bytecode {
    Bytecode::new().step(
        "coalesce",
        [anon("values", [key]), anon("constant", [default])],
    )
}

/// `g.V(ids).project('i','l','v','p','k')`: each vertex's id, label, version (`-1`: none),
/// whether it is a placeholder, and its property keys.
pub(super) fn read_vertices(ids: Vec<GValue>) -> Bytecode {
    Bytecode::new()
        .step("V", ids)
        .step("project", ["i", "l", "v", "p", "k"])
        .step("by", [T::Id])
        .step("by", [T::Label])
        .step("by", [value_or(VERSION_KEY, GValue::Long(-1))])
        .step("by", [value_or(PLACEHOLDER_KEY, GValue::Bool(false))])
        .step(
            "by",
            [Bytecode::new()
                .then("properties")
                .then("key")
                .then("dedup")
                .then("fold")],
        )
}

/// `g.E(ids).project('i','l','o','n','v','k')`: each edge's id, label, ends, version and
/// property keys.
pub(super) fn read_edges(ids: Vec<GValue>) -> Bytecode {
    Bytecode::new()
        .step("E", ids)
        .step("project", ["i", "l", "o", "n", "v", "k"])
        .step("by", [T::Id])
        .step("by", [T::Label])
        .step("by", [Bytecode::new().then("outV").then("id")])
        .step("by", [Bytecode::new().then("inV").then("id")])
        .step("by", [value_or(VERSION_KEY, GValue::Long(-1))])
        .step(
            "by",
            [Bytecode::new().then("properties").then("key").then("fold")],
        )
}

/// The write of one request, step by step.
pub(super) struct WriteTraversal {
    t: Bytecode,
    orphans: bool,
}

impl WriteTraversal {
    pub(super) fn new() -> Self {
        Self {
            t: Bytecode::new().step("inject", [0i64]),
            orphans: false,
        }
    }

    fn side_effect(mut self, child: Bytecode) -> Self {
        self.t = self.t.step("sideEffect", [child]);
        self
    }

    /// Fails the request unless the vertices `ids` hold exactly `expected` (by id: a map of
    /// version and placeholder flag; a vertex missing from it must not exist).
    pub(super) fn guard_vertices(self, ids: Vec<GValue>, expected: GValue) -> Self {
        if ids.is_empty() {
            return self;
        }
        let state = Bytecode::new()
            .step("project", ["v", "p"])
            .step("by", [value_or(VERSION_KEY, GValue::Long(-1))])
            .step("by", [value_or(PLACEHOLDER_KEY, GValue::Bool(false))]);
        self.side_effect(
            anon("V", ids)
                .then("group")
                .step("by", [T::Id])
                .step("by", [state])
                .step("is", [GValue::p("neq", expected)])
                .step("fail", [GUARD_MESSAGE]),
        )
    }

    /// Fails the request unless the edges `ids` hold exactly `expected` (a map of versions).
    pub(super) fn guard_edges(self, ids: Vec<GValue>, expected: GValue) -> Self {
        if ids.is_empty() {
            return self;
        }
        self.side_effect(
            anon("E", ids)
                .then("group")
                .step("by", [T::Id])
                .step("by", [value_or(VERSION_KEY, GValue::Long(-1))])
                .step("is", [GValue::p("neq", expected)])
                .step("fail", [GUARD_MESSAGE]),
        )
    }

    /// Drops the vertices `ids` (tombstones about to be raised: they have no edges).
    pub(super) fn drop_vertices(self, ids: Vec<GValue>) -> Self {
        if ids.is_empty() {
            return self;
        }
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
        let edges = older(anon("V", [id]).then("bothE"))
            .step(
                "sideEffect",
                [anon("otherV", Vec::<GValue>::new())
                    .step("has", [GValue::from(PLACEHOLDER_KEY), GValue::Bool(true)])
                    .step("aggregate", ["orphans"])],
            )
            .then("drop");
        let placeholder = Bytecode::new()
            .step(
                "sideEffect",
                [anon("properties", Vec::<GValue>::new()).then("drop")],
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

    /// `constant(rows).unfold().mergeV(select('m')).option(onCreate, select('c'))`: creates
    /// vertices (tombstones and placeholders too) from rows `{m, c}`.
    pub(super) fn create_vertices(self, rows: Vec<GValue>) -> Self {
        if rows.is_empty() {
            return self;
        }
        self.side_effect(merge_rows("mergeV", rows, Some(Merge::OnCreate)))
    }

    /// For rows `{m, d, u}`: drops each vertex's properties named in `d`, then sets the
    /// properties of `u` with `onMatch` (the vertices exist: the guard saw them).
    pub(super) fn update_vertices(self, rows: Vec<GValue>) -> Self {
        if rows.is_empty() {
            return self;
        }
        self.side_effect(drop_keys("mergeV", rows.clone()))
            .side_effect(merge_rows("mergeV", rows, Some(Merge::OnMatch)))
    }

    /// For rows `{m, s}`: adds each value of `s` (`[{k, v}…]`) to its vertex with set
    /// cardinality.
    pub(super) fn add_set_values(self, rows: Vec<GValue>) -> Self {
        if rows.is_empty() {
            return self;
        }
        let add = anon("constant", [GValue::List(rows)])
            .then("unfold")
            .step("as", ["r"])
            .step("mergeV", [anon("select", ["m"])])
            .step("option", [GValue::Merge(Merge::OnCreate), changed()])
            .step("as", ["x"])
            .step("select", ["r"])
            .step("select", ["s"])
            .then("unfold")
            .step("as", ["kv"])
            .step("select", ["x"])
            .step(
                "property",
                [
                    GValue::Cardinality(Cardinality::Set),
                    anon("select", ["kv"]).step("select", ["k"]).into(),
                    anon("select", ["kv"]).step("select", ["v"]).into(),
                ],
            );
        self.side_effect(add)
    }

    /// Creates edges from rows `{m, c}` (their ends exist: read, or created just before).
    pub(super) fn create_edges(self, rows: Vec<GValue>) -> Self {
        if rows.is_empty() {
            return self;
        }
        self.side_effect(merge_rows("mergeE", rows, Some(Merge::OnCreate)))
    }

    /// For rows `{m, d, u}`: drops each edge's properties named in `d`, then sets `u`.
    pub(super) fn update_edges(self, rows: Vec<GValue>) -> Self {
        if rows.is_empty() {
            return self;
        }
        let with_drops: Vec<GValue> = rows
            .iter()
            .filter(|r| matches!(r.get("d"), Some(GValue::List(d)) if !d.is_empty()))
            .cloned()
            .collect();
        let t = if with_drops.is_empty() {
            self
        } else {
            self.side_effect(drop_keys("mergeE", with_drops))
        };
        t.side_effect(merge_rows("mergeE", rows, Some(Merge::OnMatch)))
    }

    /// Drops the edges `ids`, and notes their placeholder ends for
    /// [`drop_orphans`](Self::drop_orphans).
    pub(super) fn drop_edges(mut self, ids: Vec<GValue>) -> Self {
        if ids.is_empty() {
            return self;
        }
        self = self.register_orphans();
        self.side_effect(
            anon("E", ids)
                .step(
                    "sideEffect",
                    [anon("bothV", Vec::<GValue>::new())
                        .step("has", [GValue::from(PLACEHOLDER_KEY), GValue::Bool(true)])
                        .step("aggregate", ["orphans"])],
                )
                .then("drop"),
        )
    }

    /// Drops the placeholders among `ids` (and those noted by deletes) that no edge needs.
    pub(super) fn drop_orphans(self, ids: Vec<GValue>) -> Self {
        let noted = self.orphans;
        let mut t = self;
        if !ids.is_empty() {
            t = t.side_effect(
                anon("V", ids)
                    .step("has", [GValue::from(PLACEHOLDER_KEY), GValue::Bool(true)])
                    .step("not", [anon("bothE", Vec::<GValue>::new())])
                    .then("drop"),
            );
        }
        if noted {
            t = t.side_effect(
                anon("select", ["orphans"])
                    .then("unfold")
                    .then("dedup")
                    .step("not", [anon("bothE", Vec::<GValue>::new())])
                    .then("drop"),
            );
        }
        t
    }

    /// The traversal, answering nothing.
    pub(super) fn build(self) -> Bytecode {
        self.t.then("none")
    }
}

/// `fail(GUARD_MESSAGE)`, as a merge option: the element was expected the other way round.
fn changed() -> GValue {
    anon("fail", [GUARD_MESSAGE]).into()
}

/// `constant(rows).unfold().<step>(select('m'))` creating from `select('c')` (`OnCreate`) or
/// updating with `select('u')` (`OnMatch`). The other case fails the request: the element was
/// created, or went, since it was read. The guard saw it as expected, but a graph that reads
/// only what is committed may see another writer's commit between the guard and the merge.
fn merge_rows(step: &str, rows: Vec<GValue>, option: Option<Merge>) -> Bytecode {
    let t = anon("constant", [GValue::List(rows)])
        .then("unfold")
        .step(step, [anon("select", ["m"])]);
    match option {
        Some(Merge::OnCreate) => t
            .step(
                "option",
                [GValue::Merge(Merge::OnCreate), anon("select", ["c"]).into()],
            )
            .step("option", [GValue::Merge(Merge::OnMatch), changed()]),
        Some(_) => t
            .step(
                "option",
                [GValue::Merge(Merge::OnMatch), anon("select", ["u"]).into()],
            )
            .step("option", [GValue::Merge(Merge::OnCreate), changed()]),
        None => t,
    }
}

/// For each row `{m, d}`: the element merged by `m` loses its properties whose keys are in `d`.
fn drop_keys(step: &str, rows: Vec<GValue>) -> Bytecode {
    anon("constant", [GValue::List(rows)])
        .then("unfold")
        .step("as", ["r"])
        .step("select", ["d"])
        .step("as", ["d"])
        .step("select", ["r"])
        .step(step, [anon("select", ["m"])])
        .step("option", [GValue::Merge(Merge::OnCreate), changed()])
        .then("properties")
        .step("where", [GValue::p("within", "d")])
        .step("by", [T::Key])
        .then("by")
        .then("drop")
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
