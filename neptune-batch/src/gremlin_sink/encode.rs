//! Items to traversals and answers to outcomes: what the sink sends for an item and how it
//! reads what the server says about it, without sending anything.

use super::identity::EdgeIdentity;
use crate::bytecode::Bytecode;
use crate::graphson::GValue;
use crate::model::{Edge, Vertex};
use crate::outcome::{ItemFailure, ItemOutcome};
use crate::transport::{ErrorClass, GremlinError};
use crate::write_traversals::{self as wt, WriteMode};
use std::collections::{HashMap, HashSet};

/// What the sink needs to know about an item to write it and to read what the server says
/// about it.
pub(super) trait Item: Clone + Send + Sync + 'static {
    /// The vertices a write of this item changes (what two transactions can conflict on); the
    /// first is its key, whose writes keep their order (an edge's `from`, the stream's
    /// partition key).
    fn touches(&self) -> [&str; 2];
    /// Why the item cannot be written at all, if it cannot.
    fn invalid(&self) -> Option<String>;
    /// The endpoint among `missing` that the item needs, if any (edges only).
    fn missing_endpoint(&self, missing: &HashSet<String>) -> Option<String>;
    fn traversal(mode: WriteMode, items: &[&Self], identity: &EdgeIdentity) -> Bytecode;
    /// The merge that also answers, one row per item found (keyed `i`), which items existed;
    /// `create_missing` names the label of endpoint vertices to create (edges only).
    fn checked_merge(
        items: &[&Self],
        create_missing: Option<&str>,
        identity: &EdgeIdentity,
    ) -> Bytecode;
    /// What names the item among the rows a read answers: its id, or with property ids (edges
    /// only) its id, from-vertex and label, as [`row_key`](Self::row_key) reads a row.
    fn match_key(&self, identity: &EdgeIdentity) -> String;
    /// The [`match_key`](Self::match_key) of the element a row of a read describes.
    fn row_key(row: &GValue, identity: &EdgeIdentity) -> Option<String>;
    /// The outcome for an item found in the graph, from its row in the answer.
    fn found(&self, row: &GValue) -> ItemOutcome;
}

