//! The traversals each write mode sends. Every value is a bytecode argument: no Groovy, no
//! lambdas.
//!
//! # On Amazon Neptune
//!
//! Neptune runs a traversal on its own engine when every step converts, and falls back to
//! TinkerPop's step-by-step execution from the first step that does not ("Native Gremlin step
//! support in Amazon Neptune"). The local server cannot show which happens, so each builder
//! below notes its steps against that page's lists as read for engines 1.3.x (TinkerPop
//! 3.7.1–3.7.3; no step or argument form here is newer than 3.6). What the page lists:
//!
//! * always converted: `E()`, `V()`, `project()` (with its `by()` modulators), `count()`,
//!   `is()`, `limit()`, `not()`, `or()`, `and()`, `as()`, `identity()`;
//! * converted in some cases: `addE()`/`addV()` (unless followed by a `property()` whose key
//!   is a traversal: every key here is a constant), `coalesce()` (only in the documented
//!   upsert pattern `fold().coalesce(unfold(), addE…)`, which is exactly the original's
//!   conditional idiom);
//! * `mergeE()`/`mergeV()` (engine 1.2.1.0+): the upsert guide ("Efficient upserts with Gremlin
//!   mergeV() and mergeE() steps") recommends them over `coalesce()` and batching them;
//!   `inject()`, `unfold()`, `fold()`, `constant()`, `select()`, `sideEffect()`, `option()`,
//!   `none()`, `outV()`/`inV()`, `id()` are not on the always-converted list as read, so how
//!   much of a merge request runs natively is to be confirmed with Neptune's `explain` on a
//!   cluster before relying on these figures there.
//!
//! Why the merge shape is the one below and not another: measured on the local server
//! (`cargo bench -p stream2neptune-benches --bench neptune_write`, section "write shapes"),
//! see the crate's README for the figures. Neptune's guide suggests about 200 "records" per
//! request to start with (a follows edge is three: its label and two properties), which the
//! adaptive batch size starts near (100 edges) and grows from while requests stay quick.

use crate::bytecode::{anon, Bytecode};
use crate::graphson::{Direction, GValue, Merge, T};
use crate::gremlin_sink::EdgeIdentity;
use crate::hubs_last::hubs_last;
use crate::model::{Edge, PropertyValue, Vertex};

/// How items are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WriteMode {
    /// The original's plain create: one chained traversal of
    /// `V(from).addE(label).to(__.V(to)).property(T.id, id).property(k, v)…` per item. Not
    /// idempotent by itself: an existing id is an error (isolated by bisection).
    Plain,
    /// The original's conditional create, exactly:
    /// `V(from).outE(label).hasId(id).fold().coalesce(__.unfold(), __.V(from).addE(label)…)`
    /// chained per item. Idempotent, but its existence check walks every out-edge of the
    /// from-vertex.
    Conditional,
    /// `g.inject(rows).unfold().mergeE(__.select('m')).option(Merge.onCreate, __.select('c'))`
    /// (and `mergeV` for vertices) where `m` is `[(T.id): id]` and `c` holds the label, the
    /// endpoints and the properties: one step per item, idempotent, keyed by `T.id` alone, so
    /// the existence check is a lookup by id (TinkerPop 3.6+, Neptune 1.2.1+).
    #[default]
    Merge,
}

impl WriteMode {
    /// The mode's name: `plain`, `conditional`, `merge`.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Plain => "plain",
            WriteMode::Conditional => "conditional",
            WriteMode::Merge => "merge",
        }
    }
}

impl std::str::FromStr for WriteMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "plain" => Ok(WriteMode::Plain),
            "conditional" => Ok(WriteMode::Conditional),
            "merge" => Ok(WriteMode::Merge),
            other => Err(format!(
                "unknown write mode {other:?}: expected plain, conditional or merge"
            )),
        }
    }
}

fn with_properties(mut t: Bytecode, properties: &[(String, PropertyValue)]) -> Bytecode {
    for (k, v) in properties {
        t.push("property", vec![GValue::from(k), GValue::from(v)]);
    }
    t
}

fn property_map(properties: &[(String, PropertyValue)]) -> Vec<(GValue, GValue)> {
    properties
        .iter()
        .map(|(k, v)| (GValue::from(k), GValue::from(v)))
        .collect()
}

