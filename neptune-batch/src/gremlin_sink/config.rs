//! Settings of [`GremlinSink`](super::GremlinSink).

use super::identity::EdgeIdentity;
use crate::error::{check_backoff, ConfigError};
use crate::sizing::{AdaptiveSizing, AdaptiveSizingBuilder};
use crate::transport::{TransportConfig, TransportConfigBuilder};
use crate::write_traversals::WriteMode;
use std::time::Duration;
use stream2neptune_common::Backoff;

/// How a [`GremlinSink`](super::GremlinSink) writes. Built with
/// [`GremlinSinkConfig::builder`], which checks every field.
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
    /// `None`: adapted to the server, from 4 (see [`AdaptiveSizing::min_in_flight`]), or 2
    /// queued at once in the session of [`Scheduling::SessionQueue`]. `Some(n)` pins it
    /// (`Some(1)`: the original's one request at a time).
    pub in_flight: Option<usize>,
    /// Bounds and steps of the adaptation of whichever of `batch_size` and `in_flight` is
    /// `None`.
    pub adaptive: AdaptiveSizing,
    /// The traversal shape. Default [`WriteMode::Merge`].
    pub mode: WriteMode,
    /// Whether reads find which items exist and which endpoints are missing. Default
    /// [`ExistenceCheck::Checked`].
    pub existence: ExistenceCheck,
    /// How requests are formed from the waiting items and run. Default
    /// [`Scheduling::SessionQueue`].
    pub scheduling: Scheduling,
    /// Retries of transient errors other than write conflicts (read-only replicas,
    /// throttling, timeouts, broken connections): the delay before retry `n` is drawn from
    /// `[0, min(cap, base × 2ⁿ)]`. Default: base 500 ms (the original's), cap 8 s, 5 retries
    /// (the original's intended bound); at most 20, and bounded.
    pub retry: Backoff,
    /// Retries after a write conflict (Neptune's `ConcurrentModificationException`,
    /// TinkerGraph's `TransactionException: Conflict`), and of a change write whose guard
    /// found the graph changed. Another writer's transaction holds the elements for
    /// milliseconds: that is not an outage, and waiting seconds for it (as the original's
    /// schedule does) wastes them. On TinkerGraph the transaction that won has already
    /// committed when the other hears of the conflict, so the first retries wait next to
    /// nothing; a lock held longer (Neptune, JanusGraph's lock wait) is met by the doubling.
    /// The first retry goes at once, without a timer; the schedule's waits follow from the
    /// second. Default: base 1 ms, cap 200 ms, 15 retries (at most about 1.5 s asleep in all,
    /// half that on average); at most 20, and bounded. Measured with two Lambda functions and a 3-worker
    /// KCL fleet on power-law follows (`docs/scale-out.md`): with base 10 ms and 10 retries the
    /// writers slept 17–26 % (Lambda) and 12–52 % (KCL) of the wall time on conflicts; with
    /// base 1 ms 1.6–1.8 % and 4.1–4.6 %, at the same or a higher rate. Neptune's own guidance
    /// retries a conflict with exponential backoff for at most half a second. A checked merge
    /// of several items is sent again once and then cut in two rather than put on this
    /// schedule; single items follow it (see [`GremlinSink`](super::GremlinSink)).
    pub conflict_retry: Backoff,
    /// The longest a [`probe`](crate::GraphSink::probe) waits for its answer, connecting
    /// included. Default 2 s: a caller polls it about once a second while the endpoint is down.
    pub probe_timeout: Duration,
    /// How edges are named so that they are found again. Default `None`: found by a probe at
    /// connect ([`GremlinSink::connect`](super::GremlinSink::connect) adds a probe edge with a
    /// caller's id in a request that is rolled back), [`EdgeIdentity::ServerIds`] where the
    /// server keeps a caller's edge id (Neptune, TinkerGraph), else
    /// [`EdgeIdentity::PropertyIds`] in [`EdgeIdentity::DEFAULT_KEY`] (JanusGraph).
    /// `Some(identity)` skips the probe and uses it, e.g. to name the id property. With
    /// property ids, [`WriteMode::Plain`] is refused (a repeated id would be a second edge,
    /// not an error) and so are change streams ([`apply`](crate::GraphSink::apply)), which
    /// need server ids for now.
    pub edge_identity: Option<EdgeIdentity>,
}

