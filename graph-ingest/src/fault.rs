//! Write calls failed on purpose: the original's `percent_error`.

use rand::Rng;

/// Fails a share of write calls on purpose, before they are sent, to show that a failed write
/// comes back and nothing is lost.
///
/// The original appended a duplicate vertex id to the batch's traversal, so the server rolled
/// the whole transaction back and the batch was redelivered. Failing the call before it is
/// sent shows the same redelivery without touching the graph, and it is drawn afresh for every
/// call, so a retried batch eventually goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct FaultInjector {
    percent: u8,
}

impl FaultInjector {
    /// Why a struck call failed, as its records' error says.
    pub(crate) const REASON: &'static str =
        "injected fault (percent_error): the write was not sent";

    /// Fails `percent` % of calls (0 never, 99 at most: validated by the configurations).
    pub(crate) fn new(percent: u8) -> Self {
        Self { percent }
    }

    /// Whether this call is to fail.
    pub(crate) fn strikes(&self) -> bool {
        self.percent > 0 && rand::rng().random_range(0..100u8) < self.percent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_strikes_at_zero_and_about_the_share_asked_otherwise() {
        assert!(!(0..1000).any(|_| FaultInjector::new(0).strikes()));
        let half = FaultInjector::new(50);
        let struck = (0..10_000).filter(|_| half.strikes()).count();
        assert!((4_000..6_000).contains(&struck), "{struck}");
    }
}
