//! Retry classes, reconnection and timeouts, through a fault-injecting proxy in front of the
//! real Gremlin Server.

mod common;

use common::*;
use local_services::{Fault, FaultProxy};
use neptune_batch::{
    EdgeIdentity, FollowsSchema, GraphSink, GremlinSink, GremlinSinkConfig,
    GremlinSinkConfigBuilder, ItemFailure, ItemOutcome, Vertex,
};
use std::time::Duration;
use stream2neptune_common::{Backoff, Classify};

/// A proxy, a sink writing through it (fast retries, a 1 s request timeout), and two people.
async fn setup(
    tweak: impl FnOnce(GremlinSinkConfigBuilder) -> GremlinSinkConfigBuilder,
) -> (FaultProxy, GremlinSink, Vec<Vertex>) {
    let proxy = FaultProxy::start(&gremlin_url().await)
        .await
        .expect("a loopback port for the proxy");
    let config = GremlinSinkConfig::builder(proxy.url.clone())
        .retry(fast_retries(5))
        .writer(|w| w.request_timeout(Duration::from_secs(1)));
    let config = tweak(config).build().expect("a valid configuration");
    let sink = GremlinSink::connect(config)
        .await
        .expect("connect through the proxy");
    let people = people(&local_services::unique_name("fault"), 3);
    assert_eq!(sink.write_vertices(&people).await.unwrap().succeeded(), 3);
    (proxy, sink, people)
}

/// Retries from 5 ms, capped at 50 ms.
fn fast_retries(max_retries: u32) -> Backoff {
    Backoff::new(Duration::from_millis(5), Duration::from_millis(50)).with_max_retries(max_retries)
}

fn edge(people: &[Vertex], to: usize) -> neptune_batch::Edge {
    FollowsSchema::default().edge(&people[0].id, &people[to].id, "2019-01-02", 1)
}

/// Guards against a hang: a writer must always come back.
async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("the writer came back")
}

#[tokio::test]
async fn a_concurrent_modification_is_retried_and_counted_by_reason() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let t = transport().await;
    let (proxy, sink, people) = setup(|c| c).await;
    proxy.push([
        Fault::neptune("ConcurrentModificationException"),
        Fault::Error {
            status: 500,
            message: "Conflict".into(),
            exceptions: vec![
                "org.apache.tinkerpop.gremlin.structure.util.TransactionException".into(),
            ],
        },
    ]);
    let r = bounded(sink.write_edges(&[edge(&people, 1)]))
        .await
        .unwrap();
    assert_eq!(r.outcomes, vec![ItemOutcome::Written]);
    assert_eq!((r.retries, proxy.faults_applied()), (2, 2));
    assert_eq!(out_degree(&t, &people[0].id).await, 1);

    let retries: u64 = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, _, _, _)| {
            key.key().name() == neptune_batch::metrics::RETRIES
                && key
                    .key()
                    .labels()
                    .any(|l| l.key() == "reason" && l.value() == "concurrent_modification")
        })
        .map(|(_, _, _, v)| match v {
            metrics_util::debugging::DebugValue::Counter(c) => c,
            _ => 0,
        })
        .sum();
    assert_eq!(retries, 2);
}

#[tokio::test]
async fn a_read_only_replica_makes_the_writer_reconnect_then_retry() {
    let t = transport().await;
    let (proxy, sink, people) = setup(|c| c).await;
    let before = proxy.connections();
    proxy.push([Fault::neptune("ReadOnlyViolationException")]);
    let r = bounded(sink.write_edges(&[edge(&people, 1)]))
        .await
        .unwrap();
    assert_eq!(r.outcomes, vec![ItemOutcome::Written]);
    assert!(proxy.connections() > before, "a new connection was opened");
    assert_eq!(out_degree(&t, &people[0].id).await, 1);
}

