//! What a graph must hold after a versioned change stream, computed from the change records
//! alone: the model the change-stream tests compare every sink and every delivery path with.
//!
//! It reads the JSON change format (one record per change, each with a `version`) and knows
//! nothing of how a sink writes: for every element the change with the highest version wins.
//! A vertex lives if its winner is an upsert; an edge lives if its winner is an upsert newer
//! than every delete of either endpoint (a vertex delete takes older edges with it); a vertex
//! that does not live but is an endpoint of a living edge is a placeholder, with the label the
//! edge names for it (`from_label`/`to_label`, else `vertex`).

use serde_json::Value;
use std::collections::BTreeMap;

/// Properties as JSON values, by key.
pub type Properties = BTreeMap<String, Value>;

/// A living edge: label, from, to, properties.
pub type ExpectedEdge = (String, String, String, Properties);

/// The graph a change stream must leave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpectedGraph {
    /// Living vertices: label and properties.
    pub vertices: BTreeMap<String, (String, Properties)>,
    /// Placeholders: endpoints of living edges that do not live themselves, with their label.
    pub placeholders: BTreeMap<String, String>,
    /// Living edges.
    pub edges: BTreeMap<String, ExpectedEdge>,
}

/// The graph `records` (change records, each with a version) must leave, whatever order
/// they are applied in. Panics on a record that is not a versioned change: the tests write
/// the records themselves.
pub fn expected_graph<S: AsRef<str>>(records: &[S]) -> ExpectedGraph {
    let changes: Vec<Value> = records
        .iter()
        .map(|r| serde_json::from_str(r.as_ref()).expect("a change record"))
        .collect();
    let version = |c: &Value| c["version"].as_u64().expect("a versioned change");
    // The winning change of every element, and the newest delete of every vertex.
    let mut winners: BTreeMap<(bool, String), &Value> = BTreeMap::new();
    let mut deleted: BTreeMap<String, u64> = BTreeMap::new();
    for c in &changes {
        let is_vertex = c.get("vertex").is_some();
        let element = if is_vertex { &c["vertex"] } else { &c["edge"] };
        let id = element["id"].as_str().expect("an id").to_owned();
        if is_vertex && c["op"] == "delete" {
            let newest = deleted.entry(id.clone()).or_insert(0);
            *newest = (*newest).max(version(c));
        }
        let slot = winners.entry((is_vertex, id)).or_insert(c);
        if version(c) > version(slot) {
            *slot = c;
        }
    }
    let props = |e: &Value| -> Properties {
        e.get("properties")
            .and_then(Value::as_object)
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    let text = |v: &Value, key: &str| v[key].as_str().map(str::to_owned);
    let mut graph = ExpectedGraph::default();
    for ((is_vertex, id), c) in &winners {
        if c["op"] != "upsert" {
            continue;
        }
        if *is_vertex {
            let v = &c["vertex"];
            graph
                .vertices
                .insert(id.clone(), (text(v, "label").unwrap(), props(v)));
            continue;
        }
        let e = &c["edge"];
        let (from, to) = (text(e, "from").unwrap(), text(e, "to").unwrap());
        let outlived = |end: &String| deleted.get(end).is_some_and(|d| *d > version(c));
        if outlived(&from) || outlived(&to) {
            continue;
        }
        graph
            .edges
            .insert(id.clone(), (text(e, "label").unwrap(), from, to, props(e)));
    }
    for c in winners.values().filter(|c| c.get("edge").is_some()) {
        let e = &c["edge"];
        if !graph.edges.contains_key(e["id"].as_str().unwrap()) {
            continue;
        }
        for (end, label) in [("from", "from_label"), ("to", "to_label")] {
            let id = text(e, end).unwrap();
            if !graph.vertices.contains_key(&id) {
                let label = text(e, label).unwrap_or_else(|| "vertex".into());
                graph.placeholders.entry(id).or_insert(label);
            }
        }
    }
    graph
}

/// One change over a [`KeySpace`]: an upsert (with a property value) or a delete of vertex
/// `i` or edge `j`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Upsert vertex `i` with the property `n`.
    UpsertVertex(usize, u8),
    /// Upsert edge `j` with the property `w`.
    UpsertEdge(usize, u8),
    /// Delete vertex `i`.
    DeleteVertex(usize),
    /// Delete edge `j`.
    DeleteEdge(usize),
}

