//! [`GraphSink`] over a Gremlin endpoint (Amazon Neptune or Apache TinkerPop Gremlin Server).

use crate::error::SinkError;
use crate::graphson::GValue;
use crate::gremlin_sink_config::GremlinSinkConfig;
use crate::metrics as m;
use crate::model::{Edge, Vertex};
use crate::outcome::{ItemFailure, ItemOutcome, WriteReport};
use crate::sink::GraphSink;
use crate::transport::{ErrorClass, GremlinError, GremlinTransport, Request};
use crate::write_traversals::{self as wt, WriteMode};
use async_trait::async_trait;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Counters a binary can poll to show progress of long writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkProgress {
    /// Items with a final outcome, over all calls.
    pub items: u64,
    /// Items that failed.
    pub failed: u64,
    /// Requests sent.
    pub requests: u64,
    /// Requests that were retries.
    pub retries: u64,
}

#[derive(Debug, Default)]
struct ProgressCounters {
    items: AtomicU64,
    failed: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    requests: u32,
    retries: u32,
}

impl Stats {
    fn add(&mut self, other: Stats) {
        self.requests += other.requests;
        self.retries += other.retries;
    }
}

/// Writes vertices and edges to a Gremlin endpoint in sub-batches, one request each, and
/// reports one outcome per item.
///
/// Per sub-batch (of [`GremlinSinkConfig::batch_size`] items, up to
/// [`GremlinSinkConfig::in_flight`] at once):
/// 1. in the default [`WriteMode::Merge`] with
///    [`check_existing`](GremlinSinkConfig::check_existing), one request (one transaction)
///    reads which items already exist and merges them all (endpoints first, with
///    [`create_missing_vertices`](GremlinSinkConfig::create_missing_vertices)): those found are reported
///    [`ItemOutcome::AlreadyPresent`] (or a conflict, when the id names another edge or a
///    vertex of another label), the rest [`ItemOutcome::Written`];
/// 2. if that request is refused as a whole (typically an edge whose endpoint vertex is
///    missing, which `mergeE` cannot create), and in the other modes, the careful path runs:
///    two reads by id find the items already present and the edges whose endpoint is missing
///    (reported [`ItemFailure::MissingVertex`], or the vertex is created first with
///    [`create_missing_vertices`](GremlinSinkConfig::create_missing_vertices)), then the rest
///    is written in one traversal of the configured [`WriteMode`];
/// 3. a transient error (conflict, read-only replica, throttling, timeout, broken connection)
///    is retried with back-off, reconnecting where needed; any other error splits the
///    sub-batch in two until the failing items are isolated, and each of those is examined to
///    report why it failed.
///
/// With [`conflict_free`](GremlinSinkConfig::conflict_free) (the default), sub-batches that
/// share a vertex never run at the same time, within a call or across concurrent calls on the
/// same sink, so concurrency never turns into write conflicts inside one process.
pub struct GremlinSink {
    transport: GremlinTransport,
    config: GremlinSinkConfig,
    progress: Arc<ProgressCounters>,
    claims: VertexClaims,
}

impl std::fmt::Debug for GremlinSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GremlinSink")
            .field("transport", &self.transport)
            .field("mode", &self.config.mode)
            .field("batch_size", &self.config.batch_size)
            .finish_non_exhaustive()
    }
}

/// What the sink needs to know about an item to write it and examine a failure.
trait Item: Sync {
    fn id(&self) -> &str;
    /// The vertices a write of this item changes (what two transactions can conflict on).
    fn touches(&self) -> [&str; 2];
    fn invalid(&self) -> Option<String>;
    fn traversal(mode: WriteMode, items: &[&Self]) -> crate::Bytecode;
    /// The merge that also answers, one row per item found (keyed `i`), which items existed;
    /// `create_missing` names the label of endpoint vertices to create (edges only).
    fn checked_merge(items: &[&Self], create_missing: Option<&str>) -> crate::Bytecode;
    /// The outcome for an item found in the graph, from its row in the answer.
    fn found(&self, row: &GValue) -> ItemOutcome;
    fn diagnose<'a>(
        sink: &'a GremlinSink,
        item: &'a Self,
        error: &'a GremlinError,
        stats: &'a mut Stats,
    ) -> BoxFuture<'a, ItemOutcome>;
}

