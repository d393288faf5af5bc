//! The change-stream run of the main job (`--changes`): the data set's persons under ids of the
//! run's own, a seeded change stream put through the workload driver, the consumer's record
//! format for it, and the check of the graph the changes must leave.

use super::Args;
use crate::cli::{ExitClass, Failure};
use crate::consumer::RecordFormat;
use crate::producer::KinesisRecordSink;
use async_trait::async_trait;
use graph_ingest::stats::{ChangeCounts, ChangeOutcomes};
use graph_ingest::ChangeJson;
use indicatif::ProgressBar;
use neptune_batch::gremlin::{Bytecode, GValue};
use neptune_batch::transport::{GremlinTransport, TransportConfigBuilder};
use neptune_batch::{EdgeIdentity, GraphSink, GremlinSink, Vertex};
use workload_gen::changes::{ChangeKind, ChangeStream, ChangeStreamConfig};
use workload_gen::generator::{persons, GeneratorConfig};
use workload_gen::reader::ReadError;
use workload_gen::{FollowsEdge, OutgoingRecord, PutOutcome, RecordSink, RecordSinkError};

/// How the pipeline counted one kind of change: the outcomes of the mutation kind it maps to.
type Counted = fn(&ChangeCounts) -> ChangeOutcomes;

/// The kinds of the change stream, each with its name in the summary and the mutation kind the
/// pipeline counts it under.
pub(super) const KINDS: [(ChangeKind, &str, Counted); 4] = [
    (ChangeKind::Follow, "follow", |c| c.edge_upserts),
    (ChangeKind::Unfollow, "unfollow", |c| c.edge_deletes),
    (ChangeKind::ProfileEdit, "profile edit", |c| {
        c.vertex_upserts
    }),
    (ChangeKind::AccountClosure, "account closure", |c| {
        c.vertex_deletes
    }),
];

/// Vertices per write when the persons are loaded.
const PERSON_BATCH: usize = 200;

/// Ids per query of the graph check.
const CHECK_CHUNK: usize = 1_000;

/// A change run: its persons, its ids and its change stream.
pub(super) struct ChangeRun {
    /// Put before every vertex and edge id of the run, so that it meets no other run's graph.
    pub prefix: String,
    generator: GeneratorConfig,
    stream: ChangeStream,
}

impl ChangeRun {
    /// The change stream of `args` on the persons of `generator`, its ids prefixed for `run_id`.
    pub fn new(args: &Args, generator: &GeneratorConfig, run_id: &str) -> Result<Self, Failure> {
        let prefix = format!("{run_id}-{}-", std::process::id());
        let config = ChangeStreamConfig::new(generator.clone(), args.changes_to_generate())
            .with_id_prefix(prefix.clone());
        Ok(Self {
            stream: ChangeStream::new(config)?,
            generator: generator.clone(),
            prefix,
        })
    }

