//! What happened to each item of a write.

use stream2neptune_common::{Classify, ErrorKind};

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
    /// A transient failure (connection refused or reset, timeout, throttling, read-only
    /// replica, server unavailable, write conflict) persisted through every attempt the sink
    /// allowed itself. The item is not at fault: its [`kind`](Classify::kind) is
    /// [`Retriable`](ErrorKind::Retriable).
    #[error("transient failure through {attempts} attempts: {last_error}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last error seen.
        last_error: String,
    },
    /// Like [`ItemFailure::RetriesExhausted`], and besides, a request carrying the item may
    /// have been committed: its connection broke, or it timed out, after it was sent, so its
    /// answer was lost. The item may be in the graph already; writing it again (same id) says
    /// which ([`ItemOutcome::AlreadyPresent`]). A caller must not set such an item aside as
    /// unwritten before that is known.
    #[error("transient failure through {attempts} attempts, and an answer was lost (the item may be written already): {last_error}")]
    Unconfirmed {
        /// Attempts made.
        attempts: u32,
        /// The last error seen.
        last_error: String,
    },
}

impl ItemFailure {
    /// Whether the item may be in the graph although its write failed: an answer was lost
    /// ([`ItemFailure::Unconfirmed`]).
    pub fn may_be_written(&self) -> bool {
        matches!(self, ItemFailure::Unconfirmed { .. })
    }
}

/// [`Retriable`](ErrorKind::Retriable) when the failure lies with the moment, not with the
/// item: the server was unreachable, timed out, throttled, read-only or in conflict through
/// every attempt the sink allowed itself ([`ItemFailure::RetriesExhausted`],
/// [`ItemFailure::Unconfirmed`]). Writing the same item later can succeed, so a caller that
/// must lose nothing holds it (and what comes after it in its shard) and tries again.
///
/// [`Permanent`](ErrorKind::Permanent) otherwise: an endpoint vertex it names does not exist,
/// it conflicts with what the graph holds, it is invalid, or the server rejects it as such.
/// Writing it again as it is fails the same way, so it is what a dead letter is for.
impl Classify for ItemFailure {
    fn kind(&self) -> ErrorKind {
        match self {
            ItemFailure::RetriesExhausted { .. } | ItemFailure::Unconfirmed { .. } => {
                ErrorKind::Retriable
            }
            _ => ErrorKind::Permanent,
        }
    }
}

/// The outcome of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemOutcome {
    /// The write changed the graph: the item was created (or, for a
    /// [`Mutation`](crate::Mutation), updated, deleted, its property removed).
    Written,
    /// The graph already held what the item asks for (a redelivery, the same version again,
    /// a create of something that exists): nothing changed.
    AlreadyPresent,
    /// A newer version of the element (or its tombstone) is in the graph: the item is older
    /// than what it would change, and nothing changed.
    Stale,
    /// The item was not written.
    Failed(ItemFailure),
}

impl ItemOutcome {
    /// [`ItemOutcome::Written`] if this write created the item, else
    /// [`ItemOutcome::AlreadyPresent`].
    pub fn created(created: bool) -> Self {
        if created {
            ItemOutcome::Written
        } else {
            ItemOutcome::AlreadyPresent
        }
    }

    /// Written, already present or stale: the graph holds the item or something newer, and the
    /// item needs nothing more.
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
    /// Milliseconds slept before retries after write conflicts (another writer's transaction
    /// holding the same elements), as measured: time the call spent waiting rather than
    /// writing.
    pub conflict_sleep_ms: u64,
}

impl WriteReport {
    /// A report of these outcomes (for sinks that make one request per call).
    pub fn from_outcomes(outcomes: Vec<ItemOutcome>) -> Self {
        Self {
            requests: 1,
            outcomes,
            retries: 0,
            conflict_sleep_ms: 0,
        }
    }

    /// Adds the requests of `part`, a report on the items at `at` of a larger call, and puts
    /// its outcomes in their places in `outcomes`.
    pub(crate) fn absorb(
        &mut self,
        at: &[usize],
        part: WriteReport,
        outcomes: &mut [Option<ItemOutcome>],
    ) {
        self.requests += part.requests;
        self.retries += part.retries;
        self.conflict_sleep_ms += part.conflict_sleep_ms;
        for (&i, o) in at.iter().zip(part.outcomes) {
            outcomes[i] = Some(o);
        }
    }

    /// Items written, already present or stale.
    pub fn succeeded(&self) -> usize {
        self.outcomes.iter().filter(|o| o.is_success()).count()
    }

    /// Items that failed.
    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.succeeded()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_of_the_moment_are_retriable() {
        let exhausted = ItemFailure::RetriesExhausted {
            attempts: 6,
            last_error: "conflict".into(),
        };
        let lost = ItemFailure::Unconfirmed {
            attempts: 6,
            last_error: "no answer".into(),
        };
        assert_eq!(exhausted.kind(), ErrorKind::Retriable);
        assert_eq!(lost.kind(), ErrorKind::Retriable);
        assert!(lost.may_be_written() && !exhausted.may_be_written());
        let missing = ItemFailure::MissingVertex { id: "9".into() };
        assert_eq!(missing.kind(), ErrorKind::Permanent);
        assert!(!missing.may_be_written());
    }
}
