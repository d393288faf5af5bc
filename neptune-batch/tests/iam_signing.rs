//! The SigV4 signature of the WebSocket upgrade, checked by a local server that recomputes it
//! from the headers it received (`local_services::SigV4Verifier`), and refused as Neptune
//! refuses it when made for a balancer instead of the cluster (`local_services::SigV4Gate`).
#![allow(clippy::result_large_err)] // the handshake callback's signature is tungstenite's

use futures::{SinkExt, StreamExt};
use local_services::{SigV4Gate, SigV4Verifier, SignatureError};
use neptune_batch::gremlin::Bytecode;
use neptune_batch::transport::{
    ErrorClass, GremlinError, GremlinTransport, IamAuth, Serializer, TransportConfig,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use stream2neptune_common::{Classify, ErrorKind};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "session-token-example";
const REGION: &str = "us-east-1";

/// Neptune's check of the signatures made with the test's key, for the `Host` each request
/// names.
fn verifier() -> SigV4Verifier {
    SigV4Verifier::new(KEY_ID, SECRET, REGION)
}

/// A minimal Gremlin endpoint that records each upgrade's headers and answers every request
/// with an empty success.
async fn recording_server() -> (String, Arc<Mutex<Vec<(String, BTreeMap<String, String>)>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/gremlin", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<_>>> = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let callback = |req: &Request, resp: Response| {
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                        .collect();
                    record
                        .lock()
                        .unwrap()
                        .push((req.uri().path().to_owned(), headers));
                    Ok(resp)
                };
                let mut ws = tokio_tungstenite::accept_hdr_async(tcp, callback)
                    .await
                    .unwrap();
                while let Some(Ok(Message::Binary(frame))) = ws.next().await {
                    let body: serde_json::Value =
                        serde_json::from_slice(&frame[1 + frame[0] as usize..]).unwrap();
                    let answer = serde_json::json!({
                        "requestId": body["requestId"]["@value"],
                        "status": {"code": 200, "message": "", "attributes": {}},
                        "result": {"data": {"@type": "g:List", "@value": ["ok"]}, "meta": {}}
                    });
                    ws.send(Message::Text(answer.to_string().into()))
                        .await
                        .unwrap();
                }
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn every_new_connection_carries_a_valid_neptune_sigv4_signature() {
    let (url, seen) = recording_server().await;
    let credentials =
        aws_credential_types::Credentials::from_keys(KEY_ID, SECRET, Some(TOKEN.into()));
    // The recording server answers GraphSON only; signing does not depend on the format.
    let config = TransportConfig::builder(url)
        .iam(IamAuth::new(REGION, credentials))
        .serializer(Serializer::GraphSonV3)
        .build()
        .unwrap();
    let transport = GremlinTransport::connect(config)
        .await
        .expect("signed upgrade accepted");
    let answer = transport
        .submit(&Bytecode::new().step("inject", ["ok"]))
        .await
        .unwrap();
    assert_eq!(answer, vec!["ok".into()]);
    transport.reconnect().await;
    transport
        .submit(&Bytecode::new().step("inject", ["ok"]))
        .await
        .unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one signed upgrade per connection");
    for (path, headers) in &seen {
        assert_eq!(headers["x-amz-security-token"], TOKEN);
        assert!(
            headers["authorization"].contains(&format!("/{REGION}/neptune-db/aws4_request")),
            "{headers:?}"
        );
        assert_eq!(
            verifier().verify("GET", path, headers),
            Ok(()),
            "the signature matches the received headers"
        );
    }
}

#[tokio::test]
async fn behind_a_balancer_the_signature_is_made_for_the_configured_host() {
    let (url, seen) = recording_server().await;
    let upstream = url
        .strip_prefix("ws://")
        .and_then(|r| r.strip_suffix("/gremlin"))
        .unwrap();
    // The balancer: a TCP forwarder; the client connects to it, Neptune wants its own host.
    let balancer = local_services::TcpForwarder::start(upstream).await.unwrap();
    let credentials = aws_credential_types::Credentials::from_keys(KEY_ID, SECRET, None);
    let config = TransportConfig::builder(format!("ws://127.0.0.1:{}/gremlin", balancer.port()))
        .iam(IamAuth::new(REGION, credentials))
        .signing_host("neptune.cluster.example:8182".to_owned())
        .serializer(Serializer::GraphSonV3)
        .build()
        .unwrap();
    let transport = GremlinTransport::connect(config)
        .await
        .expect("signed upgrade through the balancer");
    transport
        .submit(&Bytecode::new().step("inject", ["ok"]))
        .await
        .unwrap();
    assert_eq!(
        balancer.connections(),
        1,
        "the upgrade went through the balancer"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let (path, headers) = &seen[0];
    assert_eq!(headers["host"], "neptune.cluster.example:8182");
    assert_eq!(
        verifier()
            .for_host("neptune.cluster.example:8182")
            .verify("GET", path, headers),
        Ok(()),
        "signed for the configured host"
    );

    // Without a port, the URL's is used.
    let (url, seen) = recording_server().await;
    let port = url.rsplit(':').next().unwrap().trim_end_matches("/gremlin");
    let credentials = aws_credential_types::Credentials::from_keys(KEY_ID, SECRET, None);
    let config = TransportConfig::builder(url.clone())
        .iam(IamAuth::new(REGION, credentials))
        .signing_host("neptune.cluster.example".to_owned())
        .serializer(Serializer::GraphSonV3)
        .build()
        .unwrap();
    GremlinTransport::connect(config).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].1["host"], format!("neptune.cluster.example:{port}"));
    assert_eq!(
        verifier()
            .for_host(format!("neptune.cluster.example:{port}"))
            .verify("GET", &seen[0].0, &seen[0].1),
        Ok(())
    );
}

