//! The check that ends a follows run: every edge of the data set is in the graph, looked up the
//! way the sink names edges ([`EdgeIdentity`]).
//!
//! With server ids (Neptune, TinkerGraph) an edge is found by its id, `E(ids).hasLabel(label)`.
//! With property ids (JanusGraph, which assigns every edge id itself) the id is the value of the
//! identity's property and unique among the out-edges of one vertex: the edges are found from
//! their from-vertices, `V(froms).outE(label).has(key, within(ids))`, and the distinct ids
//! counted. Every value is a bytecode argument; nothing is spliced into a script.

use crate::cli::{ExitClass, Failure};
use neptune_batch::gremlin::{Bytecode, GValue};
use neptune_batch::transport::{GremlinTransport, TransportConfigBuilder};
use neptune_batch::{EdgeIdentity, FollowsSchema};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use workload_gen::reader::{EdgeFileConfig, EdgeReader};

/// Edges looked up per request.
const CHUNK: usize = 500;

/// What the graph holds of the data set's edges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct EdgeCheck {
    /// Distinct edges (by id) in the data set.
    pub expected: usize,
    /// Of those, edges found in the graph.
    pub found: usize,
    /// How they were looked up (`EdgeIdentity::describe`).
    pub identity: String,
}

impl EdgeCheck {
    /// Edges of the data set not in the graph.
    pub fn missing(&self) -> usize {
        self.expected.saturating_sub(self.found)
    }

    /// The summary's line.
    pub fn line(&self) -> String {
        let verdict = if self.missing() == 0 {
            "passed"
        } else {
            "incomplete"
        };
        format!(
            "{verdict}: {} of the data set's {} edges found in the graph by their ids ({})",
            self.found, self.expected, self.identity
        )
    }

    /// A data failure when more edges are missing than `excused` (records that became dead
    /// letters or that the stream never accepted) can explain.
    pub fn verdict(&self, excused: u64) -> Result<(), Failure> {
        if self.missing() as u64 <= excused {
            return Ok(());
        }
        Err(Failure::new(
            ExitClass::Data,
            format!(
                "the graph lacks {} of the data set's {} edges (looked up by {}), more than the {excused} dead letters and unaccepted records explain",
                self.missing(),
                self.expected,
                self.identity
            ),
        ))
    }
}

/// The lookup of a chunk of edges (id to from-vertex) that counts those in the graph.
fn count_query(identity: &EdgeIdentity, label: &str, chunk: &[(&String, &String)]) -> Bytecode {
    let ids: Vec<GValue> = chunk.iter().map(|(id, _)| GValue::from(*id)).collect();
    match identity.key() {
        None => Bytecode::new()
            .step("E", ids)
            .step("hasLabel", [label])
            .then("count"),
        Some(key) => {
            let froms: BTreeSet<&String> = chunk.iter().map(|(_, from)| *from).collect();
            Bytecode::new()
                .step("V", froms.into_iter().map(GValue::from).collect::<Vec<_>>())
                .step("outE", [label])
                .step("has", [GValue::from(key), GValue::p("within", ids)])
                .step("values", [key])
                .then("dedup")
                .then("count")
        }
    }
}

/// Counts the edges of the file `edge_path` that the graph holds, by `identity`.
pub(super) async fn check_edges(
    reader: TransportConfigBuilder,
    identity: &EdgeIdentity,
    edge_path: &Path,
) -> Result<EdgeCheck, Failure> {
    let schema = FollowsSchema::default();
    let edges: BTreeMap<String, String> = EdgeReader::open(edge_path, &EdgeFileConfig::default())?
        .filter_map(Result::ok)
        .map(|e| {
            (
                FollowsSchema::edge_id(&e.from, &e.creation_date, &e.to),
                e.from,
            )
        })
        .collect();
    let reader = GremlinTransport::connect(reader.build()?).await?;
    let pairs: Vec<(&String, &String)> = edges.iter().collect();
    let mut found = 0;
    for chunk in pairs.chunks(CHUNK) {
        let answer = reader
            .submit(&count_query(identity, &schema.edge_label, chunk))
            .await?;
        found += answer.first().and_then(GValue::as_i64).unwrap_or(0) as usize;
    }
    Ok(EdgeCheck {
        expected: edges.len(),
        found,
        identity: identity.describe(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operators(b: &Bytecode) -> Vec<String> {
        b.steps().iter().map(|i| i.operator.clone()).collect()
    }

    #[test]
    fn server_ids_are_looked_up_by_id_and_property_ids_from_their_vertices() {
        let (id, from) = ("1-2019-01-02-2".to_owned(), "1".to_owned());
        let chunk = [(&id, &from)];
        let by_id = count_query(&EdgeIdentity::ServerIds, "follows", &chunk);
        assert_eq!(operators(&by_id), ["E", "hasLabel", "count"]);
        let by_property = count_query(&EdgeIdentity::property_ids(), "follows", &chunk);
        assert_eq!(
            operators(&by_property),
            ["V", "outE", "has", "values", "dedup", "count"]
        );
        // The ids travel as arguments, not in the text of a script.
        let json = by_property.to_json().to_string();
        assert!(
            json.contains("1-2019-01-02-2") && json.contains("edge_id"),
            "{json}"
        );
    }

    #[test]
    fn the_verdict_excuses_dead_letters_only() {
        let check = EdgeCheck {
            expected: 10,
            found: 8,
            identity: "server".into(),
        };
        assert!(check
            .line()
            .starts_with("incomplete: 8 of the data set's 10"));
        assert!(check.verdict(2).is_ok());
        assert_eq!(check.verdict(1).unwrap_err().class, ExitClass::Data);
    }
}
