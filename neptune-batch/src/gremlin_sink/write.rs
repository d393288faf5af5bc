//! One request's items: the checked merge that reads and writes them in one transaction,
//! else the careful path.

use super::careful::{Bisection, Careful};
use super::change_cache::ChangeCache;
use super::claims::Claims;
use super::config::ExistenceCheck;
use super::encode::{failure_from, finish, merged};
use super::identity::EdgeIdentity;
use super::retry::is_conflict;
use super::service::{OnConflict, Service, Stats};
use crate::hubs_last::hot_order;
use crate::metrics as m;
use crate::model::Vertex;
use crate::outcome::{ItemFailure, ItemOutcome};
use crate::transport::GremlinError;
use crate::write_traversals::WriteMode;
use futures_util::future::BoxFuture;
use std::collections::HashSet;

/// Writes the items of one request and tells what happened to each.
#[derive(Debug)]
pub(super) struct Writer {
    service: Service,
    mode: WriteMode,
    existence: ExistenceCheck,
    identity: EdgeIdentity,
    claims: Claims,
    /// What the change path knows of the elements it read and wrote.
    cache: ChangeCache,
}

impl Writer {
    pub(super) fn new(
        service: Service,
        mode: WriteMode,
        existence: ExistenceCheck,
        (identity, claims): (EdgeIdentity, Claims),
    ) -> Self {
        Self {
            service,
            mode,
            existence,
            identity,
            claims,
            cache: ChangeCache::default(),
        }
    }

    /// How edges are named.
    pub(super) fn identity(&self) -> &EdgeIdentity {
        &self.identity
    }

    /// How the requests of changes claim what they read.
    pub(super) fn claims(&self) -> Claims {
        self.claims
    }

    /// What the change path knows of the elements it read and wrote.
    pub(super) fn cache(&self) -> &ChangeCache {
        &self.cache
    }

    pub(super) fn service(&self) -> &Service {
        &self.service
    }

    pub(super) fn mode(&self) -> WriteMode {
        self.mode
    }

    /// Writes `items` (distinct ids, one request's worth) and answers one outcome each, with
    /// what the requests amounted to.
    ///
    /// Checked merges read and write in one request (cut in two on a write conflict, see
    /// [`checked_merge`](Self::checked_merge)); the items of a request or part refused as a
    /// whole (typically an edge whose endpoint is missing, which `mergeE` cannot create), and
    /// in the other modes all items, take the careful path: it reads first, creates or reports missing endpoints, and writes
    /// the rest. Unchecked, the items are written in one request (in the session, where one
    /// is open), bisected if refused.
    pub(super) async fn write<I: Careful>(&self, items: &[&I]) -> (Vec<ItemOutcome>, Stats) {
        let mut stats = Stats::default();
        let bisection = Bisection {
            service: &self.service,
            mode: self.mode,
            identity: &self.identity,
        };
        if !self.existence.reads() {
            let mut out = vec![None; items.len()];
            let traversal = I::traversal(self.mode, items, &self.identity);
            let request = self.service.write_request(traversal);
            let all = (0..items.len()).collect();
            bisection
                .write(&request, items, all, &mut out, &mut stats)
                .await;
            return (finish(out), stats);
        }
        let mut out = vec![None; items.len()];
        let mut refused = None;
        if self.mode == WriteMode::Merge {
            refused = self.checked_merge(items, &mut out, &mut stats).await;
            if refused.is_none() {
                return (finish(out), stats);
            }
        }
        // The items not merged (all of them, or a part that was refused) take the careful path.
        let rest: Vec<usize> = (0..items.len()).filter(|&i| out[i].is_none()).collect();
        let rest_items: Vec<&I> = rest.iter().map(|&i| items[i]).collect();
        let outcomes = self
            .careful(&rest_items, refused, &bisection, &mut stats)
            .await;
        for (i, outcome) in rest.into_iter().zip(outcomes) {
            out[i] = Some(outcome);
        }
        (finish(out), stats)
    }

    /// The careful path: reads which `items` exist and which endpoints are missing, creates
    /// or reports those, and writes the rest (bisected if refused).
    async fn careful<I: Careful>(
        &self,
        items: &[&I],
        refused: Option<GremlinError>,
        bisection: &Bisection<'_>,
        stats: &mut Stats,
    ) -> Vec<ItemOutcome> {
        let mut out = vec![None; items.len()];
        let examined = I::examine(&self.service, &self.identity, items, &mut out, stats);
        let examined = match examined.await {
            Ok(examined) => examined,
            Err(e) => return items.iter().map(|_| failure_from(&e)).collect(),
        };
        let missing = self.create_missing(examined.missing, stats).await;
        for (slot, item) in out.iter_mut().zip(items) {
            if slot.is_none() {
                if let Some(id) = item.missing_endpoint(&missing) {
                    *slot = Some(ItemOutcome::Failed(ItemFailure::MissingVertex { id }));
                }
            }
        }
        let todo: Vec<usize> = (0..items.len()).filter(|&i| out[i].is_none()).collect();
        bisection
            .write_rest(items, todo, refused, examined.explained, &mut out, stats)
            .await;
        finish(out)
    }

