//! The Lambda handler invoked in-process with the event documents the Kinesis event source
//! mapping would send, built from records put to and read back from the local Kinesis API,
//! writing into the real Gremlin Server; and, with the function's TLS settings, into the Gremlin
//! Server over `wss://` (`GREMLIN_TLS=1 scripts/gremlin-server.sh start`) through a tunnel.

mod common;

use common::gremlin_url;
use common::lambda::{
    chain, config, edge_id, edges_present, event_for, follows, out_edges, sink_with_people,
};
use graph_ingest::dead_letter::MemoryDeadLetters;
use graph_ingest::lambda::{
    handle_event, Invocation, KinesisEvent, LambdaConfig, PoisonPolicy, WriterEnvironment,
    WAIT_MESSAGE,
};
use graph_ingest::FollowsCsv;
use metrics_sink::{names, MemoryMetrics};
use neptune_batch::{GraphSink, WriteMode};
use std::sync::Arc;
use stream2neptune_common::{Classify, ErrorKind};

/// Invokes the handler with the follows mapper, as the function does; the invocation itself
/// must not fail.
async fn handle(
    event: &KinesisEvent,
    sink: &dyn GraphSink,
    dead: &MemoryDeadLetters,
    metrics: &MemoryMetrics,
    config: &LambdaConfig,
) -> Invocation {
    handle_event(event, &FollowsCsv::default(), sink, dead, metrics, config)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_good_batch_writes_every_edge_and_names_no_failure() {
    let url = gremlin_url().await;
    let mut config = config(&url);
    config.batch_write_size = Some(7);
    let (sink, people) = sink_with_people(&config, 21).await;
    let pairs = chain(&people, 20);
    let (event, _) = event_for(&follows(&pairs)).await;
    let metrics = MemoryMetrics::new();
    let dead = MemoryDeadLetters::default();

    let done = handle(&event, &sink, &dead, &metrics, &config).await;

    assert_eq!(
        serde_json::to_value(&done.response).unwrap(),
        serde_json::json!({"batchItemFailures": []})
    );
    assert_eq!(done.written, 20);
    assert_eq!(done.write_calls, 3, "20 edges in sub-batches of 7");
    let ids: Vec<String> = pairs.iter().map(|(f, t)| edge_id(f, t)).collect();
    assert_eq!(edges_present(&sink, &ids).await, 20);
    assert!(dead.all().is_empty());
    assert_eq!(metrics.sum(names::EDGES_SUBMITTED), 20.0);
    assert_eq!(metrics.values(names::WRITE_DURATION).len(), 3);
    assert_eq!(metrics.flush_count(), 1);
}

/// At the function's defaults (merge mode, nothing pinned) the invocation's records go to the
/// sink in one call, which sizes the requests itself; with the original-compatible setting
/// (`write_mode=conditional`) they go in sub-batches of 100 one after another.
#[tokio::test]
async fn at_the_defaults_an_invocation_is_one_call_and_the_original_setting_sub_batches_of_100() {
    let url = gremlin_url().await;
    for (mode, calls) in [(WriteMode::Merge, 1), (WriteMode::Conditional, 3)] {
        let mut config = config(&url);
        config.write_mode = mode;
        let (sink, people) = sink_with_people(&config, 251).await;
        let pairs = chain(&people, 250);
        let (event, _) = event_for(&follows(&pairs)).await;
        let metrics = MemoryMetrics::new();
        let dead = MemoryDeadLetters::default();

        let done = handle(&event, &sink, &dead, &metrics, &config).await;

        assert!(done.response.batch_item_failures.is_empty(), "{mode:?}");
        assert_eq!(done.written, 250, "{mode:?}");
        assert_eq!(done.write_calls, calls, "{mode:?}");
        let ids: Vec<String> = pairs.iter().map(|(f, t)| edge_id(f, t)).collect();
        assert_eq!(edges_present(&sink, &ids).await, 250, "{mode:?}");
    }
}

#[tokio::test]
async fn a_poison_record_in_the_middle_is_named_and_the_records_before_it_are_in_the_graph() {
    let url = gremlin_url().await;
    let mut config = config(&url);
    config.batch_write_size = Some(3);
    let (sink, people) = sink_with_people(&config, 11).await;
    let pairs = chain(&people, 10);
    let mut payloads = follows(&pairs);
    // The sixth record is not a follow request at all.
    payloads[5] = (
        people[5].clone(),
        b"\xff\xfe this is not a follow request".to_vec(),
    );
    let (event, seqs) = event_for(&payloads).await;
    let metrics = MemoryMetrics::new();
    let dead = MemoryDeadLetters::default();

    let done = handle(&event, &sink, &dead, &metrics, &config).await;

    let response = serde_json::to_string(&done.response).unwrap();
    println!("partial batch response of the poison batch: {response}");
    assert_eq!(
        response,
        format!(
            r#"{{"batchItemFailures":[{{"itemIdentifier":"{}"}}]}}"#,
            seqs[5]
        )
    );
    // Everything before the poison record is in the graph; nothing after it was sent, since
    // the mapping redelivers from the poison record on.
    let before: Vec<String> = pairs[..5].iter().map(|(f, t)| edge_id(f, t)).collect();
    let after: Vec<String> = pairs[6..].iter().map(|(f, t)| edge_id(f, t)).collect();
    assert_eq!(edges_present(&sink, &before).await, 5);
    assert_eq!(edges_present(&sink, &after).await, 0);
    assert_eq!(done.written, 5);
    // Its payload is logged for whoever follows up the on-failure message.
    let letters = dead.all();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].sequence_number, seqs[5]);
    assert!(
        letters[0].reason.contains("undecodable"),
        "{}",
        letters[0].reason
    );
    assert_eq!(letters[0].data(), payloads[5].1);
    // The metrics of the part that was written are published although the batch failed.
    assert_eq!(metrics.sum(names::EDGES_SUBMITTED), 5.0);
    assert_eq!(metrics.flush_count(), 1);

    // The mapping retries from the poison record: it is named again, at the head.
    let mut retried = event.clone();
    retried.records.drain(..5);
    let again = handle(&retried, &sink, &dead, &metrics, &config).await;
    assert_eq!(again.reported_sequence_number(), Some(seqs[5].as_str()));
    assert_eq!(again.written, 0);
    // Once bisection has isolated it and its retries are spent, the mapping moves on with the
    // records after it, which are then written.
    let mut rest = event.clone();
    rest.records.drain(..6);
    let rest = handle(&rest, &sink, &dead, &metrics, &config).await;
    assert!(rest.response.batch_item_failures.is_empty());
    assert_eq!(edges_present(&sink, &after).await, 4);
}