/// The key an edge's id is written under: `T.id`, or the identity's property.
fn id_key(identity: &EdgeIdentity) -> GValue {
    match identity.key() {
        None => GValue::T(T::Id),
        Some(key) => GValue::from(key),
    }
}

/// The original's `addE` chain for one edge, appended to `t` (the id in `T.id`, or in the
/// identity's property).
fn add_edge(t: Bytecode, e: &Edge, identity: &EdgeIdentity) -> Bytecode {
    let t = t
        .step("V", [&e.from])
        .step("addE", [&e.label])
        .step("to", [anon("V", [&e.to])])
        .step("property", [id_key(identity), GValue::from(&e.id)]);
    with_properties(t, &e.properties)
}

/// `hasId(id)`, or `has(key, id)` with property ids: the filter that keeps an edge by its id.
fn has_edge_id(t: Bytecode, id: &str, identity: &EdgeIdentity) -> Bytecode {
    match identity.key() {
        None => t.step("hasId", [id]),
        Some(key) => t.step("has", [key, id]),
    }
}

/// The traversal writing `edges` in `mode`.
///
/// Neptune: `plain` is `V()` (always converted), `addE()` (converted: its `property()` keys are
/// constants), `to(__.V())`, `property()`; `conditional` adds `outE()`, `hasId()`, `fold()`
/// and `coalesce(unfold(), addE…)`, the upsert pattern Neptune converts; `merge` is
/// `inject(rows).unfold().mergeE(select('m')).option(onCreate, select('c')).none()`, see the
/// module notes.
///
/// With [`EdgeIdentity::PropertyIds`] the id goes in the identity's property instead of
/// `T.id`: `conditional` filters with `has(key, id)` instead of `hasId(id)`, and `merge`
/// searches `[OUT: from, T.label: label, key: id]` (see [`edge_rows`]).
pub(crate) fn write_edges(mode: WriteMode, edges: &[&Edge], identity: &EdgeIdentity) -> Bytecode {
    match mode {
        WriteMode::Plain => edges
            .iter()
            .fold(Bytecode::new(), |t, e| add_edge(t, e, identity))
            .then("none"),
        WriteMode::Conditional => edges
            .iter()
            .fold(Bytecode::new(), |t, e| {
                has_edge_id(
                    t.step("V", [&e.from]).step("outE", [&e.label]),
                    &e.id,
                    identity,
                )
                .then("fold")
                .step(
                    "coalesce",
                    [
                        GValue::from(Bytecode::new().then("unfold")),
                        GValue::from(add_edge(Bytecode::new(), e, identity)),
                    ],
                )
            })
            .then("none"),
        WriteMode::Merge => {
            merge_rows("mergeE", inject(edge_rows(&hubs_last(edges), identity))).then("none")
        }
    }
}

/// `g.inject(rows)`: the rows as one traverser holding the list.
fn inject(rows: Vec<GValue>) -> Bytecode {
    Bytecode::new().step("inject", [GValue::List(rows)])
}

/// Appends `unfold().<step>(__.select('m')).option(Merge.onCreate, __.select('c'))`: one merge
/// per row of the list in hand.
fn merge_rows(step: &str, t: Bytecode) -> Bytecode {
    t.then("unfold").step(step, [anon("select", ["m"])]).step(
        "option",
        [GValue::Merge(Merge::OnCreate), anon("select", ["c"]).into()],
    )
}

/// The `{m: [(T.id): id], c: create}` row that [`merge_rows`] merges: the search is by id
/// alone, everything else goes in the create map.
fn merge_row(id: &str, create: Vec<(GValue, GValue)>) -> GValue {
    GValue::Map(vec![
        (
            "m".into(),
            GValue::Map(vec![(GValue::T(T::Id), GValue::from(id))]),
        ),
        ("c".into(), GValue::Map(create)),
    ])
}

