//! A WebSocket proxy in front of the real Gremlin Server that injects faults into write
//! requests: error answers TinkerGraph never gives (Neptune's JSON error codes), a stall (the
//! request is swallowed), or a closed socket.

use futures::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// What to do to the next write request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status, message and `exceptions` attribute.
    Error {
        status: u16,
        message: String,
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
    /// Neptune's JSON error message with `code`.
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

/// The proxy; faults apply, in order, to requests that write (`addE`, `addV`, `mergeE`,
/// `mergeV`), while reads pass through.
#[derive(Clone)]
pub struct FaultProxy {
    /// `ws://127.0.0.1:PORT/gremlin`.
    pub url: String,
    faults: Arc<Mutex<VecDeque<Fault>>>,
    connections: Arc<AtomicUsize>,
    faults_applied: Arc<AtomicUsize>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` on a free loopback port.
    pub async fn start(upstream: String) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/gremlin", listener.local_addr().unwrap());
        let proxy = FaultProxy {
            url,
            faults: Arc::default(),
            connections: Arc::default(),
            faults_applied: Arc::default(),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                p.connections.fetch_add(1, Ordering::SeqCst);
                let p = p.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move { p.serve(tcp, upstream).await });
            }
        });
        proxy
    }

    /// Queues faults for the next write requests.
    pub fn push(&self, faults: impl IntoIterator<Item = Fault>) {
        self.faults.lock().unwrap().extend(faults);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Faults injected so far.
    pub fn faults_applied(&self) -> usize {
        self.faults_applied.load(Ordering::SeqCst)
    }

    async fn serve(&self, tcp: tokio::net::TcpStream, upstream: String) {
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
        let downstream = tokio::spawn(async move {
            while let Some(Ok(m)) = server_rx.next().await {
                if forward.send(m).is_err() {
                    break;
                }
            }
        });
        let writer = tokio::spawn(async move {
            while let Some(m) = to_client_rx.recv().await {
                let close = matches!(m, Message::Close(_));
                if client_tx.send(m).await.is_err() || close {
                    break;
                }
            }
        });
        while let Some(Ok(m)) = client_rx.next().await {
            let Message::Binary(frame) = &m else {
                let _ = server_tx.send(m).await;
                continue;
            };
            let mime_len = frame[0] as usize;
            let binary = frame[1..=mime_len].starts_with(b"application/vnd.graphbinary");
            let body = &frame[1 + mime_len..];
            let writes = ["addE", "addV", "mergeE", "mergeV"]
                .iter()
                .any(|w| body.windows(w.len()).any(|x| x == w.as_bytes()));
            let fault = if writes {
                self.faults.lock().unwrap().pop_front()
            } else {
                None
            };
            let fault = fault.filter(|f| !matches!(f, Fault::Pass));
            let Some(fault) = fault else {
                if server_tx.send(m).await.is_err() {
                    break;
                }
                continue;
            };
            self.faults_applied.fetch_add(1, Ordering::SeqCst);
            match fault {
                Fault::Error {
                    status,
                    message,
                    exceptions,
                } if binary => {
                    // The request id: the 16 bytes after the version byte.
                    let answer = binary_error(&body[1..17], status, &message, &exceptions);
                    let _ = to_client.send(Message::Binary(answer.into()));
                }
                Fault::Error {
                    status,
                    message,
                    exceptions,
                } => {
                    let body: serde_json::Value = serde_json::from_slice(body).unwrap();
                    let request_id = body["requestId"]["@value"].as_str().unwrap().to_owned();
                    let answer = serde_json::json!({
                        "requestId": request_id,
                        "status": {"code": status, "message": message, "attributes": {
                            "@type": "g:Map",
                            "@value": ["exceptions", {"@type": "g:List", "@value": exceptions}]
                        }},
                        "result": {"data": null, "meta": {"@type": "g:Map", "@value": []}}
                    });
                    let _ = to_client.send(Message::Text(answer.to_string().into()));
                }
                Fault::Stall => {}
                Fault::Close => {
                    let _ = to_client.send(Message::Close(None));
                    break;
                }
                Fault::Pass => {}
            }
        }
        downstream.abort();
        let _ = writer.await;
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
