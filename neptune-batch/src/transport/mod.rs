//! A Gremlin Server / Amazon Neptune client over WebSocket, written for batched writes.
//!
//! Why not `gremlin-client` (0.8.10, the latest release): it has no hook to add headers to the
//! WebSocket handshake, so Neptune IAM (a SigV4-signed upgrade) cannot be done through it; its
//! pool runs a health-check request on every checkout while holding the pool lock, so each
//! request costs two round trips and concurrent requests queue; it has no per-request timeout,
//! and a request in flight hangs forever when the server sends a Close frame; and it panics on
//! a null or a set. This transport does only what the writer and its queries need:
//!
//! * a small pool of persistent connections, each carrying many requests at once, matched to
//!   their answers by request id, with partial (206) answers assembled;
//! * a timeout on every connection attempt and every request; a timed-out, closed or broken
//!   connection is dropped and the next request opens a new one;
//! * connections replaced before [`TransportConfig::max_connection_lifetime`];
//! * `wss://` with the platform's root certificates and, optionally, those of a CA file
//!   ([`TransportConfig::ca_file`]); the name the certificate must be issued for and the `Host`
//!   the upgrade names (and is signed for) can differ from the address connected to, for SSH
//!   tunnels and load balancers ([`TransportConfig::tls_server_name`],
//!   [`TransportConfig::signing_host`]);
//! * an optional SigV4 signature of each upgrade ([`IamAuth`]);
//! * bytecode requests (op `bytecode`) and scripts with bindings (op `eval`), in GraphBinary 1.0
//!   (the default) or GraphSON 3.0 ([`Serializer`]).

mod config;
mod connection;
mod error;
#[cfg(feature = "iam")]
mod iam;
mod message;
mod tls;

pub use config::{Serializer, TransportConfig, TransportConfigBuilder, NEPTUNE_MAX_CONNECTION_AGE};
pub use error::{ErrorClass, GremlinError};
#[cfg(feature = "iam")]
pub use iam::{IamAuth, NEPTUNE_SERVICE};
pub use message::Request;

use crate::bytecode::Bytecode;
use crate::graphson::GValue;
use connection::Connection;
use std::error::Error;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::MaybeTlsStream;

/// A pool of multiplexed WebSocket connections to one Gremlin endpoint. Cloning is cheap and
/// shares the pool.
#[derive(Clone)]
pub struct GremlinTransport {
    inner: Arc<Inner>,
}

struct Inner {
    config: TransportConfig,
    slots: Vec<tokio::sync::Mutex<Option<Arc<Connection>>>>,
    next: AtomicUsize,
    opened: AtomicU64,
    /// The TLS client configuration, for `wss://` only.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for GremlinTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GremlinTransport")
            .field("url", &self.inner.config.url)
            .field("pool_size", &self.inner.config.pool_size)
            .finish_non_exhaustive()
    }
}

impl GremlinTransport {
    /// Validates the configuration and opens the first connection, so that a wrong endpoint
    /// or credential fails here rather than on the first write.
    pub async fn connect(config: TransportConfig) -> Result<Self, GremlinError> {
        config.validate()?;
        crate::metrics::describe();
        let tls = if config.url.starts_with("wss://") {
            Some(tls::client_config(config.ca_file.as_deref())?)
        } else {
            None
        };
        let slots = (0..config.pool_size)
            .map(|_| tokio::sync::Mutex::new(None))
            .collect();
        let transport = Self {
            inner: Arc::new(Inner {
                config,
                slots,
                next: AtomicUsize::new(0),
                opened: AtomicU64::new(0),
                tls,
            }),
        };
        transport.connection().await?;
        Ok(transport)
    }

    /// The configuration.
    pub fn config(&self) -> &TransportConfig {
        &self.inner.config
    }

    /// Connections opened so far (reconnections included).
    pub fn connections_opened(&self) -> u64 {
        self.inner.opened.load(Ordering::Relaxed)
    }

    /// Runs a bytecode traversal and returns every result.
    pub async fn submit(&self, traversal: &Bytecode) -> Result<Vec<GValue>, GremlinError> {
        self.request(&Request::Bytecode(traversal.clone())).await
    }

