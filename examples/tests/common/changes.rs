//! Change streams in the end-to-end tests: a seeded stream on a small power-law graph, and the
//! graph read back in the terms of the model (`local_services::change_model`), with queries of
//! the tests' own rather than the sink's.

use local_services::change_model::{expected_graph, ExpectedGraph};
use neptune_batch::gremlin::{anon, Bytecode, GValue, T};
use neptune_batch::transport::{GremlinTransport, TransportConfig};
use std::collections::{BTreeMap, BTreeSet};
use workload_gen::changes::{ChangeStream, ChangeStreamConfig};
use workload_gen::generator::GeneratorConfig;

/// A change stream of `changes` records on `persons` persons whose ids start with `prefix`:
/// `(partition key, record)` pairs, and the persons to load first (`{prefix}p0`…).
pub fn stream(
    prefix: &str,
    persons: u32,
    changes: u64,
    seed: u64,
) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
    let graph = GeneratorConfig::builder()
        .persons(persons)
        .edges(1)
        .seed(seed)
        .build()
        .expect("a valid graph");
    let config = ChangeStreamConfig::new(graph, changes).with_id_prefix(prefix);
    let records = ChangeStream::new(config)
        .expect("a valid change stream")
        .map(|c| (c.record.partition_key, c.record.data))
        .collect();
    let persons = (0..persons).map(|n| format!("{prefix}p{n}")).collect();
    (records, persons)
}

/// The graph the records must leave, with `persons` loaded first (as version-less upserts:
/// every versioned change is newer).
pub fn expected(records: &[(String, Vec<u8>)], persons: &[String]) -> ExpectedGraph {
    let mut lines: Vec<String> = persons
        .iter()
        .map(|p| {
            serde_json::json!({"op": "upsert", "version": 0,
                "vertex": {"id": p, "label": "person", "properties": {}}})
            .to_string()
        })
        .collect();
    lines.extend(
        records
            .iter()
            .map(|(_, data)| String::from_utf8(data.clone()).expect("a JSON record")),
    );
    expected_graph(&lines)
}

/// Every vertex id (elements and endpoints) and edge id the records name.
fn ids(records: &[(String, Vec<u8>)], persons: &[String]) -> (Vec<String>, Vec<String>) {
    let mut vertices: BTreeSet<String> = persons.iter().cloned().collect();
    let mut edges = BTreeSet::new();
    for (_, data) in records {
        let v: serde_json::Value = serde_json::from_slice(data).expect("a JSON record");
        if let Some(id) = v["vertex"]["id"].as_str() {
            vertices.insert(id.to_owned());
        }
        if let Some(id) = v["edge"]["id"].as_str() {
            edges.insert(id.to_owned());
        }
        for end in ["from", "to"] {
            if let Some(id) = v["edge"][end].as_str() {
                vertices.insert(id.to_owned());
            }
        }
    }
    (vertices.into_iter().collect(), edges.into_iter().collect())
}

/// What the server holds among the ids the records name, in the model's terms: placeholders
/// apart, tombstones and the sink's own keys (`_…`) left out, properties as JSON.
pub async fn read_back(
    url: &str,
    records: &[(String, Vec<u8>)],
    persons: &[String],
) -> ExpectedGraph {
    let t = GremlinTransport::connect(TransportConfig::new(url))
        .await
        .expect("connect to the Gremlin Server");
    let (vertex_ids, edge_ids) = ids(records, persons);
    let mut vertices = Vec::new();
    for chunk in vertex_ids.chunks(1_000) {
        let q = Bytecode::new()
            .step("V", chunk.to_vec())
            .step("project", ["i", "l", "props"])
            .step("by", [T::Id])
            .step("by", [T::Label])
            .step("by", [anon("valueMap", Vec::<GValue>::new())]);
        vertices.extend(t.submit(&q).await.expect("read the vertices back"));
    }
    let mut edges = Vec::new();
    for chunk in edge_ids.chunks(1_000) {
        let q = Bytecode::new()
            .step("E", chunk.to_vec())
            .step("project", ["i", "l", "o", "n", "props"])
            .step("by", [T::Id])
            .step("by", [T::Label])
            .step("by", [Bytecode::new().then("outV").then("id")])
            .step("by", [Bytecode::new().then("inV").then("id")])
            .step("by", [anon("valueMap", Vec::<GValue>::new())]);
        edges.extend(t.submit(&q).await.expect("read the edges back"));
    }
    let mut out = ExpectedGraph::default();
    for row in &vertices {
        let id = row.get("i").and_then(GValue::id_text).expect("an id");
        let label = row
            .get("l")
            .and_then(GValue::as_str)
            .expect("a label")
            .to_owned();
        let placeholder = matches!(row.get("props"), Some(GValue::Map(m))
            if m.iter().any(|(k, _)| k.as_str() == Some("_placeholder")));
        if placeholder {
            out.placeholders.insert(id, label);
        } else {
            out.vertices.insert(id, (label, props(row)));
        }
    }
    for row in &edges {
        let text = |k: &str| row.get(k).and_then(GValue::id_text).expect("an id");
        let label = row
            .get("l")
            .and_then(GValue::as_str)
            .expect("a label")
            .to_owned();
        out.edges
            .insert(text("i"), (label, text("o"), text("n"), props(row)));
    }
    out
}

