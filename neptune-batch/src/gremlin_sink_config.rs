//! Settings of [`GremlinSink`](crate::GremlinSink).

use crate::retry::RetryPolicy;
use crate::sizing::AdaptiveSizing;
use crate::transport::TransportConfig;
use crate::write_traversals::WriteMode;

/// The original's `BatchWriteSize`: items per request.
pub const DEFAULT_BATCH_SIZE: usize = 100;
/// The largest sub-batch accepted (the original template's `BatchWriteSize` bound).
pub const MAX_BATCH_SIZE: usize = 10_000;
/// The most requests in flight at once on one sink.
pub const MAX_IN_FLIGHT: usize = 256;

/// How a [`GremlinSink`](crate::GremlinSink) writes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GremlinSinkConfig {
    /// The writer (cluster) endpoint.
    pub writer: TransportConfig,
    /// Items per request (one transaction each). Default `None`: adapted to the server (see
    /// [`adaptive`](Self::adaptive)), starting at 1000. `Some(n)` pins it, as the original's
    /// `BatchWriteSize` (100) did.
    pub batch_size: Option<usize>,
    /// Requests in flight at once on the sink, over all concurrent `write_*` calls. Default
    /// `None`: adapted to the server, from 4 (see [`AdaptiveSizing::min_in_flight`]).
    /// `Some(n)` pins it (`Some(1)`: the original's one request at a time). Writes that touch the same vertex are never in flight
    /// together either way (see [`conflict_free`](Self::conflict_free)).
    pub in_flight: Option<usize>,
    /// Bounds and steps of the adaptation of whichever of `batch_size` and `in_flight` is
    /// `None`.
    pub adaptive: AdaptiveSizing,
    /// The traversal shape. Default [`WriteMode::Merge`].
    pub mode: WriteMode,
    /// Find out which items already exist and which endpoints are missing, so each item gets
    /// its own outcome. Default `true`. In [`WriteMode::Merge`] the read by id travels in the
    /// write's own request (one transaction), and separate reads run only for a sub-batch that
    /// request refused; in the other modes two reads by id precede each write. Without it every
    /// item of an accepted request is reported as written, as the original did.
    pub check_existing: bool,
    /// Create a missing endpoint vertex with this label before writing its edges, instead of
    /// reporting the edge as failed (in [`WriteMode::Merge`], by a `mergeV` of the endpoints in
    /// the write's own request; an existing vertex keeps its label). Default `None`.
    pub create_missing_vertices: Option<String>,
    /// Never run two requests at once that touch the same vertex (within a call or across
    /// concurrent calls on the sink). Default `true`. The sink then builds each request from
    /// the items waiting on it (those of every concurrent call, oldest first) whose vertices no
    /// request in flight touches, and leaves the others for later requests; edges with the same
    /// `from` (the stream's partition key) are written in the order given. On graphs with super-connectors (every
    /// batch touches them) requests in flight still write side by side, each vertex in one of
    /// them only.
    ///
    /// Two transactions that add edges to the same vertex conflict (Neptune and the
    /// transactional TinkerGraph both fail one of them with a retriable error); with
    /// super-connectors in every sub-batch, retried conflicts cost more than the concurrency
    /// gains. Turn it off only where writes rarely share vertices.
    pub conflict_free: bool,
    /// Queue the merges in one Gremlin Server session, where the server runs them one after
    /// another, each committed on its own. Default `true`, used only where it is safe: in
    /// [`WriteMode::Merge`] with `check_existing` and `conflict_free`, and only if
    /// [`GremlinSink::connect`](crate::GremlinSink::connect) finds that the server commits
    /// each request of a session (it writes a probe vertex in a session, reads it back over
    /// another connection and drops it). Gremlin Server does; Amazon Neptune keeps a
    /// session's bytecode in one transaction until the client commits it, so there the sink
    /// writes without a session. With the lane, requests queued together never share a key
    /// (an edge's `from`) but may share any other vertex, since the server runs them in turn;
    /// `in_flight` is then the number queued at once (default 2: one running, one ready behind
    /// it), so the next request starts without waiting for a round trip.
    pub queue_in_session: bool,
    /// Retries of transient errors.
    pub retry: RetryPolicy,
    /// The longest a [`probe`](crate::GraphSink::probe) waits for its answer, connecting
    /// included. Default 2 s: a caller polls it about once a second while the endpoint is down.
    pub probe_timeout: std::time::Duration,
}

impl Default for GremlinSinkConfig {
    fn default() -> Self {
        Self {
            writer: TransportConfig::default(),
            batch_size: None,
            in_flight: None,
            adaptive: AdaptiveSizing::default(),
            mode: WriteMode::default(),
            check_existing: true,
            create_missing_vertices: None,
            conflict_free: true,
            queue_in_session: true,
            retry: RetryPolicy::default(),
            probe_timeout: std::time::Duration::from_secs(2),
        }
    }
}

impl GremlinSinkConfig {
    /// The defaults, writing to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            writer: TransportConfig::new(url),
            ..Self::default()
        }
    }

    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<(), crate::SinkError> {
        let bad =
            |field: &str, reason: &str| Err(crate::SinkError::Config(format!("{field}: {reason}")));
        self.writer
            .validate()
            .map_err(|e| crate::SinkError::Config(format!("writer.{e}")))?;
        if matches!(self.batch_size, Some(n) if n == 0 || n > MAX_BATCH_SIZE) {
            return bad("batch_size", "must be between 1 and 10000");
        }
        if matches!(self.in_flight, Some(n) if n == 0 || n > MAX_IN_FLIGHT) {
            return bad("in_flight", "must be between 1 and 256");
        }
        self.adaptive.validate().map_err(crate::SinkError::Config)?;
        if self.retry.max_retries > 20 {
            return bad("retry.max_retries", "must be at most 20");
        }
        if self.retry.base_delay > self.retry.max_delay {
            return bad("retry.base_delay", "must not exceed retry.max_delay");
        }
        if self.probe_timeout.is_zero() {
            return bad("probe_timeout", "must be positive");
        }
        if matches!(&self.create_missing_vertices, Some(l) if l.is_empty()) {
            return bad("create_missing_vertices", "the label must not be empty");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_adapt_from_the_originals_and_are_valid() {
        let c = GremlinSinkConfig::default();
        assert_eq!((c.batch_size, c.in_flight), (None, None));
        assert_eq!(c.adaptive.initial_batch_size, 1000);
        assert_eq!(c.retry.max_retries, 5);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn an_oversized_batch_is_rejected_by_name() {
        let c = GremlinSinkConfig {
            batch_size: Some(20_000),
            ..GremlinSinkConfig::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("batch_size"), "{e}");
        let c = GremlinSinkConfig {
            in_flight: Some(0),
            ..GremlinSinkConfig::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("in_flight"), "{e}");
        let mut c = GremlinSinkConfig::default();
        c.adaptive.max_in_flight = 0;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("adaptive.max_in_flight"), "{e}");
    }
}
