//! The main job with a change stream, end to end: `stream-2-neptune --changes` puts follows,
//! unfollows, profile edits and account closures on the stream, the consumer applies them to the
//! real Gremlin Server, and the run ends with status 0 only if the graph holds exactly the
//! follows the changes leave and none of the closed accounts.

mod common;

use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_stream_through_the_main_job_leaves_exactly_the_graph_it_must() {
    let url = common::gremlin_url().await;
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_stream-2-neptune"))
        .args(["--persons", "300", "--edges", "3000", "--changes"])
        .args(["--seed", "5", "--no-progress"])
        .arg("--out-dir")
        .arg(out.path())
        .env("GREMLIN_URL", &url)
        .output()
        .expect("run stream-2-neptune");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        run.status.code(),
        Some(0),
        "stream-2-neptune --changes failed:\n{stdout}\n{stderr}"
    );
    let lines = common::summary(&stdout);
    let generated = &lines["changes generated"];
    assert_eq!(common::numbers(generated)[0], 3000, "{generated}");
    for kind in ["follow", "unfollow", "profile edit", "account closure"] {
        let value = lines
            .get(&format!("changes: {kind}"))
            .unwrap_or_else(|| panic!("no line for {kind} in the summary:\n{stdout}"));
        // "N generated: A applied, C already current, S stale"
        let n = common::numbers(value);
        assert_eq!(n.len(), 4, "{kind}: {value}");
        assert!(n[0] > 0 && n[1] > 0, "{kind}: {value}");
        // A record read twice (a shard reader restarted) is counted again.
        assert!(
            n[1] + n[2] + n[3] >= n[0],
            "{kind}: every change settled: {value}"
        );
    }
    let check = &lines["graph check"];
    assert!(check.starts_with("passed"), "{check}");
    assert!(lines["dead letters"].starts_with("0 "), "{stdout}");
    let report = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .map(|run| run.path().join("report.html"))
        .find(|p| p.exists())
        .expect("a report");
    let html = std::fs::read_to_string(report).unwrap();
    assert!(
        html.contains("<h2>Changes by kind</h2>"),
        "the report counts each kind"
    );
}