impl Item for Edge {
    fn id(&self) -> &str {
        &self.id
    }
    fn touches(&self) -> [&str; 2] {
        [&self.from, &self.to]
    }
    fn invalid(&self) -> Option<String> {
        [
            ("id", &self.id),
            ("label", &self.label),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .iter()
        .find(|(_, v)| v.is_empty())
        .map(|(k, _)| format!("empty edge {k}"))
    }
    fn traversal(mode: WriteMode, items: &[&Self]) -> crate::Bytecode {
        wt::write_edges(mode, items)
    }
    fn checked_merge(items: &[&Self], create_missing: Option<&str>) -> crate::Bytecode {
        wt::merge_edges_checked(items, create_missing)
    }
    fn found(&self, row: &GValue) -> ItemOutcome {
        match (
            row.get("o").and_then(GValue::id_text),
            row.get("n").and_then(GValue::id_text),
        ) {
            (Some(from), Some(to)) => edge_match(self, &(from, to)),
            _ => ItemOutcome::Failed(ItemFailure::Rejected {
                code: "unexpected_answer".into(),
                message: format!("no endpoints for edge {} in the answer", self.id),
            }),
        }
    }
    fn diagnose<'a>(
        sink: &'a GremlinSink,
        edge: &'a Self,
        error: &'a GremlinError,
        stats: &'a mut Stats,
    ) -> BoxFuture<'a, ItemOutcome> {
        Box::pin(async move {
            let found = sink
                .existing_edges(&[edge], stats, "diagnose")
                .await
                .unwrap_or_default();
            if let Some(ends) = found.get(&edge.id) {
                return edge_match(edge, ends);
            }
            let present = sink
                .present_vertices(&[&edge.from, &edge.to], stats, "diagnose")
                .await;
            if let Ok(present) = present {
                if let Some(missing) = [&edge.from, &edge.to]
                    .into_iter()
                    .find(|v| !present.contains(v.as_str()))
                {
                    return ItemOutcome::Failed(ItemFailure::MissingVertex {
                        id: missing.clone(),
                    });
                }
            }
            failure_from(error)
        })
    }
}

impl Item for Vertex {
    fn id(&self) -> &str {
        &self.id
    }
    fn touches(&self) -> [&str; 2] {
        [&self.id, &self.id]
    }
    fn invalid(&self) -> Option<String> {
        if self.id.is_empty() {
            Some("empty vertex id".into())
        } else if self.label.is_empty() {
            Some("empty vertex label".into())
        } else {
            None
        }
    }
    fn traversal(mode: WriteMode, items: &[&Self]) -> crate::Bytecode {
        wt::write_vertices(mode, items)
    }
    fn checked_merge(items: &[&Self], _create_missing: Option<&str>) -> crate::Bytecode {
        wt::merge_vertices_checked(items)
    }
    fn found(&self, row: &GValue) -> ItemOutcome {
        match row.get("l").and_then(GValue::as_str) {
            Some(label) => vertex_match(self, label),
            None => ItemOutcome::Failed(ItemFailure::Rejected {
                code: "unexpected_answer".into(),
                message: format!("no label for vertex {} in the answer", self.id),
            }),
        }
    }
    fn diagnose<'a>(
        sink: &'a GremlinSink,
        vertex: &'a Self,
        error: &'a GremlinError,
        stats: &'a mut Stats,
    ) -> BoxFuture<'a, ItemOutcome> {
        Box::pin(async move {
            match sink
                .existing_vertices(&[&vertex.id], stats, "diagnose")
                .await
            {
                Ok(found) => match found.get(&vertex.id) {
                    Some(label) => vertex_match(vertex, label),
                    None => failure_from(error),
                },
                Err(_) => failure_from(error),
            }
        })
    }
}

fn edge_match(edge: &Edge, (from, to): &(String, String)) -> ItemOutcome {
    if *from == edge.from && *to == edge.to {
        ItemOutcome::AlreadyPresent
    } else {
        ItemOutcome::Failed(ItemFailure::ConstraintViolation(format!(
            "edge {} exists between {from} and {to}",
            edge.id
        )))
    }
}

fn vertex_match(vertex: &Vertex, label: &str) -> ItemOutcome {
    if label == vertex.label {
        ItemOutcome::AlreadyPresent
    } else {
        ItemOutcome::Failed(ItemFailure::ConstraintViolation(format!(
            "vertex {} exists with label {label}",
            vertex.id
        )))
    }
}

