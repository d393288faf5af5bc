//! The Gremlin sink keeps the mutation contract on the real Gremlin Server: a versioned change
//! stream delivered in any order, batching and repetition leaves the graph the model computes
//! from the records alone, read back with queries of this test's own.
//!
//! The sinks name edges as the probe at connect finds (server ids on TinkerGraph, property ids
//! on JanusGraph); `MUTATIONS_EDGE_IDENTITY=property` forces property ids on any server, e.g.
//! to run the property-id path on TinkerGraph. The small tests run with forced property ids
//! too, whatever the variable says.

mod common;

use common::changes::{mutation, SPACE};
use local_services::change_model::KeySpace;
use local_services::change_model::{expected_graph, ExpectedGraph};
use neptune_batch::gremlin::{anon, Bytecode, GValue, T};
use neptune_batch::{
    Edge, EdgeIdentity, GraphSink, GremlinSink, ItemOutcome, Mutation, PropertyPolicy,
    PropertyValue, Vertex, WriteMode,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// The edge identity `MUTATIONS_EDGE_IDENTITY` forces: `property` (property ids in the default
/// key), or nothing (the probe decides).
fn forced_identity() -> Option<EdgeIdentity> {
    match std::env::var("MUTATIONS_EDGE_IDENTITY").as_deref() {
        Ok("property") => Some(EdgeIdentity::property_ids()),
        Ok("" | "probe") | Err(_) => None,
        Ok(other) => panic!("MUTATIONS_EDGE_IDENTITY={other}: expected property or probe"),
    }
}

/// A sink in `mode`, naming edges as `identity` says (the probe decides with `None`).
async fn sink(mode: WriteMode, identity: Option<EdgeIdentity>) -> GremlinSink {
    common::sink_with(|c| c.mode(mode).edge_identity(identity)).await
}

/// What the server holds among the ids of `prefix`, in the model's terms: placeholders apart,
/// tombstones and the sink's own keys (the id property too) left out.
async fn read_back(sink: &GremlinSink, prefix: &str, space: KeySpace) -> ExpectedGraph {
    let t = sink.transport();
    let id_key = sink.edge_identity().key().map(str::to_owned);
    let vertex_ids: Vec<String> = (0..space.vertices)
        .map(|i| format!("{prefix}p{i}"))
        .collect();
    let edge_ids: Vec<String> = (0..space.edges).map(|j| format!("{prefix}f{j}")).collect();
    let vertices = common::run(
        t,
        Bytecode::new()
            .step("V", vertex_ids)
            .step("project", ["i", "l", "props"])
            .step("by", [T::Id])
            .step("by", [T::Label])
            .step("by", [anon("valueMap", Vec::<GValue>::new())]),
    )
    .await;
    let edge_id_by = match &id_key {
        None => GValue::T(T::Id),
        Some(key) => GValue::from(key),
    };
    let edges = common::run(
        t,
        common::edges_named(sink, edge_ids)
            .step("project", ["i", "l", "o", "n", "props"])
            .step("by", [edge_id_by])
            .step("by", [T::Label])
            .step("by", [Bytecode::new().then("outV").then("id")])
            .step("by", [Bytecode::new().then("inV").then("id")])
            .step("by", [anon("valueMap", Vec::<GValue>::new())]),
    )
    .await;
    let props = |row: &GValue| -> BTreeMap<String, serde_json::Value> {
        let Some(GValue::Map(entries)) = row.get("props") else {
            return BTreeMap::new();
        };
        entries
            .iter()
            .filter_map(|(k, v)| {
                let k = k.as_str()?.to_owned();
                // Vertex properties come as a list of values, edge properties as one value.
                let v = match v {
                    GValue::List(values) => values.first()?.clone(),
                    v => v.clone(),
                };
                Some((k, serde_json::Value::String(v.as_str()?.to_owned())))
            })
            .filter(|(k, _)| !k.starts_with('_') && Some(k) != id_key.as_ref())
            .collect()
    };
    let mut out = ExpectedGraph::default();
    for row in &vertices {
        let id = row.get("i").and_then(GValue::id_text).unwrap();
        let label = row.get("l").and_then(GValue::as_str).unwrap().to_owned();
        let placeholder = matches!(row.get("props"), Some(GValue::Map(m))
            if m.iter().any(|(k, _)| k.as_str() == Some("_placeholder")));
        if placeholder {
            out.placeholders.insert(id, label);
        } else {
            out.vertices.insert(id, (label, props(row)));
        }
    }
    for row in &edges {
        let text = |k: &str| row.get(k).and_then(GValue::id_text).unwrap();
        let label = row.get("l").and_then(GValue::as_str).unwrap().to_owned();
        out.edges
            .insert(text("i"), (label, text("o"), text("n"), props(row)));
    }
    out
}

/// Delivers `records` in a shuffled, repeated order in batches of `batch` through `callers`
/// concurrent callers (as a consumer's shards and lanes), each record through the caller of its
/// partition key (`keys`: a vertex's id, an edge's `from`), caller `c` calling
/// `sinks[c % sinks.len()]` (more than one sink: more than one process), and compares the
/// graph with the model.
async fn converges(
    sinks: &[GremlinSink],
    callers: usize,
    (prefix, space): (&str, KeySpace),
    records: &[String],
    keys: &[String],
    seed: u64,
    batch: usize,
) {
    let expected = expected_graph(records);
    let mut arrival: Vec<usize> = (0..records.len()).collect();
    arrival.extend((0..records.len() / 4).map(|i| (i * 7 + seed as usize) % records.len()));
    let mut rng = seed | 1;
    for i in (1..arrival.len()).rev() {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        arrival.swap(i, (rng >> 33) as usize % (i + 1));
    }
    let shard = |i: usize| keys[i].bytes().map(usize::from).sum::<usize>() % callers;
    let parts: Vec<Vec<usize>> = (0..callers)
        .map(|s| arrival.iter().copied().filter(|&i| shard(i) == s).collect())
        .collect();
    let calls = parts.iter().enumerate().map(|(c, part)| async move {
        let sink = &sinks[c % sinks.len()];
        for chunk in part.chunks(batch) {
            let mutations: Vec<Mutation> = chunk.iter().map(|&i| mutation(&records[i])).collect();
            let report = sink.apply(&mutations).await.unwrap();
            for (m, o) in mutations.iter().zip(&report.outcomes) {
                assert!(o.is_success(), "{m:?} -> {o:?}");
            }
        }
    });
    futures::future::join_all(calls).await;
    let actual = read_back(&sinks[0], prefix, space).await;
    if actual != expected {
        let mut diff = Vec::new();
        differences(
            "vertex",
            &expected.vertices,
            &actual.vertices,
            prefix,
            &mut diff,
        );
        differences(
            "placeholder",
            &expected.placeholders,
            &actual.placeholders,
            prefix,
            &mut diff,
        );
        differences("edge", &expected.edges, &actual.edges, prefix, &mut diff);
        let records: Vec<String> = records.iter().map(|r| r.replace(prefix, "")).collect();
        panic!("the graph differs from the model: {diff:#?}\nrecords: {records:#?}");
    }
}

/// The entries of `want` and `got` that differ, ids shortened by `prefix`.
fn differences<V: std::fmt::Debug + PartialEq>(
    what: &str,
    want: &BTreeMap<String, V>,
    got: &BTreeMap<String, V>,
    prefix: &str,
    out: &mut Vec<String>,
) {
    let short = |v: &dyn std::fmt::Debug| format!("{v:?}").replace(prefix, "");
    for (k, v) in want {
        if got.get(k) != Some(v) {
            out.push(format!(
                "{what} {}: want {}, got {}",
                short(k),
                short(v),
                short(&got.get(k))
            ));
        }
    }
    for (k, v) in got {
        if !want.contains_key(k) {
            out.push(format!("{what} {}: unexpected {}", short(k), short(v)));
        }
    }
}

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Random versioned change streams over `space`, delivered by [`converges`] through `sinks`
/// sinks in `mode` (two: two processes, each with one caller) or one sink with eight callers.
fn model_cases(mode: WriteMode, sinks: usize, space: KeySpace, n: u32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sinks: Vec<GremlinSink> = rt.block_on(futures::future::join_all(
        (0..sinks).map(|_| sink(mode, forced_identity())),
    ));
    let callers = if sinks.len() > 1 { sinks.len() } else { 8 };
    let most = if space == SPACE { 150 } else { 1_000 };
    let case = std::sync::atomic::AtomicU32::new(0);
    proptest!(cases(n), |(ops in prop::collection::vec(space.op(), 1..most), seed in any::<u64>(), batch in 1usize..40)| {
        let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let prefix = format!("{}-{n}-", local_services::unique_name(mode.as_str()));
        let (keys, records): (Vec<String>, Vec<String>) = space.records(&prefix, &ops).into_iter().unzip();
        rt.block_on(converges(&sinks, callers, (&prefix, space), &records, &keys, seed, batch));
    });
}

/// 50 vertices and 300 edges: super-connectors and deletes of their neighbours.
const WIDE: KeySpace = KeySpace {
    vertices: 50,
    edges: 300,
};

#[test]
fn a_versioned_stream_in_any_order_from_two_processes_leaves_the_models_graph_merging() {
    model_cases(WriteMode::Merge, 2, SPACE, 30);
}

#[test]
fn a_versioned_stream_in_any_order_from_eight_callers_leaves_the_models_graph_merging() {
    model_cases(WriteMode::Merge, 1, WIDE, 10);
}

/// The chained shape: no `mergeV`/`mergeE`, no mid-traversal `E()`, no `fail()`.
#[test]
fn a_versioned_stream_in_any_order_from_two_processes_leaves_the_models_graph_conditionally() {
    model_cases(WriteMode::Conditional, 2, SPACE, 30);
}

#[test]
fn a_versioned_stream_in_any_order_from_eight_callers_leaves_the_models_graph_conditionally() {
    model_cases(WriteMode::Conditional, 1, WIDE, 10);
}

#[tokio::test]
async fn updates_replace_or_merge_properties_and_sets_and_dates_round_trip() {
    for (mode, identity) in modes_and_identities() {
        let sink = sink(mode, identity).await;
        updates_replace_or_merge_properties_and_sets_and_dates_round_trip_in(&sink).await;
    }
}

/// Each write mode, with the identity the probe finds (or `MUTATIONS_EDGE_IDENTITY` forces)
/// and with property ids forced.
fn modes_and_identities() -> Vec<(WriteMode, Option<EdgeIdentity>)> {
    [WriteMode::Merge, WriteMode::Conditional]
        .into_iter()
        .flat_map(|m| {
            [
                (m, forced_identity()),
                (m, Some(EdgeIdentity::property_ids())),
            ]
        })
        .collect()
}

async fn updates_replace_or_merge_properties_and_sets_and_dates_round_trip_in(sink: &GremlinSink) {
    let p = local_services::unique_name("upd");
    let id = format!("{p}-v");
    let first = Vertex::new(&id, "person")
        .with("name", "Ada")
        .with("age", 36i64)
        .with("tags", PropertyValue::Set(vec!["a".into(), "b".into()]))
        .with("born", PropertyValue::Date(-4_102_444_800_000));
    let out = sink
        .apply(&[Mutation::upsert_vertex(first).with_version(1)])
        .await
        .unwrap();
    assert_eq!(out.outcomes, [ItemOutcome::Written]);
    let update = Vertex::new(&id, "person").with("age", 37i64);
    let replace = Vertex::new(&id, "person").with("name", "Ada L.");
    let out = sink
        .apply(&[
            Mutation::upsert_vertex(update.clone())
                .with_policy(PropertyPolicy::Update)
                .with_version(2),
            Mutation::upsert_vertex(update)
                .with_policy(PropertyPolicy::Update)
                .with_version(2),
        ])
        .await
        .unwrap();
    assert_eq!(
        out.outcomes,
        [ItemOutcome::Written, ItemOutcome::AlreadyPresent]
    );
    let t = sink.transport();
    let values = |key: &'static str| {
        let id = id.clone();
        async move { common::run(t, Bytecode::new().step("V", [id]).step("values", [key])).await }
    };
    assert_eq!(values("age").await, [GValue::Long(37)]);
    assert_eq!(
        values("name").await,
        [GValue::from("Ada")],
        "update keeps the others"
    );
    assert_eq!(values("tags").await.len(), 2, "a set keeps its values");
    assert_eq!(values("born").await, [GValue::Date(-4_102_444_800_000)]);
    let out = sink
        .apply(&[Mutation::upsert_vertex(replace).with_version(3)])
        .await
        .unwrap();
    assert_eq!(out.outcomes, [ItemOutcome::Written]);
    assert!(
        values("age").await.is_empty(),
        "replace drops what it does not carry"
    );
    assert!(values("tags").await.is_empty());
    assert_eq!(values("name").await, [GValue::from("Ada L.")]);
    // An edge's replace keeps only what it carries too; a property removal is versioned.
    // Keys of their own, numbers here: JanusGraph fixes a key's type at its first use, and the
    // model tests' `w` holds strings.
    let e = format!("{p}-e");
    let edge = |w: &str| Edge::new(&e, "follows", &id, format!("{p}-other")).with(w, 1i64);
    sink.apply(&[Mutation::upsert_edge(edge("strength")).with_version(4)])
        .await
        .unwrap();
    sink.apply(&[Mutation::upsert_edge(edge("rank")).with_version(5)])
        .await
        .unwrap();
    let keys = common::run(
        t,
        common::edges_named(sink, vec![e.clone()])
            .then("properties")
            .then("key"),
    )
    .await;
    assert!(
        keys.contains(&GValue::from("rank")) && !keys.contains(&GValue::from("strength")),
        "{keys:?}"
    );
    let out = sink
        .apply(&[
            Mutation::remove_property(neptune_batch::ElementId::Vertex(id.clone()), "name")
                .with_version(2),
            Mutation::remove_property(neptune_batch::ElementId::Vertex(id.clone()), "name")
                .with_version(6),
        ])
        .await
        .unwrap();
    assert_eq!(out.outcomes, [ItemOutcome::Stale, ItemOutcome::Written]);
    assert!(values("name").await.is_empty());
}