/// A small key space of change streams: vertices `p0…`, edges `f0…`, edge `j` always joining
/// the same two vertices, every id after a prefix (so runs sharing a graph never meet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpace {
    /// Vertices in the space.
    pub vertices: usize,
    /// Edges in the space.
    pub edges: usize,
}

impl KeySpace {
    /// The ends (from, to) of edge `j`.
    pub fn ends(&self, prefix: &str, j: usize) -> (String, String) {
        (
            format!("{prefix}p{}", j % self.vertices),
            format!("{prefix}p{}", (j * 3 + 1) % self.vertices),
        )
    }

    /// The partition key a producer puts `op` with: the vertex's id, or the edge's `from`, so
    /// that every change of one element goes to one shard.
    pub fn partition_key(&self, prefix: &str, op: &Op) -> String {
        match op {
            Op::UpsertVertex(i, _) | Op::DeleteVertex(i) => format!("{prefix}p{i}"),
            Op::UpsertEdge(j, _) | Op::DeleteEdge(j) => self.ends(prefix, *j).0,
        }
    }

    /// The change record of `op` at `version`, in the change format.
    pub fn record(&self, prefix: &str, op: &Op, version: u64) -> String {
        let mut v = match op {
            Op::UpsertVertex(i, n) => serde_json::json!({"op": "upsert",
                "vertex": {"id": format!("{prefix}p{i}"), "label": "person",
                    "properties": {"n": n.to_string()}}}),
            Op::UpsertEdge(j, n) => {
                let (from, to) = self.ends(prefix, *j);
                serde_json::json!({"op": "upsert", "edge": {"id": format!("{prefix}f{j}"),
                    "label": "follows", "from": from, "to": to, "from_label": "person",
                    "to_label": "person", "properties": {"w": n.to_string()}}})
            }
            Op::DeleteVertex(i) => {
                serde_json::json!({"op": "delete", "vertex": {"id": format!("{prefix}p{i}")}})
            }
            Op::DeleteEdge(j) => {
                serde_json::json!({"op": "delete", "edge": {"id": format!("{prefix}f{j}")}})
            }
        };
        v["version"] = serde_json::json!(version);
        v.to_string()
    }

    /// The records of `ops`, versions counting from 1 in their order, each with its
    /// partition key: `(key, record)`.
    pub fn records(&self, prefix: &str, ops: &[Op]) -> Vec<(String, String)> {
        ops.iter()
            .enumerate()
            .map(|(n, op)| {
                (
                    self.partition_key(prefix, op),
                    self.record(prefix, op, n as u64 + 1),
                )
            })
            .collect()
    }

    /// Random changes over the space, upserts more often than deletes.
    pub fn op(&self) -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0..self.vertices, any::<u8>()).prop_map(|(i, n)| Op::UpsertVertex(i, n)),
            6 => (0..self.edges, any::<u8>()).prop_map(|(j, n)| Op::UpsertEdge(j, n)),
            1 => (0..self.vertices).prop_map(Op::DeleteVertex),
            2 => (0..self.edges).prop_map(Op::DeleteEdge),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_change_wins_and_a_vertex_delete_takes_older_edges_with_it() {
        let records = [
            r#"{"op":"upsert","vertex":{"id":"p1","label":"person","properties":{"name":"Ada"}},"version":1}"#,
            r#"{"op":"upsert","vertex":{"id":"p2","label":"person","properties":{}},"version":2}"#,
            r#"{"op":"upsert","edge":{"id":"f1","label":"follows","from":"p1","to":"p2","properties":{}},"version":3}"#,
            r#"{"op":"upsert","edge":{"id":"f2","label":"follows","from":"p2","to":"p3","to_label":"person","properties":{}},"version":4}"#,
            r#"{"op":"delete","vertex":{"id":"p1"},"version":5}"#,
            r#"{"op":"upsert","vertex":{"id":"p2","label":"person","properties":{"name":"Bo"}},"version":6}"#,
        ];
        let g = expected_graph(&records);
        assert_eq!(g.vertices.keys().collect::<Vec<_>>(), ["p2"]);
        assert_eq!(g.vertices["p2"].1["name"], "Bo");
        assert_eq!(
            g.edges.keys().collect::<Vec<_>>(),
            ["f2"],
            "f1 went with p1"
        );
        assert_eq!(
            g.placeholders,
            BTreeMap::from([("p3".into(), "person".into())])
        );
    }
}
