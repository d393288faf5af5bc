//! Holding a shard (or a lane of one) while its writes fail for transient reasons.

use crate::config::HoldPolicy;
use crate::publish;
use crate::stats::Counters;
use metrics_sink::MetricsSink;
use neptune_batch::GraphSink;
use std::sync::atomic::Ordering;
use tokio::sync::watch;
// Tokio's clock, so that tests can pause it; the same as the system's otherwise.
use tokio::time::Instant;

/// How a wait while held ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    /// Time to try again: the back-off ran out (and the graph answers), or the graph answered
    /// again after not answering.
    Retry,
    /// The oldest held record reached the maximum record age.
    Expiring,
    /// The pipeline is stopping: the held records stay unacknowledged.
    Stopped,
}

/// One hold: begins at the first transient failure of a shard's write, ends when the write
/// goes through (or the pipeline stops). Logged once at `warn` when it begins and once at
/// `info` when it ends, with its duration and error; counted in the stats and metrics.
pub(crate) struct Hold<'a> {
    lane: &'a str,
    policy: &'a HoldPolicy,
    stats: &'a Counters,
    metrics: &'a dyn MetricsSink,
    cluster_id: &'a str,
    since: Option<Instant>,
    attempts: u32,
    last_error: String,
    /// Whether the last probe failed: the graph did not answer at all.
    unreachable: bool,
}

impl<'a> Hold<'a> {
    pub(crate) fn new(
        lane: &'a str,
        policy: &'a HoldPolicy,
        stats: &'a Counters,
        metrics: &'a dyn MetricsSink,
        cluster_id: &'a str,
    ) -> Self {
        Self {
            lane,
            policy,
            stats,
            metrics,
            cluster_id,
            since: None,
            attempts: 0,
            last_error: String::new(),
            unreachable: false,
        }
    }

    /// The last transient error seen.
    pub(crate) fn last_error(&self) -> &str {
        &self.last_error
    }

    /// Seconds since the hold began (0 if it has not).
    pub(crate) fn held_secs(&self) -> u64 {
        self.since.map_or(0, |s| s.elapsed().as_secs())
    }

    /// A write failed for a transient reason: the hold begins, or goes on.
    pub(crate) fn failed(&mut self, error: &str) {
        self.last_error = error.to_owned();
        if self.since.is_some() {
            return;
        }
        self.since = Some(Instant::now());
        let now = self.stats.held_now.fetch_add(1, Ordering::Relaxed) + 1;
        self.stats.holds.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            shard = self.lane,
            error,
            "shard held: its writes fail for a transient reason; nothing is acknowledged past them and they are retried until they pass"
        );
        publish::record_hold(self.metrics, self.cluster_id, now, None);
    }

    /// The held writes went through: the hold ends.
    pub(crate) fn resumed(&mut self) {
        let Some(since) = self.since.take() else {
            return;
        };
        let took = since.elapsed();
        let now = self.end(took);
        tracing::info!(
            shard = self.lane,
            held_secs = format!("{:.1}", took.as_secs_f64()),
            attempts = self.attempts,
            last_error = self.last_error.as_str(),
            "shard resumed"
        );
        publish::record_hold(self.metrics, self.cluster_id, now, Some(took));
    }

    fn end(&self, took: std::time::Duration) -> u64 {
        self.stats
            .held_ms
            .fetch_add(took.as_millis() as u64, Ordering::Relaxed);
        self.stats.held_now.fetch_sub(1, Ordering::Relaxed) - 1
    }

    /// Waits before the next attempt: a back-off with full jitter, then a probe of the sink.
    /// The attempt is only made once the graph answers a probe: while it does not, an attempt
    /// would only fail the same way (after the sink's own retries, during which the return of
    /// the graph would go unseen), so the wait goes on, probing every `probe_interval`, and
    /// ends as soon as a probe is answered. During a long back-off the sink is probed too, and
    /// an answer after failed probes ends the wait early.
    ///
    /// With `expiry`, the wait also ends when that moment comes (a held record reaches the
    /// maximum record age), so records expire on time even while the graph does not answer.
    pub(crate) async fn wait(
        &mut self,
        sink: &dyn GraphSink,
        stop: &mut watch::Receiver<bool>,
        expiry: Option<Instant>,
    ) -> Waited {
        let backoff_ends = Instant::now() + self.policy.backoff.delay(self.attempts);
        self.attempts += 1;
        self.stats.pipeline_retries.fetch_add(1, Ordering::Relaxed);
        loop {
            let now = Instant::now();
            let next_probe = now + self.policy.probe_interval;
            let mut wake = if now < backoff_ends {
                next_probe.min(backoff_ends)
            } else {
                next_probe
            };
            if let Some(at) = expiry {
                if at <= now {
                    return Waited::Expiring;
                }
                wake = wake.min(at);
            }
            if !sleep_until(wake, stop).await {
                return Waited::Stopped;
            }
            if expiry.is_some_and(|at| at <= Instant::now()) {
                return Waited::Expiring;
            }
            let answered = tokio::select! {
                r = sink.probe() => r.is_ok(),
                _ = stopped(stop) => return Waited::Stopped,
            };
            let was_unreachable = std::mem::replace(&mut self.unreachable, !answered);
            if answered && (was_unreachable || Instant::now() >= backoff_ends) {
                return Waited::Retry;
            }
        }
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        // A hold left by a stop still ends for the counters.
        if let Some(since) = self.since.take() {
            let now = self.end(since.elapsed());
            publish::record_hold(self.metrics, self.cluster_id, now, None);
        }
    }
}

