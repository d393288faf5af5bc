//! Purging tombstones on the real Gremlin Server. Its own test binary: a purge reaches every
//! tombstone of the graph, so it must not run beside tests whose replays rely on theirs.

mod common;

use neptune_batch::{GraphSink, ItemOutcome, Mutation, Vertex, WriteMode};

#[tokio::test]
async fn tombstones_keep_replays_stale_until_purged() {
    let sink = common::sink(WriteMode::Merge).await;
    let id = format!("{}-t", local_services::unique_name("tomb"));
    let create = Mutation::upsert_vertex(Vertex::new(&id, "person")).with_version(1);
    let delete = Mutation::delete_vertex(&id).with_version(2);
    let out = sink.apply(&[create.clone(), delete]).await.unwrap();
    assert_eq!(out.outcomes, [ItemOutcome::Written, ItemOutcome::Written]);
    assert_eq!(
        sink.apply(std::slice::from_ref(&create))
            .await
            .unwrap()
            .outcomes,
        [ItemOutcome::Stale],
        "a replayed create does not bring the vertex back"
    );
    let purged = sink
        .purge_tombstones(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .await
        .unwrap();
    assert!(purged >= 1, "{purged}");
    assert_eq!(
        sink.apply(&[create]).await.unwrap().outcomes,
        [ItemOutcome::Written]
    );
}
