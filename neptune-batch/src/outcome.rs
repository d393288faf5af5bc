//! What happened to each item of a write.

/// Why one item was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ItemFailure {
    /// An endpoint of the edge does not exist.
    #[error("vertex {id} does not exist")]
    MissingVertex {
        /// The id of the missing vertex.
        id: String,
    },
    /// The item conflicts with what the graph holds (e.g. an edge id already used between other
    /// vertices, or a vertex id used with another label).
    #[error("constraint violation: {0}")]
    ConstraintViolation(String),
    /// The item itself is unusable (an empty id, a value the server cannot store).
    #[error("invalid item: {0}")]
    Invalid(String),
    /// The server refused the request for a reason that will not change on retry (malformed
    /// request, query too large, time or memory limit on a single item).
    #[error("rejected by the server ({code}): {message}")]
    Rejected {
        /// The server's status or exception name.
        code: String,
        /// The server's message.
        message: String,
    },
    /// A transient failure persisted through every allowed attempt.
    #[error("gave up after {attempts} attempts: {last_error}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last error seen.
        last_error: String,
    },
}

impl ItemFailure {
    /// Whether writing the same item later may succeed (the graph or the server may change),
    /// as opposed to a failure inherent to the item.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            ItemFailure::MissingVertex { .. } | ItemFailure::RetriesExhausted { .. }
        )
    }
}

/// The outcome of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// The item was created by this write.
    Written,
    /// An item with the same id was already there (a redelivery): nothing changed.
    AlreadyPresent,
    /// The item was not written.
    Failed(ItemFailure),
}

impl ItemOutcome {
    /// Written or already present: the item is in the graph.
    pub fn is_success(&self) -> bool {
        !matches!(self, ItemOutcome::Failed(_))
    }
}

/// The answer to one `write_*` call: outcomes in the order of the items given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// One outcome per item, in input order.
    pub outcomes: Vec<ItemOutcome>,
    /// Requests sent to the server (sub-batches, bisection halves and retries included).
    pub requests: u32,
    /// Requests that were retries after a transient error.
    pub retries: u32,
}

impl WriteReport {
    /// Items written or already present.
    pub fn succeeded(&self) -> usize {
        self.outcomes.iter().filter(|o| o.is_success()).count()
    }

    /// Items that failed.
    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.succeeded()
    }
}
