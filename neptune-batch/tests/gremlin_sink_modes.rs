//! Every write mode against the real Gremlin Server: contents, redelivery, missing endpoints.

mod common;

use common::*;
use neptune_batch::gremlin::{Bytecode, GValue};
use neptune_batch::{
    ExistenceCheck, FollowsSchema, GraphSink, ItemFailure, ItemOutcome, WriteMode,
};

#[tokio::test]
async fn every_mode_writes_follows_edges_with_their_properties() {
    let t = transport().await;
    let schema = FollowsSchema::default();
    for mode in modes().await {
        let prefix = local_services::unique_name(mode.as_str());
        let sink = sink(mode).await;
        let people = people(&prefix, 5);
        let r = sink.write_vertices(&people).await.unwrap();
        assert_eq!(r.outcomes, vec![ItemOutcome::Written; 5], "{mode:?}");
        let edges: Vec<_> = (1..5)
            .map(|i| schema.edge(&people[0].id, &people[i].id, "2019-01-02", 1_000 + i as i64))
            .collect();
        let r = sink.write_edges(&edges).await.unwrap();
        assert_eq!(r.outcomes, vec![ItemOutcome::Written; 4], "{mode:?}");
        assert_eq!(out_degree(&t, &people[0].id).await, 4, "{mode:?}");
        let props = run(
            &t,
            edges_named(&sink, vec![edges[2].id.clone()])
                .step("project", ["d", "t", "to"])
                .step("by", ["creationDate"])
                .step("by", ["insertDateTime"])
                .step("by", [Bytecode::new().then("inV").then("id")]),
        )
        .await;
        assert_eq!(
            props[0].get("d"),
            Some(&GValue::from("2019-01-02")),
            "{mode:?}"
        );
        assert_eq!(props[0].get("t"), Some(&GValue::Long(1_003)), "{mode:?}");
        assert_eq!(
            props[0].get("to"),
            Some(&GValue::from(&people[3].id)),
            "{mode:?}"
        );
    }
}

#[tokio::test]
async fn a_redelivered_batch_leaves_one_edge_per_id_in_every_mode() {
    let t = transport().await;
    let schema = FollowsSchema::default();
    for mode in modes().await {
        let prefix = local_services::unique_name(mode.as_str());
        let sink = sink(mode).await;
        let people = people(&prefix, 3);
        sink.write_vertices(&people).await.unwrap();
        let edges = vec![
            schema.edge(&people[0].id, &people[1].id, "2019-01-02", 1),
            schema.edge(&people[0].id, &people[2].id, "2019-01-02", 2),
        ];
        assert_eq!(sink.write_edges(&edges).await.unwrap().succeeded(), 2);
        let again = sink.write_edges(&edges).await.unwrap();
        assert_eq!(
            again.outcomes,
            vec![ItemOutcome::AlreadyPresent; 2],
            "{mode:?}"
        );
        let again = sink.write_vertices(&people).await.unwrap();
        assert_eq!(
            again.outcomes,
            vec![ItemOutcome::AlreadyPresent; 3],
            "{mode:?}"
        );
        assert_eq!(out_degree(&t, &people[0].id).await, 2, "{mode:?}");
    }
}

#[tokio::test]
async fn a_repeated_id_within_one_call_is_written_once() {
    let t = transport().await;
    let prefix = local_services::unique_name("repeat");
    let sink = sink(WriteMode::Merge).await;
    let people = people(&prefix, 2);
    sink.write_vertices(&people).await.unwrap();
    let e = FollowsSchema::default().edge(&people[0].id, &people[1].id, "d", 1);
    let r = sink.write_edges(&[e.clone(), e.clone()]).await.unwrap();
    assert_eq!(
        r.outcomes,
        vec![ItemOutcome::Written, ItemOutcome::AlreadyPresent]
    );
    assert_eq!(out_degree(&t, &people[0].id).await, 1);
}

