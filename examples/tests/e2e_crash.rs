//! End to end across crashes: the consumer process (`stream-to-graph`) is killed with SIGKILL at
//! random moments and restarted; the graph still ends with exactly the edges that were put, and
//! no record is lost.

mod common;

use rand::Rng;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

fn spawn_consumer(
    stream: &str,
    url: &str,
    dir: &std::path::Path,
    kinesis: &str,
    run: usize,
) -> Child {
    let log = std::fs::File::create(dir.join(format!("consumer-{run}.log"))).expect("a log file");
    Command::new(env!("CARGO_BIN_EXE_stream-to-graph"))
        .args([
            "--stream",
            stream,
            "--gremlin-url",
            url,
            "--kinesis-endpoint",
            kinesis,
        ])
        .args([
            "--checkpoint-file",
            dir.join("checkpoints.json").to_str().unwrap(),
        ])
        .args([
            "--dead-letter-file",
            dir.join("dead-letters.jsonl").to_str().unwrap(),
        ])
        .args(["--pause-file", dir.join("pause").to_str().unwrap()])
        .args(["--exit-when-idle-secs", "3"])
        .stdout(log.try_clone().expect("a log file"))
        .stderr(log)
        .spawn()
        .expect("start stream-to-graph")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_consumer_three_times_loses_nothing_and_duplicates_nothing() {
    let url = common::gremlin_url().await;
    let kinesis = local_services::kinesis()
        .url
        .expect("a local Kinesis endpoint reachable by a child process");
    let client = local_services::kinesis_client(Some(&kinesis)).await;
    let stream = common::stream(&client, "e2e-crash", 2).await;
    let prefix = format!("{}-", local_services::unique_name("k"));
    // Large enough that the consumer still has work at the third kill: the three runs before
    // it last at most 3 s each, and the whole took 17 to 20 s on the project's machine; with
    // 100 000 edges and waits of up to 6 s, a fast run once finished before the third kill,
    // and the test could not show what it is for.
    let (persons, edges) = common::data(&prefix, 5_000, 150_000, 13);
    common::create_persons(&url, &persons).await;
    common::put_edges(&client, &stream, &edges).await;

    let dir = tempfile::tempdir().unwrap();
    let seed: u64 = rand::rng().random();
    println!("kill schedule seed {seed}");
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let mut kills = 0;
    let mut ended_by_itself = 0;
    let started = Instant::now();
    while kills < 3 {
        let mut child = spawn_consumer(&stream, &url, dir.path(), &kinesis, kills);
        let wait = Duration::from_millis(rng.random_range(1_000..3_000));
        tokio::time::sleep(wait).await;
        match child.try_wait().expect("poll the consumer") {
            Some(status) => {
                // It finished everything before the kill: the remaining kills would test nothing.
                assert!(status.success(), "the consumer failed: {status}");
                ended_by_itself += 1;
                break;
            }
            None => {
                child.kill().expect("SIGKILL the consumer");
                child.wait().expect("reap the consumer");
                kills += 1;
                println!(
                    "killed the consumer after {wait:?}; checkpoints then: {}",
                    std::fs::read_to_string(dir.path().join("checkpoints.json"))
                        .unwrap_or_default()
                        .replace('\n', " ")
                );
            }
        }
    }
    assert!(
        kills >= 3 || ended_by_itself == 1,
        "three kills or an early finish"
    );
    assert_eq!(
        kills, 3,
        "the consumer must still have had work at every kill; make the data set larger"
    );
    // A last run to the end.
    let mut child = spawn_consumer(&stream, &url, dir.path(), &kinesis, 99);
    let deadline = Instant::now() + Duration::from_secs(900);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the final consumer run did not finish"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(status.success(), "the final consumer run failed: {status}");
    println!(
        "consumed {} edges with 3 kills in {:.1?}",
        edges.len(),
        started.elapsed()
    );

    let in_graph = common::edge_ids(&url, &persons).await;
    let expected = common::expected_ids(&edges);
    if in_graph.len() != expected.len() {
        for run in [0usize, 1, 2, 99] {
            let log = std::fs::read_to_string(dir.path().join(format!("consumer-{run}.log")))
                .unwrap_or_default();
            let lines: Vec<_> = log.lines().collect();
            println!(
                "--- consumer run {run}: {} lines; first and last:",
                lines.len()
            );
            for l in lines.iter().take(3).chain(lines.iter().rev().take(4).rev()) {
                println!("{l}");
            }
        }
        let missing: Vec<_> = expected.difference(&in_graph).take(5).collect();
        println!("missing examples: {missing:?}");
    }
    assert_eq!(
        in_graph.len(),
        expected.len(),
        "no edge missing, none extra"
    );
    assert!(
        in_graph == expected,
        "the graph's edge set differs from the set put"
    );
    let letters = graph_ingest::dead_letter::JsonLinesDeadLetters::read_all(
        &dir.path().join("dead-letters.jsonl"),
    )
    .unwrap();
    assert!(
        letters.is_empty(),
        "no good record became a dead letter: {letters:?}"
    );
}
