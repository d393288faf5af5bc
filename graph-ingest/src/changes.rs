//! The change format: one JSON record per change to the graph.

use crate::mapper::{GraphWrites, RecordMapper, Rejection};
use kinesis_source::Record;
use neptune_batch::{Edge, Mutation, PropertyValue, Vertex};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Maps change records, one JSON object per record, to [`Mutation`]s:
///
/// ```text
/// {"op":"upsert","vertex":{"id":"p1","label":"person","properties":{"name":"Ada"}},"version":17}
/// {"op":"upsert","edge":{"id":"f1","label":"follows","from":"p1","to":"p2","properties":{}},"version":18}
/// {"op":"delete","edge":{"id":"f1"},"version":19}
/// {"op":"delete","vertex":{"id":"p1"},"version":20}
/// ```
///
/// * An upsert carries the element's whole state and replaces all its properties
///   ([`PropertyPolicy::Replace`](neptune_batch::PropertyPolicy::Replace)).
/// * `version` (an unsigned integer: the source's change number or event time) may be absent;
///   with it, the sink applies a change only if it is newer than what the element holds (see
///   [`neptune_batch::mutation`]).
/// * An edge may name the labels of its endpoints (`from_label`, `to_label`): a placeholder
///   made for an endpoint that does not exist yet takes it; else
///   [`placeholder_label`](Self::placeholder_label).
/// * Property values: strings, integers, floats, booleans; an array is a set of values (vertex
///   properties only); `{"$date": <epoch milliseconds>}` is a date; `null` leaves the key out.
///
/// Anything else (not JSON, an unknown `op` or field, a missing id, an id or label longer than
/// [`MAX_FIELD_BYTES`](Self::MAX_FIELD_BYTES)) is rejected with a reason: a dead letter.
///
/// ```
/// use graph_ingest::{ChangeJson, RecordMapper};
/// use kinesis_source::{Record, SequenceNumber};
/// use neptune_batch::{Change, Mutation};
///
/// let mapper = ChangeJson::default().placeholder_label("person");
/// let line = br#"{"op":"delete","vertex":{"id":"p1"},"version":20}"#;
/// let record = Record::new("shard-0", SequenceNumber::new("1"), "p1", &line[..]);
/// let writes = mapper.map(&record).unwrap();
/// assert_eq!(writes.mutations, [Mutation::delete_vertex("p1").with_version(20)]);
/// let bad = Record::new("shard-0", SequenceNumber::new("2"), "p1", &br#"{"op":"merge"}"#[..]);
/// assert!(mapper.map(&bad).unwrap_err().reason().starts_with("not a change"));
/// ```
#[derive(Debug, Clone)]
pub struct ChangeJson {
    placeholder_label: String,
}

impl Default for ChangeJson {
    /// Placeholders labelled `vertex`, TinkerPop's default.
    fn default() -> Self {
        Self {
            placeholder_label: "vertex".into(),
        }
    }
}

/// One change record.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeRecord {
    op: Op,
    vertex: Option<ElementRecord>,
    edge: Option<ElementRecord>,
    version: Option<u64>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Op {
    Upsert,
    Delete,
}

/// A vertex or an edge as a record names it; which fields are needed depends on the op.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ElementRecord {
    id: String,
    label: Option<String>,
    from: Option<String>,
    to: Option<String>,
    from_label: Option<String>,
    to_label: Option<String>,
    #[serde(default)]
    properties: Map<String, Value>,
}

impl ChangeJson {
    /// Longest id, label or property key accepted. Longer ones are refused up front (a dead
    /// letter) rather than sent to the graph, where they would be stored or refused per server.
    pub const MAX_FIELD_BYTES: usize = 512;

    /// The label of placeholders for endpoints of edges that name none.
    pub fn placeholder_label(mut self, label: impl Into<String>) -> Self {
        self.placeholder_label = label.into();
        self
    }

