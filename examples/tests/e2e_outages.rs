//! End to end through outages longer than every timeout: the graph endpoint refusing
//! connections for 120 s, the server frozen (SIGSTOP) for 90 s, a 30 s read-only window (a
//! failover's old writer), each in the middle of a 50 000-edge run on a 2-shard stream. The
//! consumer holds its shards and resumes: the graph's edge set is exactly the set put and no
//! valid record is a dead letter. With a maximum record age of 20 s, the 120 s refusal
//! dead-letters, as expired, only records older than that.
//!
//! The four scenarios run at once (one test), so the suite waits for the longest only. Beside
//! them, the refusal runs against JanusGraph too (the second engine, where edges are named by
//! their `edge_id` property), on the JanusGraph named by `JANUSGRAPH_URL`, else one started on
//! port 8196 with `scripts/janusgraph-server.sh` and stopped after.

mod common;

use graph_ingest::dead_letter::JsonLinesDeadLetters;
use graph_ingest::PipelineStats;
use local_services::{FaultProxy, OwnGremlinServer};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stream2neptune_examples::consumer::{Consumer, ConsumerOptions};
use workload_gen::{FollowsEdge, PayloadFormat};

const EDGES: u64 = 50_000;
const PERSONS: u32 = 5_000;
/// Records put per second: the run lasts about 100 s, so an outage starting at 20 s is in
/// the middle of it.
const RATE: usize = 500;
const OUTAGE_STARTS_AFTER: Duration = Duration::from_secs(20);

/// What one scenario measured.
struct Outcome {
    name: &'static str,
    expected: BTreeSet<String>,
    in_graph: BTreeSet<String>,
    letters: Vec<graph_ingest::dead_letter::DeadLetter>,
    put_at: HashMap<String, Instant>,
    outage: (Instant, Instant),
    stats: PipelineStats,
    took: Duration,
}

impl Outcome {
    fn report(&self) {
        let s = &self.stats;
        println!(
            "{}: {} edges put, {} in the graph, {} dead letters; {} holds, {:.1} s held in all, {} pipeline retries, {} sink retries; outage {:.0} s; run {:.0} s",
            self.name,
            self.expected.len(),
            self.in_graph.len(),
            self.letters.len(),
            s.snapshot().holds,
            s.snapshot().held_ms as f64 / 1000.0,
            s.snapshot().pipeline_retries,
            s.snapshot().sink_retries,
            (self.outage.1 - self.outage.0).as_secs_f64(),
            self.took.as_secs_f64(),
        );
    }

    fn assert_exact_and_no_dead_letters(&self) {
        self.report();
        assert!(
            self.letters.is_empty(),
            "{}: no valid record is a dead letter: {:?}",
            self.name,
            self.letters.iter().take(3).collect::<Vec<_>>()
        );
        let missing: Vec<_> = self.expected.difference(&self.in_graph).take(5).collect();
        let extra: Vec<_> = self.in_graph.difference(&self.expected).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: the graph's edge set is the set put (missing {missing:?}, extra {extra:?})",
            self.name
        );
        // A freeze shorter than the sink's own retries is waited out inside its call (its
        // request times out and is sent again); anything longer holds the shards.
        assert!(
            self.stats.snapshot().holds + self.stats.snapshot().sink_retries >= 1,
            "{}: the outage was noticed",
            self.name
        );
        assert_eq!(self.stats.snapshot().held_now, 0);
    }
}

/// Key of an edge in the maps: its graph id.
fn id_of(e: &FollowsEdge) -> String {
    neptune_batch::FollowsSchema::edge_id(&e.from, &e.creation_date, &e.to)
}

