//! Changes against inserts: what applying a change stream costs next to inserting its follows.
//!
//! A seeded change stream from `workload-gen` (the default mix: 74 % follows, 10 % unfollows,
//! 15 % profile edits, 1 % account closures, each with a version) on the headline's persons
//! (`NB_PERSONS`, default 10 000), `NB_CHANGES` changes (default 200 000). Two writers, each on
//! a fresh set of ids with the persons loaded first (not timed), fed as the headline feeds its
//! edges (2 shards split by partition key, calls of `NB_CALL` records one after another per
//! shard, one shared sink at its defaults):
//!
//! * **insert-only**: the follows of the stream's follow records, through
//!   `GremlinSink::write_edges`;
//! * **changes**: the whole stream mapped by `ChangeJson` (as the consumer's `changes` format
//!   does), through `GremlinSink::apply`.
//!
//! Printed: applied changes/s, inserts/s of the same run and their ratio (the goal is at least
//! 0.8), the server's CPU seconds per 100 k items of each, and the changes' outcomes. Each run
//! is checked: the insert-only graph holds every follow; after the changes, the `follows` edges
//! out of the run's persons are exactly the follows the stream leaves.

use crate::common::{self, Done, Row};
use graph_ingest::ChangeJson;
use neptune_batch::gremlin::{Bytecode, GValue};
use neptune_batch::transport::GremlinTransport;
use neptune_batch::{
    Edge, ElementId, GraphSink, GremlinSink, GremlinSinkConfig, ItemOutcome, Mutation, Vertex,
};
use std::collections::BTreeSet;
use std::sync::Arc;
use workload_gen::changes::{ChangeStream, ChangeStreamConfig};
use workload_gen::generator::GeneratorConfig;

/// The rows' names.
const INSERTS: &str = "insert-only: the stream's follows through write_edges (sink defaults)";
const CHANGES: &str = "changes: the whole stream through apply (sink defaults)";

/// A change stream generated for one writer's ids.
struct Generated {
    /// The run's persons (loaded first).
    persons: Vec<Vertex>,
    /// The follows of the follow records, split over 2 shards by partition key.
    follows: Vec<Vec<Edge>>,
    /// Every change as a mutation, split over 2 shards by partition key.
    mutations: Vec<Vec<Mutation>>,
    /// Distinct follow ids among the follow records.
    follow_ids: usize,
    /// The follows the stream leaves.
    live: BTreeSet<String>,
    /// The tombstones the changes leave (vertices with ids of their own), to drop afterwards.
    tombstones: Vec<Vertex>,
}

fn generate(persons: usize, changes: usize, prefix: &str) -> Generated {
    let graph = GeneratorConfig::builder()
        .persons(persons as u32)
        .edges(1)
        .build()
        .expect("a valid graph");
    let config =
        ChangeStreamConfig::new(graph, changes as u64).with_id_prefix(format!("{prefix}-"));
    let mut stream = ChangeStream::new(config).expect("a valid change stream");
    let mapper = ChangeJson::default().placeholder_label("person");
    let mut generated = Generated {
        persons: (0..persons)
            .map(|n| Vertex::new(format!("{prefix}-p{n}"), "person"))
            .collect(),
        follows: vec![Vec::new(), Vec::new()],
        mutations: vec![Vec::new(), Vec::new()],
        follow_ids: 0,
        live: BTreeSet::new(),
        tombstones: Vec::new(),
    };
    let mut follow_ids = BTreeSet::new();
    for change in stream.by_ref() {
        let shard = common::shard_of(&change.record.partition_key, 2);
        let m = mapper
            .mutation(&change.record.data)
            .unwrap_or_else(|r| panic!("a change record the mapper refuses: {}", r.reason()));
        match &m.change {
            neptune_batch::Change::UpsertEdge { edge, .. } => {
                follow_ids.insert(edge.id.clone());
                generated.follows[shard].push(edge.clone());
            }
            neptune_batch::Change::DeleteEdge { id } => generated.tombstones.push(Vertex::new(
                ElementId::Edge(id.clone()).tombstone_id(),
                neptune_batch::mutation::TOMBSTONE_LABEL,
            )),
            neptune_batch::Change::DeleteVertex { id } => generated.tombstones.push(Vertex::new(
                ElementId::Vertex(id.clone()).tombstone_id(),
                neptune_batch::mutation::TOMBSTONE_LABEL,
            )),
            _ => {}
        }
        generated.mutations[shard].push(m);
    }
    generated.follow_ids = follow_ids.len();
    generated.live = stream.live_follow_ids();
    generated
}