/// One row per edge for `mergeE`.
///
/// With property ids the search is `[OUT: from, T.label: label, key: id]` and the create map
/// adds `IN` and the properties: TinkerPop's `mergeE` starts a search that names `OUT` from
/// that vertex (`V(from).outE(label).has(key, id)`), so it reads the from-vertex's out-edges
/// of that label, not the whole graph, and needs no index. `IN` is left out of the search on
/// purpose: an edge with the id to another vertex is matched (and reported a conflict by the
/// checked read) rather than joined by a second edge with the same id.
fn edge_rows(edges: &[&Edge], identity: &EdgeIdentity) -> Vec<GValue> {
    if let Some(key) = identity.key() {
        return edges
            .iter()
            .map(|e| {
                let search = vec![
                    (GValue::Direction(Direction::Out), GValue::from(&e.from)),
                    (GValue::T(T::Label), GValue::from(&e.label)),
                    (GValue::from(key), GValue::from(&e.id)),
                ];
                let mut create = vec![(GValue::Direction(Direction::In), GValue::from(&e.to))];
                create.extend(property_map(&e.properties));
                GValue::Map(vec![
                    ("m".into(), GValue::Map(search)),
                    ("c".into(), GValue::Map(create)),
                ])
            })
            .collect();
    }
    edges
        .iter()
        .map(|e| {
            // Label, OUT and IN go in the create map, not the search: Gremlin Server runs a
            // traversal per row for the search, and each would add a filter to it
            // (`E(id).hasLabel(l).where(outV().hasId(f)).where(inV().hasId(t))`), while the
            // id already names the edge.
            let mut create = vec![
                (GValue::T(T::Label), GValue::from(&e.label)),
                (GValue::Direction(Direction::Out), GValue::from(&e.from)),
                (GValue::Direction(Direction::In), GValue::from(&e.to)),
            ];
            create.extend(property_map(&e.properties));
            merge_row(&e.id, create)
        })
        .collect()
}

/// One row per vertex for `mergeV`.
fn vertex_rows(vertices: &[&Vertex]) -> Vec<GValue> {
    vertices
        .iter()
        .map(|v| {
            let mut create = vec![(GValue::T(T::Label), GValue::from(&v.label))];
            create.extend(property_map(&v.properties));
            merge_row(&v.id, create)
        })
        .collect()
}

/// The merge of `edges` that also answers which of them existed before it, in one request
/// (one transaction, so the answer and the write see the same graph):
///
/// ```text
/// g.E(ids).project('i','o','n').by(T.id).by(outV().id()).by(inV().id()).fold()
///  .sideEffect(__.constant(rows).unfold().mergeE(__.select('m')).option(Merge.onCreate, __.select('c')))
/// ```
///
/// The answer is one list: the edges found, with their endpoints. Merging an edge that exists
/// changes nothing, so every row can be merged; an edge whose endpoint is missing fails the
/// whole request (`mergeE` cannot create it), and the caller then examines the sub-batch item
/// by item. With `create_missing` (a vertex label), the endpoints are merged first, in the same
/// request, so missing ones are created instead. Every step is plain TinkerPop 3.6 that
/// Neptune runs. Neptune: `E()` and `project()` are on the always-converted list; `fold()`,
/// `sideEffect()`, `constant()`, `unfold()`, `select()` and `mergeE()`/`mergeV()` with
/// `option()` are not on it as read (see the module notes): the existence read converts, the
/// merges may run in TinkerPop's engine.
///
/// With property ids the read is [`existing_edges_by_property`] and the rows search by the
/// from-vertex (see [`edge_rows`]).
pub(crate) fn merge_edges_checked(
    edges: &[&Edge],
    create_missing: Option<&str>,
    identity: &EdgeIdentity,
) -> Bytecode {
    let mut t = find_edges(edges, identity).then("fold");
    if let Some(label) = create_missing {
        let mut seen = std::collections::HashSet::new();
        let endpoints: Vec<GValue> = edges
            .iter()
            .flat_map(|e| [&e.from, &e.to])
            .filter(|v| seen.insert(v.as_str()))
            .map(|v| merge_row(v, vec![(GValue::T(T::Label), GValue::from(label))]))
            .collect();
        let endpoints = anon("constant", [GValue::List(endpoints)]);
        t = t.step("sideEffect", [merge_rows("mergeV", endpoints)]);
    }
    // In the order given: the writer orders a checked merge's items itself (hubs last) and
    // keeps that order through the cuts of a conflicting request.
    let rows = anon("constant", [GValue::List(edge_rows(edges, identity))]);
    t.step("sideEffect", [merge_rows("mergeE", rows)])
}

/// The read of which of `edges` exist, by the identity: [`existing_edges`] with server ids,
/// [`existing_edges_by_property`] with property ids.
pub(crate) fn find_edges(edges: &[&Edge], identity: &EdgeIdentity) -> Bytecode {
    match identity.key() {
        None => existing_edges(edges.iter().map(|e| GValue::from(&e.id)).collect()),
        Some(key) => existing_edges_by_property(edges, key),
    }
}

