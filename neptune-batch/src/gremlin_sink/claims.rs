//! How a request of changes claims what it read, so that two writers that decide on the same
//! read cannot both commit.
//!
//! A request of changes reads the state its changes depend on, decides, and writes with guards
//! that compare, inside the write's transaction, what was read with what is there (see
//! [`change_diff`](super::change_diff)). Guards alone leave a window: two transactions can
//! each pass their guards before either commits. The claim closes it, in the way the engine
//! detects two transactions meeting:
//!
//! * **[`Claims::Transient`]** (Amazon Neptune, TinkerPop's transactional TinkerGraph). The
//!   request writes a property on every element it read and removes it in the same step.
//!   TinkerGraph checks at commit every element a transaction wrote against the version it
//!   first read; Neptune locks what a mutation reads. Nothing is left behind.
//! * **[`Claims::Locked`]** (JanusGraph). JanusGraph checks nothing at commit unless the schema
//!   asks for a lock, and a property written and removed in one transaction is no write at
//!   all. So the sink's setup makes two things in the schema, once, with JanusGraph's
//!   management API ([`SCRIPT`], its names as bindings):
//!   - [`LOCK_KEY`], a single `Long` with `LOCK` consistency. The request sets it to a new
//!     value on every vertex it read, and on the from-vertex of every edge it read, and keeps
//!     it. At commit JanusGraph locks each (vertex, key) and checks that the value is still
//!     the one the transaction replaced: a second writer fails with `PermanentLockingException`
//!     and reads again, as on the other engines. Edges are claimed through their from-vertex:
//!     every change of an edge reaches it from there, and an edge label cannot be given a lock
//!     without locking every edge of that label for every writer. A vertex the change path
//!     creates gets a value of it too, so that whoever drops it later takes the lock. Dropping
//!     an edge changes its other end, so a vertex delete claims the other ends of the edges it
//!     drops.
//!   - [`VERTEX_ID_KEY`], a `String` with a **unique** composite index with `LOCK`
//!     consistency. Every vertex the change path creates (vertices, placeholders, tombstones)
//!     holds its own id there. A claim can only be set on what exists; two transactions that
//!     both create a vertex of the same id (an upsert and another process's placeholder for
//!     it) are caught by the index instead. JanusGraph itself does not refuse a second vertex
//!     of a caller's id made at the same moment: it merges the two into one.
//!
//! The cost on JanusGraph is one property and one lock per vertex read, and one index entry per
//! vertex created. Users' queries see both keys as properties whose names start with `_`, as
//! `_version` is; a mutation may not set them.

use crate::bytecode::{anon, Bytecode};
use crate::graphson::GValue;
use crate::mutation::{CLAIM_KEY, LOCK_KEY, VERTEX_ID_KEY};
use crate::transport::GremlinTransport;
use std::sync::atomic::{AtomicI64, Ordering};

/// How the requests of changes claim what they read (see the [module](self) notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Claims {
    /// A property written and removed in one step: the engine checks written elements.
    #[default]
    Transient,
    /// A kept property under a lock, on vertices; new vertices hold their id in a unique
    /// index (JanusGraph).
    Locked,
}

impl Claims {
    /// The claim of this kind on `elements`: [`CLAIM_KEY`] set and removed, or [`LOCK_KEY`]
    /// set to a value no other request sets.
    pub(super) fn claim(self, elements: Bytecode) -> Bytecode {
        match self {
            Claims::Transient => elements
                .step("property", [GValue::from(CLAIM_KEY), GValue::Bool(true)])
                .step("properties", [CLAIM_KEY])
                .then("drop"),
            Claims::Locked => elements.step(
                "property",
                [GValue::from(LOCK_KEY), GValue::Long(next_claim())],
            ),
        }
    }

    /// `edges` claiming, where claims are locked, the `ends` of each that a drop of it changes
    /// and the request did not read (a transient claim needs no such step: the graph checks an
    /// edge's ends as its drop changes them). Two writers, one of which drops an edge while the
    /// other acts on the end it read (an update from there, a placeholder it completes), then
    /// conflict on JanusGraph as they do on the edge itself.
    pub(super) fn claim_ends_of(self, edges: Bytecode, ends: Bytecode) -> Bytecode {
        match self {
            Claims::Transient => edges,
            Claims::Locked => edges.step("sideEffect", [self.claim(ends)]),
        }
    }

