//! The in-memory graph keeps the mutation contract: a versioned change stream leaves the graph
//! the model computes from the records alone, in whatever order, batching and repetition the
//! changes arrive.

use local_services::change_model::{expected_graph, ExpectedGraph};
use neptune_batch::{Edge, ElementId, GraphSink, ItemOutcome, MemoryGraph, Mutation, Vertex};
use proptest::prelude::*;
use serde_json::{json, Value};

/// One change over a small key space: `(kind, element, version)`.
#[derive(Debug, Clone)]
enum Op {
    UpsertVertex(usize, u8),
    UpsertEdge(usize, u8),
    DeleteVertex(usize),
    DeleteEdge(usize),
}

const VERTICES: usize = 8;
const EDGES: usize = 20;

/// Edge `j` always joins the same two vertices.
fn ends(j: usize) -> (String, String) {
    (
        format!("p{}", j % VERTICES),
        format!("p{}", (j * 3 + 1) % VERTICES),
    )
}

fn record(op: &Op, version: u64) -> String {
    let v = match op {
        Op::UpsertVertex(i, n) => json!({"op": "upsert", "vertex": {"id": format!("p{i}"),
            "label": "person", "properties": {"n": n.to_string()}}}),
        Op::UpsertEdge(j, n) => {
            let (from, to) = ends(*j);
            json!({"op": "upsert", "edge": {"id": format!("f{j}"), "label": "follows",
                "from": from, "to": to, "from_label": "person", "to_label": "person",
                "properties": {"w": n.to_string()}}})
        }
        Op::DeleteVertex(i) => json!({"op": "delete", "vertex": {"id": format!("p{i}")}}),
        Op::DeleteEdge(j) => json!({"op": "delete", "edge": {"id": format!("f{j}")}}),
    };
    let mut v = v;
    v["version"] = json!(version);
    v.to_string()
}

/// The mutation a change record asks for (the change format, read the plain way).
fn mutation(record: &str) -> Mutation {
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

/// What the graph holds, in the model's terms.
fn read_back(g: &MemoryGraph) -> ExpectedGraph {
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

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..VERTICES, any::<u8>()).prop_map(|(i, n)| Op::UpsertVertex(i, n)),
        6 => (0..EDGES, any::<u8>()).prop_map(|(j, n)| Op::UpsertEdge(j, n)),
        1 => (0..VERTICES).prop_map(Op::DeleteVertex),
        2 => (0..EDGES).prop_map(Op::DeleteEdge),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Shuffled, repeated and cut into batches anyhow, a versioned stream leaves the model's graph.
    #[test]
    fn any_arrival_order_leaves_the_models_graph(
        ops in prop::collection::vec(op(), 1..120),
        order in any::<prop::sample::Index>(),
        seed in any::<u64>(),
        batch in 1usize..17,
        repeats in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
    ) {
        let records: Vec<String> =
            ops.iter().enumerate().map(|(i, op)| record(op, i as u64 + 1)).collect();
        let expected = expected_graph(&records);
        // Arrival: a seeded shuffle, plus some records delivered again anywhere.
        let mut arrival: Vec<usize> = (0..records.len()).collect();
        arrival.extend(repeats.iter().map(|r| r.index(records.len())));
        let mut rng = seed ^ order.index(usize::MAX) as u64;
        for i in (1..arrival.len()).rev() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            arrival.swap(i, (rng >> 33) as usize % (i + 1));
        }
        let graph = MemoryGraph::new();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        for chunk in arrival.chunks(batch) {
            let mutations: Vec<Mutation> = chunk.iter().map(|&i| mutation(&records[i])).collect();
            let report = rt.block_on(graph.apply(&mutations)).unwrap();
            prop_assert_eq!(report.outcomes.len(), mutations.len());
            for (m, o) in mutations.iter().zip(&report.outcomes) {
                prop_assert!(o.is_success(), "{:?} -> {:?}", m, o);
            }
        }
        prop_assert_eq!(read_back(&graph), expected);
    }
}

#[tokio::test]
async fn a_replayed_create_after_a_delete_is_stale_and_the_tombstone_can_be_purged() {
    let g = MemoryGraph::new();
    let create = Mutation::upsert_vertex(Vertex::new("p1", "person")).with_version(1);
    let delete = Mutation::delete_vertex("p1").with_version(2);
    let outcomes = g
        .apply(&[create.clone(), delete.clone(), create.clone(), delete])
        .await
        .unwrap()
        .outcomes;
    assert_eq!(
        outcomes,
        [
            ItemOutcome::Written,
            ItemOutcome::Written,
            ItemOutcome::Stale,
            ItemOutcome::AlreadyPresent
        ]
    );
    assert_eq!(g.vertex_count(), 0);
    let p1 = ElementId::Vertex("p1".into());
    assert_eq!(g.tombstone(&p1), Some(2));
    assert_eq!(
        g.purge_tombstones(std::time::SystemTime::now() + std::time::Duration::from_secs(1)),
        1
    );
    // Past the tombstone's retention, the old create is no longer recognised as stale.
    assert_eq!(
        g.apply(&[create]).await.unwrap().outcomes,
        [ItemOutcome::Written]
    );
}

#[tokio::test]
async fn an_edge_to_a_vertex_not_yet_seen_makes_a_placeholder_that_its_upsert_completes() {
    let g = MemoryGraph::new();
    let follow = Mutation::upsert_edge(Edge::new("f1", "follows", "p1", "p2"))
        .with_endpoint_labels("person", "person")
        .with_version(5);
    assert_eq!(
        g.apply(&[follow]).await.unwrap().outcomes,
        [ItemOutcome::Written]
    );
    assert!(g.is_placeholder("p2"));
    let p2 =
        Mutation::upsert_vertex(Vertex::new("p2", "person").with("name", "Bo")).with_version(3);
    assert_eq!(
        g.apply(&[p2]).await.unwrap().outcomes,
        [ItemOutcome::Written]
    );
    assert!(!g.is_placeholder("p2"));
    assert_eq!(
        g.vertex("p2").unwrap().properties,
        [("name".to_owned(), "Bo".into())]
    );
    // The edge's delete leaves p1 without edges: a placeholder goes with its last edge.
    g.apply(&[Mutation::delete_edge("f1").with_version(6)])
        .await
        .unwrap();
    assert!(g.vertex("p1").is_none() && g.vertex("p2").is_some());
}

#[tokio::test]
async fn without_versions_the_order_given_decides() {
    let g = MemoryGraph::new();
    let v = |name: &str| Mutation::upsert_vertex(Vertex::new("p1", "person").with("name", name));
    g.apply(&[v("Ada"), v("Bo")]).await.unwrap();
    assert_eq!(
        g.vertex("p1").unwrap().properties,
        [("name".to_owned(), "Bo".into())]
    );
    g.apply(&[Mutation::delete_vertex("p1"), v("Cy")])
        .await
        .unwrap();
    assert_eq!(
        g.vertex("p1").unwrap().properties,
        [("name".to_owned(), "Cy".into())]
    );
    assert_eq!(g.tombstone(&ElementId::Vertex("p1".into())), None);
}