/// A conflict follows its own schedule (the default: 15 retries, 1 ms doubling to 200 ms),
/// not the outage schedule's 5 retries; when it is used up the item is `RetriesExhausted`,
/// which a consumer holds and sends again, never a dead letter.
#[tokio::test]
async fn a_persistent_conflict_ends_as_retries_exhausted_after_its_own_bound() {
    let t = transport().await;
    let (proxy, sink, people) = setup(|c| c).await;
    proxy.push(vec![Fault::neptune("ConcurrentModificationException"); 16]);
    let started = std::time::Instant::now();
    let r = bounded(sink.write_edges(&[edge(&people, 1)]))
        .await
        .unwrap();
    assert!(
        matches!(
            r.outcomes[0],
            ItemOutcome::Failed(ItemFailure::RetriesExhausted { attempts: 16, .. })
        ),
        "{:?}",
        r.outcomes
    );
    assert_eq!((r.retries, proxy.faults_applied()), (15, 16));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "fifteen conflict retries sleep at most 1.66 s in all, not the outage schedule's seconds"
    );
    assert_eq!(out_degree(&t, &people[0].id).await, 0);
}

/// `n` edges among the three people of [`setup`], each of its own date, so each distinct.
fn edges_among(people: &[Vertex], n: usize) -> Vec<neptune_batch::Edge> {
    (0..n)
        .map(|i| {
            let (from, to) = [(1, 0), (2, 0), (1, 2), (2, 1)][i % 4];
            FollowsSchema::default().edge(
                &people[from].id,
                &people[to].id,
                &format!("2019-01-{:02}", i + 1),
                1,
            )
        })
        .collect()
}

/// Four edges written after `conflicts` write conflicts: every edge is written, and the
/// requests, retries and sleep are as `expected` (requests, retries, ms asleep).
async fn four_edges_after_conflicts(conflicts: usize, expected: (u32, u32, u64), why: &str) {
    let t = transport().await;
    let (proxy, sink, people) = setup(|c| c).await;
    proxy.push(vec![
        Fault::neptune("ConcurrentModificationException");
        conflicts
    ]);
    let r = bounded(sink.write_edges(&edges_among(&people, 4)))
        .await
        .unwrap();
    assert_eq!(r.outcomes, vec![ItemOutcome::Written; 4]);
    assert_eq!(proxy.faults_applied(), conflicts as u64);
    assert_eq!(
        (r.requests, r.retries, r.conflict_sleep_ms),
        expected,
        "{why}"
    );
    assert_eq!(out_degree(&t, &people[1].id).await, 2);
    assert_eq!(out_degree(&t, &people[2].id).await, 2);
}

/// A write conflict is another process's transaction on one of the request's vertices, and the
/// server does not say which: the request goes again at once, without a sleep.
#[tokio::test]
async fn a_conflict_sends_the_request_again_at_once() {
    four_edges_after_conflicts(1, (2, 1, 0), "one refused request, then the same again").await;
}

/// If the request conflicts again it is cut in two (the items at the vertices it touches most
/// in the second part), and both parts go at once, without a sleep.
#[tokio::test]
async fn a_second_conflict_cuts_the_request_in_two_and_both_parts_go_at_once() {
    four_edges_after_conflicts(
        2,
        (4, 2, 0),
        "one request refused twice, then its two halves",
    )
    .await;
}

/// A half of a cut request that the server refuses (an edge to a missing person) takes the
/// careful path alone: the other half's items, merged already, are reported written, not
/// found present by the careful path's read.
#[tokio::test]
async fn a_refused_half_of_a_cut_request_alone_takes_the_careful_path() {
    let t = transport().await;
    let (proxy, sink, people) = setup(|c| c).await;
    let mut edges = edges_among(&people, 3);
    let missing = format!("{}-nobody", people[0].id);
    edges.push(FollowsSchema::default().edge(&people[1].id, &missing, "2019-02-01", 1));
    proxy.push(vec![Fault::neptune("ConcurrentModificationException"); 2]);
    let r = bounded(sink.write_edges(&edges)).await.unwrap();
    assert_eq!(
        r.outcomes,
        vec![
            ItemOutcome::Written,
            ItemOutcome::Written,
            ItemOutcome::Written,
            ItemOutcome::Failed(ItemFailure::MissingVertex { id: missing })
        ]
    );
    assert_eq!(proxy.faults_applied(), 2);
    assert_eq!(out_degree(&t, &people[1].id).await, 2);
    assert_eq!(out_degree(&t, &people[2].id).await, 1);
}