    /// The mutation one change record asks for.
    pub fn mutation(&self, data: &[u8]) -> Result<Mutation, Rejection> {
        let record: ChangeRecord = serde_json::from_slice(data)
            .map_err(|e| Rejection::new(format!("not a change record: {e}")))?;
        let m = match (record.op, record.vertex, record.edge) {
            (op, Some(vertex), None) => self.vertex_change(op, vertex)?,
            (op, None, Some(edge)) => self.edge_change(op, edge)?,
            _ => {
                return Err(Rejection::new(
                    "not a change record: it names exactly one of `vertex` and `edge`",
                ))
            }
        };
        Ok(match record.version {
            Some(v) => m.with_version(v),
            None => m,
        })
    }

    fn vertex_change(&self, op: Op, v: ElementRecord) -> Result<Mutation, Rejection> {
        check("vertex id", &v.id)?;
        if op == Op::Delete {
            return Ok(Mutation::delete_vertex(v.id));
        }
        let label = required("vertex label", v.label)?;
        let mut vertex = Vertex::new(v.id, label);
        vertex.properties = properties(v.properties)?;
        Ok(Mutation::upsert_vertex(vertex))
    }

    fn edge_change(&self, op: Op, e: ElementRecord) -> Result<Mutation, Rejection> {
        check("edge id", &e.id)?;
        if op == Op::Delete {
            return Ok(Mutation::delete_edge(e.id));
        }
        let label = required("edge label", e.label)?;
        let from = required("edge from", e.from)?;
        let to = required("edge to", e.to)?;
        let mut edge = Edge::new(e.id, label, from, to);
        edge.properties = properties(e.properties)?;
        let labels = [e.from_label, e.to_label].map(|l| {
            l.map_or_else(
                || Ok(self.placeholder_label.clone()),
                |l| check("endpoint label", &l).map(|()| l),
            )
        });
        let [from_label, to_label] = labels;
        Ok(Mutation::upsert_edge(edge).with_endpoint_labels(from_label?, to_label?))
    }
}

impl RecordMapper for ChangeJson {
    fn map(&self, record: &Record) -> Result<GraphWrites, Rejection> {
        self.mutation(&record.data).map(GraphWrites::mutation)
    }
}

/// Refuses an empty or oversized id, label or key.
fn check(what: &str, value: &str) -> Result<(), Rejection> {
    if value.is_empty() {
        return Err(Rejection::new(format!("not a change record: empty {what}")));
    }
    if value.len() > ChangeJson::MAX_FIELD_BYTES {
        return Err(Rejection::new(format!(
            "not a change record: {what} is {} bytes long (at most {})",
            value.len(),
            ChangeJson::MAX_FIELD_BYTES
        )));
    }
    Ok(())
}

fn required(what: &str, value: Option<String>) -> Result<String, Rejection> {
    let value = value.ok_or_else(|| {
        Rejection::new(format!("not a change record: an upsert needs its {what}"))
    })?;
    check(what, &value)?;
    Ok(value)
}

/// The properties of an upsert, in key order.
fn properties(map: Map<String, Value>) -> Result<Vec<(String, PropertyValue)>, Rejection> {
    let mut out = Vec::with_capacity(map.len());
    for (key, value) in map {
        check("property key", &key)?;
        if let Some(v) = property_value(&key, &value, true)? {
            out.push((key, v));
        }
    }
    Ok(out)
}