    /// The values a vertex created by the change path holds besides its own, where claims are
    /// locked: a [`LOCK_KEY`] value, so that whoever drops or claims it later takes the lock
    /// against this value (a vertex without the key would be dropped without a lock, while
    /// another writer claims it), and, unless it is `recreated` (dropped and made again in the
    /// same transaction), its id in [`VERTEX_ID_KEY`].
    pub(super) fn created_vertex_values(self, id: &str, recreated: bool) -> Vec<(String, GValue)> {
        match self {
            Claims::Transient => Vec::new(),
            Claims::Locked if recreated => {
                vec![(LOCK_KEY.to_owned(), GValue::Long(next_claim()))]
            }
            Claims::Locked => vec![
                (LOCK_KEY.to_owned(), GValue::Long(next_claim())),
                (VERTEX_ID_KEY.to_owned(), GValue::from(id)),
            ],
        }
    }

    /// The properties of a vertex that is turned into a placeholder: all of them, except, where
    /// claims are locked, its id in the unique index and its lock value (the vertex still
    /// exists, and the request claimed it already).
    pub(super) fn droppable_properties(self) -> Bytecode {
        let all = anon("properties", Vec::<GValue>::new());
        match self {
            Claims::Transient => all,
            Claims::Locked => {
                let kept = vec![GValue::from(VERTEX_ID_KEY), GValue::from(LOCK_KEY)];
                all.step("hasKey", [GValue::p("without", GValue::List(kept))])
            }
        }
    }
}

/// `<vertex>.coalesce(values(LOCK_KEY).constant(true), constant(false))`: whether the vertex
/// `vertex` leads to holds a locked claim value, as the read of changes answers it and the
/// write's guard compares it.
pub(super) fn holds_claim(vertex: Bytecode) -> Bytecode {
    vertex.step(
        "coalesce",
        [
            anon("values", [LOCK_KEY]).step("constant", [true]),
            anon("constant", [false]),
        ],
    )
}

/// A claim value no other request of this process sets, and unlikely to be another process's:
/// the time the process first claimed, in nanoseconds, counted up. Only a change of the value
/// matters to the lock, not the value.
fn next_claim() -> i64 {
    static START: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    static COUNT: AtomicI64 = AtomicI64::new(0);
    let start = *START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64)
    });
    start.wrapping_add(COUNT.fetch_add(1, Ordering::Relaxed))
}

/// The management script: answers `not-janusgraph`, or, on JanusGraph, `created` or the unique
/// index's status (`ENABLED`, …), or `id-key-exists` (the key exists without the index), or
/// `lock-key-not-long` (the claim key exists with another type: nothing changed). It gives the
/// claim key `LOCK` consistency whatever else it finds. Bindings: `claimKey`,
/// `idKey`, `indexName`.
pub(super) const SCRIPT: &str = r#"
if (!(graph instanceof org.janusgraph.core.JanusGraph)) { return 'not-janusgraph' }
def m = graph.openManagement()
try {
  def lock = org.janusgraph.core.schema.ConsistencyModifier.LOCK
  def claim = m.containsPropertyKey(claimKey) ? m.getPropertyKey(claimKey) :
      m.makePropertyKey(claimKey).dataType(Long.class).cardinality(org.janusgraph.core.Cardinality.SINGLE).make()
  if (claim.dataType() != Long.class) { m.rollback(); return 'lock-key-not-long' }
  if (m.getConsistency(claim) != lock) { m.setConsistency(claim, lock) }
  def index = m.getGraphIndex(indexName)
  def answer
  if (index != null) {
    answer = index.getIndexStatus(m.getPropertyKey(idKey)).toString()
  } else if (m.containsPropertyKey(idKey)) {
    answer = 'id-key-exists'
  } else {
    def key = m.makePropertyKey(idKey).dataType(String.class).cardinality(org.janusgraph.core.Cardinality.SINGLE).make()
    def made = m.buildIndex(indexName, org.apache.tinkerpop.gremlin.structure.Vertex.class).addKey(key).unique().buildCompositeIndex()
    m.setConsistency(made, lock)
    answer = 'created'
  }
  m.commit()
  return answer
} catch (Exception e) {
  if (m.isOpen()) { m.rollback() }
  throw e
}
"#;

