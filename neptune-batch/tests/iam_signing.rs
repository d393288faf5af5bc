//! The SigV4 signature of the WebSocket upgrade, checked by a local server that recomputes it
//! from the headers it received.
#![allow(clippy::result_large_err)] // the handshake callback's signature is tungstenite's

use futures::{SinkExt, StreamExt};
use hmac::{Hmac, KeyInit, Mac};
use neptune_batch::gremlin::Bytecode;
use neptune_batch::transport::{GremlinTransport, IamAuth, Serializer, TransportConfig};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "session-token-example";
const REGION: &str = "us-east-1";

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// Recomputes the signature of a received upgrade request; returns the signature the request
/// carried and the one computed here.
fn verify(path: &str, headers: &BTreeMap<String, String>) -> (String, String) {
    let auth = &headers["authorization"];
    let field = |name: &str| {
        auth.split([' ', ','])
            .find_map(|p| p.strip_prefix(name))
            .unwrap()
            .to_owned()
    };
    let credential = field("Credential=");
    let signed = field("SignedHeaders=");
    let given = field("Signature=");
    let scope = credential
        .strip_prefix(&format!("{KEY_ID}/"))
        .unwrap()
        .to_owned();
    assert!(
        scope.ends_with(&format!("/{REGION}/neptune-db/aws4_request")),
        "{scope}"
    );
    assert!(signed.split(';').any(|h| h == "host"), "{signed}");
    let amz_date = &headers["x-amz-date"];
    let canonical_headers: String = signed
        .split(';')
        .map(|h| format!("{h}:{}\n", headers[h].trim()))
        .collect();
    let canonical = format!(
        "GET\n{path}\n\n{canonical_headers}\n{signed}\n{}",
        hex::encode(Sha256::digest(b""))
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let date = &amz_date[..8];
    let k = hmac(format!("AWS4{SECRET}").as_bytes(), date);
    let k = hmac(&k, REGION);
    let k = hmac(&k, "neptune-db");
    let k = hmac(&k, "aws4_request");
    (given, hex::encode(hmac(&k, &to_sign)))
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
        let (given, computed) = verify(path, headers);
        assert_eq!(
            given, computed,
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
    let (given, computed) = verify(path, headers);
    assert_eq!(given, computed, "signed for the configured host");

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
    let (given, computed) = verify(&seen[0].0, &seen[0].1);
    assert_eq!(given, computed);
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