/// The outcomes of a change run: applied, already current, stale.
#[derive(Default, Clone, Copy, Debug)]
struct Outcomes {
    applied: usize,
    current: usize,
    stale: usize,
}

/// One shared sink at its defaults, one task per shard, each calling `write` with `call`
/// items at a time, one call after another; every item must succeed.
async fn feed<T, F, Fut>(url: &str, shards: Vec<Vec<T>>, call: usize, write: F) -> (Done, Outcomes)
where
    T: Clone + Send + Sync + 'static,
    F: Fn(Arc<GremlinSink>, Vec<T>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = neptune_batch::WriteReport> + Send,
{
    let sink = Arc::new(
        GremlinSink::connect(GremlinSinkConfig::new(url))
            .await
            .expect("connect"),
    );
    let mut tasks = Vec::new();
    for items in shards {
        let (sink, write) = (sink.clone(), write.clone());
        tasks.push(tokio::spawn(async move {
            let (mut done, mut outcomes) = (Done::default(), Outcomes::default());
            for chunk in items.chunks(call) {
                let r = write(sink.clone(), chunk.to_vec()).await;
                assert_eq!(
                    r.failed(),
                    0,
                    "every item succeeds: {:?}",
                    first_failure(&r)
                );
                done.edges += r.succeeded();
                done.requests += r.requests;
                done.retries += r.retries;
                for o in &r.outcomes {
                    match o {
                        ItemOutcome::Written => outcomes.applied += 1,
                        ItemOutcome::Stale => outcomes.stale += 1,
                        _ => outcomes.current += 1,
                    }
                }
            }
            (done, outcomes)
        }));
    }
    let (mut total, mut outcomes) = (Done::default(), Outcomes::default());
    for t in tasks {
        let (d, o) = t.await.expect("shard");
        total.add(d);
        outcomes.applied += o.applied;
        outcomes.current += o.current;
        outcomes.stale += o.stale;
    }
    (total, outcomes)
}

fn first_failure(r: &neptune_batch::WriteReport) -> Option<&ItemOutcome> {
    r.outcomes.iter().find(|o| !o.is_success())
}

/// `g.E(ids).count()`, summed over chunks.
async fn count_edge_ids(admin: &GremlinTransport, ids: &BTreeSet<String>) -> usize {
    let ids: Vec<GValue> = ids.iter().map(GValue::from).collect();
    let mut total = 0;
    for chunk in ids.chunks(1000) {
        let q = Bytecode::new().step("E", chunk.to_vec()).then("count");
        let answer = admin.submit(&q).await.expect("count edges by id");
        total += answer.first().and_then(GValue::as_i64).unwrap_or(-1) as usize;
    }
    total
}

/// Runs the section and prints its table and ratio.
pub async fn run(url: &str, admin: &GremlinTransport, rounds: usize) -> Vec<Row> {
    let persons = common::env("NB_PERSONS", 10_000);
    let changes = common::env("NB_CHANGES", 200_000);
    let call = common::env("NB_CALL", 1000);
    let prefix = local_services::unique_name("changes");
    let names = [INSERTS, CHANGES];
    let mut runs: Vec<Vec<Row>> = vec![Vec::new(), Vec::new()];
    let mut last_outcomes = Outcomes::default();
    let mut follows = 0;
    for round in 0..rounds {
        eprintln!("changes round {} of {rounds}", round + 1);
        for k in common::round_order(names.len(), round, rounds) {
            let tag = format!("{prefix}-{round}-{k}");
            let g = generate(persons, changes, &tag);
            common::load(url, &g.persons).await;
            follows = g.follows.iter().map(Vec::len).sum();
            eprintln!(
                "  {}: {} persons loaded; {} {}",
                names[k],
                g.persons.len(),
                if k == 0 { follows } else { changes },
                if k == 0 {
                    "follows to insert"
                } else {
                    "changes to apply"
                }
            );
            let (row, outcomes) = write_and_check(k == 0, url, admin, &g, call).await;
            if k == 1 {
                last_outcomes = outcomes;
            }
            runs[k].push(row);
            common::drop_vertices(admin, &g.persons).await;
            common::drop_vertices(admin, &g.tombstones).await;
        }
    }
    let ratios: Vec<f64> = runs[1]
        .iter()
        .zip(&runs[0])
        .map(|(c, i)| c.rate() / i.rate())
        .collect();
    let rows = common::medians(runs);
    println!();
    println!(
        "## Changes against inserts ({changes} changes of the default mix on {persons} persons, {follows} of them follows; 2 shards by partition key, calls of {call} records, one shared sink at its defaults; medians of {rounds} rounds, each writer on fresh ids)"
    );
    println!();
    println!("| writer | items | requests | retries | items/s | server CPU s / 100k items | client CPU s / 100k items |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {:.0} | {} | {} |",
            r.name,
            r.edges,
            r.requests,
            r.retries,
            r.rate(),
            r.server_per100k(),
            r.client_per100k()
        );
    }
    println!();
    if let [inserts, applied] = &rows[..] {
        println!(
            "applied changes/s {:.0}, inserts/s {:.0}: ratio {:.2} (goal >= 0.8; per round: {}); server CPU per 100 k: changes {} s, inserts {} s",
            applied.rate(),
            inserts.rate(),
            applied.rate() / inserts.rate(),
            ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
            applied.server_per100k(),
            inserts.server_per100k()
        );
    }
    println!(
        "the changes' outcomes (last round): {} applied, {} already current, {} stale",
        last_outcomes.applied, last_outcomes.current, last_outcomes.stale
    );
    rows
}