    /// The run's persons: the data set's, with the prefix before their ids.
    fn persons(&self) -> impl Iterator<Item = Vertex> + '_ {
        persons(&self.generator).map(|p| {
            Vertex::new(format!("{}{}", self.prefix, p.id), "person")
                .with("firstName", p.first_name)
                .with("lastName", p.last_name)
                .with("id", p.number as i64)
        })
    }

    /// Writes the run's persons through `sink`, moving `bar`; (written, already present).
    pub async fn load_persons(
        &self,
        sink: &GremlinSink,
        bar: &ProgressBar,
    ) -> Result<(usize, usize), Failure> {
        let persons: Vec<Vertex> = self.persons().collect();
        let (mut written, mut present) = (0, 0);
        for chunk in persons.chunks(PERSON_BATCH) {
            let report = sink.write_vertices(chunk).await?;
            if report.failed() > 0 {
                return Err(Failure::new(
                    ExitClass::Failure,
                    format!(
                        "{} of {} persons were not written",
                        report.failed(),
                        chunk.len()
                    ),
                ));
            }
            for o in &report.outcomes {
                match o {
                    neptune_batch::ItemOutcome::Written => written += 1,
                    _ => present += 1,
                }
            }
            bar.inc(chunk.len() as u64);
        }
        Ok((written, present))
    }

    /// The changes as the workload driver takes its input: each change travels to
    /// [`ChangeRecords`] inside a carrier (see there). Generated as the driver asks for them.
    pub fn carriers(&mut self) -> impl Iterator<Item = Result<FollowsEdge, ReadError>> + '_ {
        self.stream.by_ref().map(|c| {
            let data = String::from_utf8_lossy(&c.record.data).into_owned();
            Ok(FollowsEdge::new(
                c.record.partition_key,
                data,
                c.version.to_string(),
            ))
        })
    }

    /// Changes generated so far, by kind, in the order of [`KINDS`].
    pub fn generated(&self) -> [u64; 4] {
        KINDS.map(|(kind, _, _)| self.stream.generated(kind))
    }

    /// Counts what the graph holds of the run's ids against what the changes must leave; the
    /// live follows are looked up by `identity`, as the sink names edges (`E(ids)`, or
    /// `E().has(key, within(ids))` with property ids).
    pub async fn check_graph(
        &self,
        reader: TransportConfigBuilder,
        identity: &EdgeIdentity,
    ) -> Result<GraphCheck, Failure> {
        let reader = GremlinTransport::connect(reader.build()?).await?;
        let live = self.stream.live_follow_ids();
        let closed = self.stream.closed_accounts();
        let person_ids: Vec<String> = self.persons().map(|v| v.id).collect();
        let count = |ids: &[String], tail: fn(Bytecode) -> Bytecode, start: &'static str| {
            let query =
                tail(Bytecode::new().step(start, ids.iter().map(GValue::from).collect::<Vec<_>>()))
                    .then("count");
            let reader = reader.clone();
            async move {
                let answer = reader.submit(&query).await?;
                Ok::<_, Failure>(answer.first().and_then(GValue::as_i64).unwrap_or(0) as usize)
            }
        };
        let live_ids: Vec<String> = live.iter().cloned().collect();
        let closed_ids: Vec<String> = closed.iter().cloned().collect();
        let mut check = GraphCheck {
            persons: person_ids.len(),
            live: live.len(),
            closed: closed.len(),
            ..GraphCheck::default()
        };
        for chunk in live_ids.chunks(CHECK_CHUNK) {
            check.live_found += match identity.key() {
                None => count(chunk, |b| b.step("hasLabel", ["follows"]), "E").await?,
                Some(key) => {
                    let ids: Vec<GValue> = chunk.iter().map(GValue::from).collect();
                    let query = Bytecode::new()
                        .then("E")
                        .step("has", [GValue::from(key), GValue::p("within", ids)])
                        .step("hasLabel", ["follows"])
                        .then("count");
                    let answer = reader.submit(&query).await?;
                    answer.first().and_then(GValue::as_i64).unwrap_or(0) as usize
                }
            };
        }
        for chunk in person_ids.chunks(CHECK_CHUNK) {
            check.follows_found += count(chunk, |b| b.step("outE", ["follows"]), "V").await?;
        }
        for chunk in closed_ids.chunks(CHECK_CHUNK) {
            check.closed_found += count(chunk, |b| b, "V").await?;
        }
        Ok(check)
    }
}

/// What the graph holds of a change run's ids, against what the changes must leave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct GraphCheck {
    /// The run's persons.
    pub persons: usize,
    /// Follows that must exist.
    pub live: usize,
    /// Of those, `follows` edges in the graph.
    pub live_found: usize,
    /// `follows` edges out of the run's persons, in the graph.
    pub follows_found: usize,
    /// Accounts closed.
    pub closed: usize,
    /// Of those, vertices in the graph.
    pub closed_found: usize,
}

impl GraphCheck {
    /// The graph holds exactly the follows that must exist and none of the closed accounts.
    pub fn passed(&self) -> bool {
        self.live_found == self.live
            && self.follows_found == self.live_found
            && self.closed_found == 0
    }

    /// One line for the summary.
    pub fn line(&self) -> String {
        if self.passed() {
            format!(
                "passed: the {} follows left by the changes are in the graph, no other follows among the run's {} persons, none of the {} closed accounts is a vertex",
                self.live, self.persons, self.closed
            )
        } else {
            format!("FAILED: {}", self.mismatch())
        }
    }

    /// What differs, as one line.
    pub fn mismatch(&self) -> String {
        format!(
            "the graph is not what the changes must leave: {} of the {} follows that must exist are missing, {} follows edges among the run's persons should not be there, {} of the {} closed accounts are still vertices",
            self.live - self.live_found.min(self.live),
            self.live,
            self.follows_found.saturating_sub(self.live_found),
            self.closed_found,
            self.closed
        )
    }

    /// `Ok` if the check passed, else a data failure that says what differs.
    pub fn verdict(&self) -> Result<(), Failure> {
        if self.passed() {
            Ok(())
        } else {
            Err(Failure::new(ExitClass::Data, self.mismatch()))
        }
    }
}

/// Puts change records through the Kinesis producer for the workload driver, which paces and
/// retries `FollowsEdge` records: each change reaches it as a carrier whose follower is the
/// change's partition key and whose followed person is the change record, encoded as JSON
/// ([`PayloadFormat::Json`](workload_gen::PayloadFormat::Json)). The carrier is taken apart
/// here and the change record put in its place, with the same partition key; a record the
/// driver puts again is taken apart again the same way.
pub(super) struct ChangeRecords(pub KinesisRecordSink);

#[async_trait]
impl RecordSink for ChangeRecords {
    async fn put_batch(
        &self,
        records: Vec<OutgoingRecord>,
    ) -> Result<Vec<PutOutcome>, RecordSinkError> {
        self.0.put_batch(unwrap_carriers(records)?).await
    }
}

