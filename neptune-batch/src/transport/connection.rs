//! One WebSocket connection on which many requests are in flight at once, told apart by
//! request id.

use super::error::GremlinError;
use super::message::ResponseFrame;
use crate::graphson::GValue;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use stream2neptune_common::lock;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

type Reply = oneshot::Sender<Result<Vec<GValue>, GremlinError>>;

/// A request waiting for its last frame; partial (206) frames accumulate in `data`.
struct Pending {
    data: Vec<GValue>,
    reply: Reply,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<HashMap<String, Pending>>,
    dead: AtomicBool,
}

impl Shared {
    /// Marks the connection dead and fails every request in flight on it.
    fn fail_all(&self, why: &str) {
        self.dead.store(true, Ordering::Release);
        let drained: Vec<Pending> = {
            let mut map = lock(&self.pending);
            map.drain().map(|(_, p)| p).collect()
        };
        for p in drained {
            let _ = p
                .reply
                .send(Err(GremlinError::ConnectionLost(why.to_owned())));
        }
    }

    fn dispatch(&self, frame: ResponseFrame) {
        let mut map = lock(&self.pending);
        if frame.status == 206 {
            if let Some(p) = map.get_mut(&frame.request_id) {
                p.data.extend(frame.data);
            }
            return;
        }
        let Some(mut p) = map.remove(&frame.request_id) else {
            return; // an answer to a request that timed out: nobody waits for it any more
        };
        drop(map);
        let result = match frame.error {
            Some(e) => Err(e),
            None => {
                p.data.extend(frame.data);
                Ok(p.data)
            }
        };
        let _ = p.reply.send(result);
    }
}

/// A live connection. Dropping it stops its reader and writer tasks.
pub(crate) struct Connection {
    outbound: mpsc::UnboundedSender<Message>,
    shared: Arc<Shared>,
    opened: Instant,
    /// Which of the transport's connections this is (1 for the first opened).
    serial: u64,
    tasks: [JoinHandle<()>; 2],
}

impl Connection {
    /// Starts the reader and writer tasks over an open WebSocket.
    pub(crate) fn start<S>(ws: tokio_tungstenite::WebSocketStream<S>, serial: u64) -> Connection
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sink, mut stream) = ws.split();
        let shared = Arc::new(Shared::default());
        let (outbound, mut rx) = mpsc::unbounded_channel::<Message>();

        let writer_shared = shared.clone();
        let writer = tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                if let Err(e) = sink.send(msg).await {
                    writer_shared.fail_all(&format!("write failed: {e}"));
                    return;
                }
            }
            let _ = sink.close().await;
        });

        let reader_shared = shared.clone();
        let reader = tokio::spawn(async move {
            let why = loop {
                match stream.next().await {
                    Some(Ok(Message::Binary(b))) => match ResponseFrame::parse(&b) {
                        Ok(f) => reader_shared.dispatch(f),
                        Err(e) => break e.to_string(),
                    },
                    Some(Ok(Message::Text(t))) => match ResponseFrame::parse(t.as_bytes()) {
                        Ok(f) => reader_shared.dispatch(f),
                        Err(e) => break e.to_string(),
                    },
                    Some(Ok(Message::Close(frame))) => {
                        break format!("closed by the server ({frame:?})")
                    }
                    Some(Ok(_)) => {} // ping/pong: answered by tungstenite
                    Some(Err(e)) => break format!("read failed: {e}"),
                    None => break "closed".to_owned(),
                }
            };
            reader_shared.fail_all(&why);
        });

        Connection {
            outbound,
            shared,
            opened: Instant::now(),
            serial,
            tasks: [writer, reader],
        }
    }

    /// Whether the connection can still carry requests.
    pub(crate) fn is_alive(&self) -> bool {
        !self.shared.dead.load(Ordering::Acquire) && !self.outbound.is_closed()
    }

    /// When the connection was opened.
    pub(crate) fn opened(&self) -> Instant {
        self.opened
    }

    /// Which of the transport's connections this is.
    pub(crate) fn serial(&self) -> u64 {
        self.serial
    }

    /// Sends one request frame; the receiver gets the assembled result.
    pub(crate) fn send(
        &self,
        request_id: String,
        frame: Vec<u8>,
    ) -> oneshot::Receiver<Result<Vec<GValue>, GremlinError>> {
        let (tx, rx) = oneshot::channel();
        if !self.is_alive() {
            let _ = tx.send(Err(GremlinError::ConnectionLost(
                "connection is closed".into(),
            )));
            return rx;
        }
        lock(&self.shared.pending).insert(
            request_id.clone(),
            Pending {
                data: Vec::new(),
                reply: tx,
            },
        );
        if self.outbound.send(Message::Binary(frame.into())).is_err() {
            self.shared.fail_all("writer stopped");
        }
        rx
    }

    /// Forgets a request that timed out, and retires the connection: a server that let one
    /// request time out may have stalled, so the next request gets a fresh connection.
    pub(crate) fn abandon(&self, request_id: &str) {
        lock(&self.shared.pending).remove(request_id);
        self.shared.dead.store(true, Ordering::Release);
    }

    /// Retires the connection: requests in flight fail, new ones go elsewhere.
    pub(crate) fn retire(&self) {
        self.shared.fail_all("connection retired");
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.fail_all("connection dropped");
        for t in &self.tasks {
            t.abort();
        }
    }
}
