//! The order of a merge request's rows: the edges at the vertices the request touches most go
//! last.
//!
//! A graph holds a vertex in a transaction from the first row that reads it until the commit:
//! the transactional TinkerGraph snapshots the vertex's version at that first read and fails
//! the commit if another transaction committed the vertex meanwhile; Neptune locks what a query
//! reads until the commit. With power-law data the vertices a request touches most are the
//! super-connectors every writer shares, and merged last they are held for the last rows only.
//! Inside one process the sink already keeps such requests apart; this is for the processes it
//! cannot see (Lambda invocations, KCL record processors).
//!
//! Measured with four writers, the order alone removes few conflicts (most are on the many
//! moderately followed vertices that two requests share, spread through each). What it does
//! is give a conflicting request's cut (see the writer's `checked_merge`) a first half
//! without the hubs, which commits, and a second half with them, which is cut again.
//!
//! Merging rows of distinct items is order-free, and rows of one item keep their order: they
//! touch the same vertices, so only their positions, the last part of the sort key, differ.

use std::collections::HashMap;

use crate::model::Edge;

/// `edges` reordered by [`hot_order`].
pub(crate) fn hubs_last<'a>(edges: &[&'a Edge]) -> Vec<&'a Edge> {
    hot_order(edges, |e| [e.from.as_str(), e.to.as_str()])
        .into_iter()
        .map(|i| edges[i])
        .collect()
}

/// The positions of `items` in the order to write them: items whose vertices (`touches`) the
/// request touches once first, then by how often the request touches the item's busier
/// vertex, the items of one busy vertex together. Cutting this order in two leaves the
/// request's busiest vertices in the second part.
pub(crate) fn hot_order<'a, T>(
    items: &[&'a T],
    touches: impl Fn(&'a T) -> [&'a str; 2],
) -> Vec<usize> {
    let mut counts: HashMap<&str, usize> = HashMap::with_capacity(items.len() * 2);
    for &item in items {
        let [a, b] = touches(item);
        *counts.entry(a).or_default() += 1;
        if b != a {
            *counts.entry(b).or_default() += 1;
        }
    }
    let mut keyed: Vec<(usize, &str, usize)> = items
        .iter()
        .enumerate()
        .map(|(i, &item)| {
            let [a, b] = touches(item);
            // The busier vertex decides; on a tie the second (an edge's `to`, the usual hub).
            let (count, vertex) = if counts[a] > counts[b] {
                (counts[a], a)
            } else {
                (counts[b], b)
            };
            // Items touching no vertex twice keep the request's order among themselves.
            (count, if count > 1 { vertex } else { "" }, i)
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, _, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follows(from: &str, to: &str) -> Edge {
        Edge::new(format!("{from}-{to}"), "follows", from, to)
    }

    fn ids(edges: &[&Edge]) -> Vec<String> {
        edges.iter().map(|e| e.id.clone()).collect()
    }

    #[test]
    fn the_busiest_vertex_edges_come_last_and_together() {
        let edges = [
            follows("a", "hub"),
            follows("b", "c"),
            follows("d", "mid"),
            follows("e", "hub"),
            follows("f", "g"),
            follows("h", "mid"),
            follows("i", "hub"),
        ];
        let refs: Vec<&Edge> = edges.iter().collect();
        assert_eq!(
            ids(&hubs_last(&refs)),
            ["b-c", "f-g", "d-mid", "h-mid", "a-hub", "e-hub", "i-hub"]
        );
    }

    #[test]
    fn a_busy_follower_counts_like_a_busy_followed() {
        let edges = [follows("fan", "x"), follows("y", "z"), follows("fan", "w")];
        let refs: Vec<&Edge> = edges.iter().collect();
        assert_eq!(ids(&hubs_last(&refs)), ["y-z", "fan-x", "fan-w"]);
    }

    #[test]
    fn rows_of_one_edge_keep_their_order_and_nothing_is_lost() {
        let mut first = follows("a", "hub");
        first.properties.push(("n".into(), 1i64.into()));
        let mut again = follows("a", "hub");
        again.properties.push(("n".into(), 2i64.into()));
        let other = follows("b", "hub");
        let refs = vec![&first, &other, &again];
        let ordered = hubs_last(&refs);
        assert_eq!(ordered.len(), 3);
        let positions: Vec<usize> = [&first, &again]
            .iter()
            .map(|x| ordered.iter().position(|e| std::ptr::eq(*e, *x)).unwrap())
            .collect();
        assert!(positions[0] < positions[1], "{positions:?}");
    }
}
