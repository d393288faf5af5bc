//! Sending one request to the server: on the right connection, retried, measured.

use super::retry::{is_conflict, Retries, RetryLogic};
use super::session_lane::SessionLane;
use crate::bytecode::Bytecode;
use crate::graphson::GValue;
use crate::metrics as m;
use crate::transport::{GremlinError, GremlinTransport, Request};
use std::time::{Duration, Instant};

/// What the requests made for a batch of items amounted to.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Stats {
    /// Requests sent, retries included.
    pub requests: u32,
    /// Requests that were retries.
    pub retries: u32,
    /// Retries after a conflict, throttling or a timeout: signals to send less.
    pub backoff: u32,
    /// Microseconds slept before retries after a write conflict, as measured (the timer sleeps
    /// at least to its next millisecond tick, whatever shorter delay was drawn).
    pub conflict_sleep_us: u64,
    /// A write request's answer was lost after it was sent (broken connection, timeout,
    /// unreadable answer): it may have been committed.
    pub unconfirmed: bool,
}

/// `us` microseconds, rounded to milliseconds: how the sleep measured in microseconds is
/// reported.
pub(super) fn millis(us: u64) -> u64 {
    us.saturating_add(500) / 1000
}

impl Stats {
    pub(super) fn add(&mut self, other: Stats) {
        self.requests += other.requests;
        self.retries += other.retries;
        self.backoff += other.backoff;
        self.conflict_sleep_us += other.conflict_sleep_us;
        self.unconfirmed |= other.unconfirmed;
    }

    /// Counts `slept`, the time a sleep before a retry after a write conflict took, here and
    /// (rounded to milliseconds) in the [`CONFLICT_SLEEP_MS`](m::CONFLICT_SLEEP_MS) counter.
    pub(super) fn slept_on_conflict(&mut self, slept: Duration) {
        let us = u64::try_from(slept.as_micros()).unwrap_or(u64::MAX);
        self.conflict_sleep_us = self.conflict_sleep_us.saturating_add(us);
        metrics::counter!(m::CONFLICT_SLEEP_MS).increment(millis(us));
    }

    /// Counts a request about to be sent again (or cut) after an error of `reason`, here and
    /// in the [`RETRIES`](m::RETRIES) counter; `send_less` if the error says the server is
    /// contended (a conflict, throttling, a timeout), for the sizing controller.
    pub(super) fn count_retry(&mut self, reason: &'static str, send_less: bool) {
        metrics::counter!(m::RETRIES, "reason" => reason).increment(1);
        self.retries += 1;
        if send_less {
            self.backoff += 1;
        }
    }

    /// Sleeps `delay` before a retry, counted as sleep on a write conflict if `conflict`.
    pub(super) async fn sleep_before_retry(&mut self, delay: Duration, conflict: bool) {
        let started = std::time::Instant::now();
        if delay.is_zero() {
            // At once, without a timer (whose shortest sleep is its next tick).
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(delay).await;
        }
        if conflict {
            self.slept_on_conflict(started.elapsed());
        }
    }
}

/// What [`Service::send_with`] does when another transaction's write conflicts with the
/// request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnConflict {
    /// Send the same request again: right for writes that decide nothing from what they read
    /// beforehand (creates, merges).
    Resend,
    /// Return the conflict at once: the caller's request was decided from a read the other
    /// transaction may have made stale, so it is read and decided again instead.
    Return,
}

/// The writer endpoint as the sink's requests see it: the transport, the session the merges
/// queue in (where the server allows it), and the retry logic.
#[derive(Debug)]
pub(super) struct Service {
    transport: GremlinTransport,
    lane: Option<SessionLane>,
    retry: RetryLogic,
}

impl Service {
    pub(super) fn new(
        transport: GremlinTransport,
        lane: Option<SessionLane>,
        retry: RetryLogic,
    ) -> Self {
        Self {
            transport,
            lane,
            retry,
        }
    }

    /// The writer's transport (not the session's).
    pub(super) fn transport(&self) -> &GremlinTransport {
        &self.transport
    }

    /// Whether write requests go into a Gremlin Server session.
    pub(super) fn queues_in_session(&self) -> bool {
        self.lane.is_some()
    }

    /// The retry logic, for the outcome of items whose retries ran out.
    pub(super) fn retry(&self) -> &RetryLogic {
        &self.retry
    }

    /// The request writing `traversal`: in the session where one is open (the lane is only
    /// ever opened for merges), else on its own.
    pub(super) fn write_request(&self, traversal: Bytecode) -> Request {
        match &self.lane {
            Some(lane) => lane.request(traversal),
            None => Request::Bytecode(traversal),
        }
    }

    /// Sends a request, retrying as the [`RetryLogic`] decides. `kind` labels the request in
    /// the metrics (`write`, `lookup`, `diagnose`); a `write` whose answer is lost after it
    /// was sent marks `stats` unconfirmed, since it may have been committed.
    pub(super) async fn send(
        &self,
        request: &Request,
        kind: &'static str,
        stats: &mut Stats,
    ) -> Result<Vec<GValue>, GremlinError> {
        self.send_with(request, kind, stats, OnConflict::Resend)
            .await
    }

    /// [`send`](Self::send), with a write conflict either sent again as the [`RetryLogic`]
    /// decides or returned at once (`on_conflict`).
    pub(super) async fn send_with(
        &self,
        request: &Request,
        kind: &'static str,
        stats: &mut Stats,
        on_conflict: OnConflict,
    ) -> Result<Vec<GValue>, GremlinError> {
        let mut retries = Retries::default();
        loop {
            stats.requests += 1;
            metrics::counter!(m::REQUESTS, "kind" => kind).increment(1);
            let started = Instant::now();
            let transport = match (&self.lane, request) {
                (Some(lane), Request::Session { .. }) => lane.transport(),
                _ => &self.transport,
            };
            let result = transport.request(request).await;
            if kind == "write" {
                metrics::histogram!(m::WRITE_SECONDS).record(started.elapsed().as_secs_f64());
                if let Err(
                    GremlinError::ConnectionLost(_)
                    | GremlinError::Timeout(_)
                    | GremlinError::Protocol(_),
                ) = &result
                {
                    stats.unconfirmed = true;
                }
            }
            let error = match result {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            if on_conflict == OnConflict::Return && is_conflict(&error) {
                return Err(error);
            }
            let retry_number = retries.outage + retries.conflict;
            let Some(retry) = self.retry.decide(&error, &mut retries) else {
                return Err(error);
            };
            stats.count_retry(error.reason(), retry.send_less);
            // Lost connections and timeouts say the endpoint is in trouble: an operator wants
            // them at the default level. Conflicts are routine.
            if error.class().is_none() {
                tracing::info!(error = %error, retry = retry_number, kind, "retrying a Gremlin request");
            } else {
                tracing::debug!(error = %error, retry = retry_number, kind, "retrying a Gremlin request");
            }
            if retry.reconnect {
                self.reconnect().await;
            }
            stats
                .sleep_before_retry(retry.delay, is_conflict(&error))
                .await;
        }
    }

    /// Drops every connection, the session's too, so the next request goes to whatever the
    /// endpoint names now; broken or timed-out connections the transport replaces by itself.
    async fn reconnect(&self) {
        self.transport.reconnect().await;
        if let Some(lane) = &self.lane {
            lane.transport().reconnect().await;
        }
    }
}
