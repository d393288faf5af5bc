//! Which waiting items go into the next request.
//!
//! Two transactions that add edges to the same vertex conflict, on Neptune and on the
//! transactional TinkerGraph alike, so requests in flight never share a vertex: each new
//! request takes, in queue order, the items none of whose vertices a request in flight holds.
//! Items it passes over keep their place, and so do later items of the same key: each key's
//! writes go out in the order given. See the [queue](super::queue) for why only the key's order
//! is kept for creates.

use std::collections::{HashSet, VecDeque};

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
/// Returns the items and the distinct things they touch; or nothing, leaving `pending` as it
/// was, if fewer than `min` items could go.
pub(super) fn take_batch<W>(
    pending: &mut VecDeque<W>,
    busy: &HashSet<String>,
    (min, max): (usize, usize),
    conflict_free: bool,
    touches: impl Fn(&W) -> Touches<'_>,
) -> (Vec<W>, Vec<String>) {
    let mut take = vec![false; pending.len()];
    let mut n = 0;
    let keys: Vec<String> = {
        let mut mine: HashSet<&str> = HashSet::new();
        let mut exclusive: HashSet<&str> = HashSet::new();
        let mut blocked: HashSet<&str> = HashSet::new();
        let mut held_back: HashSet<&str> = HashSet::new();
        for (i, w) in pending.iter().enumerate() {
            if n == max {
                break;
            }
            let t = touches(w);
            let all = t.all();
            let clash = all
                .iter()
                .any(|v| busy.contains(*v) || exclusive.contains(*v) || held_back.contains(*v))
                || (t.exclusive && all.iter().any(|v| mine.contains(*v)));
            if conflict_free && (blocked.contains(t.key) || clash) {
                // Later items of this key wait too, so each key's writes keep their order; an
                // exclusive item holds back everything it touches.
                blocked.insert(t.key);
                if t.exclusive {
                    held_back.extend(all);
                }
                continue;
            }
            mine.extend(all);
            if t.exclusive {
                exclusive.extend(all);
            }
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

    fn ends(e: &E) -> Touches<'_> {
        Touches {
            key: &e.1,
            others: [&e.2, &e.2],
            exclusive: false,
        }
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
