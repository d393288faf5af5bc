//! Secondary rows (favourable setups, labelled as such): edges/s per write mode, a batch-size
//! and a concurrency sweep of the merge mode, on random follows with ten super-connectors and
//! on data split into vertex-disjoint parts, beside the ceiling variant (one server-side
//! script per 2000 edges over bound lists), with client and server CPU seconds per 100 k
//! edges. Each figure is the median of the rounds. Sizes: `NB_VERTICES` (default 2000),
//! `NB_EDGES` per variant (default 20000), `NB_SLOW_EDGES_SECONDARY` for the conditional
//! idioms (default 4000); `NB_ONLY` picks variants by parts of their names.
//!
//! Every variant writes onto its own new vertices (so each starts from the same graph), is
//! checked to have left exactly its edges in the graph, and is then removed, since the
//! server's one graph is shared.

use crate::common::{
    ceiling_bindings, count_edges, drop_vertices, env, load_vertices, measure, medians, Done, Row,
    CEILING_SCRIPT,
};
use neptune_batch::transport::{GremlinTransport, TransportConfig};
use neptune_batch::{
    Edge, ExistenceCheck, FollowsSchema, GraphSink, GremlinSink, GremlinSinkConfig, Scheduling,
    Vertex, WriteMode,
};

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

/// The edges a variant writes.
#[derive(Clone, Copy)]
enum Data {
    /// Random follows over all the vertices, a fifth of them to ten super-connectors.
    Random,
    /// The vertices dealt into `n` groups, each with its own super-connectors and edges only
    /// inside the group: what the ceiling's writers get, so that no two of them conflict.
    Partitioned(usize),
}

/// One measured writer.
enum Variant {
    /// The server-side script, `writers` scripts in flight, each over its own edge list.
    Ceiling {
        when: &'static str,
        writers: usize,
        data: Data,
    },
    /// `GremlinSink` with these settings, all edges in one `write_edges` call.
    Sink {
        label: &'static str,
        mode: WriteMode,
        check: bool,
        batch: usize,
        in_flight: usize,
        conflict_free: bool,
        data: Data,
    },
}

impl Variant {
    fn sink(label: &'static str, mode: WriteMode, batch: usize, in_flight: usize) -> Self {
        Variant::Sink {
            label,
            mode,
            check: true,
            batch,
            in_flight,
            conflict_free: true,
            data: Data::Random,
        }
    }

    fn name(&self) -> String {
        match self {
            Variant::Ceiling {
                when,
                writers,
                data,
            } => format!(
                "ceiling{when}: script per 2000 edges, {writers} writer{}, {}",
                if *writers == 1 { "" } else { "s" },
                data_name(*data)
            ),
            Variant::Sink {
                label,
                batch,
                in_flight,
                data,
                ..
            } => format!(
                "{label}, batch {batch}, {in_flight} in flight, {}",
                data_name(*data)
            ),
        }
    }

    fn data(&self) -> Data {
        match self {
            Variant::Ceiling { data, .. } | Variant::Sink { data, .. } => *data,
        }
    }
}

fn data_name(data: Data) -> String {
    match data {
        Data::Random => "random".into(),
        Data::Partitioned(n) => format!("{n} parts"),
    }
}

/// The edges of `data` over `vertices`, one list per part.
fn parts(data: Data, vertices: &[Vertex], n: usize, run: &str, seed: u64) -> Vec<Vec<Edge>> {
    match data {
        Data::Random => vec![edges(vertices, n, run, seed)],
        Data::Partitioned(k) => (0..k)
            .map(|w| {
                let group: Vec<Vertex> = vertices.iter().skip(w).step_by(k).cloned().collect();
                edges(&group, n / k, &format!("{run}w{w}"), seed + w as u64)
            })
            .collect(),
    }
}

async fn sink_run(url: &str, variant: &Variant, edges: &[Edge]) -> Done {
    let Variant::Sink {
        mode,
        check,
        batch,
        in_flight,
        conflict_free,
        ..
    } = *variant
    else {
        unreachable!("a sink variant")
    };
    // The session queue only where the existence reads are made, as these rows measured.
    let scheduling = match (conflict_free, check) {
        (false, _) => Scheduling::InOrder,
        (true, true) => Scheduling::SessionQueue,
        (true, false) => Scheduling::ConflictFree,
    };
    let existence = if check {
        ExistenceCheck::Checked
    } else {
        ExistenceCheck::Unchecked
    };
    let config = GremlinSinkConfig::builder(url)
        .mode(mode)
        .existence(existence)
        .batch_size(batch)
        .in_flight(in_flight)
        .scheduling(scheduling)
        .writer(|w| w.pool_size(in_flight.clamp(1, 4)))
        .build()
        .expect("a valid configuration");
    let sink = GremlinSink::connect(config).await.expect("connect");
    let report = sink.write_edges(edges).await.expect("write");
    assert_eq!(report.failed(), 0, "every edge is written");
    Done {
        edges: report.succeeded(),
        requests: report.requests,
        retries: report.retries,
        ..Done::default()
    }
}

