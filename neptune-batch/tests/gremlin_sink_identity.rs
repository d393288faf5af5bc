//! How edges are named: the probe at connect against what the server really does with a
//! caller's edge id, the override, and the property-id write path (which runs on any server,
//! so these tests check it on TinkerGraph and JanusGraph alike).

mod common;

use common::*;
use neptune_batch::gremlin::{Bytecode, GValue, T};
use neptune_batch::{
    EdgeIdentity, ExistenceCheck, FollowsSchema, GraphSink, ItemFailure, ItemOutcome, Mutation,
    Vertex, WriteMode,
};

const KEY: &str = "eid";

/// Whether the server keeps a caller's edge id, tried with a real write (not the probe's).
async fn server_keeps_edge_ids() -> Result<(), String> {
    let t = transport().await;
    let prefix = local_services::unique_name("keeps").replace('-', "_");
    let (a, b) = (format!("{prefix}a"), format!("{prefix}b"));
    let sink = sink(WriteMode::Merge).await;
    sink.write_vertices(&[Vertex::new(&a, "person"), Vertex::new(&b, "person")])
        .await
        .unwrap();
    let write = Bytecode::new()
        .step("V", [a.as_str()])
        .step("addE", ["follows"])
        .step("to", [Bytecode::new().step("V", [b.as_str()])])
        .step(
            "property",
            [GValue::T(T::Id), GValue::from(format!("{prefix}e"))],
        );
    t.submit(&write)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The edges out of `from` whose id property is `id`.
async fn by_property(from: &str, id: &str) -> Vec<GValue> {
    let t = transport().await;
    run(
        &t,
        Bytecode::new()
            .step("V", [from])
            .then("outE")
            .step("has", [KEY, id])
            .step("project", ["to", "d"])
            .step("by", [Bytecode::new().then("inV").then("id")])
            .step("by", ["creationDate"]),
    )
    .await
}

fn property_ids() -> EdgeIdentity {
    EdgeIdentity::PropertyIds { key: KEY.into() }
}

#[tokio::test]
async fn the_probe_picks_the_identity_the_server_really_keeps() {
    let probed = sink(WriteMode::Merge).await;
    match server_keeps_edge_ids().await {
        Ok(()) => assert_eq!(probed.edge_identity(), &EdgeIdentity::ServerIds),
        Err(why) => {
            assert!(why.contains("user supplied identifiers"), "{why}");
            assert_eq!(probed.edge_identity(), &EdgeIdentity::property_ids());
        }
    }
}

#[tokio::test]
async fn the_override_skips_the_probe_either_way() {
    let schema = FollowsSchema::default();
    let probed = sink(WriteMode::Merge).await.edge_identity().clone();
    let prefix = local_services::unique_name("forced").replace('-', "_");
    // Forced to server ids: where the server assigns edge ids, every edge is refused for it,
    // with the server's reason, and not retried.
    let forced = sink_with(|c| c.edge_identity(EdgeIdentity::ServerIds)).await;
    assert_eq!(forced.edge_identity(), &EdgeIdentity::ServerIds);
    let people = people(&prefix, 2);
    forced.write_vertices(&people).await.unwrap();
    let edge = schema.edge(&people[0].id, &people[1].id, "d", 1);
    let r = forced
        .write_edges(std::slice::from_ref(&edge))
        .await
        .unwrap();
    match probed {
        EdgeIdentity::ServerIds => assert_eq!(r.outcomes, vec![ItemOutcome::Written]),
        _ => {
            assert!(
                matches!(&r.outcomes[0], ItemOutcome::Failed(ItemFailure::Rejected { message, .. })
                    if message.contains("user supplied identifiers")),
                "{:?}",
                r.outcomes
            );
            assert_eq!(r.retries, 0);
        }
    }
    // Forced to property ids: taken on any server, even one that keeps caller ids.
    let forced = sink_with(|c| c.edge_identity(property_ids())).await;
    assert_eq!(forced.edge_identity(), &property_ids());
}

#[tokio::test]
async fn property_ids_are_written_once_and_found_from_their_vertex_in_both_modes() {
    let t = transport().await;
    let schema = FollowsSchema::default();
    for mode in [WriteMode::Merge, WriteMode::Conditional] {
        let prefix = local_services::unique_name(mode.as_str()).replace('-', "_");
        let sink = sink_with(|c| c.mode(mode).edge_identity(property_ids())).await;
        let people = people(&prefix, 4);
        sink.write_vertices(&people).await.unwrap();
        let edges: Vec<_> = (1..4)
            .map(|i| schema.edge(&people[0].id, &people[i].id, "2019-01-02", i as i64))
            .collect();
        let r = sink.write_edges(&edges).await.unwrap();
        assert_eq!(r.outcomes, vec![ItemOutcome::Written; 3], "{mode:?}");
        assert_eq!(out_degree(&t, &people[0].id).await, 3, "{mode:?}");
        let found = by_property(&people[0].id, &edges[1].id).await;
        assert_eq!(found.len(), 1, "{mode:?}");
        assert_eq!(found[0].get("to"), Some(&GValue::from(&people[2].id)));
        assert_eq!(found[0].get("d"), Some(&GValue::from("2019-01-02")));

        // Redelivered: present, nothing added.
        let again = sink.write_edges(&edges).await.unwrap();
        assert_eq!(
            again.outcomes,
            vec![ItemOutcome::AlreadyPresent; 3],
            "{mode:?}"
        );
        assert_eq!(out_degree(&t, &people[0].id).await, 3, "{mode:?}");

        // The id from the same vertex to another: a conflict, and the edge stays as it was;
        // the same id from another vertex is another edge.
        let mut impostor = schema.edge(&people[0].id, &people[3].id, "d", 9);
        impostor.id = edges[0].id.clone();
        let mut elsewhere = schema.edge(&people[2].id, &people[1].id, "d", 9);
        elsewhere.id = edges[0].id.clone();
        // (Two calls: within one call a repeated id takes its first occurrence's outcome.)
        let r = sink.write_edges(&[impostor]).await.unwrap();
        assert!(
            matches!(&r.outcomes[0], ItemOutcome::Failed(ItemFailure::ConstraintViolation(why))
                if why.contains(&people[1].id)),
            "{mode:?}: {:?}",
            r.outcomes
        );
        let r = sink.write_edges(&[elsewhere]).await.unwrap();
        assert_eq!(r.outcomes, vec![ItemOutcome::Written], "{mode:?}");
        assert_eq!(out_degree(&t, &people[0].id).await, 3, "{mode:?}");
        assert_eq!(by_property(&people[0].id, &edges[0].id).await.len(), 1);
        assert_eq!(by_property(&people[2].id, &edges[0].id).await.len(), 1);

        // A missing endpoint fails its edge alone.
        let ghost = format!("{prefix}ghost");
        let edges = [
            schema.edge(&people[1].id, &ghost, "d", 1),
            schema.edge(&people[1].id, &people[2].id, "d", 2),
        ];
        let r = sink.write_edges(&edges).await.unwrap();
        assert_eq!(
            r.outcomes,
            vec![
                ItemOutcome::Failed(ItemFailure::MissingVertex { id: ghost }),
                ItemOutcome::Written
            ],
            "{mode:?}"
        );
    }
}

#[tokio::test]
async fn with_property_ids_missing_endpoints_are_created_in_the_merge_itself() {
    let t = transport().await;
    let prefix = local_services::unique_name("create").replace('-', "_");
    let sink = sink_with(|c| {
        c.edge_identity(property_ids())
            .existence(ExistenceCheck::CreateMissingEndpoints {
                label: "person".into(),
            })
    })
    .await;
    let (a, b) = (format!("{prefix}a"), format!("{prefix}b"));
    let schema = FollowsSchema::default();
    let r = sink
        .write_edges(&[schema.edge(&a, &b, "d", 1), schema.edge(&b, &a, "d", 2)])
        .await
        .unwrap();
    assert_eq!(r.outcomes, vec![ItemOutcome::Written; 2]);
    assert_eq!(
        r.requests, 1,
        "the endpoints are merged in the write's request"
    );
    assert_eq!(out_degree(&t, &a).await, 1);
    assert_eq!(out_degree(&t, &b).await, 1);
}

#[tokio::test]
async fn with_property_ids_plain_writes_are_refused_and_changes_find_edges_by_their_property() {
    let refused = neptune_batch::GremlinSinkConfig::builder(gremlin_url().await)
        .mode(WriteMode::Plain)
        .edge_identity(property_ids())
        .build()
        .unwrap_err();
    assert_eq!(refused.field(), "mode");
    for mode in [WriteMode::Merge, WriteMode::Conditional] {
        let t = transport().await;
        let sink = sink_with(|c| c.mode(mode).edge_identity(property_ids())).await;
        let prefix = local_services::unique_name("chg").replace('-', "_");
        let (a, b, id) = (
            format!("{prefix}a"),
            format!("{prefix}b"),
            format!("{prefix}e"),
        );
        let follow = Mutation::upsert_edge(neptune_batch::Edge::new(&id, "follows", &a, &b))
            .with_endpoint_labels("person", "person")
            .with_version(1);
        let r = sink.apply(&[follow]).await.unwrap();
        assert_eq!(r.outcomes, [ItemOutcome::Written], "{mode:?}");
        let by_key = || {
            Bytecode::new()
                .then("E")
                .step("has", [GValue::from(KEY), GValue::from(id.as_str())])
        };
        assert_eq!(
            count(&t, by_key()).await,
            1,
            "{mode:?}: the id is in the property"
        );
        // A delete names the id alone: the edge is found wherever it is.
        let r = sink
            .apply(&[Mutation::delete_edge(&id).with_version(2)])
            .await
            .unwrap();
        assert_eq!(r.outcomes, [ItemOutcome::Written], "{mode:?}");
        assert_eq!(count(&t, by_key()).await, 0, "{mode:?}: the edge went");
        let tombstone = neptune_batch::ElementId::Edge(id.clone()).tombstone_id();
        let version = run(
            &t,
            Bytecode::new()
                .step("V", [tombstone])
                .step("values", ["_version"]),
        )
        .await;
        assert_eq!(
            version,
            [GValue::Long(2)],
            "{mode:?}: the tombstone holds the delete"
        );
        // An older upsert replayed is stale: the tombstone says so.
        let old =
            Mutation::upsert_edge(neptune_batch::Edge::new(&id, "follows", &a, &b)).with_version(1);
        let r = sink.apply(&[old]).await.unwrap();
        assert_eq!(r.outcomes, [ItemOutcome::Stale], "{mode:?}");
        assert_eq!(count(&t, by_key()).await, 0, "{mode:?}: not brought back");
    }
}
