//! The sink's queue: the items of every concurrent `write_*` call wait here, and each request
//! takes its items from it.
//!
//! Two transactions that add edges to the same vertex conflict, on Neptune and on the
//! transactional TinkerGraph alike; on a graph with super-connectors nearly every batch of
//! follows touches one, so cutting the input into consecutive requests and sending them side
//! by side either fails them against each other or, if writes sharing a vertex are made to
//! wait for each other, sends them one at a time. Instead, every item waiting on a sink (from
//! all concurrent calls) is in one queue, oldest first, and each new request takes, in queue
//! order, the items none of whose vertices is held by a request in flight. The vertices of the
//! items it takes are then held until it is answered. Items it passes over keep their place,
//! and so do later items with the same key (an edge's `from`, the stream's partition key):
//! items of one key go out in the order given. A super-connector is thus in one request at a
//! time, which takes every edge to it that waited meanwhile (one transaction updates it once
//! for all of them), while the other requests in flight write the rest of the graph.
//!
//! Only the key's order is kept, not every vertex's: keeping the order of writes to each
//! vertex would make an edge passed over for its busy super-connector hold back every later
//! edge of its follower, and those the later edges of everyone they follow, and so on, until
//! little but the super-connectors' requests could run. Edges are merged by id, so the order
//! of writes to different edges does not change the graph they leave.
//!
//! In a session the server runs the requests in turn, so only the keys are held there.

use super::encode::{finish, Item};
use super::service::Stats;
use super::take::{take_batch, Held, Holds, Touches};
use super::write::Writer;
use crate::metrics as m;
use crate::model::{Edge, Vertex};
use crate::mutation::{Change, Mutation};
use crate::outcome::{ItemFailure, ItemOutcome, WriteReport};
use crate::sizing::{Controller, Observation, Sizing, SizingSample};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use stream2neptune_common::lock;

/// The smallest request built by sharing waiting items out over free requests.
const MIN_SHARE: usize = 50;
/// While requests are in flight, a new one goes only if it takes at least 1/`MIN_FILL` of
/// what it may take.
const MIN_FILL: usize = 4;

/// Totals over every call, for [`SinkProgress`](super::SinkProgress).
#[derive(Debug, Default)]
pub(super) struct Progress {
    pub items: AtomicU64,
    pub failed: AtomicU64,
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub conflict_sleep_us: AtomicU64,
}

/// How a request takes its items from the queue.
#[derive(Debug, Clone, Copy)]
pub(super) struct Taking {
    /// Requests in flight never share a vertex (or, with `keys_only`, a key).
    pub conflict_free: bool,
    /// Only each item's key is held: the requests run in turn in a session.
    pub keys_only: bool,
    /// The smallest request formed by sharing items out over free requests.
    pub min_share: usize,
}

impl Taking {
    pub(super) fn new(conflict_free: bool, keys_only: bool, min_batch_size: usize) -> Self {
        Self {
            conflict_free,
            keys_only,
            min_share: min_batch_size.max(MIN_SHARE),
        }
    }
}

/// The items waiting, the requests running, and what decides their size and number.
#[derive(Debug)]
pub(super) struct Queue {
    writer: Writer,
    taking: Taking,
    controller: Mutex<Controller>,
    progress: Progress,
    edges: Mutex<Pool<Edge>>,
    vertices: Mutex<Pool<Vertex>>,
    mutations: Mutex<Pool<Mutation>>,
}

/// Items waiting for a request, and what the requests in flight hold.
#[derive(Debug)]
pub(super) struct Pool<I> {
    pending: VecDeque<Waiting<I>>,
    /// What requests in flight hold.
    busy: Holds,
    running: usize,
}

impl<I> Default for Pool<I> {
    fn default() -> Self {
        Self {
            pending: VecDeque::new(),
            busy: Holds::default(),
            running: 0,
        }
    }
}

/// One waiting item: a copy, the call it belongs to and its place in that call.
#[derive(Debug)]
struct Waiting<I> {
    item: I,
    call: Arc<Call>,
    index: usize,
}

/// One `write_*` call waiting for its items' outcomes.
#[derive(Debug)]
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