/// Times one writer on `g` (its persons loaded): the follows through `write_edges` if
/// `inserts`, else every change through `apply`; then checks the graph it left.
async fn write_and_check(
    inserts: bool,
    url: &str,
    admin: &GremlinTransport,
    g: &Generated,
    call: usize,
) -> (Row, Outcomes) {
    if inserts {
        let write = |sink: Arc<GremlinSink>, chunk: Vec<Edge>| async move {
            sink.write_edges(&chunk).await.expect("write_edges")
        };
        let timed = timed(INSERTS, url, g.follows.clone(), call, write).await;
        assert_eq!(
            common::count_edges(admin, &g.persons).await,
            g.follow_ids,
            "insert-only: every follow is in the graph"
        );
        return timed;
    }
    let apply = |sink: Arc<GremlinSink>, chunk: Vec<Mutation>| async move {
        sink.apply(&chunk).await.expect("apply")
    };
    let timed = timed(CHANGES, url, g.mutations.clone(), call, apply).await;
    assert_eq!(
        common::count_edges(admin, &g.persons).await,
        g.live.len(),
        "changes: the follows out of the run's persons are the follows the stream leaves"
    );
    assert_eq!(
        count_edge_ids(admin, &g.live).await,
        g.live.len(),
        "changes: every follow the stream leaves is in the graph"
    );
    timed
}

/// Feeds `shards` through a fresh sink at its defaults, timed with the CPU used.
async fn timed<T, F, Fut>(
    name: &str,
    url: &str,
    shards: Vec<Vec<T>>,
    call: usize,
    write: F,
) -> (Row, Outcomes)
where
    T: Clone + Send + Sync + 'static,
    F: Fn(Arc<GremlinSink>, Vec<T>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = neptune_batch::WriteReport> + Send,
{
    let mut outcomes = Outcomes::default();
    let row = common::measure(name.to_owned(), async {
        let (done, o) = feed(url, shards, call, write).await;
        outcomes = o;
        done
    })
    .await;
    (row, outcomes)
}