/// A row's properties as JSON, the sink's own keys left out. Vertex properties come as a list
/// of values (one here: the change format's sets are not used by the generated stream), edge
/// properties as one value.
fn props(row: &GValue) -> BTreeMap<String, serde_json::Value> {
    let Some(GValue::Map(entries)) = row.get("props") else {
        return BTreeMap::new();
    };
    entries
        .iter()
        .filter_map(|(k, v)| {
            let k = k.as_str()?.to_owned();
            let v = match v {
                GValue::List(values) => values.first()?.clone(),
                v => v.clone(),
            };
            Some((k, json(&v)?))
        })
        .filter(|(k, _)| !k.starts_with('_'))
        .collect()
}

fn json(v: &GValue) -> Option<serde_json::Value> {
    Some(match v {
        GValue::String(s) => serde_json::Value::from(s.as_str()),
        v => serde_json::Value::from(v.as_i64()?),
    })
}

/// Fails with the first differences between the expected and the actual graph.
pub fn assert_same_graph(expected: &ExpectedGraph, actual: &ExpectedGraph) {
    assert_same_graph_of(expected, actual, &[]);
}

/// As [`assert_same_graph`], showing for each difference the records that name its element.
pub fn assert_same_graph_of(
    expected: &ExpectedGraph,
    actual: &ExpectedGraph,
    records: &[(String, Vec<u8>)],
) {
    if let Some(differences) = differences(expected, actual, records) {
        panic!("{differences}");
    }
}

/// The first differences between the expected and the actual graph, with the records that
/// name their elements; `None` if the graphs are equal.
pub fn differences(
    expected: &ExpectedGraph,
    actual: &ExpectedGraph,
    records: &[(String, Vec<u8>)],
) -> Option<String> {
    if expected == actual {
        return None;
    }
    let mut lines = Vec::new();
    for (what, e, a) in [
        ("vertex", keyed(&expected.vertices), keyed(&actual.vertices)),
        (
            "placeholder",
            keyed(&expected.placeholders),
            keyed(&actual.placeholders),
        ),
        ("edge", keyed(&expected.edges), keyed(&actual.edges)),
    ] {
        for (id, want) in &e {
            match a.get(id) {
                None => lines.push(format!("{what} {id} missing (want {want})")),
                Some(got) if got != want => {
                    lines.push(format!("{what} {id}: want {want}, got {got}"))
                }
                Some(_) => {}
            }
        }
        for (id, got) in &a {
            if !e.contains_key(id) {
                lines.push(format!("{what} {id} should not be there (got {got})"));
            }
        }
    }
    let mut shown: Vec<String> = lines.iter().take(20).cloned().collect();
    for line in lines.iter().take(3) {
        let id = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .trim_end_matches(':');
        for (_, data) in records {
            let text = String::from_utf8_lossy(data);
            if text.contains(&format!("\"{id}\"")) {
                shown.push(format!("  {id}: {text}"));
            }
        }
    }
    Some(format!(
        "the graph differs from the model in {} places: {shown:#?}",
        lines.len()
    ))
}

fn keyed<V: std::fmt::Debug>(m: &BTreeMap<String, V>) -> BTreeMap<String, String> {
    m.iter()
        .map(|(k, v)| (k.clone(), format!("{v:?}")))
        .collect()
}