/// The items a queue holds: one pool per kind, each written its own way.
pub(super) trait Queued: Clone + Send + Sync + 'static {
    fn pool(queue: &Queue) -> &Mutex<Pool<Self>>;
    /// The id whose repeats within one call take its outcome (creates), if repeats merge.
    fn repeat_id(&self) -> Option<&str>;
    /// Why the item cannot be written at all, if it cannot.
    fn invalid(&self) -> Option<String>;
    /// What the item holds while its request runs; `in_session`: the requests of the sink run
    /// one after another on the server.
    fn touches(&self, in_session: bool) -> Touches<'_>;
    /// Writes one request's items and tells what happened to each.
    fn write<'a>(
        writer: &'a Writer,
        items: &'a [&'a Self],
    ) -> BoxFuture<'a, (Vec<ItemOutcome>, Stats)>;
}

/// Creates: only each key's order matters (creates of different elements commute), and in a
/// session only the key is held.
fn create_touches<I: Item>(item: &I, in_session: bool) -> Touches<'_> {
    let [key, other] = item.touches();
    Touches {
        key,
        others: if in_session {
            [key, key]
        } else {
            [other, other]
        },
        exclusive: false,
        shared: false,
        own: false,
    }
}

impl Queued for Edge {
    fn pool(queue: &Queue) -> &Mutex<Pool<Self>> {
        &queue.edges
    }
    fn repeat_id(&self) -> Option<&str> {
        Some(&self.id)
    }
    fn invalid(&self) -> Option<String> {
        Item::invalid(self)
    }
    fn touches(&self, in_session: bool) -> Touches<'_> {
        create_touches(self, in_session)
    }
    fn write<'a>(
        writer: &'a Writer,
        items: &'a [&'a Self],
    ) -> BoxFuture<'a, (Vec<ItemOutcome>, Stats)> {
        Box::pin(writer.write(items))
    }
}

impl Queued for Vertex {
    fn pool(queue: &Queue) -> &Mutex<Pool<Self>> {
        &queue.vertices
    }
    fn repeat_id(&self) -> Option<&str> {
        Some(&self.id)
    }
    fn invalid(&self) -> Option<String> {
        Item::invalid(self)
    }
    fn touches(&self, in_session: bool) -> Touches<'_> {
        create_touches(self, in_session)
    }
    /// Vertices with set-valued properties are created as changes (that keep what exists),
    /// whose writes give each value of a set its own property; a create's merge map cannot.
    fn write<'a>(
        writer: &'a Writer,
        items: &'a [&'a Self],
    ) -> BoxFuture<'a, (Vec<ItemOutcome>, Stats)> {
        let sets = items.iter().any(|v| {
            v.properties
                .iter()
                .any(|(_, p)| matches!(p, crate::model::PropertyValue::Set(_)))
        });
        if !sets {
            return Box::pin(writer.write(items));
        }
        Box::pin(async move {
            let changes: Vec<Mutation> =
                items.iter().map(|v| Mutation::from((*v).clone())).collect();
            let refs: Vec<&Mutation> = changes.iter().collect();
            writer.apply(&refs).await
        })
    }
}

/// Changes: each element's changes keep their order, and the vertices a change depends on are
/// held so that requests in flight do not change what another has read. Outside a session
/// an edge's ends are held alone (two transactions writing edges to one vertex conflict); in
/// a session the requests run in turn, so an edge's ends are shared by every request writing
/// edges to them and wait only for a write of the vertex itself (the write's guard would
/// fail). What another request's write does change after a read (a placeholder made or
/// dropped) fails the guard, and the change is read and decided again.
impl Queued for Mutation {
    fn pool(queue: &Queue) -> &Mutex<Pool<Self>> {
        &queue.mutations
    }
    fn repeat_id(&self) -> Option<&str> {
        None
    }
    fn invalid(&self) -> Option<String> {
        Mutation::invalid(self)
    }
    fn touches(&self, in_session: bool) -> Touches<'_> {
        let key = self.key();
        match &self.change {
            Change::UpsertEdge { edge, .. } => Touches {
                key,
                others: [&edge.from, &edge.to],
                exclusive: false,
                shared: in_session,
                own: false,
            },
            Change::DeleteVertex { .. } => Touches {
                key,
                others: [key, key],
                exclusive: true,
                shared: in_session,
                own: false,
            },
            _ => Touches {
                key,
                others: [key, key],
                exclusive: false,
                shared: in_session,
                // A vertex's own change beside edges at it: see `Touches::own`.
                own: in_session && matches!(self.element(), crate::ElementId::Vertex(_)),
            },
        }
    }
    fn write<'a>(
        writer: &'a Writer,
        items: &'a [&'a Self],
    ) -> BoxFuture<'a, (Vec<ItemOutcome>, Stats)> {
        Box::pin(writer.apply(items))
    }
}

