//! `stream-2-neptune --graph`: the engines `--help` offers, and `--graph neptune`, which starts
//! nothing, refused with a one-line usage error when no endpoint is named (no server needed);
//! and the whole job on JanusGraph, the second engine.

mod common;

use std::process::{Command, Output};

fn stream_2_neptune(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stream-2-neptune"));
    command
        .args(args)
        .env_remove("GREMLIN_URL")
        .env_remove("GRAPH")
        .env("NO_PROGRESS", "true");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run stream-2-neptune")
}

#[test]
fn neptune_without_an_endpoint_is_refused_in_one_line_with_status_2() {
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().to_str().unwrap();
    for (args, env) in [
        (vec!["--graph", "neptune", "--out-dir", out_dir], vec![]),
        (vec!["--out-dir", out_dir], vec![("GRAPH", "neptune")]),
        (
            vec!["--graph", "neptune", "--out-dir", out_dir],
            vec![("GREMLIN_URL", "")],
        ),
    ] {
        let run = stream_2_neptune(&args, &env);
        let stderr = String::from_utf8_lossy(&run.stderr);
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert_eq!(
            run.status.code(),
            Some(2),
            "{args:?} {env:?}:\n{stdout}\n{stderr}"
        );
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line: {stderr}");
        assert!(
            lines[0].starts_with("stream-2-neptune: error: --graph neptune")
                && lines[0].contains("GREMLIN_URL"),
            "{}",
            lines[0]
        );
        assert!(stdout.trim().is_empty(), "nothing ran: {stdout}");
        assert_eq!(
            std::fs::read_dir(out.path()).unwrap().count(),
            0,
            "nothing written"
        );
    }
}

#[test]
fn help_names_the_three_engines_and_their_ports() {
    let run = stream_2_neptune(&["--help"], &[]);
    assert_eq!(run.status.code(), Some(0));
    let help = String::from_utf8_lossy(&run.stdout);
    for text in [
        "--graph <GRAPH>",
        "[env: GRAPH=]",
        "gremlin-server",
        "janusgraph",
        "neptune",
        "--janusgraph-port",
        "[env: JANUSGRAPH_PORT=]",
        "scripts/janusgraph-server.sh",
    ] {
        assert!(help.contains(text), "--help lacks {text}:\n{help}");
    }
}

#[test]
fn an_unknown_engine_is_a_usage_error() {
    let run = stream_2_neptune(&["--graph", "janus-graph"], &[]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("janusgraph"),
        "the values are listed: {stderr}"
    );
}

/// The whole job on JanusGraph: the JanusGraph named by `JANUSGRAPH_URL` (`scripts/test-all.sh`
/// starts one), else one the job starts itself on port 8194 with `scripts/janusgraph-server.sh`
/// and stops at the end. Every edge is written and found in the graph by its id property, with
/// no dead letter, and the summary names the edge identity the sink found there.
#[test]
fn the_whole_job_on_janusgraph_writes_every_edge_and_finds_it_by_its_id_property() {
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().to_str().expect("a UTF-8 path");
    let named = std::env::var("JANUSGRAPH_URL").ok();
    let mut env = vec![("JANUSGRAPH_PORT", "8194")];
    if let Some(url) = &named {
        env.push(("GREMLIN_URL", url.as_str()));
    }
    let args = [
        "--graph",
        "janusgraph",
        "--persons",
        "500",
        "--edges",
        "5000",
        "--seed",
        "3",
        "--no-progress",
        "--out-dir",
        out_dir,
    ];
    let run = stream_2_neptune(&args, &env);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        run.status.code(),
        Some(0),
        "stream-2-neptune --graph janusgraph failed (JanusGraph: JANUSGRAPH_URL={named:?}, else \
         started by the job on 8194; start one with `JANUSGRAPH_PORT=8194 \
         scripts/janusgraph-server.sh start`):\n{stdout}\n{stderr}"
    );
    let lines = common::summary(&stdout);
    // A record read twice (a shard reader restarted) finds its edge already there.
    let written = common::numbers(&lines["edges written"])[0];
    let present = common::numbers(&lines["edges already present"])[0];
    assert_eq!(written + present, 5000, "{stdout}");
    assert!(written > 0, "{stdout}");
    assert!(lines["graph"].starts_with("janusgraph"), "{stdout}");
    assert!(
        lines["edge identity"].starts_with("property:edge_id"),
        "{stdout}"
    );
    assert!(lines["graph check"].starts_with("passed"), "{stdout}");
    assert!(lines["dead letters"].starts_with("0 "), "{stdout}");
}
