//! [`GraphSink`] over a Gremlin endpoint (Amazon Neptune or Apache TinkerPop Gremlin Server).
//!
//! The rooms: `config` (the settings), `queue` (the items waiting, requests formed and run),
//! `write` (one request's items: the checked merge, else `careful`, the reads and bisection
//! that give each item its outcome), `encode` (items to traversals, answers to outcomes),
//! `service` (sending one request: connection, session, metrics) with `retry` (whether to send
//! it again), `session_lane` (the session the merges queue in), and `identity` (whether edges
//! are named by the server's id or by a property).

mod careful;
mod change_cache;
mod change_chained;
mod change_diff;
mod change_edges;
mod change_merged;
mod change_reads;
mod change_rows;
mod change_traversals;
mod changes;
mod claims;
mod config;
mod edge_index;
mod encode;
mod identity;
mod queue;
mod retry;
mod service;
mod session_lane;
mod take;
mod write;

pub use config::{ExistenceCheck, GremlinSinkConfig, GremlinSinkConfigBuilder, Scheduling};
pub use identity::EdgeIdentity;

use crate::error::SinkError;
use crate::graphson::GValue;
use crate::metrics as m;
use crate::model::{Edge, Vertex};
use crate::mutation::Mutation;
use crate::outcome::WriteReport;
use crate::sink::GraphSink;
use crate::sizing::{Controller, Sizing, SizingSample};
use crate::transport::{GremlinError, GremlinTransport, Request};
use crate::write_traversals::WriteMode;
use async_trait::async_trait;
use claims::Claims;
use queue::{Queue, Taking};
use retry::RetryLogic;
use service::Service;
use session_lane::{SessionLane, LANE_DEPTH};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;
use write::Writer;

/// Totals over every call on a sink so far, for a binary to show the progress of long writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkProgress {
    /// Items with a final outcome, over all calls.
    pub items: u64,
    /// Items that failed.
    pub failed: u64,
    /// Requests sent.
    pub requests: u64,
    /// Requests that were retries.
    pub retries: u64,
    /// Milliseconds slept before retries after write conflicts.
    pub conflict_sleep_ms: u64,
}

/// Writes vertices and edges to a Gremlin endpoint in requests of many items, one
/// transaction each, and reports one outcome per item.
///
/// Items of every concurrent `write_*` call wait in one queue on the sink; each request takes
/// the oldest items it may (see [`Scheduling`]), up to the batch size, and up to the limit of
/// requests in flight run at once. Both the batch size and that limit adapt to the server
/// unless the configuration pins them ([`GremlinSinkConfig::batch_size`],
/// [`GremlinSinkConfig::in_flight`]); [`sizing`](Self::sizing) and
/// [`sizing_history`](Self::sizing_history) tell what was chosen.
///
/// Per request:
/// 1. in the default [`WriteMode::Merge`] with [`ExistenceCheck::Checked`], one request (one
///    transaction) reads which items already exist and merges them all (endpoints first, with
///    [`ExistenceCheck::CreateMissingEndpoints`]): those found are reported
///    [`AlreadyPresent`](crate::ItemOutcome::AlreadyPresent) (or a conflict, when the id names
///    another edge or a vertex of another label), the rest
///    [`Written`](crate::ItemOutcome::Written);
/// 2. if that request is refused as a whole (typically an edge whose endpoint vertex is
///    missing, which `mergeE` cannot create), and in the other modes, the careful path runs:
///    two reads by id find the items already present and the edges whose endpoint is missing
///    (reported [`MissingVertex`](crate::ItemFailure::MissingVertex), or the vertex is created
///    first), then the rest is written in one traversal of the configured [`WriteMode`];
/// 3. a write conflict with another process's transaction is retried on its own schedule
///    ([`GremlinSinkConfig::conflict_retry`]); a checked merge that conflicts goes again at
///    once and, if it conflicts again, is cut in two (its rows ordered so that the edges at the
///    vertices it touches most fall in the second half), each half treated the same way down
///    to single items, so only the items at the contended vertex wait;
/// 4. any other transient error (read-only replica, throttling, timeout, broken connection)
///    is retried with back-off ([`GremlinSinkConfig::retry`]), reconnecting first after a
///    read-only answer; any other error splits the request in two until the failing items are
///    isolated, and each of those is examined to report why it failed.
///
/// The requests run as Tokio tasks: a `write_*` call must run inside a Tokio runtime. A call
/// that is dropped before it returns takes its items that no request has taken yet off the
/// queue; the requests already sent complete.
pub struct GremlinSink {
    config: GremlinSinkConfig,
    queue: Arc<Queue>,
    edge_index: bool,
}

