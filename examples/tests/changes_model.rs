//! The change-stream model test against the real Gremlin Server, in the `merge` and the
//! `conditional` write modes: random versioned change streams over a small key space (50
//! vertices, 300 edges, versions from one counter) are put on a 4-shard stream and consumed by
//! `stream-to-graph --format changes` with parallelization factor 2, killed with SIGKILL at
//! random moments and restarted from its checkpoints; in the first case of each mode the graph
//! endpoint also refuses connections for 60 s (longer than every timeout of the sink). The
//! graph, read back with the tests' own queries, must equal the model's
//! (`local_services::change_model`), and no record may be a dead letter.

mod common;

use local_services::change_model::{KeySpace, Op};
use local_services::FaultProxy;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const SPACE: KeySpace = KeySpace {
    vertices: 50,
    edges: 300,
};
const CASES_PER_MODE: usize = 10;
const OUTAGE: Duration = Duration::from_secs(60);

struct Case {
    mode: &'static str,
    ops: Vec<Op>,
    outage: bool,
    seed: u64,
}

fn spawn_consumer(
    stream: &str,
    url: &str,
    kinesis: &str,
    dir: &Path,
    mode: &str,
    run: usize,
) -> Child {
    let log = std::fs::File::create(dir.join(format!("consumer-{run}.log"))).expect("a log file");
    let file = |name: &str| dir.join(name).to_str().expect("a UTF-8 path").to_owned();
    Command::new(env!("CARGO_BIN_EXE_stream-to-graph"))
        .args([
            "--stream",
            stream,
            "--gremlin-url",
            url,
            "--kinesis-endpoint",
            kinesis,
        ])
        .args(["--format", "changes", "--placeholder-label", "person"])
        .args(["--write-mode", mode, "--parallelization-factor", "2"])
        // Small reads, so that a kill finds work in flight.
        .args(["--batch-read-size", "25"])
        .args(["--checkpoint-file", &file("checkpoints.json")])
        .args(["--dead-letter-file", &file("dead-letters.jsonl")])
        .args(["--pause-file", &file("pause")])
        .args(["--exit-when-idle-secs", "3"])
        // Each change and its outcome, for a failure's diagnosis.
        .env(
            "RUST_LOG",
            "info,neptune_batch::gremlin_sink::changes=trace",
        )
        .stdout(log.try_clone().expect("a log file"))
        .stderr(log)
        .spawn()
        .expect("start stream-to-graph")
}

