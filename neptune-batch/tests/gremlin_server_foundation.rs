//! The real Gremlin Server answers `gremlin-client`: caller-supplied string ids survive a write
//! and a read.

use gremlin_client::aio::GremlinClient;
use gremlin_client::process::traversal::traversal;
use gremlin_client::{ConnectionOptions, GraphSON, GID};

async fn client() -> GremlinClient {
    let endpoint = local_services::gremlin()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let options = ConnectionOptions::builder()
        .host(endpoint.host.clone())
        .port(endpoint.port)
        .ssl(endpoint.tls)
        .serializer(GraphSON::V3)
        .deserializer(GraphSON::V3)
        .pool_size(2)
        .build();
    GremlinClient::connect(options)
        .await
        .expect("connect to the Gremlin Server")
}

#[tokio::test]
async fn a_vertex_and_an_edge_with_string_ids_are_written_and_read_back() {
    let client = client().await;
    let a = local_services::unique_name("person-a");
    let b = local_services::unique_name("person-b");
    let e = format!("{a}-2019-01-02-{b}");

    // Values travel as bindings, never inside the script text.
    let mut results = client
        .execute(
            "g.addV(vLabel).property(T.id, idA).as('a').addV(vLabel).property(T.id, idB).as('b')\
             .addE(eLabel).from('a').to('b').property(T.id, idE).property('creationDate', date)",
            &[
                ("vLabel", &"person"),
                ("eLabel", &"follows"),
                ("idA", &a.as_str()),
                ("idB", &b.as_str()),
                ("idE", &e.as_str()),
                ("date", &"2019-01-02"),
            ],
        )
        .await
        .expect("the write is accepted");
    use futures::StreamExt;
    let mut written = 0;
    while let Some(item) = results.next().await {
        item.expect("the write succeeds");
        written += 1;
    }
    assert_eq!(written, 1, "one edge is returned by the write");

    let g = traversal().with_remote_async(client.clone());
    let vertices = g.v(a.clone()).to_list().await.expect("read the vertex");
    assert_eq!(vertices.len(), 1);
    assert_eq!(vertices[0].id(), &GID::String(a.clone()));
    assert_eq!(vertices[0].label(), "person");

    let edges = g.e(e.clone()).to_list().await.expect("read the edge");
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0].id(), &GID::String(e.clone()));
    assert_eq!(edges[0].label(), "follows");
    assert_eq!(edges[0].out_v().id(), &GID::String(a.clone()));
    assert_eq!(edges[0].in_v().id(), &GID::String(b.clone()));

    let followers = g
        .v(b.clone())
        .in_("follows")
        .count()
        .to_list()
        .await
        .expect("count");
    assert_eq!(followers, vec![1]);
}