#[tokio::test]
async fn with_the_dead_letter_policy_a_poison_record_is_skipped_and_the_rest_written() {
    let url = gremlin_url().await;
    let mut config = config(&url);
    config.poison = PoisonPolicy::DeadLetter;
    let (sink, people) = sink_with_people(&config, 5).await;
    let pairs = chain(&people, 4);
    let mut payloads = follows(&pairs);
    payloads.insert(2, (people[0].clone(), b"only,two".to_vec()));
    let (event, seqs) = event_for(&payloads).await;
    let dead = MemoryDeadLetters::default();

    let done = handle(&event, &sink, &dead, &MemoryMetrics::new(), &config).await;

    assert!(done.response.batch_item_failures.is_empty());
    let ids: Vec<String> = pairs.iter().map(|(f, t)| edge_id(f, t)).collect();
    assert_eq!(edges_present(&sink, &ids).await, 4);
    let letters = dead.all();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].sequence_number, seqs[2]);
    assert!(
        letters[0].reason.starts_with("skipped"),
        "{}",
        letters[0].reason
    );
}

#[tokio::test]
async fn a_missing_vertex_is_the_records_fault_and_is_skipped_under_the_dead_letter_policy() {
    let url = gremlin_url().await;
    let mut config = config(&url);
    config.poison = PoisonPolicy::DeadLetter;
    let (sink, people) = sink_with_people(&config, 4).await;
    let nobody = local_services::unique_name("nobody");
    let pairs = vec![
        (people[0].as_str(), people[1].as_str()),
        (people[1].as_str(), nobody.as_str()),
        (people[2].as_str(), people[3].as_str()),
    ];
    let (event, seqs) = event_for(&follows(&pairs)).await;
    let dead = MemoryDeadLetters::default();

    let done = handle(&event, &sink, &dead, &MemoryMetrics::new(), &config).await;

    assert_eq!(done.reported_sequence_number(), None, "nothing to retry");
    assert!(!done.failures[0].may_clear_up);
    assert!(!done.failures[0].reported);
    assert!(
        done.failures[0].reason.contains(&nobody),
        "{:?}",
        done.failures
    );
    let letters = dead.all();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].sequence_number, seqs[1]);
    assert_eq!(
        edges_present(
            &sink,
            &[
                edge_id(&people[0], &people[1]),
                edge_id(&people[2], &people[3])
            ]
        )
        .await,
        2
    );
}