#[tokio::test]
async fn an_id_taken_by_another_edge_or_vertex_is_a_conflict_and_changes_nothing() {
    let t = transport().await;
    let schema = FollowsSchema::default();
    for mode in modes().await {
        let prefix = local_services::unique_name(mode.as_str());
        let sink = sink(mode).await;
        let people = people(&prefix, 4);
        sink.write_vertices(&people).await.unwrap();
        let taken = schema.edge(&people[0].id, &people[1].id, "d", 1);
        assert_eq!(
            sink.write_edges(std::slice::from_ref(&taken))
                .await
                .unwrap()
                .succeeded(),
            1
        );
        // Same id between other vertices, in a sub-batch with a new edge and a repeat.
        let mut impostor = schema.edge(&people[2].id, &people[3].id, "d", 2);
        impostor.id = taken.id.clone();
        let fresh = schema.edge(&people[0].id, &people[2].id, "d", 3);
        let r = sink
            .write_edges(&[fresh.clone(), impostor, taken.clone()])
            .await
            .unwrap();
        assert_eq!(r.outcomes[0], ItemOutcome::Written, "{mode:?}");
        assert!(
            matches!(
                &r.outcomes[1],
                ItemOutcome::Failed(ItemFailure::ConstraintViolation(why)) if why.contains(&people[0].id)
            ),
            "{mode:?}: {:?}",
            r.outcomes[1]
        );
        // The repeat of an id takes the first occurrence's outcome.
        assert!(!r.outcomes[2].is_success(), "{mode:?}");
        assert_eq!(out_degree(&t, &people[0].id).await, 2, "{mode:?}");
        assert_eq!(out_degree(&t, &people[2].id).await, 0, "{mode:?}");
        let ends = run(
            &t,
            Bytecode::new()
                .step("E", [taken.id.clone()])
                .then("inV")
                .then("id"),
        )
        .await;
        assert_eq!(ends, vec![GValue::from(&people[1].id)], "{mode:?}");

        // A vertex id taken with another label.
        let mut relabelled = people[3].clone();
        relabelled.label = "robot".into();
        let newcomer = neptune_batch::Vertex::new(format!("{prefix}-new"), "person");
        let r = sink
            .write_vertices(&[relabelled, newcomer.clone()])
            .await
            .unwrap();
        assert!(
            matches!(
                &r.outcomes[0],
                ItemOutcome::Failed(ItemFailure::ConstraintViolation(_))
            ),
            "{mode:?}: {:?}",
            r.outcomes[0]
        );
        assert_eq!(r.outcomes[1], ItemOutcome::Written, "{mode:?}");
        let labels = run(
            &t,
            Bytecode::new()
                .step("V", [people[3].id.clone()])
                .then("label"),
        )
        .await;
        assert_eq!(labels, vec![GValue::from("person")], "{mode:?}");
    }
}

#[tokio::test]
async fn every_edge_with_a_missing_endpoint_is_reported_and_the_rest_written() {
    let t = transport().await;
    let schema = FollowsSchema::default();
    for mode in modes().await {
        let prefix = local_services::unique_name(mode.as_str());
        let sink = sink(mode).await;
        let people = people(&prefix, 3);
        sink.write_vertices(&people).await.unwrap();
        let ghost_from = format!("{prefix}-ghost-from");
        let ghost_to = format!("{prefix}-ghost-to");
        // The original lost everything after a missing from-vertex and failed the whole batch
        // on a missing to-vertex.
        let edges = vec![
            schema.edge(&ghost_from, &people[1].id, "d", 1),
            schema.edge(&people[0].id, &people[1].id, "d", 2),
            schema.edge(&people[0].id, &ghost_to, "d", 3),
            schema.edge(&people[0].id, &people[2].id, "d", 4),
        ];
        let r = sink.write_edges(&edges).await.unwrap();
        assert_eq!(
            r.outcomes,
            vec![
                ItemOutcome::Failed(ItemFailure::MissingVertex {
                    id: ghost_from.clone()
                }),
                ItemOutcome::Written,
                ItemOutcome::Failed(ItemFailure::MissingVertex {
                    id: ghost_to.clone()
                }),
                ItemOutcome::Written,
            ],
            "{mode:?}"
        );
        assert_eq!(out_degree(&t, &people[0].id).await, 2, "{mode:?}");
        assert_eq!(
            count(&t, Bytecode::new().step("V", [ghost_from, ghost_to])).await,
            0
        );
    }
}

