//! GraphBinary 1.0 and GraphSON 3.0 against the real Gremlin Server: values round-trip through
//! the server unchanged in both formats, and the sink writes and reports the same in both.

mod common;

use common::gremlin_url;
use neptune_batch::gremlin::{anon, Bytecode, Direction, GValue, T};
use neptune_batch::transport::{GremlinTransport, Serializer, TransportConfig};
use neptune_batch::{
    Edge, GraphSink, GremlinSink, GremlinSinkConfig, ItemFailure, ItemOutcome, Vertex,
};

const BOTH: [Serializer; 2] = [Serializer::GraphBinaryV1, Serializer::GraphSonV3];

async fn transport(serializer: Serializer) -> GremlinTransport {
    let config = TransportConfig::builder(gremlin_url().await)
        .serializer(serializer)
        .build()
        .unwrap();
    GremlinTransport::connect(config).await.expect("connect")
}

fn values() -> Vec<GValue> {
    vec![
        GValue::Bool(true),
        GValue::Int(-7),
        GValue::Long(1_546_387_200_000),
        GValue::Double(0.25),
        "".into(),
        "a'); g.V().drop(); ('\"\\\n\u{e9}\u{4e2d}\u{1F600}".into(),
        GValue::List(vec![GValue::Int(1), "x".into(), GValue::Long(2)]),
        GValue::Map(vec![
            ("k".into(), "v".into()),
            ("n".into(), GValue::Long(3)),
            (
                "nested".into(),
                GValue::List(vec![GValue::Map(vec![("a".into(), GValue::Int(1))])]),
            ),
        ]),
        GValue::Map(vec![
            (GValue::T(T::Id), "e-1".into()),
            (GValue::T(T::Label), "follows".into()),
            (GValue::Direction(Direction::Out), "a".into()),
        ]),
    ]
}

#[tokio::test]
async fn every_value_comes_back_from_the_server_unchanged_in_both_formats() {
    for serializer in BOTH {
        let t = transport(serializer).await;
        for v in values() {
            // `inject(list)` is one traverser holding the list; `fold` keeps a map whole.
            let answer = t
                .submit(&Bytecode::new().step("inject", [v.clone()]))
                .await
                .unwrap_or_else(|e| panic!("{serializer:?} {v:?}: {e}"));
            assert_eq!(answer, vec![v.clone()], "{serializer:?}");
        }
        // A script's bindings travel the same way.
        let answer = t
            .eval(
                "[x, y]",
                vec![("x".into(), "é'\"".into()), ("y".into(), GValue::Long(5))],
            )
            .await
            .unwrap();
        assert_eq!(
            answer,
            vec!["é'\"".into(), GValue::Long(5)],
            "{serializer:?}"
        );
    }
}

#[tokio::test]
async fn elements_and_bulked_answers_read_the_same_in_both_formats() {
    let prefix = local_services::unique_name("ser");
    let setup = transport(Serializer::GraphBinaryV1).await;
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    let edge = format!("{prefix}-e");
    setup
        .submit(
            &Bytecode::new()
                .step("addV", ["person"])
                .step("property", [GValue::T(T::Id), a.as_str().into()])
                .step("addV", ["person"])
                .step("property", [GValue::T(T::Id), b.as_str().into()])
                .step("addE", ["follows"])
                .step("from", [anon("V", [a.as_str()])])
                .step("property", [GValue::T(T::Id), edge.as_str().into()]),
        )
        .await
        .unwrap();
    let mut answers = Vec::new();
    for serializer in BOTH {
        let t = transport(serializer).await;
        let vertex = t
            .submit(&Bytecode::new().step("V", [a.as_str()]))
            .await
            .unwrap();
        let e = t
            .submit(&Bytecode::new().step("E", [edge.as_str()]))
            .await
            .unwrap();
        // The same value three times: a server may send it as one traverser with bulk 3.
        let bulked = t
            .submit(
                &Bytecode::new()
                    .step("V", [a.as_str(), a.as_str(), a.as_str()])
                    .then("id"),
            )
            .await
            .unwrap();
        assert_eq!(
            vertex,
            vec![GValue::Vertex {
                id: Box::new(a.as_str().into()),
                label: "person".into()
            }],
            "{serializer:?}"
        );
        assert_eq!(
            e,
            vec![GValue::Edge {
                id: Box::new(edge.as_str().into()),
                label: "follows".into(),
                out_v: Box::new(a.as_str().into()),
                in_v: Box::new(b.as_str().into()),
            }],
            "{serializer:?}"
        );
        assert_eq!(bulked.len(), 3, "{serializer:?}: {bulked:?}");
        answers.push((vertex, e, bulked));
    }
    assert_eq!(answers[0], answers[1]);
    setup
        .submit(
            &Bytecode::new()
                .step("V", [a.as_str(), b.as_str()])
                .then("drop"),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn the_sink_writes_and_reports_the_same_in_both_formats() {
    for serializer in BOTH {
        let prefix = local_services::unique_name(serializer.as_str());
        let config = GremlinSinkConfig::builder(gremlin_url().await)
            .writer(|w| w.serializer(serializer))
            .build()
            .unwrap();
        let sink = GremlinSink::connect(config).await.expect("connect");
        let people: Vec<Vertex> = (0..3)
            .map(|i| Vertex::new(format!("{prefix}-p{i}"), "person").with("name", "Zoë \"Z\""))
            .collect();
        let r = sink.write_vertices(&people).await.unwrap();
        assert_eq!(r.succeeded(), 3);
        let p = |i: usize| people[i].id.clone();
        let edge = |n: &str, from: String, to: String| {
            Edge::new(format!("{prefix}-{n}"), "follows", from, to)
                .with("creationDate", "2019-01-02")
                .with("insertDateTime", 1_546_387_200_000i64)
        };
        let edges = vec![
            edge("e1", p(0), p(1)),
            edge("e2", p(1), p(2)),
            edge("e3", p(2), format!("{prefix}-missing")),
        ];
        let first = sink.write_edges(&edges).await.unwrap();
        assert_eq!(
            first.outcomes,
            vec![
                ItemOutcome::Written,
                ItemOutcome::Written,
                ItemOutcome::Failed(ItemFailure::MissingVertex {
                    id: format!("{prefix}-missing")
                }),
            ],
            "{serializer:?}"
        );
        let again = sink.write_edges(&edges[..2]).await.unwrap();
        assert_eq!(
            again.outcomes,
            vec![ItemOutcome::AlreadyPresent, ItemOutcome::AlreadyPresent],
            "{serializer:?}"
        );
        let t = sink.transport();
        let ids: Vec<GValue> = people.iter().map(|v| GValue::from(&v.id)).collect();
        t.submit(&Bytecode::new().step("V", ids).then("drop"))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_server_error_in_graphbinary_is_classified_and_not_retriable() {
    let t = transport(Serializer::GraphBinaryV1).await;
    // mergeE onto vertices that do not exist fails on the server.
    let row = GValue::Map(vec![
        (GValue::T(T::Id), "ser-nowhere".into()),
        (GValue::T(T::Label), "follows".into()),
        (
            GValue::Direction(Direction::Out),
            "ser-no-such-vertex".into(),
        ),
        (
            GValue::Direction(Direction::In),
            "ser-no-such-vertex-2".into(),
        ),
    ]);
    let e = t
        .submit(&Bytecode::new().step("mergeE", [row]))
        .await
        .unwrap_err();
    assert!(e.class().is_some(), "a server error: {e}");
    assert!(!e.is_retriable(), "{e}");
}
