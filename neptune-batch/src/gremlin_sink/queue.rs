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

use super::careful::Careful;
use super::encode::finish;
use super::service::Stats;
use super::write::Writer;
use crate::metrics as m;
use crate::model::{Edge, Vertex};
use crate::outcome::{ItemFailure, ItemOutcome, WriteReport};
use crate::sizing::{Controller, Observation, Sizing, SizingSample};
use futures_util::FutureExt;
use std::collections::{HashMap, HashSet, VecDeque};
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
}

/// Items waiting for a request, and what the requests in flight hold.
#[derive(Debug)]
pub(super) struct Pool<I> {
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

/// The items a queue holds: one pool per kind.
pub(super) trait Queued: Careful {
    fn pool(queue: &Queue) -> &Mutex<Pool<Self>>;
}

impl Queued for Edge {
    fn pool(queue: &Queue) -> &Mutex<Pool<Self>> {
        &queue.edges
    }
}

impl Queued for Vertex {
    fn pool(queue: &Queue) -> &Mutex<Pool<Self>> {
        &queue.vertices
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

    /// Queues a call's items, starts what requests it can, and waits for every outcome. Items
    /// repeating an earlier id in the same call take the earlier item's outcome (a written
    /// original makes the repeat "already present").
    pub(super) async fn write<I: Queued>(self: &Arc<Self>, items: &[I]) -> WriteReport {
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
        let (batch, keys) = take_batch(
            pending,
            busy,
            (min.max(1), max),
            conflict_free,
            |w: &Waiting<I>| {
                let [key, other] = w.item.touches();
                [key, if keys_only { key } else { other }]
            },
        );
        if batch.is_empty() {
            return None;
        }
        let keys = if conflict_free {
            pool.busy.extend(keys.iter().cloned());
            keys
        } else {
            Vec::new()
        };
        pool.running += 1;
        controller.started(pool.running);
        Some(Running {
            queue: self.clone(),
            batch,
            keys,
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
        let written = AssertUnwindSafe(self.writer.write(&refs))
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
    keys: Vec<String>,
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
        for k in &self.keys {
            pool.busy.remove(k);
        }
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

/// Takes the next request's items from `pending`: at most `max`, in queue order, skipping
/// (with `conflict_free`) every item that touches a vertex in `busy` and every item whose key
/// (the first of `touches`) is the key of an item skipped before it. Returns the items and the
/// distinct vertices they touch; or nothing, leaving `pending` as it was, if fewer than `min`
/// items could go.
fn take_batch<W>(
    pending: &mut VecDeque<W>,
    busy: &HashSet<String>,
    (min, max): (usize, usize),
    conflict_free: bool,
    touches: impl Fn(&W) -> [&str; 2],
) -> (Vec<W>, Vec<String>) {
    let mut take = vec![false; pending.len()];
    let mut n = 0;
    let keys: Vec<String> = {
        let mut mine: HashSet<&str> = HashSet::new();
        let mut blocked: HashSet<&str> = HashSet::new();
        for (i, w) in pending.iter().enumerate() {
            if n == max {
                break;
            }
            let ends = touches(w);
            if conflict_free
                && (blocked.contains(ends[0]) || ends.iter().any(|v| busy.contains(*v)))
            {
                // Later items of this key wait too, so each key's writes keep their order.
                blocked.insert(ends[0]);
                continue;
            }
            mine.extend(ends);
            take[i] = true;
            n += 1;
        }
        if n < min {
            return (Vec::new(), Vec::new());
        }
        mine.into_iter().map(str::to_owned).collect()
    };
    let mut taken = Vec::with_capacity(n);
    let mut kept = VecDeque::with_capacity(pending.len() - n);
    for (w, t) in pending.drain(..).zip(take) {
        if t {
            taken.push(w);
        } else {
            kept.push_back(w);
        }
    }
    *pending = kept;
    (taken, keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type E = (usize, String, String);

    fn edge(n: usize, from: &str, to: &str) -> E {
        (n, from.into(), to.into())
    }

    fn ends(e: &E) -> [&str; 2] {
        [&e.1, &e.2]
    }

    #[test]
    fn a_request_skips_held_vertices_and_keeps_each_keys_order() {
        let mut pending: VecDeque<E> = [
            edge(0, "a", "hub"),
            edge(1, "b", "c"),
            edge(2, "a", "d"), // key "a" was passed over above: must wait
            edge(3, "e", "a"), // "a" is not held: may go
            edge(4, "f", "g"),
        ]
        .into();
        let busy: HashSet<String> = ["hub".to_owned()].into();
        let (taken, keys) = take_batch(&mut pending, &busy, (1, 10), true, ends);
        assert_eq!(taken.iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 3, 4]);
        let keys: HashSet<String> = keys.into_iter().collect();
        assert_eq!(
            keys,
            ["b", "c", "e", "a", "f", "g"].map(str::to_owned).into()
        );
        assert_eq!(pending.iter().map(|e| e.0).collect::<Vec<_>>(), vec![0, 2]);
    }

    #[test]
    fn a_request_takes_at_most_max_and_every_edge_of_a_free_super_connector() {
        let mut pending: VecDeque<E> = (0..10).map(|i| edge(i, &format!("f{i}"), "hub")).collect();
        let (taken, _) = take_batch(&mut pending, &HashSet::new(), (1, 4), true, ends);
        assert_eq!(taken.len(), 4);
        assert_eq!(pending.len(), 6);
        let (taken, _) = take_batch(&mut pending, &HashSet::new(), (1, 100), true, ends);
        assert_eq!(
            taken.len(),
            6,
            "one request writes all the hub's waiting edges"
        );
    }

    #[test]
    fn too_few_free_items_wait_for_a_request_in_flight() {
        let mut pending: VecDeque<E> = [edge(0, "a", "hub"), edge(1, "b", "c")].into();
        let busy: HashSet<String> = ["hub".to_owned()].into();
        let (taken, keys) = take_batch(&mut pending, &busy, (2, 10), true, ends);
        assert!(taken.is_empty() && keys.is_empty());
        assert_eq!(pending.len(), 2, "the queue is left as it was");
    }

    #[test]
    fn without_conflict_freedom_the_queue_is_cut_in_order() {
        let mut pending: VecDeque<E> = (0..5).map(|i| edge(i, "a", "hub")).collect();
        let busy: HashSet<String> = ["hub".to_owned()].into();
        let (taken, _) = take_batch(&mut pending, &busy, (1, 3), false, ends);
        assert_eq!(taken.iter().map(|e| e.0).collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    proptest! {
        /// Requests formed one after another while earlier ones are in flight never share a
        /// vertex with any of them, every item is taken exactly once, and the items of one
        /// key are taken in queue order.
        #[test]
        fn requests_in_flight_never_share_a_vertex(
            raw in prop::collection::vec((0usize..30, 0usize..30), 1..300),
            max in 1usize..50,
            finish in prop::collection::vec(any::<bool>(), 64),
        ) {
            // Skewed endpoints: vertex 0 and 1 are super-connectors.
            let v = |x: usize| if x < 12 { format!("v{}", x % 2) } else { format!("v{x}") };
            let mut pending: VecDeque<E> =
                raw.iter().enumerate().map(|(i, &(a, b))| (i, v(a), v(b))).collect();
            let total = pending.len();
            let mut in_flight: Vec<(Vec<E>, Vec<String>)> = Vec::new();
            let mut busy: HashSet<String> = HashSet::new();
            let mut order: Vec<usize> = Vec::new();
            let mut step = 0;
            while !pending.is_empty() || !in_flight.is_empty() {
                let finish_one = finish[step % finish.len()] || pending.is_empty();
                step += 1;
                if finish_one && !in_flight.is_empty() {
                    let (_, keys) = in_flight.remove(0);
                    for k in keys { busy.remove(&k); }
                    continue;
                }
                let (taken, keys) = take_batch(&mut pending, &busy, (1, max), true, ends);
                if taken.is_empty() {
                    prop_assert!(!in_flight.is_empty(), "nothing in flight blocks the queue");
                    continue;
                }
                for k in &keys {
                    prop_assert!(busy.insert(k.clone()), "vertex {} already in flight", k);
                }
                order.extend(taken.iter().map(|e| e.0));
                in_flight.push((taken, keys));
            }
            let mut seen = order.clone();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..total).collect::<Vec<_>>());
            // Per key, items leave the queue in input order.
            let items: Vec<(usize, String, String)> =
                raw.iter().enumerate().map(|(i, &(a, b))| (i, v(a), v(b))).collect();
            let position: std::collections::HashMap<usize, usize> =
                order.iter().enumerate().map(|(p, &i)| (i, p)).collect();
            for x in &items {
                for y in &items {
                    if x.1 == y.1 && x.0 < y.0 {
                        prop_assert!(position[&x.0] <= position[&y.0]);
                    }
                }
            }
        }
    }
}