impl std::fmt::Debug for GremlinSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GremlinSink")
            .field("transport", self.transport())
            .field("mode", &self.config.mode)
            .field("sizing", &self.sizing())
            .finish_non_exhaustive()
    }
}

impl GremlinSink {
    /// Validates `config`, connects to the writer endpoint, finds how edges are named unless
    /// the configuration says ([`GremlinSinkConfig::edge_identity`]: a probe edge with a
    /// caller's id, rolled back), with property ids makes sure JanusGraph has an index on the
    /// id property ([`edge_id_indexed`](Self::edge_id_indexed)), and, with [`Scheduling::SessionQueue`] in
    /// [`WriteMode::Merge`], opens the session the merges queue in where the server allows it.
    /// A probe that finds property ids refuses [`WriteMode::Plain`] as a configuration error.
    pub async fn connect(config: GremlinSinkConfig) -> Result<Self, SinkError> {
        config.validate()?;
        let endpoint = config.writer.url.clone();
        let transport = GremlinTransport::connect(config.writer.clone())
            .await
            .map_err(|e| match e {
                GremlinError::Config(e) => SinkError::Config(e.within("writer")),
                // The endpoint is named once, by the sink's error.
                GremlinError::Connect { source, .. } => SinkError::Connect {
                    endpoint,
                    source: Box::new(source),
                },
                e @ GremlinError::Certificate { .. } => SinkError::Certificate(e),
                other => SinkError::Connect {
                    endpoint,
                    source: Box::new(other),
                },
            })?;
        let identity = match &config.edge_identity {
            Some(identity) => identity.clone(),
            None => {
                let identity = identity::probe(&transport).await;
                config::check_identity(config.mode, &identity)?;
                identity
            }
        };
        tracing::debug!(identity = %identity.describe(), "edges are named by this identity");
        let edge_index = edge_index::ensure(&transport, &identity).await;
        let claims = claims::ensure(&transport, identity.key().is_some()).await;
        tracing::debug!(?claims, "requests of changes claim what they read so");
        let lane =
            if config.scheduling == Scheduling::SessionQueue && config.mode == WriteMode::Merge {
                SessionLane::open(&config.writer, &transport).await
            } else {
                None
            };
        let mut sink = Self::assemble(transport, lane, (identity, claims), config);
        sink.edge_index = edge_index == edge_index::IndexState::Enabled;
        Ok(sink)
    }

    /// A sink over an existing transport (its configuration replaces `config.writer`), without
    /// a session and without a probe: edges are named as
    /// [`GremlinSinkConfig::edge_identity`] says, by server ids if it says nothing.
    pub fn with_transport(transport: GremlinTransport, mut config: GremlinSinkConfig) -> Self {
        config.writer = transport.config().clone();
        let identity = config
            .edge_identity
            .clone()
            .unwrap_or(EdgeIdentity::ServerIds);
        Self::assemble(transport, None, (identity, Claims::Transient), config)
    }

    fn assemble(
        transport: GremlinTransport,
        lane: Option<SessionLane>,
        (identity, claims): (EdgeIdentity, Claims),
        config: GremlinSinkConfig,
    ) -> Self {
        m::describe();
        // In the session the server queues the requests: a fixed few are enough.
        let in_flight = match lane {
            Some(_) => Some(config.in_flight.unwrap_or(LANE_DEPTH)),
            None => config.in_flight,
        };
        let controller = Controller::new(config.adaptive, config.batch_size, in_flight);
        let taking = Taking::new(
            config.scheduling != Scheduling::InOrder,
            lane.is_some(),
            config.adaptive.min_batch_size,
        );
        let service = Service::new(
            transport,
            lane,
            RetryLogic::new(config.retry, config.conflict_retry),
        );
        let writer = Writer::new(
            service,
            config.mode,
            config.existence.clone(),
            (identity, claims),
        );
        let queue = Arc::new(Queue::new(writer, taking, controller));
        Self {
            config,
            queue,
            edge_index: false,
        }
    }

    /// Drops the tombstones of deletes made before `deleted_before`, in transactions of at most
    /// 10 000, and answers how many went. Keep tombstones for as long as the source can replay
    /// an older change (a stream's retention: 24 hours by default, up to 365 days): past that,
    /// an old upsert replayed would bring its element back. Neptune finds them by their label.
    /// Conflicts with live writers are retried as the sink's [`retry`](GremlinSinkConfig::retry)
    /// allows.
    pub async fn purge_tombstones(&self, deleted_before: SystemTime) -> Result<u64, SinkError> {
        const PER_TRANSACTION: i64 = 10_000;
        let millis = deleted_before
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut purged = 0;
        loop {
            let t = change_traversals::purge_tombstones(millis, PER_TRANSACTION);
            // Retried like writes: a purge running beside live writers meets their conflicts.
            let mut stats = service::Stats::default();
            let answer = self
                .queue
                .writer()
                .service()
                .send(&Request::Bytecode(t), "purge", &mut stats)
                .await
                .map_err(|e| SinkError::Connect {
                    endpoint: self.config.writer.url.clone(),
                    source: Box::new(e),
                })?;
            let n = answer.first().and_then(GValue::as_i64).unwrap_or(0);
            purged += n.max(0) as u64;
            if n < PER_TRANSACTION {
                return Ok(purged);
            }
        }
    }

