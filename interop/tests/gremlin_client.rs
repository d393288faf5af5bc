//! What `neptune-batch`'s own transport writes, `gremlin-client` (the Rust community's Gremlin
//! client) reads back, and the other way round: string ids, labels, properties and edge
//! endpoints survive both ways through the real Gremlin Server.

use futures::StreamExt;
use gremlin_client::aio::GremlinClient;
use gremlin_client::process::traversal::traversal;
use gremlin_client::{ConnectionOptions, GraphSON, GID};
use neptune_batch::{FollowsSchema, GraphSink, GremlinSink, GremlinSinkConfig, Vertex};

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
async fn follows_written_by_the_sink_are_read_back_by_gremlin_client() {
    let url = local_services::gremlin()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .url;
    let sink = GremlinSink::connect(GremlinSinkConfig::new(url))
        .await
        .expect("connect the sink");
    let a = local_services::unique_name("interop-a");
    let b = local_services::unique_name("interop-b");
    sink.write_vertices(&[Vertex::new(&a, "person"), Vertex::new(&b, "person")])
        .await
        .unwrap();
    let edge = FollowsSchema::default().edge(&a, &b, "2019-01-02", 1_546_387_200_000);
    let report = sink.write_edges(std::slice::from_ref(&edge)).await.unwrap();
    assert_eq!(report.succeeded(), 1);

    let g = traversal().with_remote_async(client().await);
    let edges = g.e(edge.id.clone()).to_list().await.expect("read the edge");
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0].id(), &GID::String(edge.id.clone()));
    assert_eq!(edges[0].label(), "follows");
    assert_eq!(edges[0].out_v().id(), &GID::String(a.clone()));
    assert_eq!(edges[0].in_v().id(), &GID::String(b.clone()));
    let dates = g
        .e(edge.id.clone())
        .values("creationDate")
        .to_list()
        .await
        .expect("read the property");
    assert_eq!(dates.len(), 1);
    assert_eq!(dates[0].get::<String>().unwrap(), "2019-01-02");
}

#[tokio::test]
async fn a_graph_written_by_gremlin_client_is_seen_by_the_sink_as_already_present() {
    let client = client().await;
    let a = local_services::unique_name("interop-c");
    let b = local_services::unique_name("interop-d");
    let id = FollowsSchema::edge_id(&a, "2019-01-02", &b);
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
                ("idE", &id.as_str()),
                ("date", &"2019-01-02"),
            ],
        )
        .await
        .expect("the write is accepted");
    while let Some(item) = results.next().await {
        item.expect("the write succeeds");
    }

    let url = local_services::gremlin()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .url;
    let sink = GremlinSink::connect(GremlinSinkConfig::new(url))
        .await
        .expect("connect the sink");
    let edge = FollowsSchema::default().edge(&a, &b, "2019-01-02", 1);
    let report = sink.write_edges(&[edge]).await.unwrap();
    assert_eq!(
        report.outcomes,
        vec![neptune_batch::ItemOutcome::AlreadyPresent]
    );
}