/// The item outcome for an error that a retry will not fix (or that retries did not fix).
fn failure_from(error: &GremlinError) -> ItemOutcome {
    ItemOutcome::Failed(match error {
        GremlinError::Server {
            class: ErrorClass::ConstraintViolation,
            message,
            ..
        } => ItemFailure::ConstraintViolation(message.clone()),
        GremlinError::Server {
            class,
            exception,
            message,
            ..
        } if !class.is_retriable() => ItemFailure::Rejected {
            code: exception
                .clone()
                .unwrap_or_else(|| class.as_str().to_owned()),
            message: message.clone(),
        },
        other if !other.is_retriable() => ItemFailure::Rejected {
            code: other.reason().to_owned(),
            message: other.to_string(),
        },
        other => ItemFailure::RetriesExhausted {
            attempts: 0,
            last_error: other.to_string(),
        },
    })
}

impl GremlinSink {
    /// Validates `config` and connects to the writer endpoint.
    pub async fn connect(config: GremlinSinkConfig) -> Result<Self, SinkError> {
        config.validate()?;
        let transport = GremlinTransport::connect(config.writer.clone())
            .await
            .map_err(|e| match e {
                GremlinError::InvalidConfig { .. } => SinkError::Config(e.to_string()),
                // The endpoint is named once, by the sink's error.
                GremlinError::Connect { message, .. } => SinkError::Connect {
                    endpoint: config.writer.url.clone(),
                    message,
                },
                other => SinkError::Connect {
                    endpoint: config.writer.url.clone(),
                    message: other.to_string(),
                },
            })?;
        Ok(Self::with_transport(transport, config))
    }

    /// A sink over an existing transport (its configuration replaces `config.writer`).
    pub fn with_transport(transport: GremlinTransport, mut config: GremlinSinkConfig) -> Self {
        config.writer = transport.config().clone();
        Self {
            transport,
            config,
            progress: Arc::default(),
            claims: VertexClaims::default(),
        }
    }

    /// The transport, e.g. to run queries on the writer.
    pub fn transport(&self) -> &GremlinTransport {
        &self.transport
    }

    /// The configuration.
    pub fn config(&self) -> &GremlinSinkConfig {
        &self.config
    }

    /// Totals over every call so far.
    pub fn progress(&self) -> SinkProgress {
        let p = &self.progress;
        SinkProgress {
            items: p.items.load(Ordering::Relaxed),
            failed: p.failed.load(Ordering::Relaxed),
            requests: p.requests.load(Ordering::Relaxed),
            retries: p.retries.load(Ordering::Relaxed),
        }
    }

