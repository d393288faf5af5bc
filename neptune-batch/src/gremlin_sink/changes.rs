//! Applying a request's changes: read the state they depend on, decide each change's outcome
//! by the same rules as the in-memory graph, then write what changed in one request guarded by
//! what was read.
//!
//! Deciding in the sink rather than in the traversal keeps the write request as cheap as a
//! create: rows merged by id, no per-row comparison on the server. The guard makes the read and
//! the write as good as one transaction: the write request first compares the versions (and
//! placeholder marks) of everything read with what the decision saw, and fails without
//! writing anything if another writer changed them in between; the changes are then read and
//! decided again. Within one sink that is rare: a request holds the elements its changes touch
//! and the vertices they depend on (see the queue), so requests in flight seldom read what
//! another writes; in the session lane an edge's ends are shared, and a placeholder one
//! request makes can fail the guard of another that read its vertex missing.

use super::change_diff::Diff;
use super::change_edges::EdgeLookup;
use super::change_reads::Reading;
use super::change_traversals::Shape;
use super::claims::{self, Claims};
use super::encode::failure_from;
use super::service::{OnConflict, Stats};
use super::write::Writer;
use crate::bytecode::Bytecode;
use crate::graphson::GValue;
use crate::memory::state::{GraphState, Properties, StoredEdge, StoredVertex, Tombstone};
use crate::mutation::{Change, ElementId, Mutation, RESERVED_KEYS, TOMBSTONE_LABEL, VERSION_KEY};
use crate::outcome::ItemOutcome;
use crate::transport::{ErrorClass, GremlinError, Request};
use crate::write_traversals::WriteMode;
use futures_util::future::BoxFuture;
use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

/// What a request read: the state, and the ids read (those not found do not exist).
pub(super) struct Read {
    pub(super) state: GraphState,
    /// Tombstone vertices without a version: markers that a placeholder was made for the
    /// vertex (see [`Diff`]).
    pub(super) markers: BTreeSet<String>,
    pub(super) vertex_ids: Vec<String>,
    pub(super) edge_ids: Vec<String>,
    /// Where claims are locked: whether each vertex read, and the from-vertex of each edge
    /// read, held a claim value.
    pub(super) claimed: BTreeMap<String, bool>,
}

impl Read {
    /// Adds what was known without reading it: its states and its ids.
    fn take_known(&mut self, known: Read) {
        self.state.vertices.extend(known.state.vertices);
        self.state.tombstones.extend(known.state.tombstones);
        self.markers.extend(known.markers);
        self.state.edges.extend(known.state.edges);
        for (v, edges) in known.state.incident {
            self.state.incident.entry(v).or_default().extend(edges);
        }
        self.vertex_ids.extend(known.vertex_ids);
        self.edge_ids.extend(known.edge_ids);
        self.claimed.extend(known.claimed);
    }
}

impl Writer {
    /// Applies one request's changes (no two of them touching a vertex a vertex delete
    /// touches: the queue sees to it), one outcome each.
    pub(super) async fn apply(&self, items: &[&Mutation]) -> (Vec<ItemOutcome>, Stats) {
        let mut stats = Stats::default();
        let outcomes = self.apply_part(items, &mut stats).await;
        (outcomes, stats)
    }

