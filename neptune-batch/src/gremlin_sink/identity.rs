//! How the sink names an edge so that it finds it again: by the server's own id, set by the
//! caller (`T.id`), or by a property, on servers that assign every edge id themselves.
//!
//! Amazon Neptune and TinkerGraph keep the id a caller gives an edge (`addE(l).property(T.id,
//! id)`, `mergeE([(T.id): id])`), and find it by `E(id)`. JanusGraph never does: it refuses
//! any caller's edge id with TinkerPop's "Edge does not support user supplied identifiers".
//! There the edge's id lives in a property instead, and the edge is found from its from-vertex:
//! [`EdgeIdentity::PropertyIds`].
//!
//! [`probe`] finds out which at connect: it adds a probe edge with a caller's id in a request
//! that ends in `fail()`, so that whatever it added is rolled back with the request's
//! transaction. The `fail()` step reached means the id was taken: server ids. The server
//! refusing the id means property ids. Any other answer (a read-only endpoint, a server that
//! refuses the probe vertex for another reason) changes nothing: server ids, the sink's
//! behaviour before the probe existed.

use crate::bytecode::Bytecode;
use crate::error::ConfigError;
use crate::graphson::{GValue, T};
use crate::transport::{ErrorClass, GremlinError, GremlinTransport};

/// [`EdgeIdentity::edges_with_ids`] for the property `key` (`None`: server ids).
pub(super) fn edges_with_ids(key: Option<&str>, ids: Vec<GValue>) -> Bytecode {
    match key {
        None => Bytecode::new().step("E", ids),
        Some(key) => Bytecode::new()
            .then("E")
            .step("has", [GValue::from(key), GValue::p("within", ids)]),
    }
}

/// How the sink stores an edge's id and finds the edge again (see
/// [`GremlinSinkConfig::edge_identity`](super::GremlinSinkConfig::edge_identity)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EdgeIdentity {
    /// The edge's id is the server's element id (`T.id`), unique in the graph and found by
    /// `E(id)`: Amazon Neptune, TinkerGraph.
    ServerIds,
    /// The edge's id is the value of the property `key`, and the server assigns the element id.
    /// An edge is the out-edge of its `from` vertex with its label and that id: found from the
    /// vertex (`V(from).outE(label).has(key, id)`), written by `mergeE` on
    /// `[OUT: from, T.label: label, key: id]`. An id is thus unique among the out-edges of one
    /// vertex with one label, not in the whole graph: the same id from another vertex is
    /// another edge. For JanusGraph, which never keeps a caller's edge id.
    PropertyIds {
        /// The property that holds the id; never one of the edge's own properties.
        key: String,
    },
}

impl EdgeIdentity {
    /// The property the probe chooses when the server assigns edge ids itself.
    pub const DEFAULT_KEY: &'static str = "edge_id";

    /// Property ids in [`DEFAULT_KEY`](Self::DEFAULT_KEY).
    pub fn property_ids() -> Self {
        EdgeIdentity::PropertyIds {
            key: Self::DEFAULT_KEY.to_owned(),
        }
    }

    /// The property holding the id, with [`PropertyIds`](Self::PropertyIds).
    pub fn key(&self) -> Option<&str> {
        match self {
            EdgeIdentity::ServerIds => None,
            EdgeIdentity::PropertyIds { key } => Some(key),
        }
    }

    /// The edges with the ids `ids` anywhere in the graph, as this identity names them:
    /// `E(ids)`, or `E().has(key, within(ids))` (on JanusGraph a composite index query where
    /// the sink's setup built the index on the key, a scan of every edge where it did not).
    /// `ids` must not be empty: `E()` alone is every edge.
    ///
    /// ```
    /// use neptune_batch::EdgeIdentity;
    ///
    /// let found = EdgeIdentity::property_ids().edges_with_ids(["f1", "f2"]);
    /// let steps: Vec<&str> = found.steps().iter().map(|s| s.operator.as_str()).collect();
    /// assert_eq!(steps, ["E", "has"]);
    /// ```
    pub fn edges_with_ids<I, V>(&self, ids: I) -> Bytecode
    where
        I: IntoIterator<Item = V>,
        V: Into<GValue>,
    {
        edges_with_ids(self.key(), ids.into_iter().map(Into::into).collect())
    }

    /// `server` or `property:<key>`, as logs and documents name it.
    pub fn describe(&self) -> String {
        match self {
            EdgeIdentity::ServerIds => "server".to_owned(),
            EdgeIdentity::PropertyIds { key } => format!("property:{key}"),
        }
    }

    /// Checks the property key: not empty, not hidden (TinkerPop keeps keys that start with
    /// `~` for the graph itself), and without control characters.
    pub(crate) fn validate(&self, field: &str) -> Result<(), ConfigError> {
        let Some(key) = self.key() else {
            return Ok(());
        };
        let reason = if key.is_empty() {
            "the id property's key must not be empty"
        } else if key.starts_with('~') {
            "the id property's key must not start with '~' (hidden keys belong to the graph)"
        } else if key.chars().any(char::is_control) {
            "the id property's key must not contain control characters"
        } else {
            return Ok(());
        };
        Err(ConfigError::new(field, reason))
    }
}

/// The label of the probe's vertex and edge, neither of which outlives the probe's request.
const PROBE_LABEL: &str = "neptune_batch_identity_probe";
/// The message of the probe's `fail()` step.
const PROBE_FAILURE: &str = "neptune_batch identity probe: rolled back";

