//! The consumer binary refuses bad setups before it reads or writes anything, with one human
//! line and a non-zero exit status: checkpoints of another stream, a dead-letter or checkpoint
//! path that cannot be written, a Gremlin endpoint or Kinesis endpoint that does not answer, a
//! stream that does not exist.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn consumer(args: &[&str], kinesis: &str) -> (Output, Duration) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_stream-to-graph"))
        .args(["--kinesis-endpoint", kinesis, "--no-progress"])
        .args(["--exit-when-idle-secs", "2"])
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run stream-to-graph");
    (out, started.elapsed())
}

fn files(dir: &Path, pause: &str) -> Vec<String> {
    vec![
        "--checkpoint-file".into(),
        dir.join("checkpoints.json").display().to_string(),
        "--dead-letter-file".into(),
        dir.join("dead-letters.jsonl").display().to_string(),
        "--pause-file".into(),
        dir.join(pause).display().to_string(),
    ]
}

/// The last line on standard error: the error line.
fn error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr.lines().last().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_file_of_another_stream_is_refused_before_anything_is_read() {
    let url = common::gremlin_url().await;
    let kinesis = local_services::kinesis().url.expect("a local Kinesis API");
    let client = local_services::kinesis_client(Some(&kinesis)).await;
    let a = common::stream(&client, "refuse-a", 2).await;
    let b = common::stream(&client, "refuse-b", 2).await;
    let prefix = format!("{}-", local_services::unique_name("f"));
    let (persons, edges) = common::data(&prefix, 200, 1_000, 5);
    common::create_persons(&url, &persons).await;
    common::put_edges(&client, &a, &edges[..500]).await;
    common::put_edges(&client, &b, &edges[500..]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--gremlin-url".to_owned(), url.clone()];
    args.extend(files(dir.path(), "pause"));

    // Stream A is read to the end: its checkpoints are in the file.
    let mut first = args.clone();
    first.extend(["--stream".into(), a.clone()]);
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let (out, _) = consumer(&first, &kinesis);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checkpoints = std::fs::read(dir.path().join("checkpoints.json")).unwrap();
    let in_graph = common::edge_ids(&url, &persons).await;
    assert_eq!(in_graph.len(), 500);

    // The same file given to a consumer of stream B.
    let mut second = args.clone();
    second.extend(["--stream".into(), b.clone()]);
    let second: Vec<&str> = second.iter().map(String::as_str).collect();
    let (out, _) = consumer(&second, &kinesis);
    let line = error_line(&out);
    println!("foreign checkpoint: exit {:?}: {line}", out.status.code());
    assert_eq!(out.status.code(), Some(78), "configuration error status");
    assert!(line.starts_with("stream-to-graph: error: "), "{line}");
    assert!(
        line.contains(&a) && line.contains(&b),
        "names both streams: {line}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("checkpoints.json")).unwrap(),
        checkpoints,
        "the checkpoint file is left as it was"
    );
    assert_eq!(
        common::edge_ids(&url, &persons).await,
        in_graph,
        "nothing of stream B was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_files_and_endpoints_are_one_line_errors_with_their_own_status() {
    let url = common::gremlin_url().await;
    let kinesis = local_services::kinesis().url.expect("a local Kinesis API");
    let client = local_services::kinesis_client(Some(&kinesis)).await;
    let stream = common::stream(&client, "refuse-files", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, b"x").unwrap();
    let dead = dir.path().join("dead-letters.jsonl");
    let checkpoints = dir.path().join("checkpoints.json");
    let args = |stream: &str, dead: &Path, checkpoints: &Path, gremlin: &str| {
        vec![
            "--stream".to_owned(),
            stream.to_owned(),
            "--dead-letter-file".into(),
            dead.display().to_string(),
            "--checkpoint-file".into(),
            checkpoints.display().to_string(),
            "--pause-file".into(),
            dir.path().join("pause").display().to_string(),
            "--gremlin-url".into(),
            gremlin.to_owned(),
        ]
    };
    let unknown = local_services::unique_name("no-such-stream");
    let cases: Vec<(&str, Vec<String>, String, i32, &str)> = vec![
        (
            "unwritable dead-letter file",
            args(&stream, &blocker.join("dl.jsonl"), &checkpoints, &url),
            kinesis.clone(),
            78,
            "cannot store a dead letter",
        ),
        (
            "unwritable checkpoint file",
            args(&stream, &dead, &blocker.join("cp.json"), &url),
            kinesis.clone(),
            78,
            "cannot write checkpoints",
        ),
        (
            "refused Gremlin URL",
            args(&stream, &dead, &checkpoints, "ws://127.0.0.1:1/gremlin"),
            kinesis.clone(),
            69,
            "cannot connect to ws://127.0.0.1:1/gremlin",
        ),
        (
            "wrong Kinesis endpoint",
            args(&stream, &dead, &checkpoints, &url),
            "http://127.0.0.1:1".into(),
            69,
            "cannot reach the Kinesis endpoint",
        ),
        (
            "unknown stream",
            args(&unknown, &dead, &checkpoints, &url),
            kinesis.clone(),
            78,
            "ResourceNotFoundException",
        ),
    ];
    for (what, args, endpoint, status, says) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, took) = consumer(&args, &endpoint);
        let line = error_line(&out);
        println!(
            "{what}: exit {:?} after {:.1} s: {line}",
            out.status.code(),
            took.as_secs_f64()
        );
        assert_eq!(out.status.code(), Some(status), "{what}: {line}");
        assert!(
            line.starts_with("stream-to-graph: error: "),
            "{what}: {line}"
        );
        assert!(line.contains(says), "{what}: {line}");
        assert!(
            !line.contains("Some(") && !line.contains(" { "),
            "{what}: not a Debug dump: {line}"
        );
    }
    assert!(
        !dir.path().join("dead-letters.jsonl").exists()
            || std::fs::metadata(dir.path().join("dead-letters.jsonl"))
                .unwrap()
                .len()
                == 0,
        "no dead letter was written"
    );
}