#[tokio::test]
async fn missing_endpoints_are_created_first_when_configured() {
    let t = transport().await;
    let prefix = local_services::unique_name("create-missing");
    let sink = sink_with(|c| {
        c.existence(ExistenceCheck::CreateMissingEndpoints {
            label: "person".into(),
        })
    })
    .await;
    let a = format!("{prefix}-a");
    let b = format!("{prefix}-b");
    let robot = format!("{prefix}-robot");
    assert!(sink
        .write_vertices(&[neptune_batch::Vertex::new(&robot, "robot")])
        .await
        .unwrap()
        .outcomes[0]
        .is_success());
    let schema = FollowsSchema::default();
    let edges = [schema.edge(&a, &b, "d", 1), schema.edge(&b, &robot, "d", 2)];
    let r = sink.write_edges(&edges).await.unwrap();
    assert_eq!(r.outcomes, vec![ItemOutcome::Written; 2]);
    assert_eq!(
        r.requests, 1,
        "in merge mode the missing vertices are created in the write's own request"
    );
    assert_eq!(out_degree(&t, &a).await, 1);
    assert_eq!(out_degree(&t, &b).await, 1);
    let labels = run(&t, Bytecode::new().step("V", [b]).then("label")).await;
    assert_eq!(labels, vec![GValue::from("person")]);
    // An endpoint that exists keeps its label.
    let labels = run(&t, Bytecode::new().step("V", [robot]).then("label")).await;
    assert_eq!(labels, vec![GValue::from("robot")]);
}

#[tokio::test]
async fn sub_batches_in_flight_together_write_every_edge() {
    let t = transport().await;
    let prefix = local_services::unique_name("inflight");
    let sink = sink_with(|c| c.batch_size(7).in_flight(4).writer(|w| w.pool_size(2))).await;
    let people = people(&prefix, 60);
    let r = sink.write_vertices(&people).await.unwrap();
    assert_eq!(r.succeeded(), 60);
    let schema = FollowsSchema::default();
    let edges: Vec<_> = (1..60)
        .map(|i| schema.edge(&people[0].id, &people[i].id, "d", i as i64))
        .collect();
    let r = sink.write_edges(&edges).await.unwrap();
    assert_eq!(r.outcomes, vec![ItemOutcome::Written; 59]);
    assert_eq!(
        r.requests, 9,
        "one request per sub-batch: the existence read and the merge go together"
    );
    assert_eq!(out_degree(&t, &people[0].id).await, 59);
    assert_eq!(sink.progress().items, 60 + 59);
}

#[tokio::test]
async fn sub_batches_sharing_a_vertex_never_run_together_so_never_conflict() {
    let t = transport().await;
    let prefix = local_services::unique_name("hub");
    let sink = std::sync::Arc::new(
        sink_with(|c| c.batch_size(10).in_flight(8).writer(|w| w.pool_size(4))).await,
    );
    let people = people(&prefix, 401);
    assert_eq!(sink.write_vertices(&people).await.unwrap().succeeded(), 401);
    // Every edge goes to one super-connector: every sub-batch touches it.
    let schema = FollowsSchema::default();
    let edges: Vec<_> = (1..401)
        .map(|i| schema.edge(&people[i].id, &people[0].id, "d", i as i64))
        .collect();
    let (left, right) = edges.split_at(200);
    // Two calls at once on the same sink (two shards' consumers), each with 8 in flight.
    let (a, b) = tokio::join!(sink.write_edges(left), sink.write_edges(right));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.outcomes, vec![ItemOutcome::Written; 200]);
    assert_eq!(b.outcomes, vec![ItemOutcome::Written; 200]);
    assert_eq!(
        (a.retries, b.retries),
        (0, 0),
        "no write conflict was retried"
    );
    let in_degree = count(&t, Bytecode::new().step("V", [&people[0].id]).then("inE")).await;
    assert_eq!(in_degree, 400);
}

