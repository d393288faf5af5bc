//! The careful path: when a request cannot say for each of its items what happened (a checked
//! merge refused as a whole, or a mode without one), separate reads find which items exist and
//! which endpoints are missing, the rest is written, and a write the server refuses is split
//! in two until the items at fault are isolated and examined one by one.

use super::encode::{edge_ends, edge_match, failure_from, vertex_labels, vertex_match, Item};
use super::identity::EdgeIdentity;
use super::service::{Service, Stats};
use crate::graphson::GValue;
use crate::metrics as m;
use crate::model::{Edge, Vertex};
use crate::outcome::{ItemFailure, ItemOutcome};
use crate::transport::{GremlinError, Request};
use crate::write_traversals::{self as wt, WriteMode};
use futures_util::future::BoxFuture;
use std::collections::{HashMap, HashSet};

/// What the existence reads of a request's items found beyond the outcomes they settled.
#[derive(Debug, Default)]
pub(super) struct Examined {
    /// Something was found that explains why the request's checked merge was refused (an item
    /// present, an endpoint missing); else the same write would fail the same way.
    pub explained: bool,
    /// The endpoints the items need that do not exist, in the order first named.
    pub missing: Vec<String>,
}

/// The reads of the careful path, which differ by kind of item.
pub(super) trait Careful: Item {
    /// Reads which of `items` exist, settling their outcomes in `out`, and which endpoints
    /// they need are missing.
    fn examine<'a>(
        service: &'a Service,
        identity: &'a EdgeIdentity,
        items: &'a [&'a Self],
        out: &'a mut [Option<ItemOutcome>],
        stats: &'a mut Stats,
    ) -> BoxFuture<'a, Result<Examined, GremlinError>>;

    /// Why `item`, written alone, failed with `error`: found already (maybe in conflict), an
    /// endpoint missing, or the error itself.
    fn diagnose<'a>(
        service: &'a Service,
        identity: &'a EdgeIdentity,
        item: &'a Self,
        error: &'a GremlinError,
        stats: &'a mut Stats,
    ) -> BoxFuture<'a, ItemOutcome>;
}

impl Careful for Edge {
    fn examine<'a>(
        service: &'a Service,
        identity: &'a EdgeIdentity,
        edges: &'a [&'a Self],
        out: &'a mut [Option<ItemOutcome>],
        stats: &'a mut Stats,
    ) -> BoxFuture<'a, Result<Examined, GremlinError>> {
        Box::pin(async move {
            let mut endpoint_ids: Vec<&String> = Vec::new();
            let mut seen = HashSet::new();
            for e in edges {
                for v in [&e.from, &e.to] {
                    if seen.insert(v.as_str()) {
                        endpoint_ids.push(v);
                    }
                }
            }
            let (mut s1, mut s2) = (Stats::default(), Stats::default());
            let (found_edges, present) = tokio::join!(
                existing_edges(service, identity, edges, &mut s1, "lookup"),
                present_vertices(service, &endpoint_ids, &mut s2, "lookup"),
            );
            stats.add(s1);
            stats.add(s2);
            let (found_edges, present) = (found_edges?, present?);
            for (slot, e) in out.iter_mut().zip(edges) {
                if let Some(ends) = found_edges.get(&e.match_key(identity)) {
                    *slot = Some(edge_match(e, ends));
                }
            }
            Ok(Examined {
                explained: !found_edges.is_empty() || present.len() < endpoint_ids.len(),
                missing: endpoint_ids
                    .into_iter()
                    .filter(|v| !present.contains(v.as_str()))
                    .cloned()
                    .collect(),
            })
        })
    }

    fn diagnose<'a>(
        service: &'a Service,
        identity: &'a EdgeIdentity,
        edge: &'a Self,
        error: &'a GremlinError,
        stats: &'a mut Stats,
    ) -> BoxFuture<'a, ItemOutcome> {
        Box::pin(async move {
            let found = existing_edges(service, identity, &[edge], stats, "diagnose")
                .await
                .unwrap_or_default();
            if let Some(ends) = found.get(&edge.match_key(identity)) {
                return edge_match(edge, ends);
            }
            let ends = [&edge.from, &edge.to];
            if let Ok(present) = present_vertices(service, &ends, stats, "diagnose").await {
                if let Some(missing) = ends.into_iter().find(|v| !present.contains(v.as_str())) {
                    let id = missing.clone();
                    return ItemOutcome::Failed(ItemFailure::MissingVertex { id });
                }
            }
            failure_from(error)
        })
    }
}

impl Careful for Vertex {
    fn examine<'a>(
        service: &'a Service,
        _identity: &'a EdgeIdentity,
        vertices: &'a [&'a Self],
        out: &'a mut [Option<ItemOutcome>],
        stats: &'a mut Stats,
    ) -> BoxFuture<'a, Result<Examined, GremlinError>> {
        Box::pin(async move {
            let ids: Vec<&String> = vertices.iter().map(|v| &v.id).collect();
            let found = existing_vertices(service, &ids, stats, "lookup").await?;
            for (slot, v) in out.iter_mut().zip(vertices) {
                if let Some(label) = found.get(&v.id) {
                    *slot = Some(vertex_match(v, label));
                }
            }
            Ok(Examined {
                explained: !found.is_empty(),
                missing: Vec::new(),
            })
        })
    }

    fn diagnose<'a>(
        service: &'a Service,
        _identity: &'a EdgeIdentity,
        vertex: &'a Self,
        error: &'a GremlinError,
        stats: &'a mut Stats,
    ) -> BoxFuture<'a, ItemOutcome> {
        Box::pin(async move {
            match existing_vertices(service, &[&vertex.id], stats, "diagnose").await {
                Ok(found) => match found.get(&vertex.id) {
                    Some(label) => vertex_match(vertex, label),
                    None => failure_from(error),
                },
                Err(_) => failure_from(error),
            }
        })
    }
}

