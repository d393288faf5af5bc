//! What every section of the bench shares: timing with client and server CPU, vertex loading,
//! writing in calls, the ceiling script, counting and dropping what a variant wrote.

use neptune_batch::gremlin::{Bytecode, GValue};
use neptune_batch::transport::{GremlinTransport, TransportConfig};
use neptune_batch::{Edge, GraphSink, GremlinSink, GremlinSinkConfig, Vertex};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) used so far by process `pid` ("self" for this one).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU seconds of this process's threads whose name starts with `prefix` (Linux truncates a
/// thread's name to 15 bytes): the embedded Kinesis emulator's runtime threads are named
/// `embedded-kinesis-rt`, so its share of the client's CPU can be told apart.
pub fn thread_cpu_seconds(prefix: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|name| name.trim_end().starts_with(prefix))
        })
        .filter_map(|t| cpu_seconds(&format!("self/task/{}", t.file_name().to_string_lossy())))
        .sum()
}

/// The thread-name prefix of the embedded Kinesis emulator's runtime.
pub const EMULATOR_THREADS: &str = "embedded-kinesi";

/// CPU seconds used so far: this process, its embedded emulator's threads, the server.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSnapshot {
    pub client: f64,
    pub emulator: f64,
    pub server: Option<f64>,
}

impl CpuSnapshot {
    pub fn now() -> Self {
        Self {
            client: cpu_seconds("self").unwrap_or(f64::NAN),
            emulator: thread_cpu_seconds(EMULATOR_THREADS),
            server: server_pid().as_deref().and_then(cpu_seconds),
        }
    }

    /// What was used from `earlier` to `self`.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            client: self.client - earlier.client,
            emulator: self.emulator - earlier.emulator,
            server: self.server.zip(earlier.server).map(|(a, b)| a - b),
        }
    }
}

/// The Gremlin Server JVM started by `scripts/gremlin-server.sh` on `GREMLIN_PORT`.
pub fn server_pid() -> Option<String> {
    let port = std::env::var("GREMLIN_PORT").unwrap_or_else(|_| "8182".into());
    let path = local_services::workspace_root()
        .join(format!(".services/gremlin-server/server-{port}.pid"));
    Some(std::fs::read_to_string(path).ok()?.trim().to_owned())
}

/// What a variant did: edges written, requests sent, retries among them.
#[derive(Default, Debug, Clone, Copy)]
pub struct Done {
    pub edges: usize,
    pub requests: u32,
    pub retries: u32,
    /// The seconds to count, when the writer has an untimed setup (the pipeline row puts the
    /// records on the stream first); `None`: the whole run.
    pub timed_secs: Option<f64>,
    /// The CPU used over `timed_secs` only, when the writer measured it; `None`: the whole run.
    pub timed_cpu: Option<CpuSnapshot>,
}

impl Done {
    /// Adds another writer's counts to these.
    pub fn add(&mut self, other: Done) {
        self.edges += other.edges;
        self.requests += other.requests;
        self.retries += other.retries;
    }
}

/// Writes `records` through `sink`, `call` at a time, one call after another (as a shard's
/// consumer does), checking that every edge was written.
pub async fn write_in_calls(sink: &GremlinSink, records: &[Edge], call: usize) -> Done {
    let mut done = Done::default();
    for chunk in records.chunks(call) {
        let r = sink.write_edges(chunk).await.expect("write");
        assert_eq!(r.failed(), 0, "every edge is written");
        done.edges += r.succeeded();
        done.requests += r.requests;
        done.retries += r.retries;
    }
    done
}

/// The ceiling: a Groovy script over bound lists ([`ceiling_bindings`]), idempotent by edge
/// id, calling TinkerGraph's structure API directly. Only Gremlin Server accepts it.
pub const CEILING_SCRIPT: &str = "for (int i = 0; i < ids.size(); i++) { \
    if (!graph.edges(ids[i]).hasNext()) { \
      graph.vertices(froms[i]).next().addEdge(lbl, graph.vertices(tos[i]).next(), \
        T.id, ids[i], 'creationDate', dates[i], 'insertDateTime', ts[i]) } }; ids.size()";

/// The bindings of [`CEILING_SCRIPT`] for `chunk` (follows edges: `creationDate` and
/// `insertDateTime` properties, in that order).
pub fn ceiling_bindings(chunk: &[Edge]) -> Vec<(String, GValue)> {
    let list = |f: &dyn Fn(&Edge) -> GValue| GValue::List(chunk.iter().map(f).collect());
    vec![
        ("ids".to_owned(), list(&|e| GValue::from(&e.id))),
        ("froms".to_owned(), list(&|e| GValue::from(&e.from))),
        ("tos".to_owned(), list(&|e| GValue::from(&e.to))),
        (
            "dates".to_owned(),
            list(&|e| GValue::from(&e.properties[0].1)),
        ),
        ("ts".to_owned(), list(&|e| GValue::from(&e.properties[1].1))),
        ("lbl".to_owned(), GValue::from("follows")),
    ]
}

