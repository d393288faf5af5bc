//! [`GraphSink`] over a Gremlin endpoint (Amazon Neptune or Apache TinkerPop Gremlin Server).

use crate::error::SinkError;
use crate::graphson::GValue;
use crate::gremlin_sink_config::GremlinSinkConfig;
use crate::metrics as m;
use crate::model::{Edge, Vertex};
use crate::outcome::{ItemFailure, ItemOutcome, WriteReport};
use crate::scheduler::take_batch;
use crate::session_lane::{SessionLane, LANE_DEPTH};
use crate::sink::GraphSink;
use crate::sizing::{Controller, Observation, Sizing, SizingSample};
use crate::transport::{ErrorClass, GremlinError, GremlinTransport, Request};
use crate::write_traversals::{self as wt, WriteMode};
use async_trait::async_trait;
use futures_util::future::BoxFuture;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
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
    /// Retries after a conflict, throttling or a timeout: signals to send less.
    backoff: u32,
    /// A write request's answer was lost after it was sent (broken connection, timeout,
    /// unreadable answer): it may have been committed.
    unconfirmed: bool,
}

impl Stats {
    fn add(&mut self, other: Stats) {
        self.requests += other.requests;
        self.retries += other.retries;
        self.backoff += other.backoff;
        self.unconfirmed |= other.unconfirmed;
    }
}

/// Writes vertices and edges to a Gremlin endpoint in sub-batches, one request each, and
/// reports one outcome per item.
///
/// Items of every concurrent `write_*` call wait in one queue on the sink; each request takes
/// the oldest items whose vertices no request in flight touches (see
/// [`conflict_free`](GremlinSinkConfig::conflict_free)), up to the batch size, and up to the
/// limit of requests in flight run at once. Both the batch size and that limit adapt to the
/// server unless the configuration pins them ([`GremlinSinkConfig::batch_size`],
/// [`GremlinSinkConfig::in_flight`]); [`sizing`](Self::sizing) and
/// [`sizing_history`](Self::sizing_history) tell what was chosen.
///
/// Per request:
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
/// The requests run as Tokio tasks: a `write_*` call must run inside a Tokio runtime. A call
/// that is dropped before it returns takes its items that no request has taken yet off the
/// queue; the requests already sent complete.
pub struct GremlinSink {
    inner: Arc<Inner>,
}

/// The sink's state, shared with the tasks that run its requests.
struct Inner {
    transport: GremlinTransport,
    /// The session the merges queue in, where the server allows it.
    lane: Option<SessionLane>,
    config: GremlinSinkConfig,
    progress: ProgressCounters,
    controller: Mutex<Controller>,
    edges: Mutex<Pool<Edge>>,
    vertices: Mutex<Pool<Vertex>>,
}

/// Items waiting for a request, and what the requests in flight hold.
struct Pool<I> {
    pending: VecDeque<Waiting<I>>,
    /// Vertices touched by requests in flight.
    busy: HashSet<String>,
    running: usize,
}

impl<I> Default for Pool<I> {
    fn default() -> Self {
        Self {
            pending: VecDeque::new(),
            busy: HashSet::new(),
            running: 0,
        }
    }
}

/// One waiting item: a copy, the call it belongs to and its place in that call.
struct Waiting<I> {
    item: I,
    call: Arc<Call>,
    index: usize,
}