#[tokio::test]
async fn a_placeholder_is_completed_by_its_vertex_upsert() {
    for (mode, identity) in modes_and_identities() {
        a_placeholder_is_completed_by_its_vertex_upsert_in(&sink(mode, identity).await).await;
    }
}

async fn a_placeholder_is_completed_by_its_vertex_upsert_in(sink: &GremlinSink) {
    let p = local_services::unique_name("ph");
    let (a, b) = (format!("{p}-a"), format!("{p}-b"));
    let follow = Mutation::upsert_edge(Edge::new(format!("{p}-e"), "follows", &a, &b))
        .with_endpoint_labels("person", "person")
        .with_version(1);
    sink.apply(&[follow]).await.unwrap();
    let t = sink.transport();
    let marked = |id: String| async move {
        common::run(
            t,
            Bytecode::new()
                .step("V", [id])
                .step("values", ["_placeholder"]),
        )
        .await
    };
    assert_eq!(marked(b.clone()).await, [GValue::Bool(true)]);
    let out = sink
        .apply(&[Mutation::upsert_vertex(Vertex::new(&b, "person").with("n", "1")).with_version(2)])
        .await
        .unwrap();
    assert_eq!(out.outcomes, [ItemOutcome::Written]);
    assert!(
        marked(b.clone()).await.is_empty(),
        "the placeholder mark is gone"
    );
    assert_eq!(marked(a).await, [GValue::Bool(true)]);
}