/// `writers` scripts in flight, each taking the next 2000 edges of `job` and sending `script`
/// with their [`ceiling_bindings`] and `extra`; a script that meets a write conflict (or a lock)
/// is sent again after a short random pause. The ceiling rows of the sections.
pub async fn script_writers(
    job: &crate::realistic::Job,
    writers: usize,
    script: &'static str,
    extra: Vec<(String, GValue)>,
) -> Done {
    let config = TransportConfig::builder(job.url.as_str())
        .pool_size(writers.min(4))
        .build()
        .expect("a valid configuration");
    let transport = GremlinTransport::connect(config).await.expect("connect");
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (t, next, edges, extra) = (
            transport.clone(),
            next.clone(),
            job.edges.clone(),
            extra.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut done = Done::default();
            let mut jitter = 0x2545_f491_4f6c_dd1du64 + w as u64;
            loop {
                let start = next.fetch_add(2000, Ordering::Relaxed);
                if start >= edges.len() {
                    break;
                }
                let chunk = &edges[start..(start + 2000).min(edges.len())];
                let mut bindings = ceiling_bindings(chunk);
                bindings.extend(extra.iter().cloned());
                loop {
                    done.requests += 1;
                    match t.eval(script, bindings.clone()).await {
                        Ok(_) => break,
                        Err(e) if e.is_retriable() && done.retries < 10_000 => {
                            done.retries += 1;
                            jitter ^= jitter << 13;
                            jitter ^= jitter >> 7;
                            jitter ^= jitter << 17;
                            let ms = 5 + jitter % 40;
                            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                        }
                        Err(e) => panic!("ceiling script: {e}"),
                    }
                }
                done.edges += chunk.len();
            }
            done
        }));
    }
    let mut total = Done::default();
    for t in tasks {
        let d = t.await.expect("writer");
        total.edges += d.edges;
        total.requests += d.requests;
        total.retries += d.retries;
    }
    total
}

/// One measured run of a variant.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub edges: usize,
    pub requests: u32,
    pub retries: u32,
    pub secs: f64,
    pub client_cpu: f64,
    /// Of `client_cpu`, what the embedded Kinesis emulator's threads used.
    pub emulator_cpu: f64,
    pub server_cpu: Option<f64>,
}

impl Row {
    pub fn rate(&self) -> f64 {
        self.edges as f64 / self.secs
    }

    fn per100k(&self, cpu: f64) -> f64 {
        cpu * 100_000.0 / self.edges as f64
    }

    pub fn server_per100k(&self) -> String {
        self.server_cpu
            .map(|s| format!("{:.1}", self.per100k(s)))
            .unwrap_or_else(|| "n/a".into())
    }

    pub fn client_per100k(&self) -> String {
        if self.emulator_cpu >= 0.01 {
            format!(
                "{:.2} (of which the embedded Kinesis emulator {:.2})",
                self.per100k(self.client_cpu),
                self.per100k(self.emulator_cpu)
            )
        } else {
            format!("{:.2}", self.per100k(self.client_cpu))
        }
    }
}

/// Times `f` and the CPU this process and the server used meanwhile.
pub async fn measure<F: std::future::Future<Output = Done>>(name: String, f: F) -> Row {
    let before = CpuSnapshot::now();
    let started = Instant::now();
    let done = f.await;
    let secs = done
        .timed_secs
        .unwrap_or_else(|| started.elapsed().as_secs_f64());
    let cpu = done
        .timed_cpu
        .unwrap_or_else(|| CpuSnapshot::now().since(before));
    let row = Row {
        name,
        edges: done.edges,
        requests: done.requests,
        retries: done.retries,
        secs,
        client_cpu: cpu.client,
        emulator_cpu: cpu.emulator,
        server_cpu: cpu.server,
    };
    eprintln!(
        "  {:<64} {:>7.0} edges/s, {} requests, {} retries, server CPU {} s/100k",
        row.name,
        row.rate(),
        row.requests,
        row.retries,
        row.server_per100k()
    );
    row
}

/// The order of `len` variants in round `round` of `rounds`: each round starts at a different
/// place, spread over the list, and every other round runs backwards. The server speeds up
/// over a run (its JIT, its heap) and a row follows another's garbage, so a plain rotation
/// (one place further each round) kept every row at nearly the same place after nearly the
/// same neighbour in every round, and its medians carried that bias.
pub fn round_order(len: usize, round: usize, rounds: usize) -> Vec<usize> {
    let start = round * len / rounds.max(1);
    let order: Vec<usize> = (0..len).map(|i| (start + i) % len.max(1)).collect();
    if round % 2 == 1 {
        order.into_iter().rev().collect()
    } else {
        order
    }
}