/// One `write_*` call waiting for its items' outcomes.
struct Call {
    outcomes: Mutex<Vec<Option<ItemOutcome>>>,
    stats: Mutex<Stats>,
    remaining: AtomicUsize,
    done: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Call {
    fn deliver(&self, index: usize, outcome: ItemOutcome) {
        lock(&self.outcomes)[index] = Some(outcome);
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(done) = lock(&self.done).take() {
                let _ = done.send(());
            }
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (every update is
/// one step).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl std::fmt::Debug for GremlinSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GremlinSink")
            .field("transport", &self.inner.transport)
            .field("mode", &self.inner.config.mode)
            .field("sizing", &self.sizing())
            .finish_non_exhaustive()
    }
}

/// What the sink needs to know about an item to write it and examine a failure.
trait Item: Clone + Send + Sync + 'static {
    /// The sink's queue of items of this kind.
    fn pool(sink: &Inner) -> &Mutex<Pool<Self>>;
    /// Writes one request's items.
    fn write_batch<'a>(
        sink: &'a Inner,
        items: &'a [&'a Self],
    ) -> BoxFuture<'a, (Vec<ItemOutcome>, Stats)>;
    fn id(&self) -> &str;
    /// The vertices a write of this item changes (what two transactions can conflict on); the
    /// first is its key, whose writes keep their order (an edge's `from`, the stream's
    /// partition key).
    fn touches(&self) -> [&str; 2];
    fn invalid(&self) -> Option<String>;
    fn traversal(mode: WriteMode, items: &[&Self]) -> crate::Bytecode;
    /// The merge that also answers, one row per item found (keyed `i`), which items existed;
    /// `create_missing` names the label of endpoint vertices to create (edges only).
    fn checked_merge(items: &[&Self], create_missing: Option<&str>) -> crate::Bytecode;
    /// The outcome for an item found in the graph, from its row in the answer.
    fn found(&self, row: &GValue) -> ItemOutcome;
    fn diagnose<'a>(
        sink: &'a Inner,
        item: &'a Self,
        error: &'a GremlinError,
        stats: &'a mut Stats,
    ) -> BoxFuture<'a, ItemOutcome>;
}

