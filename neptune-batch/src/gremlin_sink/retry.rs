//! Whether and how a failed request is sent again.

use crate::outcome::ItemFailure;
use crate::transport::{ErrorClass, GremlinError};
use std::time::Duration;
use stream2neptune_common::{Backoff, Classify};

/// Decides, for each failed request, whether to send it again: what kind of failure it was
/// ([`Classify`]), how many retries the [`Backoff`] still allows, and what the failure says
/// besides (reconnect first; send less).
#[derive(Debug, Clone, Copy)]
pub(super) struct RetryLogic {
    backoff: Backoff,
}

/// Send the request again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Retry {
    /// How long to wait first.
    pub delay: Duration,
    /// Drop every connection first: the endpoint answered as a read-only replica, so the retry
    /// goes to whatever the endpoint names now (the new writer after a failover).
    pub reconnect: bool,
    /// The server is contended (a write conflict, throttling, a timeout): the sizing controller
    /// should send less.
    pub send_less: bool,
}

impl RetryLogic {
    /// Retries bounded and spaced by `backoff`; a sink's configuration always bounds them.
    pub(super) fn new(backoff: Backoff) -> Self {
        Self { backoff }
    }

    /// What to do after `error`, `retries` retries into the request: retry only what may
    /// succeed unchanged ([`ErrorKind::is_retriable`](stream2neptune_common::ErrorKind)), and
    /// only within the bound.
    pub(super) fn decide(&self, error: &GremlinError, retries: u32) -> Option<Retry> {
        if !error.kind().is_retriable() {
            return None;
        }
        let delay = self.backoff.next_delay(retries)?;
        Some(Retry {
            delay,
            reconnect: error.class() == Some(ErrorClass::ReadOnly),
            send_less: matches!(
                error.class(),
                Some(ErrorClass::ConcurrentModification | ErrorClass::Throttled)
            ) || matches!(error, GremlinError::Timeout(_)),
        })
    }

    /// The failure of an item whose request still failed after every retry;
    /// `unconfirmed` when one of the attempts may have been committed (its answer was lost).
    pub(super) fn gave_up(&self, error: &GremlinError, unconfirmed: bool) -> ItemFailure {
        let attempts = self
            .backoff
            .max_retries()
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let last_error = error.to_string();
        if unconfirmed {
            ItemFailure::Unconfirmed {
                attempts,
                last_error,
            }
        } else {
            ItemFailure::RetriesExhausted {
                attempts,
                last_error,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logic(retries: u32) -> RetryLogic {
        RetryLogic::new(
            Backoff::new(Duration::from_millis(10), Duration::from_millis(80))
                .with_max_retries(retries),
        )
    }

    fn server(class: ErrorClass) -> GremlinError {
        GremlinError::Server {
            status: 500,
            class,
            exception: None,
            message: String::new(),
        }
    }

    #[test]
    fn only_retriable_errors_are_sent_again_and_only_within_the_bound() {
        let logic = logic(2);
        let conflict = server(ErrorClass::ConcurrentModification);
        let first = logic.decide(&conflict, 0).expect("a conflict is retried");
        assert!(first.delay <= Duration::from_millis(10));
        assert!(first.send_less && !first.reconnect);
        assert!(logic.decide(&conflict, 1).is_some());
        assert_eq!(logic.decide(&conflict, 2), None, "two retries, no more");
        assert_eq!(logic.decide(&server(ErrorClass::Malformed), 0), None);
    }

    #[test]
    fn a_read_only_replica_reconnects_and_a_timeout_sends_less() {
        let logic = logic(5);
        let read_only = logic.decide(&server(ErrorClass::ReadOnly), 0).unwrap();
        assert!(read_only.reconnect && !read_only.send_less);
        let timeout = logic
            .decide(&GremlinError::Timeout(Duration::from_secs(1)), 0)
            .unwrap();
        assert!(timeout.send_less && !timeout.reconnect);
        let lost = logic
            .decide(&GremlinError::ConnectionLost("reset".into()), 3)
            .unwrap();
        assert!(!lost.send_less && !lost.reconnect);
    }

    #[test]
    fn giving_up_counts_every_attempt_and_says_whether_an_answer_was_lost() {
        let error = GremlinError::Timeout(Duration::from_secs(1));
        assert!(matches!(
            logic(5).gave_up(&error, false),
            ItemFailure::RetriesExhausted { attempts: 6, .. }
        ));
        assert!(matches!(
            logic(5).gave_up(&error, true),
            ItemFailure::Unconfirmed { attempts: 6, .. }
        ));
    }
}
