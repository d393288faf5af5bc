//! The notebook's queries on a small known graph in the real Gremlin Server.

mod common;

use common::*;
use neptune_batch::gremlin::GValue;
use neptune_batch::queries::{most_followed, most_following, recommendations, Degree};
use neptune_batch::{Edge, FollowsSchema, GraphSink, Vertex};

#[tokio::test]
async fn the_notebook_queries_answer_on_a_known_graph() {
    let prefix = local_services::unique_name("queries");
    let id = |n: &str| format!("{prefix}-{n}");
    let names = ["ann", "bob", "cat", "dan", "eve", "fay"];
    let vertices: Vec<Vertex> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            Vertex::new(id(n), "person")
                .with("firstName", *n)
                .with("lastName", "Doe")
                .with("id", i as i64)
        })
        .collect();
    let sink = sink(Default::default()).await;
    sink.write_vertices(&vertices).await.unwrap();
    let schema = FollowsSchema::default();
    // ann follows bob and cat; bob and cat both follow dan; cat follows eve; bob follows ann
    // back; fay follows dan.
    let pairs = [
        ("ann", "bob"),
        ("ann", "cat"),
        ("bob", "dan"),
        ("cat", "dan"),
        ("cat", "eve"),
        ("bob", "ann"),
        ("fay", "dan"),
    ];
    let edges: Vec<Edge> = pairs
        .iter()
        .map(|(a, b)| schema.edge(&id(a), &id(b), "2019-01-02", 1))
        .collect();
    assert_eq!(
        sink.write_edges(&edges).await.unwrap().succeeded(),
        pairs.len()
    );

    let reader = transport().await;
    let ids: Vec<String> = names.iter().map(|n| id(n)).collect();
    let top = most_followed(&reader, &schema, Some(&ids), 2)
        .await
        .unwrap();
    assert_eq!(
        top[0],
        Degree {
            id: id("dan"),
            degree: 3
        }
    );
    assert_eq!(top[1].degree, 1);
    let top = most_following(&reader, &schema, Some(&ids), 10)
        .await
        .unwrap();
    assert_eq!(top.len(), 6);
    assert_eq!(top[0].degree, 2);
    assert!([id("ann"), id("bob"), id("cat")].contains(&top[0].id));
    assert_eq!(top[5].degree, 0);

    // ann's friends-of-friends she does not follow yet: dan (via bob and cat), eve (via cat).
    let recs = recommendations(&reader, &schema, &id("ann"), 10)
        .await
        .unwrap();
    let got: Vec<(Option<GValue>, i64)> = recs
        .iter()
        .map(|r| (r.first_name.clone(), r.count))
        .collect();
    assert_eq!(got, vec![(Some("dan".into()), 2), (Some("eve".into()), 1)]);
    assert_eq!(recs[0].id, Some(GValue::Long(3)));
    assert_eq!(recs[0].last_name, Some("Doe".into()));
}