    /// Applies `items`, splitting them in two when the server refuses the write for good, until
    /// the items at fault are alone.
    fn apply_part<'a>(
        &'a self,
        items: &'a [&'a Mutation],
        stats: &'a mut Stats,
    ) -> BoxFuture<'a, Vec<ItemOutcome>> {
        Box::pin(async move {
            match self.decide_and_write(items, stats).await {
                Ok(outcomes) => outcomes,
                Err(e) if e.kind_is_retriable() => {
                    let failure = self.service().retry().gave_up(&e, stats.unconfirmed);
                    vec![ItemOutcome::Failed(failure); items.len()]
                }
                Err(_) if items.len() > 1 => {
                    metrics::counter!(crate::metrics::BISECTIONS).increment(1);
                    let (left, right) = items.split_at(items.len() / 2);
                    let mut out = self.apply_part(left, stats).await;
                    out.extend(self.apply_part(right, stats).await);
                    out
                }
                Err(e) => vec![failure_from(&e)],
            }
        })
    }

    /// Reads, decides and writes, again while the guard finds the graph changed.
    async fn decide_and_write(
        &self,
        items: &[&Mutation],
        stats: &mut Stats,
    ) -> Result<Vec<ItemOutcome>, GremlinError> {
        let shape = match self.mode() {
            WriteMode::Merge => Shape::Merge,
            _ => Shape::Chained,
        };
        let mut round = 0;
        // What this sink knows may stand in for part or all of the first read (see
        // `change_cache`).
        let (vertex_ids, edge_ids) = needed(items);
        let ends = endpoints_only(items);
        // Where claims are locked, the write compares claim values, which only a read knows.
        let mut plan = match self.claims() {
            Claims::Locked => None,
            Claims::Transient => self.cache().plan(items, (&vertex_ids, &edge_ids)),
        };
        // Whether the last read (not what the sink knew) decided a failure (see below).
        let mut failed_before = false;
        loop {
            let optimistic = plan.is_some();
            let read = match plan.take() {
                Some(plan) if plan.unknown.0.is_empty() && plan.unknown.1.is_empty() => plan.known,
                Some(plan) => {
                    let mut read = self.read(plan.unknown, shape, stats).await?;
                    read.take_known(plan.known);
                    read
                }
                None => {
                    let ids = (vertex_ids.clone(), edge_ids.clone());
                    self.read(ids, shape, stats).await?
                }
            };
            let edges = EdgeLookup::new(self.identity());
            let encoding = (shape, edges, self.claims());
            let (outcomes, write, after) = decide(&read, items, &ends, encoding, SystemTime::now());
            if read_again_before_failing(&outcomes, optimistic, &mut failed_before) {
                continue;
            }
            let Some(write) = write else {
                if optimistic {
                    // Nothing to write is an outcome the guard never saw: read, to be sure.
                    continue;
                }
                self.cache().remember(items, &ends, &read, &after);
                for (m, o) in items.iter().zip(&outcomes) {
                    tracing::trace!(mutation = ?m, outcome = ?o, "change decided: nothing to write");
                }
                return Ok(outcomes);
            };
            let request = self.service().write_request(write);
            let sent = self
                .service()
                .send_with(&request, "write", stats, OnConflict::Return)
                .await;
            let changed = match sent {
                // The chained shape's guards filter: no answer, nothing written.
                Ok(answer) if shape == Shape::Chained && answer.is_empty() => None,
                Ok(_) => {
                    self.cache().remember(items, &ends, &read, &after);
                    for (m, o) in items.iter().zip(&outcomes) {
                        tracing::trace!(mutation = ?m, outcome = ?o, round, "change written");
                    }
                    return Ok(outcomes);
                }
                Err(e) if graph_changed(&e, shape) => Some(e),
                Err(e) => {
                    self.cache().forget(&read);
                    return Err(e);
                }
            };
            self.cache().forget(&read);
            if optimistic {
                // What this sink knew was stale: read, at once.
                metrics::counter!(crate::metrics::RETRIES, "reason" => "known_state_stale")
                    .increment(1);
                continue;
            }
            tracing::debug!(round, "the graph changed since it was read; reading again");
            stats.count_retry("graph_changed", true);
            let Some(delay) = self.service().retry().conflict_delay(round) else {
                return Err(changed.unwrap_or_else(|| {
                    GremlinError::Protocol(format!(
                        "the graph kept changing under a write of changes ({} reads)",
                        round + 1
                    ))
                }));
            };
            round += 1;
            stats.sleep_before_retry(delay, true).await;
        }
    }

    /// Reads the vertices, edges and tombstones `items` depend on: in the merge shape in one
    /// request ([`Reading::both`]), in the chained one (no mid-traversal `E()`) in two at once.
    /// Edges are looked for in the whole graph, by the sink's identity (see [`EdgeLookup`]).
    async fn read(
        &self,
        (vertex_ids, edge_ids): (Vec<String>, Vec<String>),
        shape: Shape,
        stats: &mut Stats,
    ) -> Result<Read, GremlinError> {
        let edges = EdgeLookup::new(self.identity());
        let reading = Reading {
            edges,
            claims: self.claims(),
        };
        let service = self.service();
        let as_values = |ids: &[String]| ids.iter().map(GValue::from).collect::<Vec<_>>();
        let lookup = |t: Bytecode, stats: Stats| async move {
            let mut stats = stats;
            let rows = service
                .send(&Request::Bytecode(t), "lookup", &mut stats)
                .await;
            (rows, stats)
        };
        let rows = match (vertex_ids.is_empty(), edge_ids.is_empty()) {
            (true, true) => Vec::new(),
            (false, true) => {
                let (rows, s) =
                    lookup(reading.vertices(as_values(&vertex_ids)), Stats::default()).await;
                stats.add(s);
                rows?
            }
            (true, false) => {
                let (rows, s) = lookup(reading.edges(as_values(&edge_ids)), Stats::default()).await;
                stats.add(s);
                rows?
            }
            (false, false) if shape == Shape::Merge => {
                let t = reading.both(as_values(&vertex_ids), as_values(&edge_ids));
                let (rows, s) = lookup(t, Stats::default()).await;
                stats.add(s);
                rows?
            }
            (false, false) => {
                let ((vertices, s1), (edges, s2)) = tokio::join!(
                    lookup(reading.vertices(as_values(&vertex_ids)), Stats::default()),
                    lookup(reading.edges(as_values(&edge_ids)), Stats::default()),
                );
                stats.add(s1);
                stats.add(s2);
                let mut rows = vertices?;
                rows.extend(edges?);
                rows
            }
        };
        let mut state = GraphState::default();
        let mut markers = BTreeSet::new();
        let mut claimed = BTreeMap::new();
        for row in &rows {
            // An edge's row has its ends; a vertex's does not. What a vertex's own row says of
            // its claim value is taken over what an edge from it says.
            if row.get("o").is_some() {
                if let (Some(from), Some(held)) = (text(row, "o"), holds_claim(row)) {
                    claimed.entry(from).or_insert(held);
                }
                load_edge(&mut state, row, edges.key());
            } else {
                if let (Some(id), Some(held)) = (text(row, "i"), holds_claim(row)) {
                    claimed.insert(id, held);
                }
                if let Some(marker) = load_vertex(&mut state, row) {
                    markers.insert(marker);
                }
            }
        }
        Ok(Read {
            state,
            markers,
            vertex_ids,
            edge_ids,
            claimed,
        })
    }
}