/// Each variant's median run (by rate), in the order given.
pub fn medians(runs: Vec<Vec<Row>>) -> Vec<Row> {
    runs.into_iter()
        .filter(|r| !r.is_empty())
        .map(|mut r| {
            r.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
            let mid = r.len() / 2;
            r.swap_remove(mid)
        })
        .collect()
}

/// Loads `vertices` (not timed).
pub async fn load(url: &str, vertices: &[Vertex]) {
    let sink = GremlinSink::connect(GremlinSinkConfig::new(url))
        .await
        .expect("connect");
    let r = sink.write_vertices(vertices).await.expect("vertices");
    assert_eq!(r.failed(), 0, "vertices loaded");
}

/// Loads `n` new vertices (not timed).
pub async fn load_vertices(url: &str, prefix: &str, n: usize) -> Vec<Vertex> {
    let vertices: Vec<Vertex> = (0..n)
        .map(|i| Vertex::new(format!("{prefix}-v{i}"), "person"))
        .collect();
    load(url, &vertices).await;
    vertices
}

/// The edges leaving `vertices` (every edge a variant writes leaves one of its vertices).
pub async fn count_edges(transport: &GremlinTransport, vertices: &[Vertex]) -> usize {
    let mut total = 0;
    for chunk in vertices.chunks(500) {
        let ids: Vec<GValue> = chunk.iter().map(|v| GValue::from(&v.id)).collect();
        let count = Bytecode::new().step("V", ids).then("outE").then("count");
        let answer = transport.submit(&count).await.expect("count edges");
        total += answer.first().and_then(GValue::as_i64).unwrap_or(-1) as usize;
    }
    total
}

/// Asserts that exactly `edges.len()` edges leave `persons`, and answers 25 of `edges`, spread
/// over them, with their ids: the sample a section reads back.
pub async fn count_and_sample<'a>(
    admin: &GremlinTransport,
    name: &str,
    persons: &[Vertex],
    edges: &'a [Edge],
) -> (Vec<&'a Edge>, Vec<GValue>) {
    let in_graph = count_edges(admin, persons).await;
    assert_eq!(in_graph, edges.len(), "{name}: edges in the graph");
    let step = (edges.len() / 25).max(1);
    let sample: Vec<&Edge> = edges.iter().step_by(step).collect();
    let ids = sample.iter().map(|e| GValue::from(&e.id)).collect();
    (sample, ids)
}

/// Drops `vertices` and so their edges (not timed), leaving the shared graph as it was.
pub async fn drop_vertices(transport: &GremlinTransport, vertices: &[Vertex]) {
    for chunk in vertices.chunks(200) {
        let ids: Vec<GValue> = chunk.iter().map(|v| GValue::from(&v.id)).collect();
        let drop = Bytecode::new().step("V", ids).then("drop");
        for _ in 0..5 {
            if transport.submit(&drop).await.is_ok() {
                break;
            }
        }
    }
}

/// Runs a section's writers (one per name) over `rounds` interleaved rounds ([`round_order`]),
/// each on a fresh copy of `data`'s persons with its first `limit` edges (all with `None`):
/// loads the copy, times `write(k, job)` for writer `k`, checks that every edge is in the
/// graph, drops the copy. Returns the medians, in the writers' order.
#[allow(clippy::too_many_arguments)]
pub async fn interleaved_rounds<F, Fut>(
    section: &str,
    url: &str,
    admin: &GremlinTransport,
    data: &crate::realistic::Dataset,
    limit: Option<usize>,
    names: &[String],
    rounds: usize,
    mut write: F,
) -> Vec<Row>
where
    F: FnMut(usize, crate::realistic::Job) -> Fut,
    Fut: std::future::Future<Output = Done>,
{
    let prefix = local_services::unique_name(section);
    let mut runs: Vec<Vec<Row>> = names.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        eprintln!("{section} round {} of {rounds}", round + 1);
        for k in round_order(names.len(), round, rounds) {
            let (vertices, job) = data.job(url, &format!("{prefix}-{round}-{k}"), limit, 1000);
            load(url, &vertices).await;
            let expected = job.edges.len();
            let row = measure(names[k].clone(), write(k, job)).await;
            assert_eq!(
                count_edges(admin, &vertices).await,
                expected,
                "{}: edges in the graph",
                names[k]
            );
            runs[k].push(row);
            drop_vertices(admin, &vertices).await;
        }
    }
    medians(runs)
}

/// A stable shard for a partition key (FNV-1a), as a stream hashes keys onto shards.
pub fn shard_of(key: &str, shards: usize) -> usize {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % shards as u64) as usize
}