/// Whether the sink reads which items exist, so that each item gets its own outcome.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ExistenceCheck {
    /// Reads say which items exist (reported [`AlreadyPresent`](crate::ItemOutcome), or a
    /// conflict when the id names another edge or a vertex of another label) and which
    /// endpoints are missing (a missing endpoint is reported per edge as
    /// [`MissingVertex`](crate::ItemFailure::MissingVertex)). In [`WriteMode::Merge`] the read
    /// by id travels in the write's own request (one transaction), and separate reads run only
    /// for a request refused as a whole; in the other modes two reads by id precede each write.
    #[default]
    Checked,
    /// As [`Checked`](Self::Checked), and a missing endpoint vertex is created with `label`
    /// before its edges are written instead of failing them (in [`WriteMode::Merge`] by a
    /// `mergeV` of the endpoints in the write's own request). An existing vertex keeps its
    /// label.
    CreateMissingEndpoints {
        /// The label of the vertices created.
        label: String,
    },
    /// No reads: every item of an accepted request is reported
    /// [`Written`](crate::ItemOutcome::Written), as the original did; a refused request is
    /// still bisected to isolate the items at fault.
    Unchecked,
}

impl ExistenceCheck {
    /// Whether reads find what exists (every variant but [`Unchecked`](Self::Unchecked)).
    pub fn reads(&self) -> bool {
        !matches!(self, ExistenceCheck::Unchecked)
    }

    /// The label of the endpoint vertices to create, if any.
    pub fn creates_missing(&self) -> Option<&str> {
        match self {
            ExistenceCheck::CreateMissingEndpoints { label } => Some(label),
            _ => None,
        }
    }
}

/// How requests are formed from the items waiting on the sink (those of every concurrent
/// `write_*` call, oldest first) and how many run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Scheduling {
    /// Merges queue in one Gremlin Server session where the server commits each request of a
    /// session on its own; elsewhere, and in the other write modes, as
    /// [`ConflictFree`](Self::ConflictFree).
    ///
    /// [`GremlinSink::connect`](super::GremlinSink::connect) finds out which: it writes a
    /// probe vertex in a new session, reads it back over another connection and drops it.
    /// Gremlin Server commits each request; Amazon Neptune keeps a session's bytecode in one
    /// transaction until the client commits it, so there the sink writes without a session
    /// ([`GremlinSink::queues_in_session`](super::GremlinSink::queues_in_session) says which).
    /// The server runs a session's requests in turn, so requests queued together never share a
    /// key (an edge's `from`) but may share any other vertex, and grow to the batch size even
    /// on power-law graphs; [`in_flight`](GremlinSinkConfig::in_flight) is then the number
    /// queued at once (default 2: one running, one ready behind it), so the next request starts
    /// without waiting for a round trip. The session lives on a connection of its own, renewed
    /// with it at least every 5 minutes.
    #[default]
    SessionQueue,
    /// Requests in flight never touch the same vertex (within a call or across concurrent
    /// calls): each request takes, oldest first, the waiting items whose vertices no request
    /// in flight holds, and holds them until it is answered; edges with the same `from` (the
    /// stream's partition key) are written in the order given. On graphs with
    /// super-connectors requests in flight still write side by side, each vertex in one of
    /// them only.
    ///
    /// Two transactions that add edges to the same vertex conflict (Neptune and the
    /// transactional TinkerGraph both fail one of them with a retriable error); with
    /// super-connectors in every request, retried conflicts cost more than the concurrency
    /// gains.
    ConflictFree,
    /// The queue is cut in order, and requests in flight may touch the same vertices (and so
    /// fail each other with retried conflicts). Only for writes that rarely share vertices.
    InOrder,
}

impl Default for GremlinSinkConfig {
    fn default() -> Self {
        Self {
            writer: TransportConfig::default(),
            batch_size: None,
            in_flight: None,
            adaptive: AdaptiveSizing::default(),
            mode: WriteMode::default(),
            existence: ExistenceCheck::default(),
            scheduling: Scheduling::default(),
            retry: Backoff::new(Duration::from_millis(500), Duration::from_secs(8))
                .with_max_retries(5),
            conflict_retry: Backoff::new(Duration::from_millis(1), Duration::from_millis(200))
                .with_max_retries(15),
            probe_timeout: Duration::from_secs(2),
            edge_identity: None,
        }
    }
}

impl GremlinSinkConfig {
    /// The largest batch size accepted (the original template's `BatchWriteSize` bound).
    pub const MAX_BATCH_SIZE: usize = 10_000;
    /// The most requests in flight at once on one sink.
    pub const MAX_IN_FLIGHT: usize = 256;
    /// The most retries of one request.
    pub const MAX_RETRIES: u32 = 20;

