//! Neptune's side of IAM database authentication: the SigV4 signature of a WebSocket upgrade
//! recomputed from the request received ([`SigV4Verifier`]), and a proxy in front of a Gremlin
//! Server that checks every upgrade so before letting it through, and refuses a bad one as
//! Neptune does, with `403 Forbidden` and an `AccessDeniedException` ([`SigV4Gate`]).
//!
//! Neptune checks a signature against its own endpoint and port, whatever `Host` the request
//! names: a client behind a load balancer or a tunnel must sign for the cluster, not for the
//! address it connects to. [`SigV4Verifier::for_host`] makes the check the same.

use crate::tcp_forwarder::{relay, Tasks};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The SigV4 service name of Neptune's data plane.
pub const NEPTUNE_DB_SERVICE: &str = "neptune-db";

/// The longest request head the gate reads before refusing the connection.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// How long the gate waits for a client's request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The request carries no `Authorization` header.
    #[error("the request is not signed (no Authorization header)")]
    Unsigned,
    /// The `Authorization` header is not an `AWS4-HMAC-SHA256` signature with a credential,
    /// signed headers and a signature.
    #[error("the Authorization header is not a SigV4 signature: {0}")]
    Malformed(String),
    /// The credential names another access key.
    #[error("the access key {0} is not known")]
    UnknownKey(String),
    /// The credential's scope is not `DATE/REGION/neptune-db/aws4_request`.
    #[error("the credential scope {0} is not for this region's neptune-db")]
    WrongScope(String),
    /// A header the signature covers is not in the request.
    #[error("the signed header {0} is not in the request")]
    MissingHeader(String),
    /// The `Host` header is not among the signed headers.
    #[error("the Host header is not signed")]
    HostNotSigned,
    /// The signature does not hold for the host checked, and the request was signed for
    /// another one.
    #[error(
        "the signature is not valid for the host {expected} (the request was signed for {signed})"
    )]
    WrongHost {
        /// The host the signature must be made for.
        expected: String,
        /// The host the request names.
        signed: String,
    },
    /// The signature does not match the request.
    #[error("the signature does not match the request")]
    Mismatch,
}

/// Recomputes the SigV4 signature (service `neptune-db`) of a request from its method, target
/// and headers, with the secret key of the one access key it knows.
#[derive(Clone)]
pub struct SigV4Verifier {
    access_key_id: String,
    secret_access_key: String,
    region: String,
    host: Option<String>,
}

