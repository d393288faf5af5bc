//! One Gremlin Server session that the sink's merges queue in.
//!
//! Requests sent side by side must not touch the same vertex (their transactions would
//! conflict), so on graphs with super-connectors they stay small and few run at once, and
//! each one waits a round trip for the next. Gremlin Server runs the requests of a session one
//! after another, in the order they arrive, each committed on its own (`manageTransaction`),
//! so requests sent into one session cannot conflict with each other: the next waits on the
//! server, ready to start as soon as the one before commits, and requests may share
//! super-connectors and be as large as the batch size allows. Only the stream's order is left
//! to keep: requests queued together never share a key (an edge's `from`), so a request that
//! fails and is sent again cannot overtake a later write of the same key.
//!
//! Whether a server commits each request of a session is found out, not assumed: Amazon
//! Neptune keeps a session's bytecode in one transaction until the client commits it, and
//! writes sent that way would be lost with the session. [`SessionLane::open`] writes a probe
//! vertex in a new session and reads it back over another connection; only if it is there
//! (and it is then dropped) does the sink use the lane. A session is bound to the connection
//! of its first request, so the lane has a transport of one connection, which names each
//! request's session after the connection it goes on ([`Request::Session`]).

use crate::bytecode::Bytecode;
use crate::graphson::{GValue, T};
use crate::transport::{GremlinTransport, Request, TransportConfig};

/// Requests queued in the session at once, unless `in_flight` says otherwise: one running and
/// one waiting behind it (measured: 3 gained nothing over 2, see the crate's README).
pub(super) const LANE_DEPTH: usize = 2;

/// How long one session (and its connection) serves before the next one takes over.
const SESSION_RENEWAL: std::time::Duration = std::time::Duration::from_secs(300);

/// The label of the probe vertex, dropped as soon as it has been read back.
/// No `-` in it or in the probe's id: JanusGraph reserves that character in string ids.
const PROBE_LABEL: &str = "neptune_batch_session_probe";

/// A session on a connection of its own.
#[derive(Debug)]
pub(super) struct SessionLane {
    transport: GremlinTransport,
    name: String,
}

impl SessionLane {
    /// Opens the lane if the server commits each request of a session on its own: a probe
    /// vertex written in the session must be visible over `main` (another connection). Any
    /// failure (a server without sessions, a read-only endpoint, Neptune's one transaction
    /// per session) means no lane, and the sink writes as it would without one.
    pub(super) async fn open(writer: &TransportConfig, main: &GremlinTransport) -> Option<Self> {
        let mut config = writer.clone();
        config.pool_size = 1;
        // Renewed well before a server that ends sessions after 10 minutes whatever they do
        // (`sessionLifetimeTimeout` of the `UnifiedChannelizer`) ends this one: the new
        // connection gets a new session, and the old one ends when its last answer is in.
        config.max_connection_lifetime = config.max_connection_lifetime.min(SESSION_RENEWAL);
        let transport = GremlinTransport::connect(config).await.ok()?;
        let name = format!("neptune-batch-{}", uuid::Uuid::new_v4());
        let lane = Self { transport, name };
        let probe = format!("{PROBE_LABEL}_{}", uuid::Uuid::new_v4().simple());
        let write = Bytecode::new()
            .step("addV", [PROBE_LABEL])
            .step("property", [GValue::T(T::Id), GValue::from(probe.as_str())]);
        let written = lane.transport.request(&lane.request(write)).await.is_ok();
        let read = Bytecode::new().step("V", [probe.as_str()]).then("count");
        let seen = main
            .submit(&read)
            .await
            .ok()
            .and_then(|a| a.first().and_then(GValue::as_i64));
        // Dropped whatever was seen: a server that commits late would otherwise keep it.
        let drop = Bytecode::new().step("V", [probe.as_str()]).then("drop");
        let _ = main.submit(&drop).await;
        if written && seen == Some(1) {
            tracing::debug!(session = %lane.name, "writes queue in a Gremlin Server session");
            Some(lane)
        } else {
            tracing::debug!("the server does not commit each request of a session: no lane");
            None
        }
    }

    /// `traversal` as a request of the lane's session (on whichever connection it goes).
    pub(super) fn request(&self, traversal: Bytecode) -> Request {
        Request::Session {
            traversal,
            session: self.name.clone(),
        }
    }

    /// The lane's transport (one connection).
    pub(super) fn transport(&self) -> &GremlinTransport {
        &self.transport
    }
}
