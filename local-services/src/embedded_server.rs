//! A server run inside this process on a thread and a one-worker tokio runtime of its own,
//! bound to a loopback port, stopped when dropped: how the Kinesis and DynamoDB emulators are
//! embedded. A runtime of its own keeps the emulator serving while the caller's runtime is
//! blocked or shutting down, and names its threads so that its CPU can be told apart.

use std::future::Future;

/// A server on `127.0.0.1`, served by the thread `embedded-<name>` (runtime threads
/// `embedded-<name>-rt`). Dropping it signals the shutdown and waits for the thread.
pub(crate) struct EmbeddedServer {
    url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedServer {
    /// Binds `127.0.0.1:port` (`0` picks a free port) and runs `serve(listener, shutdown)` on
    /// the server's runtime; `serve` should return once `shutdown` completes.
    pub(crate) fn start<F, Fut>(name: &str, port: u16, serve: F) -> std::io::Result<Self>
    where
        F: FnOnce(tokio::net::TcpListener, ShutdownSignal) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let runtime_name = format!("embedded-{name}-rt");
        let thread = std::thread::Builder::new()
            .name(format!("embedded-{name}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name(runtime_name)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for an embedded emulator");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("a listener registered with the runtime");
                    serve(
                        listener,
                        Box::pin(async move {
                            let _ = rx.await;
                        }),
                    )
                    .await;
                });
            })?;
        Ok(Self {
            url,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

/// Completes when the server is dropped.
pub(crate) type ShutdownSignal = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
