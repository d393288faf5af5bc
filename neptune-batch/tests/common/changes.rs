//! Change streams over a small key space, as records of the change format and as mutations,
//! for the tests of the mutation contract.

use local_services::change_model::ExpectedGraph;
use neptune_batch::{Edge, MemoryGraph, Mutation, Vertex};
use proptest::prelude::*;
use serde_json::{json, Value};

/// One change over a small key space: `(kind, element, version)`.
#[derive(Debug, Clone)]
pub enum Op {
    UpsertVertex(usize, u8),
    UpsertEdge(usize, u8),
    DeleteVertex(usize),
    DeleteEdge(usize),
}

pub const VERTICES: usize = 8;
pub const EDGES: usize = 20;

/// Edge `j` always joins the same two vertices.
pub fn ends(prefix: &str, j: usize) -> (String, String) {
    (
        format!("{prefix}p{}", j % VERTICES),
        format!("{prefix}p{}", (j * 3 + 1) % VERTICES),
    )
}

/// The partition key a producer puts `op` with: the vertex's id, or the edge's `from`, so
/// that every change of one element goes to one shard.
pub fn partition_key(prefix: &str, op: &Op) -> String {
    match op {
        Op::UpsertVertex(i, _) | Op::DeleteVertex(i) => format!("{prefix}p{i}"),
        Op::UpsertEdge(j, _) | Op::DeleteEdge(j) => ends(prefix, *j).0,
    }
}

/// The change record of `op`, ids prefixed with `prefix`.
pub fn record(prefix: &str, op: &Op, version: u64) -> String {
    let v = match op {
        Op::UpsertVertex(i, n) => json!({"op": "upsert", "vertex": {"id": format!("{prefix}p{i}"),
            "label": "person", "properties": {"n": n.to_string()}}}),
        Op::UpsertEdge(j, n) => {
            let (from, to) = ends(prefix, *j);
            json!({"op": "upsert", "edge": {"id": format!("{prefix}f{j}"), "label": "follows",
                "from": from, "to": to, "from_label": "person", "to_label": "person",
                "properties": {"w": n.to_string()}}})
        }
        Op::DeleteVertex(i) => json!({"op": "delete", "vertex": {"id": format!("{prefix}p{i}")}}),
        Op::DeleteEdge(j) => json!({"op": "delete", "edge": {"id": format!("{prefix}f{j}")}}),
    };
    let mut v = v;
    v["version"] = json!(version);
    v.to_string()
}

/// The mutation a change record asks for (the change format, read the plain way).
pub fn mutation(record: &str) -> Mutation {
    let c: Value = serde_json::from_str(record).unwrap();
    let version = c["version"].as_u64().unwrap();
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    let with_props = |mut props: Vec<(String, neptune_batch::PropertyValue)>, e: &Value| {
        for (k, v) in e["properties"].as_object().unwrap() {
            props.push((k.clone(), s(v).into()));
        }
        props
    };
    let m = match (c["op"].as_str().unwrap(), c.get("vertex"), c.get("edge")) {
        ("upsert", Some(v), _) => {
            let mut vertex = Vertex::new(s(&v["id"]), s(&v["label"]));
            vertex.properties = with_props(Vec::new(), v);
            Mutation::upsert_vertex(vertex)
        }
        ("upsert", _, Some(e)) => {
            let mut edge = Edge::new(s(&e["id"]), s(&e["label"]), s(&e["from"]), s(&e["to"]));
            edge.properties = with_props(Vec::new(), e);
            Mutation::upsert_edge(edge).with_endpoint_labels("person", "person")
        }
        ("delete", Some(v), _) => Mutation::delete_vertex(s(&v["id"])),
        ("delete", _, Some(e)) => Mutation::delete_edge(s(&e["id"])),
        other => panic!("not a change: {other:?}"),
    };
    m.with_version(version)
}

/// What the in-memory graph holds, in the model's terms.
pub fn read_back(g: &MemoryGraph) -> ExpectedGraph {
    let mut out = ExpectedGraph::default();
    for id in g.vertex_ids() {
        let v = g.vertex(&id).unwrap();
        if g.is_placeholder(&id) {
            out.placeholders.insert(id, v.label);
        } else {
            let props = v
                .properties
                .into_iter()
                .map(|(k, p)| (k, serde_json::to_value(p).unwrap()))
                .collect();
            out.vertices.insert(id, (v.label, props));
        }
    }
    for id in g.edge_ids() {
        let e = g.edge(&id).unwrap();
        let props = e
            .properties
            .into_iter()
            .map(|(k, p)| (k, serde_json::to_value(p).unwrap()))
            .collect();
        out.edges.insert(id, (e.label, e.from, e.to, props));
    }
    out
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..VERTICES, any::<u8>()).prop_map(|(i, n)| Op::UpsertVertex(i, n)),
        6 => (0..EDGES, any::<u8>()).prop_map(|(j, n)| Op::UpsertEdge(j, n)),
        1 => (0..VERTICES).prop_map(Op::DeleteVertex),
        2 => (0..EDGES).prop_map(Op::DeleteEdge),
    ]
}