/// Sleeps until `deadline`; `false` if the pipeline is stopping first.
async fn sleep_until(deadline: Instant, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => true,
        _ = stopped(stop) => false,
    }
}

/// Resolves once a stop is asked (at once if it already was).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the controlling side is gone, which stops nothing: wait forever then.
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use neptune_batch::{Edge, SinkError, Vertex, WriteReport};
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    /// A sink whose probe answers only when told to.
    #[derive(Default)]
    struct Switch {
        up: AtomicBool,
    }

    #[async_trait]
    impl GraphSink for Switch {
        async fn write_vertices(&self, _: &[Vertex]) -> Result<WriteReport, SinkError> {
            unreachable!()
        }
        async fn write_edges(&self, _: &[Edge]) -> Result<WriteReport, SinkError> {
            unreachable!()
        }
        async fn probe(&self) -> Result<(), SinkError> {
            if self.up.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(SinkError::Closed)
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_shard_waits_for_the_graph_and_resumes_within_a_probe_of_its_return() {
        let policy = HoldPolicy::default();
        let stats = Counters::default();
        let metrics = metrics_sink::MemoryMetrics::new();
        let sink = Switch::default();
        let (_tx, mut stop) = watch::channel(false);
        let mut hold = Hold::new("shard-0", &policy, &stats, &metrics, "c");
        hold.failed("connection refused");
        assert_eq!(stats.held_now.load(Ordering::Relaxed), 1);
        let started = tokio::time::Instant::now();
        {
            let waiting = hold.wait(&sink, &mut stop, None);
            tokio::pin!(waiting);
            // Down for 60 s: far past every back-off, the wait goes on.
            tokio::select! {
                _ = &mut waiting => panic!("resumed while the graph does not answer"),
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            }
            sink.up.store(true, Ordering::SeqCst);
            assert_eq!(waiting.await, Waited::Retry);
        }
        let back_after = started.elapsed() - Duration::from_secs(60);
        assert!(back_after <= Duration::from_secs(1), "{back_after:?}");
        hold.resumed();
        assert_eq!(stats.held_now.load(Ordering::Relaxed), 0);
        assert_eq!(
            metrics.values(metrics_sink::names::HELD_SHARDS),
            vec![1.0, 0.0]
        );
        assert_eq!(
            metrics
                .values(metrics_sink::names::SHARD_HELD_DURATION)
                .len(),
            1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reachable_graph_that_refuses_writes_is_retried_after_the_back_off() {
        let policy = HoldPolicy::default();
        let stats = Counters::default();
        let metrics = metrics_sink::MemoryMetrics::new();
        let sink = Switch::default();
        sink.up.store(true, Ordering::SeqCst);
        let (_tx, mut stop) = watch::channel(false);
        let mut hold = Hold::new("shard-0", &policy, &stats, &metrics, "c");
        hold.failed("ReadOnlyViolationException");
        for n in 0..6 {
            let started = tokio::time::Instant::now();
            assert_eq!(hold.wait(&sink, &mut stop, None).await, Waited::Retry);
            assert!(started.elapsed() <= policy.backoff.ceiling(n) + policy.probe_interval);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_the_wait() {
        let policy = HoldPolicy::default();
        let stats = Counters::default();
        let metrics = metrics_sink::MemoryMetrics::new();
        let sink = Switch::default();
        let (tx, mut stop) = watch::channel(false);
        {
            let mut hold = Hold::new("shard-0", &policy, &stats, &metrics, "c");
            hold.failed("timeout");
            let waiting = hold.wait(&sink, &mut stop, None);
            tokio::pin!(waiting);
            tokio::select! {
                _ = &mut waiting => panic!("resumed"),
                _ = tokio::time::sleep(Duration::from_secs(3)) => {}
            }
            tx.send_replace(true);
            assert_eq!(waiting.await, Waited::Stopped);
        }
        assert_eq!(stats.held_now.load(Ordering::Relaxed), 0);
    }
}