/// Runs one scenario: persons in the graph (straight to `direct_url`), a 2-shard stream fed at
/// `RATE` records/s, the consumer writing through `consumer_url`, and `outage` started
/// `OUTAGE_STARTS_AFTER` into the run (it returns when the outage is over).
async fn scenario<F, Fut>(
    name: &'static str,
    seed: u64,
    direct_url: String,
    consumer_url: String,
    max_record_age: Option<Duration>,
    outage: F,
) -> Outcome
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let started = Instant::now();
    let client = local_services::kinesis_client(local_services::kinesis().url.as_deref()).await;
    let stream = common::stream(&client, &format!("outage-{seed}"), 2).await;
    let prefix = format!("{}-", local_services::unique_name(name));
    let (persons, edges) = common::data(&prefix, PERSONS, EDGES, seed);
    common::create_persons(&direct_url, &persons).await;

    let dir = tempfile::tempdir().unwrap();
    let mut options = ConsumerOptions::new(&stream, &consumer_url, dir.path());
    options.kinesis_endpoint = local_services::kinesis().url;
    options.max_record_age = max_record_age;
    options.cluster_id = name.into();
    let consumer = Consumer::start(&options, Arc::new(metrics_sink::MemoryMetrics::new()))
        .await
        .unwrap_or_else(|e| panic!("{name}: the consumer starts: {e}"));
    let stats = consumer.pipeline.stats();
    let control = consumer.control();
    let running = tokio::spawn(consumer.run());

    // The producer: RATE records a second, remembering when each was put.
    let producing = {
        let client = client.clone();
        let stream = stream.clone();
        let edges = edges.clone();
        tokio::spawn(async move {
            let mut put_at = HashMap::new();
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            for chunk in edges.chunks(RATE / 10) {
                tick.tick().await;
                let now = Instant::now();
                common::put_raw(
                    &client,
                    &stream,
                    chunk
                        .iter()
                        .map(|e| (e.from.clone(), e.encode(PayloadFormat::Csv)))
                        .collect(),
                )
                .await;
                put_at.extend(chunk.iter().map(|e| (id_of(e), now)));
            }
            put_at
        })
    };
    tokio::time::sleep(OUTAGE_STARTS_AFTER).await;
    let outage_start = Instant::now();
    outage().await;
    let outage_end = Instant::now();
    let put_at = producing.await.unwrap();

    // Everything put is acknowledged (written or dead-lettered), then the consumer stops.
    let deadline = Instant::now() + Duration::from_secs(300);
    while stats.snapshot().acknowledged < EDGES {
        assert!(
            Instant::now() < deadline,
            "{name}: only {} of {EDGES} records were acknowledged 300 s after the outage",
            stats.snapshot().acknowledged
        );
        assert!(!running.is_finished(), "{name}: the consumer stopped early");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    control.stop();
    running
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{name}: the consumer failed: {e}"));

    let letters = JsonLinesDeadLetters::read_all(&options.dead_letter_file).unwrap();
    Outcome {
        name,
        expected: common::expected_ids(&edges),
        in_graph: common::edge_ids(&direct_url, &persons).await,
        letters,
        put_at,
        outage: (outage_start, outage_end),
        stats,
        took: started.elapsed(),
    }
}

async fn refusing(proxy: &FaultProxy, for_: Duration) {
    proxy.refuse_connections();
    tokio::time::sleep(for_).await;
    proxy
        .accept_connections()
        .await
        .expect("the proxy listens again");
}

