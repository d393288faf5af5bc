//! The index that finds an edge by its id property on JanusGraph.
//!
//! A change names an edge by its id alone, so with [`EdgeIdentity::PropertyIds`] the change
//! path looks edges up in the whole graph, `E().has(key, within(ids))` (see
//! [`change_edges`](super::change_edges)). Without an index JanusGraph answers that by
//! scanning every edge of the graph, in every request of changes that names an edge. With a
//! composite index on the key it is one index lookup per id.
//!
//! JanusGraph's schema can only be changed through its management API, which no traversal
//! reaches: [`ensure`] sends one fixed Groovy script, [`SCRIPT`], with the key and the index's
//! name as bindings (never spliced into the text). It builds the index only where it can be
//! used at once: when the key does not exist yet, the key and the index are made together and
//! the index is enabled as it is committed. A key that already exists (edges were written
//! before, or JanusGraph's automatic schema made it) would need its index registered and every
//! edge reindexed, which the sink does not start on its own: it says so in a warning, and the
//! lookups scan until an operator builds the index (`docs/janusgraph.md`). On any other graph
//! the script answers that it is not JanusGraph and changes nothing; a server that refuses
//! scripts (Neptune accepts only a Gremlin subset) leaves a warning, never a failed connect.

use super::identity::EdgeIdentity;
use crate::graphson::GValue;
use crate::transport::{GremlinTransport, Request};

/// The management script: answers `not-janusgraph`, `key-exists`, `created`, or the index's
/// status (`ENABLED`, `INSTALLED`, `REGISTERED`, `DISABLED`) where it exists already. Bindings:
/// `idKey`, `indexName`.
pub(super) const SCRIPT: &str = r#"
if (!(graph instanceof org.janusgraph.core.JanusGraph)) { return 'not-janusgraph' }
def m = graph.openManagement()
try {
  def index = m.getGraphIndex(indexName)
  if (index != null) {
    def status = index.getIndexStatus(m.getPropertyKey(idKey)).toString()
    m.rollback()
    return status
  }
  if (m.containsPropertyKey(idKey)) {
    m.rollback()
    return 'key-exists'
  }
  def key = m.makePropertyKey(idKey).dataType(String.class).cardinality(org.janusgraph.core.Cardinality.SINGLE).make()
  m.buildIndex(indexName, org.apache.tinkerpop.gremlin.structure.Edge.class).addKey(key).buildCompositeIndex()
  m.commit()
  return 'created'
} catch (Exception e) {
  if (m.isOpen()) { m.rollback() }
  throw e
}
"#;

/// What [`ensure`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum IndexState {
    /// The index exists and is enabled, or was just made: lookups by id use it.
    Enabled,
    /// Not JanusGraph (or server ids): nothing to do.
    NotNeeded,
    /// No usable index: lookups by id scan every edge. The reason, for the warning.
    Missing(String),
}

/// The index's name for the property `key`.
pub(super) fn index_name(key: &str) -> String {
    format!("neptune_batch_edge_by_{key}")
}

/// Reads the script's answer.
fn state(answer: &str) -> IndexState {
    match answer {
        "created" | "ENABLED" => IndexState::Enabled,
        "not-janusgraph" => IndexState::NotNeeded,
        "key-exists" => IndexState::Missing(
            "the id property exists already without the index: build it and reindex by hand".into(),
        ),
        status => IndexState::Missing(format!("the index is {status}, not ENABLED")),
    }
}

/// Makes sure, with property ids on JanusGraph, that the composite index on the id property
/// exists (see the module notes), through [`management_script`].
pub(super) async fn ensure(transport: &GremlinTransport, identity: &EdgeIdentity) -> IndexState {
    let Some(key) = identity.key() else {
        return IndexState::NotNeeded;
    };
    let bindings = vec![
        ("idKey".into(), GValue::from(key)),
        ("indexName".into(), GValue::from(index_name(key))),
    ];
    match management_script(transport, SCRIPT, bindings).await {
        Ok(text) => {
            let found = state(&text);
            match &found {
                IndexState::Enabled => tracing::debug!(key, "edge id index enabled"),
                IndexState::NotNeeded => {}
                IndexState::Missing(why) => tracing::warn!(
                    key,
                    why = %why,
                    "no index on the edge id property: each change naming an edge scans every edge"
                ),
            }
            found
        }
        Err(last) => {
            tracing::warn!(key, error = %last, "the edge id index could not be checked or made: each change naming an edge may scan every edge");
            IndexState::Missing(last)
        }
    }
}

/// How often a management script is tried: two sinks connecting at once to a new graph both
/// change its schema, and JanusGraph refuses the one that loses ("Local lock contention", then
/// "violates a uniqueness constraint [SystemIndex#~T$SchemaName]" while the winner commits).
/// Tried twice at once, the loser sometimes found the winner still committing, and ran without
/// locked claims. 50 ms doubling with full jitter, 5 retries: at most 1.55 s, at connect only.
const SCRIPT_RETRIES: stream2neptune_common::Backoff = stream2neptune_common::Backoff::new(
    std::time::Duration::from_millis(50),
    std::time::Duration::from_millis(800),
)
.with_max_retries(5);

/// Runs one of the sink's fixed management scripts (values as `bindings`) and answers the text
/// it returns, or the last error, on the [`SCRIPT_RETRIES`] schedule: the sink that loses a
/// race to change the schema finds the change made when it tries again.
pub(super) async fn management_script(
    transport: &GremlinTransport,
    script: &str,
    bindings: Vec<(String, GValue)>,
) -> Result<String, String> {
    let request = Request::Eval {
        script: script.to_owned(),
        bindings,
    };
    let mut retry = 0;
    loop {
        let error = match transport.request(&request).await {
            Ok(answer) => {
                let text = answer.first().and_then(GValue::as_str).unwrap_or_default();
                return Ok(text.to_owned());
            }
            Err(e) => e.to_string(),
        };
        let Some(delay) = SCRIPT_RETRIES.next_delay(retry) else {
            return Err(error);
        };
        tracing::debug!(%error, retry, "a schema script failed; trying again");
        metrics::counter!(crate::metrics::RETRIES, "reason" => "schema_script").increment(1);
        tokio::time::sleep(delay).await;
        retry += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_takes_its_values_as_bindings_only() {
        // The key and the index name are bindings: the text names neither.
        assert!(SCRIPT.contains("idKey") && SCRIPT.contains("indexName"));
        assert!(!SCRIPT.contains(EdgeIdentity::DEFAULT_KEY));
        assert!(!SCRIPT.contains("neptune_batch_edge_by"));
        assert_eq!(index_name("edge_id"), "neptune_batch_edge_by_edge_id");
    }

    #[test]
    fn only_an_enabled_index_counts() {
        assert_eq!(state("created"), IndexState::Enabled);
        assert_eq!(state("ENABLED"), IndexState::Enabled);
        assert_eq!(state("not-janusgraph"), IndexState::NotNeeded);
        assert!(matches!(state("key-exists"), IndexState::Missing(why) if why.contains("reindex")));
        assert!(
            matches!(state("INSTALLED"), IndexState::Missing(why) if why.contains("INSTALLED"))
        );
    }
}
