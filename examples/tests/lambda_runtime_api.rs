//! The built `kinesis-lambda` bootstrap behind the AWS Lambda runtime interface emulator (the
//! Lambda Runtime API as AWS implements it), invoked with the Kinesis event documents the event
//! source mapping would send, made from records put on the local Kinesis stream, and writing
//! into the real Gremlin Server: a good batch, a batch with a poison record (the partial batch
//! response names it) and the good batch delivered again (no duplicate in the graph). Its
//! metrics are the embedded metric format lines it prints, checked against the specification.
//! With `record_format=changes`, a generated change stream delivered in batches out of order,
//! some of them again after newer ones, must leave the model's graph.
//!
//! Needs the emulator (`scripts/lambda-rie.sh install`, which `scripts/test-all.sh` runs) and
//! the Gremlin Server (`scripts/gremlin-server.sh start`).

mod common;

use common::changes::{assert_same_graph, expected, read_back, stream};
use common::gremlin_url;
use common::lambda::{
    chain, config, edge_id, edges_present, event_document_for, follows, out_edges, sink_with_people,
};
use local_services::LambdaFunction;
use metrics_sink::emf::EmfDocument;
use metrics_sink::{names, Unit};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_kinesis-lambda");

/// What the function printed during one invocation.
struct Printed {
    /// Every line, from the end of the previous invocation's log to this one's
    /// `invocation done` line.
    lines: Vec<String>,
    /// The lines that are EMF documents, read and checked.
    documents: Vec<EmfDocument>,
}

impl Printed {
    fn values(&self, metric: &str) -> Vec<f64> {
        self.documents
            .iter()
            .flat_map(|d| d.metrics.iter().filter(|m| m.name == metric))
            .flat_map(|m| m.values.iter().copied())
            .collect()
    }

    fn sum(&self, metric: &str) -> f64 {
        self.values(metric).iter().sum()
    }
}

