//! Values that would break a query built as text.

mod common;

use common::*;
use neptune_batch::gremlin::{Bytecode, GValue};
use neptune_batch::{Edge, FollowsSchema, GraphSink, ItemOutcome, Vertex, WriteMode};

const NASTY: [&str; 6] = [
    "it's",
    "say \"hi\"",
    "back\\slash\\",
    "'); g.V().drop(); ('",
    "two\nlines\r\n",
    "Zoë-東京-🚀",
];

#[tokio::test]
async fn hostile_strings_round_trip_in_every_mode_and_nothing_else_changes() {
    let t = transport().await;
    for mode in [WriteMode::Plain, WriteMode::Conditional, WriteMode::Merge] {
        let prefix = local_services::unique_name(mode.as_str());
        let sentinels = people(&format!("{prefix}-sentinel"), 3);
        let sink = sink(mode).await;
        sink.write_vertices(&sentinels).await.unwrap();

        let vertices: Vec<Vertex> = NASTY
            .iter()
            .map(|s| Vertex::new(format!("{prefix}-{s}"), "person").with("name", *s))
            .collect();
        let r = sink.write_vertices(&vertices).await.unwrap();
        assert_eq!(
            r.outcomes,
            vec![ItemOutcome::Written; NASTY.len()],
            "{mode:?}"
        );
        let edges: Vec<Edge> = (1..NASTY.len())
            .map(|i| {
                FollowsSchema::default().edge(&vertices[0].id, &vertices[i].id, NASTY[i], i as i64)
            })
            .collect();
        let r = sink.write_edges(&edges).await.unwrap();
        assert_eq!(
            r.outcomes,
            vec![ItemOutcome::Written; NASTY.len() - 1],
            "{mode:?}"
        );

        for (v, s) in vertices.iter().zip(NASTY) {
            let names = run(
                &t,
                Bytecode::new().step("V", [&v.id]).step("values", ["name"]),
            )
            .await;
            assert_eq!(names, vec![GValue::from(s)], "{mode:?}");
        }
        for (e, s) in edges.iter().zip(&NASTY[1..]) {
            let got = run(
                &t,
                Bytecode::new()
                    .step("E", [&e.id])
                    .step("project", ["d", "to"])
                    .step("by", ["creationDate"])
                    .step("by", [Bytecode::new().then("inV").then("id")]),
            )
            .await;
            assert_eq!(got.len(), 1, "{mode:?} {:?}", e.id);
            assert_eq!(got[0].get("d"), Some(&GValue::from(*s)));
            assert_eq!(got[0].get("to"), Some(&GValue::from(&e.to)));
        }
        let ids: Vec<String> = sentinels.iter().map(|v| v.id.clone()).collect();
        assert_eq!(
            count(&t, Bytecode::new().step("V", ids)).await,
            3,
            "{mode:?}"
        );
        assert_eq!(out_degree(&t, &vertices[0].id).await, 5, "{mode:?}");
    }
}
