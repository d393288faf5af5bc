//! The `stream-to-graph` binary with `--format changes`: a generated change stream put twice on
//! a 2-shard stream of the local Kinesis API (the second copy a redelivery of everything) must
//! leave the model's graph on the real Gremlin Server, and the summary line counts the second
//! copy's older changes as stale.

mod common;

use common::changes::{assert_same_graph, expected, read_back, stream};
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_with_the_change_format_leaves_the_models_graph_and_counts_stale_changes() {
    let url = common::gremlin_url().await;
    let kinesis = local_services::kinesis()
        .url
        .expect("a local Kinesis endpoint the binary can reach");
    let client = local_services::kinesis_client(Some(&kinesis)).await;
    let name = common::stream(&client, "s2g-changes", 2).await;
    let prefix = format!("{}-", local_services::unique_name("sc"));
    let (records, persons) = stream(&prefix, 30, 400, 17);
    common::create_persons(&url, &persons).await;
    common::put_raw(&client, &name, records.clone()).await;
    common::put_raw(&client, &name, records.clone()).await;

    let dir = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking({
        let (url, dir) = (url.clone(), dir.path().to_owned());
        move || {
            Command::new(env!("CARGO_BIN_EXE_stream-to-graph"))
                .args(["--stream", &name, "--format", "changes"])
                .args(["--exit-when-idle-secs", "2", "--no-progress"])
                .env("KINESIS_ENDPOINT_URL", &kinesis)
                .env("GREMLIN_URL", &url)
                .env("CHECKPOINT_FILE", dir.join("checkpoints.json"))
                .env("DEAD_LETTER_FILE", dir.join("dead-letters.jsonl"))
                .env("PAUSE_FILE", dir.join("pause"))
                .env("RUST_LOG", "warn")
                .output()
                .expect("run stream-to-graph")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    println!("{stdout}");

    // The summary's first line: read, written, present, dead, ..., stale.
    let summary = stdout.lines().next().unwrap_or_default();
    let count = |label: &str| -> u64 {
        let words: Vec<&str> = summary.split_whitespace().collect();
        words
            .iter()
            .position(|w| *w == label)
            .and_then(|i| words.get(i + 1))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} count in {summary:?}"))
    };
    assert_eq!(count("read"), 2 * records.len() as u64, "{summary}");
    assert_eq!(count("dead"), 0, "{summary}");
    assert!(
        count("stale") > 0,
        "the second copy holds changes older than the graph's: {summary}"
    );
    assert_same_graph(
        &expected(&records, &persons),
        &read_back(&url, &records, &persons).await,
    );
}