/// The change records inside the driver's carriers (see [`ChangeRecords`]).
fn unwrap_carriers(records: Vec<OutgoingRecord>) -> Result<Vec<OutgoingRecord>, RecordSinkError> {
    records
        .into_iter()
        .map(|r| {
            let carrier: FollowsEdge = serde_json::from_slice(&r.data).map_err(|e| {
                RecordSinkError::unavailable("a record is not a change carrier", false)
                    .with_source(e)
            })?;
            Ok(OutgoingRecord {
                partition_key: r.partition_key,
                data: carrier.to.into_bytes(),
            })
        })
        .collect()
}

/// The consumer's record format of a change run: change records mapped by [`ChangeJson`], the
/// placeholders for endpoints that do not exist yet labelled `person`.
pub(super) fn record_format() -> RecordFormat {
    RecordFormat::Changes(ChangeJson::default().placeholder_label("person"))
}

/// The summary's lines of a change run: the changes by kind (generated, then applied, already
/// current and stale as the pipeline counted them) and the graph check.
pub(super) fn summary_lines(
    generated: &[u64; 4],
    counts: &ChangeCounts,
    check: &GraphCheck,
) -> Vec<(String, String)> {
    let mut lines = vec![(
        "changes generated".to_owned(),
        format!(
            "{} ({})",
            generated.iter().sum::<u64>(),
            KINDS
                .iter()
                .zip(generated)
                .map(|((_, name, _), n)| format!("{n} {name}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )];
    for ((_, name, outcomes), n) in KINDS.iter().zip(generated) {
        let o = outcomes(counts);
        lines.push((
            format!("changes: {name}"),
            format!(
                "{n} generated: {} applied, {} already current, {} stale",
                o.applied, o.current, o.stale
            ),
        ));
    }
    lines.push(("graph check".to_owned(), check.line()));
    lines
}

/// The changes by kind as a table of the report: heading and rows.
pub(super) fn report_table(generated: &[u64; 4], counts: &ChangeCounts) -> crate::report::Table {
    crate::report::Table {
        title: "Changes by kind".into(),
        columns: ["kind", "generated", "applied", "already current", "stale"]
            .map(String::from)
            .to_vec(),
        rows: KINDS
            .iter()
            .zip(generated)
            .map(|((_, name, outcomes), n)| {
                let o = outcomes(counts);
                vec![
                    (*name).to_owned(),
                    n.to_string(),
                    o.applied.to_string(),
                    o.current.to_string(),
                    o.stale.to_string(),
                ]
            })
            .collect(),
    }
}

/// The live follow ids and closed accounts, for tests of this module.
#[cfg(test)]
impl ChangeRun {
    fn expected(
        &self,
    ) -> (
        std::collections::BTreeSet<String>,
        std::collections::BTreeSet<String>,
    ) {
        (self.stream.live_follow_ids(), self.stream.closed_accounts())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn run(changes: &str) -> ChangeRun {
        let args = Args::parse_from([
            "stream-2-neptune",
            "--persons",
            "200",
            "--edges",
            "2000",
            "--changes",
            "--change-count",
            changes,
        ]);
        let generator = GeneratorConfig::builder()
            .persons(args.persons)
            .edges(args.edges)
            .seed(args.seed)
            .build()
            .unwrap();
        ChangeRun::new(&args, &generator, "run-1").unwrap()
    }

    #[test]
    fn carriers_taken_apart_give_back_each_change_record_and_its_key() {
        let mut a = run("500");
        let mut b = run("500");
        let expected: Vec<_> = b.stream.by_ref().map(|c| c.record).collect();
        let carried: Vec<OutgoingRecord> = a
            .carriers()
            .map(|c| {
                workload_gen::driver::record_for(&c.unwrap(), workload_gen::PayloadFormat::Json)
            })
            .collect();
        assert_eq!(unwrap_carriers(carried).unwrap(), expected);
        assert!(expected
            .iter()
            .all(|r| r.partition_key.starts_with(&a.prefix)));
        assert_eq!(a.generated().iter().sum::<u64>(), 500);
        let (live, closed) = a.expected();
        assert!(live
            .iter()
            .chain(&closed)
            .all(|id| id.starts_with(&a.prefix)));
        let bad = OutgoingRecord {
            partition_key: "k".into(),
            data: b"p1,p2,2019-01-01".to_vec(),
        };
        assert!(unwrap_carriers(vec![bad]).is_err());
    }

    #[test]
    fn the_check_passes_only_on_exactly_the_live_follows_and_no_closed_account() {
        let good = GraphCheck {
            persons: 10,
            live: 5,
            live_found: 5,
            follows_found: 5,
            closed: 2,
            closed_found: 0,
        };
        assert!(good.passed() && good.verdict().is_ok());
        assert!(good.line().starts_with("passed"));
        for bad in [
            GraphCheck {
                live_found: 4,
                follows_found: 4,
                ..good
            },
            GraphCheck {
                follows_found: 6,
                ..good
            },
            GraphCheck {
                closed_found: 1,
                ..good
            },
        ] {
            let failure = bad.verdict().unwrap_err();
            assert_eq!(failure.class, ExitClass::Data);
            assert!(!failure.to_string().contains('\n'));
            assert!(bad.line().starts_with("FAILED"), "{}", bad.line());
        }
    }
}