/// The unique index's name.
pub(super) const INDEX_NAME: &str = "neptune_batch_vertex_by_id";

/// Whether a server's error text is the unique index refusing a vertex that another writer
/// created since the request's read (JanusGraph's "Adding this property for key [_vertex_id]
/// and value [...] violates a uniqueness constraint [index]"): the graph changed, and the
/// changes are read and decided again.
pub(super) fn created_meanwhile(text: &str) -> bool {
    text.contains("violates a uniqueness constraint") && text.contains(INDEX_NAME)
}

/// Finds out, with property ids (the only identity JanusGraph allows), whether the server is
/// JanusGraph, and there makes the schema the locked claims need, through
/// [`management_script`](super::edge_index::management_script). Any other answer, a refused
/// script included, keeps transient claims.
pub(super) async fn ensure(transport: &GremlinTransport, property_ids: bool) -> Claims {
    if !property_ids {
        return Claims::Transient;
    }
    let bindings = vec![
        ("claimKey".into(), GValue::from(LOCK_KEY)),
        ("idKey".into(), GValue::from(VERTEX_ID_KEY)),
        ("indexName".into(), GValue::from(INDEX_NAME)),
    ];
    match super::edge_index::management_script(transport, SCRIPT, bindings).await {
        Ok(text) => claims(&text),
        Err(last) => {
            tracing::warn!(error = %last, "could not check whether the graph needs locked claims: two processes changing the same vertices may not be kept apart");
            Claims::Transient
        }
    }
}

/// Reads the script's answer.
fn claims(answer: &str) -> Claims {
    match answer {
        "not-janusgraph" => Claims::Transient,
        "lock-key-not-long" => {
            tracing::warn!(
                key = LOCK_KEY,
                "the lock key exists and does not hold numbers: two processes changing the same vertices may not be kept apart"
            );
            Claims::Transient
        }
        "created" | "ENABLED" => Claims::Locked,
        other => {
            tracing::warn!(
                key = VERTEX_ID_KEY,
                state = other,
                "no enabled unique index on the vertex id key: two processes creating the same vertex at once may not be kept apart"
            );
            Claims::Locked
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_takes_its_names_as_bindings_only() {
        for name in [LOCK_KEY, VERTEX_ID_KEY, INDEX_NAME] {
            assert!(!SCRIPT.contains(name), "{name} spliced into the script");
        }
        assert!(SCRIPT.contains("claimKey") && SCRIPT.contains("idKey"));
    }

    #[test]
    fn janusgraph_locks_and_every_other_graph_claims_transiently() {
        assert_eq!(claims("not-janusgraph"), Claims::Transient);
        assert_eq!(claims("lock-key-not-long"), Claims::Transient);
        assert_eq!(claims("created"), Claims::Locked);
        assert_eq!(claims("ENABLED"), Claims::Locked);
        // Without the index the claims still lock what exists.
        assert_eq!(claims("id-key-exists"), Claims::Locked);
    }

    #[test]
    fn a_vertex_made_meanwhile_is_a_changed_graph() {
        let refused = format!(
            "Adding this property for key [{VERTEX_ID_KEY}] and value [p1] violates a uniqueness constraint [{INDEX_NAME}]"
        );
        assert!(created_meanwhile(&refused));
        assert!(!created_meanwhile(
            "Adding this property for key [email] and value [a] violates a uniqueness constraint [by_email]"
        ));
    }

    #[test]
    fn locked_claims_never_repeat_a_value() {
        let values: std::collections::BTreeSet<i64> = (0..1000).map(|_| next_claim()).collect();
        assert_eq!(values.len(), 1000);
    }

    #[test]
    fn a_transient_claim_leaves_nothing_and_a_locked_one_keeps_its_value() {
        let transient = format!("{:?}", Claims::Transient.claim(anon("V", ["a"])));
        assert!(transient.contains("drop"), "{transient}");
        let locked = format!("{:?}", Claims::Locked.claim(anon("V", ["a"])));
        assert!(!locked.contains("drop"), "{locked}");
        assert!(Claims::Transient
            .created_vertex_values("a", false)
            .is_empty());
        let keys = |recreated| -> Vec<String> {
            Claims::Locked
                .created_vertex_values("a", recreated)
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(keys(false), [LOCK_KEY, VERTEX_ID_KEY]);
        assert_eq!(keys(true), [LOCK_KEY]);
    }
}