/// The tail of every consumer log of a case, for a failure's message.
fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for run in 0..=4 {
        if let Ok(log) = std::fs::read_to_string(dir.join(format!("consumer-{run}.log"))) {
            let lines: Vec<&str> = log.lines().collect();
            out.push_str(&format!("--- consumer run {run}, last lines:\n"));
            for l in &lines[lines.len().saturating_sub(6)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

/// Waits until consumer run `run` has logged `target` decided changes, exits, or 20 s pass.
async fn wait_for_decisions(child: &mut Child, dir: &Path, run: usize, target: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let log = dir.join(format!("consumer-{run}.log"));
    while Instant::now() < deadline {
        if child.try_wait().expect("poll the consumer").is_some() {
            return;
        }
        let decided = std::fs::read_to_string(&log)
            .map(|l| {
                l.lines()
                    .filter(|l| l.contains("change written") || l.contains("nothing to write"))
                    .count()
            })
            .unwrap_or(0);
        if decided >= target {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The records a consumer run read, from its summary line.
fn records_read(dir: &Path, run: usize) -> Option<u64> {
    let log = std::fs::read_to_string(dir.join(format!("consumer-{run}.log"))).ok()?;
    let line = log.lines().rev().find(|l| l.starts_with("read "))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Consumes one case's stream through kills (and the outage), then checks the graph.
/// Answers whether a kill left work to the last run (it read records again).
async fn run_case(
    client: &aws_sdk_kinesis::Client,
    kinesis: &str,
    server: &str,
    case: &Case,
) -> bool {
    let prefix = format!(
        "{}-",
        local_services::unique_name(&format!("chg-{}", case.mode))
    );
    let stream = common::stream(client, "changes-model", 4).await;
    let records: Vec<(String, Vec<u8>)> = SPACE
        .records(&prefix, &case.ops)
        .into_iter()
        .map(|(k, r)| (k, r.into_bytes()))
        .collect();
    common::put_raw(client, &stream, records.clone()).await;
    let proxy = if case.outage {
        Some(FaultProxy::start(server).await.expect("a proxy"))
    } else {
        None
    };
    let url = proxy.as_ref().map_or(server, |p| p.url.as_str());
    let dir = tempfile::tempdir().expect("a directory");
    let mut rng = rand::rngs::StdRng::seed_from_u64(case.seed);
    for run in 0..rng.random_range(1..=3usize) {
        let mut child = spawn_consumer(&stream, url, kinesis, dir.path(), case.mode, run);
        if let (Some(proxy), 0) = (&proxy, run) {
            tokio::time::sleep(Duration::from_millis(rng.random_range(300..1_500))).await;
            proxy.refuse_connections();
            tokio::time::sleep(OUTAGE).await;
            proxy
                .accept_connections()
                .await
                .expect("the proxy listens again");
        }
        // Killed at a random point of its work: after a random share of the changes is decided.
        let target = rng.random_range(1..records.len().max(2));
        wait_for_decisions(&mut child, dir.path(), run, target).await;
        if let Some(status) = child.try_wait().expect("poll the consumer") {
            assert!(
                status.success(),
                "the consumer failed: {status}\n{}",
                logs(dir.path())
            );
            break;
        }
        child.kill().expect("SIGKILL the consumer");
        child.wait().expect("reap the consumer");
    }
    let mut child = spawn_consumer(&stream, url, kinesis, dir.path(), case.mode, 4);
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(s) = child.try_wait().expect("poll the consumer") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the last consumer run did not end\n{}",
            logs(dir.path())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        status.success(),
        "the last consumer run failed: {status}\n{}",
        logs(dir.path())
    );
    let letters = graph_ingest::dead_letter::JsonLinesDeadLetters::read_all(
        &dir.path().join("dead-letters.jsonl"),
    )
    .expect("the dead-letter file");
    assert!(
        letters.is_empty(),
        "no change is a dead letter: {letters:?}"
    );
    let expected = common::changes::expected(&records, &[]);
    let actual = common::changes::read_back(server, &records, &[]).await;
    if let Some(differences) = common::changes::differences(&expected, &actual, &records) {
        // The records and the consumers' logs (each change and its outcome) stay behind.
        let lines: Vec<String> = records
            .iter()
            .map(|(_, r)| String::from_utf8_lossy(r).into_owned())
            .collect();
        std::fs::write(dir.path().join("records.jsonl"), lines.join("\n")).unwrap();
        let kept = dir.keep();
        panic!(
            "{} case: {differences}\nrecords and logs kept in {kept:?}\n{}",
            case.mode,
            logs(&kept)
        );
    }
    records_read(dir.path(), 4).expect("the last run's summary") > 0
}

/// `CASES_PER_MODE` cases of `mode` drawn from `seed`; the first has the outage.
fn cases(mode: &'static str, seed: u64) -> Vec<Case> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&(mode.len() as u64).to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let ops = proptest::collection::vec(SPACE.op(), 200..1_000);
    (0..CASES_PER_MODE)
        .map(|n| Case {
            mode,
            ops: ops.new_tree(&mut runner).expect("a case").current(),
            outage: n == 0,
            seed: seed ^ (n as u64 + 1),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_through_kills_and_an_outage_leave_the_models_graph_in_both_modes() {
    let server = common::gremlin_url().await;
    let kinesis = local_services::kinesis()
        .url
        .expect("a local Kinesis endpoint reachable by a child process");
    let client = local_services::kinesis_client(Some(&kinesis)).await;
    let seed: u64 = std::env::var("CHANGES_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("cases from CHANGES_MODEL_SEED={seed}");
    let started = Instant::now();
    let modes = ["merge", "conditional"].map(|mode| {
        let (client, kinesis, server) = (&client, &kinesis, &server);
        async move {
            let mut interrupted = 0;
            for case in cases(mode, seed) {
                interrupted += usize::from(run_case(client, kinesis, server, &case).await);
            }
            interrupted
        }
    });
    let interrupted: Vec<usize> = futures::future::join_all(modes).await;
    println!(
        "{CASES_PER_MODE} cases per mode in {:.1?}; cases whose kills left work to the last run: {interrupted:?}",
        started.elapsed()
    );
    for (mode, n) in ["merge", "conditional"].iter().zip(&interrupted) {
        assert!(
            *n >= CASES_PER_MODE / 2,
            "{mode}: in only {n} cases did a kill interrupt the work; kill sooner"
        );
    }
}