impl Queue {
    pub(super) fn new(writer: Writer, taking: Taking, controller: Controller) -> Self {
        Self {
            writer,
            taking,
            controller: Mutex::new(controller),
            progress: Progress::default(),
            edges: Mutex::default(),
            vertices: Mutex::default(),
            mutations: Mutex::default(),
        }
    }

    pub(super) fn writer(&self) -> &Writer {
        &self.writer
    }

    pub(super) fn progress(&self) -> &Progress {
        &self.progress
    }

    pub(super) fn sizing(&self) -> Sizing {
        lock(&self.controller).sizing()
    }

    pub(super) fn sizing_history(&self) -> Vec<SizingSample> {
        lock(&self.controller).history()
    }

    /// Queues a call's items, starts what requests it can, and waits for every outcome. Creates
    /// repeating an earlier id in the same call take the earlier item's outcome (a written
    /// original makes the repeat "already present"); changes are each applied, in order.
    pub(super) async fn write<I: Queued>(self: &Arc<Self>, items: &[I]) -> WriteReport {
        let mut outcomes: Vec<Option<ItemOutcome>> = vec![None; items.len()];
        let mut first: HashMap<&str, usize> = HashMap::new();
        let mut repeats = Vec::new();
        let mut unique = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(why) = item.invalid() {
                outcomes[i] = Some(ItemOutcome::Failed(ItemFailure::Invalid(why)));
            } else if let Some(&j) = item.repeat_id().and_then(|id| first.get(id)) {
                repeats.push((i, j));
            } else {
                if let Some(id) = item.repeat_id() {
                    first.insert(id, i);
                }
                unique.push(i);
            }
        }
        let (call, total) = self.wait_for(items, &unique).await;
        for (slot, o) in outcomes.iter_mut().zip(lock(&call.outcomes).drain(..)) {
            if slot.is_none() {
                *slot = o;
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
                ItemOutcome::Stale => "stale",
                _ => "failed",
            };
            metrics::counter!(m::ITEMS, "outcome" => label).increment(1);
        }
        WriteReport {
            outcomes,
            requests: total.requests,
            retries: total.retries,
            conflict_sleep_ms: super::service::millis(total.conflict_sleep_us),
        }
    }

    /// Queues `unique` of `items` as one call, and waits until each has its outcome.
    async fn wait_for<I: Queued>(
        self: &Arc<Self>,
        items: &[I],
        unique: &[usize],
    ) -> (Arc<Call>, Stats) {
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
            lock(I::pool(self)).pending.extend(waiting);
            let _leave = LeaveQueue::<I> {
                queue: self,
                call: &call,
                kind: std::marker::PhantomData,
            };
            self.dispatch::<I>();
            let _ = finished.await;
        }
        let total = *lock(&call.stats);
        (call, total)
    }

    /// Starts requests while the limit allows and waiting items can go (their vertices free).
    /// When fewer items wait than the free requests could take at the current batch size,
    /// they are shared out over those requests, so that they run side by side. While requests
    /// are in flight, a request that could take only a fraction of what it may ([`MIN_FILL`])
    /// is not sent: its items wait for a request in flight to release the vertices that hold
    /// the others back, and go with them in one larger request (one transaction costs the
    /// server less than several small ones, and each super-connector it touches is updated
    /// once).
    fn dispatch<I: Queued>(self: &Arc<Self>) {
        while let Some(running) = self.next_request::<I>() {
            tokio::spawn(Self::run(self.clone(), running));
        }
    }

    /// Takes the next request's items off the queue, if one can start now.
    fn next_request<I: Queued>(self: &Arc<Self>) -> Option<Running<I>> {
        let Taking {
            conflict_free,
            keys_only,
            min_share,
        } = self.taking;
        let mut controller = lock(&self.controller);
        let (limit, size) = (controller.in_flight(), controller.batch_size());
        let mut pool = lock(I::pool(self));
        metrics::gauge!(m::PENDING_ITEMS).set(pool.pending.len() as f64);
        if pool.running >= limit || pool.pending.is_empty() {
            return None;
        }
        let free = limit - pool.running;
        let share = pool.pending.len().div_ceil(free);
        let max = share.max(min_share).min(size);
        let min = if pool.running == 0 { 1 } else { max / MIN_FILL };
        let Pool { pending, busy, .. } = &mut *pool;
        let (batch, held) = take_batch(
            pending,
            busy,
            (min.max(1), max),
            conflict_free,
            |w: &Waiting<I>| w.item.touches(keys_only),
        );
        if batch.is_empty() {
            return None;
        }
        let held = if conflict_free {
            pool.busy.hold(&held);
            held
        } else {
            Held::default()
        };
        pool.running += 1;
        controller.started(pool.running);
        Some(Running {
            queue: self.clone(),
            batch,
            held,
            batch_size: size,
            released: false,
        })
    }

    /// Writes one request's items, delivers their outcomes, tells the controller, and then,
    /// its vertices released, starts whatever can run next. A panic while writing still ends
    /// the request: its items are reported unconfirmed.
    async fn run<I: Queued>(self: Arc<Self>, mut running: Running<I>) {
        let started = Instant::now();
        let refs: Vec<&I> = running.batch.iter().map(|w| &w.item).collect();
        let written = AssertUnwindSafe(I::write(&self.writer, &refs))
            .catch_unwind()
            .await;
        drop(refs);
        if let Ok((outcomes, stats)) = written {
            self.finish(&mut running, outcomes, stats, started);
        }
        running.release();
        self.dispatch::<I>();
    }

    /// Delivers a request's outcomes and records what it took.
    fn finish<I: Queued>(
        &self,
        running: &mut Running<I>,
        outcomes: Vec<ItemOutcome>,
        stats: Stats,
        started: Instant,
    ) {
        let latency = started.elapsed();
        let p = &self.progress;
        let failed = outcomes.iter().filter(|o| !o.is_success()).count() as u64;
        p.items.fetch_add(outcomes.len() as u64, Ordering::Relaxed);
        p.failed.fetch_add(failed, Ordering::Relaxed);
        p.requests
            .fetch_add(u64::from(stats.requests), Ordering::Relaxed);
        p.retries
            .fetch_add(u64::from(stats.retries), Ordering::Relaxed);
        p.conflict_sleep_us
            .fetch_add(stats.conflict_sleep_us, Ordering::Relaxed);
        let items = running.batch.len();
        if let Some(w) = running.batch.first() {
            lock(&w.call.stats).add(stats);
        }
        for (w, o) in running.batch.drain(..).zip(outcomes) {
            w.call.deliver(w.index, o);
        }
        lock(&self.controller).observe(Observation {
            items,
            batch_size: running.batch_size,
            latency,
            backoff: stats.backoff > 0,
        });
    }
}