impl Item for Edge {
    fn pool(sink: &Inner) -> &Mutex<Pool<Self>> {
        &sink.edges
    }
    fn write_batch<'a>(
        sink: &'a Inner,
        items: &'a [&'a Self],
    ) -> BoxFuture<'a, (Vec<ItemOutcome>, Stats)> {
        Box::pin(sink.edge_batch(items))
    }
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
        sink: &'a Inner,
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
    fn pool(sink: &Inner) -> &Mutex<Pool<Self>> {
        &sink.vertices
    }
    fn write_batch<'a>(
        sink: &'a Inner,
        items: &'a [&'a Self],
    ) -> BoxFuture<'a, (Vec<ItemOutcome>, Stats)> {
        Box::pin(sink.vertex_batch(items))
    }
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
        sink: &'a Inner,
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
        let lane = if config.queue_in_session
            && config.mode == WriteMode::Merge
            && config.check_existing
            && config.conflict_free
        {
            SessionLane::open(&config.writer, &transport).await
        } else {
            None
        };
        let mut sink = Self::with_transport(transport, config);
        if let Some(lane) = lane {
            let inner = Arc::get_mut(&mut sink.inner).expect("a new sink is not shared");
            let depth = inner.config.in_flight.unwrap_or(LANE_DEPTH);
            inner.controller = Mutex::new(Controller::new(
                inner.config.adaptive,
                inner.config.batch_size,
                Some(depth),
            ));
            inner.lane = Some(lane);
        }
        Ok(sink)
    }

    /// A sink over an existing transport (its configuration replaces `config.writer`).
    pub fn with_transport(transport: GremlinTransport, mut config: GremlinSinkConfig) -> Self {
        config.writer = transport.config().clone();
        m::describe();
        let controller = Controller::new(config.adaptive, config.batch_size, config.in_flight);
        Self {
            inner: Arc::new(Inner {
                transport,
                lane: None,
                config,
                progress: ProgressCounters::default(),
                controller: Mutex::new(controller),
                edges: Mutex::default(),
                vertices: Mutex::default(),
            }),
        }
    }

    /// Whether the merges queue in a Gremlin Server session (see
    /// [`GremlinSinkConfig::queue_in_session`]).
    pub fn queues_in_session(&self) -> bool {
        self.inner.lane.is_some()
    }

    /// The transport, e.g. to run queries on the writer.
    pub fn transport(&self) -> &GremlinTransport {
        &self.inner.transport
    }

    /// The configuration.
    pub fn config(&self) -> &GremlinSinkConfig {
        &self.inner.config
    }

    /// Totals over every call so far.
    pub fn progress(&self) -> SinkProgress {
        let p = &self.inner.progress;
        SinkProgress {
            items: p.items.load(Ordering::Relaxed),
            failed: p.failed.load(Ordering::Relaxed),
            requests: p.requests.load(Ordering::Relaxed),
            retries: p.retries.load(Ordering::Relaxed),
        }
    }

    /// The batch size and the limit of requests in flight in force now, and whether each is
    /// adapted or was given (also published as the gauges [`m::BATCH_SIZE`] and
    /// [`m::IN_FLIGHT_LIMIT`]).
    pub fn sizing(&self) -> Sizing {
        lock(&self.inner.controller).sizing()
    }

    /// The controller's decisions so far, one per request answered (the last
    /// [`HISTORY_LIMIT`](crate::sizing::HISTORY_LIMIT)), oldest first: what it chose over
    /// time, for a chart or a report.
    pub fn sizing_history(&self) -> Vec<SizingSample> {
        lock(&self.inner.controller).history()
    }

    /// Queues a call's items, starts what requests it can, and waits for every outcome. Items
    /// repeating an earlier id in the same call take the earlier item's outcome (a written
    /// original makes the repeat "already present").
    async fn write_all<I: Item>(&self, items: &[I]) -> WriteReport {
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
        let (done, finished) = tokio::sync::oneshot::channel();
        let call = Arc::new(Call {
            outcomes: Mutex::new(vec![None; items.len()]),
            stats: Mutex::default(),
            remaining: AtomicUsize::new(unique.len()),
            done: Mutex::new(Some(done)),
        });
        if !unique.is_empty() {
            let waiting = unique.iter().map(|&i| Waiting {
                item: items[i].clone(),
                call: call.clone(),
                index: i,
            });
            lock(I::pool(&self.inner)).pending.extend(waiting);
            let _leave = LeaveQueue::<I> {
                sink: &self.inner,
                call: &call,
                kind: std::marker::PhantomData,
            };
            Inner::dispatch::<I>(&self.inner);
            let _ = finished.await;
        }
        for (slot, o) in outcomes.iter_mut().zip(lock(&call.outcomes).drain(..)) {
            if slot.is_none() {
                *slot = o;
            }
        }
        let total = *lock(&call.stats);
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

/// Takes a call's items that no request has taken yet off the queue when the call ends early
/// (its future dropped); after a complete call there are none.
struct LeaveQueue<'a, I: Item> {
    sink: &'a Inner,
    call: &'a Arc<Call>,
    kind: std::marker::PhantomData<I>,
}

impl<I: Item> Drop for LeaveQueue<'_, I> {
    fn drop(&mut self) {
        if self.call.remaining.load(Ordering::Acquire) > 0 {
            lock(I::pool(self.sink))
                .pending
                .retain(|w| !Arc::ptr_eq(&w.call, self.call));
        }
    }
}

/// A request's items and the vertices they hold while it runs. Dropped (normally after the
/// outcomes were delivered, or if the task stopped), it releases the vertices and starts
/// whatever can run next; items without an outcome then fail rather than wait forever.
struct Running<I: Item> {
    sink: Arc<Inner>,
    batch: Vec<Waiting<I>>,
    keys: Vec<String>,
    /// The batch size in force when it was built.
    batch_size: usize,
}