/// The ceiling: [`CEILING_SCRIPT`] per 2000 edges, one writer per part, each sending its
/// part's scripts one after another.
///
/// Parts never share a vertex, so concurrent scripts never conflict: the ceiling should not
/// include conflicts.
async fn ceiling_run(url: &str, parts: Vec<Vec<Edge>>) -> Done {
    let config = TransportConfig::builder(url)
        .pool_size(parts.len().min(4))
        .build()
        .expect("a valid configuration");
    let transport = GremlinTransport::connect(config).await.expect("connect");
    let mut tasks = Vec::new();
    for own in parts {
        let t = transport.clone();
        tasks.push(tokio::spawn(async move {
            let (mut written, mut requests) = (0, 0);
            for chunk in own.chunks(2000) {
                t.eval(CEILING_SCRIPT, ceiling_bindings(chunk))
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

/// Runs the secondary section and prints its table.
pub async fn run(url: &str, admin: &GremlinTransport, rounds: usize) {
    let url = url.to_owned();
    let n_vertices = env("NB_VERTICES", 2000);
    let n_edges = env("NB_EDGES", 20_000);
    let n_slow = env("NB_SLOW_EDGES_SECONDARY", 4000);
    let prefix = local_services::unique_name("bench2");
    eprintln!(
        "each variant: {n_vertices} new vertices, {n_edges} edges ({n_slow} for the conditional idioms), server at {url}"
    );

    let ceiling = |when, writers, data| Variant::Ceiling {
        when,
        writers,
        data,
    };
    // The original's idioms: two writers (a Lambda per shard) that know nothing of each other.
    let original = |label, mode| Variant::Sink {
        label,
        mode,
        check: false,
        batch: 100,
        in_flight: 2,
        conflict_free: false,
        data: Data::Random,
    };
    // Every variant, in the order run, each on its own new vertices; `NB_ONLY` (parts of
    // names, separated by `;`) picks some. A warm-up ceiling runs first (the server's JIT
    // compiles the write path) and the ceiling runs again last, whatever the filter.
    let mut variants = vec![
        ceiling(" (warm-up)", 4, Data::Partitioned(4)),
        ceiling("", 4, Data::Partitioned(4)),
        ceiling("", 1, Data::Random),
        original("original plain idiom", WriteMode::Plain),
        original("original conditional idiom", WriteMode::Conditional),
        Variant::sink("plain + existence checks", WriteMode::Plain, 100, 2),
        Variant::sink(
            "conditional + existence checks",
            WriteMode::Conditional,
            100,
            2,
        ),
        Variant::sink("merge + existence checks", WriteMode::Merge, 100, 2),
    ];
    for batch in [25, 100, 250, 500, 1000, 2000] {
        variants.push(Variant::sink("merge", WriteMode::Merge, batch, 4));
    }
    for in_flight in [1, 2, 4, 8, 16, 32] {
        variants.push(Variant::sink("merge", WriteMode::Merge, 500, in_flight));
    }
    for in_flight in [4, 16] {
        variants.push(Variant::Sink {
            label: "merge, scheduled in order",
            mode: WriteMode::Merge,
            check: true,
            batch: 500,
            in_flight,
            conflict_free: false,
            data: Data::Random,
        });
    }
    for batch in [500, 2000] {
        variants.push(Variant::Sink {
            label: "merge alone (no existence reads)",
            mode: WriteMode::Merge,
            check: false,
            batch,
            in_flight: 1,
            conflict_free: true,
            data: Data::Random,
        });
    }
    // The ceiling again just before the sink writes the same kind of data, so that the
    // server's state (JIT, heap) is as close as it can be for the two.
    variants.push(ceiling(
        " (before merge on its data)",
        4,
        Data::Partitioned(4),
    ));
    for (batch, in_flight) in [(500, 4), (1000, 4), (2000, 4), (1000, 8)] {
        variants.push(Variant::Sink {
            label: "merge",
            mode: WriteMode::Merge,
            check: true,
            batch,
            in_flight,
            conflict_free: true,
            data: Data::Partitioned(4),
        });
    }
    for batch in [1000, 2000] {
        variants.push(Variant::Sink {
            label: "merge alone (no existence reads)",
            mode: WriteMode::Merge,
            check: false,
            batch,
            in_flight: 4,
            conflict_free: true,
            data: Data::Partitioned(4),
        });
    }
    variants.push(ceiling(" (again)", 4, Data::Partitioned(4)));
    let only: Vec<String> = std::env::var("NB_ONLY")
        .map(|v| v.split(';').map(str::to_owned).collect())
        .unwrap_or_default();

    let mut runs: Vec<Vec<Row>> = variants.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        eprintln!("round {} of {rounds}", round + 1);
        for (n, variant) in variants.iter().enumerate() {
            let name = variant.name();
            let ceiling = matches!(variant, Variant::Ceiling { .. });
            if !ceiling && !only.is_empty() && !only.iter().any(|o| name.contains(o.as_str())) {
                continue;
            }
            let tag = format!("{prefix}-{round}-{n}");
            let vertices = load_vertices(&url, &tag, n_vertices).await;
            let slow = matches!(
                variant,
                Variant::Sink {
                    mode: WriteMode::Conditional,
                    ..
                }
            );
            let count = if slow { n_slow } else { n_edges };
            let data = parts(variant.data(), &vertices, count, &tag, 7 + n as u64);
            let expected: usize = data.iter().map(Vec::len).sum();
            let row = match variant {
                Variant::Ceiling { .. } => measure(name, ceiling_run(&url, data)).await,
                Variant::Sink { .. } => {
                    let all: Vec<Edge> = data.into_iter().flatten().collect();
                    measure(name, sink_run(&url, variant, &all)).await
                }
            };
            // Every writer must leave the same graph: exactly the edges it was given.
            let in_graph = count_edges(admin, &vertices).await;
            assert_eq!(in_graph, expected, "{}: edges in the graph", row.name);
            runs[n].push(row);
            drop_vertices(admin, &vertices).await;
        }
    }
    let rows = medians(runs);

    // The highest of the 4-part ceiling runs (each a median of its rounds): the ratio errs
    // against the sink.
    let ceiling = rows
        .iter()
        .filter(|r| r.name.starts_with("ceiling") && r.name.contains("4 parts"))
        .map(Row::rate)
        .fold(0.0, f64::max);
    let original_conditional = rows
        .iter()
        .find(|r| r.name.starts_with("original conditional"))
        .map(Row::rate);
    let best = |filter: &dyn Fn(&Row) -> bool| {
        rows.iter()
            .filter(|r| r.name.starts_with("merge") && filter(r))
            .max_by(|a, b| a.rate().total_cmp(&b.rate()))
    };

    println!();
    println!("## Secondary rows: random follows with ten super-connectors, and data split into vertex-disjoint parts (favourable to concurrency), {n_edges} edges per variant on {n_vertices} vertices, explicit batch sizes and requests in flight");
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
    println!("ceiling (best of its 4-part runs): {ceiling:.0} edges/s");
    // The default idempotent mode (merge with its existence checks) apart from merge without
    // them, on each kind of data.
    let checked = |r: &Row| !r.name.contains("alone") && !r.name.contains("in order");
    let unchecked = |r: &Row| r.name.contains("alone");
    for (what, row) in [
        (
            "merge (the default, with existence checks) on the ceiling's data",
            best(&|r: &Row| r.name.contains("4 parts") && checked(r)),
        ),
        (
            "merge without existence reads on the ceiling's data",
            best(&|r: &Row| r.name.contains("4 parts") && unchecked(r)),
        ),
        (
            "merge (the default, with existence checks) on random data",
            best(&|r: &Row| r.name.ends_with("random") && checked(r)),
        ),
    ] {
        if let Some(best) = row {
            print!(
                "best {what} ({}): {:.0} edges/s = {:.0}% of the ceiling",
                best.name,
                best.rate(),
                100.0 * best.rate() / ceiling,
            );
            if let Some(original) = original_conditional {
                print!(
                    ", {:.1}x the original conditional idiom",
                    best.rate() / original
                );
            }
            println!();
        }
    }
    if let Some(original) = original_conditional {
        println!("original conditional idiom: {original:.0} edges/s");
    }
}
