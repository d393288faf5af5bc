//! Asking a source to stop, from anywhere, including a signal handler.

use tokio_util::sync::CancellationToken;

/// A cloneable handle that asks a [`KinesisSource`](crate::KinesisSource) to stop reading.
///
/// After [`ShutdownHandle::request`], `next_batch` returns `Ok(None)`; the consumer then calls
/// [`RecordSource::shutdown`](crate::RecordSource::shutdown), which waits (bounded) for the
/// batches it still holds to be acknowledged and writes the final checkpoints.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    token: CancellationToken,
}

impl ShutdownHandle {
    pub(crate) fn new(token: CancellationToken) -> Self {
        Self { token }
    }

    /// Asks the source to stop reading.
    pub fn request(&self) {
        self.token.cancel();
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Waits until a stop is asked for.
    pub async fn requested(&self) {
        self.token.cancelled().await;
    }

    /// Spawns a task that asks for a stop on Ctrl-C (SIGINT) or, on Unix, SIGTERM. Call it from
    /// inside a Tokio runtime.
    pub fn trigger_on_signals(&self) -> tokio::task::JoinHandle<()> {
        let handle = self.clone();
        tokio::spawn(async move {
            let ctrl_c = async {
                if tokio::signal::ctrl_c().await.is_err() {
                    // No handler could be installed: never fire from this branch.
                    std::future::pending::<()>().await;
                }
            };
            #[cfg(unix)]
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let term = std::future::pending::<()>();
            tokio::select! {
                _ = ctrl_c => tracing::info!("Ctrl-C: stopping the Kinesis source"),
                _ = term => tracing::info!("SIGTERM: stopping the Kinesis source"),
                _ = handle.requested() => return,
            }
            handle.request();
        })
    }
}
