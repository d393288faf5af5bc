//! The real Gremlin Server keeps caller-supplied string ids: a script with bound values writes
//! two vertices and an edge, and bytecode reads them back by those ids.

mod common;

use common::*;
use neptune_batch::gremlin::{Bytecode, GValue};

fn text(values: Vec<GValue>) -> Vec<String> {
    values
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

#[tokio::test]
async fn a_vertex_and_an_edge_with_string_ids_are_written_and_read_back() {
    let t = transport().await;
    let a = local_services::unique_name("person-a");
    let b = local_services::unique_name("person-b");
    let e = format!("{a}-2019-01-02-{b}");

    // Values travel as bindings, never inside the script text.
    let bound = |name: &str, value: &str| (name.to_owned(), GValue::String(value.to_owned()));
    let written = t
        .eval(
            "g.addV(vLabel).property(T.id, idA).as('a').addV(vLabel).property(T.id, idB).as('b')\
             .addE(eLabel).from('a').to('b').property(T.id, idE).property('creationDate', date)",
            vec![
                bound("vLabel", "person"),
                bound("eLabel", "follows"),
                bound("idA", &a),
                bound("idB", &b),
                bound("idE", &e),
                bound("date", "2019-01-02"),
            ],
        )
        .await
        .expect("the write succeeds");
    assert_eq!(written.len(), 1, "one edge is returned by the write");

    let vertex = Bytecode::new().step("V", [a.as_str()]);
    assert_eq!(text(run(&t, vertex.clone().then("id")).await), [a.as_str()]);
    assert_eq!(text(run(&t, vertex.then("label")).await), ["person"]);

    let edge = || Bytecode::new().step("E", [e.as_str()]);
    assert_eq!(text(run(&t, edge().then("id")).await), [e.as_str()]);
    assert_eq!(text(run(&t, edge().then("label")).await), ["follows"]);
    assert_eq!(
        text(run(&t, edge().then("outV").then("id")).await),
        [a.as_str()]
    );
    assert_eq!(
        text(run(&t, edge().then("inV").then("id")).await),
        [b.as_str()]
    );

    let followers = Bytecode::new().step("V", [b]).step("in", ["follows"]);
    assert_eq!(count(&t, followers).await, 1);
}
