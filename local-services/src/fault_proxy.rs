//! A WebSocket proxy in front of a real Gremlin Server that plays the faults a Neptune writer
//! shows: error answers TinkerGraph never gives (Neptune's JSON error codes), requests that get
//! no answer, closed sockets, connections refused for a while (a restart or a failover: 30 to
//! 120 s), and a read-only window (the old writer after a failover).

use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// What to do to a write request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status, message and `exceptions` attribute.
    Error {
        /// The response status, e.g. 500.
        status: u16,
        /// The status message.
        message: String,
        /// The `exceptions` attribute (exception class names).
        exceptions: Vec<String>,
    },
    /// Swallow the request: no answer ever comes.
    Stall,
    /// Close the client's socket.
    Close,
    /// Let this write through untouched.
    Pass,
}

impl Fault {
    /// Neptune's JSON error message with `code` (e.g. `ConcurrentModificationException`).
    pub fn neptune(code: &str) -> Fault {
        Fault::Error {
            status: 500,
            message: format!(
                r#"{{"requestId":"x","code":"{code}","detailedMessage":"injected {code}"}}"#
            ),
            exceptions: vec![],
        }
    }
}

#[derive(Default)]
struct State {
    faults: Mutex<VecDeque<Fault>>,
    read_only: AtomicBool,
    connections: AtomicU64,
    faults_applied: AtomicU64,
    /// The accept loop and every proxied connection, aborted when connections are refused.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The proxy, on a fixed loopback port, to `upstream` (`ws://HOST:PORT/gremlin`).
///
/// Requests that write (`addE`, `addV`, `mergeE`, `mergeV`, in GraphSON or GraphBinary) meet,
/// in this order: the read-only window ([`FaultProxy::set_read_only`]: Neptune's
/// `ReadOnlyViolationException`), then the queued faults ([`FaultProxy::push`]), one each.
/// Reads pass. [`FaultProxy::refuse_connections`] stops listening (connects fail at once with
/// "connection refused") and drops every open connection; [`FaultProxy::accept_connections`]
/// listens again on the same port.
pub struct FaultProxy {
    /// `ws://127.0.0.1:PORT/gremlin`.
    pub url: String,
    addr: SocketAddr,
    upstream: String,
    state: Arc<State>,
}

impl FaultProxy {
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

    /// Queues faults for the next write requests.
    pub fn push(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.state.faults).extend(faults);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Faults injected so far (read-only answers included).
    pub fn faults_applied(&self) -> u64 {
        self.state.faults_applied.load(Ordering::SeqCst)
    }

    /// Stops listening and drops every open connection.
    pub fn refuse_connections(&self) {
        for task in lock(&self.state.tasks).drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn accept_connections(&self) -> std::io::Result<()> {
        // The port was just released; it may take a moment to be free again.
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

    fn listen(&self, listener: TcpListener) {
        let state = self.state.clone();
        let upstream = self.upstream.clone();
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                state.connections.fetch_add(1, Ordering::SeqCst);
                let conn = tokio::spawn(serve(tcp, upstream.clone(), state.clone()));
                lock(&state.tasks).push(conn);
            }
        });
        lock(&self.state.tasks).push(accept);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.refuse_connections();
    }
}

/// A request frame: its format, its request id and whether it writes.
struct Request<'a> {
    binary: bool,
    body: &'a [u8],
}

impl<'a> Request<'a> {
    /// A binary frame: a mime-type length byte, the mime type, the body.
    fn parse(frame: &'a [u8]) -> Option<Self> {
        let mime_len = *frame.first()? as usize;
        let mime = frame.get(1..=mime_len)?;
        Some(Self {
            binary: mime.starts_with(b"application/vnd.graphbinary"),
            body: frame.get(1 + mime_len..)?,
        })
    }

    fn writes(&self) -> bool {
        ["addE", "addV", "mergeE", "mergeV"]
            .iter()
            .any(|w| self.body.windows(w.len()).any(|x| x == w.as_bytes()))
    }

    /// The answer `status` / `message` / `exceptions` to this request, in its own format.
    fn error_answer(&self, status: u16, message: &str, exceptions: &[String]) -> Message {
        if self.binary {
            // The request id: the 16 bytes after the version byte.
            let id = self.body.get(1..17).unwrap_or(&[0; 16]);
            return Message::Binary(binary_error(id, status, message, exceptions).into());
        }
        let body: serde_json::Value =
            serde_json::from_slice(self.body).expect("a GraphSON request");
        let id = body["requestId"]["@value"]
            .as_str()
            .or_else(|| body["requestId"].as_str())
            .unwrap_or_default()
            .to_owned();
        let answer = serde_json::json!({
            "requestId": id,
            "status": {"code": status, "message": message, "attributes": {
                "@type": "g:Map",
                "@value": ["exceptions", {"@type": "g:List", "@value": exceptions}]
            }},
            "result": {"data": null, "meta": {"@type": "g:Map", "@value": []}}
        });
        Message::Text(answer.to_string().into())
    }
}

/// A GraphBinary 1.0 error answer, as Gremlin Server and Neptune write it: version, request
/// id, status code, message, attributes `{exceptions: [...]}`, empty meta, null data.
fn binary_error(request_id: &[u8], status: u16, message: &str, exceptions: &[String]) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as i32).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    let mut out = vec![0x81, 0x00];
    out.extend_from_slice(request_id);
    out.extend_from_slice(&i32::from(status).to_be_bytes());
    out.push(0x00);
    string(&mut out, message);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&[0x03, 0x00]);
    string(&mut out, "exceptions");
    out.extend_from_slice(&[0x09, 0x00]);
    out.extend_from_slice(&(exceptions.len() as i32).to_be_bytes());
    for e in exceptions {
        out.extend_from_slice(&[0x03, 0x00]);
        string(&mut out, e);
    }
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&[0xfe, 0x01]);
    out
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
            let request = match &m {
                Message::Binary(frame) => Request::parse(frame).filter(Request::writes),
                _ => None,
            };
            let fault = request.as_ref().and_then(|_| {
                if state.read_only.load(Ordering::SeqCst) {
                    Some(Fault::neptune("ReadOnlyViolationException"))
                } else {
                    lock(&state.faults)
                        .pop_front()
                        .filter(|f| !matches!(f, Fault::Pass))
                }
            });
            let (Some(request), Some(fault)) = (request, fault) else {
                if server_tx.send(m).await.is_err() {
                    break;
                }
                continue;
            };
            state.faults_applied.fetch_add(1, Ordering::SeqCst);
            match fault {
                Fault::Error {
                    status,
                    message,
                    exceptions,
                } => {
                    let _ = to_client.send(request.error_answer(status, &message, &exceptions));
                }
                Fault::Stall | Fault::Pass => {}
                Fault::Close => {
                    let _ = to_client.send(Message::Close(None));
                    break;
                }
            }
        }
    };
    tokio::select! {
        _ = downstream => {}
        _ = writer => {}
        _ = upstream_pump => {}
    }
}