/// Invokes the function with `event` and returns its answer and what it printed for it. The
/// metrics are flushed before the handler's `invocation done` line, so waiting for that line
/// makes sure every EMF line of the invocation is there.
async fn invoke(
    function: &LambdaFunction,
    event: &serde_json::Value,
    cluster_id: &str,
    invocations: &mut usize,
) -> (String, Printed) {
    let answer = function
        .invoke(&event.to_string())
        .await
        .unwrap_or_else(|e| panic!("{e}\nfunction log:\n{}", function.stdout().join("\n")));
    *invocations += 1;
    let n = *invocations;
    let done = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.contains("invocation done"))
            .count()
    };
    assert!(
        function
            .wait_for_stdout(Duration::from_secs(10), |lines| done(lines) >= n)
            .await,
        "invocation {n} logged no `invocation done` line:\n{}",
        function.stdout().join("\n")
    );
    let all = function.stdout();
    let ends: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("invocation done"))
        .map(|(i, _)| i)
        .collect();
    let from = if n == 1 { 0 } else { ends[n - 2] + 1 };
    let lines = all[from..=ends[n - 1]].to_vec();
    let documents: Vec<EmfDocument> = lines
        .iter()
        .filter(|l| l.starts_with(r#"{"_aws""#))
        .map(|l| {
            println!("EMF line: {l}");
            EmfDocument::parse(l).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .collect();
    for d in &documents {
        assert_eq!(d.namespace, names::NAMESPACE);
        let dimensions: Vec<(&str, &str)> = d
            .dimensions
            .iter()
            .map(|x| (x.name.as_str(), x.value.as_str()))
            .collect();
        assert_eq!(dimensions, vec![(names::CLUSTER_ID, cluster_id)]);
        for m in &d.metrics {
            let unit = match m.name.as_str() {
                names::EDGES_SUBMITTED | names::RETRY_COUNT | names::WRITE_ERRORS => Unit::Count,
                names::WRITE_DURATION | names::ITERATOR_AGE | names::CONFLICT_SLEEP => {
                    Unit::Milliseconds
                }
                other => panic!("unexpected metric {other}"),
            };
            assert_eq!(m.unit, unit, "{}", m.name);
            assert!(m.high_resolution, "one-second resolution, as the original");
        }
    }
    (answer, Printed { lines, documents })
}

#[tokio::test]
async fn the_built_function_writes_kinesis_events_behind_the_lambda_runtime_api() {
    let started = Instant::now();
    let url = gremlin_url().await;
    let settings = config(&url);
    let cluster_id = settings.cluster_id.as_str();
    let (sink, people) = sink_with_people(&settings, 31).await;
    let function = LambdaFunction::start(
        Path::new(BOOTSTRAP),
        &[
            ("neptune_endpoint", url.as_str()),
            ("cluster_id", cluster_id),
            ("wait", "false"),
            ("batch_write_size", "7"),
            ("RUST_LOG", "info"),
        ],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let mut invocations = 0;

    // A good batch: 20 follows, written in sub-batches of 7.
    let good = chain(&people[..21], 20);
    let (good_event, _) = event_document_for(&follows(&good)).await;
    let (answer, printed) = invoke(&function, &good_event, cluster_id, &mut invocations).await;
    println!("good batch: partial batch response {answer}");
    assert_eq!(answer, r#"{"batchItemFailures":[]}"#);
    let good_ids: Vec<String> = good.iter().map(|(f, t)| edge_id(f, t)).collect();
    assert_eq!(edges_present(&sink, &good_ids).await, 20);
    assert_eq!(printed.sum(names::EDGES_SUBMITTED), 20.0);
    assert_eq!(
        printed.values(names::WRITE_DURATION).len(),
        3,
        "one per request"
    );
    assert_eq!(printed.values(names::RETRY_COUNT).len(), 3);
    assert_eq!(printed.values(names::ITERATOR_AGE).len(), 1);
    assert!(printed.values(names::WRITE_ERRORS).is_empty());

    // A batch whose sixth record is not a follow request.
    let rest = &people[21..];
    let poisoned = chain(rest, 9);
    let mut payloads = follows(&poisoned);
    payloads[5] = (
        rest[5].clone(),
        b"\xff\xfe this is not a follow request".to_vec(),
    );
    let (poison_event, seqs) = event_document_for(&payloads).await;
    let (answer, printed) = invoke(&function, &poison_event, cluster_id, &mut invocations).await;
    println!("poison batch: partial batch response {answer}");
    assert_eq!(
        answer,
        format!(
            r#"{{"batchItemFailures":[{{"itemIdentifier":"{}"}}]}}"#,
            seqs[5]
        )
    );
    let before: Vec<String> = poisoned[..5].iter().map(|(f, t)| edge_id(f, t)).collect();
    let after: Vec<String> = poisoned[6..].iter().map(|(f, t)| edge_id(f, t)).collect();
    assert_eq!(edges_present(&sink, &before).await, 5);
    assert_eq!(
        edges_present(&sink, &after).await,
        0,
        "the mapping redelivers them"
    );
    assert_eq!(
        printed.sum(names::EDGES_SUBMITTED),
        5.0,
        "the part before it"
    );
    let letter = printed
        .lines
        .iter()
        .find(|l| l.contains("dead_letter") && l.contains(&seqs[5]))
        .unwrap_or_else(|| panic!("no dead-letter line:\n{}", printed.lines.join("\n")));
    assert!(letter.contains("undecodable"), "{letter}");

    // The good batch again, as the mapping redelivers after a failed invocation.
    let (answer, printed) = invoke(&function, &good_event, cluster_id, &mut invocations).await;
    println!("redelivered batch: partial batch response {answer}");
    assert_eq!(answer, r#"{"batchItemFailures":[]}"#);
    assert_eq!(out_edges(&sink, &people[..21]).await, 20, "no duplicate");
    let summary = printed.lines.last().unwrap();
    assert!(
        summary.contains("written=0") && summary.contains("already_present=20"),
        "{summary}"
    );
    assert_eq!(printed.sum(names::EDGES_SUBMITTED), 20.0);

    // One execution environment: started once, one connection, three invocations reported.
    let log = function.stdout();
    let count = |needle: &str| log.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("connecting to the graph"), 1);
    assert_eq!(count("REPORT RequestId"), 3, "{}", log.join("\n"));
    assert_eq!(count("Init Duration"), 1, "one cold start");
    for line in log.iter().filter(|l| l.starts_with("REPORT")) {
        println!("{line}");
    }
    println!(
        "runtime API test: 3 invocations through the emulator in {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

/// A count the `invocation done` line of an invocation gives (`stale=3`).
fn logged(printed: &Printed, field: &str) -> u64 {
    let line = printed
        .lines
        .iter()
        .rev()
        .find(|l| l.contains("invocation done"))
        .expect("an invocation done line");
    let key = format!("{field}=");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key.as_str()))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

#[tokio::test]
async fn the_built_function_with_the_change_format_leaves_the_models_graph_in_any_delivery_order() {
    let url = gremlin_url().await;
    let settings = config(&url);
    let cluster_id = settings.cluster_id.as_str();
    let prefix = format!("{}-", local_services::unique_name("lc"));
    let (records, persons) = stream(&prefix, 40, 600, 23);
    common::create_persons(&url, &persons).await;
    let function = LambdaFunction::start(
        Path::new(BOOTSTRAP),
        &[
            ("neptune_endpoint", url.as_str()),
            ("cluster_id", cluster_id),
            ("wait", "false"),
            ("batch_write_size", "20"),
            ("record_format", "changes"),
            ("RUST_LOG", "info"),
        ],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let mut invocations = 0;

    // The stream's records as the mapping would send them, cut into events of 50 records.
    let (document, _) = event_document_for(&records).await;
    let all = document["Records"].as_array().expect("records").clone();
    let batches: Vec<serde_json::Value> = all
        .chunks(50)
        .map(|c| serde_json::json!({ "Records": c }))
        .collect();
    // Every batch once, in a shuffled order; then the first two again, after newer ones.
    let mut order: Vec<usize> = (0..batches.len()).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(7));
    println!("delivery order {order:?}, then 0 and 1 again");
    let mut stale = 0;
    for &i in &order {
        let (answer, printed) = invoke(&function, &batches[i], cluster_id, &mut invocations).await;
        assert_eq!(
            answer,
            r#"{"batchItemFailures":[]}"#,
            "batch {i}:\n{}",
            printed.lines.join("\n")
        );
        assert_eq!(logged(&printed, "failed"), 0);
        stale += logged(&printed, "stale");
    }
    let mut stale_on_redelivery = 0;
    for i in [0, 1] {
        let (answer, printed) = invoke(&function, &batches[i], cluster_id, &mut invocations).await;
        assert_eq!(answer, r#"{"batchItemFailures":[]}"#, "batch {i} again");
        assert_eq!(
            logged(&printed, "written"),
            0,
            "a redelivered batch changes nothing:\n{}",
            printed.lines.join("\n")
        );
        stale_on_redelivery += logged(&printed, "stale");
    }
    println!(
        "{} changes in {} batches over {invocations} invocations: {stale} stale in the first \
         deliveries, {stale_on_redelivery} stale in the redelivered batches",
        records.len(),
        batches.len()
    );
    assert!(
        stale_on_redelivery > 0,
        "the redelivered batches hold changes older than the graph's: some must be stale"
    );

    let want = expected(&records, &persons);
    assert!(
        !want.edges.is_empty() && want.vertices.len() < persons.len(),
        "the stream follows and closes accounts"
    );
    assert_same_graph(&want, &read_back(&url, &records, &persons).await);
    let log = function.stdout();
    let count = |needle: &str| log.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("connecting to the graph"), 1);
    assert_eq!(count("REPORT RequestId"), invocations, "{}", log.join("\n"));
}

#[test]
fn help_and_version_work_outside_lambda_and_a_bare_start_says_what_is_missing() {
    let help = Command::new(BOOTSTRAP).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success(), "{text}");
    for expected in [
        "neptune_endpoint",
        "cluster_id",
        "embedded metric format",
        "wait",
        "record_format",
        "follows-csv",
        "changes",
        "placeholder_label",
    ] {
        assert!(
            text.contains(expected),
            "{expected} missing from --help:\n{text}"
        );
    }
    let version = Command::new(BOOTSTRAP).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("kinesis-lambda {}", env!("CARGO_PKG_VERSION"))
    );
    let bare = Command::new(BOOTSTRAP).env_clear().output().unwrap();
    let stderr = String::from_utf8_lossy(&bare.stderr);
    assert_eq!(bare.status.code(), Some(78), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("kinesis-lambda: error: not running under the Lambda Runtime API")
            && stderr.contains("AWS_LAMBDA_RUNTIME_API is not set"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_install_script_builds_the_version_the_services_crate_names() {
    let script =
        std::fs::read_to_string(local_services::workspace_root().join("scripts/lambda-rie.sh"))
            .unwrap();
    assert!(
        script.contains(&format!(
            "VERSION=\"{}\"",
            local_services::LAMBDA_RIE_VERSION
        )),
        "scripts/lambda-rie.sh and local_services::LAMBDA_RIE_VERSION differ"
    );
}
