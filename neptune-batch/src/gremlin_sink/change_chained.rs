//! The chained shape of a write of changes: one step per row, built from `V()`, `addV()`,
//! `addE()` and `property()` only, as the conditional mode's creates are, so that engines
//! without `mergeV()`/`mergeE()` or mid-traversal `E()` run it.

use super::change_rows::{Create, Update};
use crate::bytecode::{anon, Bytecode};
use crate::graphson::{Cardinality, GValue, T};

/// `addV(label).property(T.id, id).property(k, v)…`, or for an edge
/// `V(from).addE(label).to(__.V(to)).property(id_key, id)…`, where `id_key` is `T.id` or,
/// with property ids, the identity's property. An element of that id created since the read
/// makes the step fail with `T.id`, and the request with it: the changes are read again. With
/// property ids nothing refuses a second edge with the id; the guard before it looked for the
/// id among the out-edges of the from-vertices read or created.
pub(super) fn create(c: &Create, id_key: GValue) -> Bytecode {
    let t = match &c.ends {
        None => anon("addV", [&c.label]),
        Some((from, to)) => anon("V", [from])
            .step("addE", [&c.label])
            .step("to", [anon("V", [to])]),
    };
    let key = if c.ends.is_some() {
        id_key
    } else {
        GValue::T(T::Id)
    };
    let t = t.step("property", [key, GValue::from(&c.id)]);
    c.values.iter().fold(t, |t, (k, v)| {
        t.step("property", [GValue::from(k), v.clone()])
    })
}

/// On the element `target` finds: drops the keys of `u`, then sets its values (with single
/// cardinality on a vertex).
pub(super) fn update(target: Bytecode, u: &Update) -> Bytecode {
    let mut t = target;
    if !u.drop.is_empty() {
        let keys: Vec<GValue> = u.drop.iter().map(GValue::from).collect();
        t = t.step("sideEffect", [anon("properties", keys).then("drop")]);
    }
    let vertex = u.from.is_none();
    u.set.iter().fold(t, |t, (k, v)| {
        if vertex {
            t.step(
                "property",
                [
                    GValue::Cardinality(Cardinality::Single),
                    GValue::from(k),
                    v.clone(),
                ],
            )
        } else {
            t.step("property", [GValue::from(k), v.clone()])
        }
    })
}