    /// How edges are named: as configured, or as the probe at connect found (see
    /// [`GremlinSinkConfig::edge_identity`]).
    pub fn edge_identity(&self) -> &EdgeIdentity {
        self.queue.writer().identity()
    }

    /// Whether edges named by [`EdgeIdentity::PropertyIds`] are found through an index on
    /// their id property: true on JanusGraph where connect found or made the composite index
    /// (it makes it when the property does not exist yet), false elsewhere. Without it a
    /// change naming an edge scans every edge (see `docs/janusgraph.md`).
    pub fn edge_id_indexed(&self) -> bool {
        self.edge_index
    }

    /// Whether the merges queue in a Gremlin Server session (see [`Scheduling::SessionQueue`]).
    pub fn queues_in_session(&self) -> bool {
        self.queue.writer().service().queues_in_session()
    }

    /// The transport, e.g. to run queries on the writer.
    pub fn transport(&self) -> &GremlinTransport {
        self.queue.writer().service().transport()
    }

    /// The configuration.
    pub fn config(&self) -> &GremlinSinkConfig {
        &self.config
    }

    /// Totals over every call so far.
    pub fn progress(&self) -> SinkProgress {
        let p = self.queue.progress();
        SinkProgress {
            items: p.items.load(Ordering::Relaxed),
            failed: p.failed.load(Ordering::Relaxed),
            requests: p.requests.load(Ordering::Relaxed),
            retries: p.retries.load(Ordering::Relaxed),
            conflict_sleep_ms: service::millis(p.conflict_sleep_us.load(Ordering::Relaxed)),
        }
    }

    /// The batch size and the limit of requests in flight in force now, and whether each is
    /// adapted or was given (also published as the gauges [`m::BATCH_SIZE`] and
    /// [`m::IN_FLIGHT_LIMIT`]).
    pub fn sizing(&self) -> Sizing {
        self.queue.sizing()
    }

    /// The controller's decisions so far, one per request answered (the last
    /// [`HISTORY_LIMIT`](crate::sizing::HISTORY_LIMIT)), oldest first: what it chose over
    /// time, for a chart or a report.
    pub fn sizing_history(&self) -> Vec<SizingSample> {
        self.queue.sizing_history()
    }
}

#[async_trait]
impl GraphSink for GremlinSink {
    async fn write_vertices(&self, vertices: &[Vertex]) -> Result<WriteReport, SinkError> {
        Ok(self.queue.write(vertices).await)
    }

    async fn write_edges(&self, edges: &[Edge]) -> Result<WriteReport, SinkError> {
        Ok(self.queue.write(edges).await)
    }

    /// Each request reads the state its changes depend on, decides their outcomes by the
    /// in-memory graph's rules, and writes what changed in one request guarded by what was read
    /// (see the [`mutation`](crate::mutation) module for the contract). The writes queue in the
    /// session where one is open. A request holds the elements its changes touch while it
    /// runs, and the vertices they depend on: alone outside a session, shared with other
    /// requests' edges in a session (where the server runs the requests in turn).
    ///
    /// With [`EdgeIdentity::PropertyIds`] an edge named by a change is looked for by its id
    /// property in the whole graph (`E().has(key, within(ids))`), so that its id is unique in
    /// the graph as with server ids; see `docs/janusgraph.md` for what that costs.
    async fn apply(&self, mutations: &[Mutation]) -> Result<WriteReport, SinkError> {
        Ok(self.queue.write(mutations).await)
    }

    /// `g.inject(0)`: one round trip that touches no data, bounded by
    /// [`GremlinSinkConfig::probe_timeout`] (connecting included). Neptune: `inject` runs
    /// natively.
    async fn probe(&self) -> Result<(), SinkError> {
        let probe = Request::Bytecode(crate::bytecode::Bytecode::new().step("inject", [0i64]));
        let timeout = self.config.probe_timeout;
        let answer = tokio::time::timeout(timeout, self.transport().request(&probe))
            .await
            .unwrap_or(Err(GremlinError::Timeout(timeout)));
        answer.map(|_| ()).map_err(|e| SinkError::Connect {
            endpoint: self.config.writer.url.clone(),
            source: Box::new(e),
        })
    }
}
