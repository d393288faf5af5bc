//! Turning one record into what it asks of the graph.

use kinesis_source::Record;
use neptune_batch::{Edge, Mutation, Vertex};

/// What one record asks of the graph: vertices to create, then edges to create (an edge may
/// need a vertex of the same record, so a record's vertices are written before its edges), then
/// changes (upserts, deletes, versions: see [`neptune_batch::mutation`]), in the order given.
///
/// Build it with the constructors and `with_*` methods (or `..GraphWrites::default()`), so a
/// mapper keeps compiling when it grows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GraphWrites {
    /// Vertices to create if missing.
    pub vertices: Vec<Vertex>,
    /// Edges to create if missing (both endpoints must exist).
    pub edges: Vec<Edge>,
    /// Changes to apply through [`GraphSink::apply`](neptune_batch::GraphSink::apply), after
    /// the creates.
    pub mutations: Vec<Mutation>,
}

impl GraphWrites {
    /// Nothing to write (a record that is fine but asks for nothing is acknowledged as is).
    pub fn new() -> Self {
        Self::default()
    }

    /// One edge.
    pub fn edge(edge: Edge) -> Self {
        Self::new().with_edge(edge)
    }

    /// One vertex.
    pub fn vertex(vertex: Vertex) -> Self {
        Self::new().with_vertex(vertex)
    }

    /// Adds an edge.
    pub fn with_edge(mut self, edge: Edge) -> Self {
        self.edges.push(edge);
        self
    }

    /// Adds a vertex.
    pub fn with_vertex(mut self, vertex: Vertex) -> Self {
        self.vertices.push(vertex);
        self
    }

    /// One change.
    pub fn mutation(mutation: Mutation) -> Self {
        Self::new().with_mutation(mutation)
    }

    /// Adds a change.
    pub fn with_mutation(mut self, mutation: Mutation) -> Self {
        self.mutations.push(mutation);
        self
    }

    /// Items to write.
    pub fn len(&self) -> usize {
        self.vertices.len() + self.edges.len() + self.mutations.len()
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a record cannot become graph writes. The record is bad in itself (it will never map
/// differently), so it becomes a dead letter with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Rejection {
    reason: String,
}

impl Rejection {
    /// A rejection saying why.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// Why the record was rejected.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Never: the same bytes map the same way every time.
    pub fn is_retriable(&self) -> bool {
        false
    }
}

/// Turns one record into graph writes, or says why it cannot.
///
/// A mapper is a pure function of the record: it is called again, with the same result, when a
/// record is redelivered, so the writes it asks for must be idempotent (ids derived from the
/// record's content, not random), as every [`GraphSink`](neptune_batch::GraphSink) keys
/// writes by id.
///
/// Any `Fn(&Record) -> Result<GraphWrites, Rejection>` is a mapper:
///
/// ```
/// use graph_ingest::{GraphWrites, RecordMapper, Rejection};
/// use kinesis_source::{Record, SequenceNumber};
/// use neptune_batch::Edge;
///
/// // "a b": a follows b.
/// let mapper = |record: &Record| {
///     let text = std::str::from_utf8(&record.data).map_err(|e| Rejection::new(e.to_string()))?;
///     let (a, b) = text.split_once(' ').ok_or_else(|| Rejection::new("expected two ids"))?;
///     Ok(GraphWrites::edge(Edge::new(format!("{a}>{b}"), "follows", a, b)))
/// };
/// let record = Record::new("shard-0", SequenceNumber::new("1"), "a", &b"a b"[..]);
/// assert_eq!(mapper.map(&record).unwrap().edges[0].id, "a>b");
/// let bad = Record::new("shard-0", SequenceNumber::new("2"), "a", &b"ab"[..]);
/// assert_eq!(mapper.map(&bad).unwrap_err().reason(), "expected two ids");
/// ```
pub trait RecordMapper: Send + Sync {
    /// The writes `record` asks for.
    fn map(&self, record: &Record) -> Result<GraphWrites, Rejection>;
}

impl<F> RecordMapper for F
where
    F: Fn(&Record) -> Result<GraphWrites, Rejection> + Send + Sync,
{
    fn map(&self, record: &Record) -> Result<GraphWrites, Rejection> {
        self(record)
    }
}