#[tokio::test]
async fn follows_whose_ids_would_collide_in_the_originals_form_are_both_written() {
    // (q, p2, 1-2020-01-01T00:00:00Z) and (q-1, p2, 2020-01-01T00:00:00Z) would both be
    // `q-1-2020-01-01T00:00:00Z-p2`; the second is escaped instead.
    let t = transport().await;
    let schema = FollowsSchema::default();
    for mode in modes().await {
        // No `-` in the prefix: the first follow keeps the original's form.
        let prefix = local_services::unique_name(mode.as_str()).replace('-', "_");
        let sink = sink(mode).await;
        let q = neptune_batch::Vertex::new(format!("{prefix}q"), "person");
        let q1 = neptune_batch::Vertex::new(format!("{prefix}q-1"), "person");
        let p2 = neptune_batch::Vertex::new(format!("{prefix}p2"), "person");
        sink.write_vertices(&[q.clone(), q1.clone(), p2.clone()])
            .await
            .unwrap();
        let edges = [
            schema.edge(&q.id, &p2.id, "1-2020-01-01T00:00:00Z", 1),
            schema.edge(&q1.id, &p2.id, "2020-01-01T00:00:00Z", 2),
        ];
        assert_eq!(
            edges[0].id,
            format!("{prefix}q-1-2020-01-01T00:00:00Z-{prefix}p2")
        );
        assert_ne!(edges[0].id, edges[1].id);
        let r = sink.write_edges(&edges).await.unwrap();
        assert_eq!(r.outcomes, vec![ItemOutcome::Written; 2], "{mode:?}");
        let found = run(
            &t,
            Bytecode::new()
                .step("V", [p2.id.clone()])
                .step("inE", ["follows"])
                .then("count"),
        )
        .await;
        assert_eq!(
            found[0].as_i64(),
            Some(2),
            "{mode:?}: both follows are in the graph"
        );
    }
}

#[tokio::test]
async fn unchecked_writes_report_every_accepted_item_written_and_merges_queue_in_the_session() {
    let t = transport().await;
    let schema = FollowsSchema::default();
    for mode in modes().await {
        let prefix = local_services::unique_name(&format!("unchecked-{}", mode.as_str()));
        let sink = sink_with(|c| c.mode(mode).existence(ExistenceCheck::Unchecked)).await;
        assert_eq!(
            sink.queues_in_session(),
            mode == WriteMode::Merge,
            "only merges queue in the session: {mode:?}"
        );
        let people = people(&prefix, 3);
        let r = sink.write_vertices(&people).await.unwrap();
        assert_eq!(r.outcomes, vec![ItemOutcome::Written; 3], "{mode:?}");
        let edges = [
            schema.edge(&people[0].id, &people[1].id, "d", 1),
            schema.edge(&people[0].id, &people[2].id, "d", 2),
        ];
        let r = sink.write_edges(&edges).await.unwrap();
        assert_eq!(r.outcomes, vec![ItemOutcome::Written; 2], "{mode:?}");
        assert_eq!(r.requests, 1, "no reads: {mode:?}");
        assert_eq!(out_degree(&t, &people[0].id).await, 2, "{mode:?}");
        // A refused request is still bisected: the edge at fault fails alone.
        let ghost = format!("{prefix}-ghost");
        let edges = [
            schema.edge(&people[1].id, &people[2].id, "d", 3),
            schema.edge(&people[1].id, &ghost, "d", 4),
        ];
        let r = sink.write_edges(&edges).await.unwrap();
        assert_eq!(r.outcomes[0], ItemOutcome::Written, "{mode:?}");
        assert!(
            matches!(r.outcomes[1], ItemOutcome::Failed(_)),
            "{mode:?}: {:?}",
            r.outcomes[1]
        );
        assert_eq!(out_degree(&t, &people[1].id).await, 1, "{mode:?}");
    }
}