    /// The defaults, writing to `url` (checked when the sink connects).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            writer: TransportConfig::new(url),
            ..Self::default()
        }
    }

    /// A builder from the defaults, writing to `url`; [`build`](GremlinSinkConfigBuilder::build)
    /// checks every field.
    ///
    /// The settings nested in it (the writer's transport, the adaptive bounds) are set through
    /// their own builders:
    ///
    /// ```
    /// use neptune_batch::GremlinSinkConfig;
    ///
    /// let config = GremlinSinkConfig::builder("ws://127.0.0.1:8182/gremlin")
    ///     .writer(|w| w.pool_size(2))
    ///     .adaptive(|a| a.max_in_flight(4))
    ///     .build()?;
    /// assert_eq!((config.writer.pool_size, config.adaptive.max_in_flight), (2, 4));
    /// # Ok::<(), neptune_batch::ConfigError>(())
    /// ```
    pub fn builder(url: impl Into<String>) -> GremlinSinkConfigBuilder {
        GremlinSinkConfigBuilder {
            config: Self::new(url),
        }
    }

    /// Checks every field; the error names the field (`writer.` and `adaptive.` prefix
    /// theirs).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &str, reason: String| Err(ConfigError::new(field, reason));
        self.writer.validate().map_err(|e| e.within("writer"))?;
        if matches!(self.batch_size, Some(n) if n == 0 || n > Self::MAX_BATCH_SIZE) {
            let max = Self::MAX_BATCH_SIZE;
            return bad("batch_size", format!("must be between 1 and {max}"));
        }
        if matches!(self.in_flight, Some(n) if n == 0 || n > Self::MAX_IN_FLIGHT) {
            let max = Self::MAX_IN_FLIGHT;
            return bad("in_flight", format!("must be between 1 and {max}"));
        }
        self.adaptive.validate().map_err(|e| e.within("adaptive"))?;
        check_backoff("retry", &self.retry, Self::MAX_RETRIES)?;
        check_backoff("conflict_retry", &self.conflict_retry, Self::MAX_RETRIES)?;
        if self.probe_timeout.is_zero() {
            return bad("probe_timeout", "must be positive".into());
        }
        if self.existence.creates_missing() == Some("") {
            return bad("existence", "the label must not be empty".into());
        }
        if let Some(identity) = &self.edge_identity {
            identity.validate("edge_identity")?;
            check_identity(self.mode, identity)?;
        }
        Ok(())
    }
}

/// Whether `mode` can write edges named by `identity`: plain `addE` cannot with property ids,
/// where nothing refuses a second edge with the same id.
pub(super) fn check_identity(mode: WriteMode, identity: &EdgeIdentity) -> Result<(), ConfigError> {
    if mode == WriteMode::Plain && identity.key().is_some() {
        return Err(ConfigError::new(
            "mode",
            format!(
                "plain writes need a server that keeps caller-supplied edge ids; with edge ids in \
                 a property ({}) use merge or conditional",
                identity.describe()
            ),
        ));
    }
    Ok(())
}

/// Builds a [`GremlinSinkConfig`] from its defaults (see [`GremlinSinkConfig::builder`]);
/// each setter documents its field.
#[derive(Debug, Clone)]
#[must_use]
pub struct GremlinSinkConfigBuilder {
    config: GremlinSinkConfig,
}

impl GremlinSinkConfigBuilder {
    /// Sets [`GremlinSinkConfig::writer`] through its builder, started from the writer set so
    /// far.
    pub fn writer(
        mut self,
        configure: impl FnOnce(TransportConfigBuilder) -> TransportConfigBuilder,
    ) -> Self {
        self.config.writer = configure(self.config.writer.into()).into_unchecked();
        self
    }

    /// [`GremlinSinkConfig::batch_size`]: `n` or `Some(n)` pins it, `None` adapts it.
    pub fn batch_size(mut self, batch_size: impl Into<Option<usize>>) -> Self {
        self.config.batch_size = batch_size.into();
        self
    }

    /// [`GremlinSinkConfig::in_flight`]: `n` or `Some(n)` pins it, `None` adapts it.
    pub fn in_flight(mut self, in_flight: impl Into<Option<usize>>) -> Self {
        self.config.in_flight = in_flight.into();
        self
    }

    /// Sets [`GremlinSinkConfig::adaptive`] through its builder, started from the bounds set
    /// so far.
    pub fn adaptive(
        mut self,
        configure: impl FnOnce(AdaptiveSizingBuilder) -> AdaptiveSizingBuilder,
    ) -> Self {
        self.config.adaptive = configure(self.config.adaptive.into()).into_unchecked();
        self
    }

    /// [`GremlinSinkConfig::mode`].
    pub fn mode(mut self, mode: WriteMode) -> Self {
        self.config.mode = mode;
        self
    }

    /// [`GremlinSinkConfig::existence`].
    pub fn existence(mut self, existence: ExistenceCheck) -> Self {
        self.config.existence = existence;
        self
    }

    /// [`GremlinSinkConfig::scheduling`].
    pub fn scheduling(mut self, scheduling: Scheduling) -> Self {
        self.config.scheduling = scheduling;
        self
    }

