//! A plain TCP forwarding proxy: what an SSH tunnel, a bastion's port forward or a network load
//! balancer is to a client. It relays bytes both ways without reading them, so TLS runs end to
//! end between the client and the server behind it: the client connects to the proxy's
//! address, while the certificate it receives names the server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How long the proxy tries to reach the upstream for one client before closing it.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The tasks of a proxy (its accept loop and every relayed connection), aborted together.
#[derive(Clone, Default)]
pub(crate) struct Tasks(Arc<Mutex<Vec<JoinHandle<()>>>>);

impl Tasks {
    /// Keeps `task`, to be aborted with the others.
    pub(crate) fn push(&self, task: JoinHandle<()>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(task);
    }

    /// Aborts every task kept.
    pub(crate) fn abort_all(&self) {
        for task in self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}

/// The proxy, on a free loopback port, to one upstream address. Dropping it stops it and
/// closes every relayed connection.
pub struct TcpForwarder {
    addr: SocketAddr,
    upstream: String,
    connections: Arc<AtomicU64>,
    tasks: Tasks,
}

impl TcpForwarder {
    /// Starts a proxy to `upstream` (`HOST:PORT`) on a free port of 127.0.0.1.
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let forwarder = Self {
            addr: listener.local_addr()?,
            upstream: upstream.to_owned(),
            connections: Arc::default(),
            tasks: Tasks::default(),
        };
        let upstream = forwarder.upstream.clone();
        let connections = forwarder.connections.clone();
        let tasks = forwarder.tasks.clone();
        forwarder.tasks.push(tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                tasks.push(tokio::spawn(relay(client, upstream.clone(), Vec::new())));
            }
        }));
        Ok(forwarder)
    }

    /// The address clients connect to (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address relayed to.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// Client connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for TcpForwarder {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

/// Relays one client to a new connection to `upstream` until either side closes; `preface`,
/// bytes already read from the client, goes first.
pub(crate) async fn relay(mut client: TcpStream, upstream: String, preface: Vec<u8>) {
    let server = tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, TcpStream::connect(&upstream));
    let Ok(Ok(mut server)) = server.await else {
        tracing::debug!(%upstream, "the forwarder's upstream does not answer");
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    if server.write_all(&preface).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