/// A conflict storm that outlasts the conflict schedule: the request is sent twice, then cut
/// down to single items, each of which retries on the schedule and ends `RetriesExhausted`
/// (held and sent again by a consumer, never a dead letter), with nothing written.
#[tokio::test]
async fn a_conflict_storm_cuts_down_to_single_items_that_end_retries_exhausted() {
    let t = transport().await;
    let (proxy, sink, people) = setup(|c| c).await;
    proxy.push(vec![Fault::neptune("ConcurrentModificationException"); 40]);
    let r = bounded(sink.write_edges(&edges_among(&people, 2)))
        .await
        .unwrap();
    for outcome in &r.outcomes {
        assert!(
            matches!(
                outcome,
                ItemOutcome::Failed(ItemFailure::RetriesExhausted { attempts: 16, .. })
            ),
            "{:?}",
            r.outcomes
        );
    }
    assert_eq!(
        (r.retries, proxy.faults_applied()),
        (2 + 15 + 15, 2 + 16 + 16),
        "the pair twice, then each item on the full conflict schedule"
    );
    assert_eq!(out_degree(&t, &people[1].id).await, 0);
    assert_eq!(out_degree(&t, &people[2].id).await, 0);
}

#[tokio::test]
async fn conflicts_do_not_use_up_the_outage_schedule() {
    let t = transport().await;
    let (proxy, sink, people) = setup(|c| c.retry(fast_retries(2))).await;
    let mut faults = vec![Fault::neptune("ConcurrentModificationException"); 6];
    faults.push(Fault::neptune("ThrottlingException"));
    faults.push(Fault::neptune("ThrottlingException"));
    proxy.push(faults);
    let r = bounded(sink.write_edges(&[edge(&people, 1)]))
        .await
        .unwrap();
    assert_eq!(r.outcomes, vec![ItemOutcome::Written]);
    assert_eq!((r.retries, proxy.faults_applied()), (8, 8));
    assert_eq!(out_degree(&t, &people[0].id).await, 1);
}

#[tokio::test]
async fn non_transient_errors_become_typed_outcomes() {
    let (proxy, sink, people) = setup(|c| c).await;
    proxy.push([
        Fault::neptune("ConstraintViolationException"),
        Fault::neptune("TimeLimitExceededException"),
        Fault::neptune("MemoryLimitExceededException"),
        Fault::Error {
            status: 498,
            message: "bad request".into(),
            exceptions: vec![],
        },
    ]);
    let mut outcomes = Vec::new();
    for to in [1, 2, 1, 2] {
        let r = bounded(sink.write_edges(&[FollowsSchema::default().edge(
            &people[0].id,
            &people[to].id,
            &local_services::unique_name("d"),
            1,
        )]))
        .await
        .unwrap();
        assert_eq!(r.retries, 0, "not retried");
        outcomes.push(r.outcomes[0].clone());
    }
    assert!(matches!(
        &outcomes[0],
        ItemOutcome::Failed(ItemFailure::ConstraintViolation(_))
    ));
    let code = |o: &ItemOutcome| match o {
        ItemOutcome::Failed(ItemFailure::Rejected { code, .. }) => code.clone(),
        other => panic!("expected a rejection, got {other:?}"),
    };
    assert_eq!(code(&outcomes[1]), "TimeLimitExceededException");
    assert_eq!(code(&outcomes[2]), "MemoryLimitExceededException");
    assert_eq!(code(&outcomes[3]), "malformed");
}