impl Item for Edge {
    fn touches(&self) -> [&str; 2] {
        [&self.from, &self.to]
    }
    fn invalid(&self) -> Option<String> {
        [
            ("id", &self.id),
            ("label", &self.label),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .iter()
        .find(|(_, v)| v.is_empty())
        .map(|(k, _)| format!("empty edge {k}"))
    }
    fn missing_endpoint(&self, missing: &HashSet<String>) -> Option<String> {
        [&self.from, &self.to]
            .into_iter()
            .find(|v| missing.contains(v.as_str()))
            .cloned()
    }
    fn traversal(mode: WriteMode, items: &[&Self], identity: &EdgeIdentity) -> Bytecode {
        wt::write_edges(mode, items, identity)
    }
    fn checked_merge(
        items: &[&Self],
        create_missing: Option<&str>,
        identity: &EdgeIdentity,
    ) -> Bytecode {
        wt::merge_edges_checked(items, create_missing, identity)
    }
    fn match_key(&self, identity: &EdgeIdentity) -> String {
        match identity {
            EdgeIdentity::ServerIds => self.id.clone(),
            EdgeIdentity::PropertyIds { .. } => property_key(&self.id, &self.from, &self.label),
        }
    }
    fn row_key(row: &GValue, identity: &EdgeIdentity) -> Option<String> {
        let id = row.get("i")?.id_text()?;
        match identity {
            EdgeIdentity::ServerIds => Some(id),
            EdgeIdentity::PropertyIds { .. } => Some(property_key(
                &id,
                &row.get("o")?.id_text()?,
                row.get("l")?.as_str()?,
            )),
        }
    }
    fn found(&self, row: &GValue) -> ItemOutcome {
        match (
            row.get("o").and_then(GValue::id_text),
            row.get("n").and_then(GValue::id_text),
        ) {
            (Some(from), Some(to)) => edge_match(self, &(from, to)),
            _ => ItemOutcome::Failed(ItemFailure::Rejected {
                code: "unexpected_answer".into(),
                message: format!("no endpoints for edge {} in the answer", self.id),
            }),
        }
    }
}

impl Item for Vertex {
    fn touches(&self) -> [&str; 2] {
        [&self.id, &self.id]
    }
    fn invalid(&self) -> Option<String> {
        if self.id.is_empty() {
            Some("empty vertex id".into())
        } else if self.label.is_empty() {
            Some("empty vertex label".into())
        } else {
            None
        }
    }
    fn missing_endpoint(&self, _missing: &HashSet<String>) -> Option<String> {
        None
    }
    fn traversal(mode: WriteMode, items: &[&Self], _identity: &EdgeIdentity) -> Bytecode {
        wt::write_vertices(mode, items)
    }
    fn checked_merge(
        items: &[&Self],
        _create_missing: Option<&str>,
        _identity: &EdgeIdentity,
    ) -> Bytecode {
        wt::merge_vertices_checked(items)
    }
    fn match_key(&self, _identity: &EdgeIdentity) -> String {
        self.id.clone()
    }
    fn row_key(row: &GValue, _identity: &EdgeIdentity) -> Option<String> {
        row.get("i")?.id_text()
    }
    fn found(&self, row: &GValue) -> ItemOutcome {
        match row.get("l").and_then(GValue::as_str) {
            Some(label) => vertex_match(self, label),
            None => ItemOutcome::Failed(ItemFailure::Rejected {
                code: "unexpected_answer".into(),
                message: format!("no label for vertex {} in the answer", self.id),
            }),
        }
    }
}

/// An edge's name with property ids: its id, from-vertex and label (separated by a character
/// that no printable id contains).
fn property_key(id: &str, from: &str, label: &str) -> String {
    format!("{id}\u{1f}{from}\u{1f}{label}")
}

/// The outcomes of `items` from the answer of their checked merge: those found take their
/// row's outcome, the others were written.
pub(super) fn merged<I: Item>(
    items: &[&I],
    answer: &[GValue],
    identity: &EdgeIdentity,
) -> Vec<ItemOutcome> {
    // One list of rows; accepted unwrapped too, as servers differ in bulking.
    let rows = answer.iter().flat_map(|v| match v {
        GValue::List(rows) => rows.iter().collect::<Vec<_>>(),
        row => vec![row],
    });
    let found: HashMap<String, &GValue> = rows
        .filter_map(|r| Some((I::row_key(r, identity)?, r)))
        .collect();
    items
        .iter()
        .map(|item| match found.get(&item.match_key(identity)) {
            Some(row) => item.found(row),
            None => ItemOutcome::Written,
        })
        .collect()
}

/// Edge [`match_key`](Item::match_key) -> (from, to), from the rows of [`wt::find_edges`].
pub(super) fn edge_ends(
    rows: &[GValue],
    identity: &EdgeIdentity,
) -> HashMap<String, (String, String)> {
    rows.iter()
        .filter_map(|r| {
            Some((
                Edge::row_key(r, identity)?,
                (r.get("o")?.id_text()?, r.get("n")?.id_text()?),
            ))
        })
        .collect()
}

/// Vertex id -> label, from the rows of [`wt::existing_vertices`].
pub(super) fn vertex_labels(rows: &[GValue]) -> HashMap<String, String> {
    rows.iter()
        .filter_map(|r| Some((r.get("i")?.id_text()?, r.get("l")?.as_str()?.to_owned())))
        .collect()
}

/// The outcome of an edge whose id exists between `from` and `to`.
pub(super) fn edge_match(edge: &Edge, (from, to): &(String, String)) -> ItemOutcome {
    if *from == edge.from && *to == edge.to {
        ItemOutcome::AlreadyPresent
    } else {
        ItemOutcome::Failed(ItemFailure::ConstraintViolation(format!(
            "edge {} exists between {from} and {to}",
            edge.id
        )))
    }
}

/// The outcome of a vertex whose id exists with `label`.
pub(super) fn vertex_match(vertex: &Vertex, label: &str) -> ItemOutcome {
    if label == vertex.label {
        ItemOutcome::AlreadyPresent
    } else {
        ItemOutcome::Failed(ItemFailure::ConstraintViolation(format!(
            "vertex {} exists with label {label}",
            vertex.id
        )))
    }
}

/// The item outcome for an error that a retry will not fix (or that retries did not fix).
pub(super) fn failure_from(error: &GremlinError) -> ItemOutcome {
    ItemOutcome::Failed(match error {
        GremlinError::Server {
            class: ErrorClass::ConstraintViolation,
            message,
            ..
        } => ItemFailure::ConstraintViolation(message.clone()),
        GremlinError::Server {
            class,
            exception,
            message,
            ..
        } if !class.is_retriable() => ItemFailure::Rejected {
            code: exception
                .clone()
                .unwrap_or_else(|| class.as_str().to_owned()),
            message: message.clone(),
        },
        other if !other.is_retriable() => ItemFailure::Rejected {
            code: other.reason().to_owned(),
            message: other.to_string(),
        },
        other => ItemFailure::RetriesExhausted {
            attempts: 0,
            last_error: other.to_string(),
        },
    })
}

/// The outcomes of a request's items, those still undetermined reported as such.
pub(super) fn finish(out: Vec<Option<ItemOutcome>>) -> Vec<ItemOutcome> {
    out.into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                ItemOutcome::Failed(ItemFailure::Invalid("no outcome was determined".into()))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> GValue {
        GValue::Map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        )
    }

