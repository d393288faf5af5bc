//! One request's items: the checked merge that reads and writes them in one transaction,
//! else the careful path.

use super::careful::{Bisection, Careful};
use super::change_cache::ChangeCache;
use super::claims::Claims;
use super::config::ExistenceCheck;
use super::encode::{failure_from, finish, merged};
use super::identity::EdgeIdentity;
use super::service::{Service, Stats};
use crate::metrics as m;
use crate::model::Vertex;
use crate::outcome::{ItemFailure, ItemOutcome};
use crate::transport::GremlinError;
use crate::write_traversals::WriteMode;
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
    /// Checked merges read and write in one request; if it is refused as a whole (typically
    /// an edge whose endpoint is missing, which `mergeE` cannot create), and in the other
    /// modes, the careful path reads first, creates or reports missing endpoints, and writes
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
        let mut refused = None;
        if self.mode == WriteMode::Merge {
            match self.checked_merge(items, &mut stats).await {
                Ok(outcomes) => return (outcomes, stats),
                Err(e) => refused = Some(e),
            }
        }
        let mut out = vec![None; items.len()];
        let examined = I::examine(&self.service, &self.identity, items, &mut out, &mut stats);
        let examined = match examined.await {
            Ok(examined) => examined,
            Err(e) => return (items.iter().map(|_| failure_from(&e)).collect(), stats),
        };
        let missing = self.create_missing(examined.missing, &mut stats).await;
        for (slot, item) in out.iter_mut().zip(items) {
            if slot.is_none() {
                if let Some(id) = item.missing_endpoint(&missing) {
                    *slot = Some(ItemOutcome::Failed(ItemFailure::MissingVertex { id }));
                }
            }
        }
        let todo: Vec<usize> = (0..items.len()).filter(|&i| out[i].is_none()).collect();
        bisection
            .write_rest(
                items,
                todo,
                refused,
                examined.explained,
                &mut out,
                &mut stats,
            )
            .await;
        (finish(out), stats)
    }

    /// The merge mode's usual path: one request that reads which `items` exist and merges them
    /// all (see [`crate::write_traversals::merge_edges_checked`]). The error when the request
    /// failed for good as a whole (an edge's endpoint is missing, or an item is refused): the
    /// caller then takes the careful path to give each item its own outcome.
    async fn checked_merge<I: Careful>(
        &self,
        items: &[&I],
        stats: &mut Stats,
    ) -> Result<Vec<ItemOutcome>, GremlinError> {
        let creates = self.existence.creates_missing();
        let traversal = I::checked_merge(items, creates, &self.identity);
        let request = self.service.write_request(traversal);
        match self.service.send(&request, "write", stats).await {
            Ok(answer) => Ok(merged(items, &answer, &self.identity)),
            Err(e) if e.is_retriable() => {
                let failure = self.service.retry().gave_up(&e, stats.unconfirmed);
                Ok(items
                    .iter()
                    .map(|_| ItemOutcome::Failed(failure.clone()))
                    .collect())
            }
            Err(e) => {
                metrics::counter!(m::CAREFUL_FALLBACKS).increment(1);
                tracing::debug!(error = %e, items = items.len(), "checked merge refused; examining the request's items");
                Err(e)
            }
        }
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
