//! Which waiting items go into the next request.
//!
//! Two transactions that add edges to the same vertex conflict, on Neptune and on the
//! transactional TinkerGraph alike, so requests in flight never share a vertex: each new
//! request takes, in queue order, the items none of whose vertices a request in flight holds.
//! Items it passes over keep their place, and so do later items of the same key: each key's
//! writes go out in the order given. See the [queue](super::queue) for why only the key's order
//! is kept for creates.

use std::collections::{HashMap, HashSet, VecDeque};

/// What an item holds while its request runs, for [`take_batch`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Touches<'a> {
    /// The key whose items keep their order.
    pub key: &'a str,
    /// The other vertices (or elements) its write changes.
    pub others: [&'a str; 2],
    /// No other item of the same request may touch what this one touches (a vertex delete,
    /// whose effect on the vertex's edges only the server knows).
    pub exclusive: bool,
    /// `others` are held shared by requests in flight: many may hold them at once, but not
    /// while one holds them alone (as its key). For changes in a session, where the server
    /// runs the requests in turn and they cannot conflict: an edge's ends are shared by the
    /// requests that write edges to them, and wait only for the vertex's delete (its own
    /// writes are held apart: see [`own`](Self::own)). An item passed over then holds back
    /// its key for the rest of the request, so that a delete is not starved by ever new edges
    /// to its vertex.
    pub shared: bool,
    /// The key is a vertex's own state (its upsert, a property's removal), held apart from
    /// the vertex as an edge's end. For changes in a session: an edge's decision rests only on
    /// its ends being there, so edges at the vertex may be written meanwhile; another write of
    /// the vertex itself, or its delete (which holds the vertex alone), waits.
    pub own: bool,
}

/// What the requests in flight hold: each key or vertex alone, or shared (see
/// [`Touches::shared`]).
#[derive(Debug, Default)]
pub(super) struct Holds {
    alone: HashSet<String>,
    shared: HashMap<String, usize>,
    own: HashSet<String>,
}

/// What one request holds while it runs.
#[derive(Debug, Default)]
pub(super) struct Held {
    alone: Vec<String>,
    shared: Vec<String>,
    own: Vec<String>,
}

impl Holds {
    /// Whether `v` may not be held (`shared`ly or alone) by one more request.
    fn blocks(&self, v: &str, shared: bool) -> bool {
        self.alone.contains(v) || (!shared && self.shared.contains_key(v))
    }

    /// Whether an item whose key is `key` may not run beside the requests in flight: its key
    /// is held alone, or as a vertex's own state, or (unless it is one itself) shared.
    fn blocks_key(&self, key: &str, own: bool) -> bool {
        self.alone.contains(key)
            || self.own.contains(key)
            || (!own && self.shared.contains_key(key))
    }

    /// Adds what a request starting now holds.
    pub(super) fn hold(&mut self, held: &Held) {
        self.alone.extend(held.alone.iter().cloned());
        self.own.extend(held.own.iter().cloned());
        for v in &held.shared {
            *self.shared.entry(v.clone()).or_default() += 1;
        }
    }

    /// Removes what a finished request held.
    pub(super) fn release(&mut self, held: &Held) {
        for v in &held.alone {
            self.alone.remove(v);
        }
        for v in &held.own {
            self.own.remove(v);
        }
        for v in &held.shared {
            if let Some(n) = self.shared.get_mut(v) {
                *n -= 1;
                if *n == 0 {
                    self.shared.remove(v);
                }
            }
        }
    }
}

impl<'a> Touches<'a> {
    pub(super) fn all(&self) -> [&'a str; 3] {
        [self.key, self.others[0], self.others[1]]
    }
}