impl std::fmt::Debug for SigV4Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigV4Verifier")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl SigV4Verifier {
    /// A verifier of signatures made with this key pair for `region`, checked against the
    /// `Host` header each request names.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        region: impl Into<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            region: region.into(),
            host: None,
        }
    }

    /// Checks every signature as made for `host` (`HOST:PORT`, the cluster's endpoint), as
    /// Neptune does, whatever `Host` header the request names.
    #[must_use]
    pub fn for_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Checks the signature of a request: its method, its target (path and query) and its
    /// headers, by lower-case name.
    pub fn verify(
        &self,
        method: &str,
        target: &str,
        headers: &BTreeMap<String, String>,
    ) -> Result<(), SignatureError> {
        let authorization = headers
            .get("authorization")
            .ok_or(SignatureError::Unsigned)?;
        let rest = authorization
            .strip_prefix("AWS4-HMAC-SHA256 ")
            .ok_or_else(|| SignatureError::Malformed(authorization.clone()))?;
        let field = |name: &str| {
            rest.split([' ', ','])
                .find_map(|p| p.strip_prefix(name))
                .map(str::to_owned)
                .ok_or_else(|| SignatureError::Malformed(format!("no {name}")))
        };
        let credential = field("Credential=")?;
        let signed_headers = field("SignedHeaders=")?;
        let given = field("Signature=")?;
        let (key_id, scope) = credential
            .split_once('/')
            .ok_or_else(|| SignatureError::Malformed(credential.clone()))?;
        if key_id != self.access_key_id {
            return Err(SignatureError::UnknownKey(key_id.to_owned()));
        }
        let date = scope.split('/').next().unwrap_or_default();
        if scope != format!("{date}/{}/{NEPTUNE_DB_SERVICE}/aws4_request", self.region) {
            return Err(SignatureError::WrongScope(scope.to_owned()));
        }
        if !signed_headers.split(';').any(|h| h == "host") {
            return Err(SignatureError::HostNotSigned);
        }
        let amz_date = headers
            .get("x-amz-date")
            .ok_or_else(|| SignatureError::MissingHeader("x-amz-date".into()))?;
        let received_host = headers.get("host").cloned().unwrap_or_default();
        let host = self.host.clone().unwrap_or_else(|| received_host.clone());
        let mut canonical_headers = String::new();
        for name in signed_headers.split(';') {
            let value = if name == "host" {
                &host
            } else {
                headers
                    .get(name)
                    .ok_or_else(|| SignatureError::MissingHeader(name.to_owned()))?
            };
            let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
            canonical_headers.push_str(&format!("{name}:{value}\n"));
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut query: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
        query.sort_unstable();
        let payload_hash = headers
            .get("x-amz-content-sha256")
            .cloned()
            .unwrap_or_else(|| hex::encode(Sha256::digest(b"")));
        let canonical = format!(
            "{method}\n{path}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
            query.join("&")
        );
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let key = [self.region.as_str(), NEPTUNE_DB_SERVICE, "aws4_request"]
            .iter()
            .fold(
                hmac(format!("AWS4{}", self.secret_access_key).as_bytes(), date),
                |key, part| hmac(&key, part),
            );
        if hex::encode(hmac(&key, &to_sign)) == given {
            Ok(())
        } else if host != received_host {
            Err(SignatureError::WrongHost {
                expected: host,
                signed: received_host,
            })
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// What the gate has seen.
#[derive(Default)]
struct Seen {
    accepted: AtomicU64,
    refused: Mutex<Vec<SignatureError>>,
}

/// A proxy on a free loopback port in front of a Gremlin Server (`HOST:PORT`, plain `ws://`),
/// standing for Neptune's check of IAM authentication: it reads each connection's upgrade
/// request, checks its signature with a [`SigV4Verifier`], then relays the connection untouched
/// to the server, or answers `403 Forbidden` with Neptune's JSON error
/// (`{"code":"AccessDeniedException","detailedMessage":...}`) and closes it. Dropping it stops
/// it and closes every relayed connection.
pub struct SigV4Gate {
    addr: SocketAddr,
    seen: Arc<Seen>,
    tasks: Tasks,
}

impl SigV4Gate {
    /// Starts the gate to `upstream` (`HOST:PORT`).
    pub async fn start(upstream: &str, verifier: SigV4Verifier) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let gate = Self {
            addr: listener.local_addr()?,
            seen: Arc::default(),
            tasks: Tasks::default(),
        };
        let (upstream, seen, tasks) = (upstream.to_owned(), gate.seen.clone(), gate.tasks.clone());
        let verifier = Arc::new(verifier);
        gate.tasks.push(tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tasks.push(tokio::spawn(admit(
                    client,
                    upstream.clone(),
                    verifier.clone(),
                    seen.clone(),
                )));
            }
        }));
        Ok(gate)
    }

    /// The address clients connect to (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Upgrades let through so far.
    pub fn accepted(&self) -> u64 {
        self.seen.accepted.load(Ordering::SeqCst)
    }

    /// Why each refused upgrade was refused, in order.
    pub fn refused(&self) -> Vec<SignatureError> {
        self.seen
            .refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for SigV4Gate {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

/// Reads one connection's request head, checks its signature, then relays it or refuses it.
async fn admit(
    mut client: TcpStream,
    upstream: String,
    verifier: Arc<SigV4Verifier>,
    seen: Arc<Seen>,
) {
    let Ok(Some(head)) = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client))
        .await
        .unwrap_or(Ok(None))
    else {
        return;
    };
    let checked = match parse_head(&head) {
        Some((method, target, headers)) => verifier.verify(&method, &target, &headers),
        None => Err(SignatureError::Malformed("not an HTTP request".into())),
    };
    match checked {
        Ok(()) => {
            seen.accepted.fetch_add(1, Ordering::SeqCst);
            relay(client, upstream, head).await;
        }
        Err(why) => {
            let body = serde_json::json!({
                "requestId": crate::unique_name("sigv4-gate"),
                "code": "AccessDeniedException",
                "detailedMessage": why.to_string(),
            })
            .to_string();
            seen.refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(why);
            let answer = format!(
                "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(answer.as_bytes()).await;
            let _ = client.shutdown().await;
        }
    }
}

/// The bytes up to and including the blank line that ends the request head (and whatever
/// followed in the same reads); `None` when the client closes first or sends too much.
async fn read_head(client: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = client.read(&mut chunk).await?;
        if n == 0 || head.len() + n > MAX_HEAD_BYTES {
            return Ok(None);
        }
        head.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(head))
}