    /// Sends a request, retrying transient errors within the configured bounds. A read-only
    /// answer (the endpoint is now a replica) drops every connection first, so the retry goes
    /// to whatever the endpoint names now; broken or timed-out connections are replaced by the
    /// transport itself.
    async fn send(
        &self,
        request: &Request,
        kind: &'static str,
        stats: &mut Stats,
    ) -> Result<Vec<GValue>, GremlinError> {
        let policy = self.config.retry;
        let mut retry = 0;
        loop {
            stats.requests += 1;
            metrics::counter!(m::REQUESTS, "kind" => kind).increment(1);
            let started = Instant::now();
            let result = self.transport.request(request).await;
            if kind == "write" {
                metrics::histogram!(m::WRITE_SECONDS).record(started.elapsed().as_secs_f64());
            }
            match result {
                Ok(v) => return Ok(v),
                Err(e) if e.is_retriable() && retry < policy.max_retries => {
                    metrics::counter!(m::RETRIES, "reason" => e.reason()).increment(1);
                    stats.retries += 1;
                    // Lost connections and timeouts say the endpoint is in trouble: an
                    // operator wants them at the default level. Conflicts are routine.
                    if e.class().is_none() {
                        tracing::info!(error = %e, retry, kind, "retrying a Gremlin request");
                    } else {
                        tracing::debug!(error = %e, retry, kind, "retrying a Gremlin request");
                    }
                    if e.class() == Some(ErrorClass::ReadOnly) {
                        self.transport.reconnect().await;
                    }
                    tokio::time::sleep(policy.delay(retry)).await;
                    retry += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Edge id -> (from, to) of the edges among `edges` that exist.
    async fn existing_edges(
        &self,
        edges: &[&Edge],
        stats: &mut Stats,
        kind: &'static str,
    ) -> Result<HashMap<String, (String, String)>, GremlinError> {
        let ids = edges.iter().map(|e| GValue::from(&e.id)).collect();
        let rows = self
            .send(&Request::Bytecode(wt::existing_edges(ids)), kind, stats)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some((
                    r.get("i")?.id_text()?,
                    (r.get("o")?.id_text()?, r.get("n")?.id_text()?),
                ))
            })
            .collect())
    }

    /// The ids among `ids` (distinct) of the vertices that exist. First only how many exist is
    /// asked: when all do, as they almost always do, the answer is one number instead of every
    /// id (a sub-batch of 1000 edges has up to 2000 endpoints, and an answer that large costs
    /// the server more than the write); only when some are missing are the ids fetched.
    async fn present_vertices(
        &self,
        ids: &[&String],
        stats: &mut Stats,
        kind: &'static str,
    ) -> Result<HashSet<String>, GremlinError> {
        let values = || ids.iter().map(|i| GValue::from(*i)).collect();
        let count = self
            .send(
                &Request::Bytecode(wt::count_vertices(values())),
                kind,
                stats,
            )
            .await?;
        if count.first().and_then(GValue::as_i64) == Some(ids.len() as i64) {
            return Ok(ids.iter().map(|i| (*i).clone()).collect());
        }
        // Rare: the ids are encoded a second time rather than copied for every sub-batch.
        let rows = self
            .send(
                &Request::Bytecode(wt::present_vertices(values())),
                kind,
                stats,
            )
            .await?;
        Ok(rows.iter().filter_map(GValue::id_text).collect())
    }

    /// Vertex id -> label of the vertices among `ids` that exist.
    async fn existing_vertices(
        &self,
        ids: &[&String],
        stats: &mut Stats,
        kind: &'static str,
    ) -> Result<HashMap<String, String>, GremlinError> {
        let ids = ids.iter().map(|i| GValue::from(*i)).collect();
        let rows = self
            .send(&Request::Bytecode(wt::existing_vertices(ids)), kind, stats)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((r.get("i")?.id_text()?, r.get("l")?.as_str()?.to_owned())))
            .collect())
    }

    /// The outcome of an item whose request still failed transiently after every retry.
    fn exhausted(&self, error: &GremlinError) -> ItemOutcome {
        ItemOutcome::Failed(ItemFailure::RetriesExhausted {
            attempts: self.config.retry.max_retries + 1,
            last_error: error.to_string(),
        })
    }

    /// The merge mode's usual path: one request that reads which `items` exist and merges them
    /// all (see [`wt::merge_edges_checked`]). The error when the request failed for good as a
    /// whole (an edge's endpoint is missing, or an item is refused): the caller then takes the
    /// careful path, separate reads first and bisection of the write, to give each item its
    /// own outcome. Holds the items' vertices while the request runs, since it writes.
    async fn checked_merge<I: Item>(
        &self,
        items: &[&I],
        stats: &mut Stats,
    ) -> Result<Vec<ItemOutcome>, GremlinError> {
        let _claim = self.claim(items.iter().flat_map(|i| i.touches())).await;
        let request = Request::Bytecode(I::checked_merge(
            items,
            self.config.create_missing_vertices.as_deref(),
        ));
        match self.send(&request, "write", stats).await {
            Ok(answer) => {
                // One list of rows; accepted unwrapped too, as servers differ in bulking.
                let rows = answer.iter().flat_map(|v| match v {
                    GValue::List(rows) => rows.iter().collect::<Vec<_>>(),
                    row => vec![row],
                });
                let found: HashMap<String, &GValue> = rows
                    .filter_map(|r| Some((r.get("i")?.id_text()?, r)))
                    .collect();
                Ok(items
                    .iter()
                    .map(|item| match found.get(item.id()) {
                        Some(row) => item.found(row),
                        None => ItemOutcome::Written,
                    })
                    .collect())
            }
            Err(e) if e.is_retriable() => Ok(items.iter().map(|_| self.exhausted(&e)).collect()),
            Err(e) => {
                metrics::counter!(m::CAREFUL_FALLBACKS).increment(1);
                tracing::debug!(error = %e, items = items.len(), "checked merge refused; examining the sub-batch");
                Err(e)
            }
        }
    }

    /// Writes `idx` of `items` in one request, then settles a failure (see
    /// [`settle_failure`](Self::settle_failure)).
    fn write_rows<'a, I>(
        &'a self,
        items: &'a [&'a I],
        idx: Vec<usize>,
        out: &'a mut [Option<ItemOutcome>],
        stats: &'a mut Stats,
    ) -> BoxFuture<'a, ()>
    where
        I: Item + 'a,
    {
        Box::pin(async move {
            if idx.is_empty() {
                return;
            }
            let rows: Vec<&I> = idx.iter().map(|&i| items[i]).collect();
            let request = Request::Bytecode(I::traversal(self.config.mode, &rows));
            match self.send(&request, "write", stats).await {
                Ok(_) => {
                    for &i in &idx {
                        out[i] = Some(ItemOutcome::Written);
                    }
                }
                Err(e) => self.settle_failure(items, idx, e, out, stats).await,
            }
        })
    }

    /// Outcomes for `idx` of `items` after their write failed with `error`: transient (after
    /// every retry) is final; otherwise the items are split in two and written again until
    /// the failing ones are isolated, and each of those is examined.
    fn settle_failure<'a, I>(
        &'a self,
        items: &'a [&'a I],
        idx: Vec<usize>,
        error: GremlinError,
        out: &'a mut [Option<ItemOutcome>],
        stats: &'a mut Stats,
    ) -> BoxFuture<'a, ()>
    where
        I: Item + 'a,
    {
        Box::pin(async move {
            if error.is_retriable() {
                for &i in &idx {
                    out[i] = Some(self.exhausted(&error));
                }
            } else if idx.len() > 1 {
                metrics::counter!(m::BISECTIONS).increment(1);
                let mut left = idx;
                let right = left.split_off(left.len() / 2);
                self.write_rows(items, left, out, stats).await;
                self.write_rows(items, right, out, stats).await;
            } else if let Some(&i) = idx.first() {
                out[i] = Some(I::diagnose(self, items[i], &error, stats).await);
            }
        })
    }

    /// After the existence reads of the careful path: writes what is left (`todo`). When the
    /// sub-batch's checked merge was `refused` and the reads found nothing to explain it (no
    /// item present, no endpoint missing), the same write would fail the same way, so it is
    /// split at once.
    async fn write_rest<I: Item>(
        &self,
        items: &[&I],
        todo: Vec<usize>,
        refused: Option<GremlinError>,
        explained: bool,
        out: &mut [Option<ItemOutcome>],
        stats: &mut Stats,
    ) {
        match refused {
            Some(error) if !explained => self.settle_failure(items, todo, error, out, stats).await,
            _ => self.write_rows(items, todo, out, stats).await,
        }
    }

    /// With [`conflict_free`](GremlinSinkConfig::conflict_free), waits until no write in
    /// flight on this sink touches one of `vertices`, then holds them until the returned claim
    /// is dropped. On the careful path only the write is claimed: the existence reads before
    /// it run freely.
    async fn claim<'k>(&self, vertices: impl Iterator<Item = &'k str>) -> Option<Claim<'_>> {
        if !self.config.conflict_free {
            return None;
        }
        let mut keys: Vec<String> = vertices.map(str::to_owned).collect();
        keys.sort_unstable();
        keys.dedup();
        Some(self.claims.acquire(keys).await)
    }

    /// One sub-batch of edges.
    async fn edge_batch(&self, edges: &[&Edge]) -> (Vec<ItemOutcome>, Stats) {
        let mut stats = Stats::default();
        let mut refused = None;
        if self.config.check_existing && self.config.mode == WriteMode::Merge {
            match self.checked_merge(edges, &mut stats).await {
                Ok(outcomes) => return (outcomes, stats),
                Err(e) => refused = Some(e),
            }
        }
        let mut out: Vec<Option<ItemOutcome>> = vec![None; edges.len()];
        let mut explained = false;
        if self.config.check_existing {
            let mut endpoint_ids: Vec<&String> = Vec::new();
            let mut seen = HashSet::new();
            for e in edges {
                for v in [&e.from, &e.to] {
                    if seen.insert(v.as_str()) {
                        endpoint_ids.push(v);
                    }
                }
            }
            let mut s1 = Stats::default();
            let mut s2 = Stats::default();
            let (found_edges, found_vertices) = tokio::join!(
                self.existing_edges(edges, &mut s1, "lookup"),
                self.present_vertices(&endpoint_ids, &mut s2, "lookup"),
            );
            stats.add(s1);
            stats.add(s2);
            let (found_edges, mut found_vertices) = match (found_edges, found_vertices) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => {
                    return (edges.iter().map(|_| failure_from(&e)).collect(), stats);
                }
            };
            explained = !found_edges.is_empty() || found_vertices.len() < endpoint_ids.len();
            if let Some(label) = &self.config.create_missing_vertices {
                let missing: Vec<Vertex> = endpoint_ids
                    .iter()
                    .filter(|v| !found_vertices.contains(v.as_str()))
                    .map(|v| Vertex::new(v.as_str(), label.as_str()))
                    .collect();
                if !missing.is_empty() {
                    let refs: Vec<&Vertex> = missing.iter().collect();
                    let (outcomes, s) = self.vertex_batch(&refs).await;
                    stats.add(s);
                    for (v, o) in missing.iter().zip(outcomes) {
                        if o.is_success() {
                            found_vertices.insert(v.id.clone());
                        }
                    }
                }
            }
            for (i, e) in edges.iter().enumerate() {
                if let Some(ends) = found_edges.get(&e.id) {
                    out[i] = Some(edge_match(e, ends));
                } else if let Some(v) = [&e.from, &e.to]
                    .into_iter()
                    .find(|v| !found_vertices.contains(v.as_str()))
                {
                    out[i] = Some(ItemOutcome::Failed(ItemFailure::MissingVertex {
                        id: v.clone(),
                    }));
                }
            }
        }
        let todo: Vec<usize> = (0..edges.len()).filter(|&i| out[i].is_none()).collect();
        let _claim = self
            .claim(todo.iter().flat_map(|&i| edges[i].touches()))
            .await;
        self.write_rest(edges, todo, refused, explained, &mut out, &mut stats)
            .await;
        (finish(out), stats)
    }

    /// One sub-batch of vertices.
    async fn vertex_batch(&self, vertices: &[&Vertex]) -> (Vec<ItemOutcome>, Stats) {
        let mut stats = Stats::default();
        let mut refused = None;
        if self.config.check_existing && self.config.mode == WriteMode::Merge {
            match self.checked_merge(vertices, &mut stats).await {
                Ok(outcomes) => return (outcomes, stats),
                Err(e) => refused = Some(e),
            }
        }
        let mut out: Vec<Option<ItemOutcome>> = vec![None; vertices.len()];
        let mut explained = false;
        if self.config.check_existing {
            let ids: Vec<&String> = vertices.iter().map(|v| &v.id).collect();
            match self.existing_vertices(&ids, &mut stats, "lookup").await {
                Ok(found) => {
                    explained = !found.is_empty();
                    for (i, v) in vertices.iter().enumerate() {
                        if let Some(label) = found.get(&v.id) {
                            out[i] = Some(vertex_match(v, label));
                        }
                    }
                }
                Err(e) => return (vertices.iter().map(|_| failure_from(&e)).collect(), stats),
            }
        }
        let todo: Vec<usize> = (0..vertices.len()).filter(|&i| out[i].is_none()).collect();
        let _claim = self
            .claim(todo.iter().map(|&i| vertices[i].id.as_str()))
            .await;
        self.write_rest(vertices, todo, refused, explained, &mut out, &mut stats)
            .await;
        (finish(out), stats)
    }

    /// Splits a call into sub-batches, runs them with bounded concurrency, and puts the
    /// outcomes back in input order. Items repeating an earlier id in the same call take the
    /// earlier item's outcome (a written original makes the repeat "already present").
    async fn write_all<'a, I, F>(&'a self, items: &'a [I], batch: F) -> WriteReport
    where
        I: Item,
        F: Fn(Vec<&'a I>) -> BoxFuture<'a, (Vec<ItemOutcome>, Stats)>,
    {
        let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; items.len()];
        let mut first: HashMap<&str, usize> = HashMap::new();
        let mut repeats = Vec::new();
        let mut unique = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(why) = item.invalid() {
                outcomes[i] = Some(ItemOutcome::Failed(ItemFailure::Invalid(why)));
            } else if let Some(&j) = first.get(item.id()) {
                repeats.push((i, j));
            } else {
                first.insert(item.id(), i);
                unique.push(i);
            }
        }
        // With one request in flight a call keeps its input order; claims still keep it
        // from conflicting with other calls running on the same sink.
        let chunks: Vec<Vec<usize>> = if self.config.in_flight > 1 && self.config.conflict_free {
            let components = group_by_component(items, &mut unique);
            interleave_components(&unique, &components, self.config.batch_size)
        } else {
            unique
                .chunks(self.config.batch_size)
                .map(<[usize]>::to_vec)
                .collect()
        };
        let progress = self.progress.clone();
        let run = |chunk: Vec<usize>| {
            let refs = chunk.iter().map(|&i| &items[i]).collect();
            let fut = batch(refs);
            let progress = progress.clone();
            async move {
                let (o, s) = fut.await;
                let failed = o.iter().filter(|o| !o.is_success()).count() as u64;
                progress.items.fetch_add(o.len() as u64, Ordering::Relaxed);
                progress.failed.fetch_add(failed, Ordering::Relaxed);
                progress
                    .requests
                    .fetch_add(u64::from(s.requests), Ordering::Relaxed);
                progress
                    .retries
                    .fetch_add(u64::from(s.retries), Ordering::Relaxed);
                (chunk, o, s)
            }
        };
        // Unordered: a sub-batch waiting for a claim never holds back the ones after it.
        let results: Vec<(Vec<usize>, Vec<ItemOutcome>, Stats)> =
            futures_util::stream::iter(chunks)
                .map(run)
                .buffer_unordered(self.config.in_flight)
                .collect()
                .await;
        let mut total = Stats::default();
        for (chunk, o, s) in results {
            total.add(s);
            for (i, o) in chunk.into_iter().zip(o) {
                outcomes[i] = Some(o);
            }
        }
        for (i, j) in repeats {
            outcomes[i] = Some(match &outcomes[j] {
                Some(ItemOutcome::Written) => ItemOutcome::AlreadyPresent,
                Some(other) => other.clone(),
                None => ItemOutcome::Failed(ItemFailure::Invalid("no outcome".into())),
            });
        }
        let outcomes = finish(outcomes);
        for o in &outcomes {
            let label = match o {
                ItemOutcome::Written => "written",
                ItemOutcome::AlreadyPresent => "already_present",
                ItemOutcome::Failed(_) => "failed",
            };
            metrics::counter!(m::ITEMS, "outcome" => label).increment(1);
        }
        WriteReport {
            outcomes,
            requests: total.requests,
            retries: total.retries,
        }
    }
}