/// One JSON value as a property value (`None` for `null`); arrays only at the top.
fn property_value(key: &str, value: &Value, top: bool) -> Result<Option<PropertyValue>, Rejection> {
    let bad = |why: &str| Rejection::new(format!("not a change record: property {key:?}: {why}"));
    Ok(Some(match value {
        Value::Null => return Ok(None),
        Value::Bool(b) => PropertyValue::Bool(*b),
        Value::String(s) => PropertyValue::String(s.clone()),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => PropertyValue::Long(i),
            (None, Some(f)) if n.is_f64() => PropertyValue::Double(f),
            _ => return Err(bad("the integer does not fit in 64 signed bits")),
        },
        Value::Array(items) if top => {
            let mut set = Vec::with_capacity(items.len());
            for item in items {
                match property_value(key, item, false)? {
                    Some(v) => set.push(v),
                    None => return Err(bad("a set holds no null")),
                }
            }
            PropertyValue::Set(set)
        }
        Value::Object(o) if o.len() == 1 && o.contains_key("$date") => match o["$date"].as_i64() {
            Some(millis) => PropertyValue::Date(millis),
            None => return Err(bad("a date is {\"$date\": <epoch milliseconds>}")),
        },
        Value::Array(_) => return Err(bad("a set holds no set")),
        Value::Object(_) => {
            return Err(bad(
                "an object is not a value (a date is {\"$date\": <epoch milliseconds>})",
            ))
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use neptune_batch::{Change, PropertyPolicy};

    fn change(line: &str) -> Result<Mutation, String> {
        ChangeJson::default()
            .placeholder_label("person")
            .mutation(line.as_bytes())
            .map_err(|r| r.reason().to_owned())
    }

    #[test]
    fn the_four_records_of_the_format_map_to_their_mutations() {
        let m = change(r#"{"op":"upsert","vertex":{"id":"p1","label":"person","properties":{"name":"Ada","age":36,"tags":["a","b"],"born":{"$date":0}}},"version":17}"#).unwrap();
        assert_eq!(m.version, Some(17));
        match &m.change {
            Change::UpsertVertex { vertex, policy } => {
                assert_eq!(*policy, PropertyPolicy::Replace);
                assert_eq!(
                    vertex.properties,
                    [
                        ("age".to_owned(), PropertyValue::Long(36)),
                        ("born".to_owned(), PropertyValue::Date(0)),
                        ("name".to_owned(), "Ada".into()),
                        (
                            "tags".to_owned(),
                            PropertyValue::Set(vec!["a".into(), "b".into()])
                        ),
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        let m = change(r#"{"op":"upsert","edge":{"id":"f1","label":"follows","from":"p1","to":"p2","properties":{}},"version":18}"#).unwrap();
        assert_eq!(
            m,
            Mutation::upsert_edge(neptune_batch::Edge::new("f1", "follows", "p1", "p2"))
                .with_endpoint_labels("person", "person")
                .with_version(18)
        );
        assert_eq!(
            change(r#"{"op":"delete","edge":{"id":"f1"},"version":19}"#).unwrap(),
            Mutation::delete_edge("f1").with_version(19)
        );
        assert_eq!(
            change(r#"{"op":"delete","vertex":{"id":"p1"}}"#).unwrap(),
            Mutation::delete_vertex("p1"),
            "the version may be absent"
        );
    }

    #[test]
    fn bad_records_are_refused_with_a_reason() {
        for (line, why) in [
            ("not json", "not a change record"),
            (r#"{"op":"merge","vertex":{"id":"p"}}"#, "unknown variant"),
            (
                r#"{"op":"upsert","vertex":{"id":"p"}}"#,
                "needs its vertex label",
            ),
            (
                r#"{"op":"upsert","vertex":{"id":"p","label":"x","propertes":{}}}"#,
                "unknown field",
            ),
            (
                r#"{"op":"upsert","vertex":{"id":"","label":"x"}}"#,
                "empty vertex id",
            ),
            (
                r#"{"op":"delete","vertex":{"id":"p"},"edge":{"id":"e"}}"#,
                "exactly one",
            ),
            (
                r#"{"op":"upsert","edge":{"id":"e","label":"l","from":"a"}}"#,
                "needs its edge to",
            ),
            (
                r#"{"op":"upsert","vertex":{"id":"p","label":"x","properties":{"d":{"$date":"x"}}}}"#,
                "a date is",
            ),
            (
                r#"{"op":"upsert","vertex":{"id":"p","label":"x"},"version":-1}"#,
                "not a change record",
            ),
        ] {
            let e = change(line).unwrap_err();
            assert!(e.contains(why), "{line}: {e}");
        }
        let long = "x".repeat(ChangeJson::MAX_FIELD_BYTES + 1);
        let e = change(&format!(r#"{{"op":"delete","vertex":{{"id":"{long}"}}}}"#)).unwrap_err();
        assert!(e.contains("bytes long"), "{e}");
    }
}