    /// Evaluates a script with bound values (Gremlin Server; Neptune accepts a Gremlin subset).
    pub async fn eval(
        &self,
        script: &str,
        bindings: Vec<(String, GValue)>,
    ) -> Result<Vec<GValue>, GremlinError> {
        self.request(&Request::Eval {
            script: script.to_owned(),
            bindings,
        })
        .await
    }

    /// Sends one request and waits, at most the request timeout, for its complete answer. The
    /// request is not retried here: callers decide (see [`GremlinError::is_retriable`]).
    pub async fn request(&self, request: &Request) -> Result<Vec<GValue>, GremlinError> {
        let conn = self.connection().await?;
        let uuid = uuid::Uuid::new_v4();
        let id = uuid.to_string();
        let rx = conn.send(
            id.clone(),
            request.frame(uuid, self.inner.config.serializer, conn.serial()),
        );
        let timeout = self.inner.config.request_timeout;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(GremlinError::ConnectionLost("connection dropped".into())),
            Err(_) => {
                conn.abandon(&id);
                Err(GremlinError::Timeout(timeout))
            }
        }
    }

    /// Closes every connection; the next request opens new ones (e.g. after a failover made
    /// the endpoint resolve to a new writer).
    pub async fn reconnect(&self) {
        for slot in &self.inner.slots {
            if let Some(c) = slot.lock().await.take() {
                c.retire();
            }
        }
    }

    async fn connection(&self) -> Result<Arc<Connection>, GremlinError> {
        let n = self.inner.slots.len();
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % n;
        let mut slot = self.inner.slots[i].lock().await;
        if let Some(c) = slot.as_ref() {
            if c.is_alive() && c.opened().elapsed() < self.inner.config.max_connection_lifetime {
                return Ok(c.clone());
            }
        }
        let conn = Arc::new(self.open().await?);
        *slot = Some(conn.clone());
        Ok(conn)
    }

    async fn open(&self) -> Result<Connection, GremlinError> {
        let config = &self.inner.config;
        let fail = |source: Arc<dyn Error + Send + Sync>| GremlinError::Connect {
            endpoint: config.url.clone(),
            source,
        };
        let mut request = config
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| fail(Arc::new(e)))?;
        let (host, port) = address(request.uri()).map_err(|e| fail(Arc::new(e)))?;
        if let Some(signing_host) = &config.signing_host {
            let value = with_port(signing_host, request.uri().port_u16());
            let value = http::HeaderValue::from_str(&value).map_err(|e| fail(Arc::new(e)))?;
            request.headers_mut().insert(http::header::HOST, value);
        }
        #[cfg(feature = "iam")]
        if let Some(iam) = &config.iam {
            iam.sign(&mut request).await?;
        }
        let timed_out = || {
            fail(Arc::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no connection within {:?}", config.connect_timeout),
            )))
        };
        let attempt = async {
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|e| fail(Arc::new(e)))?;
            let _ = tcp.set_nodelay(true);
            let stream = match &self.inner.tls {
                Some(tls) => {
                    let name = config
                        .tls_server_name
                        .clone()
                        .unwrap_or_else(|| host.clone());
                    let server_name = rustls::pki_types::ServerName::try_from(name.clone())
                        .map_err(|e| fail(Arc::new(e)))?;
                    let tls = tokio_rustls::TlsConnector::from(tls.clone())
                        .connect(server_name, tcp)
                        .await
                        .map_err(|e| match tls::certificate_problem(&e) {
                            Some(problem) => GremlinError::Certificate {
                                endpoint: config.url.clone(),
                                server_name: name,
                                source: Arc::new(problem),
                            },
                            None => fail(Arc::new(e)),
                        })?;
                    MaybeTlsStream::Rustls(tls)
                }
                None => MaybeTlsStream::Plain(tcp),
            };
            let (ws, _response) =
                tokio_tungstenite::client_async_with_config(request, stream, None)
                    .await
                    .map_err(|e| match e {
                        tokio_tungstenite::tungstenite::Error::Http(answer)
                            if matches!(answer.status().as_u16(), 401 | 403) =>
                        {
                            refused(&answer)
                        }
                        e => fail(Arc::new(e)),
                    })?;
            Ok::<_, GremlinError>(ws)
        };
        let ws = tokio::time::timeout(config.connect_timeout, attempt)
            .await
            .map_err(|_| timed_out())??;
        let serial = self.inner.opened.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::counter!(crate::metrics::CONNECTIONS_OPENED).increment(1);
        Ok(Connection::start(ws, serial))
    }
}