/// Edge [`match_key`](Item::match_key) -> (from, to) of the edges among `edges` that exist.
async fn existing_edges(
    service: &Service,
    identity: &EdgeIdentity,
    edges: &[&Edge],
    stats: &mut Stats,
    kind: &'static str,
) -> Result<HashMap<String, (String, String)>, GremlinError> {
    let request = Request::Bytecode(wt::find_edges(edges, identity));
    Ok(edge_ends(
        &service.send(&request, kind, stats).await?,
        identity,
    ))
}

/// The ids among `ids` (distinct) of the vertices that exist. First only how many exist is
/// asked: when all do, as they almost always do, the answer is one number instead of every
/// id (a request of 1000 edges has up to 2000 endpoints, and an answer that large costs the
/// server more than the write); only when some are missing are the ids fetched.
async fn present_vertices(
    service: &Service,
    ids: &[&String],
    stats: &mut Stats,
    kind: &'static str,
) -> Result<HashSet<String>, GremlinError> {
    let values = || ids.iter().map(|i| GValue::from(*i)).collect();
    let count = Request::Bytecode(wt::count_vertices(values()));
    let count = service.send(&count, kind, stats).await?;
    if count.first().and_then(GValue::as_i64) == Some(ids.len() as i64) {
        return Ok(ids.iter().map(|i| (*i).clone()).collect());
    }
    // Rare: the ids are encoded a second time rather than copied for every request.
    let present = Request::Bytecode(wt::present_vertices(values()));
    let rows = service.send(&present, kind, stats).await?;
    Ok(rows.iter().filter_map(GValue::id_text).collect())
}

/// Vertex id -> label of the vertices among `ids` that exist.
async fn existing_vertices(
    service: &Service,
    ids: &[&String],
    stats: &mut Stats,
    kind: &'static str,
) -> Result<HashMap<String, String>, GremlinError> {
    let ids = ids.iter().map(|i| GValue::from(*i)).collect();
    let request = Request::Bytecode(wt::existing_vertices(ids));
    Ok(vertex_labels(&service.send(&request, kind, stats).await?))
}

/// Writes a request's items in the configured mode and isolates, by bisection, those the
/// server refuses.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bisection<'s> {
    pub service: &'s Service,
    pub mode: WriteMode,
    pub identity: &'s EdgeIdentity,
}

impl Bisection<'_> {
    /// After the existence reads: writes what is left (`todo`). When the request's checked
    /// merge was `refused` and the reads found nothing to explain it (no item present, no
    /// endpoint missing), the same write would fail the same way, so it is split at once.
    pub(super) async fn write_rest<I: Careful>(
        &self,
        items: &[&I],
        todo: Vec<usize>,
        refused: Option<GremlinError>,
        explained: bool,
        out: &mut [Option<ItemOutcome>],
        stats: &mut Stats,
    ) {
        match refused {
            Some(error) if !explained => self.settle(items, todo, error, out, stats).await,
            _ => self.write_rows(items, todo, out, stats).await,
        }
    }

    /// Writes `idx` of `items` in one request on its own, then settles a failure.
    fn write_rows<'a, I: Careful>(
        &'a self,
        items: &'a [&'a I],
        idx: Vec<usize>,
        out: &'a mut [Option<ItemOutcome>],
        stats: &'a mut Stats,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if idx.is_empty() {
                return;
            }
            let rows: Vec<&I> = idx.iter().map(|&i| items[i]).collect();
            let request = Request::Bytecode(I::traversal(self.mode, &rows, self.identity));
            self.write(&request, items, idx, out, stats).await;
        })
    }

    /// Sends `request`, the write of `idx` of `items`: all written, or the failure settled.
    pub(super) async fn write<I: Careful>(
        &self,
        request: &Request,
        items: &[&I],
        idx: Vec<usize>,
        out: &mut [Option<ItemOutcome>],
        stats: &mut Stats,
    ) {
        match self.service.send(request, "write", stats).await {
            Ok(_) => {
                for &i in &idx {
                    out[i] = Some(ItemOutcome::Written);
                }
            }
            Err(e) => self.settle(items, idx, e, out, stats).await,
        }
    }

    /// Outcomes for `idx` of `items` after their write failed with `error`: transient (after
    /// every retry) is final; otherwise the items are split in two and written again until
    /// the failing ones are isolated, and each of those is examined.
    fn settle<'a, I: Careful>(
        &'a self,
        items: &'a [&'a I],
        idx: Vec<usize>,
        error: GremlinError,
        out: &'a mut [Option<ItemOutcome>],
        stats: &'a mut Stats,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if error.is_retriable() {
                let retry = self.service.retry();
                for &i in &idx {
                    out[i] = Some(ItemOutcome::Failed(
                        retry.gave_up(&error, stats.unconfirmed),
                    ));
                }
            } else if idx.len() > 1 {
                metrics::counter!(m::BISECTIONS).increment(1);
                let mut left = idx;
                let right = left.split_off(left.len() / 2);
                self.write_rows(items, left, out, stats).await;
                self.write_rows(items, right, out, stats).await;
            } else if let Some(&i) = idx.first() {
                let diagnosis = I::diagnose(self.service, self.identity, items[i], &error, stats);
                out[i] = Some(diagnosis.await);
            }
        })
    }
}
