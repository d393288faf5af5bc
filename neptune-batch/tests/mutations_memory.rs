//! The in-memory graph keeps the mutation contract: a versioned change stream leaves the graph
//! the model computes from the records alone, in whatever order, batching and repetition the
//! changes arrive.

mod common;

use common::changes::{mutation, op, read_back, record};
use local_services::change_model::expected_graph;
use neptune_batch::{Edge, ElementId, GraphSink, ItemOutcome, MemoryGraph, Mutation, Vertex};
use proptest::prelude::*;

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
            ops.iter().enumerate().map(|(i, op)| record("", op, i as u64 + 1)).collect();
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
