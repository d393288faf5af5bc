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
//! * `wss://` with the platform's root certificates, and an optional SigV4 signature of each
//!   upgrade ([`IamAuth`]);
//! * bytecode requests (op `bytecode`) and scripts with bindings (op `eval`), in GraphBinary 1.0
//!   (the default) or GraphSON 3.0 ([`Serializer`]).

mod config;
mod connection;
mod error;
#[cfg(feature = "iam")]
mod iam;
mod message;

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
        let slots = (0..config.pool_size)
            .map(|_| tokio::sync::Mutex::new(None))
            .collect();
        let transport = Self {
            inner: Arc::new(Inner {
                config,
                slots,
                next: AtomicUsize::new(0),
                opened: AtomicU64::new(0),
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
        #[cfg_attr(not(feature = "iam"), allow(unused_mut))]
        let mut request = config
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| fail(Arc::new(e)))?;
        #[cfg(feature = "iam")]
        if let Some(iam) = &config.iam {
            iam.sign(&mut request).await?;
        }
        let connector = if config.url.starts_with("wss://") {
            Some(tokio_tungstenite::Connector::Rustls(tls_config()?))
        } else {
            Some(tokio_tungstenite::Connector::Plain)
        };
        let attempt =
            tokio_tungstenite::connect_async_tls_with_config(request, None, true, connector);
        let (ws, _response) = tokio::time::timeout(config.connect_timeout, attempt)
            .await
            .map_err(|_| {
                fail(Arc::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no connection within {:?}", config.connect_timeout),
                )))
            })?
            .map_err(|e| fail(Arc::new(e)))?;
        let serial = self.inner.opened.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::counter!(crate::metrics::CONNECTIONS_OPENED).increment(1);
        Ok(Connection::start(ws, serial))
    }
}

/// TLS with the platform's root certificates, built once.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, GremlinError> {
    type Built = Result<Arc<rustls::ClientConfig>, Arc<dyn Error + Send + Sync>>;
    static CONFIG: std::sync::OnceLock<Built> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(Arc::new(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no root certificates found on this system",
                )));
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| -> Arc<dyn Error + Send + Sync> { Arc::new(e) })?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(|source| GremlinError::Connect {
            endpoint: "tls".into(),
            source,
        })
}