#[tokio::test]
async fn a_signature_for_the_balancer_is_refused_as_neptune_refuses_it() {
    let (url, seen) = recording_server().await;
    let upstream = url
        .strip_prefix("ws://")
        .and_then(|r| r.strip_suffix("/gremlin"))
        .unwrap();
    // The balancer in front of the endpoint that checks signatures for the cluster's host.
    let cluster = "neptune.cluster.example:8182";
    let gate = SigV4Gate::start(upstream, verifier().for_host(cluster))
        .await
        .unwrap();
    let balancer = local_services::TcpForwarder::start(&gate.addr().to_string())
        .await
        .unwrap();
    let through_balancer = format!("ws://127.0.0.1:{}/gremlin", balancer.port());
    let config = |signing_host: Option<&str>| {
        let credentials = aws_credential_types::Credentials::from_keys(KEY_ID, SECRET, None);
        TransportConfig::builder(through_balancer.clone())
            .iam(IamAuth::new(REGION, credentials))
            .signing_host(signing_host.map(str::to_owned))
            .serializer(Serializer::GraphSonV3)
            .build()
            .unwrap()
    };

    // Signed for the address connected to, the balancer's.
    let e = GremlinTransport::connect(config(None)).await.unwrap_err();
    let line = e.to_string();
    println!("signed for the balancer: {line}");
    assert!(
        matches!(
            &e,
            GremlinError::Server { status: 403, class: ErrorClass::Unauthorized, exception: Some(code), .. }
                if code == "AccessDeniedException"
        ),
        "{e:?}"
    );
    assert!(
        line.contains(&format!("not valid for the host {cluster}")),
        "{line}"
    );
    assert!(
        line.contains(&format!("signed for 127.0.0.1:{}", balancer.port())),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1, "{line}");
    assert_eq!(e.kind(), ErrorKind::Usage, "a setting to change");
    assert_eq!(
        gate.refused(),
        vec![SignatureError::WrongHost {
            expected: cluster.to_owned(),
            signed: format!("127.0.0.1:{}", balancer.port()),
        }]
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing reached the server"
    );

    // Signed for the cluster: let through, and served.
    let transport = GremlinTransport::connect(config(Some(cluster)))
        .await
        .expect("a signature for the cluster is accepted");
    let answer = transport
        .submit(&Bytecode::new().step("inject", ["ok"]))
        .await
        .unwrap();
    assert_eq!(answer, vec!["ok".into()]);
    assert_eq!(gate.accepted(), 1);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn iam_over_plain_ws_to_a_remote_host_is_refused_by_name() {
    let credentials = aws_credential_types::Credentials::from_keys(KEY_ID, SECRET, None);
    let e = TransportConfig::builder("ws://db.example.com:8182/gremlin")
        .iam(IamAuth::new(REGION, credentials))
        .build()
        .unwrap_err();
    assert_eq!(e.field(), "iam", "{e}");
}
