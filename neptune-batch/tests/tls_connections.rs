//! `wss://` against the Gremlin Server that `GREMLIN_TLS=1 scripts/gremlin-server.sh start`
//! runs with a certificate from a private CA (for `localhost` and `neptune.cluster.example`,
//! not for the address 127.0.0.1): the CA trusted through a file, the refusals of an untrusted
//! certificate and of a certificate for another name, and a tunnel (a TCP forwarder on
//! 127.0.0.1) verified for the cluster's name.

use neptune_batch::gremlin::Bytecode;
use neptune_batch::transport::{GremlinError, GremlinTransport, TransportConfig};
use neptune_batch::{
    FollowsSchema, GraphSink, GremlinSink, GremlinSinkConfig, ItemOutcome, SinkError, Vertex,
};
use stream2neptune_common::{Classify, ErrorKind};

/// The name on the test server's certificate that a tunnel verifies.
const CLUSTER_NAME: &str = "neptune.cluster.example";

async fn server() -> local_services::GremlinTlsEndpoint {
    local_services::gremlin_tls()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A transport over TLS to `url`, trusting the test CA, verifying `name` if given.
async fn connect(url: &str, name: Option<&str>) -> Result<GremlinTransport, GremlinError> {
    let tls = server().await;
    let config = TransportConfig::builder(url)
        .ca_file(tls.ca_file)
        .tls_server_name(name.map(str::to_owned))
        .build()
        .expect("a valid configuration");
    GremlinTransport::connect(config).await
}

async fn count_vertices(t: &GremlinTransport, ids: &[String]) -> i64 {
    let answer = t
        .submit(&Bytecode::new().step("V", ids.to_vec()).then("count"))
        .await
        .expect("a count");
    answer[0].as_i64().expect("a number")
}

#[tokio::test]
async fn over_wss_with_the_ca_file_the_sink_writes_vertices_and_edges() {
    let tls = server().await;
    println!("server: {} (CA {})", tls.url, tls.ca_file.display());
    let config = GremlinSinkConfig::builder(tls.url.clone())
        .writer(|w| w.ca_file(tls.ca_file.clone()))
        .build()
        .expect("a valid configuration");
    let sink = GremlinSink::connect(config)
        .await
        .expect("connect over TLS");
    let prefix = local_services::unique_name("tls");
    let people: Vec<Vertex> = (0..20)
        .map(|i| Vertex::new(format!("{prefix}-p{i}"), "person"))
        .collect();
    let r = sink.write_vertices(&people).await.expect("write vertices");
    assert_eq!(r.outcomes, vec![ItemOutcome::Written; 20]);
    let schema = FollowsSchema::default();
    let edges: Vec<_> = (1..20)
        .map(|i| schema.edge(&people[0].id, &people[i].id, "2019-01-02", i as i64))
        .collect();
    let r = sink.write_edges(&edges).await.expect("write edges");
    assert_eq!(r.outcomes, vec![ItemOutcome::Written; 19]);
    let t = connect(&tls.url, None).await.expect("connect");
    let out = t
        .submit(
            &Bytecode::new()
                .step("V", [people[0].id.clone()])
                .then("outE")
                .then("count"),
        )
        .await
        .unwrap();
    println!("wrote 20 vertices and 19 edges over {}", tls.url);
    assert_eq!(out[0].as_i64(), Some(19));
}

#[tokio::test]
async fn a_certificate_from_an_untrusted_ca_is_refused_naming_the_problem() {
    let tls = server().await;
    // The platform's roots only: the test CA is not among them.
    let e = GremlinTransport::connect(TransportConfig::new(tls.url.clone()))
        .await
        .expect_err("an untrusted certificate must be refused");
    println!("refused: {e}");
    assert!(matches!(e, GremlinError::Certificate { .. }), "{e:?}");
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    assert_eq!(
        e.kind(),
        ErrorKind::Usage,
        "a setting fixes it, not a retry"
    );

    // Through the sink too, with the same kind.
    let config = GremlinSinkConfig::builder(tls.url.clone()).build().unwrap();
    let e = GremlinSink::connect(config).await.expect_err("refused");
    assert!(matches!(e, SinkError::Certificate(_)), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Usage);
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused() {
    let tls = server().await;
    // The certificate names localhost and the cluster's name, not the address.
    let by_address = format!("wss://127.0.0.1:{}/gremlin", tls.port);
    let e = connect(&by_address, None)
        .await
        .expect_err("the address is not on the certificate");
    println!("refused: {e}");
    assert!(matches!(e, GremlinError::Certificate { .. }), "{e:?}");
    assert!(e.to_string().contains("not valid for name"), "{e}");
    assert!(e.to_string().contains("127.0.0.1"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Usage);

    let e = connect(&tls.url, Some("other.cluster.example"))
        .await
        .expect_err("a name the certificate does not carry");
    println!("refused: {e}");
    assert!(e.to_string().contains("not valid for name"), "{e}");
    assert!(e.to_string().contains("other.cluster.example"), "{e}");
}

#[tokio::test]
async fn through_a_tunnel_the_certificate_is_verified_for_the_clusters_name() {
    let tls = server().await;
    let tunnel = local_services::TcpForwarder::start(&format!("{}:{}", tls.host, tls.port))
        .await
        .unwrap();
    let url = format!("wss://127.0.0.1:{}/gremlin", tunnel.port());
    // Without the name, the tunnel's address is verified, and refused.
    let e = connect(&url, None)
        .await
        .expect_err("127.0.0.1 is not on it");
    assert!(matches!(e, GremlinError::Certificate { .. }), "{e:?}");

    let config = GremlinSinkConfig::builder(url.clone())
        .writer(|w| {
            w.ca_file(tls.ca_file.clone())
                .tls_server_name(CLUSTER_NAME.to_owned())
        })
        .build()
        .expect("a valid configuration");
    let sink = GremlinSink::connect(config)
        .await
        .expect("the certificate is the cluster's");
    let ids = vec![local_services::unique_name("tunnel")];
    let r = sink
        .write_vertices(&[Vertex::new(ids[0].clone(), "person")])
        .await
        .expect("a write through the tunnel");
    assert_eq!(r.outcomes, vec![ItemOutcome::Written]);
    let t = connect(&url, Some(CLUSTER_NAME)).await.expect("connect");
    assert_eq!(count_vertices(&t, &ids).await, 1);
    println!(
        "{url} (tunnel to {}) verified as {CLUSTER_NAME}: {} connection(s) relayed",
        tunnel.upstream(),
        tunnel.connections()
    );
    assert!(
        tunnel.connections() >= 3,
        "every attempt went through the tunnel"
    );
}