/// `g.V(froms).outE(labels).has(key, within(ids)).project('i','o','n','l').by(key)
/// .by(outV().id()).by(inV().id()).by(T.label)`: the out-edges of the edges' from-vertices
/// that carry one of their ids, with their endpoints and label. The from-vertices and labels
/// are each named once. The rows may include an edge with an item's id from another item's
/// from-vertex: the caller matches rows on id, from and label.
pub(crate) fn existing_edges_by_property(edges: &[&Edge], key: &str) -> Bytecode {
    let distinct = |f: fn(&Edge) -> &String| {
        let mut seen = std::collections::HashSet::new();
        edges
            .iter()
            .map(|e| f(e))
            .filter(|v| seen.insert(v.as_str()))
            .map(GValue::from)
            .collect::<Vec<_>>()
    };
    let ids = GValue::List(distinct(|e| &e.id));
    Bytecode::new()
        .step("V", distinct(|e| &e.from))
        .step("outE", distinct(|e| &e.label))
        .step("has", [GValue::from(key), GValue::p("within", ids)])
        .step("project", ["i", "o", "n", "l"])
        .step("by", [key])
        .step("by", [Bytecode::new().then("outV").then("id")])
        .step("by", [Bytecode::new().then("inV").then("id")])
        .step("by", [T::Label])
}

/// [`merge_edges_checked`] for vertices: `g.V(ids).project('i','l').by(T.id).by(T.label)
/// .fold().sideEffect(__.constant(rows).unfold().mergeV(…)…)`, answering the vertices found
/// with their labels.
pub(crate) fn merge_vertices_checked(vertices: &[&Vertex]) -> Bytecode {
    let ids = vertices.iter().map(|v| GValue::from(&v.id)).collect();
    let rows = anon("constant", [GValue::List(vertex_rows(vertices))]);
    existing_vertices(ids)
        .then("fold")
        .step("sideEffect", [merge_rows("mergeV", rows)])
}

/// The traversal writing `vertices` in `mode`.
pub(crate) fn write_vertices(mode: WriteMode, vertices: &[&Vertex]) -> Bytecode {
    let add_vertex = |t: Bytecode, v: &Vertex| {
        let t = t
            .step("addV", [&v.label])
            .step("property", [GValue::T(T::Id), GValue::from(&v.id)]);
        with_properties(t, &v.properties)
    };
    match mode {
        WriteMode::Plain => vertices
            .iter()
            .fold(Bytecode::new(), |t, v| add_vertex(t, v))
            .then("none"),
        WriteMode::Conditional => vertices
            .iter()
            .fold(Bytecode::new(), |t, v| {
                t.step("V", [&v.id]).then("fold").step(
                    "coalesce",
                    [
                        GValue::from(Bytecode::new().then("unfold")),
                        GValue::from(add_vertex(Bytecode::new(), v)),
                    ],
                )
            })
            .then("none"),
        WriteMode::Merge => merge_rows("mergeV", inject(vertex_rows(vertices))).then("none"),
    }
}

/// `g.E(ids).project('i','o','n').by(T.id).by(outV().id()).by(inV().id())`: the edges that
/// exist, with their endpoints.
pub(crate) fn existing_edges(ids: Vec<GValue>) -> Bytecode {
    Bytecode::new()
        .step("E", ids)
        .step("project", ["i", "o", "n"])
        .step("by", [T::Id])
        .step("by", [Bytecode::new().then("outV").then("id")])
        .step("by", [Bytecode::new().then("inV").then("id")])
}

/// `g.V(ids).count()`: how many of the vertices exist.
pub(crate) fn count_vertices(ids: Vec<GValue>) -> Bytecode {
    Bytecode::new().step("V", ids).then("count")
}

/// `g.V(ids).id()`: the ids of the vertices that exist.
pub(crate) fn present_vertices(ids: Vec<GValue>) -> Bytecode {
    Bytecode::new().step("V", ids).then("id")
}

/// `g.V(ids).project('i','l').by(T.id).by(T.label)`: the vertices that exist, with their labels.
pub(crate) fn existing_vertices(ids: Vec<GValue>) -> Bytecode {
    Bytecode::new()
        .step("V", ids)
        .step("project", ["i", "l"])
        .step("by", [T::Id])
        .step("by", [T::Label])
}