#[tokio::test]
async fn a_failing_sub_batch_is_bisected_until_the_bad_item_is_isolated() {
    let t = transport().await;
    let (proxy, sink, _) = setup(|c| c).await;
    let people = people(&local_services::unique_name("bisect"), 5);
    assert_eq!(sink.write_vertices(&people).await.unwrap().succeeded(), 5);
    let cv = || Fault::neptune("ConstraintViolationException");
    // [0,1,2,3] fails; [0,1] passes; [2,3] fails; [2] passes; [3] fails.
    proxy.push([cv(), Fault::Pass, cv(), Fault::Pass, cv()]);
    let edges: Vec<_> = (1..5).map(|i| edge(&people, i)).collect();
    let r = bounded(sink.write_edges(&edges)).await.unwrap();
    assert_eq!(r.outcomes[..3], vec![ItemOutcome::Written; 3]);
    assert!(matches!(
        &r.outcomes[3],
        ItemOutcome::Failed(ItemFailure::ConstraintViolation(_))
    ));
    assert_eq!(r.retries, 0);
    assert_eq!(out_degree(&t, &people[0].id).await, 3);
}

#[tokio::test]
async fn a_stalled_server_times_out_and_the_retry_goes_through() {
    let t = transport().await;
    let (proxy, sink, people) = setup(|c| c).await;
    let before = proxy.connections();
    proxy.push([Fault::Stall]);
    let r = bounded(sink.write_edges(&[edge(&people, 1)]))
        .await
        .unwrap();
    assert_eq!(r.outcomes, vec![ItemOutcome::Written]);
    assert_eq!(r.retries, 1);
    assert!(
        proxy.connections() > before,
        "the stalled connection was replaced"
    );
    assert_eq!(out_degree(&t, &people[0].id).await, 1);
}

#[tokio::test]
async fn a_server_that_never_answers_never_hangs_the_writer() {
    let (proxy, sink, people) = setup(|c| c.retry(fast_retries(2))).await;
    proxy.push(vec![Fault::Stall; 3]);
    let r = bounded(sink.write_edges(&[edge(&people, 1)]))
        .await
        .unwrap();
    // Requests that were sent and never answered may have been committed: the failure says
    // so, and is transient.
    assert!(matches!(
        &r.outcomes[0],
        ItemOutcome::Failed(f @ ItemFailure::Unconfirmed { last_error, .. })
            if last_error.contains("no answer") && f.kind().is_retriable() && f.may_be_written()
    ));
}

#[tokio::test]
async fn a_closed_socket_is_replaced_and_the_write_retried() {
    let t = transport().await;
    let (proxy, sink, people) = setup(|c| c).await;
    let before = proxy.connections();
    proxy.push([Fault::Close]);
    let r = bounded(sink.write_edges(&[edge(&people, 1)]))
        .await
        .unwrap();
    assert_eq!(r.outcomes, vec![ItemOutcome::Written]);
    assert_eq!(proxy.connections(), before + 1);
    assert_eq!(out_degree(&t, &people[0].id).await, 1);
}

#[tokio::test]
async fn a_server_that_refuses_the_session_probe_is_written_without_a_session() {
    let proxy = FaultProxy::start(&gremlin_url().await)
        .await
        .expect("a loopback port for the proxy");
    // The first write through the proxy is the session probe's (the edge identity is given,
    // so it is not probed): refused, as a server without sessions would.
    proxy.push([Fault::neptune("MalformedQueryException")]);
    let config = GremlinSinkConfig::builder(proxy.url.clone())
        .edge_identity(EdgeIdentity::ServerIds)
        .build()
        .expect("a valid configuration");
    let sink = GremlinSink::connect(config)
        .await
        .expect("connect through the proxy");
    assert_eq!(proxy.faults_applied(), 1, "the probe met the fault");
    assert!(!sink.queues_in_session());
    assert!(
        sink.sizing().adaptive_in_flight,
        "requests in flight adapt as without a lane"
    );
    let people = people(&local_services::unique_name("no-lane"), 3);
    assert_eq!(sink.write_vertices(&people).await.unwrap().succeeded(), 3);
    let report = sink
        .write_edges(&[edge(&people, 1), edge(&people, 2)])
        .await
        .unwrap();
    assert_eq!(report.succeeded(), 2, "{:?}", report.outcomes);
}