/// The vertices touched by the sub-batches in flight on a sink.
#[derive(Debug, Default)]
struct VertexClaims {
    busy: std::sync::Mutex<HashSet<String>>,
    released: tokio::sync::Notify,
}

impl VertexClaims {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // The set stays consistent even if a holder panicked: every update is one call.
        self.busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until none of `keys` is held, then holds them all. All at once or nothing, so
    /// two writers can never hold part of what the other waits for (no deadlock).
    async fn acquire(&self, keys: Vec<String>) -> Claim<'_> {
        loop {
            // Registered before looking, so a release in between is not missed.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            {
                let mut busy = self.lock();
                if keys.iter().all(|k| !busy.contains(k)) {
                    busy.extend(keys.iter().cloned());
                    return Claim { claims: self, keys };
                }
            }
            released.await;
        }
    }
}

/// Vertices held for one write; released when dropped (also when the write is cancelled).
struct Claim<'a> {
    claims: &'a VertexClaims,
    keys: Vec<String>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        {
            let mut busy = self.claims.lock();
            for k in &self.keys {
                busy.remove(k);
            }
        }
        self.claims.released.notify_waiters();
    }
}

/// Cuts `order` (grouped by component, see [`group_by_component`]) into sub-batches of
/// `batch_size` and deals them out round-robin over the components their first items belong
/// to: the sub-batches started together then come from different components, which can be
/// written side by side, instead of queueing behind each other on shared vertices.
fn interleave_components(
    order: &[usize],
    components: &[usize],
    batch_size: usize,
) -> Vec<Vec<usize>> {
    let mut dealt: Vec<(usize, usize, Vec<usize>)> = Vec::new();
    let mut per_component: HashMap<usize, usize> = HashMap::new();
    for (n, chunk) in order.chunks(batch_size).enumerate() {
        let component = components[n * batch_size];
        let rank = per_component.entry(component).or_insert(0);
        dealt.push((*rank, component, chunk.to_vec()));
        *rank += 1;
    }
    dealt.sort_by_key(|(rank, component, _)| (*rank, *component));
    dealt.into_iter().map(|(_, _, chunk)| chunk).collect()
}

