//! One attempt at writing what a set of records asks of the graph, with one verdict per record.

use crate::mapper::GraphWrites;
use neptune_batch::{GraphSink, ItemOutcome, SinkError, WriteReport};
use std::time::{Duration, Instant};
use stream2neptune_common::{Classify, ErrorKind};

/// Where a record stands after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every item is in the graph: created by this attempt, or already there.
    Done { written: u64, present: u64 },
    /// An item is bad in itself (missing endpoint, conflict with the graph, invalid, refused):
    /// the record becomes a dead letter with this reason.
    Permanent(String),
    /// An item failed for a transient reason: the record is held and tried again;
    /// `unconfirmed` when an answer was lost, so the record may be in the graph already.
    Transient { error: String, unconfirmed: bool },
}

/// What one attempt did.
#[derive(Debug)]
pub(crate) struct Attempt {
    /// One verdict per record, in the order given.
    pub verdicts: Vec<Verdict>,
    /// Edges sent.
    pub edges: usize,
    /// Items the sink reported as failed for good.
    pub permanent_items: usize,
    /// Retries inside the sink.
    pub retries: u32,
    /// Time the attempt took.
    pub took: Duration,
}

/// Folds item outcomes into the verdicts of the records that own them.
fn fold(
    verdicts: &mut [Verdict],
    owners: &[usize],
    report: WriteReport,
    what: &str,
    permanent_items: &mut usize,
) {
    for (&owner, outcome) in owners.iter().zip(report.outcomes) {
        let verdict = &mut verdicts[owner];
        match outcome {
            ItemOutcome::Written | ItemOutcome::AlreadyPresent => {
                if let Verdict::Done { written, present } = verdict {
                    if outcome == ItemOutcome::Written {
                        *written += 1;
                    } else {
                        *present += 1;
                    }
                }
            }
            ItemOutcome::Failed(f) if f.kind() == ErrorKind::Permanent => {
                *permanent_items += 1;
                if !matches!(verdict, Verdict::Permanent(_)) {
                    *verdict = Verdict::Permanent(format!("not written: {what} {f}"));
                }
            }
            ItemOutcome::Failed(f) => {
                let unconfirmed = f.may_be_written();
                match verdict {
                    Verdict::Done { .. } => {
                        *verdict = Verdict::Transient {
                            error: f.to_string(),
                            unconfirmed,
                        }
                    }
                    Verdict::Transient { unconfirmed: u, .. } => *u |= unconfirmed,
                    Verdict::Permanent(_) => {}
                }
            }
        }
    }
}

/// Folds one call's result into the records' verdicts: its report item by item, or, for a
/// retriable failure of the whole call (no connection: nothing of it was sent), a transient
/// verdict for every record still done. `Err` for a whole-call failure that will not pass.
fn settle(
    result: Result<WriteReport, SinkError>,
    owners: &[usize],
    what: &str,
    verdicts: &mut [Verdict],
    attempt: &mut Attempt,
) -> Result<(), SinkError> {
    match result {
        Ok(report) => {
            attempt.retries += report.retries;
            fold(verdicts, owners, report, what, &mut attempt.permanent_items);
        }
        Err(e) if e.is_retriable() => {
            for v in verdicts.iter_mut() {
                if matches!(v, Verdict::Done { .. }) {
                    *v = Verdict::Transient {
                        error: e.to_string(),
                        unconfirmed: false,
                    };
                }
            }
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Writes the vertices of `records`, then the edges of the records whose vertices are all in
/// the graph, through `sink`, one call each. `Err` only for a failure of the whole call that
/// will not pass (a retriable whole-call failure makes every record transient).
pub(crate) async fn write_records(
    sink: &dyn GraphSink,
    records: &[&GraphWrites],
) -> Result<Attempt, SinkError> {
    let started = Instant::now();
    let mut verdicts = vec![
        Verdict::Done {
            written: 0,
            present: 0
        };
        records.len()
    ];
    let mut attempt = Attempt {
        verdicts: Vec::new(),
        edges: 0,
        permanent_items: 0,
        retries: 0,
        took: Duration::ZERO,
    };
    let (owners, vertices): (Vec<usize>, Vec<_>) = records
        .iter()
        .enumerate()
        .flat_map(|(i, w)| w.vertices.iter().map(move |v| (i, v.clone())))
        .unzip();
    if !vertices.is_empty() {
        let result = sink.write_vertices(&vertices).await;
        settle(result, &owners, "vertex:", &mut verdicts, &mut attempt)?;
    }
    // An edge whose record's vertex is not in the graph waits with it: sent now, it would
    // fail as a missing endpoint, for good, although only the vertex's write was at fault.
    let (owners, edges): (Vec<usize>, Vec<_>) = records
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(verdicts[*i], Verdict::Done { .. }))
        .flat_map(|(i, w)| w.edges.iter().map(move |e| (i, e.clone())))
        .unzip();
    attempt.edges = edges.len();
    if !edges.is_empty() {
        let result = sink.write_edges(&edges).await;
        settle(result, &owners, "edge:", &mut verdicts, &mut attempt)?;
    }
    attempt.verdicts = verdicts;
    attempt.took = started.elapsed();
    Ok(attempt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use neptune_batch::{Edge, MemoryGraph, Vertex};

    #[tokio::test]
    async fn each_record_gets_the_verdict_of_its_worst_item() {
        let graph = MemoryGraph::new();
        graph
            .write_vertices(&[Vertex::new("a", "person")])
            .await
            .unwrap();
        let ok = GraphWrites::vertex(Vertex::new("b", "person"))
            .with_edge(Edge::new("a>b", "follows", "a", "b"));
        let again = GraphWrites::edge(Edge::new("a>b", "follows", "a", "b"));
        let missing = GraphWrites::edge(Edge::new("a>z", "follows", "a", "z"));
        let nothing = GraphWrites::new();
        let attempt = write_records(&graph, &[&ok, &again, &missing, &nothing])
            .await
            .unwrap();
        assert_eq!(
            attempt.verdicts[0],
            Verdict::Done {
                written: 2,
                present: 0
            }
        );
        assert_eq!(
            attempt.verdicts[1],
            Verdict::Done {
                written: 0,
                present: 1
            }
        );
        match &attempt.verdicts[2] {
            Verdict::Permanent(reason) => assert!(reason.contains("vertex z"), "{reason}"),
            other => panic!("a missing endpoint is permanent, got {other:?}"),
        }
        assert_eq!(
            attempt.verdicts[3],
            Verdict::Done {
                written: 0,
                present: 0
            }
        );
        assert_eq!((attempt.edges, attempt.permanent_items), (3, 1));
    }
}