/// Takes the next request's items from `pending`: at most `max`, in queue order, skipping
/// (with `conflict_free`) every item that touches something in `busy`, every item whose key is
/// the key of an item skipped before it, and what an exclusive item would share with the
/// request (an exclusive item skipped holds back every later item touching what it touches).
/// Returns the items and what they hold (alone or shared); or nothing, leaving `pending` as
/// it was, if fewer than `min` items could go.
pub(super) fn take_batch<W>(
    pending: &mut VecDeque<W>,
    busy: &Holds,
    (min, max): (usize, usize),
    conflict_free: bool,
    touches: impl Fn(&W) -> Touches<'_>,
) -> (Vec<W>, Held) {
    let mut take = vec![false; pending.len()];
    let mut n = 0;
    let held: Held = {
        let mut mine: HashSet<&str> = HashSet::new();
        let mut alone: HashSet<&str> = HashSet::new();
        let mut own: HashSet<&str> = HashSet::new();
        let mut exclusive: HashSet<&str> = HashSet::new();
        let mut blocked: HashSet<&str> = HashSet::new();
        let mut held_back: HashSet<&str> = HashSet::new();
        for (i, w) in pending.iter().enumerate() {
            if n == max {
                break;
            }
            let t = touches(w);
            let all = t.all();
            let in_flight = busy.blocks_key(t.key, t.own)
                || t.others
                    .iter()
                    .filter(|v| !(t.own && **v == t.key))
                    .any(|v| busy.blocks(v, t.shared));
            let clash = in_flight
                || all
                    .iter()
                    .any(|v| exclusive.contains(*v) || held_back.contains(*v))
                || (t.exclusive && all.iter().any(|v| mine.contains(*v)));
            if conflict_free && (blocked.contains(t.key) || clash) {
                // Later items of this key wait too, so each key's writes keep their order; an
                // exclusive item holds back everything it touches.
                blocked.insert(t.key);
                if t.exclusive {
                    held_back.extend(all);
                } else if t.shared && !t.own {
                    // (A vertex's own write does not wait for edges at it: nothing to starve.)
                    held_back.insert(t.key);
                }
                continue;
            }
            mine.extend(all);
            if t.own {
                own.insert(t.key);
            } else {
                alone.insert(t.key);
            }
            if !t.shared {
                alone.extend(t.others);
            }
            if t.exclusive {
                exclusive.extend(all);
            }
            take[i] = true;
            n += 1;
        }
        if n < min {
            return (Vec::new(), Held::default());
        }
        Held {
            shared: mine
                .iter()
                .filter(|v| !alone.contains(*v))
                .map(|v| (*v).to_owned())
                .collect(),
            alone: alone.into_iter().map(str::to_owned).collect(),
            own: own.into_iter().map(str::to_owned).collect(),
        }
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
    (taken, held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type E = (usize, String, String);

    fn edge(n: usize, from: &str, to: &str) -> E {
        (n, from.into(), to.into())
    }

    fn ends(e: &E) -> Touches<'_> {
        Touches {
            key: &e.1,
            others: [&e.2, &e.2],
            exclusive: false,
            shared: false,
            own: false,
        }
    }

    /// Requests in flight holding `vertices` alone.
    fn holding(vertices: &[&str]) -> Holds {
        let mut holds = Holds::default();
        holds.hold(&Held {
            alone: vertices.iter().map(|v| (*v).to_owned()).collect(),
            shared: Vec::new(),
            own: Vec::new(),
        });
        holds
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
        let busy = holding(&["hub"]);
        let (taken, held) = take_batch(&mut pending, &busy, (1, 10), true, ends);
        assert_eq!(taken.iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 3, 4]);
        assert!(held.shared.is_empty());
        let keys: HashSet<String> = held.alone.into_iter().collect();
        assert_eq!(
            keys,
            ["b", "c", "e", "a", "f", "g"].map(str::to_owned).into()
        );
        assert_eq!(pending.iter().map(|e| e.0).collect::<Vec<_>>(), vec![0, 2]);
    }

    #[test]
    fn a_request_takes_at_most_max_and_every_edge_of_a_free_super_connector() {
        let mut pending: VecDeque<E> = (0..10).map(|i| edge(i, &format!("f{i}"), "hub")).collect();
        let (taken, _) = take_batch(&mut pending, &Holds::default(), (1, 4), true, ends);
        assert_eq!(taken.len(), 4);
        assert_eq!(pending.len(), 6);
        let (taken, _) = take_batch(&mut pending, &Holds::default(), (1, 100), true, ends);
        assert_eq!(
            taken.len(),
            6,
            "one request writes all the hub's waiting edges"
        );
    }

    #[test]
    fn too_few_free_items_wait_for_a_request_in_flight() {
        let mut pending: VecDeque<E> = [edge(0, "a", "hub"), edge(1, "b", "c")].into();
        let busy = holding(&["hub"]);
        let (taken, held) = take_batch(&mut pending, &busy, (2, 10), true, ends);
        assert!(taken.is_empty() && held.alone.is_empty() && held.shared.is_empty());
        assert_eq!(pending.len(), 2, "the queue is left as it was");
    }

    #[test]
    fn without_conflict_freedom_the_queue_is_cut_in_order() {
        let mut pending: VecDeque<E> = (0..5).map(|i| edge(i, "a", "hub")).collect();
        let busy = holding(&["hub"]);
        let (taken, _) = take_batch(&mut pending, &busy, (1, 3), false, ends);
        assert_eq!(taken.iter().map(|e| e.0).collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    /// In a session: an edge (key, from, to) shares its ends; a vertex write (key = the
    /// vertex) holds it alone.
    fn in_session(e: &E) -> Touches<'_> {
        Touches {
            key: &e.1,
            others: [&e.2, &e.2],
            exclusive: false,
            shared: true,
            own: false,
        }
    }

    #[test]
    fn in_a_session_requests_share_an_edges_ends_and_a_vertex_write_waits_for_them() {
        // Edges e0, e1 to the hub, then a write of the hub itself, then more edges to it.
        let mut pending: VecDeque<E> = [
            edge(0, "e0", "hub"),
            edge(1, "e1", "hub"),
            edge(2, "hub", "hub"),
            edge(3, "e3", "hub"),
        ]
        .into();
        let mut busy = Holds::default();
        let (first, held) = take_batch(&mut pending, &busy, (1, 1), true, in_session);
        assert_eq!(first.iter().map(|e| e.0).collect::<Vec<_>>(), vec![0]);
        assert_eq!(held.shared, vec!["hub".to_owned()]);
        busy.hold(&held);
        // The hub is shared: the next request takes e1 beside the one in flight; the hub's
        // own write must wait, and holds back e3 so that it is not starved.
        let (second, held2) = take_batch(&mut pending, &busy, (1, 10), true, in_session);
        assert_eq!(second.iter().map(|e| e.0).collect::<Vec<_>>(), vec![1]);
        busy.hold(&held2);
        busy.release(&held);
        busy.release(&held2);
        let (third, held3) = take_batch(&mut pending, &busy, (1, 10), true, in_session);
        assert_eq!(third.iter().map(|e| e.0).collect::<Vec<_>>(), vec![2, 3]);
        assert!(held3.alone.contains(&"hub".to_owned()));
        assert!(held3.shared.is_empty(), "the hub is held alone: {held3:?}");
        busy.hold(&held3);
        pending.push_back(edge(4, "e4", "hub"));
        let (none, _) = take_batch(&mut pending, &busy, (1, 10), true, in_session);
        assert!(none.is_empty(), "an edge to a hub written alone waits");
    }

    /// An item of a session's changes: `(n, key, end, kind)`, kind `e` an edge to `end`, `v`
    /// the vertex `key`'s own write, `d` its delete.
    type C = (usize, String, String, char);

    fn change(c: &C) -> Touches<'_> {
        Touches {
            key: &c.1,
            others: if c.3 == 'e' {
                [&c.2, &c.2]
            } else {
                [&c.1, &c.1]
            },
            exclusive: c.3 == 'd',
            shared: true,
            own: c.3 == 'v',
        }
    }

    #[test]
    fn in_a_session_a_vertex_own_write_runs_beside_edges_at_it_but_not_beside_its_delete() {
        let c = |n: usize, key: &str, end: &str, kind: char| (n, key.into(), end.into(), kind);
        let mut pending: VecDeque<C> = [c(0, "f0", "hub", 'e'), c(1, "hub", "", 'v')].into();
        let mut busy = Holds::default();
        let (first, held) = take_batch(&mut pending, &busy, (1, 1), true, change);
        assert_eq!(first[0].0, 0);
        busy.hold(&held);
        let (second, held2) = take_batch(&mut pending, &busy, (1, 10), true, change);
        assert_eq!(second.iter().map(|c| c.0).collect::<Vec<_>>(), vec![1]);
        assert_eq!(held2.own, vec!["hub".to_owned()]);
        busy.hold(&held2);
        // Another write of the hub, and its delete, wait for the one in flight; an edge at it
        // does not.
        pending.extend([c(2, "hub", "", 'v'), c(3, "f3", "hub", 'e')]);
        let (third, held3) = take_batch(&mut pending, &busy, (1, 10), true, change);
        assert_eq!(third.iter().map(|c| c.0).collect::<Vec<_>>(), vec![3]);
        busy.hold(&held3);
        busy.release(&held2);
        pending.push_front(c(4, "hub", "", 'd'));
        let (none, _) = take_batch(&mut pending, &busy, (1, 10), true, change);
        assert!(
            none.is_empty(),
            "a delete waits for the edges at its vertex"
        );
        busy.release(&held);
        busy.release(&held3);
        let (fourth, _) = take_batch(&mut pending, &busy, (1, 10), true, change);
        assert_eq!(fourth.iter().map(|c| c.0).collect::<Vec<_>>(), vec![4]);
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
            let mut in_flight: Vec<(Vec<E>, Held)> = Vec::new();
            let mut busy = Holds::default();
            let mut order: Vec<usize> = Vec::new();
            let mut step = 0;
            while !pending.is_empty() || !in_flight.is_empty() {
                let finish_one = finish[step % finish.len()] || pending.is_empty();
                step += 1;
                if finish_one && !in_flight.is_empty() {
                    let (_, held) = in_flight.remove(0);
                    busy.release(&held);
                    continue;
                }
                let (taken, held) = take_batch(&mut pending, &busy, (1, max), true, ends);
                if taken.is_empty() {
                    prop_assert!(!in_flight.is_empty(), "nothing in flight blocks the queue");
                    continue;
                }
                for k in &held.alone {
                    prop_assert!(!busy.blocks(k, false), "vertex {} already in flight", k);
                }
                busy.hold(&held);
                order.extend(taken.iter().map(|e| e.0));
                in_flight.push((taken, held));
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
