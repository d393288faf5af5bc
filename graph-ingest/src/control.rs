//! Stopping and pausing a running pipeline from anywhere.

use tokio::sync::watch;

/// Stops or pauses a [`Pipeline`](crate::Pipeline) from another task; clones control the same
/// pipeline.
///
/// * [`Control::stop`]: no more batches are read; batches in flight are finished (a held one
///   is left unacknowledged, to be read again on the next start), final checkpoints are
///   written, and metrics are flushed, within the pipeline's drain timeout.
/// * [`Control::pause`] / [`Control::resume`]: the original's `wait` switch. While paused
///   nothing is read; shards stay where they are and nothing is lost.
#[derive(Debug, Clone)]
pub struct Control {
    stop: watch::Sender<bool>,
    pause: watch::Sender<bool>,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            stop: watch::Sender::new(false),
            pause: watch::Sender::new(false),
        }
    }
}

impl Control {
    /// Asks the pipeline to stop.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Whether a stop was asked.
    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Stops reading until [`Control::resume`].
    pub fn pause(&self) {
        self.pause.send_replace(true);
    }

    /// Reads again after [`Control::pause`].
    pub fn resume(&self) {
        self.pause.send_replace(false);
    }

    /// Pauses while `paused` is true, resumes when it is false.
    pub fn set_paused(&self, paused: bool) {
        self.pause.send_replace(paused);
    }

    /// Whether the pipeline is paused.
    pub fn is_paused(&self) -> bool {
        *self.pause.borrow()
    }

    /// Stops the pipeline on the first SIGINT (Ctrl-C) or SIGTERM, so a process asked to end
    /// drains, checkpoints and flushes its metrics before it exits. A second signal ends the
    /// process at once with status 130, as an impatient operator expects; like `SIGKILL`, that
    /// loses no record (what was not acknowledged is read again) but can lose the metrics not
    /// yet flushed.
    pub fn stop_on_signals(&self) -> tokio::task::JoinHandle<()> {
        let control = self.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("stop requested by signal: draining, checkpointing, flushing metrics");
            control.stop();
            wait_for_signal().await;
            tracing::warn!("second signal: exiting at once");
            std::process::exit(130);
        })
    }

    pub(crate) fn stop_receiver(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub(crate) fn pause_receiver(&self) -> watch::Receiver<bool> {
        self.pause.subscribe()
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