    /// [`GremlinSinkConfig::retry`].
    pub fn retry(mut self, retry: Backoff) -> Self {
        self.config.retry = retry;
        self
    }

    /// [`GremlinSinkConfig::conflict_retry`].
    pub fn conflict_retry(mut self, retry: Backoff) -> Self {
        self.config.conflict_retry = retry;
        self
    }

    /// [`GremlinSinkConfig::probe_timeout`].
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.config.probe_timeout = timeout;
        self
    }

    /// [`GremlinSinkConfig::edge_identity`]: `Some` skips the probe, `None` probes at connect.
    pub fn edge_identity(mut self, identity: impl Into<Option<EdgeIdentity>>) -> Self {
        self.config.edge_identity = identity.into();
        self
    }

    /// The configuration, if every field can work.
    pub fn build(self) -> Result<GremlinSinkConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
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
        assert_eq!(c.retry.max_retries(), Some(5));
        assert_eq!(c.retry.base(), Duration::from_millis(500));
        assert_eq!(c.retry.cap(), Duration::from_secs(8));
        assert_eq!(
            (
                c.conflict_retry.base(),
                c.conflict_retry.cap(),
                c.conflict_retry.max_retries()
            ),
            (
                Duration::from_millis(1),
                Duration::from_millis(200),
                Some(15)
            ),
            "a conflict waits milliseconds, not the outage schedule's seconds"
        );
        assert_eq!(c.existence, ExistenceCheck::Checked);
        assert_eq!(c.scheduling, Scheduling::SessionQueue);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn a_bad_field_is_rejected_by_its_path() {
        let field = |b: GremlinSinkConfigBuilder| b.build().unwrap_err().field().to_owned();
        let url = "ws://127.0.0.1:8182/gremlin";
        let builder = || GremlinSinkConfig::builder(url);
        assert_eq!(field(builder().batch_size(20_000)), "batch_size");
        assert_eq!(field(builder().in_flight(0)), "in_flight");
        assert_eq!(
            field(builder().adaptive(|a| a.max_in_flight(0))),
            "adaptive.max_in_flight"
        );
        assert_eq!(
            field(builder().writer(|w| w.pool_size(0))),
            "writer.pool_size"
        );
        let unbounded = Backoff::new(Duration::from_millis(1), Duration::from_millis(2));
        assert_eq!(field(builder().retry(unbounded)), "retry");
        assert_eq!(field(builder().conflict_retry(unbounded)), "conflict_retry");
        let unlabelled = ExistenceCheck::CreateMissingEndpoints {
            label: String::new(),
        };
        assert_eq!(field(builder().existence(unlabelled)), "existence");
        assert_eq!(field(GremlinSinkConfig::builder("http://x")), "writer.url");
        let blank = EdgeIdentity::PropertyIds { key: String::new() };
        assert_eq!(field(builder().edge_identity(blank)), "edge_identity");
        let plain = builder()
            .mode(WriteMode::Plain)
            .edge_identity(EdgeIdentity::property_ids());
        let e = plain.build().unwrap_err();
        assert_eq!(e.field(), "mode");
        assert!(e.reason().contains("property:edge_id"), "{}", e.reason());
    }

    #[test]
    fn the_edge_identity_is_probed_unless_given() {
        let url = "ws://127.0.0.1:8182/gremlin";
        assert_eq!(GremlinSinkConfig::default().edge_identity, None);
        let given = GremlinSinkConfig::builder(url)
            .edge_identity(EdgeIdentity::PropertyIds { key: "eid".into() })
            .build()
            .unwrap();
        assert_eq!(
            given.edge_identity.as_ref().and_then(EdgeIdentity::key),
            Some("eid")
        );
        let plain = GremlinSinkConfig::builder(url)
            .mode(WriteMode::Plain)
            .edge_identity(EdgeIdentity::ServerIds)
            .build();
        assert!(plain.is_ok(), "plain writes with server ids stay allowed");
    }

    #[test]
    fn the_builders_start_from_what_was_set() {
        let c = GremlinSinkConfig::builder("ws://h:1/gremlin")
            .writer(|w| w.pool_size(3))
            .writer(|w| w.request_timeout(Duration::from_secs(5)))
            .adaptive(|a| a.min_in_flight(2))
            .adaptive(|a| a.max_in_flight(6))
            .build()
            .unwrap();
        assert_eq!(c.writer.url, "ws://h:1/gremlin");
        assert_eq!(c.writer.pool_size, 3);
        assert_eq!(c.writer.request_timeout, Duration::from_secs(5));
        assert_eq!((c.adaptive.min_in_flight, c.adaptive.max_in_flight), (2, 6));
    }
}