/// Takes a call's items that no request has taken yet off the queue when the call ends early
/// (its future dropped); after a complete call there are none.
struct LeaveQueue<'a, I: Queued> {
    queue: &'a Queue,
    call: &'a Arc<Call>,
    kind: std::marker::PhantomData<I>,
}

impl<I: Queued> Drop for LeaveQueue<'_, I> {
    fn drop(&mut self) {
        if self.call.remaining.load(Ordering::Acquire) > 0 {
            lock(I::pool(self.queue))
                .pending
                .retain(|w| !Arc::ptr_eq(&w.call, self.call));
        }
    }
}

/// A request's items and the vertices they hold while it runs.
struct Running<I: Queued> {
    queue: Arc<Queue>,
    batch: Vec<Waiting<I>>,
    held: Held,
    /// The batch size in force when it was built.
    batch_size: usize,
    released: bool,
}

impl<I: Queued> Running<I> {
    /// Ends the request: items without an outcome fail as unconfirmed (the request may have
    /// been sent, so they may be written), and its vertices are free again.
    fn release(&mut self) {
        if std::mem::replace(&mut self.released, true) {
            return;
        }
        for w in self.batch.drain(..) {
            w.call.deliver(
                w.index,
                ItemOutcome::Failed(ItemFailure::Unconfirmed {
                    attempts: 0,
                    last_error: "the write task stopped before an answer".into(),
                }),
            );
        }
        let mut pool = lock(I::pool(&self.queue));
        pool.running -= 1;
        pool.busy.release(&self.held);
    }
}

/// The request task releases its request itself and then starts what can run next; this
/// covers a task dropped before it finished (its runtime shutting down), so that its callers
/// still get an answer and the queue's count of requests stays true.
impl<I: Queued> Drop for Running<I> {
    fn drop(&mut self) {
        self.release();
    }
}
