//! The merge shape of a write of changes: each kind of row goes as one list, merged by id
//! with `mergeV`/`mergeE`, the other merge option failing the request.

use super::change_edges::EdgeLookup;
use super::change_rows::{Create, SetValues, Update};
use super::change_traversals::GUARD_MESSAGE;
use crate::bytecode::{anon, Bytecode};
use crate::graphson::{Cardinality, Direction, GValue, Merge, T};

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

fn values(values: &[(String, GValue)]) -> impl Iterator<Item = (GValue, GValue)> + '_ {
    values.iter().map(|(k, v)| (GValue::from(k), v.clone()))
}

/// `{m: {T.id: id}, c: {T.label: label, [OUT: from, IN: to,] k: v…}}`.
pub(super) fn create_row(c: &Create) -> GValue {
    let mut create = vec![(GValue::T(T::Label), GValue::from(&c.label))];
    if let Some((from, to)) = &c.ends {
        create.push((GValue::Direction(Direction::Out), GValue::from(from)));
        create.push((GValue::Direction(Direction::In), GValue::from(to)));
    }
    create.extend(values(&c.values));
    row(vec![("m", by_id(&c.id)), ("c", map(create))])
}

/// An edge's create row, searched by its id as `edges` names it: `{m: {T.id: id}, c: {T.label:
/// label, OUT: from, IN: to, k: v…}}`, or with property ids `{m: {OUT: from, T.label: label,
/// key: id}, c: {IN: to, k: v…}}` (see [`EdgeLookup::search`]).
pub(super) fn create_edge_row(c: &Create, edges: EdgeLookup) -> GValue {
    let Some((from, to)) = &c.ends else {
        return create_row(c);
    };
    let (search, in_search) = edges.search(&c.id, from, &c.label);
    if !in_search {
        return create_row(c);
    }
    let mut create = vec![(GValue::Direction(Direction::In), GValue::from(to))];
    create.extend(values(&c.values));
    row(vec![("m", search), ("c", map(create))])
}

/// `{m: {T.id: id}, d: [keys], u: {k: v…}}`.
pub(super) fn update_row(u: &Update) -> GValue {
    update_searched(by_id(&u.id), u)
}

/// An edge's update row, searched by its id as `edges` names it (the edge's `from` and label
/// with property ids).
pub(super) fn update_edge_row(u: &Update, edges: EdgeLookup) -> GValue {
    let from = u.from.as_deref().unwrap_or_default();
    update_searched(edges.search(&u.id, from, &u.label).0, u)
}

fn update_searched(search: GValue, u: &Update) -> GValue {
    row(vec![
        ("m", search),
        ("d", GValue::List(u.drop.iter().map(GValue::from).collect())),
        ("u", map(values(&u.set).collect())),
    ])
}

/// `fail(GUARD_MESSAGE)`, as a merge option: the element was expected the other way round.
fn changed() -> GValue {
    anon("fail", [GUARD_MESSAGE]).into()
}

/// `constant(rows).unfold().<step>(select('m'))` creating from `select('c')` (`OnCreate`) or
/// updating with `select('u')` (`OnMatch`). The other case fails the request: the element was
/// created, or went, since it was read. The guard saw it as expected, but a graph that reads
/// only what is committed may see another writer's commit between the guard and the merge.
pub(super) fn rows(step: &str, rows: Vec<GValue>, option: Merge) -> Bytecode {
    let t = anon("constant", [GValue::List(rows)])
        .then("unfold")
        .step(step, [anon("select", ["m"])]);
    match option {
        Merge::OnCreate => t
            .step(
                "option",
                [GValue::Merge(Merge::OnCreate), anon("select", ["c"]).into()],
            )
            .step("option", [GValue::Merge(Merge::OnMatch), changed()]),
        _ => t
            .step(
                "option",
                [GValue::Merge(Merge::OnMatch), anon("select", ["u"]).into()],
            )
            .step("option", [GValue::Merge(Merge::OnCreate), changed()]),
    }
}

/// For each row `{m, d}`: the element merged by `m` loses its properties whose keys are in `d`.
pub(super) fn drop_keys(step: &str, rows: Vec<GValue>) -> Bytecode {
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

/// For rows `{m, s: [{k, v}…]}`: adds each value to its vertex with set cardinality.
pub(super) fn add_set_values(sets: Vec<SetValues>) -> Bytecode {
    let rows = sets
        .iter()
        .map(|s| {
            let values = s
                .values
                .iter()
                .map(|(k, v)| row(vec![("k", GValue::from(k)), ("v", v.clone())]))
                .collect();
            row(vec![("m", by_id(&s.id)), ("s", GValue::List(values))])
        })
        .collect();
    anon("constant", [GValue::List(rows)])
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
        )
}
