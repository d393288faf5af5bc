//! Requests of one Gremlin Server session, sent without waiting for each other's answers, run
//! in the order sent, each in a transaction of its own: a failed one is rolled back and those
//! queued behind it still run. In both serializers, against the real server.

mod common;

use common::*;
use neptune_batch::gremlin::{Bytecode, GValue, T};
use neptune_batch::transport::{GremlinTransport, Request, Serializer, TransportConfig};

fn add_person(id: &str) -> Bytecode {
    Bytecode::new()
        .step("addV", ["person"])
        .step("property", [GValue::T(T::Id), GValue::from(id)])
}

#[tokio::test]
async fn queued_session_requests_run_in_order_and_commit_one_by_one() {
    for serializer in [Serializer::GraphBinaryV1, Serializer::GraphSonV3] {
        let config = TransportConfig::builder(gremlin_url().await)
            .pool_size(1)
            .serializer(serializer)
            .build()
            .unwrap();
        let t = GremlinTransport::connect(config).await.expect("connect");
        let prefix = local_services::unique_name("session");
        let [a, b, c] = ["a", "b", "c"].map(|x| format!("{prefix}-{x}"));
        let session = local_services::unique_name("s");
        let in_session = |traversal: Bytecode| Request::Session {
            traversal,
            session: session.clone(),
        };

        let first = in_session(add_person(&a));
        let sees_first = in_session(Bytecode::new().step("V", [a.as_str()]).then("count"));
        // Adds b, then a again: the id is taken, so the request fails and b is rolled back.
        let failing = in_session(
            add_person(&b)
                .then("addV")
                .step("property", [GValue::T(T::Id), GValue::from(a.as_str())]),
        );
        let after_failure = in_session(add_person(&c));
        // Polled in this order, the four are written in this order on the one connection,
        // each without waiting for the answer to the one before.
        let (r1, r2, r3, r4) = tokio::join!(
            t.request(&first),
            t.request(&sees_first),
            t.request(&failing),
            t.request(&after_failure)
        );
        r1.unwrap_or_else(|e| panic!("{serializer:?}: the first write: {e}"));
        let seen = r2.unwrap_or_else(|e| panic!("{serializer:?}: the count: {e}"));
        assert_eq!(
            seen.first().and_then(GValue::as_i64),
            Some(1),
            "{serializer:?}: the second request ran after the first"
        );
        assert!(
            r3.is_err(),
            "{serializer:?}: a vertex id taken twice is refused"
        );
        r4.unwrap_or_else(|e| panic!("{serializer:?}: the write after a failure: {e}"));

        // Another connection (no session) sees what was committed, and nothing of the
        // request that failed.
        let other = transport().await;
        let found = run(
            &other,
            Bytecode::new()
                .step("V", [a.as_str(), b.as_str(), c.as_str()])
                .then("id"),
        )
        .await;
        let mut found: Vec<String> = found
            .iter()
            .map(|v| v.as_str().expect("an id").to_owned())
            .collect();
        found.sort();
        assert_eq!(found, vec![a.clone(), c.clone()], "{serializer:?}");
        run(
            &other,
            Bytecode::new()
                .step("V", [a.as_str(), c.as_str()])
                .then("drop"),
        )
        .await;
    }
}