/// Whether `e` says the graph changed since the request's read: a guard's `fail()`, another
/// transaction's conflicting write, an element created meanwhile (`addV`/`addE` of an id that
/// exists: in the chained shape, or in the merge shape when another writer commits the id
/// between `mergeV`'s lookup and its create, as JanusGraph's "Vertex with given id already
/// exists" says), or, on JanusGraph, a vertex created meanwhile by another writer, which the
/// unique index of the locked claims refuses to make twice.
fn graph_changed(e: &GremlinError, shape: Shape) -> bool {
    match e.class() {
        Some(ErrorClass::FailStep | ErrorClass::ConcurrentModification) => true,
        Some(ErrorClass::ConstraintViolation) => shape == Shape::Chained,
        Some(ErrorClass::Evaluation | ErrorClass::Other) => {
            let text = e.to_string();
            text.contains("already exists") || claims::created_meanwhile(&text)
        }
        _ => false,
    }
}

/// Whether `outcomes`, decided on a read (`optimistic`: on what the sink knew), must be
/// decided again on a new read before any is reported: an item refused for good (an id held by
/// an element of another label or other ends) is set aside by the caller, so one read is not
/// enough for it. A read is no snapshot on every engine (JanusGraph reads a vertex's
/// existence, label and properties one after another, and a vertex deleted or made meanwhile
/// can show without its label), and the guard compares versions, not labels: two reads in a
/// row must agree (`failed_before`: the last read did). The other outcomes rest on versions,
/// which never go down, and on what the guard compares.
fn read_again_before_failing(
    outcomes: &[ItemOutcome],
    optimistic: bool,
    failed_before: &mut bool,
) -> bool {
    let fails = outcomes.iter().any(|o| matches!(o, ItemOutcome::Failed(_)));
    if !fails || (!optimistic && *failed_before) {
        return false;
    }
    *failed_before |= !optimistic;
    metrics::counter!(crate::metrics::RETRIES, "reason" => "failure_read_again").increment(1);
    true
}

trait KindIsRetriable {
    fn kind_is_retriable(&self) -> bool;
}

impl KindIsRetriable for GremlinError {
    fn kind_is_retriable(&self) -> bool {
        stream2neptune_common::Classify::kind(self).is_retriable()
            || self.class() == Some(ErrorClass::FailStep)
    }
}