/// The method, target and headers (lower-case names; repeated ones joined with `,`) of a
/// request head.
fn parse_head(head: &[u8]) -> Option<(String, String, BTreeMap<String, String>)> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = std::str::from_utf8(&head[..end]).ok()?;
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, target) = (request_line.next()?, request_line.next()?);
    let mut headers = BTreeMap::<String, String>::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        headers
            .entry(name)
            .and_modify(|v| {
                v.push(',');
                v.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    Some((method.to_owned(), target.to_owned(), headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The headers of an upgrade to `/gremlin` signed for `host` with this key pair, by hand,
    /// in SigV4's documented steps.
    fn signed(host: &str, key: &str, secret: &str) -> BTreeMap<String, String> {
        let date = "20150830T123600Z";
        let scope = "20150830/us-east-1/neptune-db/aws4_request";
        let canonical = format!(
            "GET\n/gremlin\n\nhost:{host}\nx-amz-date:{date}\n\nhost;x-amz-date\n{}",
            hex::encode(Sha256::digest(b""))
        );
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let k = hmac(format!("AWS4{secret}").as_bytes(), "20150830");
        let k = hmac(&hmac(&hmac(&k, "us-east-1"), "neptune-db"), "aws4_request");
        let signature = hex::encode(hmac(&k, &to_sign));
        BTreeMap::from([
            ("host".to_owned(), host.to_owned()),
            ("x-amz-date".to_owned(), date.to_owned()),
            (
                "authorization".to_owned(),
                format!(
                    "AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders=host;x-amz-date, \
                     Signature={signature}"
                ),
            ),
        ])
    }

    #[test]
    fn a_signature_holds_for_its_host_and_no_other() {
        let verifier = SigV4Verifier::new("AKID", "secret", "us-east-1");
        let headers = signed("db.example:8182", "AKID", "secret");
        assert_eq!(verifier.verify("GET", "/gremlin", &headers), Ok(()));
        let for_cluster = verifier.clone().for_host("db.example:8182");
        assert_eq!(for_cluster.verify("GET", "/gremlin", &headers), Ok(()));

        let for_balancer = signed("127.0.0.1:9000", "AKID", "secret");
        assert_eq!(
            for_cluster.verify("GET", "/gremlin", &for_balancer),
            Err(SignatureError::WrongHost {
                expected: "db.example:8182".into(),
                signed: "127.0.0.1:9000".into()
            })
        );
        assert_eq!(
            verifier.verify("GET", "/other", &headers),
            Err(SignatureError::Mismatch)
        );
        let other_secret = signed("db.example:8182", "AKID", "another secret");
        assert_eq!(
            verifier.verify("GET", "/gremlin", &other_secret),
            Err(SignatureError::Mismatch)
        );
        let other_key = signed("db.example:8182", "AKOTHER", "secret");
        assert_eq!(
            verifier.verify("GET", "/gremlin", &other_key),
            Err(SignatureError::UnknownKey("AKOTHER".into()))
        );
        let other_region = SigV4Verifier::new("AKID", "secret", "eu-west-1");
        assert!(matches!(
            other_region.verify("GET", "/gremlin", &headers),
            Err(SignatureError::WrongScope(_))
        ));
        assert_eq!(
            verifier.verify("GET", "/gremlin", &BTreeMap::new()),
            Err(SignatureError::Unsigned)
        );
    }

    #[test]
    fn a_request_head_is_read_with_lower_case_header_names() {
        let head =
            b"GET /gremlin?a=1 HTTP/1.1\r\nHost: h:1\r\nX-Amz-Date: d\r\nA: 1\r\na: 2\r\n\r\nrest";
        let (method, target, headers) = parse_head(head).unwrap();
        assert_eq!((method.as_str(), target.as_str()), ("GET", "/gremlin?a=1"));
        assert_eq!(headers["host"], "h:1");
        assert_eq!(headers["x-amz-date"], "d");
        assert_eq!(headers["a"], "1,2");
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nno colon\r\n\r\n"), None);
    }
}
