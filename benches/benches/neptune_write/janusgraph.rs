//! The JanusGraph headline: the sink at its defaults against JanusGraph Server's own ceiling, on
//! the power-law follows of the headline's generator, with JanusGraph's CPU per 100 k edges.
//!
//! JanusGraph takes no caller edge ids, so the sink names edges by their `edge_id` property
//! there (the probe at connect finds it). The ceiling is the headline's server-side script
//! rewritten for that: per edge, the same existence check the sink's merge makes (an out-edge of
//! the from-vertex with the label and the id property), and `addEdge` with the id in the
//! property, 2000 edges per script, 1, 2 or 4 scripts in flight.
//!
//! The server is the local JanusGraph Server on `JANUSGRAPH_PORT` (default 8183; the in-memory
//! backend unless `JANUSGRAPH_BACKEND` says otherwise), started with
//! `scripts/janusgraph-server.sh` if nothing answers there, and stopped at the end if this
//! section started it. `NB_JANUS_PERSONS` (default 5 000) and `NB_JANUS_EDGES` (default 20 000)
//! size the data set: JanusGraph writes an order of magnitude slower than TinkerGraph on this
//! machine, so the headline's 200 000 edges would take minutes per row.

use crate::common::{self, Done, Row};
use crate::realistic::{self, Dataset, Job};
use neptune_batch::gremlin::{Bytecode, GValue};
use neptune_batch::transport::{GremlinTransport, TransportConfig};
use neptune_batch::{EdgeIdentity, GremlinSink, GremlinSinkConfig, Vertex};

/// The ceiling script on JanusGraph: [`common::CEILING_SCRIPT`] with the edge's id in the
/// property `idKey` instead of `T.id`, looked for among the from-vertex's out-edges of the label
/// as the sink's merge looks. The fastest of the two scripts measured: the same loop through the
/// structure API (`edges(OUT, lbl)` compared one by one in Groovy, no traversal per edge) ran at
/// 9 402 edges/s against this one's 11 937 (medians of 3 rounds, 4 writers).
const JANUS_CEILING_SCRIPT: &str = "for (int i = 0; i < ids.size(); i++) { \
    if (!g.V(froms[i]).outE(lbl).has(idKey, ids[i]).hasNext()) { \
      graph.vertices(froms[i]).next().addEdge(lbl, graph.vertices(tos[i]).next(), \
        idKey, ids[i], 'creationDate', dates[i], 'insertDateTime', ts[i]) } }; ids.size()";

const DEFAULTS: &str = "GremlinSink at its defaults";
const PIPELINE: &str =
    "the whole pipeline at its defaults: stream -> graph (records already on a 2-shard stream)";

/// The JanusGraph Server's pid, from the script's pid file.
fn server_pid(port: u16) -> Option<String> {
    let path =
        local_services::workspace_root().join(format!(".services/janusgraph/server-{port}.pid"));
    Some(std::fs::read_to_string(path).ok()?.trim().to_owned())
}

/// Times `f` as [`common::measure`] does, with JanusGraph's CPU as the server's.
async fn measure_on(
    pid: Option<&str>,
    name: &str,
    f: impl std::future::Future<Output = Done>,
) -> Row {
    let before = pid.and_then(common::cpu_seconds);
    let mut row = common::measure(name.to_owned(), f).await;
    let after = pid.and_then(common::cpu_seconds);
    row.server_cpu = before.zip(after).map(|(b, a)| a - b);
    eprintln!(
        "    (JanusGraph's CPU: {} s/100k edges)",
        row.server_per100k()
    );
    row
}

/// [`JANUS_CEILING_SCRIPT`] per 2000 edges, `writers` in flight (see
/// [`common::script_writers`]).
async fn ceiling(job: Job, writers: usize, key: String) -> Done {
    let extra = vec![("idKey".to_owned(), GValue::from(key.as_str()))];
    common::script_writers(&job, writers, JANUS_CEILING_SCRIPT, extra).await
}

/// Checks that every edge of `job` is in the graph: the count of the persons' out-edges, and a
/// sample of 25 found by their id property with their ends.
async fn check_graph(
    admin: &GremlinTransport,
    name: &str,
    key: &str,
    persons: &[Vertex],
    job: &Job,
) {
    let (sample, ids) = common::count_and_sample(admin, name, persons, &job.edges).await;
    let rows = admin
        .submit(
            &Bytecode::new()
                .then("E")
                .step(
                    "has",
                    [GValue::from(key), GValue::p("within", GValue::List(ids))],
                )
                .step("project", ["i", "o", "n"])
                .step("by", [key])
                .step("by", [Bytecode::new().then("outV").then("id")])
                .step("by", [Bytecode::new().then("inV").then("id")]),
        )
        .await
        .expect("sample");
    assert_eq!(
        rows.len(),
        sample.len(),
        "{name}: every sampled edge found once"
    );
    for e in sample {
        let row = rows
            .iter()
            .find(|r| r.get("i").and_then(GValue::as_str) == Some(e.id.as_str()))
            .unwrap_or_else(|| panic!("{name}: edge {} missing", e.id));
        assert_eq!(row.get("o").and_then(GValue::as_str), Some(e.from.as_str()));
        assert_eq!(row.get("n").and_then(GValue::as_str), Some(e.to.as_str()));
    }
}