    /// The merge mode's usual path: one request that reads which `items` exist and merges them
    /// all (see [`crate::write_traversals::merge_edges_checked`]), settling each item's slot in
    /// `out`. The error when a part of the request failed for good (an edge's endpoint is
    /// missing, or an item is refused): its items' slots stay empty, and the caller takes the
    /// careful path to give each of them its own outcome.
    ///
    /// A write conflict is another process's transaction on a vertex of the request (this
    /// sink keeps its own requests apart), and the server does not say which vertex. The
    /// request is sent again at once, and if it conflicts again it is cut in two in
    /// [`hot_order`]: the part whose vertices the request touches least goes at once and
    /// usually commits; the part with the request's busiest vertices (a super-connector every
    /// writer shares) is treated the same way, down to single items, which retry on the
    /// conflict schedule. Only the items at the contended vertex wait, no timer runs before a
    /// single item conflicts twice, and a smaller transaction holds the vertex for less time.
    async fn checked_merge<I: Careful>(
        &self,
        items: &[&I],
        out: &mut [Option<ItemOutcome>],
        stats: &mut Stats,
    ) -> Option<GremlinError> {
        let order = hot_order(items, |item| item.touches());
        let ordered: Vec<&I> = order.iter().map(|&i| items[i]).collect();
        let mut slots = vec![None; items.len()];
        let refused = self.merge_part(&ordered, &mut slots, stats).await;
        for (i, slot) in order.into_iter().zip(slots) {
            out[i] = slot;
        }
        refused
    }

    /// [`checked_merge`](Self::checked_merge) of `items` in their order, cut on conflicts.
    fn merge_part<'a, I: Careful>(
        &'a self,
        items: &'a [&'a I],
        out: &'a mut [Option<ItemOutcome>],
        stats: &'a mut Stats,
    ) -> BoxFuture<'a, Option<GremlinError>> {
        Box::pin(async move {
            let creates = self.existence.creates_missing();
            let traversal = I::checked_merge(items, creates, &self.identity);
            let request = self.service.write_request(traversal);
            let on_conflict = if items.len() > 1 {
                OnConflict::Return
            } else {
                OnConflict::Resend
            };
            let mut sent = self
                .service
                .send_with(&request, "write", stats, on_conflict)
                .await;
            if let Err(e) = &sent {
                if is_conflict(e) && items.len() > 1 {
                    // Often the other transaction was committing at the same moment (the
                    // engine refuses a commit whose elements another commit holds): the same
                    // request sent again at once commits. Only a second conflict cuts it.
                    stats.count_retry(e.reason(), true);
                    sent = self
                        .service
                        .send_with(&request, "write", stats, on_conflict)
                        .await;
                }
            }
            match sent {
                Ok(answer) => {
                    let outcomes = merged(items, &answer, &self.identity);
                    for (slot, outcome) in out.iter_mut().zip(outcomes) {
                        *slot = Some(outcome);
                    }
                    None
                }
                Err(e) if is_conflict(&e) && items.len() > 1 => {
                    stats.count_retry(e.reason(), true);
                    tracing::debug!(
                        items = items.len(),
                        "write conflict; the request is cut in two"
                    );
                    let (cold, hot) = items.split_at(items.len() / 2);
                    let (cold_out, hot_out) = out.split_at_mut(cold.len());
                    let cold_refused = self.merge_part(cold, cold_out, stats).await;
                    let hot_refused = self.merge_part(hot, hot_out, stats).await;
                    cold_refused.or(hot_refused)
                }
                Err(e) if e.is_retriable() => {
                    let failure = self.service.retry().gave_up(&e, stats.unconfirmed);
                    for slot in out.iter_mut() {
                        *slot = Some(ItemOutcome::Failed(failure.clone()));
                    }
                    None
                }
                Err(e) => {
                    metrics::counter!(m::CAREFUL_FALLBACKS).increment(1);
                    tracing::debug!(error = %e, items = items.len(), "checked merge refused; examining the request's items");
                    Some(e)
                }
            }
        })
    }

    /// Creates the `missing` endpoints where the configuration asks for it; the endpoints
    /// still missing afterwards.
    async fn create_missing(&self, missing: Vec<String>, stats: &mut Stats) -> HashSet<String> {
        let label = match self.existence.creates_missing() {
            Some(label) if !missing.is_empty() => label,
            _ => return missing.into_iter().collect(),
        };
        let vertices: Vec<Vertex> = missing.iter().map(|id| Vertex::new(id, label)).collect();
        let refs: Vec<&Vertex> = vertices.iter().collect();
        // Boxed: writing edges writes vertices, and the future cannot contain itself.
        let (outcomes, s) = Box::pin(self.write(&refs)).await;
        stats.add(s);
        vertices
            .into_iter()
            .zip(outcomes)
            .filter(|(_, o)| !o.is_success())
            .map(|(v, _)| v.id)
            .collect()
    }
}