/// Reorders `order` (indexes into `items`) so that items of the same connected component
/// (items linked through shared vertices) are adjacent, components in order of first
/// appearance and items in input order within each, and returns each position's component
/// number (0 for the first seen). Sub-batches cut from the result touch as few other
/// sub-batches' vertices as the data allows.
fn group_by_component<I: Item>(items: &[I], order: &mut Vec<usize>) -> Vec<usize> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut parent: Vec<usize> = Vec::new();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut node = |key| {
        *index.entry(key).or_insert_with(|| {
            parent.push(parent.len());
            parent.len() - 1
        })
    };
    let ends: Vec<(usize, usize)> = order
        .iter()
        .map(|&i| {
            let [a, b] = items[i].touches();
            (node(a), node(b))
        })
        .collect();
    for &(a, b) in &ends {
        let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut first_seen: HashMap<usize, usize> = HashMap::new();
    let mut keyed: Vec<(usize, usize, usize)> = order
        .iter()
        .zip(&ends)
        .enumerate()
        .map(|(pos, (&i, &(a, _)))| {
            let r = root(&mut parent, a);
            let next = first_seen.len();
            (*first_seen.entry(r).or_insert(next), pos, i)
        })
        .collect();
    keyed.sort_unstable();
    *order = keyed.iter().map(|&(_, _, i)| i).collect();
    keyed.into_iter().map(|(c, _, _)| c).collect()
}