/// Runs the section and prints its table.
pub async fn run(rounds: usize) {
    let port = common::env("JANUSGRAPH_PORT", 8183) as u16;
    let endpoint = local_services::ensure_local_janusgraph(port)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let started_here = endpoint.origin == local_services::GremlinOrigin::StartedHere;
    let url = endpoint.url.clone();
    let pid = server_pid(port);
    if pid.is_none() {
        eprintln!("note: no pid file for JanusGraph on port {port}: its CPU is not measured");
    }
    let admin = GremlinTransport::connect(TransportConfig::new(url.as_str()))
        .await
        .expect("connect");
    // The probe and the edge id index, before any script writes the key.
    let probe = GremlinSink::connect(GremlinSinkConfig::new(url.as_str()))
        .await
        .expect("connect");
    let identity = probe.edge_identity().clone();
    let key = identity
        .key()
        .unwrap_or(EdgeIdentity::DEFAULT_KEY)
        .to_owned();
    drop(probe);
    let persons = common::env("NB_JANUS_PERSONS", 5_000);
    let n_edges = common::env("NB_JANUS_EDGES", 20_000);
    let data = Dataset::generate(persons, n_edges);
    let (top, median, first) = data.in_degrees();
    eprintln!(
        "JanusGraph data: {n_edges} follows among {persons} persons (workload-gen, seed {}, skew {}): in-degree top {top} (top five {first:?}), median {median}; edges named by {}",
        data.config.seed,
        data.config.skew,
        identity.describe()
    );
    let prefix = local_services::unique_name("janus");
    if common::env("NB_WARMUP_EDGES", 200_000) > 0 {
        eprintln!("JanusGraph warm-up: the data set once through the sink and the script");
        let (vertices, job) = data.job(&url, &format!("{prefix}-warm-sink"), None, 1000);
        common::load(&url, &vertices).await;
        realistic::sink_shards(job, |c| c).await;
        common::drop_vertices(&admin, &vertices).await;
        let (vertices, job) = data.job(&url, &format!("{prefix}-warm-script"), None, 1000);
        common::load(&url, &vertices).await;
        ceiling(job, 2, key.clone()).await;
        common::drop_vertices(&admin, &vertices).await;
    }
    let names = [
        DEFAULTS.to_owned(),
        PIPELINE.to_owned(),
        "ceiling: server-side script per 2000 edges, 1 writer".to_owned(),
        "ceiling: server-side script per 2000 edges, 2 writers".to_owned(),
        "ceiling: server-side script per 2000 edges, 4 writers".to_owned(),
    ];
    let mut runs: Vec<Vec<Row>> = names.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        eprintln!("JanusGraph round {} of {rounds}", round + 1);
        for k in common::round_order(names.len(), round, rounds) {
            let (vertices, job) = data.job(&url, &format!("{prefix}-{round}-{k}"), None, 1000);
            common::load(&url, &vertices).await;
            let run = job.clone();
            let key = key.clone();
            let row = match k {
                0 => {
                    measure_on(
                        pid.as_deref(),
                        &names[k],
                        realistic::sink_shards(run, |c| c),
                    )
                    .await
                }
                1 => measure_on(pid.as_deref(), &names[k], realistic::pipeline(run, 1)).await,
                _ => {
                    let writers = [1, 2, 4][k - 2];
                    measure_on(pid.as_deref(), &names[k], ceiling(run, writers, key)).await
                }
            };
            check_graph(
                &admin,
                &names[k],
                identity.key().unwrap_or("edge_id"),
                &vertices,
                &job,
            )
            .await;
            runs[k].push(row);
            common::drop_vertices(&admin, &vertices).await;
        }
    }
    let rows = common::medians(runs);
    let ceiling_rate = rows
        .iter()
        .filter(|r| r.name.starts_with("ceiling"))
        .map(Row::rate)
        .fold(0.0, f64::max);
    println!();
    println!(
        "## JanusGraph: power-law follows ({n_edges} edges, {persons} persons, in-degree top {top} / median {median}; JanusGraph Server {} on port {port}; 2 shards by from id, calls of 1000 records, one shared sink; medians of {rounds} rounds, each writer on a fresh copy of the graph)",
        std::env::var("JANUSGRAPH_BACKEND").unwrap_or_else(|_| "inmemory".into())
    );
    println!();
    println!("| writer | edges | requests | retries | edges/s | of the ceiling | JanusGraph CPU s / 100k edges | client CPU s / 100k edges |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {} | {} |",
            r.name,
            r.edges,
            r.requests,
            r.retries,
            r.rate(),
            r.rate() / ceiling_rate,
            r.server_per100k(),
            r.client_per100k()
        );
    }
    println!();
    println!("JanusGraph ceiling (best of the script rows): {ceiling_rate:.0} edges/s");
    if let Some(d) = rows.iter().find(|r| r.name == DEFAULTS) {
        println!(
            "GremlinSink at its defaults on JanusGraph: {:.0} edges/s = {:.2} of the ceiling",
            d.rate(),
            d.rate() / ceiling_rate
        );
    }
    if started_here {
        let _ = local_services::stop_local_janusgraph(port).await;
    }
}