/// The vertex ids (vertices and tombstones) and edge ids whose state decides `items`.
pub(super) fn needed(items: &[&Mutation]) -> (Vec<String>, Vec<String>) {
    let mut vertices = BTreeSet::new();
    let mut edges = BTreeSet::new();
    for m in items {
        let element = m.element();
        if m.version.is_some() {
            vertices.insert(element.tombstone_id());
        }
        match &element {
            ElementId::Vertex(id) => {
                vertices.insert(id.clone());
            }
            ElementId::Edge(id) => {
                edges.insert(id.clone());
            }
        }
        if let Change::UpsertEdge { edge, .. } = &m.change {
            // An endpoint's tombstone is read even without a version: a placeholder made for
            // it marks it (see `Diff`).
            for end in [&edge.from, &edge.to] {
                vertices.insert(end.clone());
                vertices.insert(ElementId::Vertex(end.clone()).tombstone_id());
            }
        }
    }
    (vertices.into_iter().collect(), edges.into_iter().collect())
}

/// The vertices `items` name only as the ends of edges they upsert (computed once per
/// request, for its decisions and for what the sink then remembers). Such an edge depends on
/// its ends being there (or on making placeholders for those that are not), not on their
/// versions or properties: another request's change of those does not make its decision
/// stale, and the queue lets the two run side by side in a session.
pub(super) fn endpoints_only(items: &[&Mutation]) -> BTreeSet<String> {
    let mut ends = BTreeSet::new();
    let mut own = BTreeSet::new();
    for m in items {
        match (&m.change, m.element()) {
            (Change::UpsertEdge { edge, .. }, _) => {
                ends.insert(edge.from.clone());
                ends.insert(edge.to.clone());
            }
            (_, ElementId::Vertex(id)) => {
                own.insert(id);
            }
            _ => {}
        }
    }
    ends.retain(|v| !own.contains(v));
    ends
}

fn text(row: &GValue, key: &str) -> Option<String> {
    row.get(key).and_then(GValue::id_text)
}

/// Whether a row's vertex holds a claim value (`c`, read where claims are locked).
fn holds_claim(row: &GValue) -> Option<bool> {
    match row.get("c") {
        Some(GValue::Bool(held)) => Some(*held),
        _ => None,
    }
}

fn version(row: &GValue) -> Option<u64> {
    row.get("v")
        .and_then(GValue::as_i64)
        .and_then(|v| u64::try_from(v).ok())
}

fn keys(row: &GValue) -> Properties {
    match row.get("k") {
        Some(GValue::List(keys)) => keys
            .iter()
            .filter_map(|k| Some((k.as_str()?.to_owned(), None)))
            .collect(),
        _ => Properties::new(),
    }
}

/// One vertex read: a tombstone (by its id's prefix) or a vertex; the id of a tombstone
/// without a version (a marker).
fn load_vertex(state: &mut GraphState, row: &GValue) -> Option<String> {
    let (Some(id), Some(label)) = (text(row, "i"), text(row, "l")) else {
        return None;
    };
    if label == TOMBSTONE_LABEL {
        let element = ElementId::of_tombstone(&id)?;
        let Some(version) = version(row) else {
            return Some(id);
        };
        let deleted_at = SystemTime::UNIX_EPOCH;
        state.tombstones.insert(
            element,
            Tombstone {
                version,
                deleted_at,
            },
        );
        return None;
    }
    let placeholder = matches!(row.get("p"), Some(GValue::Bool(true)));
    let mut properties = keys(row);
    for key in RESERVED_KEYS {
        properties.remove(key);
    }
    state.vertices.insert(
        id,
        StoredVertex {
            label,
            properties,
            version: version(row),
            placeholder,
        },
    );
    None
}

/// One edge read; `id_key` (the property holding its id, with property ids) is not one of its
/// properties.
fn load_edge(state: &mut GraphState, row: &GValue, id_key: Option<&str>) {
    let (Some(id), Some(label), Some(from), Some(to)) = (
        text(row, "i"),
        text(row, "l"),
        text(row, "o"),
        text(row, "n"),
    ) else {
        return;
    };
    let mut properties = keys(row);
    properties.remove(VERSION_KEY);
    if let Some(key) = id_key {
        properties.remove(key);
    }
    state.link(&id, &from, &to);
    state.edges.insert(
        id,
        StoredEdge {
            label,
            from,
            to,
            properties,
            version: version(row),
        },
    );
}