#[tokio::test]
async fn a_redelivered_batch_leaves_one_edge_per_record() {
    let url = gremlin_url().await;
    let config = config(&url);
    let (sink, people) = sink_with_people(&config, 13).await;
    let pairs = chain(&people, 12);
    let (event, _) = event_for(&follows(&pairs)).await;
    let metrics = MemoryMetrics::new();
    let dead = MemoryDeadLetters::default();

    let first = handle(&event, &sink, &dead, &metrics, &config).await;
    let second = handle(&event, &sink, &dead, &metrics, &config).await;

    assert_eq!((first.written, first.already_present), (12, 0));
    assert_eq!((second.written, second.already_present), (0, 12));
    assert!(second.response.batch_item_failures.is_empty());
    assert_eq!(out_edges(&sink, &people).await, 12);
}

#[tokio::test]
async fn an_execution_environment_connects_once_and_reuses_its_connection() {
    let url = gremlin_url().await;
    let config = config(&url);
    let (sink, people) = sink_with_people(&config, 7).await;
    let environment = WriterEnvironment::gremlin(
        Arc::new(MemoryDeadLetters::default()),
        Arc::new(MemoryMetrics::new()),
    );
    let pairs = chain(&people, 6);
    for part in pairs.chunks(2) {
        let (event, _) = event_for(&follows(part)).await;
        let done = environment.invoke(&config, &event).await.unwrap();
        assert_eq!(done.written, 2);
    }
    assert_eq!(environment.connections_opened(), 1);
    assert_eq!(out_edges(&sink, &people).await, 6);
}