fn finish(out: Vec<Option<ItemOutcome>>) -> Vec<ItemOutcome> {
    out.into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                ItemOutcome::Failed(ItemFailure::Invalid("no outcome was determined".into()))
            })
        })
        .collect()
}

#[async_trait]
impl GraphSink for GremlinSink {
    async fn write_vertices(&self, vertices: &[Vertex]) -> Result<WriteReport, SinkError> {
        Ok(self
            .write_all(vertices, |refs| {
                Box::pin(async move { self.vertex_batch(&refs).await })
            })
            .await)
    }

    async fn write_edges(&self, edges: &[Edge]) -> Result<WriteReport, SinkError> {
        Ok(self
            .write_all(edges, |refs| {
                Box::pin(async move { self.edge_batch(&refs).await })
            })
            .await)
    }

    /// `g.inject(0)`: one round trip that touches no data, bounded by
    /// [`GremlinSinkConfig::probe_timeout`] (connecting included). Neptune: `inject` runs
    /// natively.
    async fn probe(&self) -> Result<(), SinkError> {
        let probe = Request::Bytecode(crate::Bytecode::new().step("inject", [0i64]));
        let answer =
            tokio::time::timeout(self.config.probe_timeout, self.transport.request(&probe))
                .await
                .unwrap_or(Err(GremlinError::Timeout(self.config.probe_timeout)));
        answer.map(|_| ()).map_err(|e| SinkError::Connect {
            endpoint: self.config.writer.url.clone(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: &str, to: &str) -> Edge {
        Edge::new(format!("{from}-{to}"), "follows", from, to)
    }

    #[test]
    fn items_are_grouped_by_component_in_order_of_first_appearance() {
        // Components: {a,b,c} (linked through b), {x,y}, {p,q}.
        let items = [
            edge("a", "b"),
            edge("x", "y"),
            edge("c", "b"),
            edge("p", "q"),
            edge("y", "x"),
            edge("a", "c"),
        ];
        let mut order: Vec<usize> = (0..items.len()).collect();
        let components = group_by_component(&items, &mut order);
        assert_eq!(order, vec![0, 2, 5, 1, 4, 3]);
        assert_eq!(components, vec![0, 0, 0, 1, 1, 2]);
    }

    #[test]
    fn sub_batches_are_dealt_round_robin_over_components() {
        // Component 0 has five items, component 1 three, component 2 one; batches of two:
        // [10,11] [12,13] [14,20] from component 0, [21,22] from 1, [30] from 2.
        let order = [10, 11, 12, 13, 14, 20, 21, 22, 30];
        let components = [0, 0, 0, 0, 0, 1, 1, 1, 2];
        let chunks = interleave_components(&order, &components, 2);
        assert_eq!(
            chunks,
            vec![
                vec![10, 11],
                vec![21, 22],
                vec![30],
                vec![12, 13],
                vec![14, 20],
            ]
        );
    }
}