/// Each item's outcome, by the in-memory graph's rules applied to what was read, and the write
/// that takes the graph to the resulting state (none if nothing changes).
fn decide(
    read: &Read,
    items: &[&Mutation],
    ends: &BTreeSet<String>,
    (shape, edges, claims): (Shape, EdgeLookup, Claims),
    now: SystemTime,
) -> (Vec<ItemOutcome>, Option<Bytecode>, GraphState) {
    let mut after = read.state.clone();
    let outcomes: Vec<ItemOutcome> = items.iter().map(|m| after.apply(m, now)).collect();
    let deleted: Vec<(&str, Option<u64>)> = items
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| matches!(o, ItemOutcome::Written))
        .filter_map(|(m, _)| match &m.change {
            Change::DeleteVertex { id } => Some((id.as_str(), m.version)),
            _ => None,
        })
        .collect();
    let diff = Diff {
        before: &read.state,
        ends,
        markers: &read.markers,
        after: &after,
        deleted: &deleted,
        read_vertices: &read.vertex_ids,
        read_edges: &read.edge_ids,
        claimed: &read.claimed,
        now,
        edges,
        claims,
    };
    let write = diff.write(shape);
    (outcomes, write, after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Edge, PropertyValue, Vertex};

    /// Every operator of `t` and of the traversals among its arguments.
    fn operators(t: &Bytecode, out: &mut BTreeSet<String>) {
        for i in t.sources().iter().chain(t.steps()) {
            out.insert(i.operator.clone());
            for a in &i.arguments {
                walk(a, out);
            }
        }
    }

    fn walk(v: &GValue, out: &mut BTreeSet<String>) {
        match v {
            GValue::Bytecode(b) => operators(b, out),
            GValue::List(items) => items.iter().for_each(|i| walk(i, out)),
            GValue::Map(entries) => entries.iter().for_each(|(k, v)| {
                walk(k, out);
                walk(v, out);
            }),
            _ => {}
        }
    }

    /// The operators of [`request`] with transient claims.
    fn write(shape: Shape) -> BTreeSet<String> {
        let mut ops = BTreeSet::new();
        operators(
            &request(shape, Claims::Transient, BTreeMap::new()),
            &mut ops,
        );
        ops
    }

    /// A request of every kind of change on a graph that holds some of their elements.
    fn request(shape: Shape, claims: Claims, claimed: BTreeMap<String, bool>) -> Bytecode {
        let now = SystemTime::now();
        let mut state = GraphState::default();
        for m in [
            Mutation::upsert_vertex(Vertex::new("a", "person")).with_version(1),
            Mutation::upsert_vertex(Vertex::new("b", "person")).with_version(1),
            Mutation::upsert_edge(Edge::new("ab", "follows", "a", "b")).with_version(2),
            Mutation::upsert_edge(Edge::new("ba", "follows", "b", "a").with("w", 1i64))
                .with_version(2),
        ] {
            state.apply(&m, now);
        }
        let items = [
            Mutation::upsert_vertex(
                Vertex::new("a", "person")
                    .with("name", "Ada")
                    .with("tags", PropertyValue::Set(vec!["x".into(), "y".into()])),
            )
            .with_version(3),
            Mutation::upsert_vertex(
                Vertex::new("c", "person").with("since", PropertyValue::Date(7)),
            )
            .with_version(3),
            Mutation::upsert_edge(Edge::new("ad", "follows", "a", "d")).with_version(4),
            Mutation::upsert_edge(Edge::new("ba", "follows", "b", "a").with("w", 2i64))
                .with_version(4),
            Mutation::delete_edge("ab").with_version(5),
            Mutation::delete_vertex("b").with_version(6),
        ];
        let refs: Vec<&Mutation> = items.iter().collect();
        let read = Read {
            vertex_ids: ["a", "b", "c", "d"].map(String::from).to_vec(),
            edge_ids: ["ab", "ba", "ad"].map(String::from).to_vec(),
            state,
            markers: BTreeSet::new(),
            claimed,
        };
        let (outcomes, write, _) = decide(
            &read,
            &refs,
            &endpoints_only(&refs),
            (shape, EdgeLookup::ServerIds, claims),
            now,
        );
        assert!(
            outcomes.iter().all(|o| *o == ItemOutcome::Written),
            "{outcomes:?}"
        );
        write.expect("a write")
    }

    /// The position of the first top-level step of `t` whose text holds every one of `parts`.
    fn first_step(t: &Bytecode, parts: &[&str]) -> Option<usize> {
        t.steps().iter().position(|i| {
            let text = format!("{:?}", i.arguments);
            parts.iter().all(|p| text.contains(p))
        })
    }

    #[test]
    fn locked_claims_compare_the_claim_values_read_before_claiming_anything() {
        use crate::mutation::LOCK_KEY;
        let claimed = BTreeMap::from([("a".to_owned(), true), ("b".to_owned(), true)]);
        for shape in [Shape::Merge, Shape::Chained] {
            let t = request(shape, Claims::Locked, claimed.clone());
            let guard = first_step(&t, &["group", LOCK_KEY, "\"a\"", "Bool(true)"])
                .unwrap_or_else(|| panic!("no guard of the claim values read in {t:?}"));
            let claim = first_step(&t, &["property", LOCK_KEY]).expect("a claim");
            assert!(
                guard < claim,
                "{shape:?}: guard at {guard}, claim at {claim}"
            );
        }
        // Transient claims (Neptune, TinkerGraph) read no claim values and compare none.
        let t = request(Shape::Merge, Claims::Transient, BTreeMap::new());
        assert_eq!(first_step(&t, &[LOCK_KEY]), None, "{t:?}");
    }

    #[test]
    fn with_locked_claims_an_edge_drop_claims_both_ends_before_looking_for_orphans() {
        use crate::mutation::LOCK_KEY;
        let t = request(Shape::Merge, Claims::Locked, BTreeMap::new());
        let drop = first_step(&t, &["\"ab\"", "aggregate"]).expect("the drop of ab");
        let GValue::Bytecode(edges) = &t.steps()[drop].arguments[0] else {
            panic!("{t:?}");
        };
        let at = |parts: &[&str]| first_step(edges, parts);
        let claim = at(&["bothV", "property", LOCK_KEY]).expect("the ends claimed");
        let noted = at(&["aggregate"]).expect("the placeholders noted");
        assert!(claim < noted, "{edges:?}");
    }

    #[test]
    fn a_vertex_another_writer_created_after_the_read_is_a_changed_graph_in_both_shapes() {
        let server = |class, message: &str| GremlinError::Server {
            status: 500,
            class,
            exception: None,
            message: message.to_owned(),
        };
        // JanusGraph's `mergeV` looked the id up, found nothing, and another writer committed
        // it before the create: read again, do not fail the items.
        let made = server(ErrorClass::Other, "Vertex with given id already exists: p5");
        for shape in [Shape::Merge, Shape::Chained] {
            assert!(graph_changed(&made, shape), "{shape:?}");
        }
        let refused = server(ErrorClass::Other, "Property value [x] is of type String");
        assert!(!graph_changed(&refused, Shape::Merge));
    }

    #[test]
    fn a_failure_is_reported_only_when_two_reads_in_a_row_decide_it() {
        let failed = [
            ItemOutcome::Written,
            ItemOutcome::Failed(crate::outcome::ItemFailure::ConstraintViolation(
                "label".into(),
            )),
        ];
        let mut before = false;
        // Decided on what the sink knew: read, and that read does not count as the first.
        assert!(read_again_before_failing(&failed, true, &mut before));
        assert!(!before);
        assert!(read_again_before_failing(&failed, false, &mut before));
        assert!(!read_again_before_failing(&failed, false, &mut before));
        // Without a failure, nothing is read again.
        let mut before = false;
        let written = [ItemOutcome::Written, ItemOutcome::Stale];
        assert!(!read_again_before_failing(&written, false, &mut before));
        assert!(!read_again_before_failing(&written, true, &mut before));
    }

    #[test]
    fn no_write_makes_the_server_keep_whole_paths() {
        // A step that needs each traverser's whole path makes the server carry (and hash,
        // at each step) every object the traverser passed, the request's rows among them.
        for shape in [Shape::Merge, Shape::Chained] {
            let ops = write(shape);
            for path in ["otherV", "path", "simplePath", "cyclicPath", "tree"] {
                assert!(!ops.contains(path), "{path} in {shape:?}: {ops:?}");
            }
        }
    }

    #[test]
    fn the_chained_shape_uses_no_merge_no_fail_and_no_edge_lookup() {
        let ops = write(Shape::Chained);
        for newer in ["mergeV", "mergeE", "fail", "E", "none"] {
            assert!(!ops.contains(newer), "{newer} in {ops:?}");
        }
        for used in ["addV", "addE", "where", "drop", "property"] {
            assert!(ops.contains(used), "{used} not in {ops:?}");
        }
    }

    #[test]
    fn the_merge_shape_merges_and_fails_on_a_changed_graph() {
        let ops = write(Shape::Merge);
        for used in ["mergeV", "mergeE", "fail", "E"] {
            assert!(ops.contains(used), "{used} not in {ops:?}");
        }
        assert!(!ops.contains("addV") && !ops.contains("addE"), "{ops:?}");
    }
}
