//! Whether and how a failed request is sent again.

use crate::outcome::ItemFailure;
use crate::transport::{ErrorClass, GremlinError};
use std::time::Duration;
use stream2neptune_common::{Backoff, Classify};

/// Decides, for each failed request, whether to send it again: what kind of failure it was
/// ([`Classify`]), how many retries its schedule still allows, and what the failure says
/// besides (reconnect first; send less). A write conflict has a schedule of its own
/// (`conflict`): another transaction holds the elements for milliseconds, which is not an
/// outage, so it is retried soon and more often than a broken connection (`outage`).
#[derive(Debug, Clone, Copy)]
pub(super) struct RetryLogic {
    outage: Backoff,
    conflict: Backoff,
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

/// The retries a request has had so far, counted per schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Retries {
    /// After anything but a write conflict.
    pub outage: u32,
    /// After a write conflict.
    pub conflict: u32,
}

impl RetryLogic {
    /// Retries bounded and spaced by `outage` and, after a write conflict, by `conflict`; a
    /// sink's configuration always bounds both.
    pub(super) fn new(outage: Backoff, conflict: Backoff) -> Self {
        Self { outage, conflict }
    }

    /// The wait before retry `retry` (from 0) after a write conflict, or after a change
    /// write's guard found the graph changed; `None` once the schedule's retries are used up.
    /// The first retry goes at once: on TinkerGraph the transaction that won has committed by
    /// the time the other hears of the conflict, and a timer's shortest sleep (its next
    /// millisecond tick, more on a busy machine) is what the writers measured asleep. The
    /// schedule's own waits follow from the second retry on.
    pub(super) fn conflict_delay(&self, retry: u32) -> Option<Duration> {
        if !self.conflict.allows(retry) {
            return None;
        }
        Some(match retry.checked_sub(1) {
            None => Duration::ZERO,
            Some(n) => self.conflict.delay(n),
        })
    }

    /// What to do after `error`, with `retries` retries behind the request: retry only what
    /// may succeed unchanged ([`ErrorKind::is_retriable`](stream2neptune_common::ErrorKind)),
    /// and only within the bound of the error's schedule. Counts the retry in `retries`.
    pub(super) fn decide(&self, error: &GremlinError, retries: &mut Retries) -> Option<Retry> {
        if !error.kind().is_retriable() {
            return None;
        }
        let conflict = is_conflict(error);
        let delay = if conflict {
            let delay = self.conflict_delay(retries.conflict)?;
            retries.conflict += 1;
            delay
        } else {
            let delay = self.outage.next_delay(retries.outage)?;
            retries.outage += 1;
            delay
        };
        Some(Retry {
            delay,
            reconnect: error.class() == Some(ErrorClass::ReadOnly),
            send_less: conflict
                || error.class() == Some(ErrorClass::Throttled)
                || matches!(error, GremlinError::Timeout(_)),
        })
    }

    /// The failure of an item whose request still failed after every retry of the schedule
    /// of its last `error`; `unconfirmed` when one of the attempts may have been committed (its
    /// answer was lost).
    pub(super) fn gave_up(&self, error: &GremlinError, unconfirmed: bool) -> ItemFailure {
        let schedule = if is_conflict(error) {
            self.conflict
        } else {
            self.outage
        };
        let attempts = schedule.max_retries().unwrap_or(u32::MAX).saturating_add(1);
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

/// Whether `error` is another transaction's write conflicting with the request's.
pub(super) fn is_conflict(error: &GremlinError) -> bool {
    error.class() == Some(ErrorClass::ConcurrentModification)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn janusgraphs_lock_failures_follow_the_conflict_schedule() {
        for exception in [
            "org.janusgraph.diskstorage.locking.PermanentLockingException",
            "org.janusgraph.diskstorage.locking.TemporaryLockingException",
            "org.janusgraph.diskstorage.TemporaryBackendException",
            "org.apache.tinkerpop.gremlin.structure.util.TransactionException",
        ] {
            let class = ErrorClass::from_exception(exception).expect("classified");
            let error = GremlinError::Server {
                status: 500,
                class,
                exception: Some(exception.into()),
                message: "Could not commit transaction due to exception during persistence".into(),
            };
            assert!(is_conflict(&error), "{exception}");
        }
        let other = GremlinError::Server {
            status: 500,
            class: ErrorClass::Other,
            exception: None,
            message: "PermanentLockingException in the text only".into(),
        };
        assert!(!is_conflict(&other), "messages are never read");
    }

    fn logic(retries: u32) -> RetryLogic {
        RetryLogic::new(
            Backoff::new(Duration::from_millis(100), Duration::from_millis(800))
                .with_max_retries(retries),
            Backoff::new(Duration::from_millis(5), Duration::from_millis(40)).with_max_retries(6),
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
        let throttled = server(ErrorClass::Throttled);
        let mut retries = Retries::default();
        let first = logic.decide(&throttled, &mut retries).expect("retried");
        assert!(first.delay <= Duration::from_millis(100));
        assert!(first.send_less && !first.reconnect);
        assert!(logic.decide(&throttled, &mut retries).is_some());
        assert_eq!(
            logic.decide(&throttled, &mut retries),
            None,
            "two retries, no more"
        );
        assert_eq!(
            logic.decide(&server(ErrorClass::Malformed), &mut Retries::default()),
            None
        );
    }

    #[test]
    fn a_conflict_is_retried_on_its_own_short_schedule_beside_the_outages() {
        let logic = logic(2);
        let conflict = server(ErrorClass::ConcurrentModification);
        let lost = GremlinError::ConnectionLost("reset".into());
        let mut retries = Retries::default();
        for n in 0..6 {
            let retry = logic
                .decide(&conflict, &mut retries)
                .expect("a conflict is retried");
            assert!(retry.delay <= Duration::from_millis(40), "{retry:?}");
            if n == 0 {
                assert_eq!(retry.delay, Duration::ZERO, "the first retry goes at once");
            }
            assert!(retry.send_less);
        }
        // The conflicts used none of the outage schedule's two retries.
        assert!(logic.decide(&lost, &mut retries).is_some());
        assert!(logic.decide(&lost, &mut retries).is_some());
        assert_eq!(logic.decide(&lost, &mut retries), None);
        assert_eq!(logic.decide(&conflict, &mut retries), None, "six, no more");
        assert_eq!(
            retries,
            Retries {
                outage: 2,
                conflict: 6
            }
        );
        assert!(matches!(
            logic.gave_up(&conflict, false),
            ItemFailure::RetriesExhausted { attempts: 7, .. }
        ));
    }

    #[test]
    fn a_read_only_replica_reconnects_and_a_timeout_sends_less() {
        let logic = logic(5);
        let mut retries = Retries::default();
        let read_only = logic
            .decide(&server(ErrorClass::ReadOnly), &mut retries)
            .unwrap();
        assert!(read_only.reconnect && !read_only.send_less);
        let timeout = logic
            .decide(&GremlinError::Timeout(Duration::from_secs(1)), &mut retries)
            .unwrap();
        assert!(timeout.send_less && !timeout.reconnect);
        let lost = logic
            .decide(&GremlinError::ConnectionLost("reset".into()), &mut retries)
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
