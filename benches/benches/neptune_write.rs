//! Write throughput of `neptune-batch` against the real Gremlin Server: edges/s per write mode,
//! a batch-size sweep and a concurrency sweep of the default (merge) mode, and the ceiling
//! variant (one server-side script per 2000 edges over bound lists), all in the same run, with
//! client and server CPU seconds per 100 k edges.
//!
//! `cargo bench -p stream2neptune-benches --bench neptune_write`. Sizes: `NB_VERTICES`
//! (default 2000), `NB_EDGES` per variant (default 10000), `NB_SLOW_EDGES` for the original's
//! conditional idiom (default 4000). Every run writes under a unique id prefix and removes its
//! vertices and edges at the end, since the server's one graph is shared.

use neptune_batch::{
    Edge, FollowsSchema, GValue, GraphSink, GremlinSink, GremlinSinkConfig, GremlinTransport,
    TransportConfig, Vertex, WriteMode,
};
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) used so far by process `pid` ("self" for this one).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn server_pid() -> Option<String> {
    let port = std::env::var("GREMLIN_PORT").unwrap_or_else(|_| "8182".into());
    let path = local_services::workspace_root()
        .join(format!(".services/gremlin-server/server-{port}.pid"));
    Some(std::fs::read_to_string(path).ok()?.trim().to_owned())
}

/// A small xorshift generator: the same edges every run, no extra dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// `n` follows edges between the vertices, a fifth of them to ten "super-connectors", each
/// with a unique creation date (so a unique id) within `run`.
fn edges(vertices: &[Vertex], n: usize, run: &str, seed: u64) -> Vec<Edge> {
    let schema = FollowsSchema::default();
    let mut rng = Rng(seed | 1);
    (0..n)
        .map(|i| {
            let from = rng.next(vertices.len());
            let mut to = if rng.next(5) == 0 {
                rng.next(10)
            } else {
                rng.next(vertices.len())
            };
            if to == from {
                to = (to + 1) % vertices.len();
            }
            let date = format!("2019-01-02T{run}-{i}");
            schema.edge(
                &vertices[from].id,
                &vertices[to].id,
                &date,
                1_546_387_200_000 + i as i64,
            )
        })
        .collect()
}

/// What a variant did: edges written, requests sent, retries among them.
#[derive(Default)]
struct Done {
    edges: usize,
    requests: u32,
    retries: u32,
}

/// One measured writer.
enum Variant {
    /// The server-side script ceiling (first or again).
    Ceiling(&'static str),
    /// `GremlinSink` with these settings.
    Sink {
        label: &'static str,
        mode: WriteMode,
        check: bool,
        batch: usize,
        in_flight: usize,
    },
}

impl Variant {
    fn sink(
        label: &'static str,
        mode: WriteMode,
        check: bool,
        batch: usize,
        in_flight: usize,
    ) -> Self {
        Variant::Sink {
            label,
            mode,
            check,
            batch,
            in_flight,
        }
    }