/// The upgrade refused for its authentication (401 or 403): Neptune's JSON answer
/// (`{"code":"AccessDeniedException","detailedMessage":...}`) gives the class and the message,
/// else the status does.
fn refused(answer: &http::Response<Option<Vec<u8>>>) -> GremlinError {
    let status = answer.status();
    let body: serde_json::Value = answer
        .body()
        .as_deref()
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default();
    let exception = body["code"].as_str().map(str::to_owned);
    let class = exception
        .as_deref()
        .and_then(ErrorClass::from_exception)
        .unwrap_or_else(|| ErrorClass::from_status(status.as_u16()));
    let message = body["detailedMessage"]
        .as_str()
        .or_else(|| body["message"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the upgrade was refused with {status}"));
    GremlinError::Server {
        status: status.as_u16(),
        class,
        exception,
        message,
    }
}

/// The host (without IPv6 brackets) and port to open a TCP connection to; without a port in
/// the URL, the scheme's (443 for `wss://`, 80 for `ws://`).
fn address(uri: &http::Uri) -> Result<(String, u16), std::io::Error> {
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no host"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("wss") {
            443
        } else {
            80
        });
    Ok((host.to_owned(), port))
}

/// `host`, with `port` appended when `host` names none.
fn with_port(host: &str, port: Option<u16>) -> String {
    let has_port = match host.rsplit_once(':') {
        // `[::1]` alone has colons but no port; `[::1]:8182` and `h:8182` have one.
        Some((before, after)) => {
            !after.contains(']') && (!before.contains(':') || before.ends_with(']'))
        }
        None => false,
    };
    match port {
        Some(port) if !has_port => format!("{host}:{port}"),
        _ => host.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_host_takes_the_urls_port_unless_it_names_one() {
        assert_eq!(with_port("db.example", Some(8182)), "db.example:8182");
        assert_eq!(with_port("db.example:443", Some(8182)), "db.example:443");
        assert_eq!(with_port("db.example", None), "db.example");
        assert_eq!(with_port("[::1]", Some(8182)), "[::1]:8182");
        assert_eq!(with_port("[::1]:9", Some(8182)), "[::1]:9");
    }

    #[test]
    fn an_upgrade_refused_for_its_authentication_is_an_unauthorized_server_error() {
        let answer = |status: u16, body: &str| {
            http::Response::builder()
                .status(status)
                .body(Some(body.as_bytes().to_vec()))
                .unwrap()
        };
        let e = refused(&answer(
            403,
            r#"{"requestId":"r","code":"AccessDeniedException","detailedMessage":"bad signature"}"#,
        ));
        assert_eq!(e.class(), Some(ErrorClass::Unauthorized));
        assert_eq!(
            e.to_string(),
            "server error 403 (Unauthorized, AccessDeniedException): bad signature"
        );
        assert_eq!(
            stream2neptune_common::Classify::kind(&e),
            stream2neptune_common::ErrorKind::Usage
        );
        let e = refused(&answer(401, "not json"));
        assert_eq!(e.class(), Some(ErrorClass::Unauthorized));
        assert!(e.to_string().contains("401 Unauthorized"), "{e}");
    }

    #[test]
    fn the_address_is_the_urls_host_and_port() {
        let uri: http::Uri = "wss://[::1]/gremlin".parse().unwrap();
        assert_eq!(address(&uri).unwrap(), ("::1".to_owned(), 443));
        let uri: http::Uri = "ws://127.0.0.1:8182/gremlin".parse().unwrap();
        assert_eq!(address(&uri).unwrap(), ("127.0.0.1".to_owned(), 8182));
    }
}
