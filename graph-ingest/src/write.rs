//! One attempt at writing what a set of records asks of the graph, with one verdict per record.

use crate::mapper::GraphWrites;
use crate::stats::{ChangeCounts, ChangeKind};
use neptune_batch::{GraphSink, ItemOutcome, SinkError, WriteReport};
use std::time::{Duration, Instant};
use stream2neptune_common::{Classify, ErrorKind};

/// What a record's items did, when all of them are settled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Settled {
    /// Items that changed the graph.
    pub written: u64,
    /// Items the graph already held as asked.
    pub present: u64,
    /// Changes older than what the graph holds, skipped.
    pub stale: u64,
}

/// Where a record stands after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every item is settled: written, already there, or stale.
    Done(Settled),
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
    /// Edges sent (created or changed).
    pub edges: usize,
    /// Items the sink reported as failed for good.
    pub permanent_items: usize,
    /// Retries inside the sink.
    pub retries: u32,
    /// Milliseconds the sink slept on write conflicts.
    pub conflict_sleep_ms: u64,
    /// What the changes did, by kind.
    pub changes: ChangeCounts,
    /// Time the attempt took.
    pub took: Duration,
}

/// One call's items: the record that owns each, and (for changes) its kind.
struct Items<'a> {
    owners: &'a [usize],
    kinds: Option<&'a [ChangeKind]>,
    what: &'a str,
}

/// Folds item outcomes into the verdicts of the records that own them.
fn fold(verdicts: &mut [Verdict], items: &Items<'_>, report: WriteReport, attempt: &mut Attempt) {
    for (n, (&owner, outcome)) in items.owners.iter().zip(report.outcomes).enumerate() {
        if let (Some(kinds), true) = (items.kinds, outcome.is_success()) {
            attempt.changes.count(kinds[n], &outcome);
        }
        let verdict = &mut verdicts[owner];
        match outcome {
            ItemOutcome::Failed(f) if f.kind() == ErrorKind::Permanent => {
                attempt.permanent_items += 1;
                if !matches!(verdict, Verdict::Permanent(_)) {
                    *verdict = Verdict::Permanent(format!("not written: {} {f}", items.what));
                }
            }
            ItemOutcome::Failed(f) => {
                let unconfirmed = f.may_be_written();
                match verdict {
                    Verdict::Done(_) => {
                        *verdict = Verdict::Transient {
                            error: f.to_string(),
                            unconfirmed,
                        }
                    }
                    Verdict::Transient { unconfirmed: u, .. } => *u |= unconfirmed,
                    Verdict::Permanent(_) => {}
                }
            }
            settled => {
                if let Verdict::Done(counts) = verdict {
                    match settled {
                        ItemOutcome::Written => counts.written += 1,
                        ItemOutcome::Stale => counts.stale += 1,
                        _ => counts.present += 1,
                    }
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
    items: &Items<'_>,
    verdicts: &mut [Verdict],
    attempt: &mut Attempt,
) -> Result<(), SinkError> {
    match result {
        Ok(report) => {
            attempt.retries += report.retries;
            attempt.conflict_sleep_ms += report.conflict_sleep_ms;
            fold(verdicts, items, report, attempt);
        }
        Err(e) if e.kind().is_retriable() => {
            for v in verdicts.iter_mut() {
                if matches!(v, Verdict::Done(_)) {
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

/// The items of the records still settled so far, with their owners.
fn pending<'a, T: Clone + 'a>(
    records: &[&'a GraphWrites],
    verdicts: &[Verdict],
    items: impl Fn(&'a GraphWrites) -> &'a [T],
) -> (Vec<usize>, Vec<T>) {
    records
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(verdicts[*i], Verdict::Done(_)))
        .flat_map(|(i, w)| items(w).iter().map(move |x| (i, x.clone())))
        .unzip()
}

/// Writes the vertices of `records`, then the edges of the records whose vertices are all in
/// the graph, then the changes of the records whose creates are all in the graph, through
/// `sink`, one call each. `Err` only for a failure of the whole call that will not pass (a
/// retriable whole-call failure makes every record transient).
pub(crate) async fn write_records(
    sink: &dyn GraphSink,
    records: &[&GraphWrites],
) -> Result<Attempt, SinkError> {
    let started = Instant::now();
    let mut verdicts = vec![Verdict::Done(Settled::default()); records.len()];
    let mut attempt = Attempt {
        verdicts: Vec::new(),
        edges: 0,
        permanent_items: 0,
        retries: 0,
        conflict_sleep_ms: 0,
        changes: ChangeCounts::default(),
        took: Duration::ZERO,
    };
    let (owners, vertices) = pending(records, &verdicts, |w| &w.vertices);
    if !vertices.is_empty() {
        let result = sink.write_vertices(&vertices).await;
        let items = Items {
            owners: &owners,
            kinds: None,
            what: "vertex:",
        };
        settle(result, &items, &mut verdicts, &mut attempt)?;
    }
    // An edge whose record's vertex is not in the graph waits with it: sent now, it would
    // fail as a missing endpoint, for good, although only the vertex's write was at fault.
    let (owners, edges) = pending(records, &verdicts, |w| &w.edges);
    attempt.edges = edges.len();
    if !edges.is_empty() {
        let result = sink.write_edges(&edges).await;
        let items = Items {
            owners: &owners,
            kinds: None,
            what: "edge:",
        };
        settle(result, &items, &mut verdicts, &mut attempt)?;
    }
    let (owners, mutations) = pending(records, &verdicts, |w| &w.mutations);
    if !mutations.is_empty() {
        let kinds: Vec<ChangeKind> = mutations.iter().map(ChangeKind::of).collect();
        attempt.edges += kinds.iter().filter(|k| k.is_edge()).count();
        let result = sink.apply(&mutations).await;
        let items = Items {
            owners: &owners,
            kinds: Some(&kinds),
            what: "change:",
        };
        settle(result, &items, &mut verdicts, &mut attempt)?;
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
            Verdict::Done(Settled {
                written: 2,
                ..Settled::default()
            })
        );
        assert_eq!(
            attempt.verdicts[1],
            Verdict::Done(Settled {
                present: 1,
                ..Settled::default()
            })
        );
        match &attempt.verdicts[2] {
            Verdict::Permanent(reason) => assert!(reason.contains("vertex z"), "{reason}"),
            other => panic!("a missing endpoint is permanent, got {other:?}"),
        }
        assert_eq!(attempt.verdicts[3], Verdict::Done(Settled::default()));
        assert_eq!((attempt.edges, attempt.permanent_items), (3, 1));
    }
}