/// What the probe learnt from one attempt.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// The `fail()` step ran: the server took the caller's edge id.
    Kept,
    /// The server refused a caller's edge id.
    Refused,
    /// Something else failed, before the edge was tried (the probe vertex refused, say).
    Other(String),
}

/// Reads one attempt's error.
fn answer(error: &GremlinError) -> Answer {
    match error {
        GremlinError::Server {
            class: ErrorClass::FailStep,
            ..
        } => Answer::Kept,
        GremlinError::Server { message, .. } if message.contains(PROBE_FAILURE) => Answer::Kept,
        // TinkerPop's Edge.Exceptions.userSuppliedIdsNotSupported(), which every graph that
        // assigns its own edge ids throws.
        GremlinError::Server { message, .. }
            if message.contains("Edge does not support user supplied identifiers") =>
        {
            Answer::Refused
        }
        other => Answer::Other(other.to_string()),
    }
}

/// `g.addV(l)[.property(T.id, v)].as('a').addE(l).to('a').property(T.id, e).fail(msg)`: a
/// self-loop with a caller's edge id, rolled back by the `fail()` that ends it.
fn attempt(vertex_id: Option<&str>, edge_id: &str) -> Bytecode {
    let mut t = Bytecode::new().step("addV", [PROBE_LABEL]);
    if let Some(id) = vertex_id {
        t = t.step("property", [GValue::T(T::Id), GValue::from(id)]);
    }
    t.step("as", ["a"])
        .step("addE", [PROBE_LABEL])
        .step("to", ["a"])
        .step("property", [GValue::T(T::Id), GValue::from(edge_id)])
        .step("fail", [PROBE_FAILURE])
}

/// Finds out whether the server keeps a caller's edge id (see the module notes). Two attempts:
/// the probe vertex with a caller's id (a graph that takes caller ids for vertices, as
/// JanusGraph with `graph.set-vertex-id`, needs one), then without one (a graph that assigns
/// every vertex id refuses one). Returns `ServerIds` unless the server refused the edge's id.
pub(super) async fn probe(transport: &GremlinTransport) -> EdgeIdentity {
    // No `-`: JanusGraph reserves it in string ids by default.
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let vertex_id = format!("{PROBE_LABEL}_v{unique}");
    let edge_id = format!("{PROBE_LABEL}_e{unique}");
    let mut others = Vec::new();
    for vertex in [Some(vertex_id.as_str()), None] {
        let result = transport.submit(&attempt(vertex, &edge_id)).await;
        let answer = match &result {
            // A server without `fail()` that took the edge: drop what it kept.
            Ok(_) => {
                let drop = Bytecode::new().step("E", [edge_id.as_str()]).then("drop");
                let _ = transport.submit(&drop).await;
                if vertex.is_some() {
                    let drop = Bytecode::new().step("V", [vertex_id.as_str()]).then("drop");
                    let _ = transport.submit(&drop).await;
                }
                Answer::Kept
            }
            Err(e) => answer(e),
        };
        match answer {
            Answer::Kept => return EdgeIdentity::ServerIds,
            Answer::Refused => return EdgeIdentity::property_ids(),
            Answer::Other(why) => others.push(why),
        }
    }
    tracing::warn!(answers = ?others, "the edge identity probe was inconclusive: server ids assumed");
    EdgeIdentity::ServerIds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(class: ErrorClass, message: &str) -> GremlinError {
        GremlinError::Server {
            status: 500,
            class,
            exception: None,
            message: message.into(),
        }
    }

    #[test]
    fn the_probes_answers_are_read_as_kept_refused_or_inconclusive() {
        assert_eq!(answer(&server(ErrorClass::FailStep, "x")), Answer::Kept);
        assert_eq!(
            answer(&server(ErrorClass::Evaluation, PROBE_FAILURE)),
            Answer::Kept
        );
        assert_eq!(
            answer(&server(
                ErrorClass::Evaluation,
                "Edge does not support user supplied identifiers"
            )),
            Answer::Refused
        );
        assert!(matches!(
            answer(&server(ErrorClass::Evaluation, "Vertex does not support user supplied identifiers")),
            Answer::Other(why) if why.contains("Vertex")
        ));
    }

    #[test]
    fn the_probe_is_one_rolled_back_request_with_no_dash_in_its_ids() {
        let ops: Vec<String> = attempt(Some("v"), "e")
            .steps()
            .iter()
            .map(|i| i.operator.clone())
            .collect();
        assert_eq!(
            ops,
            ["addV", "property", "as", "addE", "to", "property", "fail"]
        );
        assert_eq!(attempt(None, "e").steps().len(), 6);
        assert!(!PROBE_LABEL.contains('-'));
    }

    #[test]
    fn a_key_must_be_a_plain_property_key() {
        let field = |key: &str| {
            EdgeIdentity::PropertyIds { key: key.into() }
                .validate("edge_identity")
                .map_err(|e| (e.field().to_owned(), e.reason().to_owned()))
        };
        assert!(field("edge_id").is_ok());
        assert!(EdgeIdentity::ServerIds.validate("edge_identity").is_ok());
        let (name, reason) = field("").unwrap_err();
        assert_eq!(name, "edge_identity");
        assert!(reason.contains("empty"), "{reason}");
        assert!(field("~id").unwrap_err().1.contains('~'));
        assert!(field("a\nb").is_err());
        assert_eq!(EdgeIdentity::property_ids().key(), Some("edge_id"));
        assert_eq!(EdgeIdentity::property_ids().describe(), "property:edge_id");
    }
}
