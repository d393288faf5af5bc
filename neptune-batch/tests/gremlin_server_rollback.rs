//! The local Gremlin Server rolls a failed write back and keeps answering.
//!
//! TinkerTransactionGraph 3.7.5 throws half-way through every rollback when a vertex index exists
//! and no edge index does; the server then stops answering. `init.groovy` creates both. This test
//! makes writes fail after they changed the graph, then checks that nothing of them stayed and
//! that the server still answers every one of its worker threads.

mod common;

use common::*;
use neptune_batch::gremlin::{Bytecode, GValue, T};
use neptune_batch::transport::{GremlinTransport, TransportConfig};
use std::time::Duration;

#[tokio::test]
async fn a_write_that_fails_half_way_is_rolled_back_and_the_server_keeps_answering() {
    let config = TransportConfig::builder(gremlin_url().await)
        .request_timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let t = GremlinTransport::connect(config).await.expect("connect");
    let prefix = local_services::unique_name("rollback");
    let from = format!("{prefix}-from");
    run(
        &t,
        Bytecode::new()
            .step("addV", ["person"])
            .step("property", [GValue::T(T::Id), from.clone().into()]),
    )
    .await;

    // Each request first adds a vertex, then fails on an edge to a vertex that does not exist.
    // Several of them, so that every worker thread of the server runs a rollback.
    for i in 0..6 {
        let added = format!("{prefix}-added-{i}");
        let failing = Bytecode::new()
            .step("addV", ["person"])
            .step("property", [GValue::T(T::Id), added.clone().into()])
            .step("V", [from.clone()])
            .step("addE", ["follows"])
            .step(
                "to",
                [Bytecode::new().step("V", [format!("{prefix}-missing")])],
            );
        let answer = t.submit(&failing).await;
        assert!(answer.is_err(), "the write must fail: {answer:?}");

        // Rolled back: the vertex added before the failure is not there.
        let left = t
            .submit(&Bytecode::new().step("V", [added]).then("count"))
            .await
            .unwrap_or_else(|e| panic!("the server stopped answering after rollback {i}: {e}"));
        assert_eq!(left, vec![GValue::Long(0)], "rollback {i}");
    }
    // And it still writes.
    run(
        &t,
        Bytecode::new().step("addV", ["person"]).step(
            "property",
            [GValue::T(T::Id), format!("{prefix}-after").into()],
        ),
    )
    .await;
    assert_eq!(
        count(&t, Bytecode::new().step("V", [format!("{prefix}-after")])).await,
        1
    );
}