    fn name(&self) -> String {
        match self {
            Variant::Ceiling("first") => "ceiling: script per 2000 edges, 4 writers".into(),
            Variant::Ceiling(when) => format!("ceiling: script per 2000 edges, 4 writers ({when})"),
            Variant::Sink {
                label,
                batch,
                in_flight,
                ..
            } => {
                format!("{label}, batch {batch}, {in_flight} in flight")
            }
        }
    }
}

struct Row {
    name: String,
    edges: usize,
    requests: u32,
    retries: u32,
    secs: f64,
    client_cpu: f64,
    server_cpu: Option<f64>,
}

impl Row {
    fn rate(&self) -> f64 {
        self.edges as f64 / self.secs
    }
}

async fn measure<F: std::future::Future<Output = Done>>(name: String, f: F) -> Row {
    let server = server_pid();
    let (c0, s0) = (cpu_seconds("self"), server.as_deref().and_then(cpu_seconds));
    let started = Instant::now();
    let done = f.await;
    let secs = started.elapsed().as_secs_f64();
    let (c1, s1) = (cpu_seconds("self"), server.as_deref().and_then(cpu_seconds));
    let row = Row {
        name,
        edges: done.edges,
        requests: done.requests,
        retries: done.retries,
        secs,
        client_cpu: c1.zip(c0).map(|(a, b)| a - b).unwrap_or(f64::NAN),
        server_cpu: s1.zip(s0).map(|(a, b)| a - b),
    };
    eprintln!(
        "  {:<52} {:>7.0} edges/s, {} requests, {} retries",
        row.name,
        row.rate(),
        row.requests,
        row.retries
    );
    row
}

async fn sink_run(
    url: &str,
    mode: WriteMode,
    check_existing: bool,
    batch: usize,
    in_flight: usize,
    edges: &[Edge],
) -> Done {
    let mut config = GremlinSinkConfig::new(url);
    config.mode = mode;
    config.check_existing = check_existing;
    config.batch_size = batch;
    config.in_flight = in_flight;
    config.writer.pool_size = in_flight.clamp(1, 4);
    let sink = GremlinSink::connect(config).await.expect("connect");
    let report = sink.write_edges(edges).await.expect("write");
    assert_eq!(report.failed(), 0, "every edge is written");
    Done {
        edges: report.succeeded(),
        requests: report.requests,
        retries: report.retries,
    }
}

/// The ceiling: a Groovy script per 2000 edges over bound lists, idempotent by edge id,
/// `writers` scripts in flight. Only Gremlin Server accepts it.
///
/// Each writer gets the edges among its own quarter of the vertices, so concurrent scripts
/// never touch the same vertex: on TinkerPop 3.7.5's transactional TinkerGraph a script whose
/// transaction fails (e.g. on a write conflict) can leave the server answering nothing more,
/// and the ceiling should not include conflicts anyway.
const CEILING_SCRIPT: &str = "for (int i = 0; i < ids.size(); i++) { \
    if (!graph.edges(ids[i]).hasNext()) { \
      graph.vertices(froms[i]).next().addEdge(lbl, graph.vertices(tos[i]).next(), \
        T.id, ids[i], 'creationDate', dates[i], 'insertDateTime', ts[i]) } }; ids.size()";

async fn ceiling_run(url: &str, writers: usize, vertices: &[Vertex], n: usize, run: &str) -> Done {
    let groups: Vec<Vec<Vertex>> = (0..writers)
        .map(|w| vertices.iter().skip(w).step_by(writers).cloned().collect())
        .collect();
    let mut config = TransportConfig::new(url);
    config.pool_size = writers.min(4);
    let transport = GremlinTransport::connect(config).await.expect("connect");
    let mut tasks = Vec::new();
    for (w, group) in groups.iter().enumerate() {
        let own = edges(group, n / writers, &format!("{run}w{w}"), 99 + w as u64);
        let t = transport.clone();
        tasks.push(tokio::spawn(async move {
            let (mut written, mut requests) = (0, 0);
            for chunk in own.chunks(2000) {
                let list =
                    |f: &dyn Fn(&Edge) -> GValue| GValue::List(chunk.iter().map(f).collect());
                let bindings = vec![
                    ("ids".to_owned(), list(&|e| GValue::from(&e.id))),
                    ("froms".to_owned(), list(&|e| GValue::from(&e.from))),
                    ("tos".to_owned(), list(&|e| GValue::from(&e.to))),
                    (
                        "dates".to_owned(),
                        list(&|e| GValue::from(&e.properties[0].1)),
                    ),
                    ("ts".to_owned(), list(&|e| GValue::from(&e.properties[1].1))),
                    ("lbl".to_owned(), GValue::from("follows")),
                ];
                t.eval(CEILING_SCRIPT, bindings)
                    .await
                    .expect("ceiling script");
                written += chunk.len();
                requests += 1;
            }
            (written, requests)
        }));
    }
    let mut total = Done::default();
    for t in tasks {
        let (edges, requests) = t.await.expect("writer");
        total.edges += edges;
        total.requests += requests;
    }
    total
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let url = local_services::gremlin()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .url;
    let n_vertices = env("NB_VERTICES", 2000);
    let n_edges = env("NB_EDGES", 10_000);
    let n_slow = env("NB_SLOW_EDGES", 4000);
    let prefix = local_services::unique_name("bench");
    let vertices: Vec<Vertex> = (0..n_vertices)
        .map(|i| Vertex::new(format!("{prefix}-v{i}"), "person"))
        .collect();
    {
        let mut config = GremlinSinkConfig::new(url.as_str());
        config.batch_size = 500;
        let sink = GremlinSink::connect(config).await.expect("connect");
        let r = sink.write_vertices(&vertices).await.expect("vertices");
        assert_eq!(r.failed(), 0);
    }
    eprintln!("{n_vertices} vertices, {n_edges} edges per variant, server at {url}");

    // Every variant, in the order run; `NB_ONLY` (comma-separated parts of names) picks some.
    // The ceiling runs first and last whatever the filter, so that a graph growing during the
    // run is visible and every ratio has its denominator from the same run.
    let mut variants = vec![
        Variant::Ceiling("first"),
        Variant::sink("original plain idiom", WriteMode::Plain, false, 100, 2),
        Variant::sink(
            "original conditional idiom",
            WriteMode::Conditional,
            false,
            100,
            2,
        ),
        Variant::sink("plain + existence checks", WriteMode::Plain, true, 100, 2),
        Variant::sink(
            "conditional + existence checks",
            WriteMode::Conditional,
            true,
            100,
            2,
        ),
        Variant::sink("merge + existence checks", WriteMode::Merge, true, 100, 2),
    ];
    for batch in [25, 100, 250, 500, 1000, 2000] {
        variants.push(Variant::sink("merge", WriteMode::Merge, true, batch, 4));
    }
    for in_flight in [1, 2, 4, 8, 16, 32] {
        variants.push(Variant::sink(
            "merge",
            WriteMode::Merge,
            true,
            500,
            in_flight,
        ));
    }
    variants.push(Variant::Ceiling("again"));
    let only: Vec<String> = std::env::var("NB_ONLY")
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default();

    let mut rows = Vec::new();
    let mut seed = 7u64;
    for (n, variant) in variants.iter().enumerate() {
        let name = variant.name();
        let ceiling = matches!(variant, Variant::Ceiling(_));
        if !ceiling && !only.is_empty() && !only.iter().any(|o| name.contains(o.as_str())) {
            continue;
        }
        seed += 1;
        let run = format!("r{n}");
        let row = match *variant {
            Variant::Ceiling(_) => {
                measure(name, ceiling_run(&url, 4, &vertices, n_edges, &run)).await
            }
            Variant::Sink {
                mode,
                check,
                batch,
                in_flight,
                ..
            } => {
                let count = if mode == WriteMode::Conditional {
                    n_slow
                } else {
                    n_edges
                };
                let e = edges(&vertices, count, &run, seed);
                measure(name, sink_run(&url, mode, check, batch, in_flight, &e)).await
            }
        };
        rows.push(row);
    }

    let ceiling = rows
        .iter()
        .filter(|r| r.name.starts_with("ceiling"))
        .map(Row::rate)
        .fold(0.0, f64::max);
    let original_conditional = rows
        .iter()
        .find(|r| r.name.starts_with("original conditional"))
        .map(Row::rate);
    let best_merge = rows
        .iter()
        .filter(|r| r.name.starts_with("merge"))
        .max_by(|a, b| a.rate().total_cmp(&b.rate()));

    println!();
    println!("| writer | edges | requests | retries | edges/s | ratio to ceiling | client CPU s / 100k | server CPU s / 100k |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let per100k = |cpu: f64| cpu * 100_000.0 / r.edges as f64;
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {} |",
            r.name,
            r.edges,
            r.requests,
            r.retries,
            r.rate(),
            r.rate() / ceiling,
            per100k(r.client_cpu),
            r.server_cpu
                .map(|s| format!("{:.1}", per100k(s)))
                .unwrap_or_else(|| "n/a".into())
        );
    }
    println!();
    if let Some(best) = best_merge {
        println!(
            "best merge ({}): {:.0} edges/s = {:.0}% of the ceiling ({:.0} edges/s)",
            best.name,
            best.rate(),
            100.0 * best.rate() / ceiling,
            ceiling,
        );
        if let Some(original) = original_conditional {
            println!(
                "best merge = {:.1}x the original conditional idiom ({:.0} edges/s)",
                best.rate() / original,
                original
            );
        }
    }

    // Leave the shared graph as it was: drop this run's vertices (and so their edges).
    let transport = GremlinTransport::connect(TransportConfig::new(url.as_str()))
        .await
        .expect("connect");
    for chunk in vertices.chunks(200) {
        let ids: Vec<GValue> = chunk.iter().map(|v| GValue::from(&v.id)).collect();
        let drop = neptune_batch::Bytecode::new().step("V", ids).then("drop");
        for _ in 0..5 {
            if transport.submit(&drop).await.is_ok() {
                break;
            }
        }
    }
}