/// A placeholder whose last neighbour is deleted in the request that completes it stays, as a
/// vertex: the delete notes it as a placeholder before the upsert completes it.
#[tokio::test]
async fn a_placeholder_completed_beside_the_delete_of_its_last_neighbour_stays() {
    for (mode, identity) in modes_and_identities() {
        let sink = sink(mode, identity.clone()).await;
        let prefix = local_services::unique_name("beside");
        let (p, q) = (format!("{prefix}-p"), format!("{prefix}-q"));
        let edge = Edge::new(format!("{prefix}-e"), "follows", &q, &p);
        let first = sink
            .apply(&[Mutation::upsert_edge(edge)
                .with_endpoint_labels("person", "person")
                .with_version(1)])
            .await
            .unwrap();
        assert_eq!(first.outcomes, [ItemOutcome::Written]);
        let both = sink
            .apply(&[
                Mutation::delete_vertex(&q).with_version(2),
                Mutation::upsert_vertex(Vertex::new(&p, "person").with("name", "Ada"))
                    .with_version(3),
            ])
            .await
            .unwrap();
        assert_eq!(both.outcomes, [ItemOutcome::Written, ItemOutcome::Written]);
        let name = common::run(
            sink.transport(),
            Bytecode::new()
                .step("V", [p.clone()])
                .step("values", ["name"]),
        )
        .await;
        assert_eq!(name, [GValue::from("Ada")], "{mode:?} {identity:?}");
    }
}