impl<I: Item> Drop for Running<I> {
    fn drop(&mut self) {
        for w in self.batch.drain(..) {
            w.call.deliver(
                w.index,
                // The request may have been sent: the item may be written.
                ItemOutcome::Failed(ItemFailure::Unconfirmed {
                    attempts: 0,
                    last_error: "the write task stopped before an answer".into(),
                }),
            );
        }
        {
            let mut pool = lock(I::pool(&self.sink));
            pool.running -= 1;
            for k in &self.keys {
                pool.busy.remove(k);
            }
        }
        Inner::dispatch::<I>(&self.sink);
    }
}

impl Inner {
    /// Starts requests while the limit allows and waiting items can go (their vertices free).
    /// When fewer items wait than the free requests could take at the current batch size,
    /// they are shared out over those requests, so that they run side by side. While requests
    /// are in flight, a request that could take only a fraction of what it may ([`MIN_FILL`])
    /// is not sent: its items wait for a request in flight to release the vertices that hold
    /// the others back, and go with them in one larger request (one transaction costs the
    /// server less than several small ones, and each super-connector it touches is updated
    /// once).
    fn dispatch<I: Item>(sink: &Arc<Inner>) {
        loop {
            let (batch, keys, batch_size) = {
                let mut controller = lock(&sink.controller);
                let (limit, size) = (controller.in_flight(), controller.batch_size());
                let mut pool = lock(I::pool(sink));
                metrics::gauge!(m::PENDING_ITEMS).set(pool.pending.len() as f64);
                if pool.running >= limit || pool.pending.is_empty() {
                    return;
                }
                let free = limit - pool.running;
                let share = pool.pending.len().div_ceil(free);
                let floor = sink.config.adaptive.min_batch_size.max(MIN_SHARE);
                let max = share.max(floor).min(size);
                let min = if pool.running == 0 { 1 } else { max / MIN_FILL };
                // In the session the server runs the requests in turn: only the keys' order
                // needs holding, not every vertex.
                let keys_only = sink.lane.is_some();
                let Pool { pending, busy, .. } = &mut *pool;
                let (batch, keys) = take_batch(
                    pending,
                    busy,
                    (min.max(1), max),
                    sink.config.conflict_free,
                    |w: &Waiting<I>| {
                        let [key, other] = w.item.touches();
                        [key, if keys_only { key } else { other }]
                    },
                );
                if batch.is_empty() {
                    return;
                }
                if sink.config.conflict_free {
                    pool.busy.extend(keys.iter().cloned());
                }
                pool.running += 1;
                controller.started(pool.running);
                (batch, keys, size)
            };
            let running = Running {
                sink: sink.clone(),
                batch,
                keys: if sink.config.conflict_free {
                    keys
                } else {
                    Vec::new()
                },
                batch_size,
            };
            tokio::spawn(Self::run(running));
        }
    }

