//! Write throughput of `neptune-batch` against the real Gremlin Server.
//!
//! `cargo bench -p stream2neptune-benches --bench neptune_write` prints, in this order:
//!
//! 1. **the headline** ([`realistic`]): power-law follows from `workload-gen` at the
//!    original's shape (200 000 edges among 10 000 persons, super-connectors, 2 shards by
//!    `from` id, each calling `write_edges` with 1000 records at a time, one shared sink):
//!    `GremlinSink` at its defaults, the ceiling (a server-side script) and the original's
//!    conditional idiom, measured in the same run, with ratios, server CPU per 100 k edges,
//!    the graph's contents checked, and the adaptive controller's choices over time;
//! 2. **write shapes** ([`shapes`]): server CPU and edges/s of `mergeE` variants, request
//!    sizes and serializers, behind the sink's choice of traversal;
//! 3. **requests queued in a session** ([`sessions`]): the sink's request, one writer, sent
//!    one at a time or queued on the server in one Gremlin Server session, against the
//!    script, on the headline's data;
//! 4. **secondary rows** ([`secondary`]): the favourable setups (vertex-disjoint parts,
//!    explicit settings, sweeps), labelled;
//! 5. **changes against inserts** ([`changes`]): a change stream of the default mix
//!    (`NB_CHANGES`, default 200 000 changes, on `NB_PERSONS` persons) through `apply`, against
//!    its follows inserted through `write_edges`, in the headline's shape: applied changes/s,
//!    inserts/s, their ratio and server CPU per 100 k of each, the graph checked.
//!
//! 6. **JanusGraph** ([`janusgraph`]): the sink at its defaults and the whole pipeline against
//!    JanusGraph Server's own ceiling (a server-side script), on power-law follows of the same
//!    generator (`NB_JANUS_EDGES`, default 20 000), with JanusGraph's CPU per 100 k edges; the
//!    server is started with `scripts/janusgraph-server.sh` if none answers on `JANUSGRAPH_PORT`.
//!
//! `NB_SECTIONS` (default `headline,shapes,sessions,secondary,changes,janusgraph`) picks sections; `NB_ROUNDS` (default 3)
//! the rounds, interleaved, each figure being the median; `NB_WRITERS` (comma-separated parts
//! of row names) keeps only the headline rows named (the ratios are printed when the sink's
//! defaults row is among them); `NB_WARMUP_EDGES` (default 200 000, 0 for none) how much of the headline's data
//! goes through the sink and the script before anything is timed. The server must be started first
//! (`scripts/gremlin-server.sh start`); `GREMLIN_PORT` names its port so that its CPU can be
//! read from `/proc`.

mod changes;
mod common;
mod janusgraph;
mod realistic;
mod secondary;
mod sessions;
mod shapes;

use neptune_batch::transport::{GremlinTransport, TransportConfig};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let sections = std::env::var("NB_SECTIONS")
        .unwrap_or_else(|_| "headline,shapes,sessions,secondary,changes,janusgraph".into());
    let rounds = common::env("NB_ROUNDS", 3).max(1);
    let on_tinkergraph = ["headline", "shapes", "sessions", "secondary", "changes"]
        .iter()
        .any(|s| sections.contains(s));
    if on_tinkergraph {
        tinkergraph(&sections, rounds).await;
    }
    if sections.contains("janusgraph") {
        janusgraph::run(rounds).await;
    }
}

/// The sections against the TinkerPop Gremlin Server.
async fn tinkergraph(sections: &str, rounds: usize) {
    let url = local_services::gremlin()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .url;
    if common::server_pid().is_none() {
        eprintln!("note: no server pid file for GREMLIN_PORT: server CPU is not measured");
    }
    let admin = GremlinTransport::connect(TransportConfig::new(url.as_str()))
        .await
        .expect("connect");
    // A warm-up (the server's JIT compiles the write paths) before anything is timed.
    realistic::warm_up(&url, &admin).await;
    if sections.contains("headline") {
        realistic::run(&url, &admin, rounds).await;
    }
    if sections.contains("shapes") {
        shapes::run(&url, &admin, rounds).await;
    }
    if sections.contains("sessions") {
        sessions::run(&url, &admin, rounds).await;
    }
    if sections.contains("secondary") {
        secondary::run(&url, &admin, rounds).await;
    }
    if sections.contains("changes") {
        changes::run(&url, &admin, rounds).await;
    }
}
