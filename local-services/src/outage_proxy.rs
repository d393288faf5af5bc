//! A proxy in front of a real Gremlin Server that plays the outages a Neptune writer goes
//! through: refusing connections (a restart, a failover: 30 to 120 s), and answering writes
//! with `ReadOnlyViolationException` (the old writer after a failover, until clients reconnect).

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

#[derive(Default)]
struct State {
    read_only: AtomicBool,
    connections: AtomicU64,
    refused_writes: AtomicU64,
    /// The accept loop and every proxied connection, aborted when connections are refused.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// A WebSocket proxy on a fixed loopback port to `upstream` (`ws://HOST:PORT/gremlin`).
///
/// * [`OutageProxy::refuse_connections`]: the port stops listening (a client's connect fails
///   at once with "connection refused") and every open connection is dropped, as when a
///   server goes down; [`OutageProxy::accept_connections`] listens again on the same port.
/// * [`OutageProxy::set_read_only`]: while on, every request that writes (`addE`, `addV`,
///   `mergeE`, `mergeV`) is answered with Neptune's `ReadOnlyViolationException` (status 500
///   with Neptune's JSON error) instead of reaching the server; reads pass.
///
/// It speaks the GraphSON request format (a binary frame with a mime-type prefix and a JSON
/// body): a write in any other format while read-only panics the connection's task, so a
/// test never passes by not injecting the fault.
pub struct OutageProxy {
    /// `ws://127.0.0.1:PORT/gremlin`.
    pub url: String,
    addr: SocketAddr,
    upstream: String,
    state: Arc<State>,
}

impl OutageProxy {
    /// Starts a proxy to `upstream` on a free loopback port.
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let proxy = Self {
            url: format!("ws://{addr}/gremlin"),
            addr,
            upstream: upstream.to_owned(),
            state: Arc::default(),
        };
        proxy.listen(listener);
        Ok(proxy)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Writes answered with `ReadOnlyViolationException` so far.
    pub fn refused_writes(&self) -> u64 {
        self.state.refused_writes.load(Ordering::SeqCst)
    }

    /// Stops listening and drops every open connection.
    pub fn refuse_connections(&self) {
        for task in self.lock_tasks().drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn accept_connections(&self) -> std::io::Result<()> {
        // The port was just released; another bind may briefly hold it.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    tracing::debug!(error = %e, "rebinding the proxy port");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        };
        self.listen(listener);
        Ok(())
    }

    /// Turns the read-only answer to writes on or off.
    pub fn set_read_only(&self, on: bool) {
        self.state.read_only.store(on, Ordering::SeqCst);
    }

    fn lock_tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.state
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn listen(&self, listener: TcpListener) {
        let state = self.state.clone();
        let upstream = self.upstream.clone();
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                state.connections.fetch_add(1, Ordering::SeqCst);
                let conn = tokio::spawn(serve(tcp, upstream.clone(), state.clone()));
                state
                    .tasks
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(conn);
            }
        });
        self.lock_tasks().push(accept);
    }
}

impl Drop for OutageProxy {
    fn drop(&mut self) {
        self.refuse_connections();
    }
}

/// Whether a GraphSON request body writes.
fn writes(body: &str) -> bool {
    ["\"addE\"", "\"addV\"", "\"mergeE\"", "\"mergeV\""]
        .iter()
        .any(|w| body.contains(w))
}

/// Neptune's answer to a write on a read replica.
fn read_only_answer(request_id: &str) -> Message {
    let neptune = serde_json::json!({
        "requestId": request_id,
        "code": "ReadOnlyViolationException",
        "detailedMessage": "The request is rejected because it violates some read-only constraint, such as a designation of a particular instance as read-only."
    });
    let answer = serde_json::json!({
        "requestId": request_id,
        "status": {"code": 500, "message": neptune.to_string(), "attributes": {"@type": "g:Map", "@value": []}},
        "result": {"data": null, "meta": {"@type": "g:Map", "@value": []}}
    });
    Message::Text(answer.to_string().into())
}

async fn serve(tcp: tokio::net::TcpStream, upstream: String, state: Arc<State>) {
    let Ok(client) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let Ok((server, _)) = tokio_tungstenite::connect_async(upstream.as_str()).await else {
        return;
    };
    let (mut client_tx, mut client_rx) = client.split();
    let (mut server_tx, mut server_rx) = server.split();
    let (to_client, mut to_client_rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
    let forward = to_client.clone();
    let downstream = async move {
        while let Some(Ok(m)) = server_rx.next().await {
            if forward.send(m).is_err() {
                break;
            }
        }
    };
    let writer = async move {
        while let Some(m) = to_client_rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if client_tx.send(m).await.is_err() || close {
                break;
            }
        }
    };
    let upstream_pump = async move {
        while let Some(Ok(m)) = client_rx.next().await {
            if state.read_only.load(Ordering::SeqCst) {
                if let Message::Binary(frame) = &m {
                    let mime_len = frame.first().copied().unwrap_or(0) as usize;
                    let body = frame.get(1 + mime_len..).unwrap_or_default();
                    let mime = frame.get(1..1 + mime_len).unwrap_or_default();
                    let text = String::from_utf8_lossy(body);
                    if writes(&text) {
                        assert!(
                            mime.starts_with(b"application/vnd.gremlin-v3.0+json"),
                            "the outage proxy answers GraphSON writes only, got {}",
                            String::from_utf8_lossy(mime)
                        );
                        let request: serde_json::Value =
                            serde_json::from_str(&text).expect("a GraphSON request");
                        let id = request["requestId"]["@value"]
                            .as_str()
                            .or_else(|| request["requestId"].as_str())
                            .unwrap_or_default()
                            .to_owned();
                        state.refused_writes.fetch_add(1, Ordering::SeqCst);
                        let _ = to_client.send(read_only_answer(&id));
                        continue;
                    }
                }
            }
            if server_tx.send(m).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        _ = downstream => {}
        _ = writer => {}
        _ = upstream_pump => {}
    }
}