    #[test]
    fn a_checked_merge_answer_says_which_items_were_there() {
        let a = Edge::new("a", "follows", "1", "2");
        let b = Edge::new("b", "follows", "1", "3");
        let c = Edge::new("c", "follows", "1", "4");
        let answer = [GValue::List(vec![
            row(&[("i", "a"), ("o", "1"), ("n", "2")]),
            row(&[("i", "c"), ("o", "9"), ("n", "4")]),
        ])];
        let outcomes = merged(&[&a, &b, &c], &answer, &EdgeIdentity::ServerIds);
        assert_eq!(outcomes[0], ItemOutcome::AlreadyPresent);
        assert_eq!(outcomes[1], ItemOutcome::Written);
        assert!(matches!(
            &outcomes[2],
            ItemOutcome::Failed(ItemFailure::ConstraintViolation(m)) if m.contains("between 9 and 4")
        ));
    }

    #[test]
    fn with_property_ids_a_row_names_an_edge_by_id_from_and_label() {
        let ids = EdgeIdentity::property_ids();
        let a = Edge::new("a", "follows", "1", "2");
        let b = Edge::new("a", "follows", "5", "6");
        let c = Edge::new("c", "likes", "1", "4");
        let rows = vec![
            // `a` from 1 to 2: present. From 7: another edge, however its id.
            row(&[("i", "a"), ("o", "1"), ("n", "2"), ("l", "follows")]),
            row(&[("i", "a"), ("o", "7"), ("n", "6"), ("l", "follows")]),
            // `c` from 1, with its label, to another vertex: a conflict; with another label:
            // another edge.
            row(&[("i", "c"), ("o", "1"), ("n", "9"), ("l", "likes")]),
            row(&[("i", "c"), ("o", "1"), ("n", "4"), ("l", "follows")]),
        ];
        let answer = [GValue::List(rows.clone())];
        let outcomes = merged(&[&a, &b, &c], &answer, &ids);
        assert_eq!(outcomes[0], ItemOutcome::AlreadyPresent);
        assert_eq!(outcomes[1], ItemOutcome::Written);
        assert!(matches!(
            &outcomes[2],
            ItemOutcome::Failed(ItemFailure::ConstraintViolation(m)) if m.contains("between 1 and 9")
        ));
        assert_eq!(edge_ends(&rows, &ids).len(), 4);
        // With server ids the same rows name `a` and `c` twice each: the id alone counts.
        assert_eq!(edge_ends(&rows, &EdgeIdentity::ServerIds).len(), 2);
    }

    #[test]
    fn an_edge_names_its_first_missing_endpoint_and_a_vertex_none() {
        let missing: HashSet<String> = ["2".to_owned(), "1".to_owned()].into();
        let e = Edge::new("e", "follows", "1", "2");
        assert_eq!(e.missing_endpoint(&missing).as_deref(), Some("1"));
        assert_eq!(Vertex::new("1", "person").missing_endpoint(&missing), None);
    }

    #[test]
    fn errors_become_the_failures_they_stand_for() {
        let violation = GremlinError::Server {
            status: 500,
            class: ErrorClass::ConstraintViolation,
            exception: None,
            message: "taken".into(),
        };
        assert_eq!(
            failure_from(&violation),
            ItemOutcome::Failed(ItemFailure::ConstraintViolation("taken".into()))
        );
        let timeout = GremlinError::Timeout(std::time::Duration::from_secs(1));
        assert!(matches!(
            failure_from(&timeout),
            ItemOutcome::Failed(ItemFailure::RetriesExhausted { .. })
        ));
    }
}
