//! Change streams over a small key space, as records of the change format and as mutations,
//! for the tests of the mutation contract.

use local_services::change_model::ExpectedGraph;
use neptune_batch::{Edge, MemoryGraph, Mutation, Vertex};
use proptest::prelude::*;
use serde_json::Value;

use local_services::change_model::KeySpace;
pub use local_services::change_model::Op;

pub const VERTICES: usize = 8;
pub const EDGES: usize = 20;
/// The tests' key space: small, so that changes meet.
pub const SPACE: KeySpace = KeySpace {
    vertices: VERTICES,
    edges: EDGES,
};

/// The partition key of `op` (see [`KeySpace::partition_key`]).
pub fn partition_key(prefix: &str, op: &Op) -> String {
    SPACE.partition_key(prefix, op)
}

/// The change record of `op` (see [`KeySpace::record`]).
pub fn record(prefix: &str, op: &Op, version: u64) -> String {
    SPACE.record(prefix, op, version)
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
    SPACE.op()
}