/// The log lines the consumers write (at the default level, `info`), kept to be looked at.
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn install() -> Self {
        let logs = Logs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        logs
    }

    fn lines(&self, containing: &str) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(containing))
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outages_longer_than_every_timeout_lose_nothing() {
    let logs = Logs::install();
    let shared = common::gremlin_url().await;
    let refuse_proxy = FaultProxy::start(&shared).await.unwrap();
    let read_only_proxy = FaultProxy::start(&shared).await.unwrap();
    let aged_proxy = FaultProxy::start(&shared).await.unwrap();
    let frozen = OwnGremlinServer::start()
        .await
        .unwrap_or_else(|e| panic!("a Gremlin Server of its own for the SIGSTOP scenario: {e}"));

    let refused = scenario(
        "refused for 120 s",
        21,
        shared.clone(),
        refuse_proxy.url.clone(),
        None,
        || refusing(&refuse_proxy, Duration::from_secs(120)),
    );
    let stopped = scenario(
        "SIGSTOP for 90 s",
        22,
        frozen.endpoint.url.clone(),
        frozen.endpoint.url.clone(),
        None,
        || async {
            frozen.signal("STOP").expect("SIGSTOP the server");
            tokio::time::sleep(Duration::from_secs(90)).await;
            frozen.signal("CONT").expect("SIGCONT the server");
        },
    );
    let read_only = scenario(
        "read-only for 30 s",
        23,
        shared.clone(),
        read_only_proxy.url.clone(),
        None,
        || async {
            read_only_proxy.set_read_only(true);
            tokio::time::sleep(Duration::from_secs(30)).await;
            read_only_proxy.set_read_only(false);
        },
    );
    let aged = scenario(
        "refused for 120 s, records expire after 20 s",
        24,
        shared.clone(),
        aged_proxy.url.clone(),
        Some(Duration::from_secs(20)),
        || refusing(&aged_proxy, Duration::from_secs(120)),
    );
    let (refused, stopped, read_only, aged) = tokio::join!(refused, stopped, read_only, aged);

    refused.assert_exact_and_no_dead_letters();
    // An operator sees the hold begin (warn) and end (info, with how long and why), at the
    // default level.
    let held = logs.lines("shard held");
    let resumed = logs.lines("shard resumed");
    // The scenarios run side by side and share the log: show a hold on refused connections
    // and the longest resume (the 120 s refusal's).
    let held_secs = |l: &String| -> f64 {
        l.split("held_secs=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let longest = resumed
        .iter()
        .max_by(|a, b| held_secs(a).total_cmp(&held_secs(b)));
    for line in held
        .iter()
        .find(|l| l.contains("Connection refused"))
        .into_iter()
        .chain(longest)
    {
        println!("log: {line}");
    }
    assert!(
        longest.is_some_and(|l| held_secs(l) >= 60.0),
        "a shard held through the 120 s refusal resumes after it, saying for how long: {resumed:?}"
    );
    assert!(
        held.iter()
            .any(|l| l.contains(" WARN ") && l.contains("connect")),
        "a warn line when a shard is held: {held:?}"
    );
    assert!(
        resumed
            .iter()
            .any(|l| l.contains(" INFO ") && l.contains("held_secs") && l.contains("last_error")),
        "an info line when it resumes: {resumed:?}"
    );
    assert!(
        !logs.lines("retrying a Gremlin request").is_empty(),
        "lost connections and timeouts are logged at info"
    );
    assert!(
        refused.stats.snapshot().holds >= 1,
        "120 s of refused connections outlast the sink's retries: the shards were held"
    );
    stopped.assert_exact_and_no_dead_letters();
    read_only.assert_exact_and_no_dead_letters();
    assert!(
        read_only_proxy.faults_applied() > 0,
        "writes were answered read-only"
    );

    // Expiry: only records older than 20 s when the outage ended are dead letters, each with
    // the expired reason; the rest are in the graph; together, exactly the set put.
    aged.report();
    assert!(!aged.letters.is_empty(), "records expired during 120 s");
    let latest_expirable = aged.outage.1 - Duration::from_secs(20) + Duration::from_secs(3);
    let mut lettered = BTreeSet::new();
    for l in &aged.letters {
        assert!(
            l.reason.starts_with("expired after ")
                && l.reason.contains(" s of transient failures: "),
            "{}",
            l.reason
        );
        let edge = FollowsEdge::decode(&l.data()).expect("the dead letter holds the record");
        let id = id_of(&edge);
        let put = aged.put_at[&id];
        assert!(
            put <= latest_expirable,
            "a record put {:.1} s before the outage ended expired",
            (aged.outage.1 - put).as_secs_f64()
        );
        assert!(lettered.insert(id), "one dead letter per record");
    }
    assert!(
        lettered.is_disjoint(&aged.in_graph),
        "no record both written and dead-lettered"
    );
    let all: BTreeSet<String> = lettered.union(&aged.in_graph).cloned().collect();
    assert_eq!(
        all, aged.expected,
        "every record is in the graph or expired"
    );
    assert_eq!(aged.stats.snapshot().expired, aged.letters.len() as u64);
}

/// The port of the JanusGraph this file starts when `JANUSGRAPH_URL` names none.
const JANUSGRAPH_PORT: u16 = 8196;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_janusgraph_a_refusal_longer_than_every_timeout_loses_nothing() {
    let (janusgraph, started) = match std::env::var("JANUSGRAPH_URL") {
        Ok(url) => (url, false),
        Err(_) => {
            let endpoint = local_services::ensure_local_janusgraph(JANUSGRAPH_PORT)
                .await
                .unwrap_or_else(|e| {
                    panic!("JanusGraph for the outage test (or set JANUSGRAPH_URL): {e}")
                });
            let started = endpoint.origin == local_services::GremlinOrigin::StartedHere;
            (endpoint.url, started)
        }
    };
    let proxy = FaultProxy::start(&janusgraph).await.unwrap();
    let refused = scenario(
        "JanusGraph refused for 120 s",
        25,
        janusgraph.clone(),
        proxy.url.clone(),
        None,
        || refusing(&proxy, Duration::from_secs(120)),
    )
    .await;
    if started {
        let _ = local_services::stop_local_janusgraph(JANUSGRAPH_PORT).await;
    }
    refused.assert_exact_and_no_dead_letters();
    assert!(
        refused.stats.snapshot().holds >= 1,
        "120 s of refused connections outlast the sink's retries: the shards were held"
    );
}