    /// Writes one request's items, delivers their outcomes and tells the controller.
    async fn run<I: Item>(mut running: Running<I>) {
        let sink = running.sink.clone();
        let started = Instant::now();
        let (outcomes, stats) = {
            let refs: Vec<&I> = running.batch.iter().map(|w| &w.item).collect();
            I::write_batch(&sink, &refs).await
        };
        let latency = started.elapsed();
        let p = &sink.progress;
        let failed = outcomes.iter().filter(|o| !o.is_success()).count() as u64;
        p.items.fetch_add(outcomes.len() as u64, Ordering::Relaxed);
        p.failed.fetch_add(failed, Ordering::Relaxed);
        p.requests
            .fetch_add(u64::from(stats.requests), Ordering::Relaxed);
        p.retries
            .fetch_add(u64::from(stats.retries), Ordering::Relaxed);
        let items = running.batch.len();
        if let Some(w) = running.batch.first() {
            lock(&w.call.stats).add(stats);
        }
        for (w, o) in running.batch.drain(..).zip(outcomes) {
            w.call.deliver(w.index, o);
        }
        lock(&sink.controller).observe(Observation {
            items,
            batch_size: running.batch_size,
            latency,
            backoff: stats.backoff > 0,
        });
        drop(running);
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
            let transport = match (&self.lane, request) {
                (Some(lane), Request::Session { .. }) => lane.transport(),
                _ => &self.transport,
            };
            let result = transport.request(request).await;
            if kind == "write" {
                metrics::histogram!(m::WRITE_SECONDS).record(started.elapsed().as_secs_f64());
                if let Err(
                    GremlinError::ConnectionLost(_)
                    | GremlinError::Timeout(_)
                    | GremlinError::Protocol(_),
                ) = &result
                {
                    stats.unconfirmed = true;
                }
            }
            match result {
                Ok(v) => return Ok(v),
                Err(e) if e.is_retriable() && retry < policy.max_retries => {
                    metrics::counter!(m::RETRIES, "reason" => e.reason()).increment(1);
                    stats.retries += 1;
                    if matches!(
                        e.class(),
                        Some(ErrorClass::ConcurrentModification | ErrorClass::Throttled)
                    ) || matches!(e, GremlinError::Timeout(_))
                    {
                        stats.backoff += 1;
                    }
                    // Lost connections and timeouts say the endpoint is in trouble: an
                    // operator wants them at the default level. Conflicts are routine.
                    if e.class().is_none() {
                        tracing::info!(error = %e, retry, kind, "retrying a Gremlin request");
                    } else {
                        tracing::debug!(error = %e, retry, kind, "retrying a Gremlin request");
                    }
                    if e.class() == Some(ErrorClass::ReadOnly) {
                        self.transport.reconnect().await;
                        if let Some(lane) = &self.lane {
                            lane.transport().reconnect().await;
                        }
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

    /// The outcome of an item whose request still failed transiently after every retry;
    /// `unconfirmed` when one of the attempts may have been committed.
    fn exhausted(&self, error: &GremlinError, unconfirmed: bool) -> ItemOutcome {
        let attempts = self.config.retry.max_retries + 1;
        let last_error = error.to_string();
        ItemOutcome::Failed(if unconfirmed {
            ItemFailure::Unconfirmed {
                attempts,
                last_error,
            }
        } else {
            ItemFailure::RetriesExhausted {
                attempts,
                last_error,
            }
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
        let traversal = I::checked_merge(items, self.config.create_missing_vertices.as_deref());
        let request = match &self.lane {
            Some(lane) => lane.request(traversal),
            None => Request::Bytecode(traversal),
        };
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
            Err(e) if e.is_retriable() => Ok(items
                .iter()
                .map(|_| self.exhausted(&e, stats.unconfirmed))
                .collect()),
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
                    out[i] = Some(self.exhausted(&error, stats.unconfirmed));
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
        self.write_rest(vertices, todo, refused, explained, &mut out, &mut stats)
            .await;
        (finish(out), stats)
    }
}

/// The smallest request built by sharing waiting items out over free requests.
const MIN_SHARE: usize = 50;
/// While requests are in flight, a new one goes only if it takes at least 1/`MIN_FILL` of
/// what it may take.
const MIN_FILL: usize = 4;

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
        Ok(self.write_all(vertices).await)
    }

    async fn write_edges(&self, edges: &[Edge]) -> Result<WriteReport, SinkError> {
        Ok(self.write_all(edges).await)
    }

    /// `g.inject(0)`: one round trip that touches no data, bounded by
    /// [`GremlinSinkConfig::probe_timeout`] (connecting included). Neptune: `inject` runs
    /// natively.
    async fn probe(&self) -> Result<(), SinkError> {
        let probe = Request::Bytecode(crate::Bytecode::new().step("inject", [0i64]));
        let answer = tokio::time::timeout(
            self.config().probe_timeout,
            self.transport().request(&probe),
        )
        .await
        .unwrap_or(Err(GremlinError::Timeout(self.config().probe_timeout)));
        answer.map(|_| ()).map_err(|e| SinkError::Connect {
            endpoint: self.config().writer.url.clone(),
            message: e.to_string(),
        })
    }
}