#[tokio::test]
async fn while_wait_is_true_every_invocation_fails_with_the_originals_message_and_writes_nothing() {
    let environment = WriterEnvironment::new(
        Box::new(|_| Box::pin(async { panic!("a waiting function must not connect") })),
        Arc::new(MemoryDeadLetters::default()),
        Arc::new(MemoryMetrics::new()),
    );
    let config = LambdaConfig {
        neptune_endpoint: "db.example".into(),
        cluster_id: "c".into(),
        ..LambdaConfig::default()
    };
    assert!(config.wait, "the original's default is to wait");
    let event: KinesisEvent =
        serde_json::from_str(r#"{"Records":[{"eventID":"shardId-0:1","kinesis":{"sequenceNumber":"1","data":"","approximateArrivalTimestamp":1.0}}]}"#)
            .unwrap();
    let e = environment.invoke(&config, &event).await.unwrap_err();
    assert_eq!(e.to_string(), WAIT_MESSAGE);
    assert!(stream2neptune_common::Classify::kind(&e).is_retriable());
    assert_eq!(environment.connections_opened(), 0);
}

#[tokio::test]
async fn a_kpl_aggregate_in_the_event_is_opened_and_a_failure_inside_one_names_that_aggregate() {
    let url = gremlin_url().await;
    let config = config(&url);
    let (sink, people) = sink_with_people(&config, 12).await;
    let pairs = chain(&people, 11);
    let nobody = local_services::unique_name("nobody");
    let aggregate = |pairs: &[(&str, &str)]| {
        let mut aggregator = kinesis_source::kpl::Aggregator::new();
        for (key, data) in follows(pairs) {
            assert!(aggregator.push(&key, &data).unwrap().is_none());
        }
        let done = aggregator.finish().unwrap();
        (done.partition_key, done.data.to_vec())
    };
    // An aggregate of 6 edges, 2 plain records, then an aggregate of 3 edges and one whose
    // followed person does not exist.
    let mut payloads = vec![aggregate(&pairs[..6])];
    payloads.extend(follows(&pairs[6..8]));
    let mut last = pairs[8..11].to_vec();
    last.push((people[11].as_str(), nobody.as_str()));
    payloads.push(aggregate(&last));
    let (event, seqs) = event_for(&payloads).await;
    let dead = MemoryDeadLetters::default();

    let done = handle(&event, &sink, &dead, &MemoryMetrics::new(), &config).await;

    // The mapping will redeliver from the second aggregate: the Kinesis record, not the user
    // record inside it, is what it can name.
    assert_eq!(done.reported_sequence_number(), Some(seqs[3].as_str()));
    let before: Vec<String> = pairs[..8].iter().map(|(f, t)| edge_id(f, t)).collect();
    assert_eq!(
        edges_present(&sink, &before).await,
        8,
        "the first aggregate and the plain records"
    );
    assert!(done.written >= 8, "{}", done.written);
    assert_eq!(out_edges(&sink, &[people[11].clone()]).await, 0);
    // The user record that failed is logged with its place inside the aggregate.
    let letters = dead.all();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(
        (
            letters[0].sequence_number.as_str(),
            letters[0].sub_sequence_number
        ),
        (seqs[3].as_str(), Some(3))
    );
}

/// Through a tunnel (or a load balancer passing TLS through) on 127.0.0.1 to the Gremlin Server
/// over `wss://`, whose certificate, from a private CA, names `neptune.cluster.example` and not
/// the address connected to: the function verifies it for `neptune_tls_server_name`, trusting
/// `neptune_ca_file`, and writes the batch; without the name it refuses the certificate, on one
/// line that names the problem.
// Two workers: the tunnel relays on the test's runtime while the handler writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_tunnel_the_function_verifies_the_clusters_name_with_its_ca_file() {
    let tls = local_services::gremlin_tls()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tunnel = local_services::TcpForwarder::start(&format!("{}:{}", tls.host, tls.port))
        .await
        .unwrap();
    let port = tunnel.port().to_string();
    let ca_file = tls.ca_file.to_str().expect("a UTF-8 path").to_owned();
    let cluster_id = local_services::unique_name("lambda-tls");
    // The function's environment, as Lambda passes it.
    let settings = |server_name: &str| {
        let env = [
            ("neptune_endpoint", "127.0.0.1"),
            ("neptune_port", port.as_str()),
            ("neptune_tls_server_name", server_name),
            ("neptune_ca_file", ca_file.as_str()),
            ("cluster_id", cluster_id.as_str()),
            ("wait", "false"),
        ];
        LambdaConfig::from_lookup(|name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("valid settings")
    };
    let config = settings("neptune.cluster.example");
    assert_eq!(
        config.writer_url(),
        format!("wss://127.0.0.1:{port}/gremlin"),
        "connected by address"
    );
    let (sink, people) = sink_with_people(&config, 9).await;
    let pairs = chain(&people, 8);
    let (event, _) = event_for(&follows(&pairs)).await;
    let environment = WriterEnvironment::gremlin(
        Arc::new(MemoryDeadLetters::default()),
        Arc::new(MemoryMetrics::new()),
    );

    let done = environment.invoke(&config, &event).await.unwrap();

    assert!(done.response.batch_item_failures.is_empty());
    assert_eq!(done.written, 8);
    let ids: Vec<String> = pairs.iter().map(|(f, t)| edge_id(f, t)).collect();
    assert_eq!(
        edges_present(&sink, &ids).await,
        8,
        "every edge is in the graph"
    );
    assert!(
        tunnel.connections() >= 2,
        "the function's connection went through the tunnel"
    );

    // An empty server name is the default: the address connected to, not on the certificate.
    let refusing = WriterEnvironment::gremlin(
        Arc::new(MemoryDeadLetters::default()),
        Arc::new(MemoryMetrics::new()),
    );
    let e = refusing
        .invoke(&settings(""), &event)
        .await
        .expect_err("the certificate does not name 127.0.0.1");
    let line = e.to_string();
    println!(
        "without neptune_tls_server_name: {}: {line}",
        e.error_type()
    );
    assert_eq!(line.lines().count(), 1, "one line: {line}");
    assert!(line.contains("certificate"), "{line}");
    assert!(line.contains(r#"not valid for name "127.0.0.1""#), "{line}");
    assert_eq!(e.kind(), ErrorKind::Usage, "a setting to change: {line}");
    assert_eq!(refusing.connections_opened(), 0);
}
